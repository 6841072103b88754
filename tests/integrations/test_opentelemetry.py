"""The OpenTelemetry bridge: a span processor, context both ways, a real instrumentation."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
import pytest
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    Status,
    StatusCode,
    TraceFlags,
    format_span_id,
    format_trace_id,
)

from langfuse_async import observe
from langfuse_async._tracing import joins as _joins
from langfuse_async.opentelemetry import (
    LangfuseSpanProcessor,
    MaskOtelSpansResult,
    OtelSpanPatch,
    setup_tracer_provider,
)
from tests.support.fake_openai import FakeOpenAI
from tests.support.recording import RecordingTracer, decode

pytestmark = pytest.mark.anyio

LLM_SCOPE = "openinference.instrumentation.test"
GENAI = {
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.request.temperature": 0.1,
    "gen_ai.usage.input_tokens": 10,
    "gen_ai.usage.output_tokens": 3,
}


def _ids(span: Any) -> tuple[str, str]:
    ctx = span.get_span_context()
    return format_trace_id(ctx.trace_id), format_span_id(ctx.span_id)


@pytest.fixture
def provider(tracer: RecordingTracer) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(LangfuseSpanProcessor())
    yield provider
    provider.shutdown()
    assert _joins.external_parent is None


def test_span_inside_an_observation_is_its_child(
    tracer: RecordingTracer, provider: TracerProvider
) -> None:
    otel = provider.get_tracer(LLM_SCOPE)
    with tracer.start_as_current_observation(name="outer") as outer:
        with otel.start_as_current_span("chat gpt-4o", attributes=GENAI) as span:
            trace_id, span_id = _ids(span)
    # The span moved into the observation's trace in OpenTelemetry as well.
    assert trace_id == outer.trace_id
    assert span.parent is not None and format_span_id(span.parent.span_id) == outer.id
    gen = tracer.by_name("chat gpt-4o")
    assert (gen.id, gen.trace_id, gen.parent_id) == (span_id, outer.trace_id, outer.id)
    assert not gen.remote_parent
    assert gen.as_type == "generation"
    assert gen.model == "gpt-4o"
    assert decode(gen.usage_details) == {"input": 10, "output": 3}
    assert decode(gen.model_parameters) == {"temperature": 0.1}
    assert (gen.start_ns, gen.end_ns) == (span.start_time, span.end_time)
    assert decode(gen.metadata)["scope"] == {"name": LLM_SCOPE, "version": None, "attributes": {}}


def test_observation_inside_a_span_is_its_child(
    tracer: RecordingTracer, provider: TracerProvider
) -> None:
    @observe
    def step() -> str:
        return "done"

    otel = provider.get_tracer(LLM_SCOPE)
    with otel.start_as_current_span("agent run") as span:
        step()
    trace_id, span_id = _ids(span)
    obs = tracer.by_name("step")
    assert (obs.trace_id, obs.parent_id, obs.remote_parent) == (trace_id, span_id, False)
    root = tracer.by_name("agent run")
    assert (root.id, root.parent_id) == (span_id, None)


async def test_context_alternates_both_ways(
    tracer: RecordingTracer, provider: TracerProvider
) -> None:
    otel = provider.get_tracer(LLM_SCOPE)

    @observe
    async def b() -> None:
        with otel.start_as_current_span("s3"):
            pass

    @observe
    async def a() -> None:
        with otel.start_as_current_span("s2"):
            await b()
        await b()  # after s2 ended: a's child again

    with otel.start_as_current_span("s1"):
        await a()
    s1, s2 = tracer.by_name("s1"), tracer.by_name("s2")
    obs_a = tracer.by_name("a")
    [b1, b2] = sorted((o for o in tracer.observations if o.name == "b"), key=lambda o: o.start_ns)
    assert obs_a.parent_id == s1.id
    assert s2.parent_id == obs_a.id
    assert b1.parent_id == s2.id
    assert b2.parent_id == obs_a.id
    s3s = [o for o in tracer.observations if o.name == "s3"]
    assert {o.parent_id for o in s3s} == {b1.id, b2.id}
    assert {o.trace_id for o in tracer.observations} == {s1.trace_id}


def test_an_explicit_parent_handle_stays_the_parent(
    tracer: RecordingTracer, provider: TracerProvider
) -> None:
    handle = tracer.start_observation(name="handle")  # not current
    with provider.get_tracer(LLM_SCOPE).start_as_current_span("s"):
        handle.start_observation(name="child").end()
    handle.end()
    assert tracer.by_name("child").parent_id == handle.id


def test_unexported_spans_are_skipped_in_the_tree(
    tracer: RecordingTracer, provider: TracerProvider
) -> None:
    llm = provider.get_tracer(LLM_SCOPE)
    http = provider.get_tracer("opentelemetry.instrumentation.httpx")

    @observe
    def inner() -> None:
        pass

    with llm.start_as_current_span("agent"):
        with http.start_as_current_span("POST /v1/chat") as hidden:
            with llm.start_as_current_span("llm", attributes=GENAI):
                pass
            inner()
    names = {o.name for o in tracer.observations}
    assert names == {"agent", "llm", "inner"}
    agent = tracer.by_name("agent")
    assert tracer.by_name("llm").parent_id == agent.id
    assert tracer.by_name("inner").parent_id == agent.id
    assert _ids(hidden)[0] == agent.trace_id


def test_observation_joins_a_remote_span(tracer: RecordingTracer, provider: TracerProvider) -> None:
    remote = SpanContext(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    with trace_api.use_span(NonRecordingSpan(remote)):
        with tracer.start_as_current_observation(name="handler"):
            pass
    obs = tracer.by_name("handler")
    assert obs.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert obs.parent_id == "00f067aa0ba902b7"
    assert obs.remote_parent  # the local root: its parent is another service's


def test_span_with_a_remote_parent(tracer: RecordingTracer, provider: TracerProvider) -> None:
    remote = SpanContext(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    otel = provider.get_tracer(LLM_SCOPE)
    linked = trace_api.set_span_in_context(NonRecordingSpan(remote))
    with tracer.start_as_current_observation(name="unrelated"):
        # Linked to another service's trace on purpose: it stays there.
        with otel.start_as_current_span("consumer", context=linked):
            pass
    with trace_api.use_span(NonRecordingSpan(remote)):
        with tracer.start_as_current_observation(name="joined") as joined:
            # The observation joined the remote trace; a span inside it is its child.
            with otel.start_as_current_span("inside"):
                pass
    consumer = tracer.by_name("consumer")
    assert (consumer.trace_id, consumer.parent_id) == (joined.trace_id, "00f067aa0ba902b7")
    assert consumer.remote_parent
    inside = tracer.by_name("inside")
    assert (inside.trace_id, inside.parent_id, inside.remote_parent) == (
        joined.trace_id,
        joined.id,
        False,
    )


def test_span_started_before_the_processor_is_recorded(tracer: RecordingTracer) -> None:
    provider = TracerProvider()
    otel = provider.get_tracer(LLM_SCOPE)
    try:
        with otel.start_as_current_span("early", attributes=GENAI) as span:
            provider.add_span_processor(LangfuseSpanProcessor())
    finally:
        provider.shutdown()
    obs = tracer.by_name("early")
    assert (obs.id, obs.parent_id) == (_ids(span)[1], None)


def test_spans_never_ended_are_not_remembered_without_bound(
    tracer: RecordingTracer, provider: TracerProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A span started and dropped without end() (a leaky instrumentation) is freed by the SDK;
    # the bridge kept its placement for ever.
    from langfuse_async import opentelemetry as bridge

    monkeypatch.setattr(bridge, "_OPEN_REMEMBERED", 100, raising=False)
    otel = provider.get_tracer(LLM_SCOPE)
    for i in range(250):
        otel.start_span(f"leaked-{i}")  # never ended
    assert len(bridge._open) <= 100
    # The newest still place their children; an ended one is recorded as usual.
    parent = otel.start_span("kept", attributes=GENAI)
    with trace_api.use_span(parent), otel.start_as_current_span("child", attributes=GENAI):
        pass
    parent.end()
    child, kept = tracer.by_name("child"), tracer.by_name("kept")
    assert child.parent_id == kept.id


def test_explicit_trace_context_wins_over_the_span(
    tracer: RecordingTracer, provider: TracerProvider
) -> None:
    trace_id = tracer.create_trace_id()
    with provider.get_tracer(LLM_SCOPE).start_as_current_span("s"):
        tracer.start_observation(name="elsewhere", trace_context={"trace_id": trace_id}).end()
    obs = tracer.by_name("elsewhere")
    assert (obs.trace_id, obs.parent_id, obs.remote_parent) == (trace_id, None, False)


def test_filter_and_errors(tracer: RecordingTracer) -> None:
    def broken(span: Any) -> bool:
        if span.name == "bad":
            raise RuntimeError("filter bug")
        return True

    default, everything = TracerProvider(), TracerProvider()
    default.add_span_processor(LangfuseSpanProcessor())
    everything.add_span_processor(LangfuseSpanProcessor(should_export_span=broken))
    try:
        with default.get_tracer("my.app").start_as_current_span("plain"):
            pass
        app = everything.get_tracer("my.app")
        with app.start_as_current_span("kept") as kept:
            kept.set_status(Status(StatusCode.ERROR))
            kept.record_exception(ValueError("no model"))
        with app.start_as_current_span("bad"):
            pass
    finally:
        default.shutdown()
        everything.shutdown()
    assert [o.name for o in tracer.observations] == ["kept"]
    obs = tracer.observations[0]
    assert (obs.as_type, obs.level, obs.status_message) == ("span", "ERROR", "no model")
    assert decode(obs.metadata)["scope"]["name"] == "my.app"


def test_mask_patches_attributes(tracer: RecordingTracer) -> None:
    def mask(*, params: Any) -> MaskOtelSpansResult:
        [(ident, span)] = params.spans.items()
        if span.name == "secret":
            raise RuntimeError("mask bug")
        patch = OtelSpanPatch(delete_attributes=("input.value",), set_attributes={"masked": True})
        return MaskOtelSpansResult(span_patches={ident: patch})

    provider = TracerProvider()
    provider.add_span_processor(LangfuseSpanProcessor(mask_otel_spans=mask))
    try:
        otel = provider.get_tracer(LLM_SCOPE)
        attributes = {"input.value": "my password", "output.value": "ok"}
        with otel.start_as_current_span("llm", attributes=attributes):
            pass
        with otel.start_as_current_span("secret", attributes=attributes):
            pass
    finally:
        provider.shutdown()
    [obs] = tracer.observations
    assert obs.input is None
    assert decode(obs.output) == "ok"
    assert decode(obs.metadata)["attributes"] == {"masked": "true"}  # as the server has it


def test_sampled_out_traces_record_nothing(isolated_registry: None) -> None:
    sampled = RecordingTracer(sample_rate=0.0)
    provider = TracerProvider()
    provider.add_span_processor(LangfuseSpanProcessor())
    try:
        with provider.get_tracer(LLM_SCOPE).start_as_current_span("llm", attributes=GENAI):
            pass
    finally:
        provider.shutdown()
    assert sampled.records == []
    assert sampled.sampled_out == 1


def test_setup_tracer_provider(tracer: RecordingTracer, monkeypatch: pytest.MonkeyPatch) -> None:
    made = setup_tracer_provider(set_global=False)
    try:
        with made.get_tracer(LLM_SCOPE).start_as_current_span("llm", attributes=GENAI):
            pass
    finally:
        made.shutdown()
    assert tracer.by_name("llm").model == "gpt-4o"
    # An SDK provider installed globally gets the processor instead of being replaced.
    existing = TracerProvider()
    monkeypatch.setattr(trace_api, "get_tracer_provider", lambda: existing)
    try:
        assert setup_tracer_provider() is existing
        with existing.get_tracer(LLM_SCOPE).start_as_current_span("again", attributes=GENAI):
            pass
    finally:
        existing.shutdown()
    assert tracer.by_name("again").as_type == "generation"
    # Without one, a new provider is made and installed.
    installed: list[Any] = []
    monkeypatch.setattr(trace_api, "get_tracer_provider", trace_api.ProxyTracerProvider)
    monkeypatch.setattr(trace_api, "set_tracer_provider", installed.append)
    fresh = setup_tracer_provider()
    try:
        assert installed == [fresh] and isinstance(fresh, TracerProvider)
    finally:
        fresh.shutdown()


@pytest.fixture
async def instrumented(provider: TracerProvider) -> AsyncIterator[FakeOpenAI]:
    from openinference.instrumentation.openai import OpenAIInstrumentor

    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        async with FakeOpenAI() as server:
            yield server
    finally:
        instrumentor.uninstrument()


async def test_openinference_openai_spans_become_generations(
    tracer: RecordingTracer, instrumented: FakeOpenAI
) -> None:
    @observe
    async def answer() -> str:
        async with openai.AsyncOpenAI(api_key="sk-test", base_url=instrumented.base_url) as c:
            completion = await c.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "Say hello"}],
                temperature=0.3,
            )
        return completion.choices[0].message.content or ""

    assert await answer() == "Hello world"
    outer = tracer.by_name("answer")
    [gen] = [o for o in tracer.observations if o.as_type == "generation"]
    assert (gen.trace_id, gen.parent_id) == (outer.trace_id, outer.id)
    assert gen.model == "gpt-4o-mini-2024"
    assert decode(gen.model_parameters)["temperature"] == 0.3
    # 12 prompt tokens, 2 of them read from the cache, and 5 completion tokens, 1 of them
    # reasoning: each counted once, as the server does.
    usage = decode(gen.usage_details)
    assert (usage["input"], usage["input_cached_tokens"]) == (10, 2)
    assert (usage["output"], usage["output_reasoning_tokens"]) == (4, 1)
    assert decode(gen.usage_details)["total"] == 17
    assert decode(gen.input)["messages"] == [{"role": "user", "content": "Say hello"}]
    assert decode(gen.output)["choices"][0]["message"]["content"] == "Hello world"


@pytest.mark.parametrize(
    "route",
    [
        pytest.param("ingestion", marks=pytest.mark.langfuse_collector(mode="v3")),
        pytest.param("otlp", marks=pytest.mark.langfuse_collector(mode="v4")),
    ],
)
async def test_spans_arrive_at_the_collector(route, langfuse_client, langfuse_collector) -> None:
    provider = TracerProvider()
    provider.add_span_processor(LangfuseSpanProcessor())
    try:
        otel = provider.get_tracer(LLM_SCOPE)
        async with langfuse_client.start_as_current_observation(name="request"):
            with otel.start_as_current_span("chat gpt-4o", attributes=GENAI):
                pass
    finally:
        provider.shutdown()
    result = await langfuse_client.flush()
    assert result.failed == 0
    [gen] = await langfuse_collector.observations(type="GENERATION")
    [root] = await langfuse_collector.observations(name="request")
    assert gen.parent_observation_id == root.id
    assert gen.trace_id == root.trace_id
    assert gen.model == "gpt-4o"
    assert dict(gen.usage_details) == {"input": 10, "output": 3, "total": 13}  # total: the server
    paths = {r.path for r in langfuse_collector.requests}
    assert ("/api/public/otel/v1/traces" in paths) == (route == "otlp")


async def test_a_tracer_provider_given_to_the_client_sends_its_spans(langfuse_collector) -> None:
    # As the official client: Langfuse(tracer_provider=...) adds its span processor to it,
    # with the official filter and mask.
    from langfuse_async import Langfuse

    def mask(*, params: Any) -> MaskOtelSpansResult:
        patch = OtelSpanPatch(set_attributes={"gen_ai.request.model": "masked"})
        return MaskOtelSpansResult(span_patches=dict.fromkeys(params.spans, patch))

    provider = TracerProvider()
    langfuse = Langfuse(
        public_key=langfuse_collector.public_key,
        secret_key=langfuse_collector.secret_key,
        base_url=langfuse_collector.url,
        tracer_provider=provider,
        should_export_span=lambda span: span.name != "skipped",
        mask_otel_spans=mask,
    )
    try:
        otel = provider.get_tracer(LLM_SCOPE)
        with otel.start_as_current_span("chat gpt-4o", attributes=GENAI):
            pass
        with otel.start_as_current_span("skipped", attributes=GENAI):
            pass
    finally:
        provider.shutdown()
    result = await langfuse.shutdown(timeout=10)
    assert result.completed and result.failed == 0
    [gen] = await langfuse_collector.observations()
    assert (gen.name, gen.type, gen.model) == ("chat gpt-4o", "GENERATION", "masked")


async def test_a_client_built_again_on_the_same_provider_records_each_span_once(
    langfuse_collector,
) -> None:
    # A service that builds its client again (a reload, one per test) with the same provider
    # added a second processor, and every span was recorded, sent and counted twice.
    from langfuse_async import Langfuse

    provider = TracerProvider()
    options: dict[str, Any] = {
        "transport": "ingestion",
        "public_key": langfuse_collector.public_key,
        "secret_key": langfuse_collector.secret_key,
        "base_url": langfuse_collector.url,
        "tracer_provider": provider,
    }
    first = Langfuse(**options, should_export_span=lambda span: False)
    await first.shutdown(timeout=10)
    langfuse = Langfuse(**options)  # no filter given: the default one, not the first's
    try:
        with provider.get_tracer(LLM_SCOPE).start_as_current_span("chat gpt-4o", attributes=GENAI):
            pass
    finally:
        provider.shutdown()
    result = await langfuse.shutdown(timeout=10)
    assert result.completed and result.failed == 0
    [gen] = await langfuse_collector.observations()
    assert gen.name == "chat gpt-4o"
    assert len(provider._active_span_processor._span_processors) == 1
    # Sent once: two processors made two events of the one span (the server merges them).
    sent = [
        event
        for r in langfuse_collector.requests
        if r.path == "/api/public/ingestion"
        for event in json.loads(r.body)["batch"]
        if event["type"] != "trace-create"
    ]
    assert [event["body"]["name"] for event in sent] == ["chat gpt-4o"]


def test_setup_tracer_provider_twice_adds_one_processor(
    tracer: RecordingTracer, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = TracerProvider()
    monkeypatch.setattr(trace_api, "get_tracer_provider", lambda: provider)
    assert setup_tracer_provider() is provider
    assert setup_tracer_provider() is provider
    try:
        with provider.get_tracer(LLM_SCOPE).start_as_current_span("once", attributes=GENAI):
            pass
    finally:
        provider.shutdown()
    assert [r.name for r in tracer.observations] == ["once"]


def test_genai_operation_details_event_becomes_input_and_output(
    tracer: RecordingTracer, provider: TracerProvider
) -> None:
    # GenAI semantic conventions 1.37+ put the messages on an event of the span.
    details = {
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": []}]),
        "gen_ai.output.messages": "ok",
    }
    attributes = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}
    with provider.get_tracer("otel.genai").start_as_current_span(
        "chat m", attributes=attributes
    ) as span:
        span.add_event("gen_ai.client.inference.operation.details", details)
    [record] = tracer.observations
    assert record.as_type == "generation"
    assert (decode(record.input), decode(record.output)) == ([{"role": "user", "parts": []}], "ok")


def test_token_counts_read_per_instrumentation_as_the_server_does(
    tracer: RecordingTracer, provider: TracerProvider
) -> None:
    # The Vercel AI SDK (a JavaScript library) as its spans arrive: Anthropic's cache writes
    # split by TTL in the provider metadata; its agent span above the model call; Google
    # ADK's cached count in its response; Genkit's model call.
    anthropic = {
        "usage": {
            "cache_creation_input_tokens": 2089,
            "cache_read_input_tokens": 16399,
            "cache_creation": {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 89},
        }
    }
    ai_sdk = provider.get_tracer("ai")
    with ai_sdk.start_as_current_span(
        "invoke_agent",
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.usage.input_tokens": 18495,
            "gen_ai.usage.output_tokens": 445,
        },
    ):
        with ai_sdk.start_as_current_span(
            "ai.generateText.doGenerate",
            attributes={
                "ai.operationId": "ai.generateText.doGenerate",
                "ai.model.id": "claude-sonnet-4-5",
                "gen_ai.usage.input_tokens": 18495,
                "gen_ai.usage.output_tokens": 445,
                "ai.response.providerMetadata": json.dumps({"anthropic": anthropic}),
            },
        ):
            pass
    response = {"usage_metadata": {"cached_content_token_count": 60}}
    with provider.get_tracer("gcp.vertex.agent").start_as_current_span(
        "call_llm",
        attributes={
            "gen_ai.request.model": "gemini-2.5-flash",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 20,
            "gcp.vertex.agent.llm_response": json.dumps(response),
        },
    ):
        pass
    # Genkit is no known LLM instrumentation by default (as in the official SDK): asked for.
    everything = TracerProvider()
    everything.add_span_processor(LangfuseSpanProcessor(should_export_span=lambda _span: True))
    genkit_output = {"message": {"role": "model"}, "usage": {"inputTokens": 5, "outputTokens": 3}}
    try:
        with everything.get_tracer("genkit-tracer").start_as_current_span(
            "googleai/gemini-2.5-flash",
            attributes={
                "genkit:metadata:subtype": "model",
                "genkit:name": "googleai/gemini-2.5-flash",
                "genkit:input": json.dumps({"messages": [{"role": "user"}]}),
                "genkit:output": json.dumps(genkit_output),
            },
        ):
            pass
    finally:
        everything.shutdown()
    agent = tracer.by_name("invoke_agent")
    assert agent.as_type == "agent"
    assert (agent.model, agent.usage_details) == (None, None)  # its model calls' sum
    call = tracer.by_name("ai.generateText.doGenerate")
    assert (call.as_type, call.model) == ("generation", "claude-sonnet-4-5")
    assert decode(call.usage_details) == {
        "input": 7,
        "output": 445,
        "input_cached_tokens": 16399,
        "input_cache_creation": 0,
        "input_cache_creation_5m": 2000,
        "input_cache_creation_1h": 89,
    }
    adk = tracer.by_name("call_llm")
    assert decode(adk.usage_details) == {"input": 40, "output": 20, "input_cached_tokens": 60}
    genkit = tracer.by_name("googleai/gemini-2.5-flash")
    assert (decode(genkit.input), decode(genkit.output)) == ([{"role": "user"}], {"role": "model"})


def test_model_parameters_completion_start_and_empty_own_input_as_the_collector_stores_them(
    tracer: RecordingTracer,
) -> None:
    # The spans the collector's test posts (the same attributes, through the real SDK here):
    # the bridge maps them to what the collector stores for them.
    from tests.collector.test_collector_otel_sources import FIELD_SPANS

    everything = TracerProvider()
    everything.add_span_processor(LangfuseSpanProcessor(should_export_span=lambda _span: True))
    start_ns = 1_752_384_000_000_000_000  # 2025-07-13T05:20:00.000Z, as there
    ids: dict[str, str] = {}
    try:
        for span_id, (scope, attributes, _expected) in FIELD_SPANS.items():
            span = everything.get_tracer(scope).start_span(
                span_id, attributes=attributes, start_time=start_ns
            )
            span.end(end_time=start_ns + 1_000_000_000)
            ids[span_id] = _ids(span)[1]
    finally:
        everything.shutdown()
    by_id = {record.id: record for record in tracer.observations}
    found, wanted = {}, {}
    for span_id, (_scope, _attributes, expected) in FIELD_SPANS.items():
        record = by_id[ids[span_id]]
        completion_start = (
            None if record.completion_start_ns is None else record.completion_start_ns // 10**6
        )
        mapped = {
            "type": record.as_type.upper(),
            "modelParameters": decode(record.model_parameters),
            "completionStartTime": completion_start,
            "input": decode(record.input),
            "output": decode(record.output),
        }
        if expected.get("completionStartTime") is not None:
            expected = {**expected, "completionStartTime": start_ns // 10**6 + 413}
        found[span_id] = {key: mapped[key] for key in expected}
        wanted[span_id] = expected
    assert found == wanted
