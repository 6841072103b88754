"""What a type checker sees of the public API; checked by ``mypy --strict`` (test_typing.py).

Never imported by pytest and never run: every line is a claim about static types.
``assert_type`` fails the check when a decorated function lost its parameter or return
types; a ``# type: ignore[...]`` on a call that must be rejected fails it too when the call is
accepted (``--strict`` reports unused ignores), so both directions are pinned.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from typing_extensions import assert_type

from langfuse_async import (
    FlushResult,
    Langfuse,
    LangfuseAgent,
    LangfuseEvent,
    LangfuseGeneration,
    LangfuseRetriever,
    LangfuseSpan,
    LangfuseTool,
    Observation,
    get_client,
    observe,
    propagate_attributes,
)

# --------------------------------------------------------------------------- @observe


@observe
async def answer(question: str, *, top_k: int = 3) -> str:
    return question


@observe()
def add(a: int, b: int, /, *rest: int, **options: str) -> int:
    return a + b


@observe(name="llm", as_type="generation", capture_input=False, capture_output=None)
async def llm(prompt: str) -> list[str]:
    return [prompt]


@observe
def numbers(n: int) -> Iterator[int]:
    yield n


@observe(as_type="tool")
async def chunks(n: int) -> AsyncIterator[str]:
    yield str(n)


class Agent:
    @observe
    async def run(self, task: str) -> bool:
        return bool(task)

    @observe
    @classmethod
    def build(cls, size: int) -> Agent:
        return cls()

    @observe
    @staticmethod
    def helper(value: float) -> float:
        return value

    @classmethod
    @observe
    def build_below(cls, size: int) -> Agent:
        return cls()

    @staticmethod
    @observe(name="helper")
    def helper_below(value: float) -> float:
        return value


async def decorated_functions_keep_their_types() -> None:
    assert_type(await answer("q", top_k=1), str)
    assert_type(add(1, 2, 3, mode="x"), int)
    assert_type(await llm("p"), list[str])
    assert_type(numbers(1), Iterator[int])
    assert_type(chunks(1), AsyncIterator[str])
    agent = Agent()
    assert_type(await agent.run("t"), bool)
    assert_type(Agent.build(1), Agent)
    assert_type(agent.helper(1.0), float)
    assert_type(Agent.build_below(1), Agent)
    assert_type(Agent.helper_below(1.0), float)


async def wrong_calls_are_still_rejected() -> None:
    await answer(1)  # type: ignore[arg-type]
    await answer("q", 3)  # type: ignore[call-arg]
    add(1, b="2")  # type: ignore[call-arg]
    numbers("1")  # type: ignore[arg-type]
    Agent.build("big")  # type: ignore[arg-type]
    await Agent().run()  # type: ignore[call-arg]


def invalid_options_are_rejected() -> None:
    observe(as_type="bogus")  # type: ignore[call-overload]
    observe(name=1)  # type: ignore[call-overload]


# --------------------------------------------------------------------------- client


async def client_methods_have_the_official_names() -> None:
    langfuse = Langfuse()
    assert_type(get_client(), Langfuse)
    with langfuse.start_as_current_span(name="s", input={"q": 1}) as span:
        assert_type(span, LangfuseSpan)
        assert_type(span.update(output="o", level="WARNING", unknown_key=1), Observation)
        assert_type(span.start_observation(name="c", as_type="tool"), LangfuseTool)
        assert_type(span.start_observation(name="c"), LangfuseSpan)
        span.set_trace_as_public()
        span.score(name="q", value=1.0, config_id="c", timestamp=0)
        span.update_trace(user_id="u", session_id="s", tags=["a"], public=False)
        span.score(name="quality", value=0.5)
    async with langfuse.start_as_current_observation(
        name="r", as_type="retriever", end_on_exit=None
    ) as obs:
        assert_type(obs, LangfuseRetriever)
    with langfuse.start_as_current_observation(name="a", as_type="agent") as agent:
        assert_type(agent, LangfuseAgent)
    with propagate_attributes(user_id="u", session_id="s", tags=["t"], metadata={"k": "v"}):
        pass
    async with propagate_attributes(trace_name="n", version="1", environment="prod"):
        pass
    async with langfuse.start_as_current_generation(name="g", model="m") as generation:
        assert_type(generation, LangfuseGeneration)
        langfuse.update_current_generation(usage_details={"input": 1}, cost_details={"t": 0.1})
        assert_type(generation.end(), Observation)
    langfuse.update_current_trace(name="n", user_id="u", metadata={"k": "v"})
    langfuse.update_current_span(status_message="ok")
    assert_type(langfuse.create_event(name="e"), LangfuseEvent)
    langfuse.set_current_trace_as_public()
    assert_type(await langfuse.auth_check(), bool)
    assert_type(await langfuse.get_trace_url(trace_id="t"), str | None)
    assert_type(langfuse.flush_sync(timeout=1), FlushResult)
    assert_type(langfuse.shutdown_sync(), FlushResult)
    assert_type(langfuse.get_current_trace_id(), str | None)
    assert_type(langfuse.get_current_observation_id(), str | None)
    assert_type(langfuse.create_trace_id(seed="s"), str)
    langfuse.create_score(name="n", value=1.0, trace_id="t", data_type="NUMERIC")
    langfuse.create_score(name="n", value=1.0, trace_id="t", timestamp=0, environment="qa")
    langfuse.score_current_trace(name="n", value="good", data_type="CATEGORICAL")
    langfuse.update_current_span(level="FATAL")  # type: ignore[arg-type]
    langfuse.create_score(name="n", value=1, data_type="PERCENT")  # type: ignore[arg-type]
    await langfuse.flush()
    await langfuse.shutdown()
