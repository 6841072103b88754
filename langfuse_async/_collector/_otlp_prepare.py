"""OTLP exports made ready to store: inflated, decoded, checked, converted, validated, encoded.

Pure functions: the OTLP route runs them off the event loop, in a worker process under
``serve`` (see :class:`._http.Work`), and with the store in a process of its own the ``_pickled``
variants hand back what they prepared already pickled, for the store's process to unpickle.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from typing import Any

from ._http import OTLP_BODY_LIMIT
from ._otlp import check_export, convert_export
from ._otlp_checks import Answer, check_protobuf, check_version, empty_export, parsed_protobuf
from ._otlp_fast import prepare_fast
from ._otlp_proto import parse_protobuf, resource_spans_of
from ._request import BodyTooLarge, inflate_gzip, parse_json
from ._store import PendingEvent, PreparedWrite, prepare_write
from ._validate import ValidationFailure, validate_event

__all__ = [
    "check_otlp",
    "prepare_converted",
    "prepare_export",
    "prepare_export_pickled",
    "prepare_protobuf",
    "prepare_protobuf_pickled",
]

logger = logging.getLogger("langfuse_async")


def _body_of(body: bytes, gzipped: bool, content_type: str) -> tuple[bytes, bool]:
    """An export's body inflated, and whether it is protobuf (else JSON).

    Raises:
        Answer: The body cannot be inflated, or is of neither content type.
    """
    # The server gunzips first and looks at the content type only then.
    if gzipped:
        try:
            body = inflate_gzip(body, OTLP_BODY_LIMIT)
        except ValueError:
            raise Answer(400, {"error": "Failed to decompress request body"}) from None
        except BodyTooLarge:
            raise Answer(
                413, {"error": f"Decompressed body exceeds {OTLP_BODY_LIMIT} bytes"}
            ) from None
    is_protobuf = "application/x-protobuf" in content_type
    if "application/json" not in content_type and not is_protobuf:
        raise Answer(400, {"error": "Invalid content type"})
    return body, is_protobuf


def check_otlp(
    body: bytes, gzipped: bool, content_type: str, version: str | None
) -> tuple[bytes, list[str] | None]:
    """The inflated body and, for a protobuf export, its span keys once checked whole.

    Raises:
        Answer: The export is answered without storing anything.
    """
    body, is_protobuf = _body_of(body, gzipped, content_type)
    return body, check_protobuf(body, version) if is_protobuf else None


def prepare_export(
    body: bytes, gzipped: bool, content_type: str, version: str | None, mode: str
) -> tuple[PreparedWrite, list[str]]:
    """Inflate, decode, check, convert, validate and encode an export (pure: off the loop).

    Returns:
        The export ready to store (documents merged, JSON encoded: what costs time, done
        here, in a worker process under ``serve``), and the accepted event key of each span.

    Raises:
        Answer: The export is answered without storing anything.
    """
    body, is_protobuf = _body_of(body, gzipped, content_type)
    resource_spans: Any
    if is_protobuf:
        message = parsed_protobuf(body)
        # The official SDKs' exports go straight to rows; the fast path only ever takes an
        # export the general path would accept whole (no answer but the version's differs).
        fast = prepare_fast(message, mode=mode)
        if fast is not None:
            check_version(version)
            return fast
        resource_spans = resource_spans_of(message)
    else:
        try:
            # Buffer.toString(): undecodable bytes become U+FFFD; a byte order mark stays.
            parsed = parse_json(body.decode("utf-8", "replace"))
        except ValueError:
            raise Answer(400, {"error": "Failed to parse OTel JSON Trace"}) from None
        if parsed is None:
            # JSON.parse("null").resourceSpans throws inside the server's try.
            raise Answer(400, {"error": "Failed to parse OTel JSON Trace"})
        resource_spans = parsed.get("resourceSpans") if isinstance(parsed, dict) else None
    if empty_export(resource_spans):
        raise Answer(200, {})
    problem = check_export(resource_spans)
    if problem is not None:
        raise Answer(400, {"error": problem})
    check_version(version)
    return prepare_converted(resource_spans, mode=mode)


def prepare_converted(
    resource_spans: list[Any],
    *,
    mode: str,
    now_ms: float | None = None,
    new_id: Callable[[], str] | None = None,
) -> tuple[PreparedWrite, list[str]]:
    """Convert, validate and encode a checked export: the general path (pure).

    Returns:
        The export ready to store, and the accepted event key of each span.
    """
    raw_events, spans = convert_export(resource_spans, mode=mode, now_ms=now_ms, new_id=new_id)
    pending: list[PendingEvent] = []
    for raw, shallow in raw_events:
        try:
            pending.append(PendingEvent(validate_event(raw), shallow=shallow))
        except ValidationFailure as failure:
            # The worker drops an invalid converted event and only logs it.
            logger.info(
                "collector: dropped a converted OTLP %s: %s", raw.get("type"), failure.error
            )
    return prepare_write(pending), [f"otlp:{trace_id}:{span_id}" for trace_id, span_id in spans]


def prepare_export_pickled(
    body: bytes, gzipped: bool, content_type: str, version: str | None, mode: str
) -> tuple[bytes, list[str]]:
    """:func:`prepare_export`, what it prepared pickled (for a store in a process of its own)."""
    prepared, keys = prepare_export(body, gzipped, content_type, version, mode)
    return pickle.dumps(prepared, pickle.HIGHEST_PROTOCOL), keys


def prepare_protobuf_pickled(body: bytes, mode: str) -> bytes:
    """:func:`prepare_protobuf`, pickled (for a store in a process of its own)."""
    return pickle.dumps(prepare_protobuf(body, mode), pickle.HIGHEST_PROTOCOL)


def prepare_protobuf(body: bytes, mode: str) -> PreparedWrite:
    """Convert a checked protobuf export (:func:`check_protobuf`) for the store (pure).

    The fast path takes it when it can, the general path otherwise.
    """
    message = parse_protobuf(body)
    fast = prepare_fast(message, mode=mode)
    if fast is not None:
        return fast[0]
    return prepare_converted(resource_spans_of(message), mode=mode)[0]
