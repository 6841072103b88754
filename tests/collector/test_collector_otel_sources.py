"""The collector reads a span's input, output and name from the server's sources, as the server.

Cases the frameworks traced in ``tests/integrations/test_otel_frameworks.py`` showed: Pydantic
AI's agent span, GenAI tool spans, Logfire's names, and which attributes stay in metadata; the
newer server's GenAI operation-details event, and its token counts as each instrumentation
reports them (posted as OTLP/JSON and as protobuf, which takes the fast path, and read back).
"""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import aiohttp
import pytest

from langfuse_async._collector import Collector
from langfuse_async._collector._otlp import convert_export
from langfuse_async._collector._otlp_fast import prepare_fast
from langfuse_async._collector._otlp_proto import parse_protobuf

OTLP_PATH = "/api/public/otel/v1/traces"


def _otlp_attributes(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    def value(v: Any) -> dict[str, Any]:
        if isinstance(v, bool):
            return {"boolValue": v}
        if isinstance(v, int):
            return {"intValue": str(v)}
        if isinstance(v, float):
            return {"doubleValue": v}
        if isinstance(v, (list, tuple)):
            return {"arrayValue": {"values": [value(item) for item in v]}}
        return {"stringValue": v}

    return [{"key": k, "value": value(v)} for k, v in attributes.items()]


def _span(
    attributes: dict[str, Any],
    *,
    events: tuple[tuple[str, dict[str, Any]], ...] = (),
    span_id: str = "0123456789abcdef",
    trace_id: str = "0123456789abcdef0123456789abcdef",
    name: str = "invoke_agent weather",
) -> dict[str, Any]:
    """One root span, as OTLP/JSON carries it."""
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "startTimeUnixNano": "1752384000000000000",
        "endTimeUnixNano": "1752384001000000000",
        "attributes": _otlp_attributes(attributes),
        "events": [
            {"name": name, "timeUnixNano": "1752384000500000000", "attributes": _otlp_attributes(a)}
            for name, a in events
        ],
    }


def _export(*scoped: tuple[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """An export's resource spans: each instrumentation scope with its spans."""
    return [{"scopeSpans": [{"scope": {"name": scope}, "spans": spans} for scope, spans in scoped]}]


def _convert(
    attributes: dict[str, Any],
    *,
    scope: str = "pydantic-ai",
    events: tuple[tuple[str, dict[str, Any]], ...] = (),
) -> dict[str, Any]:
    """One root span through the collector's OTLP mapping: its event bodies by type."""
    export = _export((scope, [_span(attributes, events=events)]))
    converted, _ = convert_export(export, mode="v3")
    return {event["type"]: event["body"] for event, _placeholder in converted}


def test_trace_name_from_logfire_msg() -> None:
    bodies = _convert({"logfire.msg": "weather run"})
    assert bodies["agent-create" if "agent-create" in bodies else "span-create"]["name"] == (
        "weather run"
    )
    assert bodies["trace-create"]["name"] == "weather run"


def test_genai_tool_call_input_and_output() -> None:
    bodies = _convert(
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "get_weather",
            "gen_ai.tool.call.arguments": '{"city": "a"}',
            "gen_ai.tool.call.result": "sunny in a",
        },
        scope="some.instrumentation",
    )
    tool = bodies["tool-create"]
    assert (tool.get("input"), tool.get("output")) == ({"city": "a"}, "sunny in a")


def test_pydantic_ai_agent_input_and_output() -> None:
    bodies = _convert(
        {
            "gen_ai.operation.name": "invoke_agent",
            "pydantic_ai.all_messages": '[{"role": "user", "parts": []}]',
            "final_result": "sunny",
        }
    )
    agent = bodies["agent-create"]
    assert (agent.get("input"), agent.get("output")) == ([{"role": "user", "parts": []}], "sunny")
    assert (bodies["trace-create"]["input"], bodies["trace-create"]["output"]) == (
        [{"role": "user", "parts": []}],
        "sunny",
    )


def test_attributes_leave_out_every_io_key() -> None:
    bodies = _convert(
        {
            "final_result": "sunny",
            "gen_ai.tool.call.arguments": "{}",
            "llm.input_messages.0.message.role": "user",
            "kept": "yes",
        },
        scope="some.instrumentation",
    )
    assert bodies["span-create"]["metadata"]["attributes"] == {"kept": "yes"}


def test_genai_operation_details_event_gives_the_input_and_output() -> None:
    # GenAI semantic conventions 1.37+ put the messages on an event, not the span.
    details = {"gen_ai.input.messages": '[{"role": "user"}]', "gen_ai.output.messages": "done"}
    bodies = _convert(
        {"gen_ai.operation.name": "chat"},
        scope="otel.genai",
        events=(("gen_ai.client.inference.operation.details", details),),
    )
    generation = bodies["generation-create"]
    assert (generation["input"], generation["output"]) == ([{"role": "user"}], "done")


def test_token_counts_are_stored_normalised() -> None:
    # Cache reads are counted in the input too: taken out, as the server does (_otel_usage).
    bodies = _convert(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "m",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.cache_read.input_tokens": 60,
        },
        scope="otel.genai",
    )
    assert bodies["generation-create"]["usageDetails"] == {"input": 40, "input_cached_tokens": 60}


def test_attributes_leave_out_the_metadata_keys_the_metadata_holds() -> None:
    bodies = _convert(
        {"langfuse.observation.metadata.team": "a", "http.route": "/x"},
        scope="some.instrumentation",
    )
    span = bodies["span-create"]
    assert span["metadata"]["team"] == "a"
    assert span["metadata"]["attributes"] == {"http.route": "/x"}


# --- token counts per instrumentation, posted and read back over the public API ----------------

PK, SK = "pk-lf-usage", "sk-lf-usage"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{PK}:{SK}".encode()).decode()}
ANTHROPIC_METADATA = {
    "anthropic": {
        "usage": {
            "input_tokens": 7,
            "cache_creation_input_tokens": 2089,
            "cache_read_input_tokens": 16399,
            "cache_creation": {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 89},
            "output_tokens": 445,
        },
        "cacheCreationInputTokens": 2089,
    }
}
#: The Vercel AI SDK's model call, its agent span above it, Google ADK's and Genkit's model
#: calls: what each sends, and the usage, model, input and output the server stores.
USAGE_SPANS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "a1a1a1a1a1a1a1a1": (
        "ai",
        {
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.model.id": "claude-sonnet-4-5",
            "ai.prompt.messages": '[{"role": "user", "content": "hi"}]',
            "ai.response.text": "hello",
            "ai.usage.promptTokens": 18495,
            "ai.usage.completionTokens": 445,
            "gen_ai.usage.input_tokens": 18495,
            "gen_ai.usage.output_tokens": 445,
            "ai.usage.cachedInputTokens": 16399,
            "ai.response.providerMetadata": json.dumps(ANTHROPIC_METADATA),
        },
        {
            "type": "GENERATION",
            "model": "claude-sonnet-4-5",
            "input": [{"role": "user", "content": "hi"}],
            "output": "hello",
            "usage": {
                "input": 7,
                "output": 445,
                "input_cached_tokens": 16399,
                "input_cache_creation": 0,
                "input_cache_creation_5m": 2000,
                "input_cache_creation_1h": 89,
                "total": 18940,  # none sent: the server adds the sum of the counts
            },
        },
    ),
    "a2a2a2a2a2a2a2a2": (
        "ai",
        {
            # The agent run sums its model calls' counts: left out, as its model.
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.usage.input_tokens": 18495,
            "gen_ai.usage.output_tokens": 445,
        },
        {"type": "AGENT", "model": None, "input": None, "output": None, "usage": {}},
    ),
    "b1b1b1b1b1b1b1b1": (
        "gcp.vertex.agent",
        {
            "gen_ai.system": "gcp.vertex.agent",
            "gen_ai.request.model": "gemini-2.5-flash",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 20,
            "gcp.vertex.agent.llm_request": '{"contents": []}',
            "gcp.vertex.agent.llm_response": json.dumps(
                {"usage_metadata": {"cached_content_token_count": 60, "prompt_token_count": 100}}
            ),
        },
        {
            "type": "GENERATION",
            "model": "gemini-2.5-flash",
            "input": {"contents": []},
            "output": {
                "usage_metadata": {"cached_content_token_count": 60, "prompt_token_count": 100}
            },
            "usage": {"input": 40, "output": 20, "input_cached_tokens": 60, "total": 120},
        },
    ),
    "c1c1c1c1c1c1c1c1": (
        "genkit-tracer",
        {
            "genkit:type": "action",
            "genkit:metadata:subtype": "model",
            "genkit:name": "googleai/gemini-2.5-flash",
            "genkit:input": json.dumps({"messages": [{"role": "user"}], "config": {}}),
            "genkit:output": json.dumps(
                {"message": {"role": "model"}, "usage": {"inputTokens": 5, "outputTokens": 3}}
            ),
        },
        # Its input and output; its type (and so whether its counts are kept) is the newer
        # server's type rules' to say, which the collector does not follow yet for Genkit.
        {"input": [{"role": "user"}], "output": {"role": "model"}},
    ),
}


def _usage_export(trace_id: str) -> list[dict[str, Any]]:
    by_scope: dict[str, list[dict[str, Any]]] = {}
    for span_id, (scope, attributes, _expected) in USAGE_SPANS.items():
        by_scope.setdefault(scope, []).append(
            _span(attributes, span_id=span_id, trace_id=trace_id, name=span_id)
        )
    return _export(*by_scope.items())


def _protobuf(resource_spans: list[dict[str, Any]]) -> bytes:
    trace_service = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
    json_format = pytest.importorskip("google.protobuf.json_format")
    for resource in resource_spans:  # proto3 JSON carries ids as base64 bytes
        for scoped in resource["scopeSpans"]:
            for span in scoped["spans"]:
                for key in ("traceId", "spanId"):
                    span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    message = json_format.ParseDict(
        {"resourceSpans": resource_spans}, trace_service.ExportTraceServiceRequest()
    )
    return bytes(message.SerializeToString())


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["json", "protobuf"])
async def test_token_counts_per_instrumentation_read_back_as_the_server_stores_them(
    transport: str,
) -> None:
    trace_id = "5" * 32
    if transport == "json":
        body = json.dumps({"resourceSpans": _usage_export(trace_id)}).encode()
        content_type = "application/json"
    else:
        body = _protobuf(_usage_export(trace_id))
        content_type = "application/x-protobuf"
        for mode in ("v3", "v4"):  # the fast path takes this export, not the general one
            ids = map("{:032x}".format, itertools.count())
            fast = prepare_fast(parse_protobuf(body), mode=mode, now_ms=0.0, new_id=ids.__next__)
            assert fast is not None
    async with (
        Collector(public_key=PK, secret_key=SK) as collector,
        aiohttp.ClientSession() as http,
    ):
        headers = {"Content-Type": content_type, **AUTH}
        async with http.post(collector.url + OTLP_PATH, data=body, headers=headers) as answer:
            assert answer.status == 200
        for span_id, (_scope, _attributes, expected) in USAGE_SPANS.items():
            async with http.get(
                f"{collector.url}/api/public/observations/{span_id}", headers=AUTH
            ) as answer:
                assert answer.status == 200
                observation = await answer.json()
            stored = {
                "type": observation["type"],
                "model": observation.get("model"),
                "input": observation.get("input"),
                "output": observation.get("output"),
                "usage": observation.get("usageDetails") or {},
            }
            assert {key: stored[key] for key in expected} == expected, span_id


def test_the_ai_gateways_langfuse_keys_stay_out_of_the_attributes() -> None:
    attributes = {
        "langfuse.observation.type": "generation",
        "langfuse.observation.model.name": "gpt-4o",
        "langfuse.version": "v2",
        "http.route": "/v1/chat",
    }
    gateway = _convert(attributes, scope="langfuse-ai-gateway")["generation-create"]
    assert gateway["metadata"]["attributes"] == {"http.route": "/v1/chat"}
    other = _convert(attributes, scope="some.instrumentation")["generation-create"]
    assert set(other["metadata"]["attributes"]) == {*attributes}


# --- model parameters, completion start, an empty own input: posted and read back -------------

#: Per span: its scope, what it sends, and the parameters, completion start, input and output
#: the server stores. The spans start at 2025-07-13T05:20:00.000Z.
FIELD_SPANS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "d1d1d1d1d1d1d1d1": (
        "ai",
        {
            # AI SDK 5's streaming model call to OpenAI.
            "ai.operationId": "ai.streamText.doStream",
            "ai.model.id": "gpt-4o-mini",
            "ai.model.provider": "openai.responses",
            "ai.settings.maxRetries": 2,
            "ai.prompt.toolChoice": '{"type":"auto"}',
            "gen_ai.system": "openai.responses",
            "gen_ai.request.temperature": 0.3,
            "gen_ai.request.max_tokens": 512,
            "gen_ai.response.finish_reasons": ["stop"],
            "ai.response.msToFirstChunk": 412.27,
            "ai.response.providerMetadata": json.dumps({"openai": {"serviceTier": "default"}}),
        },
        {
            "type": "GENERATION",
            "modelParameters": {
                "maxSteps": None,
                "toolChoice": '{"type":"auto"}',
                "maxTokens": "512",
                "finishReason": "stop",
                "system": "openai.responses",
                "maxRetries": "2",
                "mode": None,
                "temperature": "0.3",
                "service_tier": "default",
            },
            # 412.27 ms after the start, rounded up to the millisecond.
            "completionStartTime": "2025-07-13T05:20:00.413Z",
        },
    ),
    "d2d2d2d2d2d2d2d2": (
        "openinference.instrumentation.openai",
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o",
            "llm.invocation_parameters": json.dumps(
                {"temperature": 0.2, "response_format": {"type": "json_object"}}
            ),
            "gen_ai.request.top_p": 0.5,
        },
        {
            "type": "GENERATION",
            "modelParameters": {"temperature": 0.2, "response_format": '{"type":"json_object"}'},
            "completionStartTime": None,
        },
    ),
    "d3d3d3d3d3d3d3d3": (
        "some.instrumentation",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.request.temperature": 0.7,
            "llm.invocation_parameters.max_tokens": 100,
        },
        {"type": "GENERATION", "modelParameters": {"temperature": 0.7, "max_tokens": 100}},
    ),
    "d4d4d4d4d4d4d4d4": (
        "langfuse-sdk",
        {
            # An official SDK's span with an empty input of its own (read inline from protobuf).
            "langfuse.observation.type": "span",
            "langfuse.observation.input": "",
            "langfuse.observation.output": "done",
        },
        {"input": "", "output": "done"},
    ),
    "d5d5d5d5d5d5d5d5": (
        "some.instrumentation",
        {
            # Its own empty input and output are its source: the others are not read.
            "langfuse.observation.input": "",
            "langfuse.observation.output": "",
            "input.value": "question",
            "output.value": "answer",
        },
        {"input": "", "output": ""},
    ),
}


def _fields_export(trace_id: str) -> list[dict[str, Any]]:
    by_scope: dict[str, list[dict[str, Any]]] = {}
    for span_id, (scope, attributes, _expected) in FIELD_SPANS.items():
        by_scope.setdefault(scope, []).append(
            _span(attributes, span_id=span_id, trace_id=trace_id, name=span_id)
        )
    return _export(*by_scope.items())


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["json", "protobuf"])
async def test_model_parameters_completion_start_and_empty_own_input_read_back(
    transport: str,
) -> None:
    trace_id = "6" * 32
    if transport == "json":
        body = json.dumps({"resourceSpans": _fields_export(trace_id)}).encode()
        content_type = "application/json"
    else:
        body = _protobuf(_fields_export(trace_id))
        content_type = "application/x-protobuf"
        ids = map("{:032x}".format, itertools.count())
        assert prepare_fast(parse_protobuf(body), mode="v4", now_ms=0.0, new_id=ids.__next__)
    async with (
        Collector(public_key=PK, secret_key=SK) as collector,
        aiohttp.ClientSession() as http,
    ):
        headers = {"Content-Type": content_type, **AUTH}
        async with http.post(collector.url + OTLP_PATH, data=body, headers=headers) as answer:
            assert answer.status == 200
        stored: dict[str, dict[str, Any]] = {}
        for span_id, (_scope, _attributes, expected) in FIELD_SPANS.items():
            async with http.get(
                f"{collector.url}/api/public/observations/{span_id}", headers=AUTH
            ) as answer:
                assert answer.status == 200
                observation = await answer.json()
            stored[span_id] = {key: observation.get(key) for key in expected}
    assert stored == {span_id: expected for span_id, (_s, _a, expected) in FIELD_SPANS.items()}
