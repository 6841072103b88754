"""The official 5.x docs' tracing examples, with only the import changed (and ``await`` on flush).

Each test is an example as the Langfuse Python SDK docs teach it (decorator, context managers,
propagation, scores, masking, sampling, multiple projects), run against the embedded collector
through the ``langfuse_collector`` / ``langfuse_client`` fixtures, then checked by what arrived.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from langfuse_async import (
    Langfuse,
    LangfuseGeneration,
    LangfuseSpan,
    get_client,
    observe,
    propagate_attributes,
)
from langfuse_async.testing import Collector

pytestmark = pytest.mark.anyio


async def test_decorator(langfuse_client: Langfuse, langfuse_collector: Collector) -> None:
    @observe()
    def my_data_processing_function(data: str, parameter: int) -> dict[str, Any]:
        return {"processed_data": data, "status": "ok"}

    @observe(name="llm-call", as_type="generation")
    async def my_async_llm_call(prompt_text: str) -> str:
        return "LLM response"

    @observe()
    async def main() -> str:
        my_data_processing_function("payload", 3)
        return await my_async_llm_call("Tell me a joke")

    langfuse = get_client()
    assert await main() == "LLM response"
    await langfuse.flush()

    [trace] = await langfuse_collector.traces(name="main")
    observations = {o.name: o for o in await langfuse_collector.observations(trace_id=trace.id)}
    assert observations["llm-call"].type == "GENERATION"
    assert observations["llm-call"].input == {"prompt_text": "Tell me a joke"}
    assert observations["my_data_processing_function"].output == {
        "processed_data": "payload",
        "status": "ok",
    }
    assert trace.output == "LLM response"


async def test_context_managers_and_manual_observations(
    langfuse_client: Langfuse, langfuse_collector: Collector
) -> None:
    langfuse = get_client()

    with langfuse.start_as_current_observation(
        as_type="span",
        name="user-request-pipeline",
        input={"user_query": "Tell me a joke"},
    ) as root_span:
        with propagate_attributes(user_id="user_123", session_id="session_abc"):
            with langfuse.start_as_current_observation(
                as_type="generation",
                name="joke-generation",
                model="gpt-4o",
            ) as generation:
                generation.update(output="Why did the span cross the road?")
                generation.update(usage_details={"input": 12, "output": 9})
            root_span.update(output={"final_joke": "Why did the span cross the road?"})

    span = langfuse.start_observation(name="manual-span")
    child = span.start_observation(name="manual-child", as_type="tool")
    child.end()
    span.update(output="done")
    span.end()
    assert isinstance(generation, LangfuseGeneration) and isinstance(root_span, LangfuseSpan)

    await langfuse.flush()
    [trace] = await langfuse_collector.traces(name="user-request-pipeline")
    assert (trace.user_id, trace.session_id) == ("user_123", "session_abc")
    assert trace.input == {"user_query": "Tell me a joke"}
    [gen] = await langfuse_collector.observations(trace_id=trace.id, name="joke-generation")
    assert gen.model == "gpt-4o" and gen.usage_details["input"] == 12
    [manual] = await langfuse_collector.traces(name="manual-span")
    [tool] = await langfuse_collector.observations(trace_id=manual.id, name="manual-child")
    assert tool.type == "TOOL"


async def test_propagate_attributes_on_the_decorator_path(
    langfuse_client: Langfuse, langfuse_collector: Collector
) -> None:
    @observe()
    def process_request(query: str) -> str:
        with propagate_attributes(
            user_id="user_123",
            session_id="session_abc",
            tags=["experiment-a"],
            metadata={"email": "user@langfuse.com"},
            version="1.0.0",
            trace_name="request-processing",
        ):
            return call_llm(query)

    @observe(as_type="generation")
    def call_llm(query: str) -> str:
        return "answer"

    process_request("hi")
    await get_client().flush()
    [trace] = await langfuse_collector.traces(name="request-processing")
    assert trace.user_id == "user_123" and trace.session_id == "session_abc"
    assert trace.tags == ("experiment-a",)
    assert trace.metadata["email"] == "user@langfuse.com"
    [llm] = await langfuse_collector.observations(trace_id=trace.id, name="call_llm")
    assert llm.version == "1.0.0"


async def test_update_current_trace_still_works(
    langfuse_client: Langfuse, langfuse_collector: Collector
) -> None:
    langfuse = get_client()
    with langfuse.start_as_current_observation(name="legacy"):
        langfuse.update_current_trace(user_id="old-style", tags=["v3"])
        langfuse.set_current_trace_as_public()
    await langfuse.flush()
    [trace] = await langfuse_collector.traces(name="legacy")
    assert trace.user_id == "old-style" and trace.public is True


async def test_scores(langfuse_client: Langfuse, langfuse_collector: Collector) -> None:
    langfuse = get_client()
    with langfuse.start_as_current_observation(as_type="generation", name="summary") as gen:
        gen.score(name="conciseness", value=0.8, data_type="NUMERIC")
        gen.score_trace(name="user_feedback_rating", value="positive", data_type="CATEGORICAL")
        langfuse.score_current_span(name="correct", value=1, data_type="BOOLEAN")
        langfuse.score_current_trace(name="overall", value=0.9)
        trace_id, observation_id = gen.trace_id, gen.id
    langfuse.create_score(
        name="fact_check_accuracy",
        value=0.95,
        trace_id=trace_id,
        observation_id=observation_id,
        data_type="NUMERIC",
        comment="Source verified",
        timestamp=dt.datetime.now(dt.timezone.utc),
        environment="qa",
    )
    await langfuse.flush()
    scores = {s.name: s for s in await langfuse_collector.scores(trace_id=trace_id)}
    assert set(scores) == {
        "conciseness",
        "user_feedback_rating",
        "correct",
        "overall",
        "fact_check_accuracy",
    }
    assert scores["conciseness"].observation_id == observation_id
    assert scores["user_feedback_rating"].observation_id is None
    assert scores["user_feedback_rating"].value == "positive"
    assert scores["fact_check_accuracy"].environment == "qa"


def _official_mask(*, data: Any, **kwargs: Any) -> Any:
    # The docs' example: redact credit card numbers in strings.
    if isinstance(data, str):
        return re.sub(r"\b\d{4}-\d{4}-\d{4}-\d{4}\b", "[REDACTED_CC]", data)
    return data


@pytest.mark.langfuse_client(mask=_official_mask)
async def test_masking(langfuse_client: Langfuse, langfuse_collector: Collector) -> None:
    langfuse = get_client()
    with langfuse.start_as_current_observation(
        name="payment", input="pay with 4111-1111-1111-1111"
    ):
        pass
    await langfuse.flush()
    [trace] = await langfuse_collector.traces(name="payment")
    [span] = await langfuse_collector.observations(trace_id=trace.id)
    assert span.input == "pay with [REDACTED_CC]"


@pytest.mark.langfuse_client(sample_rate=0.0)
async def test_sampling(langfuse_client: Langfuse, langfuse_collector: Collector) -> None:
    langfuse = get_client()
    for i in range(5):
        with langfuse.start_as_current_observation(name=f"sampled-{i}"):
            pass
    await langfuse.flush()
    assert await langfuse_collector.traces() == []
    assert langfuse.statistics().sampled_out == 5


async def test_decorator_io_capture_disabled(
    langfuse_collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGFUSE_OBSERVE_DECORATOR_IO_CAPTURE_ENABLED", "false")

    @observe()
    def handle(secret: str) -> str:
        return secret.upper()

    langfuse = Langfuse()  # from the environment, which names the collector
    handle("card-number")
    await langfuse.shutdown()
    [trace] = await langfuse_collector.traces(name="handle")
    [obs] = await langfuse_collector.observations(trace_id=trace.id)
    assert obs.input is None and obs.output is None


@pytest.mark.usefixtures("isolated_registry")
async def test_multiple_projects() -> None:
    async with (
        Collector(public_key="pk-lf-project-a", secret_key="sk-a") as server_a,
        Collector(public_key="pk-lf-project-b", secret_key="sk-b") as server_b,
    ):
        Langfuse(public_key="pk-lf-project-a", secret_key="sk-a", base_url=server_a.url)
        Langfuse(public_key="pk-lf-project-b", secret_key="sk-b", base_url=server_b.url)

        @observe()
        def nested_step(data: str) -> str:
            return data

        @observe()
        def process_data_for_project_a(data: str) -> str:
            return nested_step(data)  # goes to project A with its caller

        @observe()
        def process_data_for_project_b(data: str) -> str:
            return data

        process_data_for_project_a("a", langfuse_public_key="pk-lf-project-a")
        process_data_for_project_b("b", langfuse_public_key="pk-lf-project-b")
        client_a = get_client(public_key="pk-lf-project-a")
        client_b = get_client(public_key="pk-lf-project-b")
        assert await client_a.auth_check() and await client_b.auth_check()
        await client_a.shutdown()
        await client_b.shutdown()
        assert [t.name for t in await server_a.traces()] == ["process_data_for_project_a"]
        [trace_a] = await server_a.traces()
        names = {o.name for o in await server_a.observations(trace_id=trace_a.id)}
        assert names == {"process_data_for_project_a", "nested_step"}
        assert await server_b.observations(name="nested_step") == []
        assert [t.name for t in await server_b.traces()] == ["process_data_for_project_b"]


async def test_auth_check_and_trace_url(
    langfuse_client: Langfuse, langfuse_collector: Collector
) -> None:
    langfuse = get_client()
    assert await langfuse.auth_check() is True
    with langfuse.start_as_current_observation(name="linked") as span:
        url = await langfuse.get_trace_url()
    assert url is not None
    assert url.startswith(langfuse_collector.url + "/project/")
    assert url.endswith(f"/traces/{span.trace_id}")
    assert await langfuse.get_trace_url(trace_id=span.trace_id) == url
    wrong = Langfuse(public_key="pk-wrong", secret_key="sk", base_url=langfuse_collector.url)
    assert await wrong.auth_check() is False
    assert await wrong.get_trace_url(trace_id=span.trace_id) is None
    await wrong.shutdown()


@pytest.mark.usefixtures("isolated_registry")
@pytest.mark.parametrize("transport", ["ingestion", "otlp"])
async def test_propagated_attributes_arrive_on_both_routes(
    langfuse_collector: Collector, transport: Any
) -> None:
    langfuse = Langfuse(
        public_key=langfuse_collector.public_key,
        secret_key=langfuse_collector.secret_key,
        base_url=langfuse_collector.url,
        transport=transport,
    )
    with propagate_attributes(
        user_id="u-7",
        session_id="s-7",
        tags=["t1"],
        metadata={"tenant": "acme"},
        version="2.0",
        trace_name="propagated",
        environment="staging",
    ):
        with langfuse.start_as_current_observation(name="root"):
            with langfuse.start_as_current_observation(name="child", as_type="generation"):
                pass
    await langfuse.shutdown()
    [trace] = await langfuse_collector.traces(name="propagated")
    assert (trace.user_id, trace.session_id, trace.tags) == ("u-7", "s-7", ("t1",))
    assert trace.metadata["tenant"] == "acme"
    assert trace.environment == "staging"
    observations = await langfuse_collector.observations(trace_id=trace.id)
    assert {o.name for o in observations} == {"root", "child"}
    assert all(o.version == "2.0" and o.environment == "staging" for o in observations)


@pytest.mark.usefixtures("isolated_registry")
@pytest.mark.parametrize("transport", ["ingestion", "otlp"])
async def test_a_roots_metadata_and_version_reach_its_trace_on_both_routes(
    langfuse_collector: Collector, transport: Any
) -> None:
    # The official SDK's root span gives its trace its metadata and version (the server's
    # rule for a root span): the same code must store the same trace on either route.
    langfuse = Langfuse(
        public_key=langfuse_collector.public_key,
        secret_key=langfuse_collector.secret_key,
        base_url=langfuse_collector.url,
        transport=transport,
    )
    with langfuse.start_as_current_observation(
        name="with-metadata", metadata={"a": 1, "nested": {"b": [1, 2]}}, version="1.2"
    ):
        pass
    with propagate_attributes(version="2.0", metadata={"tenant": "acme"}):
        with langfuse.start_as_current_observation(name="propagated", metadata={"a": 2}):
            langfuse.update_current_trace(metadata={"config": {"k": [1]}, "ratio": 0.5})
    await langfuse.shutdown()
    [first] = await langfuse_collector.traces(name="with-metadata")
    assert first.version == "1.2"
    assert {k: first.metadata[k] for k in ("a", "nested")} == {"a": 1, "nested": {"b": [1, 2]}}
    [second] = await langfuse_collector.traces(name="propagated")
    assert second.version == "2.0"
    assert (second.metadata["a"], second.metadata["tenant"]) == (2, "acme")
    assert (second.metadata["config"], second.metadata["ratio"]) == ({"k": [1]}, 0.5)
