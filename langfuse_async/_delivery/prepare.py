"""An item's bytes for its route: encoding, truncation to ``max_event_bytes``, and its count.

Each route encodes once per item: a rerouted item keeps its ingestion bytes and gets its span,
and an item that comes back for a retry is not encoded again.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import msgspec

from .._outcomes import Reason
from .._records import ObservationRecord, ScoreRecord, TraceRecord
from .._wire import ingestion as _ingestion, otlp as _otlp
from .._wire.context import WireContext
from .._wire.fit import payload_floor
from .inflight import Item
from .routing import Route

__all__ = ["READY", "TRUNCATED", "Prepared", "Preparation", "prepare", "prepare_items"]

_perf_counter = time.perf_counter


class Preparation(msgspec.Struct, frozen=True, gc=False):
    """What became of an item's encoding.

    A struct, not a dataclass: one is made per root observation, and a frozen dataclass costs
    ten times as much to build.

    Attributes:
        refused: Why the item cannot be sent (it is to be reported), or None when it can.
        message: The report's message when refused.
        truncated: The item was truncated for the first time: count it (once per event).
        companion: A root observation encoded for the ingestion route for the first time:
            the ``trace-create`` it brings, an event of its own for the worker to hold.
        companion_ingestion: The companion's envelope when it was encoded with the root and
            fits ``max_event_bytes``; None: the companion is still to be prepared.
    """

    refused: Reason | None = None
    message: str = ""
    truncated: bool = False
    companion: TraceRecord | None = None
    companion_ingestion: bytes | None = None


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
    if route == "ingestion":
        return _prepare_ingestion(item, ctx, max_event_bytes)
    return _prepare_span(item, ctx, max_event_bytes)


def _prepare_ingestion(item: Item, ctx: WireContext, max_event_bytes: int) -> Preparation:
    """:func:`prepare` for the ingestion route."""
    record = item.record
    try:
        if item.ingestion is not None:
            return READY
        companion: TraceRecord | None = None
        companion_encoded: bytes | None = None
        root = (
            record
            if isinstance(record, ObservationRecord)
            and (record.parent_id is None or record.remote_parent)
            and not item.derived
            else None
        )
        if record.size > max_event_bytes and payload_floor(record) > max_event_bytes:
            # Too large by its payloads alone: fitted at once, not encoded whole first. Its
            # trace-create is prepared as an event of its own.
            if root is not None:
                companion = _ingestion.root_trace(root)
        elif root is not None:
            # A root: the trace-create it brings is encoded with it (they share instants).
            encoded, companion, companion_encoded = _ingestion.encode_root(root, ctx)
            if companion_encoded is not None:
                size = len(companion_encoded)
                if size > max_event_bytes:
                    companion_encoded = None  # truncated later, as an event of its own
                elif size >= _COMPACT_FROM:
                    companion_encoded = _compact(companion_encoded)
            size = len(encoded)
            if size <= max_event_bytes:  # nearly always: no truncation to try
                item.ingestion = _compact(encoded) if size >= _COMPACT_FROM else encoded
                return Preparation(None, "", False, companion, companion_encoded)
        else:
            encoded = _ingestion.encode_event(record, ctx)
            size = len(encoded)
            if size <= max_event_bytes:  # nearly always: no truncation to try
                item.ingestion = _compact(encoded) if size >= _COMPACT_FROM else encoded
                return READY
        fitted = _ingestion.fit_event(record, ctx, max_event_bytes)
        if fitted is None:
            return _oversize(max_event_bytes)
        newly_truncated = fitted[0] is not record and _mark_truncated(item)
        item.ingestion = _compact(fitted[1])
        item.record = fitted[0]
        if companion is not None:
            # From the record as taken: the trace gets the root's whole input and output,
            # truncated (if need be) as an event of its own.
            return Preparation(
                truncated=newly_truncated,
                companion=companion,
                companion_ingestion=companion_encoded,
            )
        return TRUNCATED if newly_truncated else READY
    except Exception as exc:  # encoding is total by design; this is the last safety net
        return Preparation(refused="unserializable", message=f"could not encode event: {exc!r}")


def _prepare_span(item: Item, ctx: WireContext, max_event_bytes: int) -> Preparation:
    """:func:`prepare` for the OTLP route."""
    record = item.record
    try:
        if not isinstance(record, ObservationRecord) or item.span is not None:
            return READY
        if record.size <= max_event_bytes or payload_floor(record) <= max_event_bytes:
            encoded = _otlp.encode_span(record, ctx)
            size = len(encoded)
            if size <= max_event_bytes:  # nearly always: no truncation to try
                item.span = _compact(encoded) if size >= _COMPACT_FROM else encoded
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


class Prepared:
    """What :func:`prepare_items` made of a cycle's items so far, for the worker to apply.

    Attributes:
        ingestion: Items for the ingestion route, in order; a root's ``trace-create`` right
            after its root.
        otlp: Items for the OTLP route, in order.
        held: The ``trace-create`` items made for roots (derived): the worker holds them
            (they count as events of their own).
        refused: Items that cannot be sent, with the reason and message of their report.
        truncated: Items truncated for the first time (count each once).
        charged: The bytes added to the items' sizes (their wire bytes), to add to the bounds.
    """

    __slots__ = ("charged", "held", "ingestion", "otlp", "refused", "truncated")

    def __init__(self) -> None:
        self.ingestion: list[Item] = []
        self.otlp: list[Item] = []
        self.held: list[Item] = []
        self.refused: list[tuple[Item, Reason, str]] = []
        self.truncated: list[Item] = []
        self.charged = 0


def prepare_items(
    items: Sequence[Item],
    start: int,
    route: Route | None,
    ctx: WireContext,
    max_event_bytes: int,
    deadline: float,
    out: Prepared,
) -> int:
    """Prepare ``items[start:]`` in order (see :func:`prepare`) until ``deadline`` passes.

    One loop for the whole slice, with the common case inline: the worker's cost per event is
    mostly calls. Each item goes to its route's list in ``out`` with its size charged its wire
    bytes (``item.size``: as taken plus encoded); a root observation's ``trace-create`` is
    made into an item of its own (its root's ``seq``, ``derived``) right behind it, and
    prepared in turn unless encoded with its root. A held item's ``size`` is its record's as
    taken until then (:meth:`.InFlight.hold` counts that much), so ``out.charged`` covers the
    wire bytes of every item, new or not.

    Args:
        items: The cycle's items.
        start: The first index to prepare.
        route: The route of traces and observations (None: undecided, the ingestion route).
        ctx: Client-level facts for the encoders.
        max_event_bytes: The largest encoded event allowed.
        deadline: A ``time.perf_counter()`` value: stop after the first item prepared past it.
        out: Where the results go.

    Returns:
        The index of the first item not prepared (``len(items)`` when all are).
    """
    count = len(items)
    index = start
    ingestion, otlp, held = out.ingestion, out.otlp, out.held
    charged = 0
    try:
        while index < count:
            item: Item | None = items[index]
            index += 1
            while item is not None:
                record = item.record
                companion: Item | None = None
                # routing.destination() and prepare(), inline: they run for every event.
                if route == "otlp" and not isinstance(record, ScoreRecord):
                    target = otlp
                    prepared = (
                        READY
                        if item.span is not None
                        else _prepare_span(item, ctx, max_event_bytes)
                    )
                else:
                    target = ingestion
                    prepared = (
                        READY
                        if item.ingestion is not None
                        else _prepare_ingestion(item, ctx, max_event_bytes)
                    )
                if prepared is not READY:
                    if prepared.refused is not None:
                        out.refused.append((item, prepared.refused, prepared.message))
                        break
                    if prepared.truncated:
                        out.truncated.append(item)
                    if prepared.companion is not None:
                        companion = Item(item.seq, prepared.companion, True)  # derived
                        held.append(companion)
                # It holds its wire bytes too (see InFlight.take: within half the room).
                encoded, span = item.ingestion, item.span
                size = item.taken_size
                if encoded is not None:
                    size += len(encoded)
                if span is not None:
                    size += len(span)
                charged += size - item.size
                item.size = size
                target.append(item)
                item = companion
                if companion is not None:
                    encoded = prepared.companion_ingestion
                    if encoded is not None:
                        # Encoded with its root: nothing left to prepare, only to place.
                        companion.ingestion = encoded
                        companion.size += len(encoded)
                        charged += len(encoded)
                        target.append(companion)
                        item = None
            if _perf_counter() > deadline:
                break
    finally:
        out.charged += charged
    return index
