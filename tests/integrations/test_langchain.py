"""The LangChain callback handler, with langchain-core's fake chat models in runnable sequences."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig, RunnableLambda, RunnablePassthrough
from langchain_core.tools import tool

from langfuse_async import get_client, observe
from langfuse_async.langchain import CallbackHandler
from tests.support.recording import RecordingTracer, decode

pytestmark = pytest.mark.anyio

PROMPT = ChatPromptTemplate.from_messages(
    [("system", "You answer briefly."), ("human", "{question}")]
)
USAGE_METADATA = {
    "input_tokens": 12,
    "output_tokens": 5,
    "total_tokens": 17,
    "input_token_details": {"cache_read": 2},
    "output_token_details": {"reasoning": 1},
}


def model(*replies: AIMessage) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter(replies))


def answer(text: str = "Paris is sunny") -> AIMessage:
    return AIMessage(
        content=text,
        usage_metadata=USAGE_METADATA,  # type: ignore[arg-type]
        response_metadata={"model_name": "fake-model-1"},
    )


def test_sequence_nests_under_the_current_observation(tracer: RecordingTracer) -> None:
    handler = CallbackHandler()
    chain = PROMPT | model(answer()) | StrOutputParser()
    with tracer.start_as_current_observation(name="request") as request:
        result = chain.invoke({"question": "Weather?"}, config={"callbacks": [handler]})
    assert result == "Paris is sunny"
    seq = tracer.by_name("RunnableSequence")
    assert (seq.as_type, seq.parent_id, seq.trace_id) == ("chain", request.id, request.trace_id)
    assert decode(seq.input) == {"question": "Weather?"}
    assert decode(seq.output) == "Paris is sunny"
    assert handler.last_trace_id == request.trace_id
    prompt = tracer.by_name("ChatPromptTemplate")
    parser = tracer.by_name("StrOutputParser")
    gen = tracer.by_name("GenericFakeChatModel")
    assert {prompt.parent_id, parser.parent_id, gen.parent_id} == {seq.id}
    assert gen.as_type == "generation"
    assert decode(gen.input) == [
        {"role": "system", "content": "You answer briefly."},
        {"role": "user", "content": "Weather?"},
    ]
    assert decode(gen.output) == {"role": "assistant", "content": "Paris is sunny"}
    assert gen.model == "fake-model-1"
    assert decode(gen.usage_details) == {
        "input": 10,
        "input_cached_tokens": 2,
        "output": 4,
        "output_reasoning_tokens": 1,
        "total": 17,
    }
    assert gen.start_ns >= seq.start_ns and gen.end_ns <= seq.end_ns


def test_root_run_starts_a_trace_with_attributes_from_metadata(tracer: RecordingTracer) -> None:
    chain = PROMPT | model(answer())
    config: RunnableConfig = {
        "callbacks": [CallbackHandler()],
        "metadata": {"langfuse_user_id": "user-1", "langfuse_session_id": "s-1", "team": "x"},
        "tags": ["beta"],
        "run_name": "weather-chain",
    }
    chain.invoke({"question": "Weather?"}, config=config)
    root = tracer.by_name("weather-chain")
    assert root.parent_id is None
    assert root.trace is not None
    assert (root.trace.user_id, root.trace.session_id) == ("user-1", "s-1")
    assert root.trace.tags == ("beta",)
    meta = decode(root.metadata)
    assert meta["team"] == "x" and meta["tags"] == ["beta"]
    assert "langfuse_user_id" not in meta


def test_handler_made_before_the_client_records_into_it(isolated_registry: None) -> None:
    handler = CallbackHandler()  # e.g. at import time, before the client exists
    client = RecordingTracer()
    (PROMPT | model(answer())).invoke({"question": "q"}, config={"callbacks": [handler]})
    assert {o.name for o in client.observations} >= {"RunnableSequence"}


def test_trace_context_attaches_root_runs(tracer: RecordingTracer) -> None:
    trace_id = tracer.create_trace_id()
    handler = CallbackHandler(trace_context={"trace_id": trace_id, "parent_span_id": "a" * 16})
    (PROMPT | model(answer())).invoke({"question": "q"}, config={"callbacks": [handler]})
    root = tracer.by_name("RunnableSequence")
    assert (root.trace_id, root.parent_id) == (trace_id, "a" * 16)


@tool
def get_weather(city: str) -> str:
    """Tell the weather of a city."""
    inner(city)
    return f"Sunny in {city}"


@observe(name="inner")
def inner(city: str) -> str:
    return city


def test_tool_call_and_code_inside_the_tool_nest(tracer: RecordingTracer) -> None:
    call = {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}
    llm = model(AIMessage(content="", tool_calls=[call]))

    def run_tools(message: AIMessage, config: RunnableConfig) -> list[Any]:
        return [get_weather.invoke(c, config) for c in message.tool_calls]

    chain = PROMPT | llm | RunnableLambda(run_tools, name="tools")
    [result] = chain.invoke({"question": "Weather?"}, config={"callbacks": [CallbackHandler()]})
    assert result.content == "Sunny in Paris"
    gen = tracer.by_name("GenericFakeChatModel")
    [recorded_call] = decode(gen.output)["tool_calls"]
    assert recorded_call["name"] == "get_weather" and recorded_call["args"] == {"city": "Paris"}
    tool_obs = tracer.by_name("get_weather")
    assert tool_obs.as_type == "tool"
    assert tool_obs.parent_id == tracer.by_name("tools").id
    assert decode(tool_obs.output) == "Sunny in Paris"
    assert tracer.by_name("inner").parent_id == tool_obs.id


class Docs(BaseRetriever):
    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [Document(page_content=f"About {query}", metadata={"source": "wiki"})]


def test_retriever(tracer: RecordingTracer) -> None:
    chain = {"context": Docs(), "question": RunnablePassthrough()} | PROMPT | model(answer())
    chain.invoke("Paris", config={"callbacks": [CallbackHandler()]})
    retriever = tracer.by_name("Docs")
    assert retriever.as_type == "retriever"
    assert decode(retriever.input) == "Paris"
    assert decode(retriever.output) == [
        {"page_content": "About Paris", "metadata": {"source": "wiki"}}
    ]


def test_langfuse_prompt_in_template_metadata_links_the_generation(
    tracer: RecordingTracer,
) -> None:
    from types import SimpleNamespace

    langfuse_prompt = SimpleNamespace(name="weather-prompt", version=4, is_fallback=False)
    template = ChatPromptTemplate.from_messages([("human", "{question}")]).with_config(
        metadata={"langfuse_prompt": langfuse_prompt}
    )
    chain = template | model(answer())
    chain.invoke({"question": "q"}, config={"callbacks": [CallbackHandler()]})
    gen = tracer.by_name("GenericFakeChatModel")
    assert (gen.prompt_name, gen.prompt_version) == ("weather-prompt", 4)
    assert "langfuse_prompt" not in (decode(tracer.by_name("ChatPromptTemplate").metadata) or {})


def test_cyclic_inputs_are_recorded(tracer: RecordingTracer) -> None:
    cyclic: dict[str, Any] = {"question": "q"}
    cyclic["self"] = cyclic
    RunnableLambda(lambda x: "ok", name="echo").invoke(
        cyclic, config={"callbacks": [CallbackHandler()]}
    )
    recorded = decode(tracer.by_name("echo").input)
    assert recorded["question"] == "q"


def test_errors_are_recorded_and_propagate(tracer: RecordingTracer) -> None:
    def fail(_: Any) -> None:
        raise ValueError("no weather today")

    chain = PROMPT | model(answer()) | RunnableLambda(fail, name="fail")
    with pytest.raises(ValueError, match="no weather today"):
        chain.invoke({"question": "q"}, config={"callbacks": [CallbackHandler()]})
    for name in ("fail", "RunnableSequence"):
        obs = tracer.by_name(name)
        assert (obs.level, obs.status_message) == ("ERROR", "no weather today")
    assert tracer.by_name("GenericFakeChatModel").level is None


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("this error cannot say what it is")


def test_an_error_whose_message_cannot_be_read_is_still_recorded_as_an_error(
    tracer: RecordingTracer,
) -> None:
    def fail(_: Any) -> None:
        raise _Unprintable()

    chain = PROMPT | RunnableLambda(fail, name="fail")
    with pytest.raises(_Unprintable):
        chain.invoke({"question": "q"}, config={"callbacks": [CallbackHandler()]})
    for name in ("fail", "RunnableSequence"):
        obs = tracer.by_name(name)
        assert obs.end_ns is not None
        assert (obs.level, obs.status_message) == ("ERROR", "<_Unprintable>")


async def test_async_streaming_records_time_to_first_token(tracer: RecordingTracer) -> None:
    loop_thread = threading.get_ident()
    seen_threads: set[int] = set()

    class Probe(CallbackHandler):
        def on_llm_new_token(self, token: Any, **kwargs: Any) -> None:
            seen_threads.add(threading.get_ident())
            super().on_llm_new_token(token, **kwargs)

    chain = PROMPT | model(answer("Sunny all day")) | StrOutputParser()
    async with tracer.start_as_current_observation(name="request") as request:
        pieces = [
            piece
            async for piece in chain.astream({"question": "q"}, config={"callbacks": [Probe()]})
        ]
    assert "".join(pieces) == "Sunny all day"
    assert len(pieces) > 1
    # The handler runs inline on the event loop, never in a worker thread.
    assert seen_threads == {loop_thread}
    gen = tracer.by_name("GenericFakeChatModel")
    assert gen.completion_start_ns is not None
    assert gen.start_ns <= gen.completion_start_ns <= gen.end_ns
    assert decode(gen.output)["content"] == "Sunny all day"
    assert tracer.by_name("RunnableSequence").parent_id == request.id
    assert decode(tracer.by_name("RunnableSequence").output) == "Sunny all day"


async def test_a_streamed_chain_records_its_real_input_and_an_assistant_reply(
    tracer: RecordingTracer,
) -> None:
    # astream starts each chain run with the placeholder {"input": ""} (the input is streamed
    # too) and gives the real input at the end; a streamed reply is an AIMessageChunk.
    chain = PROMPT | model(answer("Sunny all day")) | StrOutputParser()
    config: RunnableConfig = {"callbacks": [CallbackHandler()], "run_name": "weather"}
    pieces = [piece async for piece in chain.astream({"question": "Weather?"}, config=config)]
    assert "".join(pieces) == "Sunny all day"
    assert decode(tracer.by_name("weather").input) == {"question": "Weather?"}
    parser = decode(tracer.by_name("StrOutputParser").input)
    assert parser["role"] == "assistant" and parser["content"] == "Sunny all day"
    assert decode(tracer.by_name("GenericFakeChatModel").output) == {
        "role": "assistant",
        "content": "Sunny all day",
    }


async def test_async_invoke_keeps_concurrent_runs_apart(tracer: RecordingTracer) -> None:
    import anyio

    handler = CallbackHandler()

    async def one(question: str) -> None:
        with get_client().start_as_current_observation(name=f"req-{question}"):
            await (PROMPT | model(answer(question))).ainvoke(
                {"question": question}, config={"callbacks": [handler]}
            )

    async with anyio.create_task_group() as tg:
        for q in ("a", "b", "c"):
            tg.start_soon(one, q)
    sequences = [o for o in tracer.observations if o.name == "RunnableSequence"]
    assert len(sequences) == 3
    by_id = {o.id: o for o in tracer.observations}
    for seq in sequences:
        request = by_id[seq.parent_id]  # type: ignore[index]
        assert decode(seq.input) == {"question": request.name.removeprefix("req-")}


async def test_runs_arrive_at_the_collector(langfuse_client, langfuse_collector) -> None:
    chain = PROMPT | model(answer()) | StrOutputParser()
    await chain.ainvoke(
        {"question": "Weather?"},
        config={"callbacks": [CallbackHandler()], "run_name": "weather"},
    )
    result = await langfuse_client.flush()
    assert result.failed == 0
    [gen] = await langfuse_collector.observations(type="GENERATION")
    [root] = await langfuse_collector.observations(name="weather")
    assert gen.parent_observation_id == root.id
    assert gen.model == "fake-model-1"
    assert gen.usage_details["total"] == 17
    assert root.type == "CHAIN"
