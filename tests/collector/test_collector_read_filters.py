"""Every filter of the read routes, in SQL: each checked against the data it must keep and drop.

The v2 observations and v3 scores are read through the official 5.x SDK's typed async API
client (``langfuse.api.AsyncLangfuseAPI``), the legacy routes (which that client no longer
wraps) over HTTP; answers are checked against the official spec's schemas, and a filter the
route cannot apply answers 400 with a message naming it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import httpx
import pytest
import yarl

from langfuse_async._collector import Collector
from tests.support.openapi import check, load_spec

api = pytest.importorskip("langfuse.api", reason="the official SDK is in the test extra")
api_error = pytest.importorskip("langfuse.api.core.api_error")

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": "Basic " + base64.b64encode(b"pk-lf-local:sk-lf-local").decode()}
LONG = "x" * 300


def ev(envelope_id: str, event_type: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": envelope_id,
        "type": event_type,
        "timestamp": "2026-08-22T10:00:00.000Z",
        "body": body,
    }


def at(second: float) -> str:
    return f"2026-08-22T10:00:{second:06.3f}Z"


def _traces() -> list[dict[str, Any]]:
    return [
        ev(
            "e-t1",
            "trace-create",
            {
                "id": "t1",
                "name": "chat",
                "userId": "u1",
                "sessionId": "s1",
                "tags": ["prod", "beta"],
                "release": "r1",
                "version": "v1",
                "environment": "production",
                "metadata": {"tier": "gold", "n": 3},
                "public": True,
                "timestamp": at(1),
            },
        ),
        ev(
            "e-t2",
            "trace-create",
            {
                "id": "t2",
                "name": "search",
                "userId": "u2",
                "tags": ["prod"],
                "metadata": {"tier": "free"},
                "timestamp": at(2),
            },
        ),
        ev(
            "e-t3",
            "trace-create",
            {"id": "t3", "name": "chat", "userId": "u1", "sessionId": "s2", "timestamp": at(3)},
        ),
    ]


def _observations() -> list[dict[str, Any]]:
    return [
        ev(
            "e-o1",
            "span-create",
            {
                "id": "o1",
                "traceId": "t1",
                "name": "root",
                "startTime": at(1),
                "endTime": at(4),
                "input": {"q": "hello world"},
                "output": "Needle found",
                "metadata": {"long": LONG, "short": "y", "k": "v"},
                "environment": "production",
            },
        ),
        ev(
            "e-o2",
            "generation-create",
            {
                "id": "o2",
                "traceId": "t1",
                "parentObservationId": "o1",
                "name": "llm",
                "model": "gpt-4o",
                "startTime": at(1.5),
                "endTime": at(2),
                "completionStartTime": at(1.75),
                "usageDetails": {"input": 5, "output": 10, "total": 15},
                "costDetails": {"total": 0.25},
                "level": "WARNING",
                "statusMessage": "slow",
                "promptName": "p",
                "promptVersion": 2,
                "environment": "production",
            },
        ),
        ev(
            "e-o3",
            "event-create",
            {"id": "o3", "traceId": "t2", "name": "log", "startTime": at(2), "level": "ERROR"},
        ),
        ev(
            "e-o4",
            "span-create",
            {
                "id": "o4",
                "traceId": "t3",
                "name": "root",
                "startTime": at(3),
                "endTime": at(3.1),
                "metadata": {"k": 5},
            },
        ),
    ]


def _scores() -> list[dict[str, Any]]:
    def score(score_id: str, second: int, **body: Any) -> dict[str, Any]:
        return ev(
            f"e-{score_id}", "score-create", {"id": score_id, "timestamp": at(second), **body}
        )

    return [
        score("sc1", 5, traceId="t1", name="quality", value=0.9, dataType="NUMERIC"),
        score("sc2", 6, traceId="t1", observationId="o2", name="quality", value=0.3, source="EVAL"),
        score("sc3", 7, traceId="t2", name="ok", value=1, dataType="BOOLEAN"),
        score(
            "sc4",
            8,
            traceId="t3",
            name="tone",
            value="calm",
            dataType="CATEGORICAL",
            metadata={"reviewer": "ann"},
        ),
        score("sc5", 9, sessionId="s1", name="csat", value=4, dataType="NUMERIC"),
        score("sc6", 10, traceId="t2", name="ok", value=0, dataType="BOOLEAN"),
    ]


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    async with Collector() as c, aiohttp.ClientSession() as http:
        batch = _traces() + _observations() + _scores()
        async with http.post(
            c.url + "/api/public/ingestion", json={"batch": batch}, headers=AUTH
        ) as r:
            assert r.status == 207
            assert not (await r.json())["errors"]
        yield c


@pytest.fixture
async def client(collector: Collector) -> AsyncIterator[Any]:
    """The official SDK's typed async API client, pointed at the collector."""
    async with httpx.AsyncClient(timeout=30) as transport:
        yield api.AsyncLangfuseAPI(
            base_url=collector.url,
            username=collector.public_key,
            password=collector.secret_key,
            httpx_client=transport,
        )


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(
    http: aiohttp.ClientSession, c: Collector, path: str, **params: Any
) -> tuple[int, Any]:
    query = urlencode(
        [
            (name, json.dumps(value) if name == "filter" else item)
            for name, value in params.items()
            for item in (value if isinstance(value, list) and name != "filter" else [value])
        ]
    )
    async with http.get(f"{c.url}{path}?{query}", headers=AUTH) as r:
        return r.status, await r.json()


def cond(kind: str, column: str, operator: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    condition = {"type": kind, "column": column, "operator": operator, **extra}
    if value is not None:
        condition["value"] = value
    return condition


def f(*conditions: dict[str, Any]) -> str:
    return json.dumps(list(conditions))


def ids(items: Any) -> list[str]:
    return sorted(item.id if hasattr(item, "id") else item["id"] for item in items)


# --- v2 observations, through the official client ----------------------------------------------


async def observed(client: Any, **options: Any) -> list[str]:
    page = await client.observations.get_many(**options)
    return ids(page.data)


async def test_v2_observation_filters_by_each_kind_of_column(client):
    cases = [
        (cond("string", "type", "=", "GENERATION"), ["o2"]),
        (cond("string", "name", "starts with", "ro"), ["o1", "o4"]),
        (cond("string", "statusMessage", "contains", "LO"), ["o2"]),
        (cond("string", "name", "does not contain", "oo"), ["o2", "o3"]),
        (cond("string", "model", "ends with", "4o"), ["o2"]),
        (cond("stringOptions", "level", "any of", ["WARNING", "ERROR"]), ["o2", "o3"]),
        (cond("stringOptions", "level", "none of", ["DEFAULT"]), ["o2", "o3"]),
        (cond("number", "latency", ">=", 2.5), ["o1"]),
        (cond("number", "timeToFirstToken", "=", 0.25), ["o2"]),
        (cond("number", "totalCost", ">", 0.1), ["o2"]),
        (cond("number", "outputTokens", "=", 10), ["o2"]),
        (cond("number", "tokensPerSecond", "=", 20), ["o2"]),
        (cond("number", "promptVersion", "=", 2), ["o2"]),
        (cond("datetime", "startTime", ">=", "2026-08-22T10:00:02Z"), ["o3", "o4"]),
        (cond("datetime", "endTime", "<=", "2026-08-22T12:00:02+02:00"), ["o2"]),
        (cond("null", "endTime", "is null"), ["o3"]),
        (cond("string", "userId", "=", "u2"), ["o3"]),
        (cond("string", "sessionId", "=", "s1"), ["o1", "o2"]),
        (cond("string", "traceName", "=", "chat"), ["o1", "o2", "o4"]),
        (cond("arrayOptions", "traceTags", "all of", ["prod", "beta"]), ["o1", "o2"]),
        (cond("arrayOptions", "tags", "any of", ["beta", "nope"]), ["o1", "o2"]),
        (cond("arrayOptions", "traceTags", "none of", ["prod"]), ["o4"]),
        (cond("boolean", "isRootObservation", "=", True), ["o1", "o3", "o4"]),
        (cond("boolean", "isRootObservation", "<>", True), ["o2"]),
        (cond("stringObject", "metadata", "=", "v", key="k"), ["o1"]),
        (cond("stringObject", "metadata", "matches", "x" * 250, key="long"), ["o1"]),
        (cond("numberObject", "metadata", ">", 4, key="k"), ["o4"]),
        (cond("categoryOptions", "metadata", "any of", ["v", "5"], key="k"), ["o1", "o4"]),
        (cond("string", "output", "matches", "needle"), ["o1"]),
        (cond("string", "input", "=", '{"q":"hello world"}'), ["o1"]),
        (cond("string", "environment", "=", "default"), ["o3", "o4"]),
    ]
    for condition, expected in cases:
        assert await observed(client, filter=f(condition)) == expected, condition


async def test_v2_observation_filter_conditions_combine_and_take_precedence(client):
    both = f(cond("string", "name", "=", "root"), cond("number", "latency", "<", 1))
    assert await observed(client, filter=both) == ["o4"]
    # A condition on a column replaces the simple parameter of that column, not the others.
    spans = f(cond("string", "type", "=", "SPAN"))
    assert await observed(client, type="GENERATION", filter=spans) == ["o1", "o4"]
    assert await observed(client, trace_id="t3", filter=spans) == ["o4"]


async def test_v2_observation_pages_of_a_filtered_list_end_with_no_cursor(client):
    seen, cursor = [], None
    condition = f(cond("stringOptions", "type", "any of", ["SPAN", "EVENT"]))
    for _ in range(5):
        page = await client.observations.get_many(limit=1, filter=condition, cursor=cursor)
        seen += [o.id for o in page.data]
        cursor = page.meta.cursor
        if cursor is None:
            break
    assert sorted(seen) == ["o1", "o3", "o4"] and cursor is None


async def test_v2_observation_metadata_is_cut_unless_expanded(client, collector, http):
    cut = await client.observations.get_many(trace_id="t1", name="root", fields="core,metadata")
    assert cut.data[0].metadata == {"long": "x" * 200, "short": "y", "k": "v"}
    whole = await client.observations.get_many(
        trace_id="t1", name="root", fields="metadata", expand_metadata="long,other"
    )
    assert whole.data[0].metadata["long"] == LONG
    _, raw = await get(http, collector, "/api/public/v2/observations", fields="metadata,io")
    check(load_spec(), "ObservationsV2Response", raw)


async def test_v2_observation_parameters_the_simple_filters_left_out(client, collector, http):
    with pytest.raises(api_error.ApiError) as refused:
        await client.observations.get_many(parse_io_as_json=True)
    assert refused.value.status_code == 400
    assert "parseIoAsJson" in refused.value.body["error"][0]["message"]
    assert await observed(client, parse_io_as_json=False, trace_id="t3") == ["o4"]
    # An empty parentObservationId asks for observations without a parent.
    status, body = await get(http, collector, "/api/public/v2/observations", parentObservationId="")
    assert status == 200 and ids(body["data"]) == ["o1", "o3", "o4"]
    assert await observed(client, parent_observation_id="o1") == ["o2"]
    assert await observed(client, level="ERROR") == ["o3"]
    assert await observed(client, level="DEFAULT", session_id="s1") == ["o1"]
    assert await observed(
        client,
        from_start_time=dt.datetime(2026, 8, 22, 10, 0, 1, 500000, tzinfo=dt.timezone.utc),
        to_start_time=dt.datetime(2026, 8, 22, 10, 0, 3, tzinfo=dt.timezone.utc),
    ) == ["o2", "o3"]
    assert await observed(client, environment=["production"]) == ["o1", "o2"]


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("{not json", "not valid JSON"),
        ('{"type": "string"}', "JSON array"),
        (f(cond("string", "nope", "=", "x")), "unknown column 'nope'"),
        (f(cond("string", "name", "like", "x")), "operator"),
        (f(cond("number", "latency", ">", "2")), "finite number"),
        (f(cond("string", "latency", "=", "2")), "column 'latency' takes"),
        (f(cond("datetime", "startTime", ">", "yesterday")), "ISO 8601"),
        (f(cond("stringObject", "metadata", "=", "v")), "key"),
        (f(cond("stringOptions", "name", "any of", [])), "non-empty array"),
        (f(cond("string", "name", "matches", "x")), "matches"),
        (f(cond("string", "input", "contains", "hello")), "input or output"),
        (f(cond("wat", "name", "=", "x")), "filter[0].type"),
    ],
)
async def test_v2_observation_filters_it_cannot_apply_answer_400(client, raw, says):
    with pytest.raises(api_error.ApiError) as refused:
        await client.observations.get_many(filter=raw)
    assert refused.value.status_code == 400
    [issue] = refused.value.body["error"]
    assert issue["path"] == ["filter"] and says in issue["message"]


async def test_invalid_simple_parameters_answer_400(collector, http):
    for path, params in [
        ("/api/public/v2/observations", {"level": "LOUD"}),
        ("/api/public/v2/observations", {"type": "WIDGET"}),
        ("/api/public/v2/observations", {"isRootObservation": "maybe"}),
        ("/api/public/observations", {"level": "LOUD"}),
        ("/api/public/traces", {"orderBy": "colour.asc"}),
        ("/api/public/traces", {"orderBy": "name.sideways"}),
        ("/api/public/traces", {"fields": "core,nope"}),
        ("/api/public/scores", {"operator": "~"}),
        ("/api/public/scores", {"value": "high", "operator": ">"}),
        ("/api/public/scores", {"dataType": "NOPE"}),
        ("/api/public/scores", {"source": "HUMAN"}),
        ("/api/public/scores", {"fields": "score", "userId": "u1"}),
        ("/api/public/v2/scores", {"fields": "score", "traceTags": "prod"}),
    ]:
        status, body = await get(http, collector, path, **params)
        assert status == 400, (path, params)
        assert body["message"] == "Invalid request data"
        assert body["error"][0]["path"] == [next(iter(params))], (path, params, body)


# --- legacy observations and traces, over HTTP -------------------------------------------------


async def test_v1_observation_filter_and_level(collector, http):
    spec = load_spec()
    path = "/api/public/observations"
    status, page = await get(
        http, collector, path, filter=[cond("string", "level", "=", "WARNING")]
    )
    assert status == 200 and ids(page["data"]) == ["o2"]
    check(spec, "legacyObservationsViews", page)
    assert page["meta"]["totalItems"] == 1
    _, defaults = await get(http, collector, path, level="DEFAULT")
    assert ids(defaults["data"]) == ["o1", "o4"]
    _, overridden = await get(
        http, collector, path, userId="u2", filter=[cond("string", "userId", "=", "u1")]
    )
    assert ids(overridden["data"]) == ["o1", "o2", "o4"]


async def traced(http: aiohttp.ClientSession, c: Collector, **params: Any) -> list[str]:
    status, page = await get(http, c, "/api/public/traces", **params)
    assert status == 200, page
    return [t["id"] for t in page["data"]]


async def test_trace_filters_on_trace_columns_and_aggregates(collector, http):
    cases = [
        (cond("stringObject", "metadata", "=", "gold", key="tier"), ["t1"]),
        (cond("numberObject", "metadata", ">=", 3, key="n"), ["t1"]),
        (cond("arrayOptions", "tags", "any of", ["beta"]), ["t1"]),
        (cond("arrayOptions", "tags", "none of", ["beta"]), ["t3", "t2"]),
        (cond("string", "release", "=", "r1"), ["t1"]),
        (cond("string", "environment", "=", "production"), ["t1"]),
        (cond("boolean", "public", "=", True), ["t1"]),
        (cond("boolean", "bookmarked", "=", False), ["t3", "t2", "t1"]),
        (cond("null", "sessionId", "is null"), ["t2"]),
        (cond("datetime", "timestamp", ">", "2026-08-22T10:00:01.500Z"), ["t3", "t2"]),
        (cond("number", "latency", ">", 2), ["t1"]),
        (cond("number", "totalCost", ">=", 0.2), ["t1"]),
        (cond("number", "totalTokens", "=", 15), ["t1"]),
        (cond("string", "level", "=", "ERROR"), ["t2"]),
        (cond("string", "level", "=", "WARNING"), ["t1"]),
        (cond("number", "errorCount", ">", 0), ["t2"]),
        (cond("number", "defaultCount", "=", 1), ["t3", "t1"]),
        (cond("numberObject", "scores_avg", ">=", 0.5, key="quality"), ["t1"]),
        (cond("numberObject", "scores", "<", 0.5, key="quality"), []),
        (cond("categoryOptions", "score_categories", "any of", ["calm"], key="tone"), ["t3"]),
        (cond("booleanObject", "score_booleans", "=", True, key="ok"), ["t2"]),
        (cond("booleanObject", "score_booleans", "<>", True, key="ok"), ["t3", "t1"]),
    ]
    for condition, expected in cases:
        assert await traced(http, collector, filter=[condition]) == expected, condition
    _, page = await get(http, collector, "/api/public/traces", filter=[cases[0][0]])
    check(load_spec(), "Traces", page)


async def test_trace_order_fields_and_filter_precedence(collector, http):
    assert await traced(http, collector, orderBy="name.asc") == ["t1", "t3", "t2"]
    assert await traced(http, collector, orderBy="name.desc") == ["t2", "t3", "t1"]
    assert await traced(http, collector, orderBy="timestamp.asc") == ["t1", "t2", "t3"]
    assert await traced(http, collector, orderBy="userId.desc") == ["t2", "t3", "t1"]
    user = [cond("string", "userId", "=", "u1")]
    assert await traced(http, collector, userId="u2", filter=user) == ["t3", "t1"]
    assert await traced(http, collector, name="chat", tags=["prod"]) == ["t1"]
    status, page = await get(http, collector, "/api/public/traces", fields="core")
    check(load_spec(), "Traces", page)
    first = page["data"][-1]
    assert "input" not in first and "metadata" not in first
    assert (first["observations"], first["scores"]) == ([], [])
    assert (first["latency"], first["totalCost"]) == (-1, -1)
    status, trace = await get(http, collector, "/api/public/traces/t1", fields="core,metrics,io")
    assert status == 200
    check(load_spec(), "TraceWithFullDetails", trace)
    assert (trace["observations"], trace["scores"]) == ([], [])
    assert (trace["latency"], trace["totalCost"]) == (3.0, 0.25)
    assert trace["metadata"] == {"tier": "gold", "n": 3}


# --- scores ------------------------------------------------------------------------------------


async def scored(http: aiohttp.ClientSession, c: Collector, **params: Any) -> list[str]:
    status, page = await get(http, c, "/api/public/v2/scores", **params)
    assert status == 200, page
    return ids(page["data"])


async def test_v2_score_filters(collector, http):
    assert await scored(http, collector, operator=">=", value="0.5") == ["sc1", "sc3", "sc5"]
    assert await scored(http, collector, operator="!=", value="0.9") == [
        "sc2",
        "sc3",
        "sc5",
        "sc6",
    ]
    everything = ["sc1", "sc2", "sc3", "sc4", "sc5", "sc6"]
    assert await scored(http, collector, value="0.9") == everything  # without an operator
    assert await scored(http, collector, traceTags="beta") == ["sc1", "sc2"]
    assert await scored(http, collector, traceTags=["prod", "beta"]) == ["sc1", "sc2"]
    assert await scored(http, collector, traceTags="prod,beta") == ["sc1", "sc2"]
    assert await scored(http, collector, observationId="o2,nope") == ["sc2"]
    assert await scored(http, collector, dataType="BOOLEAN") == ["sc3", "sc6"]
    assert await scored(http, collector, source="EVAL") == ["sc2"]
    assert await scored(http, collector, scoreIds="sc1,sc4") == ["sc1", "sc4"]
    assert await scored(http, collector, userId="u2", environment="default") == ["sc3", "sc6"]
    assert await scored(http, collector, userId="u1", environment="default") == ["sc4"]
    reviewer = cond("stringObject", "metadata", "=", "ann", key="reviewer")
    assert await scored(http, collector, filter=[reviewer]) == ["sc4"]
    assert await scored(http, collector, filter=[cond("number", "value", ">", 1)]) == ["sc5"]
    tags = cond("arrayOptions", "traceTags", "any of", ["beta"])
    assert await scored(http, collector, filter=[tags], name="quality") == ["sc1", "sc2"]
    _, page = await get(http, collector, "/api/public/scores", fields="score", name="ok")
    assert [s["trace"] for s in page["data"]] == [None, None]
    check(load_spec(), "GetScoresResponse", page)
    _, page = await get(http, collector, "/api/public/scores", traceTags="beta")
    check(load_spec(), "GetScoresResponse", page)


async def scored_v3(client: Any, **options: Any) -> list[str]:
    page = await client.scores.get_many(**options)
    return ids(page.data)


async def test_v3_score_lists_and_value_filters(client, collector, http):
    assert await scored_v3(client, name="quality,tone") == ["sc1", "sc2", "sc4"]
    assert await scored_v3(client, trace_id="t1,t2") == ["sc1", "sc2", "sc3", "sc6"]
    assert await scored_v3(client, source="eval") == ["sc2"]
    assert await scored_v3(client, data_type="numeric,categorical") == [
        "sc1",
        "sc2",
        "sc4",
        "sc5",
    ]
    assert await scored_v3(client, data_type="NUMERIC", value_min=0.5) == ["sc1", "sc5"]
    assert await scored_v3(client, data_type="NUMERIC", value_max=0.5) == ["sc2"]
    assert await scored_v3(client, data_type="NUMERIC", value="0.3,4") == ["sc2", "sc5"]
    assert await scored_v3(client, data_type="BOOLEAN", value="true") == ["sc3"]
    assert await scored_v3(client, data_type="CATEGORICAL", value="calm") == ["sc4"]
    assert await scored_v3(client, trace_id="t1", observation_id="o2") == ["sc2"]
    assert await scored_v3(client, session_id="s1") == ["sc5"]
    assert await scored_v3(client, id="sc3,sc4", environment="default,production") == [
        "sc3",
        "sc4",
    ]
    assert await scored_v3(client, author_user_id="someone") == []
    _, raw = await get(http, collector, "/api/public/v3/scores", name="ok", fields="subject")
    check(load_spec(), "GetScoresV3Response", raw)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"value": "1"}, "dataType"),
        ({"data_type": "NUMERIC,BOOLEAN", "value": "1"}, "dataType"),
        ({"data_type": "TEXT", "value": "x"}, "dataType"),
        ({"data_type": "BOOLEAN", "value_min": 0.5}, "NUMERIC"),
        ({"data_type": "BOOLEAN", "value": "yes"}, "true or false"),
        ({"data_type": "NUMERIC", "value": "lots"}, "finite"),
        ({"data_type": "PERCENT"}, "PERCENT"),
        ({"source": "HUMAN"}, "HUMAN"),
        ({"observation_id": "o2"}, "requires traceId"),
        ({"trace_id": "t1", "session_id": "s1"}, "mutually exclusive"),
        ({"session_id": "s1", "experiment_id": "r1"}, "mutually exclusive"),
        ({"limit": 101}, "100"),
    ],
)
async def test_v3_score_filters_it_cannot_apply_answer_400(client, options, says):
    with pytest.raises(api_error.ApiError) as refused:
        await client.scores.get_many(**options)
    assert refused.value.status_code == 400
    assert says in refused.value.body["error"][0]["message"]


async def test_session_filters(collector, http):
    path = "/api/public/sessions"
    status, page = await get(http, collector, path, environment="production")
    assert status == 200 and ids(page["data"]) == ["s1"]
    check(load_spec(), "PaginatedSessions", page)
    _, later = await get(http, collector, path, fromTimestamp="2026-08-22T10:00:02Z")
    assert ids(later["data"]) == ["s2"]
    _, earlier = await get(http, collector, path, toTimestamp="2026-08-22T10:00:02Z")
    assert ids(earlier["data"]) == ["s1"]
    _, second = await get(http, collector, path, limit=1, page=2)
    assert ids(second["data"]) == ["s1"] and second["meta"]["totalPages"] == 2


async def test_a_metadata_filter_names_every_type_it_takes(collector, http):
    wrong = [cond("number", "metadata", "=", 1, key="k")]
    status, body = await get(http, collector, "/api/public/v2/observations", filter=wrong)
    assert status == 400
    message = body["error"][0]["message"]
    assert all(kind in message for kind in ("stringObject", "numberObject", "categoryOptions"))
    keyless = [cond("null", "metadata", "is null")]
    status, body = await get(http, collector, "/api/public/traces", filter=keyless)
    assert status == 400 and "needs a key" in body["error"][0]["message"]


async def test_like_wildcards_in_a_filter_value_are_plain_characters(http):
    names = ["50%_off", "50 off", "500ff", "half_price"]
    async with Collector() as c:
        batch = [
            ev(f"e{i}", "span-create", {"id": f"s{i}", "name": name, "startTime": at(i)})
            for i, name in enumerate(names)
        ]
        async with http.post(
            c.url + "/api/public/ingestion", json={"batch": batch}, headers=AUTH
        ) as r:
            assert r.status == 207
        for condition, expected in [
            (cond("string", "name", "contains", "%_"), ["s0"]),
            (cond("string", "name", "starts with", "50%"), ["s0"]),
            (cond("string", "name", "ends with", "_price"), ["s3"]),
            (cond("string", "name", "does not contain", "_"), ["s1", "s2"]),
            (cond("string", "name", "contains", "HALF"), ["s3"]),
        ]:
            status, page = await get(http, c, "/api/public/observations", filter=[condition])
            assert status == 200 and ids(page["data"]) == expected, condition


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("[" * 5000, "not valid JSON"),
        ('[{"type": "string", "column": "name", "operator": "=", "value": "\\ud800"}]', "string"),
        (f(cond("stringObject", "metadata", "=", "v", key="\ud800")), "key"),
        # An integer literal beyond the float range (JavaScript reads it as Infinity).
        (f(cond("number", "latency", ">", 10**400)), "finite number"),
        (f(cond("numberObject", "metadata", ">", -(10**400), key="a")), "finite number"),
    ],
)
async def test_hostile_filters_answer_400_not_500(collector, http, raw, says):
    # Brackets go unencoded, so that deep nesting fits the server's 8 KiB request line.
    query = quote(raw, safe="[")
    url = yarl.URL(f"{collector.url}/api/public/v2/observations?filter={query}", encoded=True)
    async with http.get(url, headers=AUTH) as r:
        assert r.status == 400
        assert says in (await r.json())["error"][0]["message"]


async def test_a_number_beyond_64_bits_still_compares(client):
    huge = f(cond("number", "latency", "<", 10**30))
    assert await observed(client, filter=huge) == ["o1", "o2", "o4"]
