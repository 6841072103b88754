"""Batch cutting: every body within the byte limit, every item exactly once, in order."""

from __future__ import annotations

import functools
import itertools
from typing import Any

import msgspec
import pytest
from hypothesis import given, strategies as st

from langfuse_async._delivery.batching import (
    LATE_UPDATE_MESSAGE,
    ROOT_ONLY_MESSAGE,
    Plan,
    SentRoots,
    body_size,
    cut_batches,
    plan_otlp,
    split_in_half,
    split_otlp,
)
from langfuse_async._delivery.inflight import Item
from langfuse_async._wire.context import WireContext
from langfuse_async._wire.ingestion import batch_overhead, build_body
from tests.support import factories

CTX = WireContext(public_key="pk-lf-batching", sdk_version="1.0.0")
OVERHEAD = functools.partial(batch_overhead, ctx=CTX)


def _flat(n: int) -> int:
    # Brackets plus one separator between items: the simplest honest overhead.
    return 2 + max(n - 1, 0)


def test_empty_input_gives_no_batches() -> None:
    assert cut_batches([], max_bytes=100, max_count=10, overhead=_flat) == []


def test_items_are_packed_greedily_up_to_the_byte_limit() -> None:
    # Bodies: [10+10+10 +2+2 = 34], [10+10 +2+1 = 23] ...
    sizes = [10] * 5
    assert cut_batches(sizes, max_bytes=34, max_count=100, overhead=_flat) == [
        range(3),
        range(3, 5),
    ]
    # One byte less and the third item no longer fits.
    assert cut_batches(sizes, max_bytes=33, max_count=100, overhead=_flat) == [
        range(2),
        range(2, 4),
        range(4, 5),
    ]


def test_count_limit() -> None:
    batches = cut_batches([1] * 7, max_bytes=10**6, max_count=3, overhead=_flat)
    assert batches == [range(3), range(3, 6), range(6, 7)]


def test_an_item_too_large_alone_is_isolated_not_lost() -> None:
    sizes = [5, 5, 500, 5, 600, 700, 5]
    batches = cut_batches(sizes, max_bytes=50, max_count=10, overhead=_flat)
    assert batches == [range(2), range(2, 3), range(3, 4), range(4, 5), range(5, 6), range(6, 7)]
    oversize = [r for r in batches if body_size(sizes, r, _flat) > 50]
    assert oversize == [range(2, 3), range(4, 5), range(5, 6)]


def test_multi_digit_batch_sizes_are_accounted_for() -> None:
    # The tenth event costs ",{}" plus one more digit in "batch_size": 4 bytes, not 3.
    events = [b"{}"] * 10
    limit = len(build_body(events[:9], CTX)) + 3
    batches = cut_batches(
        [len(e) for e in events], max_bytes=limit, max_count=100, overhead=OVERHEAD
    )
    assert batches[0] == range(9)
    assert len(build_body(events[:10], CTX)) == limit + 1


def test_invalid_count_limit() -> None:
    with pytest.raises(ValueError, match="max_count"):
        cut_batches([1], max_bytes=10, max_count=0, overhead=_flat)


@given(
    sizes=st.lists(st.integers(0, 3_000), max_size=200),
    max_bytes=st.integers(1, 10_000),
    max_count=st.integers(1, 50),
)
def test_cut_batches_properties(sizes: list[int], max_bytes: int, max_count: int) -> None:
    batches = cut_batches(sizes, max_bytes=max_bytes, max_count=max_count, overhead=OVERHEAD)
    # Every item exactly once, in order, as consecutive non-empty ranges.
    assert [i for r in batches for i in r] == list(range(len(sizes)))
    assert all(len(r) >= 1 and r.step == 1 for r in batches)
    for r in batches:
        assert len(r) <= max_count
        size = body_size(sizes, r, OVERHEAD)
        if size > max_bytes:
            # Only an item that cannot fit even alone may exceed the limit, and it is alone.
            assert len(r) == 1
            assert sizes[r.start] + OVERHEAD(1) > max_bytes
    # Greedy: a batch is closed only when the next item would not fit or it is full.
    for current, following in itertools.pairwise(batches):
        grown = range(current.start, following.start + 1)
        assert len(grown) > max_count or body_size(sizes, grown, OVERHEAD) > max_bytes


@given(
    sizes=st.lists(st.integers(0, 200), min_size=1, max_size=60), max_bytes=st.integers(1, 2_000)
)
def test_planned_size_is_the_real_body_size(sizes: list[int], max_bytes: int) -> None:
    # Events whose encoded length is exactly the planned size.
    events = [b'"' + b"x" * max(size - 2, 0) + b'"' if size >= 2 else b"0" for size in sizes]
    lengths = [len(e) for e in events]
    for r in cut_batches(lengths, max_bytes=max_bytes, max_count=1000, overhead=OVERHEAD):
        body = build_body(events[r.start : r.stop], CTX)
        assert len(body) == body_size(lengths, r, OVERHEAD)
        assert len(body) <= max_bytes or len(r) == 1


@pytest.mark.parametrize(
    ("r", "first", "second"),
    [
        (range(2), range(1), range(1, 2)),
        (range(3), range(1), range(1, 3)),
        (range(4, 14), range(4, 9), range(9, 14)),
    ],
)
def test_split_in_half(r: range, first: range, second: range) -> None:
    assert split_in_half(r) == (first, second)


@given(st.integers(0, 1000), st.integers(2, 1000))
def test_split_in_half_covers_the_range(start: int, length: int) -> None:
    r = range(start, start + length)
    first, second = split_in_half(r)
    assert len(first) >= 1 and len(second) >= 1
    assert list(first) + list(second) == list(r)
    assert abs(len(first) - len(second)) <= 1


@pytest.mark.parametrize("r", [range(0), range(3, 4)])
def test_split_in_half_needs_two_items(r: range) -> None:
    with pytest.raises(ValueError, match="two"):
        split_in_half(r)


def test_items_not_counted_ride_along_within_the_count_limit() -> None:
    # A root's trace-create (not counted) stays with the user's events: flush_at of them per
    # request, whether they are roots or not; bytes still cut.
    sizes = [10] * 6
    counted = [True, False, True, False, True, False]
    batches = cut_batches(
        sizes, max_bytes=1_000, max_count=2, overhead=lambda n: 0, counted=counted
    )
    assert batches == [range(4), range(4, 6)]
    assert cut_batches(sizes, max_bytes=25, max_count=2, overhead=lambda n: 0, counted=counted) == [
        range(2),
        range(2, 4),
        range(4, 6),
    ]


def _greedy(sizes: list[int], max_bytes: int, max_count: int, counted: list[bool]) -> list[range]:
    """The cut by its definition, one item at a time: the reference for the fast paths."""
    batches: list[range] = []
    start = 0
    for index in range(1, len(sizes) + 1):
        if index == len(sizes):
            batches.append(range(start, index))
            break
        grown = range(start, index + 1)
        weight = sum(counted[i] for i in range(start, index))
        full = counted[index] and weight >= max_count
        if full or body_size(sizes, grown, OVERHEAD) > max_bytes:
            batches.append(range(start, index))
            start = index
    return batches


@given(
    data=st.lists(st.tuples(st.integers(0, 3_000), st.booleans()), max_size=120),
    max_bytes=st.integers(1, 400_000),
    max_count=st.integers(1, 150),
)
def test_cut_batches_is_the_greedy_cut_whatever_fits(
    data: list[tuple[int, bool]], max_bytes: int, max_count: int
) -> None:
    # Limits that often hold everything at once (the common case, answered without a loop)
    # and often not: the same cut either way.
    sizes = [size for size, _ in data]
    counted = [counts for _, counts in data]
    got = cut_batches(
        sizes, max_bytes=max_bytes, max_count=max_count, overhead=OVERHEAD, counted=counted
    )
    assert got == _greedy(sizes, max_bytes, max_count, counted)
    uncounted = cut_batches(sizes, max_bytes=max_bytes, max_count=max_count, overhead=OVERHEAD)
    assert uncounted == _greedy(sizes, max_bytes, max_count, [True] * len(sizes))


def test_otlp_halves_are_the_spans_alone() -> None:
    # Trace updates ride on spans without being in a request's items (see plan_otlp), so a
    # request refused as too large splits into halves of spans, each carrying what it carries.
    spans = [Item(i, factories.observation(), span=b"{}") for i in range(5)]
    assert split_otlp(spans) == (spans[:2], spans[2:])
    with pytest.raises(ValueError):
        split_otlp(spans[:1])  # one span: nothing to split


# --------------------------------------------------------------------------- OTLP trace updates


def _plan_otlp(items: list[Item], roots: SentRoots) -> Plan:
    return plan_otlp(items, max_bytes=3_500_000, max_count=100, ctx=CTX, roots=roots)


def _at(record: Any, ns: int) -> Any:
    return msgspec.structs.replace(record, timestamp_ns=ns)


def test_an_otlp_update_made_while_a_span_of_its_trace_was_open_waits_for_that_span() -> None:
    # The root ended and was delivered; the update came after it, while a child was open: no
    # span of this cycle carries it, the child's span (a later cycle) will.
    root = _at(factories.observation(parent_id=None), 100)
    roots = SentRoots()
    roots.remember([Item(1, root)])
    update = Item(2, _at(factories.trace(trace_id=root.trace_id, user_id="u"), 200))
    waiting = Item(2, msgspec.structs.replace(update.record, span_open=True))
    elsewhere = Item(3, _at(factories.observation(), 250), span=b"{}")

    plan = _plan_otlp([elsewhere, waiting], roots)
    assert plan.held == [waiting]
    assert (plan.late, plan.delivered, plan.batches) == ([], [], [[elsewhere]])
    plan = _plan_otlp([Item(4, _at(factories.observation(), 260), span=b"{}"), waiting], roots)
    assert plan.held == [waiting]  # still no span of its trace: it keeps waiting

    child = Item(
        5,
        _at(factories.observation(trace_id=root.trace_id, parent_id=root.id), 300),
        span=b"{}",
    )
    plan = _plan_otlp([child, *plan.held], roots)
    assert plan.batches == [[child]] and plan.carried == [(waiting, [child])]  # rides on it
    assert (plan.held, plan.late, plan.delivered) == ([], [], [])

    # Made when nothing of its trace was open any more: no span ever carries it.
    plan = _plan_otlp([elsewhere, update], roots)
    assert plan.late == [(update, LATE_UPDATE_MESSAGE)] and plan.held == []


def test_trace_input_and_output_ride_only_on_the_root_span() -> None:
    # Non-root spans never carry the trace's input and output (see _wire.otlp), so a child
    # that ends after such an update does not carry it.
    root = _at(factories.observation(parent_id=None), 300)
    child = _at(factories.observation(trace_id=root.trace_id, parent_id=root.id), 300)
    update = _at(factories.trace(trace_id=root.trace_id, output=factories.raw("done")), 200)
    update = msgspec.structs.replace(update, span_open=True)
    rider = Item(1, update)
    child_item = Item(2, child, span=b"{}")
    plan = _plan_otlp([child_item, rider], SentRoots())
    assert plan.late == [(rider, ROOT_ONLY_MESSAGE)] and plan.held == []
    assert plan.batches == [[child_item]]
    # With the root, ended after it, in the cycle: the root carries it.
    root_item = Item(3, root, span=b"{}")
    plan = _plan_otlp([child_item, root_item, rider], SentRoots())
    assert plan.batches == [[child_item, root_item]] and plan.late == []
    assert plan.carried == [(rider, [root_item])]  # the root only, not the child


def test_an_otlp_update_rides_on_every_span_carrying_it_whatever_request_each_goes_in() -> None:
    # Two spans of the trace ended after the update, cut into two requests (one span each):
    # the update rides on both, so that either one delivered delivers it. Riding on the
    # first alone, it shared that span's fate even when the other was delivered.
    update = _at(factories.trace(user_id="u"), 100)
    first = Item(1, _at(factories.observation(trace_id=update.trace_id), 200), span=b"{}")
    other = Item(2, _at(factories.observation(), 250), span=b"{}")
    second = Item(3, _at(factories.observation(trace_id=update.trace_id), 300), span=b"{}")
    before = Item(4, _at(factories.observation(trace_id=update.trace_id), 50), span=b"{}")
    rider = Item(5, update)
    plan = plan_otlp(
        [first, other, before, second, rider],
        max_bytes=3_500_000,
        max_count=2,
        ctx=CTX,
        roots=SentRoots(),
    )
    assert plan.batches == [[first, other], [before, second]]  # spans only
    assert plan.carried == [(rider, [first, second])]  # not `before`: it ended before it
    assert (plan.held, plan.late, plan.delivered) == ([], [], [])
