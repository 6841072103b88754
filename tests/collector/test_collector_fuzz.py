"""Hypothesis throws malformed requests at the collector: every answer is one the server gives.

Client mistakes are answered with the server's statuses and bodies (a 207 with per-event
errors, a text or JSON 400, a 200 for an OTLP export, a 404 for a missing entity), never a 500
or a stack trace, and whatever a 207 accepted can be read back. One collector per mode serves
every example, on an event loop of its own thread, so hundreds of requests take a few seconds.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from langfuse_async._collector import Collector

T = TypeVar("T")

PK, SK = "pk-lf-fuzz", "sk-lf-fuzz"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{PK}:{SK}".encode()).decode()}
FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI stays reproducible
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Harness:
    """A collector and an HTTP session living on an event loop in a background thread."""

    def __init__(self, mode: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.collector = Collector(public_key=PK, secret_key=SK, mode=mode)  # type: ignore[arg-type]
        self.session: aiohttp.ClientSession | None = None
        self.run(self._start())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    async def _start(self) -> None:
        await self.collector.start()
        self.session = aiohttp.ClientSession()

    async def _request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, str, bytes]:
        assert self.session is not None
        async with self.session.request(
            method, self.collector.url + path, data=body, headers=headers
        ) as r:
            return r.status, r.headers.get("Content-Type", ""), await r.read()

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str, bytes]:
        return self.run(self._request(method, path, body, {**AUTH, **(headers or {})}))

    async def _close(self) -> None:
        assert self.session is not None
        await self.session.close()
        await self.collector.aclose()

    def close(self) -> None:
        self.run(self._close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


@pytest.fixture(scope="module")
def v3() -> Iterator[Harness]:
    harness = Harness("v3")
    yield harness
    harness.close()


@pytest.fixture(scope="module")
def v4() -> Iterator[Harness]:
    harness = Harness("v4")
    yield harness
    harness.close()


# --- strategies ------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
timestamps = st.sampled_from(
    [
        "2026-08-22T10:00:00Z",
        "2026-08-22T10:00:00.123456+05:30",
        "2026-08-22T10:00Z",
        "2026-08-22T10:00:00",
        "2026-08-22 10:00:00Z",
        "2026-08-22T10:00:00+0000",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999-23:59",
        "2025-02-29T00:00:00Z",
        "",
    ]
) | st.text(max_size=25)
event_types = st.sampled_from(
    [
        "trace-create",
        "span-create",
        "span-update",
        "generation-create",
        "generation-update",
        "event-create",
        "agent-create",
        "tool-create",
        "score-create",
        "sdk-log",
        "observation-create",
        "observation-update",
        "dataset-run-item-create",
        "thing-create",
    ]
) | st.text(max_size=10)
special_values = st.sampled_from(
    [
        "",
        "\r",
        "x" * 801,
        "x" * 1001,
        2**53,
        -1,
        0,
        1,
        1.5,
        "DEBUG",
        "INFO",
        "NUMERIC",
        "BOOLEAN",
        "TEXT",
        "CATEGORICAL",
        "CORRECTION",
        "GENERATION",
        "Langfuse-Prod",
        {"input": 1, "output": 2},
        {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
        {"promptTokens": 1.5},
        ["a", "b"],
        {"a": {"b": 1}},
    ]
)
field_names = st.sampled_from(
    [
        "id",
        "traceId",
        "name",
        "timestamp",
        "startTime",
        "endTime",
        "completionStartTime",
        "input",
        "output",
        "metadata",
        "tags",
        "public",
        "level",
        "statusMessage",
        "parentObservationId",
        "version",
        "release",
        "environment",
        "userId",
        "sessionId",
        "model",
        "modelParameters",
        "usage",
        "usageDetails",
        "costDetails",
        "promptName",
        "promptVersion",
        "value",
        "dataType",
        "observationId",
        "datasetRunId",
        "comment",
        "configId",
        "source",
        "type",
        "log",
    ]
)
field_values = json_values | special_values | timestamps
bodies = st.dictionaries(field_names, field_values, max_size=8) | json_values
valid_timestamps = st.sampled_from(
    [
        "2026-08-22T10:00:00Z",
        "2026-08-22T10:00:00.5Z",
        "2026-08-22T12:00:00+02:00",
        "2026-08-22T10:00:01.123456Z",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59-23:59",
    ]
)
small_ids = st.sampled_from(["a", "b", "c"])
numbers = st.integers(min_value=-5, max_value=2**60) | st.floats(
    allow_nan=False, allow_infinity=False
)
# Mostly valid bodies, so many events get through validation into storage and merging.
plausible_bodies = st.fixed_dictionaries(
    {"id": small_ids},
    optional={
        "traceId": small_ids,
        "name": st.text(max_size=8),
        "timestamp": valid_timestamps,
        "startTime": valid_timestamps,
        "endTime": valid_timestamps,
        "completionStartTime": valid_timestamps,
        "metadata": json_values,
        "input": json_values,
        "output": json_values,
        "tags": st.lists(st.text(max_size=4), max_size=3),
        "public": st.booleans(),
        "level": st.sampled_from(["DEBUG", "DEFAULT", "WARNING", "ERROR"]),
        "environment": st.text(max_size=8) | st.sampled_from(["langfuse_langfuse-x", "Prod"]),
        "userId": st.text(max_size=4),
        "sessionId": small_ids,
        "parentObservationId": small_ids,
        "model": st.text(max_size=6),
        "modelParameters": st.dictionaries(st.text(max_size=4), json_values, max_size=3),
        "usage": st.dictionaries(
            st.sampled_from(["input", "output", "total", "promptTokens", "unit", "totalCost"]),
            numbers,
            max_size=3,
        ),
        "usageDetails": st.dictionaries(
            st.text(max_size=6), numbers | st.text(max_size=4), max_size=3
        ),
        "costDetails": st.dictionaries(st.text(max_size=6), numbers | json_values, max_size=3),
        "promptName": st.text(max_size=4),
        "promptVersion": st.integers(min_value=0, max_value=3),
        "value": numbers | st.text(max_size=5),
        "dataType": st.sampled_from(["NUMERIC", "BOOLEAN", "CATEGORICAL", "TEXT", "CORRECTION"]),
        "observationId": small_ids,
        "comment": st.none() | st.text(max_size=5),
        "log": json_values,
    },
)
plausible_events = st.fixed_dictionaries(
    {
        "id": st.text(min_size=1, max_size=6),
        "type": st.sampled_from(
            [
                "trace-create",
                "span-create",
                "span-update",
                "generation-create",
                "generation-update",
                "event-create",
                "tool-create",
                "score-create",
                "sdk-log",
                "observation-create",
                "observation-update",
            ]
        ),
        "timestamp": valid_timestamps,
        "body": plausible_bodies,
    }
)
wild_events = (
    st.fixed_dictionaries(
        {},
        optional={
            "id": st.sampled_from(["e1", "e2", "e3"]) | st.text(max_size=6) | json_values,
            "type": event_types,
            "timestamp": timestamps | json_values,
            "body": bodies,
            "metadata": json_values,
        },
    )
    | json_values
)
events = (
    plausible_events | plausible_events.map(lambda e: {**e, "type": "score-create"}) | wild_events
)
batches = st.fixed_dictionaries(
    {"batch": st.lists(events, max_size=6)}, optional={"metadata": json_values}
)


def encoded(documents: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """Bodies: the documents as JSON, cut short, with stray bytes, or raw bytes."""
    as_json = documents.map(lambda d: json.dumps(d).encode())
    return st.one_of(
        as_json,
        st.tuples(as_json, st.integers(min_value=0, max_value=60)).map(lambda p: p[0][: p[1]]),
        st.tuples(as_json, st.binary(min_size=1, max_size=4)).map(lambda p: p[1] + p[0]),
        # Half an emoji as JSON.stringify writes it, at the start of the first string.
        as_json.map(lambda b: b.replace(b'"', b'"\\ud83d', 1)),
        st.binary(max_size=80),
        json_values.map(lambda d: json.dumps(d).encode()),
    )


content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=latin-1",
        "application/json; charset=nope",
        "application/ld+json",
        "application/x-www-form-urlencoded",
        "text/plain",
        "",
    ]
)


def no_stack_trace(body: bytes) -> None:
    assert b"Traceback" not in body and b'File "' not in body


# --- ingestion and scores --------------------------------------------------------------------


def check_ingestion_answer(status: int, ctype: str, body: bytes, sent: Any) -> None:
    no_stack_trace(body)
    assert status in (207, 400), (status, body)
    if status == 400 and ctype.startswith("text/plain"):
        assert body in (b"Invalid JSON", b"Invalid body")
        return
    answer = json.loads(body)
    if status == 400:
        assert answer["message"] == "Invalid request data"
        assert all(isinstance(e, str) for e in answer["errors"])
        return
    assert set(answer) == {"successes", "errors"}
    assert all(s["status"] == 201 and isinstance(s["id"], str) for s in answer["successes"])
    for error in answer["errors"]:
        assert error["status"] == 400 and isinstance(error["id"], str)
        assert isinstance(error["message"], str) and isinstance(error["error"], str)
    if isinstance(sent, dict) and isinstance(sent.get("batch"), list):
        answered = len(answer["successes"]) + len(answer["errors"])
        logs = sum(isinstance(e, dict) and e.get("type") == "sdk-log" for e in sent["batch"])
        assert len(sent["batch"]) - logs <= answered <= len(sent["batch"])


@FUZZ
@given(document=batches)
def test_fuzzed_batches_get_server_answers(v3, document):
    status, ctype, body = v3.request(
        "POST",
        "/api/public/ingestion",
        json.dumps(document).encode(),
        {"Content-Type": "application/json"},
    )
    check_ingestion_answer(status, ctype, body, document)
    if status == 207 and json.loads(body)["successes"]:
        # What was accepted reads back through the API.
        for path in ("/api/public/traces?limit=5", "/api/public/observations?limit=5"):
            read_status, _, read_body = v3.request("GET", path)
            assert read_status == 200, read_body


@FUZZ
@given(body=encoded(batches), content_type=content_types)
def test_fuzzed_bytes_get_server_answers(v3, body, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    status, ctype, answer = v3.request("POST", "/api/public/ingestion", body, headers)
    check_ingestion_answer(status, ctype, answer, None)


@FUZZ
@given(document=batches)
def test_fuzzed_batches_in_v4_mode(v4, document):
    status, ctype, body = v4.request(
        "POST",
        "/api/public/ingestion",
        json.dumps(document).encode(),
        {"Content-Type": "application/json"},
    )
    check_ingestion_answer(status, ctype, body, document)


@settings(FUZZ, max_examples=60)
@given(body=encoded(bodies), content_type=content_types)
def test_fuzzed_scores(v3, body, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    status, ctype, answer = v3.request("POST", "/api/public/scores", body, headers)
    no_stack_trace(answer)
    assert status in (200, 202, 207, 400), (status, answer)
    if ctype.startswith("application/json"):
        parsed = json.loads(answer)
        if status == 200:
            assert "id" in parsed
        elif status == 202:  # an array of scores (the 5.x SDK's form), all kept
            assert parsed == {"message": "Accepted"}
        elif status == 207:  # an array with rejected scores: counted and named
            assert parsed["rejected"] == len(parsed["errors"]) > 0
        else:
            assert parsed["message"] == "Invalid request data"


# --- OTLP ------------------------------------------------------------------------------------

any_values = st.one_of(
    st.builds(lambda v: {"stringValue": v}, st.text(max_size=8) | json_values),
    st.builds(lambda v: {"intValue": v}, st.integers() | st.text(max_size=4) | json_values),
    st.builds(lambda v: {"doubleValue": v}, st.floats(allow_nan=False) | st.text(max_size=4)),
    st.builds(lambda v: {"boolValue": v}, json_values),
    st.builds(lambda v: {"arrayValue": v}, json_values),
    st.builds(lambda v: {"kvlistValue": v}, json_values),
    json_values,
)
attribute_keys = st.sampled_from(
    [
        "langfuse.observation.type",
        "langfuse.observation.level",
        "langfuse.observation.usage_details",
        "langfuse.observation.cost_details",
        "langfuse.observation.completion_start_time",
        "langfuse.observation.prompt.version",
        "langfuse.observation.model.parameters",
        "langfuse.observation.metadata.k",
        "langfuse.trace.tags",
        "langfuse.trace.name",
        "langfuse.internal.as_root",
        "langfuse.environment",
        "user.id",
        "gen_ai.operation.name",
    ]
) | st.text(max_size=10)
attribute_lists = (
    st.lists(
        st.fixed_dictionaries({"key": attribute_keys | json_values, "value": any_values}),
        max_size=5,
    )
    | json_values
)
ids = st.sampled_from(["4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", ""]) | json_values
spans = st.fixed_dictionaries(
    {"traceId": ids, "spanId": ids},
    optional={
        "parentSpanId": ids,
        "name": json_values,
        "startTimeUnixNano": st.integers() | st.text(max_size=22) | json_values,
        "endTimeUnixNano": st.integers() | st.text(max_size=22) | json_values,
        "attributes": attribute_lists,
        "events": json_values,
        "status": json_values | st.fixed_dictionaries({"code": json_values}),
    },
)
exports = st.fixed_dictionaries(
    {
        "resourceSpans": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "resource": json_values
                    | st.fixed_dictionaries({"attributes": attribute_lists}),
                    "scopeSpans": st.lists(
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "scope": json_values,
                                "spans": st.lists(spans, max_size=3) | json_values,
                            },
                        )
                        | json_values,
                        max_size=2,
                    )
                    | json_values,
                },
            )
            | json_values,
            max_size=2,
        )
        | json_values
    }
)


@FUZZ
@given(
    body=encoded(exports),
    compress=st.booleans(),
    content_type=st.sampled_from(["application/json", "text/plain"]),
    version=st.none() | st.text(max_size=4),
)
def test_fuzzed_otlp_exports(v3, body, compress, content_type, version):
    headers = {"Content-Type": content_type}
    if compress:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    if version is not None and version.isprintable() and version.isascii():
        headers["x-langfuse-ingestion-version"] = version
    status, ctype, answer = v3.request("POST", "/api/public/otel/v1/traces", body, headers)
    no_stack_trace(answer)
    assert status in (200, 400), (status, answer)
    assert ctype.startswith("application/json")
    parsed = json.loads(answer)
    assert isinstance(parsed["error"], str) if status == 400 else isinstance(parsed, dict)


# --- reads -----------------------------------------------------------------------------------

query_values = st.text(max_size=12) | st.sampled_from(["0", "1", "-1", "1000", "1001", "x"])


@settings(FUZZ, max_examples=60)
@given(
    path=st.sampled_from(["/api/public/traces", "/api/public/observations"]),
    query=st.dictionaries(
        st.sampled_from(["page", "limit", "fromTimestamp", "toTimestamp", "tags", "name"]),
        query_values,
        max_size=3,
    ),
    entity_id=st.none() | st.text(min_size=1, max_size=12),
)
def test_fuzzed_reads(v3, path, query, entity_id):
    if entity_id is not None:
        path += "/" + quote(entity_id, safe="")
    query_string = "&".join(f"{quote(k)}={quote(v)}" for k, v in query.items())
    status, ctype, answer = v3.request("GET", path + ("?" + query_string if query_string else ""))
    no_stack_trace(answer)
    assert status in (200, 400, 404), (status, answer)
    assert ctype.startswith(("application/json", "text/html"))
