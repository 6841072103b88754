"""The OTLP fast path stores exactly what the general path stores, or steps aside.

:func:`prepare_fast` turns a parsed protobuf export straight into the rows the store writes;
the general path decodes it to dicts, converts, validates, merges and encodes. Generated
exports (the official SDKs' attributes and every other kind the converter reads, values of
every kind, shared traces, repeated span ids, span events, both modes) must give the same
rows, documents and span keys either way, and the official SDK's own exports must take the
fast path.
"""

from __future__ import annotations

import itertools
import re
import uuid
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from langfuse_async._collector import _otlp_inline
from langfuse_async._collector._otlp_fast import prepare_fast
from langfuse_async._collector._otlp_prepare import prepare_converted
from langfuse_async._collector._otlp_proto import parse_protobuf, resource_spans_of
from langfuse_async._collector._prepare import PreparedWrite
from langfuse_async._collector._store import Store

trace_service = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
common = pytest.importorskip("opentelemetry.proto.common.v1.common_pb2")

NOW_MS = 1_787_392_800_123.0


def both(data: bytes, mode: str) -> tuple[Any, Any]:
    """The fast path's result (or None) and the general path's, with the same clock and ids."""
    message = parse_protobuf(data)
    fast_ids = (f"{n:032x}" for n in itertools.count())
    general_ids = (f"{n:032x}" for n in itertools.count())
    fast = prepare_fast(message, mode=mode, now_ms=NOW_MS, new_id=lambda: next(fast_ids))
    general = prepare_converted(
        resource_spans_of(message), mode=mode, now_ms=NOW_MS, new_id=lambda: next(general_ids)
    )
    return fast, general


def assert_same(fast: tuple[PreparedWrite, list[str]], general: Any) -> None:
    assert fast[1] == general[1]
    assert fast[0].rows == general[0].rows
    # Same documents, in the same order (the order rows are written in).
    assert list(fast[0].docs.items()) == list(general[0].docs.items())


def kv(key: str, value: Any) -> Any:
    if isinstance(value, bool):
        wrapped = common.AnyValue(bool_value=value)
    elif isinstance(value, int):
        wrapped = common.AnyValue(int_value=value)
    elif isinstance(value, float):
        wrapped = common.AnyValue(double_value=value)
    elif isinstance(value, list):
        wrapped = common.AnyValue(
            array_value=common.ArrayValue(values=[common.AnyValue(string_value=v) for v in value])
        )
    elif value is None:
        wrapped = common.AnyValue()
    else:
        wrapped = common.AnyValue(string_value=value)
    return common.KeyValue(key=key, value=wrapped)


SDK_KEYS = sorted(_otlp_inline.SIMPLE_KEYS)
OTHER_KEYS = [
    "langfuse.observation.metadata.route",
    "langfuse.observation.metadata.n",
    "langfuse.observation.metadata.",
    "langfuse.observation.metadata.langfuse_user_id",
    "langfuse.observation.metadata.langfuse_tags",
    "langfuse.trace.metadata",
    "langfuse.trace.metadata.team",
    "langfuse.user.id",
    "langfuse.session.id",
    "langfuse.tags",
    "langfuse.public",
    "langfuse.prompt.name",
    "langfuse.metadata.k",
    "input.value",
    "output.value",
    "gen_ai.input.messages",
    "gen_ai.operation.name",
    "gen_ai.request.model",
    "gen_ai.request.temperature",
    "gen_ai.usage.input_tokens",
    "gen_ai.tool.name",
    "gen_ai.conversation.id",
    "openinference.span.kind",
    "llm.model_name",
    "logfire.msg",
    "deployment.environment",
    "model",
    "service.name",
    "http.method",
    # The server's other input and output sources (shared with the bridge: _otel_io).
    "pydantic_ai.all_messages",
    "final_result",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.prompt.0.content",
    "llm.input_messages.0.message.role",
    "llm.output_messages.0.message.content",
    "traceloop.entity.input",
    "mlflow.spanOutputs",
    "ai.prompt.messages",
    "ai.response.text",
    "gen_ai.usage.cache_read.input_tokens",
    "llm.token_count.completion_details.reasoning",
    "lk.pii.instructions",
    "lk.pii.user_input",
    "lk.pii.response.function_calls",
    # Each instrumentation's own token counts and sources (_otel_usage, _otel_io).
    "ai.operationId",
    "ai.model.id",
    "ai.usage.cachedInputTokens",
    "ai.response.providerMetadata",
    "genkit:input",
    "genkit:output",
    "genkit:name",
    "genkit:metadata:subtype",
    "gcp.vertex.agent.llm_response",
    "flue.turn.input",
    "flue.tool.result",
]
VALUES: list[Any] = [
    "",
    "x",
    "true",
    "false",
    "span",
    "generation",
    "event",
    "agent",
    "Tool",
    "bogus",
    "ERROR",
    "warn",
    "DEBUG",
    "production",
    "Langfuse-Prod",
    "5",
    '"quoted"',
    "{}",
    "[]",
    '{"q": 1, "n": [1, 2.5]}',
    '[{"role": "user", "content": "hi"}]',
    '{"input": 10, "output": 20}',
    '{"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}',
    '{"total": 0.5}',
    '{"input": -1, "output": 2.0, "cached": "3"}',
    '{"total_tokens": 3, "input_tokens": 1, "output_tokens": 2}',
    '{"total": NaN, "input": 1e400}',
    '{"input": 9007199254740993}',
    '{"anthropic": {"usage": {"cache_read_input_tokens": 3, "cache_creation": {}}}}',
    '{"openai": {"cachedPromptTokens": 2, "reasoningTokens": 1}, "bedrock": null}',
    '{"usage": {"inputTokens": 4, "thoughtsTokens": 1}, "message": {"role": "model"}}',
    '{"usage_metadata": {"cached_content_token_count": 2}}',
    "ai.generateText.doGenerate",
    "invoke_agent",
    "model",
    '{"temperature": 0.2, "stop": ["a"]}',
    "2026-08-22T10:00:00.000Z",
    '"2026-08-22T10:00:01Z"',
    "a,b",
    '["t1", "t2"]',
    "café",
    "x" * 1001,
    "line\r\n",
    0,
    7,
    -1,
    2.5,
    True,
    False,
    ["a", "b"],
    [],
    None,
]

TRACE_IDS = [bytes([n]) * 16 for n in range(1, 4)]
SPAN_IDS = [bytes([n]) * 8 for n in range(1, 41)]
#: Values that no field refuses: spans of these alone take the fast path.
PLAIN_VALUES = [v for v in VALUES if isinstance(v, str) and "\r" not in v and len(v) < 100]

attribute = st.tuples(st.sampled_from(SDK_KEYS + OTHER_KEYS), st.sampled_from(VALUES))
sdk_attribute = st.tuples(st.sampled_from(SDK_KEYS), st.sampled_from(VALUES))
plain_attribute = st.tuples(
    st.sampled_from([k for k in SDK_KEYS if not re.search("level|type|prompt", k)]),
    st.sampled_from(PLAIN_VALUES),
)
span_spec = st.fixed_dictionaries(
    {
        "trace": st.sampled_from(TRACE_IDS),
        "span": st.sampled_from(SPAN_IDS),
        "parent": st.sampled_from([b"", b"", *SPAN_IDS[:3]]),
        "type": st.sampled_from([None, "span", "generation", "event", "tool"]),
        "name": st.sampled_from(["", "llm", "root"]),
        "start": st.sampled_from([0, 1_787_392_800_000_000_000, 1_787_392_801_500_000_001]),
        "end": st.sampled_from([0, 1_787_392_802_000_000_000]),
        "status": st.sampled_from([(0, ""), (1, ""), (2, ""), (2, "failed")]),
        "attributes": st.one_of(
            st.lists(plain_attribute, max_size=8),
            st.lists(sdk_attribute, max_size=8),
            st.lists(attribute, max_size=8),
        ),
        "events": st.integers(0, 3),
    }
)
scope_spec = st.tuples(
    st.sampled_from(
        [
            "langfuse-sdk",
            "langfuse-sdk-async",
            "opentelemetry.instrumentation",
            "pydantic-ai",
            "ai",
            "genkit-tracer",
            "gcp.vertex.agent",
            "@flue/opentelemetry",
            "langfuse-ai-gateway",
            "",
        ]
    ),
    st.sampled_from(["5.2.0", "3.2.0", "0.1.0", ""]),
    st.lists(span_spec, min_size=1, max_size=6),
)
resource_spec = st.tuples(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "service.version",
                    "langfuse.release",
                    "langfuse.environment",
                    "deployment.environment.name",
                    "telemetry.sdk.language",
                    "langfuse.trace.metadata.region",
                    "service.name",
                ]
            ),
            st.sampled_from(["", "python", "1.2", "staging", '"eu"', 3]),
        ),
        max_size=3,
    ),
    st.lists(scope_spec, min_size=1, max_size=2),
)


def build(resources: list[Any]) -> bytes:
    request = trace_service.ExportTraceServiceRequest()
    for resource_attrs, scopes in resources:
        resource = request.resource_spans.add()
        resource.resource.attributes.extend([kv(k, v) for k, v in resource_attrs])
        for scope_name, scope_version, spans in scopes:
            entry = resource.scope_spans.add()
            entry.scope.name = scope_name
            entry.scope.version = scope_version
            for spec in spans:
                span = entry.spans.add(
                    trace_id=spec["trace"],
                    span_id=spec["span"],
                    parent_span_id=spec["parent"],
                    name=spec["name"],
                    start_time_unix_nano=spec["start"],
                    end_time_unix_nano=spec["end"],
                )
                span.status.code, span.status.message = spec["status"]
                if spec.get("type"):
                    span.attributes.append(kv("langfuse.observation.type", spec["type"]))
                span.attributes.extend([kv(k, v) for k, v in spec["attributes"]])
                for n in range(spec["events"]):
                    if n == 1:  # a GenAI message event: an input source of the server's
                        event = span.events.add(name="gen_ai.user.message", time_unix_nano=n)
                        event.attributes.extend([kv("content", "hi")])
                        continue
                    if n == 2:  # GenAI semantic conventions 1.37: the messages on an event
                        event = span.events.add(
                            name="gen_ai.client.inference.operation.details", time_unix_nano=n
                        )
                        event.attributes.extend([kv("gen_ai.input.messages", '[{"a": 1}]')])
                        continue
                    event = span.events.add(name="exception", time_unix_nano=n)
                    event.attributes.extend([kv("exception.message", "boom")])
    return bytes(request.SerializeToString())


@settings(max_examples=1000, deadline=None, derandomize=True, database=None)
@given(st.lists(resource_spec, min_size=1, max_size=2), st.sampled_from(["v3", "v4"]))
def test_generated_exports_store_the_same_either_way(resources: list[Any], mode: str) -> None:
    fast, general = both(build(resources), mode)
    if fast is not None:
        assert_same(fast, general)


def official_sdk_export(traces: int) -> bytes:
    """Spans recorded by the official 5.x SDK, encoded as its exporter sends them."""
    langfuse = pytest.importorskip("langfuse")
    encoder = pytest.importorskip("opentelemetry.exporter.otlp.proto.common.trace_encoder")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    client = langfuse.Langfuse(
        # The SDK keeps one client per public key: a fresh key records afresh.
        public_key=f"pk-lf-fast-{uuid.uuid4().hex}",
        secret_key="sk",
        base_url="http://127.0.0.1:9",
        tracer_provider=TracerProvider(),
        span_exporter=memory,
        environment="staging",
        release="r1",
    )
    try:
        for i in range(traces):
            with client.start_as_current_observation(
                name="handle", input={"question": f"q{i}"}, metadata={"route": "/chat", "n": i}
            ) as root:
                with langfuse.propagate_attributes(
                    user_id=f"u{i % 3}", session_id=f"s{i}", tags=["a", "b"]
                ):
                    with client.start_as_current_observation(
                        name="llm",
                        as_type="generation",
                        model="gpt-4o",
                        input=[{"role": "user", "content": "hi"}],
                        usage_details={"input": 10, "output": 20},
                        cost_details={"total": 0.25},
                        model_parameters={"temperature": 0.2},
                    ) as generation:
                        generation.update(output="hello", level="WARNING", status_message="slow")
                    with client.start_as_current_observation(name="tool", as_type="tool") as tool:
                        tool.update(output={"ok": True})
                    client.create_event(name="done", output={"ok": True})
                root.update(output={"answer": "hello"})
        client.flush()
    finally:
        client.shutdown()
    spans = list(memory.get_finished_spans())
    assert len(spans) == 4 * traces
    return bytes(encoder.encode_spans(spans).SerializeToString())


@pytest.mark.parametrize("mode", ["v3", "v4"])
def test_the_official_sdk_exports_take_the_fast_path_and_store_the_same(mode: str) -> None:
    fast, general = both(official_sdk_export(5), mode)
    assert fast is not None
    assert_same(fast, general)
    fast_store, general_store = Store(":memory:"), Store(":memory:")
    try:
        fast_store.write(fast[0])
        general_store.write(general[0])
        for table in ("events", "traces", "observations", "scores"):
            query = f"SELECT * FROM {table} ORDER BY rowid"
            assert (
                fast_store._conn.execute(query).fetchall()
                == general_store._conn.execute(query).fetchall()
            )
        assert fast_store.stored_events() == general_store.stored_events()
    finally:
        fast_store.close()
        general_store.close()


def test_a_repeated_span_id_or_a_missing_id_leaves_the_export_to_the_general_path() -> None:
    spec = {
        "trace": TRACE_IDS[0],
        "span": SPAN_IDS[0],
        "parent": b"",
        "name": "root",
        "start": 1,
        "end": 2,
        "status": (0, ""),
        "attributes": [],
        "events": 0,
    }
    twice = build([([], [("langfuse-sdk", "5.2.0", [spec, spec])])])
    no_id = build([([], [("langfuse-sdk", "5.2.0", [{**spec, "span": b""}])])])
    assert both(twice, "v3")[0] is None
    assert prepare_fast(parse_protobuf(no_id), mode="v3") is None
    empty = trace_service.ExportTraceServiceRequest()
    assert prepare_fast(empty, mode="v3") is None


# --- the route: a protobuf export is answered once checked, and converted meanwhile ---------


def protobuf_example() -> bytes:
    spec = {
        "trace": TRACE_IDS[0],
        "span": SPAN_IDS[0],
        "parent": b"",
        "name": "root",
        "start": 1_787_392_800_000_000_000,
        "end": 1_787_392_801_000_000_000,
        "status": (0, ""),
        "attributes": [("langfuse.observation.type", "span"), ("user.id", "u1")],
        "events": 0,
    }
    child = {**spec, "span": SPAN_IDS[1], "parent": SPAN_IDS[0], "name": "child"}
    return build([([], [("langfuse-sdk", "5.2.0", [spec, child])])])


async def post_protobuf(collector: Any, data: bytes) -> tuple[int, Any]:
    import base64

    import aiohttp

    headers = {
        "Authorization": "Basic " + base64.b64encode(b"pk-lf-test:sk-lf-test").decode(),
        "Content-Type": "application/x-protobuf",
    }
    async with aiohttp.ClientSession() as http:
        async with http.post(
            collector.url + "/api/public/otel/v1/traces", data=data, headers=headers
        ) as response:
            return response.status, await response.json(content_type=None)


@pytest.mark.anyio
async def test_a_protobuf_export_is_answered_before_its_conversion_and_read_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    import anyio

    from langfuse_async._collector import Collector, _writes

    started, release, converted = threading.Event(), threading.Event(), threading.Event()
    convert = _writes.prepare_protobuf

    def held(body: bytes, mode: str) -> PreparedWrite:
        started.set()
        release.wait(10)
        prepared = convert(body, mode)
        converted.set()
        return prepared

    monkeypatch.setattr(_writes, "prepare_protobuf", held)
    async with Collector(public_key="pk-lf-test", secret_key="sk-lf-test") as collector:
        status, answer = await post_protobuf(collector, protobuf_example())
        assert (status, answer["name"]) == (200, "OtelIngestionJob")
        assert not converted.is_set()
        assert collector.event_count == 2  # accepted with the answer, while still converting
        await anyio.to_thread.run_sync(started.wait, 30)
        seen: list[Any] = []
        async with anyio.create_task_group() as tasks:

            async def read() -> None:
                seen.extend(await collector.observations())

            tasks.start_soon(read)
            await anyio.wait_all_tasks_blocked()  # the read waits behind the held write
            assert seen == []
            release.set()
        assert {o.name for o in seen} == {"root", "child"}


@pytest.mark.anyio
async def test_a_conversion_failing_after_the_answer_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from langfuse_async._collector import Collector, _writes

    def broken(body: bytes, mode: str) -> PreparedWrite:
        raise RuntimeError("conversion broke")

    monkeypatch.setattr(_writes, "prepare_protobuf", broken)
    async with Collector(public_key="pk-lf-test", secret_key="sk-lf-test") as collector:
        status, _ = await post_protobuf(collector, protobuf_example())
        assert status == 200
        assert await collector.observations() == []
    [record] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "an OTLP export of 2 span(s)" in record.getMessage()
    assert record.exc_info is not None and "conversion broke" in str(record.exc_info[1])


@pytest.mark.anyio
async def test_protobuf_refusals_are_answered_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    from langfuse_async._collector import Collector

    no_ids = build(
        [
            (
                [],
                [
                    (
                        "langfuse-sdk",
                        "5.2.0",
                        [
                            {
                                "trace": b"",
                                "span": SPAN_IDS[0],
                                "parent": b"",
                                "name": "x",
                                "start": 1,
                                "end": 2,
                                "status": (0, ""),
                                "attributes": [],
                                "events": 0,
                            }
                        ],
                    )
                ],
            )
        ]
    )
    empty = bytes(trace_service.ExportTraceServiceRequest().SerializeToString())
    async with Collector(public_key="pk-lf-test", secret_key="sk-lf-test") as collector:
        status, answer = await post_protobuf(collector, no_ids)
        assert status == 400 and "1 of 1 span(s)" in answer["error"]
        assert "traceId:absent" in answer["error"]
        assert await post_protobuf(collector, empty) == (200, {})
        assert await post_protobuf(collector, b"\xff\xff") == (
            400,
            {"error": "Failed to parse OTel Protobuf Trace"},
        )
        assert collector.event_count == 0
