"""The collector's ingestion, scores, health and probe routes answer like the Langfuse server."""

from __future__ import annotations

import base64
import gzip
import io
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import pytest

from langfuse_async._collector import Collector

pytestmark = pytest.mark.anyio

PK, SK = "pk-lf-test", "sk-lf-test"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{PK}:{SK}".encode()).decode()}
TS = "2026-08-22T10:00:00.000000Z"


@pytest.fixture
async def collector(tmp_path) -> AsyncIterator[Collector]:
    async with Collector(db_path=tmp_path / "c.db", public_key=PK, secret_key=SK) as c:
        yield c


@pytest.fixture
async def v4(tmp_path) -> AsyncIterator[Collector]:
    async with Collector(public_key=PK, secret_key=SK, mode="v4") as c:
        yield c


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    http: aiohttp.ClientSession,
    c: Collector,
    body: Any,
    *,
    path: str = "/api/public/ingestion",
    headers: dict[str, str] | None = None,
) -> tuple[int, str, Any]:
    data = body if isinstance(body, (bytes, io.BytesIO)) else json.dumps(body).encode()
    hdrs = {"Content-Type": "application/json", **AUTH, **(headers or {})}
    async with http.post(c.url + path, data=data, headers=hdrs) as r:
        text = await r.text()
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        return r.status, r.headers.get("Content-Type", ""), parsed if parsed is not None else text


def ev(envelope_id: str, event_type: str, body: dict[str, Any], ts: str = TS) -> dict[str, Any]:
    return {"id": envelope_id, "type": event_type, "timestamp": ts, "body": body}


# --- whole-request answers ---------------------------------------------------------------------


async def test_body_over_limit_is_text_413_before_auth(collector, http):
    big = io.BytesIO(b"x" * (4_718_592 + 1))
    async with http.post(collector.url + "/api/public/ingestion", data=big) as r:
        assert r.status == 413
        assert r.headers["Content-Type"].startswith("text/plain")
        assert await r.text() == "Body exceeded 4.5mb limit"
    assert collector.requests[-1].body_size == 4_718_593


async def test_invalid_json_is_text_400(collector, http):
    status, ctype, body = await post(http, collector, b'{"batch": [')
    assert (status, body) == (400, "Invalid JSON")
    assert ctype.startswith("text/plain")


async def test_gzip_is_not_understood_on_the_ingestion_route(collector, http):
    data = gzip.compress(json.dumps({"batch": []}).encode())
    status, _, body = await post(http, collector, data, headers={"Content-Encoding": "gzip"})
    assert (status, body) == (400, "Invalid JSON")


async def test_wrong_method_is_405_json(collector, http):
    async with http.get(collector.url + "/api/public/ingestion", headers=AUTH) as r:
        assert r.status == 405
        assert await r.json() == {"error": "MethodNotAllowedError", "message": "Method not allowed"}


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "No authorization header"),
        ("Token abc", "Invalid authorization header"),
        (
            "Basic " + base64.b64encode(b"no-colon").decode(),
            "Invalid authorization header. Confirm that you've configured the correct host.",
        ),
        (
            "Basic " + base64.b64encode(f"{PK}:wrong".encode()).decode(),
            "Invalid credentials. Confirm that you've configured the correct host.",
        ),
    ],
)
async def test_auth_failures_are_401_with_server_messages(collector, http, header, message):
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Authorization"] = header
    async with http.post(
        collector.url + "/api/public/ingestion", data=b'{"batch": []}', headers=headers
    ) as r:
        assert r.status == 401
        assert await r.json() == {"error": "UnauthorizedError", "message": message}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "Invalid input: expected array, received undefined"),
        ({"batch": {"a": 1}}, "Invalid input: expected array, received object"),
        ([1], "Invalid input: expected object, received array"),
    ],
)
async def test_batch_shape_is_400_json(collector, http, body, error):
    status, _, answer = await post(http, collector, body)
    assert status == 400
    assert answer == {"message": "Invalid request data", "errors": [error]}


async def test_non_json_content_type_fails_the_batch_check(collector, http):
    status, _, answer = await post(
        http, collector, b'{"batch": []}', headers={"Content-Type": "text/plain"}
    )
    assert status == 400
    assert answer["errors"] == ["Invalid input: expected object, received string"]


async def test_empty_batch_is_an_empty_207(collector, http):
    assert await post(http, collector, {"batch": []}) == (
        207,
        "application/json; charset=utf-8",
        {"successes": [], "errors": []},
    )


# --- per-event answers -------------------------------------------------------------------------


async def test_successes_sorted_like_the_server_and_sdk_log_absent(collector, http):
    batch = [
        ev("u1", "span-update", {"id": "s1", "output": "done"}, "2026-08-22T10:00:00Z"),
        ev("c2", "span-create", {"id": "s2", "traceId": "t"}, "2026-08-22T10:00:02Z"),
        ev("log", "sdk-log", {"log": {"msg": "hello"}}, "2026-08-22T10:00:00Z"),
        ev("c1", "span-create", {"id": "s1", "traceId": "t"}, "2026-08-22T10:00:01Z"),
        ev("t0", "trace-create", {"id": "t"}, "2026-08-22T11:00:03+02:00"),
    ]
    status, _, answer = await post(http, collector, {"batch": batch})
    assert status == 207
    # Creates first by time (t0 is 09:00:03 UTC), then updates.
    assert [s["id"] for s in answer["successes"]] == ["t0", "c1", "c2", "u1"]
    assert all(s["status"] == 201 for s in answer["successes"])
    assert answer["errors"] == []


async def test_validation_errors_carry_the_zod_message(collector, http):
    batch = [
        ev("ok", "span-create", {"id": "s1"}),
        {
            "id": "naive",
            "type": "span-create",
            "timestamp": "2026-08-22T10:00:00",
            "body": {"id": "x"},
        },
        ev("noid", "span-create", {"name": "no id"}),
        ev("lvl", "event-create", {"id": "e", "level": "INFO"}),
        ev("usage", "generation-create", {"id": "g", "usage": {"input": 1.5}}),
        {"type": "trace-create", "timestamp": TS, "body": {}},
        ev("kind", "thing-create", {}),
        "not an object",
    ]
    status, _, answer = await post(http, collector, {"batch": batch})
    assert status == 207
    assert [s["id"] for s in answer["successes"]] == ["ok"]
    errors = {e["id"]: e for e in answer["errors"] if e["id"] != "unknown"}
    assert all(
        e["status"] == 400 and e["message"] == "Invalid request data" for e in errors.values()
    )
    naive = json.loads(errors["naive"]["error"])
    assert naive[0]["code"] == "invalid_format" and naive[0]["path"] == ["timestamp"]
    assert naive[0]["message"] == "Invalid ISO datetime"
    assert json.loads(errors["noid"]["error"]) == [
        {
            "expected": "string",
            "code": "invalid_type",
            "path": ["body", "id"],
            "message": "Invalid input: expected string, received undefined",
        }
    ]
    level = json.loads(errors["lvl"]["error"])[0]
    assert level["code"] == "invalid_value"
    assert level["message"] == 'Invalid option: expected one of "DEBUG"|"DEFAULT"|"WARNING"|"ERROR"'
    usage = json.loads(errors["usage"]["error"])[0]
    assert usage["path"] == ["body", "usage", "input"]
    assert usage["message"] == "Invalid input: expected int, received number"
    kind = json.loads(errors["kind"]["error"])[0]
    assert kind["note"] == "No matching discriminator" and kind["path"] == ["type"]
    # An event without a string id (or not an object at all) is reported as "unknown".
    assert [e["id"] for e in answer["errors"]].count("unknown") == 2
    # The error string is the pretty-printed issue list, as zod's message is.
    assert errors["noid"]["error"].startswith("[\n  {\n    ")


@pytest.mark.parametrize(
    "timestamp",
    ["2026-08-22T10:00Z", "2026-08-22T10:00:00.123456789+05:30", "2024-02-29T00:00:00Z"],
)
async def test_timestamps_the_server_accepts(collector, http, timestamp):
    _, _, answer = await post(
        http, collector, {"batch": [ev("e", "span-create", {"id": "s"}, timestamp)]}
    )
    assert answer["errors"] == []


@pytest.mark.parametrize(
    "timestamp",
    [
        "2026-08-22T10:00:00+0000",
        "2026-08-22 10:00:00Z",
        "2026-08-22T10:00:00z",
        "2025-02-29T00:00:00Z",
    ],
)
async def test_timestamps_the_server_rejects(collector, http, timestamp):
    _, _, answer = await post(
        http, collector, {"batch": [ev("e", "span-create", {"id": "s"}, timestamp)]}
    )
    assert [e["id"] for e in answer["errors"]] == ["e"]


async def test_score_rules(collector, http):
    batch = [
        ev("num", "score-create", {"id": "a", "traceId": "t", "name": "n", "value": 0.5}),
        ev(
            "nulltype",
            "score-create",
            {"id": "b", "traceId": "t", "name": "n", "value": 1, "dataType": None},
        ),
        ev(
            "bool",
            "score-create",
            {"id": "c", "traceId": "t", "name": "n", "value": 2, "dataType": "BOOLEAN"},
        ),
        ev(
            "both",
            "score-create",
            {"id": "d", "traceId": "t", "sessionId": "s", "name": "n", "value": 1},
        ),
        ev(
            "obs",
            "score-create",
            {"id": "e", "sessionId": "s", "observationId": "o", "name": "n", "value": 1},
        ),
        ev(
            "text",
            "score-create",
            {"id": "f", "traceId": "t", "name": "n", "value": "", "dataType": "TEXT"},
        ),
        ev("cat", "score-create", {"id": "g", "traceId": "t", "name": "n", "value": "good"}),
        ev("noname", "score-create", {"id": "h", "traceId": "t", "value": 1}),
    ]
    _, _, answer = await post(http, collector, {"batch": batch})
    assert sorted(s["id"] for s in answer["successes"]) == ["cat", "num"]
    errors = {e["id"]: json.loads(e["error"]) for e in answer["errors"]}
    assert errors["nulltype"][0]["discriminator"] == "dataType"
    assert errors["bool"][0]["message"] == (
        "Value must be a number equal to either 0 or 1 for data type BOOLEAN"
    )
    assert errors["both"][0]["path"] == [
        "body",
        "traceId",
        "sessionId",
        "datasetRunId",
        "observationId",
    ]
    assert errors["obs"][0]["code"] == "custom"
    assert errors["text"][0]["code"] == "too_small"
    assert errors["noname"][0]["path"] == ["body", "name"]
    [categorical] = [s for s in await collector.scores() if s.id == "g"]
    assert (categorical.data_type, categorical.value) == ("CATEGORICAL", "good")


async def test_bodies_without_id_answer_201_but_store_nothing(collector, http):
    batch = [
        ev("tr", "trace-create", {"name": "anonymous"}),
        ev("sc", "score-create", {"traceId": "t", "name": "n", "value": 1}),
    ]
    _, _, answer = await post(http, collector, {"batch": batch})
    assert sorted(s["id"] for s in answer["successes"]) == ["sc", "tr"]
    assert await collector.traces() == []
    assert await collector.scores() == []


async def test_bearer_public_key_may_only_send_scores(collector, http):
    batch = [
        ev("s", "score-create", {"id": "x", "traceId": "t", "name": "n", "value": 1}),
        ev("t", "trace-create", {"id": "t"}),
    ]
    _, _, answer = await post(
        http, collector, {"batch": batch}, headers={"Authorization": f"Bearer {PK}"}
    )
    assert [s["id"] for s in answer["successes"]] == ["s"]
    assert answer["errors"] == [
        {
            "id": "t",
            "status": 401,
            "message": "Authentication error",
            "error": "Access Scope Denied",
        }
    ]


async def test_dataset_run_items_are_refused(collector, http):
    _, _, answer = await post(http, collector, {"batch": [ev("d", "dataset-run-item-create", {})]})
    assert (
        answer["errors"][0]["error"]
        == "Dataset run item creation is only allowed for internal usage"
    )


async def test_environment_is_normalised_never_rejected(collector, http):
    batch = [
        ev("a", "trace-create", {"id": "t1", "environment": "Langfuse-Prod"}),
        ev("b", "trace-create", {"id": "t2", "environment": "has space"}),
    ]
    _, _, answer = await post(http, collector, {"batch": batch})
    assert answer["errors"] == []
    environments = {t.id: t.environment for t in await collector.traces()}
    assert environments == {"t1": "prod", "t2": "default"}


# --- storage -----------------------------------------------------------------------------------


async def test_merge_later_wins_metadata_merged_tags_unioned(collector, http):
    batch = [
        ev(
            "1",
            "trace-create",
            {"id": "t", "name": "first", "tags": ["b"], "metadata": {"a": {"x": 1}}},
            "2026-08-22T10:00:00Z",
        ),
        ev(
            "2",
            "trace-create",
            {"id": "t", "name": "second", "tags": ["a", "b"], "metadata": {"a": {"y": 2}}},
            "2026-08-22T10:00:01Z",
        ),
        # An older event arriving late does not win.
        ev(
            "0",
            "trace-create",
            {"id": "t", "name": "zeroth", "userId": "u"},
            "2026-08-22T09:00:00Z",
        ),
    ]
    await post(http, collector, {"batch": batch})
    [trace] = await collector.traces()
    assert trace.name == "second"
    assert trace.user_id == "u"
    assert trace.tags == ("a", "b")
    assert trace.metadata == {"a": {"x": 1, "y": 2}}
    assert trace.timestamp == "2026-08-22T10:00:01.000Z" or trace.timestamp.startswith(
        "2026-08-22T"
    )


async def test_create_wins_ordering_on_equal_timestamps(collector, http):
    # The update arrives first with the same timestamp: the create is still applied first.
    batch = [
        ev("u", "generation-update", {"id": "g", "model": "updated", "usageDetails": {"input": 3}}),
        ev(
            "c", "generation-create", {"id": "g", "traceId": "t", "model": "created", "name": "gen"}
        ),
    ]
    await post(http, collector, {"batch": batch})
    [generation] = await collector.observations()
    assert (generation.model, generation.name, generation.type) == ("updated", "gen", "GENERATION")
    assert generation.usage_details == {"input": 3, "total": 3}


async def test_retried_batch_is_deduplicated_by_envelope_id(collector, http):
    batch = {
        "batch": [ev("same", "span-create", {"id": "s", "traceId": "t", "metadata": {"n": 1}})]
    }
    await post(http, collector, batch)
    await post(http, collector, batch)
    assert collector.event_count == 1
    assert [o.id for o in await collector.observations()] == ["s"]
    count = await collector._store.run(lambda s: s.event_count())  # type: ignore[union-attr]
    assert count == 1


async def test_deprecated_usage_becomes_usage_and_cost_details(collector, http):
    body = {
        "id": "g",
        "usage": {"promptTokens": 10, "completionTokens": 5, "totalTokens": 15},
        "costDetails": {"total": 0.5, "bad": -1, "text": "x"},
        "usageDetails": None,
    }
    await post(http, collector, {"batch": [ev("e", "generation-create", body)]})
    [generation] = await collector.observations()
    assert generation.usage_details == {"input": 10, "output": 5, "total": 15}
    assert generation.cost_details == {"total": 0.5}


async def test_openai_usage_details_are_flattened(collector, http):
    usage = {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 4},
    }
    await post(
        http,
        collector,
        {"batch": [ev("e", "generation-create", {"id": "g", "usageDetails": usage})]},
    )
    [generation] = await collector.observations()
    assert generation.usage_details == {
        "input": 6,
        "output": 5,
        "total": 15,
        "input_cached_tokens": 4,
    }


async def test_concurrent_writers_lose_nothing(collector, http):
    async def send(i: int) -> None:
        batch = [
            ev(f"e{i}-{j}", "span-create", {"id": f"s{i}-{j}", "traceId": "t"}) for j in range(10)
        ]
        status, _, answer = await post(http, collector, {"batch": batch})
        assert status == 207 and len(answer["successes"]) == 10

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(send, i)
    await collector.wait_for_events(200, timeout=10)
    assert len(await collector.observations()) == 200


async def test_data_survives_a_restart(tmp_path, http):
    async with Collector(db_path=tmp_path / "keep.db", public_key=PK, secret_key=SK) as c:
        await post(http, c, {"batch": [ev("1", "trace-create", {"id": "t", "name": "kept"})]})
    async with Collector(db_path=tmp_path / "keep.db", public_key=PK, secret_key=SK) as c:
        await post(
            http,
            c,
            {
                "batch": [
                    ev("2", "trace-create", {"id": "t", "userId": "u"}, "2026-08-22T10:00:01Z")
                ]
            },
        )
        [trace] = await c.traces()
    assert (trace.name, trace.user_id) == ("kept", "u")


# --- v4 events_only mode -----------------------------------------------------------------------


async def test_v4_accepts_only_scores_and_logs(v4, http):
    batch = [
        ev("t", "trace-create", {"id": "t"}),
        ev("s", "score-create", {"id": "x", "traceId": "t", "name": "n", "value": 1}),
        ev("l", "sdk-log", {"log": "x"}),
        ev("bad", "score-create", {"id": "y", "name": "n"}),
    ]
    status, _, answer = await post(http, v4, {"batch": batch})
    assert status == 207
    assert [s["id"] for s in answer["successes"]] == ["s"]
    # Validation errors come first, then the events_only rejections.
    assert [e["id"] for e in answer["errors"]] == ["bad", "t"]
    rejection = answer["errors"][1]
    assert rejection["status"] == 400 and rejection["message"] == "Event type not accepted"
    assert rejection["error"].startswith(
        'Event type "trace-create" is not accepted by /api/public/ingestion when '
        "LANGFUSE_MIGRATION_V4_WRITE_MODE is events_only."
    )
    assert await v4.traces() == []
    assert [s.id for s in await v4.scores()] == ["x"]


# --- scores, health, probes --------------------------------------------------------------------


async def test_post_scores_route(collector, http):
    status, _, answer = await post(
        http,
        collector,
        {"traceId": "t", "name": "quality", "value": 1, "dataType": "BOOLEAN"},
        path="/api/public/scores",
    )
    assert status == 200
    [score] = await collector.scores()
    assert answer == {"id": score.id}
    assert (score.name, score.value, score.data_type) == ("quality", 1, "BOOLEAN")
    status, _, answer = await post(http, collector, {"traceId": "t"}, path="/api/public/scores")
    assert status == 400
    assert answer["message"] == "Invalid request data"
    assert answer["error"][0]["path"] == ["name"]


@pytest.mark.parametrize(("mode", "version"), [("v3", "3.225.4"), ("v4", "4.16.0")])
async def test_health_and_ready(http, mode, version):
    async with Collector(mode=mode) as c:
        for path in ("/api/public/health", "/api/public/ready"):
            async with http.get(c.url + path) as r:
                assert r.status == 200
                assert await r.json() == {"status": "OK", "version": version}


async def test_auto_mode_probe(collector, v4, http):
    async with http.get(collector.url + "/api/public/traces?limit=1") as r:
        assert r.status == 401
        assert await r.json() == {"message": "No authorization header"}
    async with http.get(v4.url + "/api/public/traces?limit=1") as r:
        assert r.status == 404
        message = (await r.json())["message"]
        assert message.startswith(
            "This endpoint is not available on deployments running in Langfuse v4 events_only mode."
        )


async def test_unknown_path_is_404(collector, http):
    async with http.get(collector.url + "/api/public/nothing-here") as r:
        assert r.status == 404


# --- binding -----------------------------------------------------------------------------------


def test_refuses_non_loopback_host():
    with pytest.raises(ValueError, match="allow_remote"):
        Collector(host="0.0.0.0")
    with pytest.raises(ValueError, match="mode"):
        Collector(mode="v5")  # type: ignore[arg-type]


async def test_remote_bind_allowed_explicitly_with_a_warning(caplog):
    caplog.set_level(logging.WARNING, logger="langfuse_async")
    async with Collector(host="0.0.0.0", allow_remote=True) as c:
        assert c.port > 0
    assert any("development server" in r.getMessage() for r in caplog.records)


# --- review of issue 5: edge cases the server answers without failing ---------------------------


@pytest.mark.parametrize(
    ("timestamp", "stored"),
    [
        # JavaScript dates cover these; the stored form is Date.toISOString().
        ("0000-01-01T00:00:00Z", "0000-01-01T00:00:00.000Z"),
        ("0000-01-01T00:30:00+01:00", "-000001-12-31T23:30:00.000Z"),
        ("9999-12-31T23:59:59.5-23:59", "+010000-01-01T23:58:59.500Z"),
    ],
)
async def test_timestamps_outside_python_dates_are_stored_like_javascript(
    collector, http, timestamp, stored
):
    batch = [ev("e", "trace-create", {"id": "t", "timestamp": timestamp}, timestamp)]
    status, _, answer = await post(http, collector, {"batch": batch})
    assert (status, answer) == (207, {"successes": [{"id": "e", "status": 201}], "errors": []})
    [trace] = await collector.traces()
    assert trace.timestamp == stored


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


async def test_deeply_nested_json_is_refused_as_invalid_json_not_a_500(collector, http):
    deep = b'{"batch": [{"metadata": ' + b"[" * 5000 + b"]" * 5000 + b"}]}"
    status, ctype, body = await post(http, collector, deep)
    assert (status, body) == (400, "Invalid JSON")
    assert ctype.startswith("text/plain")
    # Nesting well within the limit is stored, merged and read back.
    batch = [
        ev("1", "trace-create", {"id": "t", "metadata": nested(400)}, "2026-08-22T10:00:00Z"),
        ev("2", "trace-create", {"id": "t", "metadata": nested(400)}, "2026-08-22T10:00:01Z"),
    ]
    status, _, answer = await post(http, collector, {"batch": batch})
    assert (status, len(answer["successes"])) == (207, 2)
    [trace] = await collector.traces()
    assert trace.metadata == nested(400)
    async with http.get(collector.url + "/api/public/traces/t", headers=AUTH) as r:
        assert r.status == 200
        assert (await r.json())["metadata"] == nested(400)


async def test_integers_beyond_the_safe_range_fail_like_zod_int(collector, http):
    big = 2**53
    batch = [
        ev("usage", "generation-create", {"id": "g1", "usage": {"input": big}}),
        ev("prompt", "generation-create", {"id": "g2", "promptName": "p", "promptVersion": big}),
        ev("ok", "generation-create", {"id": "g3", "usage": {"input": big - 1}}),
        # In the free usageDetails record an unsafe count is dropped, not an error.
        ev("details", "generation-create", {"id": "g4", "usageDetails": {"a": big, "b": 3}}),
    ]
    _, _, answer = await post(http, collector, {"batch": batch})
    assert sorted(s["id"] for s in answer["successes"]) == ["details", "ok"]
    errors = {e["id"]: json.loads(e["error"])[0] for e in answer["errors"]}
    assert errors["usage"]["path"] == ["body", "usage", "input"]
    assert errors["usage"]["code"] == "too_big"
    assert errors["usage"]["maximum"] == big - 1
    assert errors["prompt"]["path"] == ["body", "promptVersion"]
    by_id = {o.id: o for o in await collector.observations()}
    assert by_id["g3"].usage_details == {"input": big - 1, "total": big - 1}
    assert by_id["g4"].usage_details == {"b": 3, "total": 3}


async def test_body_is_decoded_like_next_body_parser(collector, http):
    event = ev("e", "trace-create", {"id": "t", "name": "NAME"})
    raw = json.dumps({"batch": [event]}).encode()
    # A UTF-8 byte order mark is dropped before parsing.
    status, _, answer = await post(http, collector, b"\xef\xbb\xbf" + raw)
    assert (status, answer["errors"]) == (207, [])
    # Bytes that are not UTF-8 become U+FFFD instead of failing the request.
    status, _, answer = await post(http, collector, raw.replace(b"NAME", b"caf\xe9"))
    assert (status, answer["errors"]) == (207, [])
    [trace] = await collector.traces()
    assert trace.name == "caf\ufffd"
    # The declared charset is honoured; an unknown one is a text 400 "Invalid body".
    utf16 = json.dumps({"batch": [ev("f", "trace-create", {"id": "u"})]}).encode("utf-16")
    status, _, answer = await post(
        http, collector, utf16, headers={"Content-Type": "application/json; charset=utf-16"}
    )
    assert (status, answer["successes"]) == (207, [{"id": "f", "status": 201}])
    status, ctype, body = await post(
        http, collector, raw, headers={"Content-Type": "application/json; charset=klingon"}
    )
    assert (status, body) == (400, "Invalid body")
    assert ctype.startswith("text/plain")


async def test_form_bodies_repeat_keys_into_arrays_like_querystring(collector, http):
    status, _, answer = await post(
        http,
        collector,
        b"batch=a&batch=b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 207
    assert [json.loads(e["error"])[0]["message"] for e in answer["errors"]] == [
        "Invalid input: expected object, received string"
    ] * 2


async def test_failed_start_leaves_no_store_thread_behind(tmp_path):
    import sqlite3
    import threading

    def store_threads() -> int:
        return sum(t.name.startswith("langfuse-collector-db") for t in threading.enumerate())

    before = store_threads()
    # The raised exception keeps the failed start's frames (and its store) alive, so a
    # thread still running here was left behind, not merely not yet collected.
    with pytest.raises(sqlite3.OperationalError) as bad_db:
        await Collector(db_path=tmp_path / "missing-dir" / "c.db").start()
    assert store_threads() == before, bad_db
    async with Collector() as running:
        with pytest.raises(OSError) as port_taken:
            await Collector(port=running.port).start()
        assert store_threads() == before + 1, port_taken


async def test_id_name_prompt_and_score_limits(collector, http):
    score = {"traceId": "t", "name": "n"}
    batch = [
        ev("x" * 801, "span-create", {"id": "s1"}),
        ev("x" * 800, "span-create", {"id": "s2"}),
        ev("cr", "span-create", {"id": "a\rb"}),
        ev("name", "trace-create", {"id": "t1", "name": "n" * 1001}),
        ev("name-ok", "trace-create", {"id": "t2", "name": "n" * 1000}),
        ev("prompt", "generation-create", {"id": "g1", "promptName": "p"}),
        # A version of 0 counts as absent, so it pairs with no name.
        ev("prompt-0", "generation-create", {"id": "g2", "promptVersion": 0}),
        ev("legacy", "observation-create", {"id": "o", "type": "TOOL"}),
        ev("text", "score-create", {**score, "id": "s", "value": "v" * 501, "dataType": "TEXT"}),
        ev(
            "run-obs",
            "score-create",
            {"id": "r", "name": "n", "value": 1, "datasetRunId": "d", "observationId": "o"},
        ),
        ev(
            "correction",
            "score-create",
            {**score, "id": "c", "value": "x", "dataType": "CORRECTION", "configId": "k"},
        ),
    ]
    _, _, answer = await post(http, collector, {"batch": batch})
    assert sorted(s["id"] for s in answer["successes"]) == ["name-ok", "prompt-0", "x" * 800]
    errors = {e["id"]: json.loads(e["error"])[0] for e in answer["errors"]}
    assert set(errors) == {
        "x" * 801,
        "cr",
        "name",
        "prompt",
        "legacy",
        "text",
        "run-obs",
        "correction",
    }
    assert (errors["x" * 801]["code"], errors["x" * 801]["path"]) == ("too_big", ["id"])
    assert errors["cr"]["message"] == "ID cannot contain carriage return characters"
    assert (errors["name"]["code"], errors["name"]["maximum"]) == ("too_big", 1000)
    assert (errors["prompt"]["code"], errors["prompt"]["path"]) == ("custom", ["body"])
    assert errors["legacy"]["path"] == ["body", "type"]
    assert (errors["text"]["code"], errors["text"]["maximum"]) == ("too_big", 500)
    assert errors["run-obs"]["code"] == "custom"
    assert errors["correction"]["path"] == ["body", "configId"]


@pytest.mark.parametrize("route", ["/api/public/ingestion", "/api/public/otel/v1/traces"])
async def test_a_body_cut_short_is_one_log_line_not_a_traceback(collector, caplog, route):
    caplog.set_level(logging.DEBUG)
    head = f"POST {route} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    for request in (
        head + 'Content-Length: 1000\r\n\r\n{"batch"',
        head + "Transfer-Encoding: chunked\r\n\r\n5\r\nab",
    ):
        async with await anyio.connect_tcp("127.0.0.1", collector.port) as stream:
            await stream.send(request.encode())
        # Gone mid-body: the request is still recorded, with what arrived.
    recorded = await collector.wait_for_requests(2)
    assert [r.body for r in recorded] == [b'{"batch"', b"ab"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [r for r in caplog.records if r.exc_info]


async def test_lone_surrogate_escapes_parse_like_json_parse(collector, http):
    # JSON.stringify writes half of a split emoji as "\ud83d"; JSON.parse takes it back and the
    # stored UTF-8 text holds U+FFFD in its place.
    raw = (
        b'{"batch": [{"id": "e", "type": "trace-create", "timestamp": "2026-08-22T10:00:00Z",'
        b' "body": {"id": "t", "name": "cut \\ud83d",'
        b' "metadata": {"k\\udc00": "\\ud83d\\ude00"}}}]}'
    )
    status, _, answer = await post(http, collector, raw)
    assert (status, answer["errors"]) == (207, [])
    [trace] = await collector.traces()
    assert trace.name == "cut \ufffd"
    assert trace.metadata == {"k\ufffd": "\U0001f600"}
    # JSON.parse has no NaN or Infinity literals.
    status, _, body = await post(http, collector, b'{"batch": [], "metadata": NaN, "x": "\\ud800"}')
    assert (status, body) == (400, "Invalid JSON")


async def test_an_internal_error_has_the_routes_500_shape(collector, http, monkeypatch, caplog):
    from langfuse_async._collector import _otlp_prepare, _writes

    def broken(event: object) -> Any:
        raise RuntimeError("a collector bug")

    monkeypatch.setattr(_writes, "validate_event", broken)  # batches
    monkeypatch.setattr(_otlp_prepare, "validate_event", broken)  # OTLP exports
    caplog.set_level(logging.CRITICAL, logger="langfuse_async")
    batch = {"batch": [ev("e", "trace-create", {"id": "t"})]}
    # The ingestion route's catch-all answers in its 400 shape, with status 500.
    assert await post(http, collector, batch) == (
        500,
        "application/json; charset=utf-8",
        {"message": "Invalid request data", "errors": ["Internal Server Error"]},
    )
    export = {
        "resourceSpans": [
            {"scopeSpans": [{"spans": [{"traceId": "a" * 32, "spanId": "b" * 16, "name": "s"}]}]}
        ]
    }
    status, _, answer = await post(http, collector, export, path="/api/public/otel/v1/traces")
    assert (status, answer) == (
        500,
        {"message": "Internal Server Error", "error": "InternalServerError"},
    )
