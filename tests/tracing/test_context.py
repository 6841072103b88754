"""Context propagation: tasks, task groups, threads, generators, and the client registry."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from langfuse_async._tracing import registry
from langfuse_async._tracing.observe import observe
from langfuse_async._tracing.registry import get_client, set_client_factory
from langfuse_async._tracing.tracer import Tracer
from tests.support.recording import RecordingTracer

pytestmark = pytest.mark.anyio


def _assert_parents(tracer: RecordingTracer, expected: dict[str, str | None]) -> None:
    parents = {r.id: r.parent_id for r in tracer.observations}
    assert parents == expected


async def test_hundreds_of_interleaved_tasks_keep_their_parents(tracer: RecordingTracer) -> None:
    expected: dict[str, str | None] = {}

    @observe
    async def leaf(i: int, j: int) -> str:
        await asyncio.sleep(0)
        current = tracer.get_current_observation_id()
        assert current is not None
        return current

    async def worker(i: int, parent_id: str) -> None:
        async with tracer.start_as_current_span(name=f"w{i}") as w:
            expected[w.id] = parent_id
            for j in range(3):
                await asyncio.sleep(0)
                async with tracer.start_as_current_span(name=f"w{i}.{j}") as c:
                    expected[c.id] = w.id
                    await asyncio.sleep(0)
                    assert tracer.get_current_observation_id() == c.id
                    leaf_id = await leaf(i, j)
                    expected[leaf_id] = c.id
                    assert tracer.get_current_observation_id() == c.id
                assert tracer.get_current_observation_id() == w.id

    async with tracer.start_as_current_span(name="root") as root:
        expected[root.id] = None
        await asyncio.gather(*(worker(i, root.id) for i in range(300)))
        assert tracer.get_current_observation_id() == root.id
    assert len(tracer.observations) == 1 + 300 * 7
    _assert_parents(tracer, expected)
    assert {r.trace_id for r in tracer.observations} == {root.trace_id}


async def test_task_group_children_never_mix(tracer: RecordingTracer) -> None:
    expected: dict[str, str | None] = {}

    async def branch(i: int) -> None:
        # a separate trace per branch: no parent is current in the task group's tasks
        async with tracer.start_as_current_span(name=f"b{i}") as b:
            expected[b.id] = None
            for _ in range(5):
                await anyio.lowlevel.checkpoint()
                with tracer.start_as_current_span(name="step") as s:
                    expected[s.id] = b.id
                    await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        for i in range(100):
            tg.start_soon(branch, i)
    _assert_parents(tracer, expected)
    assert len({r.trace_id for r in tracer.observations}) == 100


async def test_a_task_spawned_in_a_span_keeps_it_as_parent_after_it_ends(
    tracer: RecordingTracer,
) -> None:
    go = asyncio.Event()

    async def background() -> None:
        await go.wait()
        with tracer.start_as_current_span(name="late"):
            pass

    with tracer.start_as_current_span(name="request") as request:
        task = asyncio.create_task(background())
    assert tracer.get_current_observation_id() is None
    go.set()
    await task
    late = tracer.by_name("late")
    assert late.parent_id == request.id and late.trace_id == request.trace_id


async def test_to_thread_and_copied_context_executors_keep_the_parent(
    tracer: RecordingTracer,
) -> None:
    def work(name: str) -> str | None:
        with tracer.start_as_current_span(name=name):
            pass
        return tracer.get_current_observation_id()

    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(2) as pool:
        async with tracer.start_as_current_span(name="parent") as parent:
            assert await asyncio.to_thread(work, "to_thread") == parent.id
            assert await anyio.to_thread.run_sync(work, "anyio") == parent.id
            ctx = contextvars.copy_context()
            assert await loop.run_in_executor(pool, ctx.run, work, "copied") == parent.id
            assert await loop.run_in_executor(pool, work, "plain") is None
    for name in ("to_thread", "anyio", "copied"):
        assert tracer.by_name(name).parent_id == parent.id
    plain = tracer.by_name("plain")
    assert plain.parent_id is None and plain.trace_id != parent.trace_id


def test_threads_running_at_once_build_separate_traces(tracer: RecordingTracer) -> None:
    barrier = threading.Barrier(8)
    expected: dict[str, str | None] = {}
    lock = threading.Lock()

    @observe
    def inner() -> str | None:
        return tracer.get_current_observation_id()

    def thread_main(i: int) -> None:
        barrier.wait()
        for _ in range(50):
            with tracer.start_as_current_span(name=f"t{i}") as outer:
                child = inner()
                assert child is not None
                with lock:
                    expected[outer.id] = None
                    expected[child] = outer.id

    threads = [threading.Thread(target=thread_main, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _assert_parents(tracer, expected)
    assert len(tracer.observations) == 8 * 50 * 2


def test_context_is_restored_after_an_exception(tracer: RecordingTracer) -> None:
    @observe
    def failing() -> None:
        with tracer.start_as_current_span(name="inner"):
            raise KeyError("k")

    with tracer.start_as_current_span(name="outer") as outer:
        with pytest.raises(KeyError):
            failing()
        assert tracer.get_current_observation_id() == outer.id
    assert tracer.get_current_observation_id() is None
    assert tracer.by_name("failing").level == "ERROR"
    assert tracer.by_name("inner").level == "ERROR"


async def test_cancelled_observed_coroutine_restores_the_context(tracer: RecordingTracer) -> None:
    started = asyncio.Event()

    @observe
    async def slow() -> None:
        started.set()
        await asyncio.Event().wait()

    async def run() -> str | None:
        try:
            await slow()
        except asyncio.CancelledError:
            return tracer.get_current_observation_id()
        return "not cancelled"

    with tracer.start_as_current_span(name="outer") as outer:
        with anyio.CancelScope() as scope:
            # cancelled while inside slow(); the context seen after must be the outer span
            async with anyio.create_task_group() as tg:

                async def body() -> None:
                    assert await run() == outer.id

                tg.start_soon(body)
                await started.wait()
                scope.cancel()
    rec = tracer.by_name("slow")
    assert rec.level == "WARNING" and rec.status_message == "cancelled"
    assert rec.parent_id == outer.id


def test_out_of_order_exit_never_raises(tracer: RecordingTracer) -> None:
    a = tracer.start_as_current_observation(name="a")
    b = tracer.start_as_current_observation(name="b")
    a.__enter__()
    b.__enter__()
    a.__exit__(None, None, None)  # not current: left alone, but ended
    assert tracer.get_current_observation_id() == b.id
    b.__exit__(None, None, None)
    # b restores a, which already ended elsewhere: readers skip to what a found
    assert tracer.get_current_observation_id() is None
    with tracer.start_as_current_span(name="c"):
        pass
    assert {r.name for r in tracer.observations} == {"a", "b", "c"}
    assert tracer.by_name("c").parent_id is None


async def test_span_across_yields_of_a_generator_consumed_by_another_task(
    tracer: RecordingTracer,
) -> None:
    # Without @observe: a with-block spanning yields, resumed in another task's context.
    # With token-based reset this fails with "created in a different Context".
    async def stream() -> AsyncIterator[int]:
        with tracer.start_as_current_span(name="manual"):
            yield 1
            yield 2

    agen = stream()
    assert await agen.__anext__() == 1

    async def rest() -> list[int]:
        return [item async for item in agen]

    assert await asyncio.create_task(rest()) == [2]
    assert tracer.by_name("manual").level is None
    # this task's context still names the span, which ended elsewhere: it is skipped
    assert tracer.get_current_observation_id() is None
    with tracer.start_as_current_span(name="after"):
        pass
    assert tracer.by_name("after").parent_id is None


async def test_observed_async_generator_consumed_by_another_task_keeps_its_trace(
    tracer: RecordingTracer,
) -> None:
    seen: list[str | None] = []

    @observe
    async def chunks() -> AsyncIterator[str]:
        for word in ("a", "b", "c"):
            seen.append(tracer.get_current_observation_id())
            with tracer.start_as_current_span(name=f"chunk-{word}"):
                await asyncio.sleep(0)
            yield word

    async with tracer.start_as_current_span(name="endpoint") as endpoint:
        body = chunks()  # created inside the endpoint, consumed after it returned
    assert tracer.get_current_observation_id() is None

    async def response() -> str:
        out = []
        async for chunk in body:
            out.append(chunk)
            # the consumer's own context is never changed by the generator
            assert tracer.get_current_observation_id() is None
        return "".join(out)

    assert await asyncio.create_task(response()) == "abc"
    gen = tracer.by_name("chunks")
    assert gen.parent_id == endpoint.id and gen.trace_id == endpoint.trace_id
    assert seen == [gen.id] * 3
    for word in "abc":
        assert tracer.by_name(f"chunk-{word}").parent_id == gen.id


async def test_generator_body_keeps_its_own_open_span_between_steps(
    tracer: RecordingTracer,
) -> None:
    @observe
    async def produce() -> AsyncIterator[int]:
        with tracer.start_as_current_span(name="held") as held:
            yield 1
            # resumed from a different task: the span opened before the yield is current
            assert tracer.get_current_observation_id() == held.id
            yield 2

    agen = produce()
    with tracer.start_as_current_span(name="consumer") as consumer:
        assert await agen.__anext__() == 1
        assert tracer.get_current_observation_id() == consumer.id

    async def finish() -> list[int]:
        return [x async for x in agen]

    assert await asyncio.create_task(finish()) == [2]
    assert tracer.by_name("held").parent_id == tracer.by_name("produce").id


def test_sync_and_async_observed_functions_nest_both_ways(tracer: RecordingTracer) -> None:
    @observe
    def tokenize(text: str) -> list[str]:
        return text.split()

    @observe
    async def embed(text: str) -> int:
        return len(tokenize(text))  # sync inside async

    @observe
    def pipeline(text: str) -> int:
        return asyncio.run(embed(text))  # async inside sync: the loop copies the context

    assert pipeline("a b c") == 3
    _assert_parents(
        tracer,
        {
            tracer.by_name("pipeline").id: None,
            tracer.by_name("embed").id: tracer.by_name("pipeline").id,
            tracer.by_name("tokenize").id: tracer.by_name("embed").id,
        },
    )
    assert tracer.get_current_observation_id() is None


# ----------------------------------------------------------------- one handle, many blocks


async def test_one_handle_entered_by_concurrent_tasks_keeps_every_parent(
    tracer: RecordingTracer,
) -> None:
    # Each task makes the shared span current again, and they leave in another order than
    # they entered: every child must still find the span, and every context be restored.
    async with tracer.start_as_current_span(name="batch", end_on_exit=False) as batch:
        entered = [asyncio.Event() for _ in range(4)]
        turn = [asyncio.Event() for _ in range(4)]

        async def one(i: int) -> None:
            with batch:
                entered[i].set()
                await turn[i].wait()  # released in reverse order: 3, 2, 1, 0
                tracer.start_observation(name=f"child-{i}").end()
            assert tracer.get_current_observation_id() == batch.id
            if i:
                turn[i - 1].set()

        async def conduct() -> None:
            for event in entered:
                await event.wait()
            turn[3].set()

        await asyncio.gather(*(one(i) for i in range(4)), conduct())
        assert tracer.get_current_observation_id() == batch.id
        tracer.start_observation(name="after-gather").end()
    batch.end()
    assert tracer.get_current_observation_id() is None
    for name in ("child-0", "child-1", "child-2", "child-3", "after-gather"):
        assert tracer.by_name(name).parent_id == batch.id


def test_a_handle_entered_again_inside_its_block_restores_the_outer_context(
    tracer: RecordingTracer,
) -> None:
    with tracer.start_as_current_span(name="outer") as outer:
        shared = tracer.start_as_current_span(name="shared", end_on_exit=False)
        with shared:
            with shared:
                pass
            assert tracer.get_current_observation_id() == shared.id
        # leaving the outer block of the handle gives back what was current before it
        assert tracer.get_current_observation_id() == outer.id
        tracer.start_observation(name="sibling").end()
        shared.end()
    assert tracer.by_name("sibling").parent_id == outer.id
    assert tracer.by_name("shared").parent_id == outer.id


async def test_a_handle_entered_again_in_a_generator_resumed_elsewhere_never_hangs(
    tracer: RecordingTracer,
) -> None:
    root = tracer.start_as_current_observation(name="root", end_on_exit=False)

    async def stream() -> AsyncIterator[int]:
        with root:  # entered again while it is current
            yield 1
            yield 2

    with root:
        agen = stream()
        assert await agen.__anext__() == 1

        async def rest() -> list[int]:
            return [item async for item in agen]

        # The inner block is left in another task; the outer one is still open here.
        assert await asyncio.create_task(rest()) == [2]
        assert tracer.get_current_observation_id() == root.id
        tracer.start_observation(name="child").end()
    assert tracer.get_current_observation_id() is None
    root.end()
    assert tracer.by_name("child").parent_id == root.id


async def test_a_handle_entered_again_after_escaping_is_a_parent_again(
    tracer: RecordingTracer,
) -> None:
    session = tracer.start_as_current_observation(name="session", end_on_exit=False)

    async def stream() -> AsyncIterator[int]:
        with session:
            yield 1
            yield 2

    agen = stream()
    assert await agen.__anext__() == 1

    async def rest() -> list[int]:
        return [item async for item in agen]

    assert await asyncio.create_task(rest()) == [2]
    # this context still names the session, whose block ended elsewhere: it is skipped
    assert tracer.get_current_observation_id() is None
    with session:
        assert tracer.get_current_observation_id() == session.id
        tracer.start_observation(name="later").end()
    session.end()
    assert tracer.by_name("later").parent_id == session.id


async def test_handles_entered_crosswise_in_generators_never_hang_readers(
    tracer: RecordingTracer,
) -> None:
    # a's inner block starts while b is current and b's while a is: when both blocks are
    # left in other tasks, each skips to the other. Readers must still get an answer.
    a = tracer.start_as_current_observation(name="a", end_on_exit=False)
    b = tracer.start_as_current_observation(name="b", end_on_exit=False)

    async def enter(handle: Any) -> AsyncIterator[None]:
        with handle:
            yield

    async def finish(agen: AsyncIterator[None]) -> None:
        async for _ in agen:
            pass

    with a:
        in_b = enter(b)
        await in_b.__anext__()
        in_a = enter(a)
        await in_a.__anext__()
        await asyncio.create_task(finish(in_a))
        await asyncio.create_task(finish(in_b))
        assert tracer.get_current_observation_id() in (a.id, None)
        tracer.start_observation(name="child").end()
    a.end()
    b.end()
    assert tracer.by_name("child").parent_id in (a.id, None)


def test_a_generator_closed_from_another_thread_leaves_no_stale_parent(
    tracer: RecordingTracer,
) -> None:
    def stream() -> Iterator[int]:
        with tracer.start_as_current_span(name="streaming"):
            yield 1
            yield 2

    gen = stream()
    assert next(gen) == 1
    closer = threading.Thread(target=gen.close)
    closer.start()
    closer.join(timeout=10)
    assert tracer.by_name("streaming").level is None  # closing early is not a failure
    assert tracer.get_current_observation_id() is None
    tracer.start_observation(name="next").end()
    assert tracer.by_name("next").parent_id is None


# --------------------------------------------------------------------------- registry


def test_get_client_returns_the_client_built_last(tracer: RecordingTracer) -> None:
    assert get_client() is tracer
    second = RecordingTracer(public_key="pk-other")
    assert get_client() is second
    assert get_client(public_key="pk-lf-test") is tracer
    assert get_client(public_key="pk-other") is second


def test_get_client_builds_one_with_the_factory(caplog: pytest.LogCaptureFixture) -> None:
    state = registry._reset_for_tests()
    built: list[Tracer] = []

    def factory() -> Tracer:
        client = RecordingTracer()
        built.append(client)
        return client

    try:
        set_client_factory(factory)
        first = get_client()
        assert built == [first]
        assert get_client() is first  # built once
    finally:
        registry._restore_for_tests(state)


def test_threads_asking_at_once_get_the_one_client_the_factory_builds() -> None:
    import threading

    state = registry._reset_for_tests()
    built: list[Tracer] = []
    building = threading.Event()
    release = threading.Event()

    def factory() -> Tracer:
        building.set()
        assert release.wait(30), "the test never let the build finish"
        client = RecordingTracer()
        built.append(client)
        return client

    got: list[Tracer] = []
    try:
        set_client_factory(factory)
        threads = [threading.Thread(target=lambda: got.append(get_client())) for _ in range(4)]
        threads[0].start()
        assert building.wait(30)  # the first thread is building; the others ask meanwhile
        for thread in threads[1:]:
            thread.start()
        release.set()
        for thread in threads:
            thread.join(30)
        assert len(built) == 1
        assert got == built * 4
    finally:
        release.set()
        registry._restore_for_tests(state)


def test_get_client_without_any_way_to_build_is_disabled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = registry._reset_for_tests()

    def broken() -> Tracer:
        raise ValueError("sample_rate must be <= 1.0, got 2.0")

    try:
        for factory in (None, broken):
            registry.CLIENTS.last = None
            set_client_factory(factory)
            with caplog.at_level(logging.WARNING, logger="langfuse_async"):
                client = get_client()

            @observe
            def f(x: int) -> int:
                return x + 1

            assert f(1) == 2
            assert client.start_observation(name="x").id == "0" * 16
        assert get_client(public_key="pk-unknown").start_observation(name="y").id == "0" * 16
        assert any("sample_rate" in r.getMessage() for r in caplog.records) or any(
            "disabled" in r.getMessage() for r in caplog.records
        )
    finally:
        registry._restore_for_tests(state)


async def test_observe_uses_the_client_current_at_call_time(tracer: RecordingTracer) -> None:
    @observe
    async def f() -> int:
        return 1

    await f()
    other = RecordingTracer()
    await f()
    assert len(tracer.observations) == 1 and len(other.observations) == 1


def test_each_thread_and_context_starts_empty(tracer: RecordingTracer) -> None:
    result: list[Any] = []
    with tracer.start_as_current_span(name="main"):
        t = threading.Thread(target=lambda: result.append(tracer.get_current_observation_id()))
        t.start()
        t.join()
        assert contextvars.Context().run(tracer.get_current_observation_id) is None
    assert result == [None]
