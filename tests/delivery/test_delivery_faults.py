"""Adversarial delivery: odd servers, odd callbacks, odd clocks, and a worker that must not die.

Each test here pins one promise of the delivery side: tracing never raises or blocks, every event
ends delivered or reported once, memory stays bounded, ``flush()``/``shutdown()`` tell the truth.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import random
import threading
from collections.abc import Sequence
from typing import Any

import anyio
import pytest
from aiohttp import web

from langfuse_async._delivery import worker as _worker
from langfuse_async._delivery.inflight import Item
from langfuse_async._delivery.queue import EventQueue
from langfuse_async._delivery.routing import Route
from langfuse_async._outcomes import EventError
from langfuse_async._records import Record
from tests.support import factories
from tests.support.fake_langfuse import INGESTION, OTLP, FakeLangfuse
from tests.support.pipelines import ScriptedSender, balanced, make_pipeline

pytestmark = pytest.mark.anyio


async def test_a_redirect_is_not_followed_and_its_events_are_not_counted_delivered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Following a 302 turns the POST into a GET without the batch; the GET's 200 would then
    # count every event as delivered although none reached the server.
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, on_error=errors.append)
        server.reply(INGESTION, 302, "", text=True, headers={"Location": "/api/public/health"})
        record = factories.observation()
        with caplog.at_level(logging.WARNING, logger="langfuse_async"):
            p.emit(record)
            assert (await p.flush(timeout=10)).completed
        assert [r.method for r in server.received] == ["POST"]
        assert [(e.event_id, e.reason, e.status) for e in errors] == [
            (record.event_id, "rejected", 302)
        ]
        assert "/api/public/health" in errors[0].message
        assert "redirect" in caplog.text
        await p.shutdown()
        s = p.statistics()
        assert (s.delivered, s.failed) == (0, 1) and balanced(p)


_FRONTEND_PAGE = "<!DOCTYPE html><html><head><title>My App</title></head><body></body></html>"


@pytest.mark.parametrize(
    ("transport", "path", "content_type"),
    [
        ("ingestion", INGESTION, "text/html"),
        ("otlp", OTLP, "text/html; charset=utf-8"),
        ("otlp", OTLP, "text/plain"),  # told by the page itself
    ],
)
async def test_a_2xx_html_page_is_not_taken_for_langfuses_answer(
    transport: str, path: str, content_type: str
) -> None:
    # Both routes answer JSON (a 207 list, or the OTLP route's 200 job). A base URL that
    # reaches a web front end instead (a single-page app, a CDN mapping errors to its index
    # page) answers 200 with a page: every event counted delivered and none stored, silently.
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, on_error=errors.append, max_retries=1, transport=transport)

        def page(_: Any) -> web.StreamResponse:
            return web.Response(
                status=200, body=_FRONTEND_PAGE, content_type=content_type.split(";")[0]
            )

        server.reply_with(path, page, times=2)
        record = factories.observation()
        p.emit(record)
        assert (await p.flush(timeout=10)).completed
        assert len(server.posts()) == 2
        assert [(e.event_id, e.reason, e.status) for e in errors] == [
            (record.event_id, "retries_exhausted", 200)
        ]
        assert "HTML page" in errors[0].message and "My App" in errors[0].message
        await p.shutdown()
        s = p.statistics()
        assert (s.delivered, s.failed) == (0, 1) and balanced(p)


async def test_a_207_reply_that_arrives_in_pieces_is_read_whole() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, on_error=errors.append)
        good, bad = factories.observation(), factories.observation()
        body = json.dumps(
            {
                "successes": [{"id": good.event_id, "status": 201}],
                "errors": [{"id": bad.event_id, "status": 400, "message": "Invalid request"}],
            }
        ).encode()
        cut = body.index(b'"errors"')
        server.reply_in_pieces(INGESTION, 207, [body[:cut], body[cut:]])
        p.emit(good)
        p.emit(bad)
        assert (await p.flush(timeout=10)).completed
        # A truncated reply would not parse and would count both as delivered.
        assert [(e.event_id, e.reason) for e in errors] == [(bad.event_id, "rejected")]
        await p.shutdown()
        s = p.statistics()
        assert (s.delivered, s.failed) == (1, 1) and balanced(p)


async def test_an_unexpected_exception_while_sending_does_not_stop_delivery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors: list[EventError] = []
    poison = factories.observation(name="poison")

    async def flaky(batch: Sequence[Item], route: Route) -> None:
        if any(item.record.event_id == poison.event_id for item in batch):
            raise RuntimeError("a bug in the sender")
        return None  # sent for real

    async with FakeLangfuse() as server, ScriptedSender(flaky, url=server.url) as sender:
        p = make_pipeline(
            server.url, on_error=errors.append, sender=sender, max_retries=1, flush_at=1
        )
        with caplog.at_level(logging.ERROR, logger="langfuse_async"):
            p.emit(poison)
            # A backlog is cut by bytes: sent apart, the two events go in separate requests.
            result = await p.flush(timeout=10)
            p.emit(factories.observation(name="after"))
            assert (await p.flush(timeout=10)).completed
        assert result.completed and result.pending == 0
        assert [e["body"]["name"] for e in server.events()] == ["after"]
        assert [(e.event_id, e.reason) for e in errors] == [(poison.event_id, "retries_exhausted")]
        assert "a bug in the sender" in errors[0].message
        assert "a bug in the sender" in caplog.text  # logged, with its traceback
        p.emit(factories.observation(name="later"))
        assert (await p.flush(timeout=10)).completed
        assert [e["body"]["name"] for e in server.events()] == ["after", "later"]
        await p.shutdown()
        assert balanced(p)


async def test_an_exception_once_is_retried_with_the_same_envelope_ids() -> None:
    calls = 0

    async def once_broken(batch: Sequence[Item], route: Route) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("transient bug")
        return None

    async with FakeLangfuse() as server, ScriptedSender(once_broken, url=server.url) as sender:
        p = make_pipeline(server.url, sender=sender)
        records = [factories.observation() for _ in range(3)]
        for r in records:
            p.emit(r)
        assert (await p.flush(timeout=10)).completed
        assert [e["id"] for e in server.events()] == [r.event_id for r in records]
        await p.shutdown()
        s = p.statistics()
        assert (s.delivered, s.retries) == (3, 3) and balanced(p)


async def test_a_hanging_async_on_error_does_not_hold_up_delivery() -> None:
    never = asyncio.Event()
    called: list[str] = []

    async def on_error(err: EventError) -> None:
        called.append(err.event_id)
        await never.wait()  # a callback stuck on its own I/O

    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, on_error=on_error, flush_at=1)
        bad = [factories.observation() for _ in range(3)]
        for r in bad:
            server.fail_event(r.event_id, 400, "Invalid request data")
            p.emit(r)
        await server.wait_for(lambda: len(server.events()) == 3)
        await anyio.wait_all_tasks_blocked()
        good = factories.observation(name="good")
        p.emit(good)
        # The callbacks hang (each up to `timeout`, 5 s); sending goes on regardless.
        await server.wait_for(lambda: len(server.events()) == 4, timeout=3)
        assert called[:1] == [bad[0].event_id]
        with anyio.fail_after(5):  # bounded, though every callback hangs
            result = await p.shutdown(timeout=0.5)
        assert not result.completed  # the reports had not all been handed over in time
        s = p.statistics()
        assert (s.delivered, s.failed) == (1, 3) and balanced(p)


async def test_a_backward_clock_jump_does_not_delay_sending(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_now_ns = _worker.now_ns
    monkeypatch.setattr(_worker, "now_ns", lambda: real_now_ns() - 3600 * 10**9)
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, flush_interval=0.05, flush_at=1000)
        p.emit(factories.observation())  # stamped an hour "after" the worker's clock
        await server.wait_for(lambda: len(server.events()) == 1, timeout=5)
        await p.shutdown()
        assert balanced(p)


@pytest.mark.parametrize(
    "bound",
    [
        {"max_queue_size": 10},
        # Ten records of the factories' 400 estimated bytes each.
        {"max_queue_bytes": 4_000, "max_event_bytes": 4_000},
    ],
)
async def test_events_awaiting_a_retry_count_against_the_memory_bound(
    bound: dict[str, int],
) -> None:
    # A server that answers every event with a per-event 503 keeps each one waiting for its
    # retry; the worker must not keep taking events off the queue without bound meanwhile.
    def all_unavailable(parsed: Any) -> Any:
        from aiohttp import web

        errors = [{"id": e["id"], "status": 503, "message": "busy"} for e in parsed["batch"]]
        return web.json_response({"successes": [], "errors": errors}, status=207)

    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        server.reply_with(INGESTION, all_unavailable, times=1000)
        p = make_pipeline(
            server.url,
            on_error=errors.append,
            flush_at=5,
            max_retries=50,
            backoff_base=30.0,
            backoff_max=30.0,
            **bound,
        )
        p._worker.inflight.rng = random.Random(0)
        p._worker.inflight.rng.random = lambda: 0.99  # type: ignore[method-assign]
        for _round in range(6):
            for _ in range(5):
                p.emit(factories.observation())
            await anyio.wait_all_tasks_blocked()
            held = p._worker.inflight.items()
            assert len(held) <= 10 and len(held) + len(p._queue) <= 20
            if held and "max_queue_bytes" in bound:
                # Each held event counts its record and its wire bytes; the first event of a
                # cycle is taken whatever its size, so sending always makes progress.
                assert all(item.size > item.taken_size for item in held)
                largest = max(item.size for item in held)
                assert sum(item.size for item in held) <= bound["max_queue_bytes"] + largest
        s = p.statistics()
        assert s.dropped_by_reason.get("queue_full", 0) >= 10
        result = await p.shutdown(timeout=0.5)
        assert not result.completed
        assert balanced(p)
        assert {e.reason for e in errors} == {"queue_full", "shutdown"}


async def test_shutdown_is_bounded_by_its_timeout() -> None:
    async with FakeLangfuse() as server:
        release = server.hold(INGESTION)
        p = make_pipeline(server.url)
        p.emit(factories.observation())
        await server.wait_for(lambda: len(server.received) == 1)
        loop = asyncio.get_running_loop()
        start = loop.time()
        result = await p.shutdown(timeout=0.2)
        # A bound to catch a shutdown that overstays its timeout by a second or more.
        assert loop.time() - start < 0.2 + 0.5
        assert not result.completed and result.pending == 1
        assert balanced(p)
        release.set()


async def test_a_cancelled_shutdown_caller_does_not_cancel_the_others() -> None:
    async with FakeLangfuse() as server:
        release = server.hold(INGESTION)
        p = make_pipeline(server.url)
        p.emit(factories.observation())
        first = asyncio.create_task(p.shutdown(timeout=10))
        second = asyncio.create_task(p.shutdown(timeout=10))
        await server.wait_for(lambda: len(server.received) == 1)
        await anyio.wait_all_tasks_blocked()
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        release.set()
        result = await second
        assert result.completed and result.delivered == 1
        assert balanced(p) and p.statistics().delivered == 1


async def test_a_cancelled_shutdown_still_finishes() -> None:
    async with FakeLangfuse() as server:
        release = server.hold(INGESTION)
        p = make_pipeline(server.url)
        p.emit(factories.observation())
        caller = asyncio.create_task(p.shutdown(timeout=10))
        await server.wait_for(lambda: len(server.received) == 1)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        release.set()
        result = await p.shutdown(timeout=10)
        assert result.completed
        assert p.statistics().delivered == 1 and balanced(p)
        assert not p._worker.running


async def test_concurrent_flushes_all_complete() -> None:
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, flush_interval=3600)
        for _ in range(5):
            p.emit(factories.observation())
        results = await asyncio.gather(*(p.flush(timeout=10) for _ in range(4)))
        assert all(r.completed and r.pending == 0 for r in results)
        assert sum(r.delivered for r in results) >= 5
        assert len(server.events()) == 5
        await p.shutdown()


async def test_emit_racing_shutdown_from_another_thread_is_reported_not_lost() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, on_error=errors.append)
        p.emit(factories.observation())
        assert (await p.flush(timeout=10)).completed
        inside_put = threading.Event()
        proceed = threading.Event()

        class SlowQueue(EventQueue):
            __slots__ = ()

            def put(self, record: Record) -> int:
                # The producer has passed the "closed?" check; shutdown completes right here.
                inside_put.set()
                proceed.wait(10)
                return super().put(record)

        p._queue.__class__ = SlowQueue
        late = factories.observation(name="late")
        producer = threading.Thread(target=p.emit, args=(late,))
        producer.start()
        await anyio.to_thread.run_sync(inside_put.wait, 10)
        assert (await p.shutdown(timeout=10)).completed
        proceed.set()
        await anyio.to_thread.run_sync(producer.join, 10)
        await anyio.wait_all_tasks_blocked()
        assert balanced(p)
        assert [(e.event_id, e.reason) for e in errors] == [(late.event_id, "shutdown")]
        assert [e["body"]["name"] for e in server.events()] == ["work"]


async def test_flush_after_shutdown_starts_nothing() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, on_error=errors.append)
        p.emit(factories.observation())
        assert (await p.shutdown(timeout=10)).completed
        late = factories.observation()
        await anyio.to_thread.run_sync(p.emit, late)  # from a thread without a loop
        result = await p.flush(timeout=10)
        assert result.completed
        assert [(e.event_id, e.reason) for e in errors] == [(late.event_id, "shutdown")]
        assert not p._worker.running
        assert len(server.posts()) == 1
        assert balanced(p)


async def test_statistics_from_another_thread_never_show_negative_pending() -> None:
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, flush_interval=3600)
        counted = threading.Event()
        settled = threading.Event()

        class PausingQueue(EventQueue):
            __slots__ = ()

            @property
            def last_seq(self) -> int:
                seq = EventQueue.last_seq.fget(self)  # type: ignore[attr-defined]
                if threading.current_thread() is not threading.main_thread():
                    # The reader is preempted here while the worker accepts and delivers more.
                    counted.set()
                    settled.wait(10)
                return seq  # type: ignore[no-any-return]

        p._queue.__class__ = PausingQueue
        reader = asyncio.ensure_future(anyio.to_thread.run_sync(p.statistics))
        await anyio.to_thread.run_sync(counted.wait, 10)
        p.emit(factories.observation())
        assert (await p.flush(timeout=10)).completed
        settled.set()
        s = await reader
        assert s.pending >= 0 and s.enqueued >= s.delivered
        await p.shutdown()


async def test_a_reply_nested_too_deep_to_parse_is_still_understood() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, on_error=errors.append)
        deep = "[" * 100_000
        json_type = {"Content-Type": "application/json"}
        server.reply(INGESTION, 400, deep, text=True, headers=json_type)
        p.emit(factories.observation())
        assert (await p.flush(timeout=10)).completed
        assert [(e.reason, e.status) for e in errors] == [("rejected", 400)]
        assert len(server.posts()) == 1
        # The same garbage in a 207 says nothing of the events: not a success, sent again.
        server.reply(INGESTION, 207, deep, text=True, headers=json_type)
        p.emit(factories.observation())
        assert (await p.flush(timeout=10)).completed
        assert len(server.posts()) == 3 and len(errors) == 1
        await p.shutdown()
        s = p.statistics()
        assert (s.delivered, s.failed) == (1, 1) and balanced(p)


async def test_an_on_error_that_produces_events_cannot_feed_itself() -> None:
    # A callback that traces its own work produces events; after shutdown each is refused and
    # reported, which would call the callback again, forever, without yielding the loop.
    calls: list[EventError] = []

    def on_error(err: EventError) -> None:
        calls.append(err)
        if len(calls) < 50:  # the test's own guard against the endless chain
            p.emit(factories.observation(name="from-on-error"))

    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, on_error=on_error)
        assert (await p.shutdown(timeout=10)).completed
        late = factories.observation(name="late")
        p.emit(late)
        assert (await p.flush(timeout=10)).completed
        assert [(e.event_id, e.reason) for e in calls] == [(late.event_id, "shutdown")]
        s = p.statistics()
        assert s.dropped_by_reason["shutdown"] == 2 and balanced(p)


async def test_flush_does_not_wait_for_reports_of_later_events() -> None:
    # Under overload new reports keep coming; flush() waits for its own events and the
    # reports made until they settled, not for the stream to run dry.
    stop = False
    seen: list[str] = []

    async def on_error(err: EventError) -> None:
        seen.append(err.event_id)
        await asyncio.sleep(0)
        if not stop:  # another producer fills the queue and drops one more meanwhile
            for _ in range(2):
                contextvars.Context().run(p.emit, factories.observation())

    async with FakeLangfuse() as server:
        p = make_pipeline(
            server.url, on_error=on_error, max_queue_size=1, flush_at=1, flush_interval=3600
        )
        release = server.hold(INGESTION)
        first = factories.observation(name="first")
        p.emit(first)
        await server.wait_for(lambda: len(server.posts()) == 1)  # in flight; the queue is empty
        p.emit(factories.observation())  # fills the queue
        p.emit(factories.observation())  # dropped: the first report, and the stream begins
        flushing = asyncio.ensure_future(p.flush(timeout=5))
        await anyio.wait_all_tasks_blocked()
        release.set()
        result = await flushing
        stop = True
        assert result.completed
        assert len(seen) >= 1
        await p.shutdown(timeout=10)
        assert balanced(p)


async def test_shutdown_during_a_retry_after_pause_is_bounded_and_reports() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, on_error=errors.append)
        server.reply(INGESTION, 429, {"message": "slow down"}, headers={"Retry-After": "120"})
        record = factories.observation()
        p.emit(record)
        await server.wait_for(lambda: len(server.posts()) == 1)
        await anyio.wait_all_tasks_blocked()  # the worker now pauses for two minutes
        with anyio.fail_after(5):
            result = await p.shutdown(timeout=0.3)
        assert not result.completed and result.pending == 1
        assert [(e.event_id, e.reason) for e in errors] == [(record.event_id, "shutdown")]
        assert len(server.posts()) == 1 and balanced(p)


async def test_a_cancelled_flush_leaves_the_worker_working() -> None:
    async with FakeLangfuse() as server:
        release = server.hold(INGESTION)
        p = make_pipeline(server.url)
        p.emit(factories.observation())
        waiting = asyncio.ensure_future(p.flush(timeout=10))
        await server.wait_for(lambda: len(server.posts()) == 1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        release.set()
        p.emit(factories.observation())
        result = await p.flush(timeout=10)
        assert result.completed and p.statistics().delivered == 2
        assert p._worker.flush_waiters == 0
        await p.shutdown()
        assert balanced(p)


async def test_a_server_that_never_answers_costs_timeouts_not_the_worker() -> None:
    """Accepts connections, never replies: probes and sends time out; nothing hangs."""
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # keep the connection open, say nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    errors: list[EventError] = []
    try:
        p = make_pipeline(
            f"http://127.0.0.1:{port}",
            transport="auto",
            timeout=0.3,
            max_retries=1,
            on_error=errors.append,
        )
        p.emit(factories.observation())
        result = await p.flush(timeout=30)
        assert result.completed
        assert [e.reason for e in errors] == ["retries_exhausted"]
        assert p.statistics().transport == "ingestion"  # the probes said nothing
        assert (await p.shutdown(timeout=30)).completed
        assert balanced(p)
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
