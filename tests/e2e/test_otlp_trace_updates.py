"""A trace update made after the root was sent, carried by a span that ends cycles later (OTLP).

User code -> client -> embedded collector: the update reaches the server on the span of an
observation still open when it was made, and ``on_error`` hears nothing; when no span can
ever carry it, it is reported once, at shutdown.
"""

from __future__ import annotations

import asyncio

import pytest

from langfuse_async import EventError, Langfuse
from langfuse_async._tracing import observations
from langfuse_async.testing import Collector

pytestmark = pytest.mark.anyio


def _client(collector: Collector, errors: list[EventError]) -> Langfuse:
    return Langfuse(
        public_key=collector.public_key,
        secret_key=collector.secret_key,
        base_url=collector.url,
        transport="otlp",
        on_error=errors.append,
        flush_interval=0.05,
    )


def _user_ids_sent(collector: Collector) -> dict[str, str]:
    """The ``user.id`` each span carried over the wire, by span name."""
    sent = {}
    for request in collector.requests_to("otlp"):
        for span in request.json()["resourceSpans"][0]["scopeSpans"][0]["spans"]:
            for attribute in span["attributes"]:
                if attribute["key"] == "user.id":
                    sent[span["name"]] = attribute["value"]["stringValue"]
    return sent


async def test_an_update_from_a_background_task_rides_on_its_span_cycles_later() -> None:
    errors: list[EventError] = []
    async with Collector(mode="v4") as collector:
        langfuse = _client(collector, errors)
        go_on, updated = asyncio.Event(), asyncio.Event()

        async def background() -> None:
            # Started inside the request, outliving it: its span ends cycles later.
            with langfuse.start_as_current_observation(name="background"):
                await go_on.wait()
                langfuse.update_current_trace(user_id="u-background", session_id="s-1")
                updated.set()
                await go_on.wait()

        try:
            async with langfuse.start_as_current_observation(name="request"):
                task = asyncio.create_task(background())
                await asyncio.sleep(0)  # the task enters its observation
            assert (await langfuse.flush(timeout=20)).completed  # the root is sent
            go_on.set()
            go_on = asyncio.Event()
            await updated.wait()
            # No span of the trace this cycle: the update waits for the background span.
            waiting = await langfuse.flush(timeout=20)
            assert (waiting.completed, waiting.pending) == (False, 1)
            go_on.set()
            await task
            done = await langfuse.flush(timeout=20)
            assert (done.completed, done.pending, done.failed) == (True, 0, 0)
            assert errors == []
        finally:
            await langfuse.shutdown(timeout=20)
        s = langfuse.statistics()
        assert (s.enqueued, s.delivered, s.failed, s.dropped, s.pending) == (3, 3, 0, 0, 0)
        assert errors == []
        assert _user_ids_sent(collector) == {"background": "u-background"}
        [trace] = await collector.traces()
        assert (trace.name, trace.user_id, trace.session_id) == ("request", "u-background", "s-1")


async def test_shutdown_ends_the_open_span_and_it_carries_the_update() -> None:
    errors: list[EventError] = []
    async with Collector(mode="v4") as collector:
        langfuse = _client(collector, errors)
        root = langfuse.start_observation(name="request")
        forgotten = root.start_observation(name="forgotten")  # never ended by the user
        root.end()
        assert (await langfuse.flush(timeout=20)).completed
        forgotten.update_trace(user_id="u-forgotten")
        assert (await langfuse.flush(timeout=20)).pending == 1  # a cycle without its span
        result = await langfuse.shutdown(timeout=20)
        assert (result.completed, result.failed) == (True, 0)
        s = langfuse.statistics()
        assert (s.enqueued, s.delivered, s.never_ended, s.pending) == (3, 3, 1, 0)
        assert errors == []
        assert _user_ids_sent(collector) == {"forgotten": "u-forgotten"}


async def test_an_update_whose_carrier_never_comes_is_reported_once_at_shutdown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    errors: list[EventError] = []
    async with Collector(mode="v4") as collector:
        langfuse = _client(collector, errors)
        root = langfuse.start_observation(name="request")
        # Past the bound of tracked open observations: shutdown cannot end (and send) it.
        monkeypatch.setattr(observations, "MAX_OPEN", 0)
        untracked = root.start_observation(name="untracked")
        monkeypatch.undo()
        root.end()
        assert (await langfuse.flush(timeout=20)).completed
        untracked.update_trace(user_id="u-lost")
        assert (await langfuse.flush(timeout=20)).pending == 1
        assert errors == []  # its span may still come: no report yet
        result = await langfuse.shutdown(timeout=20)
        assert (result.completed, result.pending, result.failed) == (True, 0, 1)
        [error] = errors
        assert (error.event_type, error.trace_id, error.reason) == (
            "trace-create",
            root.trace_id,
            "rejected",
        )
        assert "no span carries this trace update" in error.message
        await langfuse.shutdown(timeout=20)
        await langfuse.flush(timeout=20)
        assert len(errors) == 1
        s = langfuse.statistics()
        assert (s.enqueued, s.delivered, s.failed, s.pending) == (2, 1, 1, 0)
        assert _user_ids_sent(collector) == {}
