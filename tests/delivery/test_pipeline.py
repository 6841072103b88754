"""The delivery pipeline end to end against a scripted in-process server (ingestion route)."""

from __future__ import annotations

import base64
import logging
import re

import anyio
import pytest

from langfuse_async._outcomes import EventError, Reason
from langfuse_async._records import TRUNCATED_MARKER
from tests.support import factories
from tests.support.fake_langfuse import INGESTION, OTLP, FakeLangfuse
from tests.support.pipelines import balanced, make_pipeline

pytestmark = pytest.mark.anyio

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


async def test_envelopes_headers_and_metadata() -> None:
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url)
        records = [factories.observation(name=f"op{i}", input={"i": i}) for i in range(3)]
        for r in records:
            p.emit(r)
        result = await p.flush(timeout=10)
        assert result.completed and result.pending == 0 and result.delivered == 3
        (req,) = server.received
        assert req.path == INGESTION
        expected = "Basic " + base64.b64encode(b"pk-test:sk-test").decode()
        assert req.headers["Authorization"] == expected
        assert req.headers["Content-Type"] == "application/json"
        assert req.headers["x-langfuse-sdk-name"] == "langfuse-async"
        assert req.headers["x-langfuse-public-key"] == "pk-test"
        assert "x-langfuse-sdk-version" in req.headers
        assert "Content-Encoding" not in req.headers
        assert req.json["metadata"]["batch_size"] == 3
        assert req.json["metadata"]["public_key"] == "pk-test"
        events = req.json["batch"]
        assert [e["id"] for e in events] == [r.event_id for r in records]
        assert len({e["id"] for e in events}) == 3
        for event, record in zip(events, records, strict=True):
            assert TIMESTAMP.match(event["timestamp"])
            assert event["type"] == "span-create"
            assert event["body"]["id"] == record.id
            assert event["body"]["traceId"] == record.trace_id
        assert events[1]["body"]["input"] == {"i": 1}
        await p.shutdown()
        assert balanced(p)


async def test_flush_at_sends_without_waiting_for_the_interval() -> None:
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, flush_at=5, flush_interval=3600)
        for _ in range(5):
            p.emit(factories.observation())
        await server.wait_for(lambda: len(server.events()) == 5)
        assert len(server.received) == 1
        await p.shutdown()


async def test_flush_interval_sends_a_partial_batch() -> None:
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, flush_at=1000, flush_interval=0.05)
        p.emit(factories.observation())
        await server.wait_for(lambda: len(server.events()) == 1)
        await p.shutdown()
        assert p.statistics().delivered == 1


async def test_per_event_4xx_is_reported_once_and_never_resent() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, on_error=errors.append)
        good, bad = factories.observation(), factories.observation()
        server.fail_event(bad.event_id, 400, "Invalid request data")
        p.emit(good)
        p.emit(bad)
        result = await p.flush(timeout=10)
        assert result.completed
        assert len(errors) == 1
        err = errors[0]
        assert (err.event_id, err.reason, err.status) == (bad.event_id, "rejected", 400)
        assert (
            err.event_type == "span-create"
            and err.body_id == bad.id
            and err.trace_id == bad.trace_id
        )
        assert err.message == "Invalid request data" and err.error == {
            "detail": "Invalid request data"
        }
        await p.shutdown()
        assert len(server.received) == 1
        s = p.statistics()
        assert (s.delivered, s.failed, s.dropped) == (1, 1, 0)
        assert s.dropped_by_reason["rejected"] == 1
        assert balanced(p)


async def test_per_event_5xx_resends_only_that_event_with_the_same_envelope_id() -> None:
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url)
        good, flaky = factories.observation(), factories.observation()
        server.fail_event(flaky.event_id, 500, "Internal Server Error", once=True)
        p.emit(good)
        p.emit(flaky)
        assert (await p.flush(timeout=10)).completed
        batches = server.batches()
        assert [[e["id"] for e in b] for b in batches] == [
            [good.event_id, flaky.event_id],
            [flaky.event_id],
        ]
        s = p.statistics()
        assert (s.delivered, s.failed, s.retries, s.requests) == (2, 0, 1, 2)
        await p.shutdown()


async def test_per_event_retries_exhausted() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, on_error=errors.append, max_retries=2)
        rec = factories.observation()
        server.fail_event(rec.event_id, 429, "slow down")
        p.emit(rec)
        assert (await p.flush(timeout=10)).completed
        assert len(server.batches()) == 3  # first attempt + 2 retries
        assert [e.reason for e in errors] == ["retries_exhausted"]
        assert errors[0].status == 429
        await p.shutdown()
        assert balanced(p)


@pytest.mark.parametrize(
    ("status", "headers"),
    [(500, None), (502, None), (503, None), (408, None), (429, {"Retry-After": "0"})],
)
async def test_whole_batch_retryable_statuses(status: int, headers: dict[str, str] | None) -> None:
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url)
        server.reply(INGESTION, status, {"message": "try later"}, headers=headers, times=2)
        rec = factories.observation()
        p.emit(rec)
        assert (await p.flush(timeout=10)).completed
        assert [[e["id"] for e in b] for b in server.batches()] == [[rec.event_id]] * 3
        s = p.statistics()
        assert (s.delivered, s.retries, s.requests) == (1, 2, 3)
        await p.shutdown()


async def test_text_429_and_dropped_connections_are_retried() -> None:
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url)
        server.reply(INGESTION, 429, "429 - rate limit exceeded", text=True)
        server.drop_connection(INGESTION)
        p.emit(factories.observation())
        assert (await p.flush(timeout=10)).completed
        assert p.statistics().delivered == 1
        assert len(server.received) == 3
        await p.shutdown()


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_failures_are_final_and_warn_once(
    status: int, caplog: pytest.LogCaptureFixture
) -> None:
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, on_error=errors.append, flush_at=2)
        server.reply(INGESTION, status, {"message": "Invalid credentials."}, times=2)
        with caplog.at_level(logging.WARNING, logger="langfuse_async"):
            for _ in range(2):  # two requests: a backlog would be sent in one
                for _ in range(2):
                    p.emit(factories.observation())
                assert (await p.flush(timeout=10)).completed
        assert len(server.received) == 2
        assert [e.reason for e in errors] == ["unauthorized"] * 4
        assert all(e.status == status for e in errors)
        warnings = [r for r in caplog.records if "credentials" in r.getMessage()]
        assert len(warnings) == 1
        assert "sk-test" not in caplog.text
        await p.shutdown()
        assert balanced(p)


@pytest.mark.parametrize("path", [INGESTION, OTLP])
async def test_a_suspended_project_is_not_taken_for_wrong_keys(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Langfuse Cloud answers 403 on both routes when a project's ingestion is suspended (its
    # usage threshold): the keys are right, and a warning to check them sends users astray.
    errors: list[EventError] = []
    suspended = "Ingestion suspended: Usage threshold exceeded. Please upgrade your plan."
    async with FakeLangfuse() as server:
        transport = "ingestion" if path == INGESTION else "otlp"
        p = make_pipeline(server.url, on_error=errors.append, transport=transport)
        server.reply(path, 403, {"message": suspended, "error": "ForbiddenError"})
        with caplog.at_level(logging.WARNING, logger="langfuse_async"):
            p.emit(factories.observation())
            assert (await p.flush(timeout=10)).completed
        assert [(e.reason, e.status, e.message) for e in errors] == [("rejected", 403, suspended)]
        assert "credentials" not in caplog.text
        assert "Ingestion suspended" in caplog.text
        await p.shutdown()
        assert balanced(p)


@pytest.mark.parametrize("status", [400, 404, 405])
async def test_other_whole_batch_4xx_are_final(status: int) -> None:
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, on_error=errors.append)
        server.reply(INGESTION, status, "Invalid JSON", text=True)
        p.emit(factories.observation())
        p.emit(factories.score())
        assert (await p.flush(timeout=10)).completed
        assert len(server.received) == 1
        assert sorted(e.event_type for e in errors) == ["score-create", "span-create"]
        assert {(e.reason, e.status, e.message) for e in errors} == {
            ("rejected", status, "Invalid JSON")
        }
        await p.shutdown()


async def test_413_splits_the_batch() -> None:
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url)
        server.reply(INGESTION, 413, "Body exceeded 4.5mb limit", text=True)
        records = [factories.observation() for _ in range(4)]
        for r in records:
            p.emit(r)
        assert (await p.flush(timeout=10)).completed
        sizes = [len(b) for b in server.batches()]
        assert sizes == [4, 2, 2]
        assert p.statistics().delivered == 4
        await p.shutdown()


async def test_batches_stay_under_max_batch_bytes() -> None:
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, max_batch_bytes=60_000, max_event_bytes=20_000)
        for _ in range(20):
            p.emit(factories.observation(input="x" * 9_000))
        assert (await p.flush(timeout=10)).completed
        assert len(server.received) > 1
        assert all(len(r.body) <= 60_000 for r in server.received)
        assert len(server.events()) == 20
        await p.shutdown()


async def test_oversize_event_is_truncated_or_reported() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, on_error=errors.append, max_event_bytes=5_000)
        p.emit(factories.observation(input="x" * 20_000, output="small"))
        p.emit(factories.observation(name="n" * 20_000))
        assert (await p.flush(timeout=10)).completed
        (event,) = server.events()
        assert event["body"]["input"] == "<truncated due to size exceeding limit>"
        assert event["body"]["output"] == "small"
        assert [e.reason for e in errors] == ["oversize"]
        assert p.statistics().truncated == 1
        await p.shutdown()
        assert balanced(p)


@pytest.mark.parametrize("policy", ["drop_new", "drop_oldest"])
async def test_full_queue_drops_and_reports(policy: str) -> None:
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        release = server.hold(INGESTION)
        p = make_pipeline(
            server.url, on_error=errors.append, max_queue_size=3, queue_full=policy, flush_at=1
        )
        first = factories.observation()
        p.emit(first)
        await server.wait_for(lambda: len(server.received) == 1)  # in flight, queue empty
        records = [factories.observation() for _ in range(5)]
        for r in records:
            p.emit(r)  # never blocks, never raises
        release.set()
        assert (await p.flush(timeout=10)).completed
        dropped = {e.event_id for e in errors}
        if policy == "drop_new":
            assert dropped == {r.event_id for r in records[3:]}
        else:
            assert dropped == {r.event_id for r in records[:2]}
        assert {e.reason for e in errors} == {"queue_full"}
        await p.shutdown()
        s = p.statistics()
        assert (s.delivered, s.dropped, s.dropped_by_reason["queue_full"]) == (4, 2, 2)
        assert balanced(p)


async def test_shutdown_is_bounded_and_reports_what_it_abandoned() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        release = server.hold(INGESTION)
        p = make_pipeline(server.url, on_error=errors.append)
        p.emit(factories.observation())
        p.emit(factories.observation())
        result = await p.shutdown(timeout=0.3)
        assert not result.completed and result.pending == 2
        assert [e.reason for e in errors] == ["shutdown", "shutdown"]
        assert balanced(p)
        again = await p.shutdown()
        assert again == result  # idempotent
        late = factories.observation()
        p.emit(late)  # after shutdown: reported, never sent
        await anyio.wait_all_tasks_blocked()
        assert errors[-1].event_id == late.event_id and errors[-1].reason == "shutdown"
        assert balanced(p)
        release.set()


@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_async_and_raising_callbacks_never_stop_the_worker(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    async def async_on_error(err: EventError) -> None:
        seen.append(err.event_id)
        raise RuntimeError("callback bug")

    def sync_on_error(err: EventError) -> None:
        seen.append(err.event_id)
        raise RuntimeError("callback bug")

    on_error = async_on_error if kind == "async" else sync_on_error
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, on_error=on_error)
        a, b = factories.observation(), factories.observation()
        server.fail_event(a.event_id, 400)
        server.fail_event(b.event_id, 400)
        with caplog.at_level(logging.WARNING, logger="langfuse_async"):
            p.emit(a)
            p.emit(b)
            assert (await p.flush(timeout=10)).completed
        assert seen == [a.event_id, b.event_id]
        # Logged (once, with the traceback), not raised.
        raised = [r for r in caplog.records if "on_error raised" in r.getMessage()]
        assert len(raised) == 1 and raised[0].exc_info is not None
        c = factories.observation()
        p.emit(c)
        assert (await p.flush(timeout=10)).completed
        assert p.statistics().delivered == 1
        await p.shutdown()


async def test_events_from_another_thread_are_sent() -> None:
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, flush_interval=0.01)
        p.emit(factories.observation())  # starts the worker on this loop

        def produce() -> None:
            for _ in range(10):
                p.emit(factories.observation())

        await anyio.to_thread.run_sync(produce)
        await server.wait_for(lambda: len(server.events()) == 11)
        await p.shutdown()
        assert p.statistics().delivered == 11


async def test_statistics_is_a_frozen_snapshot() -> None:
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url)
        before = p.statistics()
        p.emit(factories.observation())
        assert before.enqueued == 0 and p.statistics().enqueued == 1
        with pytest.raises(AttributeError):
            before.enqueued = 5  # type: ignore[misc]
        await p.shutdown()
        s = p.statistics()
        assert (s.enqueued, s.delivered, s.pending, s.requests) == (1, 1, 0, 1)
        assert s.bytes_sent == len(server.received[0].body)


async def test_an_event_whose_request_alone_exceeds_the_limit_is_reported_oversize() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        # A long public key inflates the batch metadata: event + envelope > max_batch_bytes.
        p = make_pipeline(
            server.url,
            on_error=errors.append,
            public_key="pk-" + "k" * 3_000,
            max_batch_bytes=10_000,
            max_event_bytes=9_000,
        )
        p.emit(factories.observation(metadata={"m": factories.raw("y" * 8_000)}))
        p.emit(factories.observation())
        assert (await p.flush(timeout=10)).completed
        assert [e.reason for e in errors] == ["oversize"]
        assert len(server.events()) == 1
        assert all(len(r.body) <= 10_000 for r in server.received)
        await p.shutdown()
        assert balanced(p)


async def test_drop_reports_are_bounded_but_every_drop_is_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        release = server.hold(INGESTION)
        p = make_pipeline(server.url, on_error=errors.append, max_queue_size=5, flush_at=1)
        p.emit(factories.observation())
        await server.wait_for(lambda: len(server.received) == 1)
        with caplog.at_level(logging.WARNING, logger="langfuse_async"):
            for _ in range(100):  # never yields: reports pile up behind the worker
                p.emit(factories.observation())
            assert len(p._reports) <= 5
            release.set()
            assert (await p.flush(timeout=10)).completed
        s = p.statistics()
        assert s.dropped_by_reason["queue_full"] == 95
        assert len(errors) == 5
        assert "piled up" in caplog.text
        await p.shutdown()
        assert balanced(p)


async def test_without_on_error_a_full_queue_only_counts_drops_and_wakes_nobody_per_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A server down for minutes fills the queue: each event after that is dropped on the
    # producer's path. Without on_error a report was still made for every one, and a thread
    # woke the loop for each (a write to its pipe), for reports that were only counted.
    async with FakeLangfuse() as server:
        release = server.hold(INGESTION)
        p = make_pipeline(server.url, max_queue_size=5, flush_at=1)
        p.emit(factories.observation())
        await server.wait_for(lambda: len(server.received) == 1)
        wakes = 0
        wake = p._worker.wake_threadsafe

        def counted() -> None:
            nonlocal wakes
            wakes += 1
            wake()

        p._worker.wake_threadsafe = counted  # type: ignore[method-assign]

        def produce() -> None:
            for _ in range(200):
                p.emit(factories.observation())

        with caplog.at_level(logging.WARNING, logger="langfuse_async"):
            await anyio.to_thread.run_sync(produce)
            release.set()
            assert (await p.flush(timeout=10)).completed
        dropped = p.statistics().dropped_by_reason["queue_full"]
        assert dropped >= 190  # the queue's 5 (and what the worker took meanwhile) got in
        assert wakes <= 200 - dropped + 1  # the events the queue took, and the first report
        assert caplog.text.count("not delivered (queue_full") == 1
        await p.shutdown()
        assert balanced(p)


def test_a_report_is_built_only_when_it_is_kept() -> None:
    from langfuse_async._delivery.ledger import event_error
    from langfuse_async._delivery.reports import Reports

    built: list[str] = []

    def offer(reports: Reports, reason: Reason) -> None:
        record = factories.observation()
        built_now = lambda: built.append(reason) or event_error(record, reason, "m")  # noqa: E731
        reports.offer(record.event_id, reason, built_now)

    quiet = Reports(None, timeout=1.0, max_reports=10)  # no on_error: the first of each reason
    for reason in ("queue_full", "queue_full", "oversize", "queue_full"):
        offer(quiet, reason)
    assert built == ["queue_full", "oversize"] and quiet.made == 2
    assert not quiet.may_keep("queue_full") and quiet.may_keep("rejected")
    built.clear()
    loud = Reports(lambda error: None, timeout=1.0, max_reports=2)  # each, while there is room
    for _ in range(5):
        offer(loud, "queue_full")
    assert built == ["queue_full"] * 2 and (loud.made, loud.lost) == (2, 3)
    assert loud.may_keep("queue_full")  # judged under the lock: the backlog may drain


async def test_a_root_observation_brings_its_trace_create_on_the_ingestion_route() -> None:
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url)
        root = factories.observation(parent_id=None, name="handle", input={"q": 1}, output="ok")
        child = factories.observation(trace_id=root.trace_id, parent_id=root.id)
        p.emit(child)
        p.emit(root)
        assert (await p.flush(timeout=10)).completed
        events = server.events()
        assert [e["type"] for e in events] == ["span-create", "span-create", "trace-create"]
        trace = events[2]
        assert trace["id"] == root.event_id + "-trace"
        assert trace["body"]["id"] == root.trace_id
        assert trace["body"]["name"] == "handle"
        assert trace["body"]["input"] == {"q": 1} and trace["body"]["output"] == "ok"
        assert TIMESTAMP.match(trace["body"]["timestamp"])
        s = p.statistics()
        # Events on the wire: two observations and the root's trace-create.
        assert (s.enqueued, s.delivered) == (3, 3) == (len(events), len(events))
        await p.shutdown()


async def test_explicit_trace_attributes_win_over_the_root_defaults() -> None:
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url)
        snap = factories.trace(name="chat-turn", user_id="u-1", input={"explicit": True}).attributes
        p.emit(factories.observation(parent_id=None, name="handle", input={"q": 1}, trace=snap))
        assert (await p.flush(timeout=10)).completed
        trace = next(e for e in server.events() if e["type"] == "trace-create")["body"]
        assert (trace["name"], trace["userId"], trace["input"]) == (
            "chat-turn",
            "u-1",
            {"explicit": True},
        )
        await p.shutdown()


async def test_a_failed_trace_create_is_reported_as_itself_and_its_root_delivered() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, on_error=errors.append)
        flaky = factories.observation(parent_id=None)
        refused = factories.observation(parent_id=None)
        server.fail_event(flaky.event_id + "-trace", 503, "busy", once=True)
        server.fail_event(refused.event_id + "-trace", 400, "Invalid request data")
        p.emit(flaky)
        p.emit(refused)
        assert (await p.flush(timeout=10)).completed
        ids = [[e["id"] for e in b] for b in server.batches()]
        # Only the flaky trace-create went again, with the same envelope id: its span was stored.
        assert ids[1] == [flaky.event_id + "-trace"]
        assert [
            (e.event_id, e.event_type, e.body_id, e.trace_id, e.reason, e.status) for e in errors
        ] == [
            (
                refused.event_id + "-trace",
                "trace-create",
                refused.trace_id,
                refused.trace_id,
                "rejected",
                400,
            )
        ]
        assert not errors[0].possibly_delivered
        await p.shutdown()
        s = p.statistics()
        # Wire events: two spans and two trace-creates; three stored, one refused.
        assert (s.enqueued, s.delivered, s.failed) == (4, 3, 1) and balanced(p)


async def test_debug_logging_tells_each_request_and_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url)
        server.reply(INGESTION, 503, {"message": "busy"})
        with caplog.at_level(logging.DEBUG, logger="langfuse_async"):
            p.emit(factories.observation())
            assert (await p.flush(timeout=10)).completed
        lines = [r.getMessage() for r in caplog.records]
        assert any("POST ingestion route: 1 events" in m and "-> 503" in m for m in lines)
        assert any(m.startswith("retrying 1 events") for m in lines)
        assert any("-> 207" in m and "delivered 1" in m for m in lines)
        await p.shutdown()


async def test_events_in_neither_list_of_a_207_count_as_delivered() -> None:
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url)
        listed, unlisted = factories.observation(), factories.observation()
        server.reply(
            INGESTION, 207, {"successes": [{"id": listed.event_id, "status": 201}], "errors": []}
        )
        p.emit(listed)
        p.emit(unlisted)  # like an sdk-log: the server says nothing about it
        assert (await p.flush(timeout=10)).completed
        s = p.statistics()
        assert (s.delivered, s.failed, s.retries) == (2, 0, 0)
        await p.shutdown()


async def test_the_worker_sleeps_while_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, flush_interval=0.01)
        p.emit(factories.observation())
        assert (await p.flush(timeout=10)).completed
        turns = 0
        real = p._worker._batch_ready

        def counting(now: float) -> bool:
            nonlocal turns
            turns += 1
            return real(now)

        monkeypatch.setattr(p._worker, "_batch_ready", counting)
        # Nothing to await here: idleness is the absence of events, so let time pass.
        await anyio.sleep(0.3)
        assert turns <= 1  # no polling: an idle worker waits for a wake-up
        await p.shutdown()


async def test_an_event_truncated_then_rerouted_counts_as_truncated_once() -> None:
    # Probes hidden by a proxy: the event goes to the ingestion route first, truncated to fit;
    # the v4 server refuses it there, and the OTLP span (whose attribute strings escape every
    # quote of the JSON output) needs its output truncated too. It is still one truncated event.
    errors: list[EventError] = []
    async with FakeLangfuse(mode="v4") as server:
        server.probes_broken = True
        p = make_pipeline(
            server.url, on_error=errors.append, max_event_bytes=8_000, transport="auto"
        )
        p.emit(factories.observation(input="x" * 20_000, output=["a"] * 1_500))
        assert (await p.flush(timeout=10)).completed
        (span,) = server.spans()
        attributes = {a["key"]: a["value"].get("stringValue") for a in span["attributes"]}
        assert attributes["langfuse.observation.output"] == TRUNCATED_MARKER
        await p.shutdown()
        s = p.statistics()
        assert (s.delivered, s.transport, errors) == (1, "otlp", [])
        assert s.truncated == 1
        assert balanced(p)
