"""Scripted faults: canned answers, per-event errors, held requests, dropped connections."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import pytest

from langfuse_async._collector import Collector

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": "Basic " + base64.b64encode(b"pk-lf-local:sk-lf-local").decode()}
TS = "2026-08-22T10:00:00Z"


def batch(*ids: str, event_type: str = "span-create") -> dict[str, Any]:
    return {
        "batch": [
            {"id": i, "type": event_type, "timestamp": TS, "body": {"id": f"s-{i}", "traceId": "t"}}
            for i in ids
        ]
    }


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    async with Collector() as c:
        yield c


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def ingest(http: aiohttp.ClientSession, c: Collector, body: Any) -> aiohttp.ClientResponse:
    async with http.post(c.url + "/api/public/ingestion", json=body, headers=AUTH) as r:
        await r.read()
        return r


async def test_respond_answers_the_next_n_requests_then_normally(collector, http):
    collector.faults.respond(500, {"message": "boom"}, times=2)
    first = await ingest(http, collector, batch("a"))
    second = await ingest(http, collector, batch("a"))
    third = await ingest(http, collector, batch("a"))
    assert [first.status, second.status, third.status] == [500, 500, 207]
    assert collector.event_count == 1
    # Failed attempts are still recorded, with their bodies.
    assert [r.json()["batch"][0]["id"] for r in collector.requests] == ["a", "a", "a"]


async def test_rate_limit_carries_retry_after(collector, http):
    collector.faults.rate_limit(retry_after=7)
    async with http.post(
        collector.url + "/api/public/ingestion", json=batch("a"), headers=AUTH
    ) as r:
        assert r.status == 429
        assert r.headers["Retry-After"] == "7"
        assert "GMT+0000" in r.headers["X-RateLimit-Reset"]
        body = await r.json()
    assert body["code"] == "rate_limited" and body["details"]["retryAfterSeconds"] == 7


async def test_text_413_and_unauthorized_faults(collector, http):
    collector.faults.payload_too_large()
    collector.faults.unauthorized(route="otlp")
    async with http.post(
        collector.url + "/api/public/ingestion", json=batch("a"), headers=AUTH
    ) as r:
        assert (r.status, await r.text()) == (413, "Body exceeded 4.5mb limit")
        assert r.headers["Content-Type"].startswith("text/plain")
    async with http.post(collector.url + "/api/public/otel/v1/traces", json={}, headers=AUTH) as r:
        assert r.status == 401
        assert set(await r.json()) == {"message"}


async def test_faults_are_per_route(collector, http):
    collector.faults.server_error(route="otlp")
    assert (await ingest(http, collector, batch("a"))).status == 207
    async with http.post(collector.url + "/api/public/otel/v1/traces", json={}, headers=AUTH) as r:
        assert r.status == 500
    async with http.post(collector.url + "/api/public/otel/v1/traces", json={}, headers=AUTH) as r:
        assert r.status == 200


async def test_per_event_errors_inside_a_normal_207(collector, http):
    collector.faults.fail_events(
        ids={"b"}, status=500, message=None, error="Internal Server Error", times=1
    )
    collector.faults.fail_events(types={"generation-create"}, status=400, error="bad generation")
    body = batch("a", "b")
    body["batch"].append(
        {"id": "g", "type": "generation-create", "timestamp": TS, "body": {"id": "g1"}}
    )
    r = await ingest(http, collector, body)
    assert r.status == 207
    async with http.post(collector.url + "/api/public/ingestion", json=body, headers=AUTH) as again:
        retry = await again.json()
    # On the retry "b" (times=1) succeeds; the generation keeps failing.
    assert sorted(s["id"] for s in retry["successes"]) == ["a", "b"]
    assert retry["errors"] == [
        {"id": "g", "status": 400, "message": "Invalid request data", "error": "bad generation"}
    ]
    assert sorted(o.id for o in await collector.observations()) == ["s-a", "s-b"]


async def test_first_answer_lists_scripted_errors_without_message_for_500(collector, http):
    collector.faults.fail_events(ids={"b"}, status=500, message=None, error="Internal Server Error")
    async with http.post(
        collector.url + "/api/public/ingestion", json=batch("a", "b"), headers=AUTH
    ) as r:
        answer = await r.json()
    assert answer["errors"] == [{"id": "b", "status": 500, "error": "Internal Server Error"}]
    assert [s["id"] for s in answer["successes"]] == ["a"]


async def test_delay_holds_until_released(collector, http):
    gate = collector.faults.delay(route="ingestion")
    results: list[int] = []

    async def send() -> None:
        results.append((await ingest(http, collector, batch("a"))).status)

    async with anyio.create_task_group() as tg:
        tg.start_soon(send)
        with anyio.fail_after(5):
            await gate.wait_held(1)
        # The request is held: nothing was answered or stored yet.
        assert results == [] and collector.event_count == 0
        gate.release()
    assert results == [207]
    assert collector.event_count == 1


async def test_delay_then_canned_answer(collector, http):
    gate = collector.faults.delay()
    collector.faults.respond(503, "unavailable")
    statuses: list[int] = []

    async def send() -> None:
        statuses.append((await ingest(http, collector, batch("a"))).status)

    async with anyio.create_task_group() as tg:
        tg.start_soon(send)
        await gate.wait_held()
        gate.release()
    assert statuses == [503]


async def test_closing_releases_held_requests(http):
    collector = Collector()
    await collector.start()
    collector.faults.delay()
    statuses: list[int | str] = []

    async def send() -> None:
        try:
            statuses.append((await ingest(http, collector, batch("a"))).status)
        except aiohttp.ClientError as exc:
            statuses.append(type(exc).__name__)

    async with anyio.create_task_group() as tg:
        tg.start_soon(send)
        await collector.wait_for_requests(1)
        with anyio.fail_after(5):
            await collector.aclose()
    assert len(statuses) == 1


async def test_dropped_connection_gets_no_response(collector, http):
    collector.faults.drop_connection(route="ingestion")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await ingest(http, collector, batch("a"))
    assert collector.event_count == 0
    assert (await ingest(http, collector, batch("a"))).status == 207


async def test_wait_for_requests_and_events(collector, http):
    async def later() -> None:
        await ingest(http, collector, batch("a", "b"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(later)
        requests = await collector.wait_for_requests(1, route="ingestion", timeout=5)
        await collector.wait_for_events(2, timeout=5)
    assert requests[0].method == "POST" and requests[0].headers["authorization"].startswith("Basic")
    assert json.loads(requests[0].body)["batch"][1]["id"] == "b"
    with pytest.raises(TimeoutError, match="expected 3 accepted events"):
        await collector.wait_for_events(3, timeout=0.05)


async def test_clear_forgets_faults(collector, http):
    collector.faults.respond(500, times=None)
    assert (await ingest(http, collector, batch("a"))).status == 500
    collector.faults.clear()
    assert (await ingest(http, collector, batch("a"))).status == 207


def test_bad_fault_arguments():
    from langfuse_async._collector import Faults

    faults = Faults()
    with pytest.raises(ValueError, match="route"):
        faults.respond(500, route="nowhere")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="times"):
        faults.drop_connection(times=0)
