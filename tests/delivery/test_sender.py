"""``HttpSender``: one request, one outcome per event; it decides no timing and changes no item."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable

import anyio
import pytest

from langfuse_async._delivery.http import HttpClient
from langfuse_async._delivery.inflight import Item
from langfuse_async._delivery.prepare import prepare
from langfuse_async._delivery.routing import Route
from langfuse_async._delivery.sender import HttpSender, Retry, SendOutcome, summarize_html
from langfuse_async._wire.context import WireContext
from tests.support import factories
from tests.support.fake_langfuse import INGESTION, OTLP, FakeLangfuse

pytestmark = pytest.mark.anyio

CTX = WireContext(public_key="pk-test")


def prepared(n: int, route: Route) -> list[Item]:
    items = [Item(seq, factories.observation()) for seq in range(1, n + 1)]
    for item in items:
        prepare(item, route, CTX, 100_000)
    return items


def snapshot(items: list[Item]) -> list[tuple[object, ...]]:
    return [(i.record, i.attempts, i.not_before, i.ingestion, i.span, i.truncated) for i in items]


async def send(url: str, items: list[Item], route: Route) -> SendOutcome:
    http = HttpClient(public_key="pk-test", secret_key="sk-test", timeout=5.0)
    try:
        return await HttpSender(http, base_url=url, ctx=CTX).send(items, route)
    finally:
        await http.aclose()


async def test_per_event_outcomes_of_a_207_carry_what_the_server_said() -> None:
    async with FakeLangfuse() as server:
        items = prepared(3, "ingestion")
        before = snapshot(items)
        server.fail_event(items[1].record.event_id, 400, "Invalid request data")
        server.fail_event(items[2].record.event_id, 503, "busy")
        out = await send(server.url, items, "ingestion")
        assert snapshot(items) == before
        assert list(out.delivered) == [items[0]]
        ((failure),) = out.failed
        assert (failure.item, failure.reason, failure.status) == (items[1], "rejected", 400)
        assert out.retry == [Retry(items[2], 503, "busy", out.retry[0].error)]
        assert not out.whole_request and out.status == 207 and out.bytes_sent > 0


async def test_a_whole_request_failure_puts_its_reason_on_every_event() -> None:
    async with FakeLangfuse() as server:
        server.reply(INGESTION, 503, {"message": "overloaded"}, headers={"Retry-After": "2"})
        items = prepared(2, "ingestion")
        before = snapshot(items)
        out = await send(server.url, items, "ingestion")
        assert snapshot(items) == before
        assert [(r.item, r.status, r.message) for r in out.retry] == [
            (items[0], 503, "overloaded"),
            (items[1], 503, "overloaded"),
        ]
        assert out.whole_request and out.retry_after == 2.0


async def test_a_huge_error_reply_is_kept_as_a_bounded_text_not_parsed_whole() -> None:
    # A proxy or a server that echoes the request (megabytes of JSON) in its error reply: the
    # parsed detail would be held by every report of the batch (tens of times its size in
    # Python objects, outside the memory bound) and parsing it holds the event loop.
    echo = {"message": "overloaded", "echo": [{"n": i, "text": "x" * 100} for i in range(20_000)]}
    async with FakeLangfuse() as server:
        server.reply(INGESTION, 503, echo)
        items = prepared(2, "ingestion")
        out = await send(server.url, items, "ingestion")
    assert [(r.item, r.status, r.message) for r in out.retry] == [
        (items[0], 503, "overloaded"),
        (items[1], 503, "overloaded"),
    ]
    detail = out.retry[0].error
    assert isinstance(detail, str) and 0 < len(detail) <= 2_000
    assert detail.startswith(('{"message":"overloaded"', '{"message": "overloaded"'))


PROXY_PAGE = (
    "<!DOCTYPE html>\n<html><head><style>body { font: 14px sans-serif }</style>\n"
    "<title>502 Bad Gateway &amp; friends</title></head>\n<body><h1>Bad Gateway</h1>"
    + "<p>padding</p>" * 2_000
    + "</body></html>"
)


async def test_an_html_error_page_is_summarized_in_one_line() -> None:
    async with FakeLangfuse() as server:
        server.reply(INGESTION, 502, PROXY_PAGE, headers={"Content-Type": "text/html"}, text=True)
        items = prepared(1, "ingestion")
        out = await send(server.url, items, "ingestion")
        ((retry),) = out.retry
        assert retry.message == "HTML page: 502 Bad Gateway & friends"


def test_an_html_page_without_a_title_is_summarized_by_its_text() -> None:
    assert summarize_html("<html><body>\n  <b>Service</b>\n unavailable </body></html>") == (
        "HTML page: Service unavailable"
    )
    assert summarize_html("<html></html>") == "HTML page"
    assert len(summarize_html("<html>" + "word " * 1_000)) == 200


async def test_no_reply_is_a_retry_without_a_status() -> None:
    async with FakeLangfuse() as server:
        server.drop_connection(OTLP)
        items = prepared(2, "otlp")
        before = snapshot(items)
        out = await send(server.url, items, "otlp")
        assert snapshot(items) == before
        assert [(r.item, r.status) for r in out.retry] == [(items[0], None), (items[1], None)]
        assert all(r.message for r in out.retry)
        assert out.whole_request and out.status is None and out.failure == out.retry[0].message


class _Clock:
    """A perf counter that advances by ``step`` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


async def _gzip_counting_yields(
    monkeypatch: pytest.MonkeyPatch, raw: bytes, turn: Callable[[], float], step: float
) -> tuple[bytes, int]:
    """Compress ``raw`` with a clock advancing ``step`` per read; return the body and yields."""
    from langfuse_async._delivery import sender as _sender

    monkeypatch.setattr(_sender, "_perf_counter", _Clock(step))
    yields = 0
    real_sleep = asyncio.sleep

    async def counting_sleep(delay: float) -> None:
        nonlocal yields
        yields += 1
        await real_sleep(delay)

    monkeypatch.setattr(_sender.asyncio, "sleep", counting_sleep)
    try:
        body = await _sender._gzip_sliced(raw, turn)
    finally:
        monkeypatch.undo()
    return body, yields


async def test_large_otlp_bodies_are_gzipped_in_turns_that_let_other_tasks_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    from langfuse_async._delivery import sender as _sender
    from langfuse_async._delivery.pacing import SLICE_SECONDS
    from langfuse_async._wire.otlp import gzip_body

    # Incompressible enough to be slow, and hex so a chunk boundary means nothing.
    raw = os.urandom(6 * _sender._GZIP_CHUNK).hex().encode()  # 12 chunks
    chunks = -(-len(raw) // _sender._GZIP_CHUNK)
    # Each chunk takes a whole turn by this clock: the loop gets a turn between any two.
    body, yields = await _gzip_counting_yields(
        monkeypatch, raw, lambda: SLICE_SECONDS, SLICE_SECONDS
    )
    assert body == gzip_body(raw)  # the same bytes as the one-call compression
    assert yields == chunks - 1


async def test_bodies_are_gzipped_one_at_a_time_so_their_turns_do_not_add_up() -> None:
    import os

    from langfuse_async._delivery import sender as _sender
    from langfuse_async._delivery.pacing import SLICE_SECONDS
    from langfuse_async._wire.otlp import gzip_body

    raws = {name: os.urandom(6 * _sender._GZIP_CHUNK).hex().encode() for name in "ab"}
    turns: list[str] = []

    def turn_of(name: str) -> Callable[[], float]:
        def turn() -> float:
            turns.append(name)
            return SLICE_SECONDS / 1000  # a turn per chunk or so: many turns each

        return turn

    bodies = await asyncio.gather(*(_sender._gzip_sliced(raws[n], turn_of(n)) for n in "ab"))
    assert bodies == [gzip_body(raws["a"]), gzip_body(raws["b"])]
    assert turns.count("a") > 1 and turns.count("b") > 1
    assert turns == sorted(turns)  # all of one body's turns, then the other's


async def test_under_a_backlog_gzip_takes_longer_turns_and_keeps_the_same_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    from langfuse_async._delivery import sender as _sender
    from langfuse_async._delivery.pacing import MAX_TURN_SECONDS, SLICE_SECONDS
    from langfuse_async._wire.otlp import gzip_body

    raw = os.urandom(6 * _sender._GZIP_CHUNK).hex().encode()  # 12 chunks
    # A chunk takes a slice of time by this clock; a backlog's turn holds two and a half.
    short_body, short = await _gzip_counting_yields(
        monkeypatch, raw, lambda: SLICE_SECONDS, SLICE_SECONDS
    )
    long_body, long = await _gzip_counting_yields(
        monkeypatch, raw, lambda: MAX_TURN_SECONDS, SLICE_SECONDS
    )
    assert short_body == long_body == gzip_body(raw)
    assert long < short / 2


def _contended_gzip_on_a_loop_of_its_own() -> weakref.ref[asyncio.AbstractEventLoop]:
    """Compress two bodies at once on a fresh loop (one waits at the gate); return the loop."""
    import os

    from langfuse_async._delivery import sender as _sender
    from langfuse_async._wire.otlp import gzip_body

    raw = os.urandom(6 * _sender._GZIP_CHUNK).hex().encode()

    async def main() -> weakref.ref[asyncio.AbstractEventLoop]:
        bodies = await asyncio.gather(*(_sender._gzip_sliced(raw, lambda: 0.0) for _ in "ab"))
        assert bodies == [gzip_body(raw)] * 2
        return weakref.ref(asyncio.get_running_loop())

    return asyncio.run(main())


def test_the_gzip_gate_keeps_no_event_loop_alive() -> None:
    import gc

    from langfuse_async._delivery import sender as _sender

    # A client used across successive asyncio.run() calls (or a sync program's loops) must
    # not keep each finished loop: the gate of a loop where two bodies met held that loop.
    loops = [_contended_gzip_on_a_loop_of_its_own() for _ in range(3)]
    gc.collect()
    assert [ref() for ref in loops] == [None, None, None]
    assert len(_sender._GZIP_GATES) == 0


async def test_a_compression_cancelled_mid_body_lets_the_next_one_through() -> None:
    import os

    from langfuse_async._delivery import sender as _sender
    from langfuse_async._wire.otlp import gzip_body

    raw = os.urandom(6 * _sender._GZIP_CHUNK).hex().encode()
    turns = 0
    started = asyncio.Event()

    def turn() -> float:
        nonlocal turns
        turns += 1
        if turns == 2:  # the first body is between two of its slices
            started.set()
        return 0.0

    first = asyncio.ensure_future(_sender._gzip_sliced(raw, turn))
    second = asyncio.ensure_future(_sender._gzip_sliced(raw, lambda: 0.0))
    await started.wait()
    first.cancel()
    with anyio.fail_after(30):  # a hang guard only: a gate left held would block for ever
        assert await second == gzip_body(raw)
    assert first.cancelled()
    assert asyncio.get_running_loop() not in _sender._GZIP_GATES
