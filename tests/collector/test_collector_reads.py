"""Authenticated reads in the shapes of the official API spec, with pagination and filters."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from langfuse_async._collector import Collector
from tests.support.openapi import SPEC, check, load_spec

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": "Basic " + base64.b64encode(b"pk-lf-local:sk-lf-local").decode()}


def ev(envelope_id: str, event_type: str, body: dict[str, Any], second: int = 0) -> dict[str, Any]:
    return {
        "id": envelope_id,
        "type": event_type,
        "timestamp": f"2026-08-22T10:00:{second:02d}.000000Z",
        "body": body,
    }


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    async with Collector() as c, aiohttp.ClientSession() as http:
        events = [
            ev(
                "t1",
                "trace-create",
                {"id": "t1", "name": "a", "userId": "u1", "sessionId": "s1", "tags": ["x"]},
                1,
            ),
            ev("t2", "trace-create", {"id": "t2", "name": "b", "userId": "u2"}, 2),
            ev("t3", "trace-create", {"id": "t3", "name": "a", "userId": "u1"}, 3),
            ev(
                "o1",
                "span-create",
                {
                    "id": "o1",
                    "traceId": "t1",
                    "name": "root",
                    "startTime": "2026-08-22T10:00:01Z",
                    "endTime": "2026-08-22T10:00:03Z",
                },
                1,
            ),
            ev(
                "o2",
                "generation-create",
                {
                    "id": "o2",
                    "traceId": "t1",
                    "parentObservationId": "o1",
                    "name": "llm",
                    "model": "m",
                    "startTime": "2026-08-22T10:00:01.5Z",
                    "endTime": "2026-08-22T10:00:02Z",
                    "completionStartTime": "2026-08-22T10:00:01.75Z",
                    "usageDetails": {"input": 5, "output": 2},
                    "costDetails": {"total": 0.25},
                },
                1,
            ),
            ev(
                "s1",
                "score-create",
                {"id": "sc1", "traceId": "t1", "name": "ok", "value": 1, "dataType": "BOOLEAN"},
                4,
            ),
            ev(
                "s2",
                "score-create",
                {
                    "id": "sc2",
                    "traceId": "t1",
                    "observationId": "o2",
                    "name": "tone",
                    "value": "calm",
                },
                4,
            ),
        ]
        async with http.post(
            c.url + "/api/public/ingestion", json={"batch": events}, headers=AUTH
        ) as r:
            assert r.status == 207 and not (await r.json())["errors"]
        yield c


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SPEC.exists():
        pytest.fail(f"the official spec is expected at {SPEC}")
    return load_spec()


async def get(http: aiohttp.ClientSession, c: Collector, path: str) -> tuple[int, Any]:
    async with http.get(c.url + path, headers=AUTH) as r:
        return r.status, await r.json()


async def test_trace_list_shape_pagination_and_filters(collector, http, spec):
    status, page = await get(http, collector, "/api/public/traces?limit=2&page=1")
    assert status == 200
    check(spec, "Traces", page)
    assert [t["id"] for t in page["data"]] == ["t3", "t2"]
    assert page["meta"] == {"page": 1, "limit": 2, "totalItems": 3, "totalPages": 2}
    _, second = await get(http, collector, "/api/public/traces?limit=2&page=2")
    assert [t["id"] for t in second["data"]] == ["t1"]
    assert second["data"][0]["observations"] == ["o1", "o2"]
    assert second["data"][0]["scores"] == ["sc1", "sc2"]
    _, filtered = await get(http, collector, "/api/public/traces?userId=u1&name=a&tags=x")
    assert [t["id"] for t in filtered["data"]] == ["t1"]
    _, by_session = await get(http, collector, "/api/public/traces?sessionId=s1")
    assert [t["id"] for t in by_session["data"]] == ["t1"]


async def test_trace_with_full_details(collector, http, spec):
    status, trace = await get(http, collector, "/api/public/traces/t1")
    assert status == 200
    check(spec, "TraceWithFullDetails", trace)
    assert [o["id"] for o in trace["observations"]] == ["o1", "o2"]
    assert trace["latency"] == 2.0 and trace["totalCost"] == 0.25
    generation = trace["observations"][1]
    assert generation["timeToFirstToken"] == 0.25 and generation["calculatedTotalCost"] == 0.25
    scores = {s["id"]: s for s in trace["scores"]}
    assert scores["sc1"]["stringValue"] == "True"
    assert (scores["sc2"]["dataType"], scores["sc2"]["stringValue"]) == ("CATEGORICAL", "calm")


async def test_observation_list_and_single(collector, http, spec):
    status, page = await get(http, collector, "/api/public/observations?traceId=t1&type=GENERATION")
    assert status == 200
    check(spec, "legacyObservationsViews", page)
    assert [o["id"] for o in page["data"]] == ["o2"]
    assert page["data"][0]["usageDetails"] == {"input": 5, "output": 2, "total": 7}
    _, by_user = await get(http, collector, "/api/public/observations?userId=u2")
    assert by_user["data"] == []
    status, single = await get(http, collector, "/api/public/observations/o1")
    assert status == 200 and single["name"] == "root"


async def test_not_found_bad_query_and_auth(collector, http):
    status, body = await get(http, collector, "/api/public/traces/missing")
    assert (status, body["error"]) == (404, "LangfuseNotFoundError")
    status, body = await get(http, collector, "/api/public/observations/missing")
    assert status == 404
    status, body = await get(http, collector, "/api/public/traces?limit=abc")
    assert status == 400 and body["error"][0]["path"] == ["limit"]
    status, body = await get(http, collector, "/api/public/traces?page=0")
    assert status == 400
    async with http.get(
        collector.url + "/api/public/traces", headers={"Authorization": "Bearer pk-lf-local"}
    ) as r:
        assert r.status == 403


async def test_pages_and_cursors_beyond_any_offset_are_refused_not_crashed(collector, http):
    # A page or cursor whose offset SQLite cannot hold (beyond 2**63) was a 500.
    huge = "99999999999999999999999"
    for path in (
        "/api/public/traces",
        "/api/public/observations",
        "/api/public/sessions",
        "/api/public/scores",
        "/api/public/v2/scores",
    ):
        status, body = await get(http, collector, f"{path}?page={huge}")
        assert status == 400, path
        assert body["error"][0]["path"] == ["page"] and body["error"][0]["code"] == "too_big"
        # The largest page accepted is past the end: an empty page, as on the server.
        status, body = await get(http, collector, f"{path}?page={2**53 - 1}&limit=100")
        assert (status, body["data"]) == (200, []), path
    cursor = base64.urlsafe_b64encode(json.dumps({"offset": 10**30}).encode()).decode()
    for path in ("/api/public/v2/observations", "/api/public/v3/scores"):
        status, body = await get(http, collector, f"{path}?cursor={cursor}")
        assert status == 400 and body["error"][0]["path"] == ["cursor"], path


async def test_a_time_past_the_year_9999_is_later_than_every_stored_time(collector, http):
    # A zone offset can push a valid timestamp past 9999; rendered "+010000-...", it sorted
    # before every stored time, so fromTimestamp matched every trace and toTimestamp none.
    late = quote("9999-12-31T23:00:00-05:00")
    status, page = await get(http, collector, f"/api/public/traces?fromTimestamp={late}")
    assert (status, page["data"]) == (200, [])
    status, page = await get(http, collector, f"/api/public/traces?toTimestamp={late}")
    assert status == 200 and len(page["data"]) == 3
    condition = [
        {
            "type": "datetime",
            "column": "timestamp",
            "operator": ">=",
            "value": "9999-12-31T23:00:00-05:00",
        }
    ]
    path = f"/api/public/traces?filter={quote(json.dumps(condition))}"
    status, page = await get(http, collector, path)
    assert (status, page["data"]) == (200, [])


async def test_reads_are_refused_in_v4_mode(http):
    async with Collector(mode="v4") as v4:
        for path in ("/api/public/traces", "/api/public/traces/t1", "/api/public/observations"):
            status, body = await get(http, v4, path)
            assert status == 404 and "events_only" in body["message"]


async def test_ids_are_one_path_segment_decoded(http):
    odd_ids = ["a/b", "line\nbreak", "sp ace", "é"]
    async with Collector() as c:
        batch = [
            ev(f"e{i}", "trace-create", {"id": trace_id}) for i, trace_id in enumerate(odd_ids)
        ]
        async with http.post(
            c.url + "/api/public/ingestion", json={"batch": batch}, headers=AUTH
        ) as r:
            assert r.status == 207
        for trace_id in odd_ids:
            status, body = await get(http, c, "/api/public/traces/" + quote(trace_id, safe=""))
            assert (status, body["id"]) == (200, trace_id)
        status, body = await get(http, c, "/api/public/traces/" + quote("no\nsuch", safe=""))
        assert (status, body["message"]) == (404, "Trace not found within authorized project")
        # A path with one segment too many names no route at all: Next's HTML 404 page.
        async with http.get(c.url + "/api/public/traces/a/b", headers=AUTH) as r:
            assert r.status == 404
            assert r.headers["Content-Type"].startswith("text/html")
