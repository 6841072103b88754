"""The queue's take: the oldest entries, within a count and a byte budget, bytes kept exact."""

from __future__ import annotations

import msgspec
from hypothesis import given, strategies as st

from langfuse_async._delivery.queue import EventQueue
from tests.support import factories


def _reference_take(sizes: list[int], limit: int, budget: int | None) -> int:
    """How many entries the take's definition gives: one at a time, while the budget lasts."""
    taken = 0
    for size in sizes[: max(0, limit)]:
        if budget is not None:
            if budget <= 0 or (taken and size > budget):
                break
            budget -= size
        taken += 1
    return taken


@given(
    sizes=st.lists(st.integers(0, 5_000), max_size=40),
    limit=st.integers(-1, 50),
    budget=st.none() | st.integers(-10, 120_000),
)
def test_take_gives_the_oldest_entries_within_the_limit_and_the_budget(
    sizes: list[int], limit: int, budget: int | None
) -> None:
    queue = EventQueue(max_size=10**6, max_bytes=10**12, policy="drop_new")
    base = factories.observation()
    records = [msgspec.structs.replace(base, size=size) for size in sizes]
    for record in records:
        queue.put(record)
    taken = queue.take(limit, budget)
    expected = _reference_take(sizes, limit, budget)
    assert [record for _, record in taken] == records[:expected]
    assert [seq for seq, _ in taken] == list(range(1, expected + 1))
    assert len(queue) == len(sizes) - expected
    assert queue.bytes == sum(sizes[expected:])
    assert queue.head_seq() == (expected + 1 if expected < len(sizes) else None)
