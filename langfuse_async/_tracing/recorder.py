"""The narrow protocol a handle needs from its tracer, and the tracer's implementation of it.

A handle (:class:`~langfuse_async._tracing.observations.Observation`) does not hold the client:
it holds a :class:`Recorder`, which turns the values given to it into bytes (masked, encoded,
capped), knows the sampling bound and the size limit, and hands finished records to the
:class:`~langfuse_async._records.Sink`. So the handle, the score and trace builders, and
``@observe`` depend on these few members only, and tests can give a handle any recorder.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from .._config import Config
from .._records import Metadata, Record, Sink
from .payload import apply_mask, cap_payload, encode_metadata, encode_payload
from .sampling import bound_for_rate

__all__ = ["Recorder", "SinkRecorder", "as_one_argument"]


class Recorder(Protocol):
    """What a handle needs from the tracer that started it.

    Attributes:
        sample_bound: The sampling bound of :func:`~langfuse_async._tracing.sampling.is_sampled`,
            or None when every trace is kept.
        max_payload: The most bytes one encoded input, output or metadata value may hold.
        capture_io: Whether ``@observe`` records arguments and results unless told
            (``LANGFUSE_OBSERVE_DECORATOR_IO_CAPTURE_ENABLED``).
        mask: The client's ``mask``, as a function of one value, or None: without one,
            ``@observe`` may encode arguments without building the object it would be given.
    """

    sample_bound: int | None
    max_payload: int
    capture_io: bool
    mask: Callable[[Any], Any] | None

    def encode(self, value: object) -> msgspec.Raw:
        """Mask, encode and cap user content (an input or output) the moment it is given."""
        ...

    def encode_plain(self, value: object) -> msgspec.Raw:
        """Encode and cap a value that is not user content (model parameters, usage, cost)."""
        ...

    def encode_metadata(self, value: object) -> Metadata | None:
        """Mask, encode and cap metadata: each top-level value of a mapping, or the whole."""
        ...

    def emit(self, record: Record) -> None:
        """Hand a finished record to the delivery side; thread-safe, never raises or blocks."""
        ...

    def count_sampled_out(self) -> None:
        """Count one observation not recorded because its trace was sampled out."""
        ...


class SinkRecorder:
    """The :class:`Recorder` of a tracer: the client's mask and limits, and its sink.

    Args:
        config: The client's configuration (``mask``, ``max_event_bytes``, ``sample_rate``).
        sink: Where finished records go.
    """

    __slots__ = (
        "capture_io",
        "count_sampled_out",
        "emit",
        "mask",
        "max_payload",
        "owner",
        "sample_bound",
    )

    emit: Callable[[Record], None]
    count_sampled_out: Callable[[], None]

    def __init__(self, config: Config, sink: Sink) -> None:
        self.sample_bound: int | None = (
            None if config.sample_rate >= 1.0 else bound_for_rate(config.sample_rate)
        )
        self.max_payload: int = config.max_event_bytes
        self.capture_io: bool = config.capture_io
        self.mask: Callable[[Any], Any] | None = (
            None if config.mask is None else as_one_argument(config.mask)
        )
        # The sink's own bound methods: a record reaches the queue with no frame in between.
        self.emit = sink.emit
        self.count_sampled_out = sink.count_sampled_out
        self.owner: object = None
        """The client whose recorder this is (``get_client()`` inside its observations)."""

    def encode(self, value: object) -> msgspec.Raw:
        """Mask, encode and cap an input or output the moment it is given."""
        mask = self.mask
        if mask is not None:
            value = apply_mask(mask, value)
        raw = encode_payload(value)
        if len(raw) > self.max_payload:
            raw = cap_payload(raw, self.max_payload)
        return raw

    def encode_plain(self, value: object) -> msgspec.Raw:
        """Encode and cap a value that is not user content (model parameters, usage, cost)."""
        raw = encode_payload(value)
        if len(raw) > self.max_payload:
            raw = cap_payload(raw, self.max_payload)
        return raw

    def encode_metadata(self, value: object) -> Metadata | None:
        """Mask, encode and cap metadata: each top-level value of a mapping, or the whole."""
        mask = self.mask
        if mask is not None:
            value = apply_mask(mask, value)
        meta = encode_metadata(value)
        limit = self.max_payload
        if isinstance(meta, dict):
            if any(len(v) > limit for v in meta.values()):
                meta = {k: cap_payload(v, limit) for k, v in meta.items()}
        elif meta is not None and len(meta) > limit:
            meta = cap_payload(meta, limit)
        return meta


def as_one_argument(mask: Callable[..., Any]) -> Callable[[Any], Any]:
    """Return ``mask`` as a function of one value, called as its signature asks.

    The official SDK calls a mask as ``mask(data=value)`` (its protocol is
    ``mask(*, data, **kwargs)``); a function of one positional argument (``lambda v: ...``)
    is called with the value. Decided once, from the signature: a mask that takes ``data``
    by keyword (or any keyword) gets ``data=``; anything else, or no readable signature,
    gets the value positionally.
    """
    try:
        parameters = list(inspect.signature(mask).parameters.values())
    except (TypeError, ValueError):
        return mask
    takes_data = any(
        p.name == "data" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters
    )
    only_keywords = any(p.kind == p.VAR_KEYWORD for p in parameters) and not any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in parameters
    )
    if takes_data or only_keywords:
        return functools.partial(_call_with_data, mask)
    return mask


def _call_with_data(mask: Callable[..., Any], value: Any) -> Any:
    return mask(data=value)
