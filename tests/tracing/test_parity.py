"""The official 5.x tracing surface: typed handles, propagation, masks, capture_io, scores."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

import pytest

import langfuse_async
from langfuse_async import (
    Langfuse,
    LangfuseAgent,
    LangfuseChain,
    LangfuseEmbedding,
    LangfuseEvaluator,
    LangfuseEvent,
    LangfuseGeneration,
    LangfuseGuardrail,
    LangfuseRetriever,
    LangfuseSpan,
    LangfuseTool,
    Observation,
    _log,
    get_client,
    observe,
    propagate_attributes,
)
from langfuse_async._tracing.recorder import as_one_argument
from tests.support.recording import RecordingTracer, decode

CLASSES = {
    "span": LangfuseSpan,
    "generation": LangfuseGeneration,
    "event": LangfuseEvent,
    "agent": LangfuseAgent,
    "tool": LangfuseTool,
    "chain": LangfuseChain,
    "retriever": LangfuseRetriever,
    "embedding": LangfuseEmbedding,
    "evaluator": LangfuseEvaluator,
    "guardrail": LangfuseGuardrail,
}


@pytest.fixture(autouse=True)
def fresh_log_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_log, "_logged", set())


# --------------------------------------------------------------------------- typed handles


@pytest.mark.parametrize("as_type", sorted(CLASSES))
def test_every_handle_is_an_instance_of_the_official_class(
    tracer: RecordingTracer, as_type: Any
) -> None:
    cls = CLASSES[as_type]
    obs = tracer.start_observation(name="x", as_type=as_type)
    assert isinstance(obs, cls) and isinstance(obs, Observation)
    with tracer.start_as_current_observation(name="y", as_type=as_type) as current:
        assert type(current) is cls
        assert type(current.start_observation(name="c", as_type=as_type)) is cls
    obs.end()
    assert cls.__module__ == "langfuse_async"


@pytest.mark.usefixtures("isolated_registry")
@pytest.mark.parametrize("as_type", sorted(CLASSES))
def test_a_disabled_client_gives_typed_handles_too(as_type: Any) -> None:
    disabled = RecordingTracer(enabled=False)
    cls = CLASSES[as_type]
    assert isinstance(disabled.start_observation(name="x", as_type=as_type), cls)
    with disabled.start_as_current_observation(name="y", as_type=as_type) as handle:
        assert isinstance(handle, cls)
        assert isinstance(handle.start_observation(name="c", as_type=as_type), cls)
    assert "disabled" in repr(handle) and disabled.records == []


def test_observe_and_shorthands_give_typed_handles(tracer: RecordingTracer) -> None:
    seen: list[object] = []

    @observe(as_type="generation")
    def call() -> None:
        with tracer.start_as_current_observation(name="inner") as inner:
            seen.append(inner)

    call()
    assert isinstance(tracer.start_generation(name="g"), LangfuseGeneration)
    assert isinstance(tracer.start_span(name="s"), LangfuseSpan)
    assert isinstance(tracer.create_event(name="e"), LangfuseEvent)
    assert isinstance(seen[0], LangfuseSpan)
    assert tracer.by_name("call").as_type == "generation"


def test_handles_have_the_clients_shorthands_the_3x_and_4x_docs_use(
    tracer: RecordingTracer,
) -> None:
    # The 3.x/4.x docs (still what a search finds) nest with root_span.start_as_current_span /
    # start_as_current_generation; the client has these shorthands, so its handles do too.
    with tracer.start_as_current_span(name="request") as root:
        with root.start_as_current_generation(name="answer", model="gpt-4o") as gen:
            assert isinstance(gen, LangfuseGeneration)
            gen.update(output="4")
        with root.start_as_current_span(name="step", input={"q": 1}) as step:
            assert isinstance(step, LangfuseSpan)
            assert tracer.get_current_observation_id() == step.id
        tool_call = root.start_generation(name="call", model="m", usage_details={"input": 1})
        tool_call.end()
        child = root.start_span(name="manual", metadata={"k": "v"})
        assert isinstance(child, LangfuseSpan) and isinstance(tool_call, LangfuseGeneration)
        child.end()
    for name, as_type in [
        ("answer", "generation"),
        ("step", "span"),
        ("call", "generation"),
        ("manual", "span"),
    ]:
        record = tracer.by_name(name)
        assert (record.as_type, record.parent_id, record.trace_id) == (
            as_type,
            root.id,
            root.trace_id,
        )
    assert tracer.by_name("answer").model == "gpt-4o"
    assert decode(tracer.by_name("step").input) == {"q": 1}
    assert decode(tracer.by_name("manual").metadata["k"]) == "v"


# --------------------------------------------------------------------------- handle methods


def test_update_ignores_unknown_keywords_as_5x_does(tracer: RecordingTracer) -> None:
    span = tracer.start_observation(name="s")
    assert span.update(output="o", foo="bar", level="WARNING") is span
    span.end()
    record = tracer.by_name("s")
    assert decode(record.output) == "o"
    assert record.level == "WARNING"


def test_set_trace_as_public(tracer: RecordingTracer) -> None:
    with tracer.start_as_current_observation(name="root") as root:
        assert root.set_trace_as_public() is root
    with tracer.start_as_current_observation(name="other"):
        tracer.set_current_trace_as_public()
    tracer.set_current_trace_as_public()  # outside any: nothing, no error
    for name in ("root", "other"):  # travels with the root, which was open
        trace = tracer.by_name(name).trace
        assert trace is not None and trace.public is True


def test_end_time_keyword(tracer: RecordingTracer) -> None:
    span = tracer.start_observation(name="s")
    span.end(end_time=span.start_ns + 5_000)
    assert tracer.by_name("s").end_ns == tracer.by_name("s").start_ns + 5_000


def test_scores_take_timestamp_environment_and_config_id(tracer: RecordingTracer) -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    tracer.create_score(
        name="q", value=1.0, trace_id="a" * 32, timestamp=when, environment="staging"
    )
    tracer.create_score(name="r", value=1.0, trace_id="a" * 32, environment="Not Valid")
    with tracer.start_as_current_observation(name="s") as span:
        span.score(name="s1", value=0.5, config_id="cfg", timestamp=when)
        span.score_trace(name="s2", value="good", timestamp=when)
    by_name = {s.name: s for s in tracer.scores}
    assert by_name["q"].timestamp_ns == int(when.timestamp()) * 1_000_000_000
    assert by_name["q"].environment == "staging"
    assert by_name["r"].environment is None  # invalid: the client's environment is used
    assert by_name["s1"].config_id == "cfg"
    assert by_name["s1"].observation_id == span.id
    assert by_name["s2"].observation_id is None
    assert by_name["s2"].timestamp_ns == by_name["q"].timestamp_ns


# --------------------------------------------------------------------------- mask protocol


def test_a_mask_written_to_the_official_protocol_gets_data_by_keyword() -> None:
    calls: list[Any] = []

    def official(*, data: Any, **kwargs: Any) -> Any:
        calls.append(data)
        return "masked"

    tracer = RecordingTracer(mask=official)
    with tracer.start_as_current_observation(name="s", input={"secret": 1}, metadata={"k": 2}):
        pass
    record = tracer.by_name("s")
    assert decode(record.input) == "masked"
    assert calls[0] == {"secret": 1}


@pytest.mark.parametrize(
    "mask",
    [
        lambda value: f"<{value}>",
        lambda data: f"<{data}>",
        lambda value, *rest: f"<{value}>",
    ],
    ids=["positional", "named-data", "varargs"],
)
def test_a_one_argument_mask_keeps_working(mask: Any) -> None:
    tracer = RecordingTracer(mask=mask)
    tracer.start_observation(name="s", input="x").end()
    assert decode(tracer.by_name("s").input) == "<x>"


def test_the_mask_adapter_decides_once_from_the_signature() -> None:
    def keywords_only(**kwargs: Any) -> Any:
        return kwargs["data"]

    assert as_one_argument(keywords_only)(3) == 3
    assert as_one_argument(len)("abc") == 3  # a builtin without a readable signature


# --------------------------------------------------------------------------- capture_io


def test_observe_follows_capture_io_of_the_recording_client() -> None:
    tracer = RecordingTracer(capture_io=False)

    @observe()
    def plain(x: int) -> int:
        return x + 1

    @observe(capture_input=True, capture_output=True)
    def explicit(x: int) -> int:
        return x + 1

    @observe()
    def gen() -> Iterator[str]:
        yield "a"

    @observe()
    async def coro(x: int) -> int:
        return x

    import asyncio

    plain(1)
    explicit(2)
    assert list(gen()) == ["a"]
    asyncio.run(coro(3))
    assert tracer.by_name("plain").input is None and tracer.by_name("plain").output is None
    assert tracer.by_name("gen").output is None
    assert tracer.by_name("coro").input is None and tracer.by_name("coro").output is None
    assert decode(tracer.by_name("explicit").input) == {"x": 2}
    assert decode(tracer.by_name("explicit").output) == 3


def test_capture_io_is_read_at_call_time_from_the_client_then_current() -> None:
    @observe()
    def f(x: int) -> int:
        return x

    quiet = RecordingTracer(capture_io=False)
    f(1)
    loud = RecordingTracer()
    f(2)
    assert quiet.by_name("f").input is None
    assert decode(loud.by_name("f").input) == {"x": 2}


def test_capture_io_false_with_explicit_false_output(tracer: RecordingTracer) -> None:
    @observe(capture_output=False)
    def f(x: int) -> int:
        return x

    f(1)
    assert decode(tracer.by_name("f").input) == {"x": 1}
    assert tracer.by_name("f").output is None


# --------------------------------------------------------------------------- propagation


def test_propagated_attributes_reach_a_trace_started_inside(tracer: RecordingTracer) -> None:
    with propagate_attributes(
        user_id="u-1",
        session_id="s-1",
        tags=["a", "b"],
        trace_name="workflow",
        metadata={"experiment": "A", "n": 3},
        version="v2",
    ):
        with tracer.start_as_current_observation(name="root"):
            tracer.start_observation(name="child").end()
    root, child = tracer.by_name("root"), tracer.by_name("child")
    for record in (root, child):
        assert record.trace is not None
        assert record.trace.user_id == "u-1"
        assert record.trace.session_id == "s-1"
        assert record.trace.tags == ("a", "b")
        assert record.trace.name == "workflow"
        assert decode(record.trace.metadata) == {"experiment": "A", "n": 3}
        assert record.version == "v2"
    tracer.start_observation(name="after").end()
    assert tracer.by_name("after").trace is None and tracer.by_name("after").version is None


def test_propagation_applies_to_the_current_observation_and_nests(
    tracer: RecordingTracer,
) -> None:
    with tracer.start_as_current_observation(name="root") as root:
        early = tracer.start_observation(name="early")
        early.end()
        with propagate_attributes(user_id="u", tags=["outer"], metadata={"a": 1}):
            with propagate_attributes(tags=["inner"], metadata={"b": 2}, version="v9"):
                tracer.start_observation(name="inner", version="explicit").end()
                tracer.start_observation(name="inner-default").end()
    record = tracer.by_name("root")
    assert root.trace_id == record.trace_id
    assert record.trace is not None and record.trace.user_id == "u"
    assert record.trace.tags == ("outer", "inner")
    assert decode(record.trace.metadata) == {"a": 1, "b": 2}
    assert tracer.by_name("early").trace is None  # ended before the block: unchanged
    assert tracer.by_name("inner").version == "explicit"  # an explicit value wins
    assert tracer.by_name("inner-default").version == "v9"
    assert record.version == "v9"  # the current observation gets it too, as in 5.x


@pytest.mark.anyio
async def test_propagation_as_async_with_and_across_tasks(tracer: RecordingTracer) -> None:
    import asyncio

    @observe()
    async def leaf() -> None:
        return None

    async with propagate_attributes(session_id="s-async"):
        await asyncio.gather(leaf(), leaf())
    records = [r for r in tracer.observations if r.name == "leaf"]
    assert len(records) == 2
    assert all(r.trace is not None and r.trace.session_id == "s-async" for r in records)


@pytest.mark.anyio
async def test_propagate_attributes_decorates_functions_as_in_5x(tracer: RecordingTracer) -> None:
    # 5.x's propagate_attributes is also a decorator (of sync and async functions); here it
    # raised TypeError where the function was decorated, at import time.
    @propagate_attributes(user_id="u-deco", tags=["deco"])
    @observe()
    def sync_leaf(x: int) -> int:
        return x + 1

    @propagate_attributes(session_id="s-deco")
    @observe()
    async def async_leaf() -> str:
        return "done"

    assert sync_leaf(1) == 2
    assert sync_leaf(2) == 3  # each call enters afresh
    assert await async_leaf() == "done"
    assert sync_leaf.__name__ == "sync_leaf"
    calls = [r for r in tracer.observations if r.name == "sync_leaf"]
    assert len(calls) == 2
    assert all(r.trace is not None and r.trace.user_id == "u-deco" for r in calls)
    assert all(r.trace is not None and r.trace.tags == ("deco",) for r in calls)
    leaf = tracer.by_name("async_leaf")
    assert leaf.trace is not None and leaf.trace.session_id == "s-deco"

    @observe()
    def outside() -> None:
        return None

    outside()  # nothing leaks past a decorated call
    assert tracer.by_name("outside").trace is None


def test_invalid_values_are_dropped_and_logged_never_raised(
    tracer: RecordingTracer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="langfuse_async")
    with propagate_attributes(
        user_id="x" * 201,
        session_id=123,  # type: ignore[arg-type]
        tags=["ok", "y" * 201],
        metadata={"big": "z" * 300, "none": None, "fine": "v"},
        environment="Production",
    ):
        tracer.start_observation(name="s").end()
    record = tracer.by_name("s")
    assert record.trace is not None
    assert record.trace.user_id is None and record.trace.session_id is None
    assert record.trace.tags == ("ok",)
    assert decode(record.trace.metadata) == {"fine": "v"}
    assert record.environment is None
    text = caplog.text
    assert "'user_id'" in text and "over 200 characters" in text
    assert "'environment'" in text


def test_environment_and_prompt_propagate_to_observations(tracer: RecordingTracer) -> None:
    with propagate_attributes(environment="staging", prompt={"name": "p", "version": 3}):
        with tracer.start_as_current_observation(name="gen", as_type="generation") as gen:
            gen.score(name="q", value=1.0)
        tracer.start_observation(name="span").end()
        tracer.start_observation(name="own", as_type="generation", prompt_name="mine").end()
    assert tracer.by_name("gen").environment == "staging"
    assert (tracer.by_name("gen").prompt_name, tracer.by_name("gen").prompt_version) == ("p", 3)
    assert tracer.by_name("span").prompt_name is None  # prompts link generations only
    assert tracer.by_name("own").prompt_name == "mine"
    assert tracer.scores[0].environment == "staging"  # a handle's scores share its environment


def test_a_child_started_after_its_root_ended_sends_the_update(tracer: RecordingTracer) -> None:
    root = tracer.start_observation(name="root")
    root.end()
    with propagate_attributes(user_id="late"):
        root.start_observation(name="child").end()
    assert [t.attributes.user_id for t in tracer.traces] == ["late"]
    # Made as the child started: the child's span, still to end, carries it over OTLP.
    assert tracer.traces[0].span_open


def test_propagate_attributes_is_exported_with_the_official_keywords() -> None:
    import inspect

    params = inspect.signature(langfuse_async.propagate_attributes).parameters
    for name in (
        "user_id",
        "session_id",
        "metadata",
        "version",
        "tags",
        "trace_name",
        "environment",
        "prompt",
        "as_baggage",
    ):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY


# --------------------------------------------------------------------------- get_client


@pytest.mark.usefixtures("isolated_registry")
def test_get_client_never_returns_a_closed_client_while_an_open_one_exists() -> None:
    first = Langfuse(public_key="pk-a", secret_key="sk", base_url="http://127.0.0.1:9")
    second = Langfuse(public_key="pk-b", secret_key="sk", base_url="http://127.0.0.1:9")
    third = Langfuse(public_key="pk-a", secret_key="sk", base_url="http://127.0.0.1:9")
    assert get_client() is third
    third.shutdown_sync(timeout=5)
    assert get_client() is second
    assert get_client(public_key="pk-a") is first
    second.shutdown_sync(timeout=5)
    first.shutdown_sync(timeout=5)
    assert get_client() is first  # none open: the last one stays
