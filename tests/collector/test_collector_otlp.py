"""The collector's OTLP route: its answers, and spans converted like the server's legacy path."""

from __future__ import annotations

import base64
import gzip
import importlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from langfuse_async._collector import Collector

pytestmark = pytest.mark.anyio

PK, SK = "pk-lf-test", "sk-lf-test"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{PK}:{SK}".encode()).decode()}
PATH = "/api/public/otel/v1/traces"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
ROOT, GEN, EVENT = "00f067aa0ba902b7", "b7ad6b7169203331", "e457b5a2e4d86bd1"
T0 = 1787392800000000000  # 2026-08-22T10:00:00Z


def attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        wrapped: dict[str, Any] = {"boolValue": value}
    elif isinstance(value, int):
        wrapped = {"intValue": value}
    elif isinstance(value, float):
        wrapped = {"doubleValue": value}
    elif isinstance(value, list):
        wrapped = {"arrayValue": {"values": [{"stringValue": v} for v in value]}}
    else:
        wrapped = {"stringValue": value}
    return {"key": key, "value": wrapped}


def span(
    span_id: str,
    name: str,
    attrs: dict[str, Any],
    *,
    parent: str | None = None,
    start_ms: int = 0,
    end_ms: int = 0,
    status: dict[str, Any] | None = None,
    trace_id: str = TRACE,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(T0 + start_ms * 1_000_000),
        "endTimeUnixNano": str(T0 + end_ms * 1_000_000),
        "attributes": [attr(k, v) for k, v in attrs.items()],
        "status": status or {},
    }
    if parent:
        result["parentSpanId"] = parent
    return result


def export(*spans: dict[str, Any], scope: str = "langfuse-sdk-async") -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        attr("service.name", "shop"),
                        attr("telemetry.sdk.language", "python"),
                        attr("langfuse.release", "2026.08.22"),
                    ]
                },
                "scopeSpans": [
                    {"scope": {"name": scope, "version": "0.1.0"}, "spans": list(spans)}
                ],
            }
        ]
    }


TRACE_KEYS = {
    "langfuse.trace.name": "chat-turn",
    "user.id": "user-42",
    "session.id": "sess-7",
    "langfuse.trace.tags": ["beta", "chat"],
    "langfuse.trace.metadata.tenant": "acme",
    "langfuse.environment": "production",
}


def example() -> dict[str, Any]:
    return export(
        span(
            ROOT,
            "handle-request",
            {
                "langfuse.observation.type": "span",
                "langfuse.internal.is_app_root": True,
                "langfuse.observation.input": '{"question": "2+2?"}',
                "langfuse.observation.output": "four",
                "langfuse.observation.metadata.route": "/chat",
                "langfuse.observation.metadata.attempt": 1,
                **TRACE_KEYS,
            },
            end_ms=1250,
        ),
        span(
            GEN,
            "llm-call",
            {
                "langfuse.observation.type": "generation",
                "langfuse.observation.model.name": "gpt-4o-mini",
                "langfuse.observation.model.parameters": '{"temperature": 0.2, "stream": false}',
                "langfuse.observation.usage_details": '{"input": 12, "output": 3, "total": 15}',
                "langfuse.observation.cost_details": '{"total": 0.0000036}',
                "langfuse.observation.completion_start_time": '"2026-08-22T10:00:00.350000Z"',
                "langfuse.observation.prompt.name": "qa",
                "langfuse.observation.prompt.version": 3,
                **TRACE_KEYS,
            },
            parent=ROOT,
            start_ms=100,
            end_ms=1100,
        ),
        span(
            EVENT,
            "cache-miss",
            {"langfuse.observation.type": "event", "langfuse.observation.level": "WARNING"},
            parent=ROOT,
            start_ms=1200,
            end_ms=1200,
        ),
    )


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    async with Collector(public_key=PK, secret_key=SK) as c:
        yield c


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def send(
    http: aiohttp.ClientSession,
    c: Collector,
    body: Any,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json", **AUTH, **(headers or {})}
    async with http.post(c.url + PATH, data=data, headers=all_headers) as r:
        return r.status, await r.json(content_type=None)


async def test_example_export_converts_like_the_server(collector, http):
    status, answer = await send(http, collector, example())
    assert status == 200
    assert answer["name"] == "OtelIngestionJob"
    await collector.wait_for_events(3)

    [trace] = await collector.traces()
    assert (trace.id, trace.name, trace.user_id, trace.session_id) == (
        TRACE,
        "chat-turn",
        "user-42",
        "sess-7",
    )
    assert trace.tags == ("beta", "chat")
    assert (trace.environment, trace.release) == ("production", "2026.08.22")
    assert trace.input == {"question": "2+2?"} and trace.output == "four"
    assert trace.metadata["tenant"] == "acme" and trace.metadata["route"] == "/chat"
    assert trace.metadata["resourceAttributes"]["service.name"] == "shop"
    assert trace.timestamp == "2026-08-22T10:00:00.000Z"

    by_id = {o.id: o for o in await collector.observations(trace_id=TRACE)}
    root, generation, event = by_id[ROOT], by_id[GEN], by_id[EVENT]
    assert (root.type, root.parent_observation_id, root.end_time) == (
        "SPAN",
        None,
        "2026-08-22T10:00:01.250Z",
    )
    assert root.metadata["attempt"] == 1 and root.metadata["scope"]["name"] == "langfuse-sdk-async"
    assert "attributes" not in root.metadata  # the scope starts with langfuse-sdk
    assert generation.type == "GENERATION" and generation.parent_observation_id == ROOT
    assert generation.model == "gpt-4o-mini"
    assert generation.model_parameters == {"temperature": 0.2, "stream": "false"}
    assert generation.usage_details == {"input": 12, "output": 3, "total": 15}
    assert generation.cost_details == {"total": 0.0000036}
    assert generation.completion_start_time == "2026-08-22T10:00:00.350Z"
    assert (generation.prompt_name, generation.prompt_version) == ("qa", 3)
    assert (event.type, event.level, event.end_time) == ("EVENT", "WARNING", None)


async def test_gzip_and_unquoted_completion_start(collector, http):
    body = export(
        span(
            ROOT,
            "gen",
            {
                "langfuse.observation.type": "generation",
                "langfuse.observation.completion_start_time": "2026-08-22T10:00:00.500Z",
            },
        )
    )
    status, _ = await send(
        http, collector, gzip.compress(json.dumps(body).encode()), {"Content-Encoding": "gzip"}
    )
    assert status == 200
    [generation] = await collector.observations()
    assert generation.completion_start_time == "2026-08-22T10:00:00.500Z"
    assert collector.requests[-1].json()["resourceSpans"][0]["scopeSpans"]


async def test_status_code_error_sets_level_unless_a_level_is_given(collector, http):
    body = export(
        span(ROOT, "failing", {}, status={"code": 2, "message": "boom"}),
        span(
            GEN, "leveled", {"langfuse.observation.level": "DEBUG"}, parent=ROOT, status={"code": 2}
        ),
    )
    await send(http, collector, body)
    by_id = {o.id: o for o in await collector.observations()}
    assert (by_id[ROOT].level, by_id[ROOT].status_message) == ("ERROR", "boom")
    assert by_id[GEN].level == "DEBUG"


async def test_invalid_level_drops_the_observation_in_v3_but_aliases_in_v4(http):
    body = export(span(ROOT, "warned", {"langfuse.observation.level": "warn"}))
    async with Collector(public_key=PK, secret_key=SK) as v3:
        assert (await send(http, v3, body))[0] == 200
        assert await v3.observations() == []
        # The trace still exists: the root's trace event is valid.
        assert [t.id for t in await v3.traces()] == [TRACE]
    async with Collector(public_key=PK, secret_key=SK, mode="v4") as v4:
        assert (await send(http, v4, body))[0] == 200
        assert [o.level for o in await v4.observations()] == ["WARNING"]


async def test_trace_attributes_from_a_child_update_the_trace(collector, http):
    # The root was exported earlier; a later child carries the trace name and user.
    await send(http, collector, export(span(ROOT, "root", {})))
    child = span(
        GEN, "child", {"langfuse.trace.name": "renamed", "user.id": "u"}, parent=ROOT, start_ms=5
    )
    await send(http, collector, export(child))
    [trace] = await collector.traces()
    assert (trace.name, trace.user_id) == ("renamed", "u")


async def test_orphan_span_gets_a_placeholder_trace_that_never_overwrites(collector, http):
    await send(http, collector, export(span(GEN, "child", {}, parent=ROOT, start_ms=5)))
    [placeholder] = await collector.traces()
    assert placeholder.id == TRACE and placeholder.name is None
    await send(http, collector, export(span(ROOT, "root", {"langfuse.trace.name": "real"})))
    await send(http, collector, export(span(EVENT, "late", {}, parent=ROOT, start_ms=9)))
    [trace] = await collector.traces()
    assert trace.name == "real"


async def test_as_root_span_with_remote_parent_is_the_root(collector, http):
    body = export(
        span(ROOT, "continued", {"langfuse.internal.as_root": True}, parent="ffffffffffffffff")
    )
    await send(http, collector, body)
    [trace] = await collector.traces()
    [root] = await collector.observations()
    assert trace.name == "continued"
    # The server keeps parentSpanId verbatim; as_root makes the span the trace's root (its
    # trace-create), it does not erase the remote parent.
    assert root.parent_observation_id == "ffffffffffffffff"


async def test_type_mapping_without_langfuse_type(collector, http):
    body = export(
        span("0000000000000001", "chat", {"gen_ai.operation.name": "chat"}),
        span("0000000000000002", "call", {"gen_ai.tool.name": "search"}),
        span(
            "0000000000000003",
            "model",
            {"gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 4},
        ),
        span("0000000000000004", "plain", {}),
        span(
            "0000000000000005",
            "old",
            {"langfuse.observation.type": "span", "langfuse.observation.model.name": "m"},
        ),
        scope="langfuse-sdk",
    )
    await send(http, collector, body)
    types = {o.id[-1]: (o.type, o.name) for o in await collector.observations()}
    assert types["1"] == ("GENERATION", "chat")
    assert types["2"] == ("TOOL", "search")  # gen_ai.tool.name also names the observation
    assert types["3"][0] == "GENERATION"
    assert types["4"][0] == "SPAN"
    # Python SDK <= 3.3 sent generations as spans; the server corrects them.
    assert types["5"][0] == "GENERATION"
    [model] = [o for o in await collector.observations() if o.id.endswith("3")]
    assert model.usage_details == {"input": 4, "total": 4}


async def test_foreign_scope_dumps_attributes_into_metadata(collector, http):
    await send(
        http,
        collector,
        export(span(ROOT, "x", {"http.method": "GET"}), scope="opentelemetry.aiohttp"),
    )
    [root] = await collector.observations()
    assert root.metadata["attributes"] == {"http.method": "GET"}


@pytest.mark.parametrize(
    ("content_type", "body", "status", "error"),
    [
        ("text/plain", b"{}", 400, "Invalid content type"),
        ("application/json", b"{nope", 400, "Failed to parse OTel JSON Trace"),
    ],
)
async def test_body_errors(collector, http, content_type, body, status, error):
    assert await send(http, collector, body, {"Content-Type": content_type}) == (
        status,
        {"error": error},
    )


async def test_bad_gzip_is_400(collector, http):
    answer = await send(http, collector, b"not gzip", {"Content-Encoding": "gzip"})
    assert answer == (400, {"error": "Failed to decompress request body"})


@pytest.mark.parametrize("body", [{}, {"resourceSpans": []}, {"resource_spans": [{"x": 1}]}])
async def test_empty_or_misnamed_export_is_200_empty(collector, http, body):
    assert await send(http, collector, body) == (200, {})
    assert await collector.observations() == []


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda s: s.pop("spanId"), "spanId:absent"),
        (lambda s: s.update(traceId=123), "traceId:invalid"),
        (lambda s: s.update(attributes={"a": 1}), "attributes:not-array"),
    ],
)
async def test_one_bad_span_rejects_the_whole_export(collector, http, mutate, reason):
    body = example()
    mutate(body["resourceSpans"][0]["scopeSpans"][0]["spans"][1])
    status, answer = await send(http, collector, body)
    assert status == 400
    assert answer["error"].startswith(
        "Invalid OTLP trace export: 1 of 3 span(s) cannot be processed"
    )
    assert reason in answer["error"]
    assert await collector.observations() == []


async def test_non_array_spans_is_rejected(collector, http):
    body = {"resourceSpans": [{"scopeSpans": [{"spans": {"not": "a list"}}]}]}
    status, answer = await send(http, collector, body)
    assert status == 400 and "spans:not-array" in answer["error"]


@pytest.mark.parametrize(("value", "ok"), [("4", True), ("3", True), ("5", False), ("v4", False)])
async def test_ingestion_version_header(collector, http, value, ok):
    status, answer = await send(http, collector, example(), {"x-langfuse-ingestion-version": value})
    if ok:
        assert status == 200
    else:
        assert (status, answer) == (
            400,
            {
                "error": f'Unsupported x-langfuse-ingestion-version: "{value}". '
                'Maximum supported: "4".'
            },
        )


async def test_auth_answers_have_only_a_message(collector, http):
    async with http.post(collector.url + PATH, json={}) as r:
        assert (r.status, await r.json()) == (401, {"message": "No authorization header"})
    answer = await send(http, collector, example(), {"Authorization": f"Bearer {PK}"})
    assert answer == (
        403,
        {"message": "Access denied - insufficient permissions for this endpoint"},
    )
    async with http.get(collector.url + PATH, headers=AUTH) as r:
        assert r.status == 405


async def test_resent_export_counts_spans_once(collector, http):
    await send(http, collector, example())
    await send(http, collector, example())
    assert collector.event_count == 3
    assert len(await collector.observations()) == 3


async def test_protobuf_without_the_extra_is_a_clear_415(collector, http, monkeypatch):
    real = importlib.import_module

    def without_proto(name: str, package: str | None = None) -> Any:
        if name.startswith(("google.protobuf", "opentelemetry.proto")):
            raise ImportError(f"No module named {name!r}")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", without_proto)
    status, answer = await send(
        http, collector, b"\x0a\x00", {"Content-Type": "application/x-protobuf"}
    )
    assert status == 415
    assert "opentelemetry-proto" in answer["error"]


async def test_protobuf_export(collector, http):
    trace_service = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
    json_format = pytest.importorskip("google.protobuf.json_format")
    payload = example()
    # proto3 JSON carries ids as base64 bytes.
    for s in payload["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        for key in ("traceId", "spanId", "parentSpanId"):
            if key in s:
                s[key] = base64.b64encode(bytes.fromhex(s[key])).decode()
    message = json_format.ParseDict(payload, trace_service.ExportTraceServiceRequest())
    status, _ = await send(
        http, collector, message.SerializeToString(), {"Content-Type": "application/x-protobuf"}
    )
    assert status == 200
    by_id = {o.id: o for o in await collector.observations()}
    assert set(by_id) == {ROOT, GEN, EVENT}
    assert by_id[GEN].parent_observation_id == ROOT
    assert by_id[GEN].prompt_version == 3
    status, answer = await send(
        http, collector, b"\xff\xff", {"Content-Type": "application/x-protobuf"}
    )
    assert (status, answer) == (400, {"error": "Failed to parse OTel Protobuf Trace"})


# --- review of issue 5: the route's reading order and odd exports -------------------------------


def one_span_export(**extra: Any) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {"scopeSpans": [{"spans": [span(ROOT, "root", {"langfuse.trace.name": "t"})]}], **extra}
        ]
    }


@pytest.mark.parametrize("resource", ["abc", [1], 7, None])
async def test_a_resource_that_is_not_an_object_is_ignored(collector, http, resource):
    status, _ = await send(http, collector, one_span_export(resource=resource))
    assert status == 200
    [root] = await collector.observations()
    assert root.id == ROOT and root.metadata["resourceAttributes"] == {}


@pytest.mark.parametrize(
    ("value", "ok"),
    # The server reads the header with parseInt: leading digits count, the rest is ignored.
    [
        ("", True),
        (" 3", True),
        ("4abc", True),
        ("-1", True),
        ("+2", True),
        ("²", False),
        ("5x", False),
    ],
)
async def test_ingestion_version_is_read_with_parse_int(collector, http, value, ok):
    status, answer = await send(http, collector, example(), {"x-langfuse-ingestion-version": value})
    if ok:
        assert status == 200
    else:
        assert (status, answer) == (
            400,
            {
                "error": f'Unsupported x-langfuse-ingestion-version: "{value}". '
                'Maximum supported: "4".'
            },
        )


async def test_ingestion_version_header_with_underscores_counts_too(collector, http):
    status, answer = await send(http, collector, example(), {"x_langfuse_ingestion_version": "9"})
    assert status == 400
    assert answer["error"].startswith('Unsupported x-langfuse-ingestion-version: "9"')


async def test_gzip_is_undone_before_the_content_type_is_checked(collector, http):
    for headers in (
        {"Content-Encoding": "gzip", "Content-Type": "text/plain"},
        {"Content-Encoding": "gzip"},
    ):
        for body in (b"not gzip", b""):
            assert await send(http, collector, body, headers) == (
                400,
                {"error": "Failed to decompress request body"},
            )
    # The server looks for the lower-case token only.
    data = gzip.compress(json.dumps(example()).encode())
    assert await send(http, collector, data, {"Content-Encoding": "GZIP"}) == (
        400,
        {"error": "Failed to parse OTel JSON Trace"},
    )


@pytest.mark.parametrize("spans", ["", 0, False, None])
async def test_falsy_resource_spans_are_an_empty_export(collector, http, spans):
    assert await send(http, collector, {"resourceSpans": spans}) == (200, {})


async def test_json_null_body_fails_to_parse(collector, http):
    # JSON.parse("null").resourceSpans throws, unlike any other top-level value.
    assert await send(http, collector, b"null") == (
        400,
        {"error": "Failed to parse OTel JSON Trace"},
    )
    assert await send(http, collector, b"[1]") == (200, {})


async def test_json_text_is_decoded_like_buffer_to_string(collector, http):
    raw = json.dumps(one_span_export()).encode()
    # Bytes that are not UTF-8 become U+FFFD; a byte order mark is not skipped.
    status, _ = await send(http, collector, raw.replace(b'"root"', b'"r\xe9"'))
    assert status == 200
    [root] = await collector.observations()
    assert root.name == "r\ufffd"
    assert await send(http, collector, b"\xef\xbb\xbf" + raw) == (
        400,
        {"error": "Failed to parse OTel JSON Trace"},
    )


async def test_deep_nesting_is_a_parse_error_not_a_500(collector, http):
    deep = b'{"resourceSpans": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert await send(http, collector, deep) == (400, {"error": "Failed to parse OTel JSON Trace"})


async def test_unknown_value_types_are_stringified_like_json_stringify(collector, http):
    kvlist = {"kvlistValue": {"values": [{"key": "café", "value": {"stringValue": "x"}}]}}
    body = export(
        {
            **span(ROOT, "root", {}),
            "attributes": [
                {"key": "langfuse.observation.metadata.kv", "value": kvlist},
                {"key": "list", "value": {"arrayValue": {"values": [{"intValue": 1}]}}},
                {"key": "ratio", "value": {"doubleValue": 2.0}},
            ],
        },
        scope="opentelemetry.custom",
    )
    assert (await send(http, collector, body))[0] == 200
    [root] = await collector.observations()
    assert root.metadata["kv"] == (
        '{"kvlistValue":{"values":[{"key":"café","value":{"stringValue":"x"}}]}}'
    )
    # The attribute dump of a foreign scope holds JSON.stringify of each non-string value.
    assert root.metadata["attributes"]["list"] == "[1]"
    assert root.metadata["attributes"]["ratio"] == "2"


async def test_base64_ids_in_json_are_kept_verbatim(collector, http):
    trace_b64 = base64.b64encode(bytes.fromhex(TRACE)).decode()
    span_b64 = base64.b64encode(bytes.fromhex(ROOT)).decode()
    assert (await send(http, collector, export(span(span_b64, "root", {}, trace_id=trace_b64))))[
        0
    ] == 200
    [root] = await collector.observations()
    assert (root.id, root.trace_id) == (span_b64, trace_b64)


async def test_int_and_double_values_as_strings_or_numbers(collector, http):
    values = {
        "as-number": {"intValue": 7},
        "as-string": {"intValue": "7"},
        "not-a-number": {"intValue": "seven"},
        "double-string": {"doubleValue": "2.5"},
        "double-nan": {"doubleValue": "NaN"},
    }
    attributes = [
        {"key": f"langfuse.observation.metadata.{key}", "value": value}
        for key, value in values.items()
    ]
    attributes += [
        {"key": "langfuse.observation.type", "value": {"stringValue": "generation"}},
        {"key": "langfuse.observation.prompt.name", "value": {"stringValue": "qa"}},
        {"key": "langfuse.observation.prompt.version", "value": {"intValue": "3"}},
    ]
    body = export({**span(ROOT, "gen", {}), "attributes": attributes})
    assert (await send(http, collector, body))[0] == 200
    [generation] = await collector.observations()
    metadata = generation.metadata
    assert (metadata["as-number"], metadata["as-string"]) == (7, 7)
    assert metadata["not-a-number"] == "seven"
    assert (metadata["double-string"], metadata["double-nan"]) == (2.5, "NaN")
    assert (generation.prompt_name, generation.prompt_version) == ("qa", 3)


@pytest.mark.parametrize("name, version", [(["langfuse-sdk"], "5.0.0"), ("langfuse-sdk", {"v": 5})])
async def test_a_scope_name_or_version_of_any_json_type_keeps_its_spans(
    collector, http, name, version
):
    body = export(span(ROOT, "root", {"langfuse.observation.type": "span"}))
    body["resourceSpans"][0]["scopeSpans"][0]["scope"] = {"name": name, "version": version}
    await send(http, collector, body)
    [observation] = await collector.observations()
    assert observation.id == ROOT and observation.metadata["scope"]["name"] == name
