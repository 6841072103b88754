"""Defects found by hostile testing (issue 9, section 4): each a minimal repro that failed."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import threading
from typing import Any

import anyio
import anyio.to_thread
import pytest
from aiohttp import web

from langfuse_async._outcomes import EventError, FlushResult
from langfuse_async._wire import otlp as _otlp
from langfuse_async._wire.context import WireContext
from tests.support import factories
from tests.support.fake_langfuse import INGESTION, FakeLangfuse
from tests.support.pipelines import balanced, make_pipeline

pytestmark = pytest.mark.anyio

BAD = "bad\ud800"


# 4.1 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_an_on_error_raising_cancelled_error_stops_neither_reports_nor_flush(
    kind: str,
) -> None:
    seen: list[EventError] = []

    async def async_cb(error: EventError) -> None:
        seen.append(error)
        raise asyncio.CancelledError  # it awaited something cancelled elsewhere

    def sync_cb(error: EventError) -> None:
        seen.append(error)
        raise asyncio.CancelledError

    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, on_error=async_cb if kind == "async" else sync_cb)
        first, second = factories.observation(), factories.observation()
        server.fail_event(first.event_id, 400)
        server.fail_event(second.event_id, 400)
        with anyio.fail_after(30):  # a hang is the defect
            p.emit(first)
            assert (await p.flush(timeout=10)).completed
            p.emit(second)
            assert (await p.flush(timeout=10)).completed
            result = await p.shutdown(timeout=10)
        assert isinstance(result, FlushResult) and result.completed
        assert [e.event_id for e in seen] == [first.event_id, second.event_id]
        assert balanced(p)


# 4.2 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["flush", "shutdown"])
async def test_flush_or_shutdown_while_the_worker_loop_ends_returns_a_result(call: str) -> None:
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, flush_interval=3600)
        release = server.hold(INGESTION)
        started, stop = threading.Event(), threading.Event()

        async def worker_side() -> None:
            p.emit(factories.observation())  # binds the worker to this thread's loop
            started.set()
            await anyio.to_thread.run_sync(stop.wait)

        thread = threading.Thread(target=lambda: asyncio.run(worker_side()))
        thread.start()
        try:
            assert await anyio.to_thread.run_sync(started.wait, 10)
            waiting = asyncio.ensure_future(getattr(p, call)(timeout=20))
            await server.wait_for(lambda: len(server.posts()) >= 1)
            stop.set()  # that asyncio.run ends: it cancels every task of its loop
            with anyio.fail_after(40):
                result = await waiting
            assert isinstance(result, FlushResult)
        finally:
            stop.set()
            release.set()
            await anyio.to_thread.run_sync(thread.join, 10)
        await p.shutdown(timeout=5)


# 4.3 -----------------------------------------------------------------------------------------


def test_a_lone_surrogate_in_any_string_never_loses_a_span() -> None:
    ctx = WireContext(public_key="pk-test")
    trace = factories.trace(
        name=BAD, user_id=BAD, session_id=BAD, tags=(BAD,), release=BAD, version=BAD
    ).attributes
    record = factories.observation(
        name=BAD,
        as_type="generation",
        model=BAD,
        version=BAD,
        status_message=BAD,
        level="ERROR",
        prompt_name=BAD,
        prompt_version=1,
        parent_id=None,
        trace=trace,
    )
    span = json.loads(_otlp.encode_span(record, ctx))
    assert span["name"] == "bad\ufffd"
    text = json.dumps(span)
    assert "\\ud800" not in text and text.count("bad\\ufffd") >= 10


async def test_a_client_release_with_a_lone_surrogate_loses_no_span_on_either_route() -> None:
    # LANGFUSE_RELEASE holding a byte the locale could not decode arrives as a lone surrogate:
    # the OTLP route failed every span as unserializable.
    errors: list[EventError] = []
    for transport in ("ingestion", "otlp"):
        async with FakeLangfuse() as server:
            p = make_pipeline(server.url, transport=transport, release=BAD, on_error=errors.append)
            root = factories.observation(parent_id=None)
            p.emit(root)
            assert (await p.flush(timeout=10)).completed
            if transport == "otlp":
                assert [s["spanId"] for s in server.spans()] == [root.id]
            else:
                assert len(server.events()) == 2  # the span and its trace
            await p.shutdown()
            assert balanced(p) and p.statistics().failed == 0
    assert errors == []


async def test_a_trace_level_surrogate_loses_no_span_on_either_route() -> None:
    errors: list[EventError] = []
    for transport in ("ingestion", "otlp"):
        async with FakeLangfuse() as server:
            p = make_pipeline(server.url, transport=transport, on_error=errors.append)
            update = factories.trace(name=BAD)  # made before the root ends: a span carries it
            snap = factories.trace(user_id=BAD, tags=("ok", BAD)).attributes
            root = factories.observation(
                trace_id=update.trace_id, parent_id=None, trace=snap, name=BAD
            )
            child = factories.observation(trace_id=root.trace_id, parent_id=root.id, trace=snap)
            p.emit(update)
            p.emit(child)
            p.emit(root)
            assert (await p.flush(timeout=10)).completed
            if transport == "otlp":
                assert sorted(s["spanId"] for s in server.spans()) == sorted([root.id, child.id])
            else:
                assert len(server.events()) == 4  # two spans, the root's trace, the update
            await p.shutdown()
            assert balanced(p) and p.statistics().failed == 0
    assert errors == []


# 4.8 -----------------------------------------------------------------------------------------


async def test_a_root_whose_pair_exceeds_a_request_is_sent_in_two() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        p = make_pipeline(
            server.url, on_error=errors.append, max_batch_bytes=10_000, max_event_bytes=8_000
        )
        root = factories.observation(parent_id=None, input="x" * 6_000)
        p.emit(root)
        assert (await p.flush(timeout=10)).completed
        assert errors == []
        assert [[e["type"] for e in b] for b in server.batches()] == [
            ["span-create"],
            ["trace-create"],
        ]
        await p.shutdown()
        assert p.statistics().delivered == 2 and balanced(p)


# 4.10 ----------------------------------------------------------------------------------------


async def test_otlp_gzip_does_not_wait_for_the_applications_thread_tokens() -> None:
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, transport="otlp")
        limiter = anyio.to_thread.current_default_thread_limiter()
        holders = [object() for _ in range(int(limiter.total_tokens))]
        for holder in holders:  # the application's sync endpoints hold every token
            await limiter.acquire_on_behalf_of(holder)
        try:
            p.emit(factories.observation(input="y" * 300_000))  # gzipped off the loop
            assert (await p.flush(timeout=10)).completed
        finally:
            for holder in holders:
                limiter.release_on_behalf_of(holder)
        assert len(server.spans()) == 1
        await p.shutdown()


# 4.11 ----------------------------------------------------------------------------------------


async def test_an_async_on_error_may_await_flush_without_waiting_for_itself() -> None:
    inner: list[FlushResult] = []
    async with FakeLangfuse() as server:
        p: Any = None

        async def on_error(error: EventError) -> None:
            inner.append(await p.flush())

        # A long HTTP timeout is also on_error's allowance: waiting for itself would last it.
        p = make_pipeline(server.url, on_error=on_error, timeout=120)
        # Two refused events: while the first report's callback waits, the second one's report
        # is queued behind it.
        for _ in range(2):
            record = factories.observation()
            server.fail_event(record.event_id, 400)
            p.emit(record)
        with anyio.fail_after(30):
            assert (await p.flush(timeout=60)).completed
        assert [r.completed for r in inner] == [True, True]
        await p.shutdown(timeout=10)


async def test_an_on_error_recording_events_the_server_refuses_does_not_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[EventError] = []
    async with FakeLangfuse() as server:

        def refuse_all(parsed: Any) -> web.StreamResponse:
            errors = [{"id": e["id"], "status": 400, "message": "no"} for e in parsed["batch"]]
            return web.json_response({"successes": [], "errors": errors}, status=207)

        server.reply_with(INGESTION, refuse_all, times=100)

        def on_error(error: EventError) -> None:
            calls.append(error)
            p.emit(factories.observation(name="traced-callback"))  # refused in turn

        p = make_pipeline(server.url, on_error=on_error)
        p.emit(factories.observation(name="original"))
        with caplog.at_level(logging.WARNING, logger="langfuse_async"):
            assert (await p.flush(timeout=10)).completed
            assert (await p.flush(timeout=10)).completed
        assert len(calls) == 1
        assert "recorded inside on_error was not delivered" in caplog.text
        await p.shutdown(timeout=10)
        s = p.statistics()
        assert s.failed == 2 and balanced(p)


async def test_shutdown_with_a_timeout_of_the_wrong_type_closes_nothing() -> None:
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url)
        with pytest.raises(TypeError, match="timeout"):
            await p.shutdown(timeout="3")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="timeout"):
            await p.flush(timeout=-1)
        # An integer beyond the float range raised OverflowError from the timer, after the
        # shutdown had begun.
        with pytest.raises(ValueError, match="timeout"):
            await p.shutdown(timeout=10**400)
        with pytest.raises(ValueError, match="timeout"):
            p.flush_sync(timeout=10**400)
        assert not p.closed
        p.emit(factories.observation())
        assert (await p.shutdown(timeout=10)).completed
        assert len(server.events()) == 1


# 4.5 -----------------------------------------------------------------------------------------


async def test_memory_with_the_server_down_stays_within_the_queue_and_as_much_again() -> None:
    import tracemalloc

    from langfuse_async import Langfuse

    def all_unavailable(parsed: Any) -> Any:
        errors = [{"id": e["id"], "status": 503, "message": "busy"} for e in parsed["batch"]]
        return web.json_response({"successes": [], "errors": errors}, status=207)

    bound = 2_000_000
    async with FakeLangfuse() as server:
        # Every event is answered "unavailable" and waits for a retry far away while new
        # events keep coming: the queue and what the worker holds stay within the bounds.
        server.reply_with(INGESTION, all_unavailable, times=1000)
        langfuse = Langfuse(
            public_key="pk-test",
            secret_key="sk-test",
            base_url=server.url,
            transport="ingestion",
            max_queue_bytes=bound,
            max_retries=50,
            backoff_base=30.0,
            backoff_max=30.0,
            flush_at=10,
        )
        pipeline = langfuse._pipeline
        assert pipeline is not None
        langfuse.start_observation(name="warm-up").end()  # imports and session: not measured
        await langfuse.flush(timeout=0.1)
        payload = "z" * 20_000
        tracemalloc.start()
        try:
            for _round in range(15):
                for _ in range(20):
                    langfuse.start_observation(name="work", input=payload).end()
                await server.wait_for(
                    lambda: not pipeline._worker.inflight.has_room() or not pipeline._queue
                )
                await anyio.wait_all_tasks_blocked()
            # What the client holds: the server in this process keeps every body it got.
            client_side = [
                tracemalloc.Filter(True, "*/langfuse_async/*"),
                tracemalloc.Filter(True, __file__),
            ]
            snapshot = tracemalloc.take_snapshot().filter_traces(client_side)
        finally:
            tracemalloc.stop()
        held = sum(stat.size for stat in snapshot.statistics("filename"))
        # The queue's bound, as much again for the worker, and room for the rest (a request
        # body in the making, the reports of the drops).
        assert held <= 2 * bound + 400_000
        assert langfuse.statistics().dropped_by_reason["queue_full"] > 0
        await langfuse.shutdown(timeout=0.5)


async def test_an_otlp_trace_update_whose_root_was_never_sent_is_not_counted_delivered() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        p = make_pipeline(
            server.url, transport="otlp", on_error=errors.append, max_event_bytes=5_000
        )
        update = factories.trace(user_id="u-1")  # made while the root was open
        # A root that no truncation can fit (its name alone is too large): never sent.
        root = factories.observation(trace_id=update.trace_id, parent_id=None, name="n" * 20_000)
        p.emit(update)
        p.emit(root)
        assert (await p.flush(timeout=10)).completed
        assert server.spans() == []
        assert sorted((e.event_type, e.reason) for e in errors) == [
            ("span-create", "oversize"),
            ("trace-create", "rejected"),
        ]
        await p.shutdown()
        s = p.statistics()
        assert s.delivered == 0 and balanced(p)


def test_an_event_recorded_by_a_finalizer_mid_put_neither_deadlocks_nor_reorders() -> None:
    import gc

    p = make_pipeline("http://127.0.0.1:9", flush_at=10_000, flush_interval=3600)
    records = [factories.observation(name="work") for _ in range(4_000)]
    from_finalizers = [factories.observation(name="finalized") for _ in range(4_000)]

    class Session:
        """Ends its span in ``__del__``; in a reference cycle, only the collector runs that."""

        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            p.emit(from_finalizers.pop())

    def produce() -> None:
        # The collector runs on whatever thread allocates when a generation fills up, and
        # runs finalizers there: thresholds this low make that the queue's own allocation,
        # with its lock held, often.
        work = iter(records)
        for threshold in range(1, 11):
            gc.collect()
            gc.set_threshold(threshold)
            for record in itertools.islice(work, 400):
                Session()
                p.emit(record)

    old = gc.get_threshold()
    producer = threading.Thread(target=produce, daemon=True)
    try:
        producer.start()
        producer.join(30)  # a hang guard: it takes a fraction of a second
    finally:
        gc.set_threshold(*old)
    gc.collect()
    assert not producer.is_alive(), "the producer deadlocked on the queue's lock"
    finalized = 4_000 - len(from_finalizers)
    assert finalized > 1_000
    queued = [seq for seq, _ in p._queue._entries]
    # Every event admitted once, in the order of its sequence number.
    assert queued == list(range(1, 4_001 + finalized))[: len(queued)]
    assert len(queued) == 4_000 + finalized == p.statistics().enqueued
    result = asyncio.run(p.shutdown(timeout=1))
    assert result.pending == 0 and balanced(p)


def test_the_queue_admits_a_record_put_by_a_finalizer_the_collector_runs_inside_an_operation() -> (
    None
):
    import gc
    import sys

    from langfuse_async._delivery.queue import EventQueue

    queue = EventQueue(max_size=100_000, max_bytes=10**12, policy="drop_new")
    records = [factories.observation() for _ in range(4_000)]
    from_finalizers = [factories.observation(name="finalized") for _ in range(4_000)]
    inside: list[bool] = []

    class Finalized:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the collector frees it

        def __del__(self) -> None:
            # The frame the collector interrupted: put() itself, with the lock held?
            inside.append(sys._getframe(1).f_code.co_name == "put")
            queue.put(from_finalizers.pop())

    def produce() -> None:
        work = iter(records)
        for threshold in range(1, 11):
            gc.collect()
            gc.set_threshold(threshold)
            for record in itertools.islice(work, 400):
                Finalized()
                queue.put(record)
        gc.collect()
        queue.take(1)  # drains nothing new, but an operation must admit what waits

    old = gc.get_threshold()
    producer = threading.Thread(target=produce, daemon=True)
    try:
        producer.start()
        producer.join(30)  # a hang guard
    finally:
        gc.set_threshold(*old)
    assert not producer.is_alive(), "put deadlocked on its own lock"
    assert any(inside)  # the collector did run a finalizer in the middle of a put
    seqs = [seq for seq, _ in queue._entries]
    assert seqs == list(range(2, 2 + len(seqs)))  # in order, none twice (seq 1 was taken)
    assert len(seqs) + 1 == 8_000 - len(from_finalizers) == queue.last_seq


def test_the_queue_admits_a_record_put_by_a_finalizer_the_collector_runs_inside_a_take() -> None:
    import gc
    import sys

    from langfuse_async._delivery.queue import EventQueue

    queue = EventQueue(max_size=100_000, max_bytes=10**12, policy="drop_new")
    for _ in range(8_000):
        queue.put(factories.observation())
    from_finalizers = [factories.observation(name="finalized") for _ in range(4_000)]
    inside: list[str] = []

    class Finalized:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the collector frees it

        def __del__(self) -> None:
            inside.append(sys._getframe(1).f_code.co_name)
            queue.put(from_finalizers.pop())

    taken: list[int] = []

    def drain() -> None:
        # The worker's side: takes allocate (the list they return) with the lock held.
        for threshold in range(1, 11):
            gc.collect()
            gc.set_threshold(threshold)
            for _ in range(40):
                Finalized()
                taken.extend(seq for seq, _ in queue.take(20))

    old = gc.get_threshold()
    worker = threading.Thread(target=drain, daemon=True)
    try:
        worker.start()
        worker.join(30)  # a hang guard
    finally:
        gc.set_threshold(*old)
    gc.collect()
    assert not worker.is_alive(), "take deadlocked on the queue's lock"
    assert "take" in inside  # the collector did run a finalizer in the middle of a take
    left = [seq for seq, _ in queue._entries]
    everything = taken + left
    assert everything == list(range(1, len(everything) + 1))  # in order, none lost or twice
    assert len(everything) == 8_000 + 4_000 - len(from_finalizers) == queue.last_seq
