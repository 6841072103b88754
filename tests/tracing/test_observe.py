"""The ``@observe`` decorator on coroutines, functions, generators and async generators."""

from __future__ import annotations

import asyncio
import functools
import gc
import inspect
import json
import logging
import pickle
import types
import weakref
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any

import pytest

from langfuse_async._records import TRUNCATED_MARKER
from langfuse_async._tracing import registry
from langfuse_async._tracing.observe import observe
from tests.support.recording import RecordingTracer, decode

pytestmark = pytest.mark.anyio


# --------------------------------------------------------------------------- coroutines


async def test_async_function_records_arguments_and_result(tracer: RecordingTracer) -> None:
    @observe
    async def answer(question: str, top_k: int = 3, *extra: int, **options: Any) -> str:
        return question.upper()

    assert await answer("hi", 5, 6, 7, temperature=0.2) == "HI"
    rec = tracer.by_name("answer")
    assert decode(rec.input) == {
        "question": "hi",
        "top_k": 5,
        "extra": [6, 7],
        "temperature": 0.2,
    }
    assert decode(rec.output) == "HI"
    assert rec.as_type == "span" and rec.parent_id is None
    assert rec.level is None and rec.start_ns <= rec.end_ns


async def test_options_name_type_and_capture_flags(tracer: RecordingTracer) -> None:
    @observe(name="llm", as_type="generation", capture_input=False, capture_output=False)
    async def call(prompt: str) -> str:
        tracer.update_current_generation(model="m", usage_details={"input": 1, "output": 2})
        return "secret"

    assert await call("secret") == "secret"
    rec = tracer.by_name("llm")
    assert rec.as_type == "generation" and rec.model == "m"
    assert rec.input is None and rec.output is None


async def test_nested_calls_link_parents(tracer: RecordingTracer) -> None:
    @observe(as_type="tool")
    async def search(q: str) -> list[str]:
        return [q]

    @observe
    async def agent(q: str) -> list[str]:
        return await search(q)

    await agent("x")
    assert tracer.by_name("search").parent_id == tracer.by_name("agent").id
    assert tracer.by_name("search").as_type == "tool"


async def test_exception_is_recorded_and_reraised_unchanged(tracer: RecordingTracer) -> None:
    error = RuntimeError("boom")

    @observe
    async def fail() -> None:
        raise error

    with pytest.raises(RuntimeError) as info:
        await fail()
    assert info.value is error
    assert info.value.__cause__ is None and info.value.__context__ is None
    rec = tracer.by_name("fail")
    assert rec.level == "ERROR" and rec.status_message == "RuntimeError: boom"
    assert tracer.get_current_observation_id() is None


async def test_no_arguments_and_none_result_record_nothing(tracer: RecordingTracer) -> None:
    @observe
    async def nothing() -> None:
        return None

    await nothing()
    rec = tracer.by_name("nothing")
    assert rec.input is None and rec.output is None


async def test_explicit_output_is_not_overwritten(tracer: RecordingTracer) -> None:
    @observe
    async def summarise(text: str) -> str:
        tracer.update_current_span(output={"summary": "short"}, input={"text": "masked"})
        return text

    await summarise("a long text")
    rec = tracer.by_name("summarise")
    assert decode(rec.output) == {"summary": "short"}
    assert decode(rec.input) == {"text": "masked"}


async def test_self_and_cls_are_not_captured(tracer: RecordingTracer) -> None:
    class Agent:
        def __init__(self) -> None:
            self.calls = 0

        @observe
        async def run(self, task: str) -> str:
            self.calls += 1
            return task

        @classmethod
        @observe
        def build(cls, size: int) -> int:
            return size

        @observe
        def solo(self) -> int:
            return 1

    agent = Agent()
    assert await agent.run("t") == "t" and agent.calls == 1
    assert Agent.build(3) == 3
    assert agent.solo() == 1
    assert decode(tracer.by_name("run").input) == {"task": "t"}
    assert decode(tracer.by_name("build").input) == {"size": 3}
    assert tracer.by_name("solo").input is None


async def test_unserializable_arguments_still_record(tracer: RecordingTracer) -> None:
    class Opaque:
        pass

    @observe
    async def f(thing: Any, data: bytes) -> Any:
        return Opaque()

    await f(Opaque(), b"\x00\xff")
    rec = tracer.by_name("f")
    assert isinstance(decode(rec.input), dict)
    assert json.dumps(decode(rec.output))


async def test_large_result_is_truncated(tracer: RecordingTracer) -> None:
    @observe
    async def big() -> str:
        return "x" * 2_000_000

    assert len(await big()) == 2_000_000
    assert decode(tracer.by_name("big").output) == TRUNCATED_MARKER


def test_wrapper_keeps_name_signature_and_kind() -> None:
    async def coro(a: int, b: str = "x") -> str:
        """Doc."""
        return b

    def func(a: int) -> int:
        return a

    wrapped = observe(coro)
    assert wrapped.__name__ == "coro" and wrapped.__doc__ == "Doc."
    assert inspect.signature(wrapped) == inspect.signature(coro)
    assert inspect.iscoroutinefunction(wrapped)
    assert not inspect.iscoroutinefunction(observe(name="f")(func))
    assert observe(func).__wrapped__ is func  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- sync functions


def test_sync_function(tracer: RecordingTracer) -> None:
    @observe(as_type="chain")
    def add(a: int, b: int) -> int:
        return a + b

    assert add(1, b=2) == 3
    rec = tracer.by_name("add")
    assert decode(rec.input) == {"a": 1, "b": 2}
    assert decode(rec.output) == 3 and rec.as_type == "chain"


def test_sync_exception(tracer: RecordingTracer) -> None:
    @observe
    def fail() -> None:
        raise ValueError()

    with pytest.raises(ValueError):
        fail()
    rec = tracer.by_name("fail")
    assert rec.level == "ERROR" and rec.status_message == "ValueError"


def test_keyboard_interrupt_is_recorded_and_propagates(tracer: RecordingTracer) -> None:
    @observe
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert tracer.by_name("interrupted").level == "ERROR"


# --------------------------------------------------------------------------- generators


def test_generator_span_covers_the_iteration(tracer: RecordingTracer) -> None:
    @observe
    def count(n: int) -> Iterator[int]:
        for i in range(n):
            with tracer.start_as_current_span(name=f"step{i}"):
                pass
            yield i

    gen = count(3)
    assert tracer.records == []
    assert list(gen) == [0, 1, 2]
    rec = tracer.by_name("count")
    assert decode(rec.input) == {"n": 3}
    assert decode(rec.output) == [0, 1, 2]
    for i in range(3):
        step = tracer.by_name(f"step{i}")
        assert step.parent_id == rec.id
        assert rec.start_ns <= step.start_ns <= step.end_ns <= rec.end_ns
    assert len(tracer.observations) == 4


def test_generator_of_strings_records_the_joined_text(tracer: RecordingTracer) -> None:
    @observe
    def tokens() -> Iterator[str]:
        yield from ["Hel", "lo"]

    assert "".join(tokens()) == "Hello"
    assert decode(tracer.by_name("tokens").output) == "Hello"


def test_generator_return_value_and_send_pass_through(tracer: RecordingTracer) -> None:
    @observe
    def echo() -> Any:
        received = yield "ready"
        while received != "stop":
            received = yield received * 2
        return "done"

    gen = echo()
    assert next(gen) == "ready"
    assert gen.send(2) == 4
    with pytest.raises(StopIteration) as info:
        gen.send("stop")
    assert info.value.value == "done"
    assert decode(tracer.by_name("echo").output) == ["ready", 4]


def test_generator_closed_early(tracer: RecordingTracer) -> None:
    cleaned: list[bool] = []

    @observe
    def endless() -> Generator[int, None, None]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            cleaned.append(True)

    gen = endless()
    assert [next(gen), next(gen)] == [0, 1]
    gen.close()
    assert cleaned == [True]
    rec = tracer.by_name("endless")
    assert rec.level is None and decode(rec.output) == [0, 1]


def test_generator_that_raises(tracer: RecordingTracer) -> None:
    @observe
    def broken() -> Iterator[int]:
        yield 1
        raise LookupError("gone")

    with pytest.raises(LookupError, match="gone"):
        list(broken())
    rec = tracer.by_name("broken")
    assert rec.level == "ERROR" and rec.status_message == "LookupError: gone"
    assert decode(rec.output) == [1]


def test_exception_thrown_into_a_generator_reaches_it(tracer: RecordingTracer) -> None:
    @observe
    def resilient() -> Generator[str, None, None]:
        while True:
            try:
                yield "ok"
            except ValueError:
                yield "recovered"
                return

    gen = resilient()
    assert next(gen) == "ok"
    assert gen.throw(ValueError("x")) == "recovered"
    assert list(gen) == []
    assert tracer.by_name("resilient").level is None


def test_transform_to_string(tracer: RecordingTracer) -> None:
    @observe(transform_to_string=lambda items: "|".join(str(i) for i in items))
    def nums() -> Iterator[int]:
        yield from (1, 2, 3)

    list(nums())
    assert decode(tracer.by_name("nums").output) == "1|2|3"


def test_a_huge_stream_is_not_held_in_memory(tracer: RecordingTracer) -> None:
    @observe
    def flood() -> Iterator[str]:
        for _ in range(3_000):
            yield "x" * 1_000

    assert sum(len(chunk) for chunk in flood()) == 3_000_000
    assert decode(tracer.by_name("flood").output) == TRUNCATED_MARKER


def test_items_past_the_size_limit_are_released() -> None:
    state = registry._reset_for_tests()
    try:
        tracer = RecordingTracer(max_event_bytes=1_000)

        class Item:
            pass

        refs: list[weakref.ref[Item]] = []

        @observe
        def objects() -> Iterator[Item]:
            for _ in range(500):
                item = Item()
                refs.append(weakref.ref(item))
                yield item

        for _ in objects():
            pass
        gc.collect()
        alive = sum(ref() is not None for ref in refs)
        assert alive < 100  # the first ~60 were collected, then collecting stopped
        assert decode(tracer.by_name("objects").output) == TRUNCATED_MARKER
    finally:
        registry._restore_for_tests(state)


async def test_async_generator_span_covers_the_iteration(tracer: RecordingTracer) -> None:
    @observe(as_type="generation", name="stream")
    async def stream(prompt: str) -> AsyncIterator[str]:
        for token in ("a", "b"):
            await asyncio.sleep(0)
            assert tracer.get_current_observation_id() is not None
            yield token

    with tracer.start_as_current_span(name="parent") as parent:
        out = [t async for t in stream("p")]
    assert out == ["a", "b"]
    rec = tracer.by_name("stream")
    assert rec.parent_id == parent.id and rec.as_type == "generation"
    assert decode(rec.output) == "ab" and decode(rec.input) == {"prompt": "p"}
    assert rec.end_ns > rec.start_ns
    assert tracer.by_name("parent").end_ns >= rec.end_ns


async def test_async_generator_closed_early(tracer: RecordingTracer) -> None:
    closed: list[bool] = []

    @observe
    async def endless() -> AsyncIterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.append(True)

    agen = endless()
    async for item in agen:
        if item == 2:
            break
    await agen.aclose()  # type: ignore[attr-defined]
    assert closed == [True]
    rec = tracer.by_name("endless")
    assert rec.level is None and decode(rec.output) == [0, 1, 2]


async def test_async_generator_that_raises(tracer: RecordingTracer) -> None:
    @observe
    async def broken() -> AsyncIterator[int]:
        yield 1
        raise ConnectionError("reset")

    with pytest.raises(ConnectionError):
        async for _ in broken():
            pass
    rec = tracer.by_name("broken")
    assert rec.level == "ERROR" and rec.status_message == "ConnectionError: reset"


async def test_async_generator_athrow_and_asend(tracer: RecordingTracer) -> None:
    @observe
    async def worker() -> Any:
        value = yield "start"
        try:
            yield value + 1
        except KeyError:
            yield "handled"

    agen = worker()
    assert await agen.asend(None) == "start"
    assert await agen.asend(1) == 2
    assert await agen.athrow(KeyError("k")) == "handled"
    with pytest.raises(StopAsyncIteration):
        await agen.asend(None)
    assert tracer.by_name("worker").level is None


async def test_cancelled_async_generator_consumer(tracer: RecordingTracer) -> None:
    produced = asyncio.Event()

    @observe
    async def slow() -> AsyncIterator[int]:
        yield 1
        produced.set()
        await asyncio.Event().wait()
        yield 2

    async def consume() -> None:
        async for _ in slow():
            pass

    task = asyncio.create_task(consume())
    await produced.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    rec = tracer.by_name("slow")
    assert rec.level == "WARNING" and rec.status_message == "cancelled"


def test_generator_function_called_with_bad_arguments(tracer: RecordingTracer) -> None:
    @observe
    def gen(a: int) -> Iterator[int]:
        yield a

    with pytest.raises(TypeError):
        gen(1, 2, 3)  # type: ignore[call-arg]
    assert tracer.by_name("gen").level == "ERROR"


# --------------------------------------------------------------------------- disabled


async def test_disabled_client_runs_functions_untouched() -> None:
    state = registry._reset_for_tests()
    try:
        tracer = RecordingTracer(enabled=False)

        @observe
        async def a(x: int) -> int:
            assert tracer.get_current_observation_id() is None
            return x

        @observe
        def b(x: int) -> int:
            return x

        @observe
        def g() -> Iterator[int]:
            yield 1

        @observe
        async def ag() -> AsyncIterator[int]:
            yield 1

        assert await a(1) == 1 and b(2) == 2
        assert list(g()) == [1] and [x async for x in ag()] == [1]
        assert tracer.records == []
    finally:
        registry._restore_for_tests(state)


async def test_sampled_out_calls_record_nothing_and_are_counted() -> None:
    state = registry._reset_for_tests()
    try:
        tracer = RecordingTracer(sample_rate=0.0)

        @observe
        async def inner() -> int:
            tracer.update_current_trace(user_id="u")
            tracer.score_current_span(name="s", value=1)
            return 1

        @observe
        async def outer() -> int:
            return await inner()

        @observe
        def gen() -> Iterator[int]:
            yield 1

        assert await outer() == 1
        assert list(gen()) == [1]
        assert tracer.records == []
        assert tracer.sampled_out == 3
    finally:
        registry._restore_for_tests(state)


# --------------------------------------------------------------------------- what gets decorated


async def test_observe_above_or_below_classmethod_and_staticmethod(
    tracer: RecordingTracer,
) -> None:
    class Agent:
        @observe
        @classmethod
        def make(cls, size: int) -> str:
            return f"{cls.__name__}:{size}"

        @observe(name="tool")
        @staticmethod
        async def tool(query: str) -> str:
            return query

        @classmethod
        @observe
        def make_below(cls, size: int) -> int:
            return size

        @staticmethod
        @observe
        def tool_below(query: str) -> str:
            return query

    agent = Agent()
    assert Agent.make(1) == "Agent:1" and agent.make(2) == "Agent:2"
    assert await Agent.tool("q") == "q" and await agent.tool("r") == "r"
    assert Agent.make_below(3) == 3 and agent.tool_below("s") == "s"
    inputs = [(r.name, decode(r.input)) for r in tracer.observations]
    assert inputs == [
        ("make", {"size": 1}),
        ("make", {"size": 2}),
        ("tool", {"query": "q"}),
        ("tool", {"query": "r"}),
        ("make_below", {"size": 3}),
        ("tool_below", {"query": "s"}),
    ]


async def test_callable_object_with_async_call_is_awaited_inside_the_observation(
    tracer: RecordingTracer,
) -> None:
    class Model:
        async def __call__(self, prompt: str) -> str:
            await asyncio.sleep(0)
            tracer.start_observation(name="inside").end()
            return prompt.upper()

    call = observe(name="model", as_type="generation")(Model())
    assert inspect.iscoroutinefunction(call)
    assert await call("hi") == "HI"
    rec = tracer.by_name("model")
    assert decode(rec.input) == {"prompt": "hi"} and decode(rec.output) == "HI"
    assert tracer.by_name("inside").parent_id == rec.id


async def test_partials_and_bound_methods(tracer: RecordingTracer) -> None:
    async def search(index: str, query: str, limit: int = 3) -> list[str]:
        return [index, query]

    class Store:
        def get(self, key: str) -> str:
            return key

    assert await observe(functools.partial(search, "docs"))("q") == ["docs", "q"]
    assert observe(Store().get)("k") == "k"
    assert decode(tracer.by_name("search").input) == {"query": "q"}
    assert decode(tracer.by_name("get").input) == {"key": "k"}


def test_names_are_plain_strings(tracer: RecordingTracer) -> None:
    @observe(name=123)  # type: ignore[call-overload]
    def numbered() -> None:
        return None

    @observe(name="")
    def unnamed() -> None:
        return None

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no text")

    @observe(name=Unprintable())  # type: ignore[call-overload]
    def hostile() -> None:
        return None

    numbered()
    unnamed()
    hostile()
    assert [(r.name, type(r.name)) for r in tracer.observations] == [
        ("123", str),
        ("unnamed", str),
        ("<Unprintable>", str),
    ]


def test_none_options_mean_the_defaults(
    tracer: RecordingTracer, caplog: pytest.LogCaptureFixture
) -> None:
    # The official SDK's signature: None means "the default", not "off".
    @observe(as_type=None, capture_input=None, capture_output=None)
    def add(a: int, b: int) -> int:
        return a + b

    with caplog.at_level(logging.DEBUG, logger="langfuse_async"):
        assert add(1, 2) == 3
    rec = tracer.by_name("add")
    assert rec.as_type == "span"
    assert not [r for r in caplog.records if "as_type" in r.getMessage()]
    assert decode(rec.input) == {"a": 1, "b": 2} and decode(rec.output) == 3


async def test_functions_returning_generators_are_observed_over_the_iteration(
    tracer: RecordingTracer,
) -> None:
    def numbers(n: int) -> Iterator[int]:
        for i in range(n):
            tracer.start_observation(name=f"item-{i}").end()
            yield i

    async def words() -> AsyncIterator[str]:
        for word in ("a", "b"):
            tracer.start_observation(name=f"word-{word}").end()
            yield word

    @observe
    def make_numbers(n: int) -> Iterator[int]:
        return numbers(n)

    @observe
    async def make_words() -> AsyncIterator[str]:
        return words()

    stream = make_numbers(2)
    assert tracer.observations == []  # still open while the stream is pending
    assert list(stream) == [0, 1]
    assert [w async for w in await make_words()] == ["a", "b"]
    rec = tracer.by_name("make_numbers")
    assert decode(rec.output) == [0, 1]
    assert tracer.by_name("item-1").parent_id == rec.id
    words_rec = tracer.by_name("make_words")
    assert decode(words_rec.output) == "ab"
    assert tracer.by_name("word-b").parent_id == words_rec.id


async def test_generator_functions_still_look_like_generator_functions(
    tracer: RecordingTracer,
) -> None:
    # Frameworks choose how to call a function by asking inspect (FastAPI dependencies with
    # yield, pytest fixtures, LangChain runnables).
    @observe
    def gen(n: int) -> Iterator[int]:
        """Counts."""
        yield from range(n)

    @observe
    async def agen(n: int) -> AsyncIterator[int]:
        yield n

    class Source:
        @observe
        def rows(self, n: int) -> Iterator[int]:
            yield n

        @observe
        async def chunks(self, n: int) -> AsyncIterator[int]:
            yield n

    assert inspect.isgeneratorfunction(gen) and inspect.isasyncgenfunction(agen)
    assert not inspect.iscoroutinefunction(agen)
    assert inspect.isgeneratorfunction(Source().rows)
    assert inspect.isasyncgenfunction(Source.chunks)
    assert gen.__name__ == "gen" and gen.__doc__ == "Counts."
    assert inspect.signature(gen) == inspect.signature(gen.__wrapped__)  # type: ignore[attr-defined]
    assert list(gen(2)) == [0, 1] and list(Source().rows(5)) == [5]
    assert [x async for x in Source().chunks(6)] == [6]
    assert decode(tracer.by_name("rows").input) == {"n": 5}
    assert decode(tracer.by_name("chunks").output) == [6]


def test_a_generator_function_observed_twice_records_both(tracer: RecordingTracer) -> None:
    @observe(name="outer")
    @observe(name="inner")
    def gen() -> Iterator[int]:
        yield 1

    assert list(gen()) == [1]
    assert tracer.by_name("inner").parent_id == tracer.by_name("outer").id


def test_observed_generator_functions_pickle_by_name() -> None:
    assert pickle.loads(pickle.dumps(_module_level_generator)) is _module_level_generator


@observe
def _module_level_generator() -> Iterator[int]:
    yield 1


def test_a_coroutine_closed_before_it_finished_is_not_an_error(
    tracer: RecordingTracer,
) -> None:
    @types.coroutine
    def suspend() -> Generator[None, None, None]:
        yield

    @observe
    async def waits() -> None:
        await suspend()

    coro = waits()
    coro.send(None)
    coro.close()  # what the garbage collector does with one nobody will resume
    rec = tracer.by_name("waits")
    assert rec.level is None and rec.status_message is None


def test_stream_items_whose_methods_raise_are_still_collected(tracer: RecordingTracer) -> None:
    class Chunk(str):
        def __len__(self) -> int:
            raise RuntimeError("no len")

    @observe
    def stream() -> Iterator[str]:
        yield Chunk("a")
        yield Chunk("b")

    assert list(stream()) == ["a", "b"]
    assert decode(tracer.by_name("stream").output) == ["a", "b"]


def test_a_function_whose_signature_raises_can_be_decorated(tracer: RecordingTracer) -> None:
    class Odd:
        @property
        def __signature__(self) -> Any:
            raise RuntimeError("no signature")

        def __call__(self, *args: Any) -> int:
            return len(args)

    assert observe(Odd())(1, 2) == 2
    assert decode(tracer.by_name("Odd").input) == {"args": [1, 2]}


def test_keyword_arguments_named_like_positional_ones_are_kept(
    tracer: RecordingTracer,
) -> None:
    @observe
    def positional_only(a: int, /, **options: int) -> None:
        return None

    @observe
    def variadic(*args: int, **options: int) -> None:
        return None

    positional_only(1, a=2)
    variadic(1, 2, args=3)
    variadic(4, x=5)
    first, second, third = tracer.observations
    assert decode(first.input) == {"a": 1, "options": {"a": 2}}
    assert decode(second.input) == {"args": [1, 2], "options": {"args": 3}}
    assert decode(third.input) == {"args": [4], "x": 5}


async def test_the_official_call_time_arguments_join_a_trace_and_never_reach_the_function(
    tracer: RecordingTracer,
) -> None:
    seen: list[dict[str, Any]] = []

    @observe(name="handler")
    async def handler(x: int, **extra: Any) -> int:
        seen.append(extra)
        return x

    @observe(name="work")
    def work(x: int) -> int:
        return x

    trace_id, parent = "ab" * 16, "cd" * 8
    assert await handler(1, langfuse_trace_id=trace_id, langfuse_parent_observation_id=parent) == 1
    assert work(2, langfuse_trace_id=trace_id) == 2  # would be a TypeError if passed on
    assert work(3, langfuse_trace_id="not-an-id") == 3  # invalid: logged, a new trace
    assert seen == [{}]
    h, w = tracer.by_name("handler"), [r for r in tracer.records if r.name == "work"]
    assert (h.trace_id, h.parent_id, h.remote_parent) == (trace_id, parent, True)
    assert decode(h.input) == {"x": 1}  # the langfuse_* arguments are not input
    assert (w[0].trace_id, w[0].parent_id) == (trace_id, None)
    assert w[1].trace_id != trace_id


def test_positional_scalars_take_the_fast_path_and_record_what_the_bound_dict_would(
    tracer: RecordingTracer,
) -> None:
    from langfuse_async._tracing.observe import _Arguments
    from langfuse_async._tracing.payload import encode_payload

    class Text(str):
        pass

    def many(*names: str) -> Any:
        namespace: dict[str, Any] = {}
        exec(f"def wide({', '.join(names)}): return None", namespace)
        return namespace["wide"]

    def with_varargs(a, b=2, *rest, c=3, **kw):  # type: ignore[no-untyped-def]
        return None

    class Service:
        def method(self, a, b):  # type: ignore[no-untyped-def]
            return None

    wide = many(*(f"p{i}" for i in range(40)))
    nan, inf = float("nan"), float("inf")
    calls: list[tuple[Any, tuple[Any, ...]]] = [
        (with_varargs, ("x",)),
        (with_varargs, ("x", 1.5)),
        (with_varargs, ("x", 1, 2, 3)),  # more than the named parameters: *rest
        (with_varargs, (Text("sub"), True)),  # a str subclass: the walk decides
        (with_varargs, (nan, -inf)),
        (with_varargs, (2**63, -(2**63) - 1)),  # beyond 64 bits
        (with_varargs, ("\ud800", "ok")),  # a lone surrogate
        (Service.method, (Service(), "a", None)),  # the receiver is not input
        (wide, tuple(range(40))),  # more parameters than the prepared structs
        (many(*(f"p{i}" for i in range(32))), tuple(f"v{i}" for i in range(32))),
    ]
    for fn, args in calls:
        arguments = _Arguments(fn)
        raw = arguments.encode(tracer._recorder, args, {})
        expected = encode_payload(arguments._bind(args[arguments.skip :], {}))
        assert raw is not None and bytes(raw) == bytes(expected), (fn.__name__, args)
        observe(fn)(*args)
        assert bytes(tracer.observations[-1].input or b"") == bytes(expected)
