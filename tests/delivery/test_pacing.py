"""How long the delivery side may hold the loop: the pure decision and what follows it."""

from __future__ import annotations

import pytest

from langfuse_async._delivery.pacing import MAX_TURN_SECONDS, SLICE_SECONDS, turn_seconds
from langfuse_async._delivery.queue import EventQueue
from langfuse_async._records import RECORD_OVERHEAD_BYTES
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


@pytest.mark.anyio
async def test_retries_of_a_backlog_are_planned_and_settled_a_take_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from collections.abc import Sequence

    from langfuse_async._delivery import worker as worker_module
    from langfuse_async._delivery.inflight import Item
    from langfuse_async._delivery.routing import Route
    from langfuse_async._delivery.sender import Retry, SendOutcome
    from tests.support.pipelines import ScriptedSender, balanced, make_pipeline

    # Planning and settling are units the worker cannot cut: each handles its events in one
    # turn on the loop. A take (_TAKE_LIMIT events) keeps that turn short; a unit of many
    # takes' worth stalls the loop however short the turns are meant to be.
    units: list[int] = []
    real_settle, real_plan = worker_module.settle, worker_module.plan_ingestion

    def settle_spy(out: SendOutcome, batch: Sequence[Item], *args: object, **kw: object) -> object:
        units.append(len(batch))
        return real_settle(out, batch, *args, **kw)  # type: ignore[arg-type]

    def plan_spy(items: Sequence[Item], **kw: object) -> object:
        units.append(len(items))
        return real_plan(items, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(worker_module, "settle", settle_spy)
    monkeypatch.setattr(worker_module, "plan_ingestion", plan_spy)
    failures = 0

    async def down_then_up(batch: Sequence[Item], route: Route) -> SendOutcome:
        nonlocal failures
        if failures < 8:  # the server is down for a while: whole requests fail
            failures += 1
            return SendOutcome(
                retry=[Retry(item, 503, "down") for item in batch], whole_request=True, status=503
            )
        return SendOutcome(delivered=list(batch), status=200)

    async with ScriptedSender(down_then_up) as sender:
        p = make_pipeline("http://127.0.0.1:9", sender=sender, max_retries=10, flush_at=100)
        for _ in range(3_000):
            p.emit(factories.observation())
        assert (await p.flush(timeout=30)).completed
        await p.shutdown()
        assert balanced(p) and p.statistics().delivered == 3_000
    assert max(units) <= 2 * worker_module._TAKE_LIMIT, sorted(units)[-5:]


@pytest.mark.parametrize("route", ["ingestion", "otlp"])
def test_an_oversize_event_is_fitted_without_encoding_it_again_and_again(
    monkeypatch: pytest.MonkeyPatch, route: str
) -> None:
    import msgspec

    from langfuse_async._delivery.inflight import Item
    from langfuse_async._delivery.prepare import prepare
    from langfuse_async._wire import ingestion, otlp
    from langfuse_async._wire.context import WireContext

    # Preparing one event is a unit the worker cannot cut: its cost is one turn on the loop,
    # and encoding costs by the byte. Each payload may be as large as max_event_bytes (the
    # recorder caps them one by one), so an event may hold three times the limit.
    limit = 1_000_000
    payload = msgspec.Raw(msgspec.json.encode("x" * (limit - 1_000)))
    record = factories.observation(
        input=payload,
        output=payload,
        metadata={"a": payload},
        name="big",
        size=RECORD_OVERHEAD_BYTES + 3 * len(payload),  # as recorded: every byte it holds
    )
    encoded = 0
    module = ingestion if route == "ingestion" else otlp
    real = ingestion.encode_event if route == "ingestion" else otlp.encode_span
    name = "encode_event" if route == "ingestion" else "encode_span"

    def counting(*args: object) -> bytes:
        nonlocal encoded
        out = real(*args)  # type: ignore[arg-type]
        encoded += len(out)
        return out

    monkeypatch.setattr(module, name, counting)
    item = Item(1, record)
    outcome = prepare(item, route, WireContext(public_key="pk"), limit)  # type: ignore[arg-type]
    assert outcome.refused is None and outcome.truncated
    assert len(item.ingestion or item.span or b"") <= limit
    # Once to learn it does not fit (at most the limit's worth, read from sizes) and once
    # fitted: never the whole event again after each truncation.
    assert encoded <= 2 * limit + 65_536, encoded
