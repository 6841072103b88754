"""At least once, said honestly: ``EventError.possibly_delivered``, and 2xx replies that say
nothing are not successes (issue 9, items 2 and 4.6)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web

from langfuse_async._delivery import http as _http
from langfuse_async._delivery.inflight import Item
from langfuse_async._delivery.sender import Failure, Retry, SendOutcome
from langfuse_async._delivery.settle import settle
from langfuse_async._outcomes import EventError
from tests.support import factories
from tests.support.fake_langfuse import INGESTION, FakeLangfuse
from tests.support.pipelines import balanced, make_pipeline

pytestmark = pytest.mark.anyio


def _decide(out: SendOutcome, batch: list[Item]) -> Any:
    return settle(out, batch, "ingestion", max_retries=1, may_reroute=True, base_url="http://x")


def test_an_answerless_request_marks_its_events_and_their_later_reports() -> None:
    batch = [Item(1, factories.observation()), Item(2, factories.observation())]
    out = SendOutcome(
        retry=[Retry(item, None, "request timed out") for item in batch],
        whole_request=True,
        possibly_delivered=True,
    )
    s = _decide(out, batch)
    assert list(s.retry) == batch and list(s.maybe_sent) == batch
    for item in s.maybe_sent:  # what the worker does with the settlement
        item.maybe_sent = True
    # The re-send gets a complete answer: one refused, one out of retries. Both may be stored.
    batch[1].attempts = 1
    later = SendOutcome(
        failed=[Failure(batch[0], "rejected", 400, "Invalid request data")],
        retry=[Retry(batch[1], 503, "busy")],
        status=207,
    )
    reports = [error for _, error in _decide(later, batch).failed]
    assert [(e.reason, e.possibly_delivered) for e in reports] == [
        ("rejected", True),
        ("retries_exhausted", True),
    ]


def test_a_complete_refusal_of_an_event_never_sent_before_is_not_possibly_delivered() -> None:
    batch = [Item(1, factories.observation())]
    out = SendOutcome(failed=[Failure(batch[0], "rejected", 400, "bad")], status=207)
    ((_, error),) = _decide(out, batch).failed
    assert not error.possibly_delivered


async def test_a_connection_lost_after_sending_then_a_refusal_reports_possibly_delivered() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, on_error=errors.append, max_retries=1)
        record = factories.observation()
        server.drop_connection(INGESTION)
        server.fail_event(record.event_id, 400, "Invalid request data")
        p.emit(record)
        assert (await p.flush(timeout=10)).completed
        assert len(server.posts()) == 2
        assert [(e.event_id, e.reason, e.possibly_delivered) for e in errors] == [
            (record.event_id, "rejected", True)
        ]
        await p.shutdown()
        assert balanced(p)


async def test_a_timeout_after_sending_reports_possibly_delivered() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, on_error=errors.append, max_retries=0, timeout=0.3)
        release = server.hold(INGESTION)
        p.emit(factories.observation())
        assert (await p.flush(timeout=10)).completed
        release.set()
        assert [(e.reason, e.possibly_delivered) for e in errors] == [("retries_exhausted", True)]
        await p.shutdown()


async def test_a_server_never_reached_reports_not_possibly_delivered() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        url = server.url
    # Nothing listens there any more: the connection is refused, nothing was sent.
    p = make_pipeline(url, on_error=errors.append, max_retries=1)
    p.emit(factories.observation())
    assert (await p.flush(timeout=10)).completed
    assert [(e.reason, e.possibly_delivered) for e in errors] == [("retries_exhausted", False)]
    await p.shutdown()


@pytest.mark.parametrize(
    "body",
    [
        "<html><body>502 Bad Gateway</body></html>",
        "[" * 100_000,
        json.dumps({"successes": [{"id": "not-ours", "status": 201}], "errors": []}),
    ],
    ids=["html", "nested-too-deep", "lists-none-of-ours"],
)
async def test_a_207_that_says_nothing_of_the_events_is_retried_then_possibly_delivered(
    body: str,
) -> None:
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, on_error=errors.append, max_retries=1)
        server.reply(INGESTION, 207, body, text=True, times=2)
        record = factories.observation()
        p.emit(record)
        assert (await p.flush(timeout=10)).completed
        assert len(server.posts()) == 2
        assert [(e.event_id, e.reason, e.status, e.possibly_delivered) for e in errors] == [
            (record.event_id, "retries_exhausted", 207, True)
        ]
        await p.shutdown()
        s = p.statistics()
        assert (s.delivered, s.failed) == (0, 1) and balanced(p)


async def test_a_207_longer_than_the_reply_limit_is_not_a_success(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_http, "MAX_REPLY_BYTES", 10_000)
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, on_error=errors.append, max_retries=0)
        record = factories.observation()
        padded = {"successes": [{"id": record.event_id, "status": 201}], "pad": "x" * 20_000}
        server.reply(INGESTION, 207, padded)
        p.emit(record)
        assert (await p.flush(timeout=10)).completed
        assert [(e.reason, e.possibly_delivered) for e in errors] == [("retries_exhausted", True)]
        await p.shutdown()


async def test_a_207_over_a_mebibyte_is_read_whole() -> None:
    # A real 207 for a full batch of refused events runs to megabytes; cut at 1 MiB it was
    # unreadable, and every event counted as delivered.
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url, on_error=errors.append)
        record = factories.observation()

        def refuse_verbosely(_: Any) -> web.StreamResponse:
            entry = {"id": record.event_id, "status": 400, "message": "Invalid request data"}
            entry["error"] = [{"path": ["body"], "message": "x" * 1_500_000}]
            return web.json_response({"successes": [], "errors": [entry]}, status=207)

        server.reply_with(INGESTION, refuse_verbosely)
        p.emit(record)
        assert (await p.flush(timeout=10)).completed
        assert [(e.event_id, e.reason, e.possibly_delivered) for e in errors] == [
            (record.event_id, "rejected", False)
        ]
        await p.shutdown()
        assert p.statistics().delivered == 0
