"""Request-sized batches: encoded events cut into bodies within a byte and a count limit.

:func:`cut_batches` and friends are pure functions over sizes. :func:`plan_ingestion` and
:func:`plan_otlp` apply them to prepared items, set aside an event too large for any request,
and place trace updates on the OTLP route, where they ride on spans. Sizes are exact encoded
lengths and the overhead is exact (see ``_ingestion.batch_overhead``), so a body is never larger
than planned.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Sequence

from .._records import ObservationRecord
from .._wire import ingestion as _ingestion, otlp as _otlp
from .._wire.context import WireContext
from .inflight import Item

__all__ = [
    "LATE_UPDATE_MESSAGE",
    "ROOT_ONLY_MESSAGE",
    "UNCARRIED_MESSAGE",
    "Plan",
    "SentRoots",
    "body_size",
    "cut_batches",
    "may_ride_later",
    "plan_ingestion",
    "plan_otlp",
    "split_in_half",
    "split_otlp",
]

#: Recently delivered root observations, for telling late trace updates on the OTLP route.
_ROOTS_REMEMBERED = 10_000

LATE_UPDATE_MESSAGE = (
    "no span carries this trace update over OTLP: the trace's root observation was sent "
    "before it, or not at all; the OTLP route carries trace attributes only on spans that "
    "end after them (update the trace before its root observation ends)"
)

ROOT_ONLY_MESSAGE = (
    "no span carries this trace update's input or output over OTLP: only the trace's root "
    "span carries them, and it was sent before the update, or not at all (set the trace's "
    "input and output before its root observation ends); any other attribute it sets rides "
    "on the trace's later spans"
)

UNCARRIED_MESSAGE = (
    "no span carries this trace update over OTLP: it was made after the trace's root "
    "observation was sent, while another observation of the trace was open, and no span of "
    "the trace that ended after it was sent before the client closed (the OTLP route "
    "carries trace attributes only on spans that end after them)"
)


def cut_batches(
    sizes: Sequence[int],
    *,
    max_bytes: int,
    max_count: int,
    overhead: Callable[[int], int],
    counted: Sequence[bool] | None = None,
) -> list[range]:
    """Split items, in order, into consecutive batches that fit the limits.

    Greedy: each batch takes items while its body, ``sum(sizes) + overhead(n)``, stays within
    ``max_bytes`` and it holds at most ``max_count`` items (of those ``counted`` says count,
    when given: all by default).

    An item too large to fit even alone is never dropped and never joined with others: it comes
    back as a batch of its own, whose body exceeds ``max_bytes``. The caller finds it with
    :func:`body_size` (``body_size(sizes, r, overhead) > max_bytes``) and reports it; every
    other batch is within the limit.

    Args:
        sizes: The encoded size of each item, in bytes.
        max_bytes: The largest request body allowed, in bytes.
        max_count: The most items per batch (at least 1).
        overhead: The body bytes beyond the items' own bytes, for ``n`` items (brackets,
            separators, metadata), e.g. ``functools.partial(batch_overhead, ctx=ctx)``. It
            must not decrease as ``n`` grows (more items, more separators).

    Returns:
        Consecutive ranges of indexes into ``sizes`` that together cover every index once.

    Raises:
        ValueError: If ``max_count`` is less than 1.
    """
    if max_count < 1:
        raise ValueError("max_count must be at least 1")
    count = len(sizes)
    if count and sum(sizes) + overhead(count) <= max_bytes:
        # Everything fits one body, the common case (a cycle takes a few hundred events at
        # most), answered without a test per item: the greedy cut below would make no cut
        # either, since no prefix weighs more than the whole (sizes are never negative) and
        # the overhead never shrinks as n grows.
        weight = count if counted is None else sum(counted)
        if weight <= max_count:
            return [range(count)]
    batches: list[range] = []
    start = 0
    total = 0
    weight = 0
    # The overhead of the largest possible batch bounds every other one: while a batch is well
    # within the limit with it, the exact overhead is not asked for (once per item otherwise).
    room = max_bytes - overhead(len(sizes)) if sizes else max_bytes
    for index, size in enumerate(sizes):
        taken = index - start
        counts = counted is None or counted[index]
        if taken and (
            (counts and weight >= max_count)
            or (total + size > room and total + size + overhead(taken + 1) > max_bytes)
        ):
            batches.append(range(start, index))
            start = index
            total = 0
            weight = 0
        total += size
        weight += counts
    if start < len(sizes):
        batches.append(range(start, len(sizes)))
    return batches


def body_size(sizes: Sequence[int], batch: range, overhead: Callable[[int], int]) -> int:
    """Return the request body size of one batch returned by :func:`cut_batches`.

    Args:
        sizes: The sizes given to :func:`cut_batches`.
        batch: One of its ranges.
        overhead: The same overhead function.
    """
    return sum(sizes[index] for index in batch) + overhead(len(batch))


def split_in_half(r: range) -> tuple[range, range]:
    """Split a batch in two for a retry after ``413 Payload Too Large``.

    The first half gets the smaller share when the length is odd, so both halves are non-empty.

    Args:
        r: A batch of at least two items.

    Returns:
        ``(first, second)``: consecutive ranges that together are ``r``.

    Raises:
        ValueError: If ``r`` has fewer than two items; a single event that draws a 413 cannot
            be split and has to be reported instead.
    """
    if len(r) < 2:
        raise ValueError("a batch of fewer than two items cannot be split")
    middle = len(r) // 2
    return r[:middle], r[middle:]


def split_otlp(batch: Sequence[Item]) -> tuple[list[Item], list[Item]]:
    """Split an OTLP request refused as too large: its spans in halves.

    Trace updates are not in a request's items: they ride on its spans (see :func:`plan_otlp`
    and :class:`~.riders.Riders`), whatever half each span goes to.

    Args:
        batch: The request's spans: at least two.

    Raises:
        ValueError: If ``batch`` has fewer than two spans.
    """
    spans = [item for item in batch if item.span is not None]
    first, second = split_in_half(range(len(spans)))
    return [spans[i] for i in first], [spans[i] for i in second]


@dataclasses.dataclass(slots=True)
class Plan:
    """The requests of one cycle on one route, and what needs no request.

    Attributes:
        batches: The requests to send, in order (on the OTLP route, spans only).
        oversize: Events whose request alone would exceed the limit (report them).
        carried: OTLP trace updates and every span of :attr:`batches` that carries each: the
            update is delivered once any of them is (see :class:`~.riders.Riders`).
        delivered: OTLP trace updates a span already delivered carried (delivered now).
        late: OTLP trace updates no span carries (report them), as ``(item, message)``.
        held: OTLP trace updates no span of this cycle carries, made while a span of their
            trace was open: that span may still come, in a later cycle (hold them until then).
    """

    batches: list[list[Item]] = dataclasses.field(default_factory=list)
    oversize: list[Item] = dataclasses.field(default_factory=list)
    carried: list[tuple[Item, list[Item]]] = dataclasses.field(default_factory=list)
    delivered: list[Item] = dataclasses.field(default_factory=list)
    late: list[tuple[Item, str]] = dataclasses.field(default_factory=list)
    held: list[Item] = dataclasses.field(default_factory=list)


class SentRoots:
    """When the root observations of recent traces ended, once delivered (bounded memory)."""

    def __init__(self, limit: int = _ROOTS_REMEMBERED) -> None:
        self._ended: OrderedDict[str, int] = OrderedDict()
        self._limit = limit

    def get(self, trace_id: str) -> int | None:
        return self._ended.get(trace_id)

    def remember(self, items: Sequence[Item]) -> None:
        """Note the delivered root observations among ``items``."""
        ended, limit = self._ended, self._limit
        for item in items:
            record = item.record
            # is_local_root, inline: this runs for every span delivered.
            if isinstance(record, ObservationRecord) and (
                record.parent_id is None or record.remote_parent
            ):
                ended[record.trace_id] = record.timestamp_ns
                if len(ended) > limit:
                    ended.popitem(last=False)


def plan_ingestion(
    items: Sequence[Item], *, max_bytes: int, max_count: int, ctx: WireContext
) -> Plan:
    """Cut prepared items into ingestion requests (every body stays within the limit).

    ``max_count`` (``flush_at``) counts the events produced: the ``trace-create`` the worker
    adds for a root rides along without counting, so a batch carries as many of the user's
    events whether they are roots or not (bytes still bound every body).
    """
    sizes = [len(item.ingestion or b"") for item in items]
    counted = [not item.derived for item in items]

    def overhead(n: int) -> int:
        return _ingestion.batch_overhead(n, ctx)

    plan = Plan()
    _within_limit(plan, items, sizes, max_bytes, max_count, _memoized(overhead), counted)
    return plan


def plan_otlp(
    items: Sequence[Item],
    *,
    max_bytes: int,
    max_count: int,
    ctx: WireContext,
    roots: SentRoots,
) -> Plan:
    """Cut prepared spans into OTLP requests and place the trace updates among them.

    Every observation carries a snapshot of its trace's attributes when it ended, so an update
    is carried by any span of its trace recorded after it (by the root span only when the
    update sets the trace's input or output: no other span carries those). Such spans in
    this cycle: the update rides on every one of them (:attr:`Plan.carried`; it is in no
    request's items), and is delivered once any of them is. The trace's root
    delivered and ended after the update: it carried it, so it counts as delivered. Otherwise,
    an update made while another observation of its trace was open
    (:attr:`~langfuse_async._records.TraceRecord.span_open`) waits for that span in a later
    cycle (:attr:`Plan.held`; pass it in again with the next cycle's items). Any other (the
    root sent before it, or never sent, and nothing open) is carried by no span over OTLP:
    it is reported, never counted as delivered.
    """
    riders = [item for item in items if item.span is None]
    spans = [item for item in items if item.span is not None] if riders else items
    plan = Plan()
    if spans:
        sizes = [len(item.span or b"") for item in spans]

        def overhead(n: int) -> int:
            return _otlp.request_overhead(n, ctx)

        _within_limit(plan, spans, sizes, max_bytes, max_count, _memoized(overhead))
    _place_riders(plan, riders, roots)
    return plan


def _memoized(overhead: Callable[[int], int]) -> Callable[[int], int]:
    """``overhead`` remembered per count: :func:`cut_batches` asks once per event."""
    known: dict[int, int] = {}

    def cached(n: int) -> int:
        value = known.get(n)
        if value is None:
            value = known[n] = overhead(n)
        return value

    return cached


def _within_limit(
    plan: Plan,
    items: Sequence[Item],
    sizes: list[int],
    max_bytes: int,
    max_count: int,
    overhead: Callable[[int], int],
    counted: Sequence[bool] | None = None,
) -> None:
    """Cut batches; set aside a lone event whose request would be too large."""
    for r in cut_batches(
        sizes, max_bytes=max_bytes, max_count=max_count, overhead=overhead, counted=counted
    ):
        if len(r) == 1 and body_size(sizes, r, overhead) > max_bytes:
            plan.oversize.append(items[r[0]])
            continue
        plan.batches.append(list(items[r.start : r.stop]))


def _needs_root(record: object) -> bool:
    """Whether a trace update sets the trace's input or output (only a root span carries them)."""
    attributes = getattr(record, "attributes", None)
    return attributes is not None and (
        attributes.input is not None or attributes.output is not None
    )


def may_ride_later(record: object) -> bool:
    """Whether a span still to come may carry the trace update ``record``.

    One made after its trace's root ended, while another observation of the trace was open
    (``span_open``): that observation's span carries it when it ends. Not when it sets the
    trace's input or output: only the root span carries those, and it has gone.
    """
    return bool(getattr(record, "span_open", False)) and not _needs_root(record)


def _carries(span: ObservationRecord, update: object) -> bool:
    """Whether ``span`` carries the trace update ``update`` on the wire.

    A span carries the attributes its trace had when it ended (see ``_wire.otlp``): those of
    every update made before. Trace input and output go on the root span only.
    """
    return (
        span.trace_id == getattr(update, "trace_id", None)
        and span.timestamp_ns >= getattr(update, "timestamp_ns", 0)
        and (span.is_local_root or not _needs_root(update))
    )


def _place_riders(plan: Plan, riders: Sequence[Item], roots: SentRoots) -> None:
    if not riders:  # the common cycle: no trace update to place, no index of spans to build
        return
    # One pass over the spans, so many updates in a cycle cost no quadratic scan.
    spans_of: dict[str, list[tuple[ObservationRecord, Item]]] = {}
    first_root: dict[str, int] = {}
    for batch in plan.batches:
        for item in batch:
            span = item.record
            if isinstance(span, ObservationRecord):
                spans_of.setdefault(span.trace_id, []).append((span, item))
                if span.is_local_root:
                    first_root.setdefault(span.trace_id, span.timestamp_ns)
    for rider in riders:
        record = rider.record
        trace_id = getattr(record, "trace_id", "")
        carriers = [item for span, item in spans_of.get(trace_id, ()) if _carries(span, record)]
        if carriers:
            # Every one of them: any delivered delivers it (a span refused for good, another
            # delivered, and the update is delivered).
            plan.carried.append((rider, carriers))
            continue
        root_sent = roots.get(trace_id)
        if root_sent is None:
            root_sent = first_root.get(trace_id)
        if root_sent is not None and root_sent >= record.timestamp_ns:
            plan.delivered.append(rider)  # the root, sent, ended after it: it carried it
        elif _needs_root(record):
            # Only the root carries the trace's input and output, and it went before.
            plan.late.append((rider, ROOT_ONLY_MESSAGE))
        elif may_ride_later(record):
            # Another observation of the trace was open when it was made: its span, still to
            # come, carries it.
            plan.held.append(rider)
        else:
            # The root went before the update, or no root of the trace was sent here at all
            # (dropped as oversize, or long forgotten): no span carries it.
            plan.late.append((rider, LATE_UPDATE_MESSAGE))
