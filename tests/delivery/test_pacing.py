"""How long the delivery side may hold the loop: the pure decision and what follows it."""

from __future__ import annotations

import pytest

from langfuse_async._delivery.pacing import MAX_TURN_SECONDS, SLICE_SECONDS, turn_seconds
from langfuse_async._delivery.queue import EventQueue
from tests.support import factories


def test_an_empty_queue_gets_the_shortest_turn() -> None:
    assert turn_seconds(0.0) == SLICE_SECONDS


@pytest.mark.parametrize("fill", [0.25, 0.5, 1.0, 3.0])
def test_turns_grow_with_the_fill_up_to_a_bound(fill: float) -> None:
    assert turn_seconds(fill) == MAX_TURN_SECONDS


def test_turns_grow_monotonically() -> None:
    fills = [i / 20 for i in range(21)]
    turns = [turn_seconds(f) for f in fills]
    assert turns == sorted(turns)
    assert SLICE_SECONDS < turn_seconds(0.2) < MAX_TURN_SECONDS


def test_the_fill_is_the_larger_of_count_and_bytes() -> None:
    record = factories.observation()
    by_count = EventQueue(max_size=4, max_bytes=10**9, policy="drop_new")
    by_count.put(record)
    assert by_count.fill() == pytest.approx(0.25)
    by_bytes = EventQueue(max_size=10**6, max_bytes=2 * record.size, policy="drop_new")
    by_bytes.put(record)
    assert by_bytes.fill() == pytest.approx(0.5)


def test_in_flight_items_are_not_tracked_by_the_cycle_collector() -> None:
    import gc

    from langfuse_async._delivery.inflight import Item

    item = Item(1, factories.observation())
    item.ingestion = b"{}"
    assert not gc.is_tracked(item)
    assert item.size == item.taken_size == item.record.size


def test_importing_the_package_loads_what_the_first_flush_would_import_on_the_loop() -> None:
    import subprocess
    import sys

    # anyio imports its asyncio backend on first use (~15 ms): that first use is a flush() or
    # the worker's first sleep, on the application's event loop.
    script = "import sys, langfuse_async; print('anyio._backends._asyncio' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "True"
