"""A handle of ``start_as_current_observation`` used as a decorator, as the official SDK allows."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from langfuse_async import Langfuse, observe
from langfuse_async._tracing.observations import Observation
from langfuse_async._tracing.open_handles import OPEN
from tests.support.recording import RecordingTracer, decode


def test_each_call_of_a_decorated_function_is_a_new_observation(tracer: RecordingTracer) -> None:
    # This raised TypeError where the function was decorated, and left the handle made
    # there open, to be reported as never ended at shutdown.
    @tracer.start_as_current_observation(
        name="step", as_type="generation", model="m-1", metadata={"k": "v"}, input={"q": 1}
    )
    def step(x: int) -> int:
        inner()
        return x * 2

    @observe()
    def inner() -> None:
        return None

    assert not [obs for obs in OPEN if obs._recorder is tracer._recorder]  # the template
    assert step(1) == 2
    assert step(2) == 4
    assert step.__name__ == "step"
    steps = [r for r in tracer.observations if r.name == "step"]
    assert len(steps) == 2  # one per call, none for the decorator itself
    assert steps[0].id != steps[1].id and steps[0].trace_id != steps[1].trace_id
    for record in steps:
        assert record.as_type == "generation" and record.model == "m-1"
        assert decode(record.metadata) == {"k": "v"} and decode(record.input) == {"q": 1}
        assert record.level is None  # not flagged as never ended
    inners = [r for r in tracer.observations if r.name == "inner"]
    assert {r.parent_id for r in inners} == {s.id for s in steps}


@pytest.mark.anyio
async def test_a_coroutine_runs_inside_its_observation(tracer: RecordingTracer) -> None:
    # A plain context-manager decorator (5.x's) would end the observation when the coroutine
    # is made, before its body runs: the child would be a root of its own trace.
    @tracer.start_as_current_observation(name="handler")
    async def handler() -> str:
        await asyncio.sleep(0)
        await child()
        return "ok"

    @observe()
    async def child() -> None:
        return None

    assert await handler() == "ok"
    parent, kid = tracer.by_name("handler"), tracer.by_name("child")
    assert kid.parent_id == parent.id and kid.trace_id == parent.trace_id
    assert parent.end_ns >= kid.end_ns


@pytest.mark.anyio
async def test_generators_keep_their_observation_over_the_iteration(
    tracer: RecordingTracer,
) -> None:
    @observe()
    def leaf() -> None:
        return None

    @tracer.start_as_current_observation(name="numbers")
    def numbers() -> Iterator[int]:
        leaf()
        yield 1
        leaf()
        yield 2

    @tracer.start_as_current_observation(name="anumbers")
    async def anumbers() -> AsyncIterator[int]:
        leaf()
        yield 3

    assert list(numbers()) == [1, 2]
    assert [x async for x in anumbers()] == [3]
    leaves = [r for r in tracer.observations if r.name == "leaf"]
    assert [r.parent_id for r in leaves] == [
        tracer.by_name("numbers").id,
        tracer.by_name("numbers").id,
        tracer.by_name("anumbers").id,
    ]


def test_an_exception_is_recorded_and_propagates(tracer: RecordingTracer) -> None:
    @tracer.start_as_current_observation(name="fails")
    def fails() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        fails()
    record = tracer.by_name("fails")
    assert record.level == "ERROR" and "boom" in (record.status_message or "")


def test_a_remote_parent_given_holds_for_every_call(tracer: RecordingTracer) -> None:
    trace_id, parent = "ab" * 16, "cd" * 8

    @tracer.start_as_current_observation(name="joined", trace_context={"trace_id": trace_id})
    def joined() -> None:
        return None

    @tracer.start_as_current_observation(
        name="child-of-remote",
        trace_context={"trace_id": trace_id, "parent_span_id": parent},
    )
    def child_of_remote() -> None:
        return None

    joined()
    joined()
    child_of_remote()
    # A trace id given alone is not told apart from a new trace's (telling it would cost every
    # start with a trace context): each call is a trace of its own, at the root.
    calls = [r for r in tracer.observations if r.name == "joined"]
    assert len({r.trace_id for r in calls}) == 2
    assert all(r.parent_id is None for r in calls)
    remote = tracer.by_name("child-of-remote")
    assert (remote.trace_id, remote.parent_id, remote.remote_parent) == (trace_id, parent, True)


def test_a_handle_method_decorates_too_and_nests_under_the_current_call(
    tracer: RecordingTracer,
) -> None:
    with tracer.start_as_current_observation(name="outer") as outer:

        @outer.start_as_current_observation(name="nested")
        def nested() -> None:
            return None

    with tracer.start_as_current_observation(name="caller"):
        nested()
    # The parent is what is current at the call, as the official SDK's decorator has it.
    assert tracer.by_name("nested").parent_id == tracer.by_name("caller").id
    assert [r.name for r in tracer.observations].count("nested") == 1


def test_a_disabled_client_leaves_the_function_as_it_is(isolated_registry: None) -> None:
    client = Langfuse(tracing_enabled=False)

    def plain() -> int:
        return 7

    assert client.start_as_current_observation(name="x")(plain) is plain


def test_something_not_callable_comes_back_unchanged(
    tracer: RecordingTracer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="langfuse_async")
    handle = tracer.start_as_current_observation(name="x")
    assert handle(42) == 42  # type: ignore[arg-type]
    assert "not a function" in caplog.text
    handle.end()
    assert tracer.by_name("x").name == "x"  # still an ordinary handle


def test_a_failure_while_decorating_leaves_the_function_as_it_is(
    tracer: RecordingTracer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Decorating runs at import time: whatever fails there must not reach the user's code.
    from langfuse_async._tracing import joins

    def broken(template: object, func: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(joins, "as_decorator", broken)
    caplog.set_level(logging.WARNING, logger="langfuse_async")

    def plain() -> int:
        return 1

    handle = tracer.start_as_current_observation(name="h")
    assert handle(plain) is plain
    assert "could not decorate" in caplog.text
    assert handle not in OPEN  # not left to be reported as never ended


def _root_sampled(tracer: RecordingTracer, *, sampled_in: bool) -> Observation:
    """A root observation whose trace is sampled in (or out); sampling is random per trace."""
    while True:
        root = tracer.start_observation(name="root")
        if root._recording is sampled_in:
            return root
        root.end()


def test_a_handle_sampled_out_when_decorating_still_gives_its_fields_to_calls_sampled_in(
    isolated_registry: None,
) -> None:
    # Its fields were dropped unencoded where it was made (its own trace sampled out), so the
    # calls sampled in were recorded with no input, metadata or model.
    tracer = RecordingTracer(sample_rate=0.5)
    out = _root_sampled(tracer, sampled_in=False)
    with out:
        decorator = tracer.start_as_current_observation(
            name="step", as_type="generation", model="m-1", metadata={"k": "v"}, input={"q": 1}
        )
        child_decorator = out.start_as_current_observation(name="child", input="given")
    assert not decorator._recording and not child_decorator._recording

    @decorator
    def step() -> None:
        return None

    @child_decorator
    def child() -> None:
        return None

    sampled_in = _root_sampled(tracer, sampled_in=True)
    with sampled_in:
        step()
        child()
    record = tracer.by_name("step")
    assert record.as_type == "generation" and record.model == "m-1"
    assert decode(record.metadata) == {"k": "v"} and decode(record.input) == {"q": 1}
    assert decode(tracer.by_name("child").input) == "given"
    assert record.parent_id == sampled_in.id
