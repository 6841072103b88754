"""The OpenAI drop-in: the real ``openai`` clients against a local OpenAI-compatible server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from types import SimpleNamespace

import httpx
import openai
import pytest

from langfuse_async.openai import AsyncAzureOpenAI, AsyncOpenAI, AzureOpenAI, OpenAI
from tests.support.fake_openai import FakeOpenAI
from tests.support.recording import RecordingTracer, decode

pytestmark = pytest.mark.anyio

MESSAGES = [{"role": "user", "content": "Say hello"}]
#: The usage the fake reports, as the server counts it (details split out of input/output).
USAGE = {
    "input": 10,
    "input_cached_tokens": 2,
    "output": 4,
    "output_reasoning_tokens": 1,
    "total": 17,
}


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
async def client(server: FakeOpenAI) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0) as c:
        yield c


async def test_chat_completion_is_a_generation_under_the_current_observation(
    tracer: RecordingTracer, client: AsyncOpenAI, server: FakeOpenAI
) -> None:
    with tracer.start_as_current_observation(name="turn") as turn:
        completion = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,  # type: ignore[arg-type]
            temperature=0.2,
            max_tokens=64,
        )
    assert completion.choices[0].message.content == "Hello world"
    gen = tracer.by_name("OpenAI-generation")
    assert gen.as_type == "generation"
    assert (gen.trace_id, gen.parent_id) == (turn.trace_id, turn.id)
    assert gen.model == "gpt-4o-mini-2024"
    assert decode(gen.model_parameters) == {"temperature": 0.2, "max_tokens": 64}
    assert decode(gen.input) == MESSAGES
    assert decode(gen.output) == {"role": "assistant", "content": "Hello world"}
    assert decode(gen.usage_details) == USAGE
    assert gen.level is None and gen.completion_start_ns is None


async def test_langfuse_arguments_are_recorded_and_never_sent(
    tracer: RecordingTracer, client: AsyncOpenAI, server: FakeOpenAI
) -> None:
    trace_id = tracer.create_trace_id(seed="request-1")
    prompt = SimpleNamespace(name="greeting", version=3, is_fallback=False)
    await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,  # type: ignore[arg-type]
        name="greet",  # type: ignore[call-arg]
        metadata={"tenant": "acme"},
        trace_id=trace_id,
        parent_observation_id="00f067aa0ba902b7",
        langfuse_prompt=prompt,
    )
    [(path, body)] = server.requests
    assert path == "/v1/chat/completions"
    assert set(body) == {"model", "messages"}
    gen = tracer.by_name("greet")
    assert (gen.trace_id, gen.parent_id) == (trace_id, "00f067aa0ba902b7")
    assert decode(gen.metadata) == {"tenant": "acme"}
    assert (gen.prompt_name, gen.prompt_version) == ("greeting", 3)


async def test_stored_completions_keep_their_metadata(
    tracer: RecordingTracer, client: AsyncOpenAI, server: FakeOpenAI
) -> None:
    await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,  # type: ignore[arg-type]
        store=True,
        metadata={"tenant": "acme"},
    )
    [(_, body)] = server.requests
    assert body["metadata"] == {"tenant": "acme"}
    assert decode(tracer.by_name("OpenAI-generation").metadata) == {"tenant": "acme"}


async def test_stream_is_passed_through_and_the_generation_ends_with_it(
    tracer: RecordingTracer, client: AsyncOpenAI
) -> None:
    with tracer.start_as_current_observation(name="turn"):
        stream = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        assert isinstance(stream, openai.AsyncStream)
        assert not [r for r in tracer.observations if r.as_type == "generation"]
        pieces = [chunk.choices[0].delta.content async for chunk in stream if chunk.choices]
    assert pieces == ["Hel", "lo", " world", None]
    gen = tracer.by_name("OpenAI-generation")
    assert decode(gen.output) == {"role": "assistant", "content": "Hello world"}
    assert decode(gen.usage_details) == USAGE
    assert decode(gen.metadata) == {"finish_reason": "stop"}
    assert gen.completion_start_ns is not None
    assert gen.start_ns <= gen.completion_start_ns <= gen.end_ns
    assert gen.parent_id == tracer.by_name("turn").id


async def test_streamed_tool_call_is_assembled(
    tracer: RecordingTracer, client: AsyncOpenAI, server: FakeOpenAI
) -> None:
    server.tool_call = {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,  # type: ignore[arg-type]
        tools=tools,  # type: ignore[arg-type]
        stream=True,
    )
    async for _ in stream:
        pass
    gen = tracer.by_name("OpenAI-generation")
    assert decode(gen.input) == {"messages": MESSAGES, "tools": tools}
    [call] = decode(gen.output)["tool_calls"]
    assert call["id"] == "call_1"
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}


async def test_stream_stopped_early_ends_the_generation_when_closed(
    tracer: RecordingTracer, client: AsyncOpenAI
) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
    )
    async for _ in stream:
        break
    await stream.close()
    gen = tracer.by_name("OpenAI-generation")
    assert decode(gen.output) == {"role": "assistant", "content": "Hel"}
    assert gen.level is None


async def test_a_stream_helper_left_early_ends_the_generation_when_it_closes(
    tracer: RecordingTracer, client: AsyncOpenAI
) -> None:
    # The helper closes the HTTP response, not the stream it reads: the generation stayed
    # open until the stream objects were collected, whenever that was.
    async with client.chat.completions.stream(
        model="gpt-4o-mini",
        messages=MESSAGES,  # type: ignore[arg-type]
    ) as stream:
        async for _ in stream:
            break
    gen = tracer.by_name("OpenAI-generation")
    assert decode(gen.output) == {"role": "assistant", "content": "Hel"}
    assert gen.level is None  # left early: no failure
    async with client.chat.completions.stream(
        model="gpt-4o-mini",
        messages=MESSAGES,  # type: ignore[arg-type]
    ) as whole:
        completion = await whole.get_final_completion()
    assert completion.choices[0].message.content == "Hello world"
    _, gen = tracer.observations  # read to the end: recorded once, whole
    assert decode(gen.output) == {"role": "assistant", "content": "Hello world"}
    assert gen.level is None


def test_a_sync_stream_helper_left_early_ends_the_generation_when_it_closes(
    tracer: RecordingTracer,
) -> None:
    with FakeOpenAI.threaded() as server:
        client = OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
        with client.chat.completions.stream(
            model="gpt-4o-mini",
            messages=MESSAGES,  # type: ignore[arg-type]
        ) as stream:
            for _ in stream:
                break
        gen = tracer.by_name("OpenAI-generation")
        assert decode(gen.output) == {"role": "assistant", "content": "Hel"}
        assert gen.level is None
        client.close()


async def test_broken_stream_is_an_error_and_reaches_the_caller(
    tracer: RecordingTracer, client: AsyncOpenAI, server: FakeOpenAI
) -> None:
    server.break_stream_after = 1
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
    )
    seen = []
    with pytest.raises(openai.APIConnectionError) as caught:
        async for chunk in stream:
            seen.append(chunk)
    assert len(seen) == 1
    gen = tracer.by_name("OpenAI-generation")
    assert gen.level == "ERROR"
    assert gen.status_message == (str(caught.value) or type(caught.value).__name__)
    assert decode(gen.output) == {"role": "assistant", "content": "Hel"}


async def test_api_error_is_recorded_and_reraised_unchanged(
    tracer: RecordingTracer, client: AsyncOpenAI, server: FakeOpenAI
) -> None:
    server.fail_next = (400, "The model `nope` does not exist")
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model="nope",
            messages=MESSAGES,  # type: ignore[arg-type]
        )
    assert "does not exist" in caught.value.message
    gen = tracer.by_name("OpenAI-generation")
    assert gen.level == "ERROR"
    assert gen.status_message is not None and "does not exist" in gen.status_message
    assert gen.model == "nope"


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("this error cannot say what it is")


async def test_an_error_whose_message_cannot_be_read_still_ends_the_generation(
    tracer: RecordingTracer,
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise _Unprintable()

    transport = httpx.MockTransport(refuse)
    async with AsyncOpenAI(
        api_key="sk-test",
        base_url="http://127.0.0.1:9/v1",
        max_retries=0,
        http_client=httpx.AsyncClient(transport=transport),
    ) as failing:
        with pytest.raises(_Unprintable):
            await failing.chat.completions.create(
                model="gpt-4o-mini",
                messages=MESSAGES,  # type: ignore[arg-type]
            )
    gen = tracer.by_name("OpenAI-generation")
    assert gen.end_ns is not None
    assert (gen.level, gen.status_message) == ("ERROR", "<_Unprintable>")


async def test_embeddings_are_embedding_observations(
    tracer: RecordingTracer, client: AsyncOpenAI
) -> None:
    await client.embeddings.create(model="text-embedding-3-small", input=["a", "b"], dimensions=3)
    emb = tracer.by_name("OpenAI-embedding")
    assert emb.as_type == "embedding"
    assert decode(emb.input) == ["a", "b"]
    assert decode(emb.output) == {"dimensions": 3, "count": 2}
    assert decode(emb.usage_details) == {"input": 4, "total": 4}
    assert decode(emb.model_parameters) == {"dimensions": 3}


async def test_legacy_completions_stream(tracer: RecordingTracer, client: AsyncOpenAI) -> None:
    stream = await client.completions.create(
        model="gpt-3.5-turbo-instruct", prompt="Say hello", stream=True
    )
    texts = [chunk.choices[0].text async for chunk in stream]
    assert texts == ["Hel", "lo", " world"]
    gen = tracer.by_name("OpenAI-generation")
    assert decode(gen.input) == "Say hello"
    assert decode(gen.output) == "Hello world"


async def test_responses_api(tracer: RecordingTracer, client: AsyncOpenAI) -> None:
    response = await client.responses.create(
        model="gpt-4.1", input="Say hello", instructions="Be brief", max_output_tokens=50
    )
    assert response.output_text == "Hello world"
    gen = tracer.by_name("OpenAI-generation")
    assert decode(gen.input) == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "Say hello"},
    ]
    assert decode(gen.output)["content"][0]["text"] == "Hello world"
    assert decode(gen.usage_details) == USAGE
    assert decode(gen.model_parameters) == {"max_output_tokens": 50}


async def test_responses_api_stream(tracer: RecordingTracer, client: AsyncOpenAI) -> None:
    stream = await client.responses.create(model="gpt-4.1", input="Say hello", stream=True)
    kinds = [event.type async for event in stream]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    gen = tracer.by_name("OpenAI-generation")
    assert decode(gen.output)["content"][0]["text"] == "Hello world"
    assert decode(gen.usage_details) == USAGE
    assert gen.completion_start_ns is not None


async def test_raw_response_is_traced_and_still_parses(
    tracer: RecordingTracer, client: AsyncOpenAI
) -> None:
    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=MESSAGES,  # type: ignore[arg-type]
    )
    assert raw.parse().choices[0].message.content == "Hello world"
    gen = tracer.by_name("OpenAI-generation")
    assert decode(gen.output) == {"role": "assistant", "content": "Hello world"}


async def test_structured_output_parse(tracer: RecordingTracer, client: AsyncOpenAI) -> None:
    from pydantic import BaseModel

    class Answer(BaseModel):
        answer: str

    completion = await client.chat.completions.parse(
        model="gpt-4o-mini",
        messages=MESSAGES,  # type: ignore[arg-type]
        response_format=Answer,
    )
    assert completion.choices[0].message.parsed == Answer(answer="Hello world")
    gen = tracer.by_name("OpenAI-generation")
    assert decode(gen.metadata)["response_format"]["name"] == "Answer"
    assert decode(gen.output)["content"] == '{"answer": "Hello world"}'


async def test_copied_clients_stay_traced(tracer: RecordingTracer, client: AsyncOpenAI) -> None:
    copy = client.with_options(timeout=5)
    assert isinstance(copy, AsyncOpenAI)
    await copy.embeddings.create(model="text-embedding-3-small", input="a")
    assert tracer.by_name("OpenAI-embedding").as_type == "embedding"


async def test_without_a_client_calls_and_streams_still_work(
    isolated_registry: None, server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "LANGFUSE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    async with AsyncOpenAI(api_key="sk-test", base_url=server.base_url) as c:
        stream = await c.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            name="untraced",  # type: ignore[call-arg]
        )
        assert [ch.choices[0].delta.content async for ch in stream][:3] == ["Hel", "lo", " world"]
    [(_, body)] = server.requests
    assert "name" not in body


async def test_plain_openai_clients_are_not_traced(
    tracer: RecordingTracer, server: FakeOpenAI
) -> None:
    async with openai.AsyncOpenAI(api_key="sk-test", base_url=server.base_url) as plain:
        await plain.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,  # type: ignore[arg-type]
        )
    assert tracer.records == []


async def test_async_azure_client(tracer: RecordingTracer, server: FakeOpenAI) -> None:
    async with AsyncAzureOpenAI(
        api_key="sk-test", azure_endpoint=server.url, api_version="2024-06-01", max_retries=0
    ) as azure:
        await azure.chat.completions.create(
            model="my-deployment",
            messages=MESSAGES,  # type: ignore[arg-type]
        )
    assert server.requests[0][0] == "/openai/deployments/my-deployment/chat/completions"
    assert tracer.by_name("OpenAI-generation").model == "my-deployment-2024"


def test_sync_clients(tracer: RecordingTracer) -> None:
    with FakeOpenAI.threaded() as server:
        client = OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
        azure = AzureOpenAI(api_key="sk-test", azure_endpoint=server.url, api_version="2024-06-01")
        with tracer.start_as_current_observation(name="sync") as root:
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=MESSAGES,  # type: ignore[arg-type]
                name="plain",  # type: ignore[call-arg]
            )
            with client.chat.completions.create(
                model="gpt-4o-mini",
                messages=MESSAGES,  # type: ignore[arg-type]
                stream=True,
                name="streamed",  # type: ignore[call-arg]
            ) as stream:
                assert isinstance(stream, openai.Stream)
                contents = [c.choices[0].delta.content for c in stream]
            stopped = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=MESSAGES,  # type: ignore[arg-type]
                stream=True,
                name="stopped",  # type: ignore[call-arg]
            )
            for _ in stopped:
                break  # leaving the loop ends the generation, before any close()
            assert tracer.by_name("stopped").end_ns > 0
            stopped.close()
            client.embeddings.create(model="text-embedding-3-small", input="a")
            azure.chat.completions.create(
                model="dep",
                messages=MESSAGES,  # type: ignore[arg-type]
                name="azure",  # type: ignore[call-arg]
            )
            server.fail_next = (500, "boom")
            with pytest.raises(openai.InternalServerError):
                client.completions.create(model="m", prompt="p", name="failing")  # type: ignore[call-arg]
        client.close()
        azure.close()
    assert contents == ["Hel", "lo", " world", None]
    assert decode(tracer.by_name("plain").output)["content"] == "Hello world"
    assert decode(tracer.by_name("streamed").output)["content"] == "Hello world"
    assert decode(tracer.by_name("stopped").output)["content"] == "Hel"
    assert tracer.by_name("OpenAI-embedding").as_type == "embedding"
    assert tracer.by_name("azure").model == "dep-2024"
    assert tracer.by_name("failing").level == "ERROR"
    names = {"plain", "streamed", "stopped", "OpenAI-embedding", "azure", "failing"}
    for name in names:
        assert tracer.by_name(name).parent_id == root.id


async def test_generation_arrives_at_the_collector(langfuse_client, langfuse_collector) -> None:
    async with FakeOpenAI() as server:
        client = AsyncOpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
        async with langfuse_client.start_as_current_observation(name="chat-turn"):
            stream = await client.chat.completions.create(
                model="gpt-4o-mini",
                messages=MESSAGES,  # type: ignore[arg-type]
                stream=True,
                stream_options={"include_usage": True},
                temperature=0.5,
            )
            async for _ in stream:
                pass
        await client.close()
    result = await langfuse_client.flush()
    assert result.failed == 0
    [gen] = await langfuse_collector.observations(type="GENERATION")
    assert gen.name == "OpenAI-generation"
    assert gen.model == "gpt-4o-mini-2024"
    assert dict(gen.usage_details) == USAGE
    assert gen.model_parameters == {"temperature": 0.5}
    assert gen.completion_start_time is not None
    assert json.loads(json.dumps(gen.output)) == {"role": "assistant", "content": "Hello world"}
    [root] = await langfuse_collector.observations(name="chat-turn")
    assert gen.parent_observation_id == root.id
