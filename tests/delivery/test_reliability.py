"""Reliability of the real client against the collector's scripted faults.

These use the public ``langfuse_async.testing`` fixtures, as a user's tests would.
"""

from __future__ import annotations

import json

import pytest

from langfuse_async import EventError, Langfuse, observe
from langfuse_async.testing import Collector

pytestmark = pytest.mark.anyio

ERRORS: list[EventError] = []
FAST = pytest.mark.langfuse_client(
    on_error=ERRORS.append, backoff_base=0.001, backoff_max=0.01, transport="ingestion"
)


@pytest.fixture(autouse=True)
def _clear_errors() -> None:
    ERRORS.clear()


@observe(name="work")
async def work(i: int) -> int:
    return i


def balanced(client: Langfuse) -> bool:
    s = client.statistics()
    return s.pending == 0 and s.enqueued == s.delivered + s.failed + s.dropped


@FAST
async def test_server_errors_are_retried_until_delivered(
    langfuse_client: Langfuse, langfuse_collector: Collector
) -> None:
    langfuse_collector.faults.server_error(route="ingestion", times=2)
    await work(1)
    assert (await langfuse_client.flush(timeout=10)).completed
    assert ERRORS == []
    s = langfuse_client.statistics()
    # Two events on the wire (the span and its trace's trace-create), each sent three times.
    assert s.delivered == 2 and s.retries == 4
    [trace] = await langfuse_collector.traces()
    assert trace.name == "work"


@FAST
async def test_rate_limits_and_dropped_connections_are_retried(
    langfuse_client: Langfuse, langfuse_collector: Collector
) -> None:
    langfuse_collector.faults.rate_limit(retry_after=0, route="ingestion")
    langfuse_collector.faults.drop_connection(route="ingestion")
    await work(2)
    assert (await langfuse_client.flush(timeout=10)).completed
    assert ERRORS == [] and langfuse_client.statistics().retries == 4
    assert len(await langfuse_collector.observations()) == 1


@FAST
async def test_unauthorized_is_final(
    langfuse_client: Langfuse, langfuse_collector: Collector
) -> None:
    langfuse_collector.faults.unauthorized(route="ingestion")
    await work(3)
    assert (await langfuse_client.flush(timeout=10)).completed
    assert [(e.event_type, e.reason, e.status) for e in ERRORS] == [
        ("span-create", "unauthorized", 401),
        ("trace-create", "unauthorized", 401),
    ]
    assert len(langfuse_collector.requests_to("ingestion")) == 1
    assert balanced(langfuse_client)


@FAST
async def test_a_413_splits_until_each_half_fits(
    langfuse_client: Langfuse, langfuse_collector: Collector
) -> None:
    langfuse_collector.faults.payload_too_large(route="ingestion")
    for i in range(4):
        await work(i)
    assert (await langfuse_client.flush(timeout=10)).completed
    assert ERRORS == []
    assert len(await langfuse_collector.observations()) == 4


@FAST
async def test_per_event_errors_reach_on_error_and_retries_are_deduplicated(
    langfuse_client: Langfuse, langfuse_collector: Collector
) -> None:
    langfuse_collector.faults.fail_events(types={"score-create"}, status=400)
    langfuse_collector.faults.fail_events(types={"span-create"}, status=500, times=1)
    await work(4)
    langfuse_client.create_score(name="q", value=1.0, session_id="s-1")
    assert (await langfuse_client.flush(timeout=10)).completed
    assert [(e.event_type, e.reason, e.status) for e in ERRORS] == [
        ("score-create", "rejected", 400)
    ]
    # The span was sent twice with one envelope id; the collector stored it once.
    assert len(await langfuse_collector.observations()) == 1
    assert balanced(langfuse_client)


@FAST
async def test_shutdown_gives_up_on_a_stuck_server_and_says_so(
    langfuse_client: Langfuse, langfuse_collector: Collector
) -> None:
    gate = langfuse_collector.faults.delay(route="ingestion")
    await work(5)
    result = await langfuse_client.shutdown(timeout=0.3)
    assert not result.completed and result.pending == 1
    assert [e.reason for e in ERRORS] == ["shutdown"]
    assert balanced(langfuse_client)
    gate.release()


@pytest.mark.langfuse_collector(mode="v4")
@pytest.mark.langfuse_client(on_error=ERRORS.append)
async def test_auto_mode_against_a_v4_collector_loses_nothing(
    langfuse_client: Langfuse, langfuse_collector: Collector
) -> None:
    for i in range(3):
        await work(i)
    assert (await langfuse_client.flush(timeout=10)).completed
    assert ERRORS == []
    assert langfuse_client.statistics().transport == "otlp"
    assert len(await langfuse_collector.traces()) == 3


@observe(name="step")
async def _step(i: int) -> int:
    return i


@observe(name="handle")
async def _handle(langfuse: Langfuse, n: int) -> None:
    langfuse.update_current_trace(user_id=f"user-{n}", session_id="s")
    for i in range(5):
        await _step(i)
    langfuse.score_current_trace(name="quality", value=1.0)


@FAST
async def test_statistics_count_the_events_the_server_accepted_one_trace_create_per_trace(
    langfuse_client: Langfuse, langfuse_collector: Collector
) -> None:
    for n in range(20):
        await _handle(langfuse_client, n)
    assert (await langfuse_client.flush(timeout=10)).completed
    events = [
        event
        for request in langfuse_collector.requests_to("ingestion")
        for event in json.loads(request.body)["batch"]
    ]
    trace_creates = [e for e in events if e["type"] == "trace-create"]
    # One per trace: the update made while the root was open travels with the root's.
    assert len(trace_creates) == 20 == len({e["body"]["id"] for e in trace_creates})
    assert all(e["body"]["userId"].startswith("user-") for e in trace_creates)
    s = langfuse_client.statistics()
    # 20 x (root + 5 steps + its trace-create + the score) events, all accepted.
    assert s.delivered == langfuse_collector.event_count == len(events) == 160
    assert s.enqueued == s.delivered and ERRORS == []
