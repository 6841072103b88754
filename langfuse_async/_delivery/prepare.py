"""An item's bytes for its route: encoding, truncation to ``max_event_bytes``, and its count.

Each route encodes once per item: a rerouted item keeps its ingestion bytes and gets its span,
and an item that comes back for a retry is not encoded again.
"""

from __future__ import annotations

import dataclasses

from .._outcomes import Reason
from .._records import ObservationRecord, TraceRecord
from .._wire import ingestion as _ingestion, otlp as _otlp
from .._wire.context import WireContext
from .inflight import Item
from .routing import Route

__all__ = ["READY", "TRUNCATED", "Preparation", "prepare"]


@dataclasses.dataclass(frozen=True, slots=True)
class Preparation:
    """What became of an item's encoding.

    Attributes:
        refused: Why the item cannot be sent (it is to be reported), or None when it can.
        message: The report's message when refused.
        truncated: The item was truncated for the first time: count it (once per event).
        companion: A root observation encoded for the ingestion route for the first time:
            the ``trace-create`` it brings, an event of its own for the worker to hold.
    """

    refused: Reason | None = None
    message: str = ""
    truncated: bool = False
    companion: TraceRecord | None = None


#: The item can be sent as it is.
READY = Preparation()
#: The item can be sent, and was truncated for the first time.
TRUNCATED = Preparation(truncated=True)


def prepare(item: Item, route: Route, ctx: WireContext, max_event_bytes: int) -> Preparation:
    """Give ``item`` its wire bytes for ``route``, truncating its payloads if it is too large.

    A truncated record replaces ``item.record`` (its ``size`` is the original's: the bounds
    count what was taken). A root observation's first encoding for the ingestion route also
    returns the ``trace-create`` it brings (:attr:`Preparation.companion`). Trace updates get
    no bytes on the OTLP route: they ride along as attributes of the spans (see
    :func:`.batching.plan_otlp`).

    Args:
        item: The item; its bytes are cached on it.
        route: The route it takes.
        ctx: Client-level facts for the encoders.
        max_event_bytes: The largest encoded event allowed.

    Returns:
        :data:`READY`, :data:`TRUNCATED`, or a refusal ("oversize", "unserializable").
    """
    record = item.record
    try:
        if route == "ingestion":
            if item.ingestion is not None:
                return READY
            encoded = _ingestion.encode_event(record, ctx)
            if len(encoded) <= max_event_bytes:  # nearly always: no truncation to try
                item.ingestion = _compact(encoded)
                if (
                    isinstance(record, ObservationRecord)
                    and (record.parent_id is None or record.remote_parent)
                    and not item.derived
                ):
                    return Preparation(companion=_ingestion.root_trace(record))
                return READY
            fitted = _ingestion.fit_event(record, ctx, max_event_bytes)
            if fitted is None:
                return _oversize(max_event_bytes)
            newly_truncated = fitted[0] is not record and _mark_truncated(item)
            item.ingestion = _compact(fitted[1])
            item.record = fitted[0]
            if isinstance(record, ObservationRecord) and record.is_local_root and not item.derived:
                # From the record as taken: the trace gets the root's whole input and output,
                # truncated (if need be) as an event of its own.
                return Preparation(
                    truncated=newly_truncated, companion=_ingestion.root_trace(record)
                )
            return TRUNCATED if newly_truncated else READY
        if not isinstance(record, ObservationRecord) or item.span is not None:
            return READY
        encoded = _otlp.encode_span(record, ctx)
        if len(encoded) <= max_event_bytes:  # nearly always: no truncation to try
            item.span = _compact(encoded)
            return READY
        span = _otlp.fit_span(record, ctx, max_event_bytes)
        if span is None:
            return _oversize(max_event_bytes)
        newly_truncated = False
        if span[0] is not record:
            newly_truncated = _mark_truncated(item)
            item.record = span[0]
        item.span = _compact(span[1])
        return TRUNCATED if newly_truncated else READY
    except Exception as exc:  # encoding is total by design; this is the last safety net
        return Preparation(refused="unserializable", message=f"could not encode event: {exc!r}")


#: Encodings at least this large are copied to a buffer of their exact size.
_COMPACT_FROM = 4096


def _compact(encoded: bytes) -> bytes:
    """``encoded`` in a buffer of its own size.

    msgspec's output buffer grows by half again and is not shrunk: a 20 KB event holds 30 KB
    of memory. The worker may hold many encoded events for a long time (retries while the
    server is down), so the copy, a fraction of the encoding's cost, keeps memory what the
    bounds count.
    """
    return bytes(memoryview(encoded)) if len(encoded) >= _COMPACT_FROM else encoded


def _oversize(limit: int) -> Preparation:
    return Preparation(refused="oversize", message=f"event larger than {limit} bytes")


def _mark_truncated(item: Item) -> bool:
    """Mark ``item`` truncated; True the first time (truncated again after a reroute: once)."""
    if item.truncated:
        return False
    item.truncated = True
    return True
