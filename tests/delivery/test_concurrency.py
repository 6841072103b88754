"""Throughput mechanisms of the worker: requests cut by bytes, several in flight (bounded, settled
in the order they were sent), and encoding in slices that let the event loop run between them."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from typing import Any

import msgspec
import pytest

from langfuse_async._config import resolve_config
from langfuse_async._delivery import worker as worker_module
from langfuse_async._delivery.inflight import Item
from langfuse_async._delivery.routing import Route
from langfuse_async._delivery.sender import Failure, SendOutcome
from langfuse_async._outcomes import EventError
from langfuse_async._records import Record
from langfuse_async._wire import ingestion as _ingestion
from tests.support import factories
from tests.support.pipelines import ScriptedSender, balanced, make_pipeline

pytestmark = pytest.mark.anyio

NOWHERE = "http://127.0.0.1:9"
#: About 3 KB per event, so a 10,000-byte request holds two or three of them.
PAYLOAD = msgspec.Raw(msgspec.json.encode("x" * 3_000))


def delivered(batch: Sequence[Item]) -> SendOutcome:
    return SendOutcome(delivered=list(batch), status=200)


async def test_a_backlog_is_cut_by_bytes_not_by_flush_at() -> None:
    async def ok(batch: Sequence[Item], route: Route) -> SendOutcome:
        return delivered(batch)

    async with ScriptedSender(ok) as sender:
        p = make_pipeline(NOWHERE, sender=sender, flush_at=2)
        records = [factories.observation() for _ in range(50)]
        for r in records:
            p.emit(r)
        assert (await p.flush(timeout=10)).completed
        # flush_at triggers sending; the 50 small waiting events fit one request.
        assert sender.requests == [("ingestion", [r.event_id for r in records])]
        await p.shutdown()
        assert balanced(p)


async def test_byte_cut_requests_stay_within_max_batch_bytes_and_keep_the_order() -> None:
    sizes: list[int] = []

    async def ok(batch: Sequence[Item], route: Route) -> SendOutcome:
        sizes.append(sum(len(item.ingestion or b"") + 1 for item in batch) + 200)
        return delivered(batch)

    async with ScriptedSender(ok) as sender:
        p = make_pipeline(
            NOWHERE, sender=sender, flush_at=1, max_batch_bytes=10_000, max_event_bytes=9_000
        )
        records = [factories.observation(input=PAYLOAD) for _ in range(12)]
        for r in records:
            p.emit(r)
        assert (await p.flush(timeout=10)).completed
        assert len(sender.requests) > 1
        assert all(len(ids) > 1 for _, ids in sender.requests)  # more than flush_at each
        assert all(size <= 10_000 for size in sizes)
        sent = [event_id for _, ids in sender.requests for event_id in ids]
        assert sent == [r.event_id for r in records]
        await p.shutdown()
        assert balanced(p)


async def test_requests_in_flight_are_bounded_and_settled_in_the_order_sent() -> None:
    errors: list[EventError] = []
    limit = 3
    active = 0
    most = 0
    started: list[asyncio.Event] = []
    replies: list[asyncio.Event] = []

    async def refuse_when_released(batch: Sequence[Item], route: Route) -> SendOutcome:
        nonlocal active, most
        release = asyncio.Event()
        replies.append(release)
        active += 1
        most = max(most, active)
        started[len(replies) - 1].set()
        await release.wait()
        active -= 1
        return SendOutcome(
            failed=[Failure(item, "rejected", 400, "no") for item in batch], status=207
        )

    started = [asyncio.Event() for _ in range(20)]
    async with ScriptedSender(refuse_when_released) as sender:
        p = make_pipeline(
            NOWHERE,
            on_error=errors.append,
            sender=sender,
            flush_at=1,
            max_batch_bytes=10_000,
            max_event_bytes=9_000,
            max_concurrent_requests=limit,
        )
        records = [factories.observation(input=PAYLOAD) for _ in range(15)]
        for r in records:
            p.emit(r)
        flushing = asyncio.ensure_future(p.flush(timeout=20))
        for event in started[:limit]:
            await asyncio.wait_for(event.wait(), 10)
        await asyncio.sleep(0.05)  # room for a fourth request, were the bound not kept
        assert len(replies) == limit
        released = 0
        while not flushing.done() or released < len(replies):
            # The newest request answers first: settling must still follow the sending order.
            for release in reversed(replies):
                if not release.is_set():
                    release.set()
                    released += 1
                    break
            await asyncio.sleep(0.01)
        assert (await flushing).completed
        assert most == limit
        assert len(sender.requests) > limit
        await p.shutdown()
        assert [e.event_id for e in errors] == [r.event_id for r in records]
        assert balanced(p)


async def test_shutdown_with_requests_in_flight_settles_each_event_once() -> None:
    errors: list[EventError] = []
    hold = asyncio.Event()

    async def never(batch: Sequence[Item], route: Route) -> SendOutcome:
        await hold.wait()
        return delivered(batch)

    async with ScriptedSender(never) as sender:
        p = make_pipeline(
            NOWHERE,
            on_error=errors.append,
            sender=sender,
            flush_at=1,
            max_batch_bytes=10_000,
            max_event_bytes=9_000,
            max_concurrent_requests=4,
        )
        records = [factories.observation(input=PAYLOAD) for _ in range(12)]
        for r in records:
            p.emit(r)
        await p.flush(timeout=0.2)
        assert len(sender.requests) == 4
        result = await p.shutdown(timeout=0.2)
        assert not result.completed
        s = p.statistics()
        assert s.delivered == 0 and s.pending == 0
        assert sorted(e.event_id for e in errors) == sorted(r.event_id for r in records)
        assert balanced(p)


async def _flush_beside_another_task(log: list[str], records: list[Record], **options: Any) -> None:
    """Flush ``records`` while another task logs "other" each time it gets a turn."""

    async def ok(batch: Sequence[Item], route: Route) -> SendOutcome:
        log.append("send")
        return delivered(batch)

    stop = False

    async def other_task() -> None:
        while not stop:
            log.append("other")
            await asyncio.sleep(0)

    async with ScriptedSender(ok) as sender:
        p = make_pipeline(NOWHERE, sender=sender, **options)
        for record in records:
            p.emit(record)
        probe = asyncio.ensure_future(other_task())
        assert (await p.flush(timeout=10)).completed
        stop = True
        await probe
        await p.shutdown()


def _interleaved(log: list[str], entry: str) -> tuple[int, bool]:
    """How often ``entry`` is in ``log``, and whether "other" ran between every two."""
    where = [i for i, e in enumerate(log) if e == entry]
    return len(where), all("other" in log[a:b] for a, b in itertools.pairwise(where))


async def test_encoding_yields_to_the_event_loop_between_slices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log: list[str] = []
    real_encode = _ingestion.encode_event

    def spy(*args: object, **kwargs: object) -> object:
        log.append("encode")
        return real_encode(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_ingestion, "encode_event", spy)
    monkeypatch.setattr(worker_module, "turn_seconds", lambda fill: 0.0)  # an event a turn
    records = [factories.observation() for _ in range(20)]
    await _flush_beside_another_task(log, records, flush_at=1000)
    # Another task ran between every two encodings: the worker never encoded the lot in one go.
    assert _interleaved(log, "encode") == (20, True)


async def test_the_worker_yields_between_the_requests_it_launches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Planning a backlog into requests and launching them used to be one turn on the loop.
    monkeypatch.setattr(worker_module, "turn_seconds", lambda fill: 0.0)
    log: list[str] = []
    records = [factories.observation(input=PAYLOAD) for _ in range(12)]
    await _flush_beside_another_task(
        log, records, max_batch_bytes=10_000, max_event_bytes=9_000, max_concurrent_requests=8
    )
    sends, interleaved = _interleaved(log, "send")
    assert sends >= 6 and interleaved


def test_max_concurrent_requests_is_validated() -> None:
    base = dict(public_key="pk", secret_key="sk", environ={})
    assert resolve_config(**base).max_concurrent_requests == 4  # type: ignore[arg-type]
    assert resolve_config(max_concurrent_requests=1, **base).max_concurrent_requests == 1  # type: ignore[arg-type]
    for bad in (0, 65, "many", True):
        with pytest.raises(ValueError, match="max_concurrent_requests"):
            resolve_config(max_concurrent_requests=bad, **base)  # type: ignore[arg-type]


async def test_the_bodies_of_requests_in_flight_count_against_the_byte_bound() -> None:
    hold = asyncio.Event()
    started = asyncio.Event()

    async def held(batch: Sequence[Item], route: Route) -> SendOutcome:
        started.set()
        await hold.wait()
        return delivered(batch)

    async with ScriptedSender(held) as sender:
        p = make_pipeline(
            NOWHERE,
            sender=sender,
            flush_at=1,
            max_batch_bytes=10_000,
            max_event_bytes=9_000,
            max_queue_bytes=30_000,
            max_concurrent_requests=8,
        )
        # Held: 4 records (1,500 each) and their encodings (about 3,300 each), under the bound
        # of 30,000; the request bodies copying those encodings (about 13,000) exceed it.
        for _ in range(4):
            p.emit(factories.observation(input=PAYLOAD, size=1_500))
        flushing = asyncio.ensure_future(p.flush(timeout=20))
        await asyncio.wait_for(started.wait(), 10)
        for _ in range(4):
            p.emit(factories.observation(input=PAYLOAD, size=1_500))
        await asyncio.sleep(0.05)  # room for another cycle, were the bodies not counted
        inflight = p._worker.inflight
        assert inflight.bytes < 30_000 <= inflight.bytes + inflight.request_bytes
        assert len(p._queue) == 4  # not taken: with the bodies in flight, the bound is full
        hold.set()
        assert (await flushing).completed
        assert (await p.shutdown()).completed
        assert inflight.request_bytes == 0 and inflight.bytes == 0
        assert p.statistics().delivered == 8 and balanced(p)
