"""Truncation for any wire format: shrink a record's largest payloads until its encoding fits.

Pure: the caller passes the encoder of its wire format (ingestion envelope, OTLP span), so every
route truncates by one policy. The largest of ``input``, ``output`` and ``metadata`` is replaced
by :data:`~langfuse_async._records.TRUNCATED_MARKER`, then the next largest, until the encoded
event fits; a field no larger than the marker is never replaced.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from .._records import (
    TRUNCATED_MARKER,
    Metadata,
    ObservationRecord,
    Record,
    ScoreRecord,
    TraceAttributes,
    TraceRecord,
)

__all__ = ["fit_with", "payload_floor"]

_MARKER_BYTES = msgspec.json.encode(TRUNCATED_MARKER)
_MARKER_RAW = msgspec.Raw(_MARKER_BYTES)
_TRUNCATABLE = ("input", "output", "metadata")


#: Payloads this short may be left out of an encoding (``null``) or shortened (a number).
_SHORT = 4


def _written_bytes(value: Metadata | None) -> int:
    # Every wire format writes a payload of more than _SHORT bytes whole: as it is (ingestion),
    # or as a JSON string or text that escaping can only lengthen (OTLP).
    if value is None:
        return 0
    if isinstance(value, msgspec.Raw):
        return len(value) if len(value) > _SHORT else 0
    return sum(len(item) for item in value.values() if len(item) > _SHORT)


def payload_floor(record: Record) -> int:
    """The fewest bytes any encoding of ``record`` takes: its input, output and metadata.

    A lower bound for every wire format (each writes those payloads whole), read from their
    lengths without encoding: while it exceeds the limit, so would the encoding.
    """
    holder = record.attributes if isinstance(record, TraceRecord) else record
    return sum(_written_bytes(getattr(holder, name, None)) for name in _TRUNCATABLE)


def _payload_size(value: Metadata | None) -> int:
    if value is None:
        return 0
    if isinstance(value, msgspec.Raw):
        return len(value)
    # Close enough to the encoded size to pick the largest field: key, quotes, colon, comma.
    return 2 + sum(len(key) + len(item) + 4 for key, item in value.items())


def _is_marker(value: Metadata | None) -> bool:
    return (
        isinstance(value, msgspec.Raw)
        and len(value) == len(_MARKER_RAW)
        and bytes(value) == _MARKER_BYTES
    )


def _largest(holder: TraceAttributes | ObservationRecord | ScoreRecord) -> tuple[str, int] | None:
    best: tuple[str, int] | None = None
    for name in _TRUNCATABLE:
        value = getattr(holder, name, None)
        if value is None or _is_marker(value):
            continue
        size = _payload_size(value)
        # Replacing something no larger than the marker cannot make the event smaller.
        if size > len(_MARKER_RAW) and (best is None or size > best[1]):
            best = (name, size)
    return best


def _truncate_largest(record: Record) -> Record | None:
    holder = record.attributes if isinstance(record, TraceRecord) else record
    found = _largest(holder)
    if found is None:
        return None
    name, size = found
    new_size = max(0, record.size - (size - len(_MARKER_RAW)))
    if isinstance(record, TraceRecord):
        attributes = msgspec.structs.replace(record.attributes, **{name: _MARKER_RAW})
        return msgspec.structs.replace(record, attributes=attributes, size=new_size)
    return msgspec.structs.replace(record, **{name: _MARKER_RAW, "size": new_size})


def _truncate_trace_snapshot(record: ObservationRecord) -> ObservationRecord | None:
    """Replace the largest payload of the trace attributes an observation carries (OTLP)."""
    trace = record.trace
    found = None if trace is None else _largest(trace)
    if trace is None or found is None:
        return None
    smaller = msgspec.structs.replace(trace, **{found[0]: _MARKER_RAW})
    return msgspec.structs.replace(record, trace=smaller)


def _smaller(record: Record, trace_snapshot: bool, trace_first: bool) -> Record | None:
    """The record with its next payload truncated, in the policy's order; None: none is left."""
    smaller: Record | None = None
    snapshot = trace_snapshot and isinstance(record, ObservationRecord)
    if snapshot and trace_first:
        smaller = _truncate_trace_snapshot(record)  # type: ignore[arg-type]
    if smaller is None:
        smaller = _truncate_largest(record)
    if smaller is None and snapshot and not trace_first:
        smaller = _truncate_trace_snapshot(record)  # type: ignore[arg-type]
    return smaller


def fit_with(
    record: Record,
    encode: Callable[[Record], bytes],
    max_event_bytes: int,
    *,
    trace_snapshot: bool = False,
    trace_first: bool = False,
) -> tuple[Record, bytes] | None:
    """Encode with ``encode``, truncating the largest payloads until it fits ``max_event_bytes``.

    The same policy for every wire format: the largest of input, output and metadata is
    replaced by :data:`~langfuse_async._records.TRUNCATED_MARKER`. With ``trace_snapshot``
    (OTLP spans, which carry their trace's attributes), the trace's input, output and metadata
    are truncated too: last, or first with ``trace_first`` (a child span, whose copy of the
    trace's attributes is repeated on the root, should lose that copy before its own data).
    Returns None when nothing is left to truncate.
    """
    # While the payloads alone exceed the limit, so does the encoding: the truncations the
    # loop below would make after encoding the whole event again are made before encoding it.
    # An event of three 1 MB payloads is encoded once, fitted, not once per payload (each
    # encoding is one unit of work on the event loop).
    while payload_floor(record) > max_event_bytes:
        smaller = _smaller(record, trace_snapshot, trace_first)
        if smaller is None:
            return None
        record = smaller
    encoded = encode(record)
    while len(encoded) > max_event_bytes:
        smaller = _smaller(record, trace_snapshot, trace_first)
        if smaller is None:
            return None
        record = smaller
        encoded = encode(record)
    return record, encoded
