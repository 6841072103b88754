"""Observations that last over a generator's iteration, for ``@observe``.

Generators get an observation that starts when the generator is created (so its parent is the
observation current at that moment, even if the generator is consumed later by another task,
as a streaming response does) and ends when it is exhausted, closed or raises. The generator's
own code runs with the observation current, restored around every step, so no context is ever
carried across a ``yield`` into the consumer's code. The items it yields are its output,
collected up to the event size limit.
"""

from __future__ import annotations

import contextvars
import functools
import logging
from collections.abc import AsyncGenerator, Callable, Generator
from types import GeneratorType, MethodType
from typing import Any, TypeVar

from .._log import log_once
from .._records import TRUNCATED_MARKER
from .observations import CURRENT, Observation
from .payload import encode_payload

__all__ = [
    "GeneratorFunction",
    "create",
    "traced_async_generator",
    "traced_generator",
    "traced_result",
]

R = TypeVar("R")
Y = TypeVar("Y")
S = TypeVar("S")

_TRUNCATED = encode_payload(TRUNCATED_MARKER)
# A stream whose items add up to more than the event limit would only be replaced by the
# truncation marker, so collecting stops there instead of holding every item to the end.
_ITEM_COST = 16


class GeneratorFunction(functools.partial):  # type: ignore[type-arg]
    """An observed generator (or async generator) function.

    The wrapper has to be a plain function, because the observation starts (and takes its
    parent) when the generator is created. Frameworks decide how to call a function by asking
    ``inspect.isgeneratorfunction`` or ``isasyncgenfunction`` (FastAPI's dependencies with
    ``yield``, pytest fixtures, LangChain's runnables), which would then answer no. Those
    functions see through ``functools.partial``, so the wrapper is a partial of the original
    function whose call runs the observing wrapper instead; it binds as a method like a
    function does.
    """

    _call: Callable[..., Any]

    def __new__(cls, fn: Callable[..., Any], call: Callable[..., Any]) -> GeneratorFunction:
        self = super().__new__(cls, fn)
        functools.update_wrapper(self, fn)
        # After update_wrapper, which copies the __dict__ of fn (an observed function's own
        # _call, when observe is applied twice).
        self._call = call
        return self

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        return self._call(*args, **kwargs)

    def __get__(self, obj: object, objtype: type | None = None) -> Any:
        return self if obj is None else MethodType(self, obj)

    def __repr__(self) -> str:
        return f"<observed {self.func!r}>"

    def __reduce__(self) -> str:
        # Pickled by name, as a function is: the module attribute is this object.
        name: str = self.__dict__["__qualname__"]
        return name


def create(
    obs: Observation, make: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Create the generator with ``obs`` current.

    A generator function runs no code when called, but what is below the decorator may: a
    second ``@observe``, or another decorator that is a plain function.
    """
    parent = CURRENT.get()
    CURRENT.set(obs)
    try:
        return make(*args, **kwargs)
    except BaseException as exc:
        obs._fail(exc)
        obs.end()
        raise
    finally:
        if CURRENT.get() is obs:
            CURRENT.set(parent)


def traced_result(
    result: Any,
    obs: Observation,
    capture_output: bool,
    transform: Callable[[list[Any]], str] | None,
) -> Any:
    """Keep ``obs`` open over the iteration of a generator the function returned."""
    if type(result) is GeneratorType:
        return traced_generator(result, obs, capture_output, transform)
    return traced_async_generator(result, obs, capture_output, transform)


class _YieldedItems:
    """The items a generator yielded, bounded by the event size limit (its recorded output)."""

    __slots__ = ("budget", "items", "overflow")

    def __init__(self, budget: int) -> None:
        self.items: list[Any] = []
        self.budget = budget
        self.overflow = False

    def add(self, item: Any) -> None:
        if self.overflow:
            return
        self.items.append(item)
        # Exact types: the len() of a subclass is user code, which must not run here.
        kind = type(item)
        self.budget -= len(item) if kind is str or kind is bytes else _ITEM_COST
        if self.budget < 0:
            self.overflow = True
            self.items = []

    def finish(self, obs: Observation, transform: Callable[[list[Any]], str] | None) -> None:
        if not obs._recording or obs._ended or obs._output is not None:
            return
        if self.overflow:
            obs._output = _TRUNCATED
            return
        items = self.items
        if not items:
            return
        value: Any = items
        if transform is not None:
            try:
                value = transform(items)
            except Exception:
                log_once(
                    logging.WARNING,
                    "observe.transform_to_string",
                    "transform_to_string raised; the yielded items are recorded as a list",
                    exc_info=True,
                )
        elif all(type(i) is str for i in items):
            value = "".join(items)
        obs._output = obs._recorder.encode(value)


def _finish(
    obs: Observation,
    yielded: _YieldedItems | None,
    transform: Callable[[list[Any]], str] | None,
    exc: BaseException | None,
) -> None:
    if yielded is not None:
        yielded.finish(obs, transform)
    if exc is not None:
        obs._fail(exc)
    obs.end()


def _close(
    gen: Generator[Any, Any, Any],
    obs: Observation,
    inner: Observation | None,
    yielded: _YieldedItems | None,
    transform: Callable[[list[Any]], str] | None,
) -> None:
    """Close the wrapped generator with ``inner`` current, and end the observation."""
    CURRENT.set(inner)
    try:
        gen.close()
    except BaseException as exc:
        _finish(obs, yielded, transform, exc)
        raise
    _finish(obs, yielded, transform, None)


def traced_generator(
    gen: Generator[Y, S, R],
    obs: Observation,
    capture_output: bool,
    transform: Callable[[list[Any]], str] | None,
) -> Generator[Y, S, R]:
    yielded = (
        _YieldedItems(obs._recorder.max_payload) if capture_output and obs._recording else None
    )
    inner: Observation | None = obs  # what is current inside the generator's own code
    send: Callable[[Any], Y] = gen.send
    value: Any = None
    try:
        while True:
            outer = CURRENT.get()
            CURRENT.set(inner)
            try:
                item = send(value)
            except StopIteration as stop:
                result: R = stop.value
                break
            finally:
                inner = CURRENT.get()
                CURRENT.set(outer)
            if yielded is not None:
                yielded.add(item)
            try:
                value = yield item
                send = gen.send
            except GeneratorExit:
                raise
            except BaseException as thrown:
                # Thrown in by the consumer: the wrapped generator decides what happens.
                value = thrown
                send = gen.throw
    except GeneratorExit:
        # In a copy of the context: this is where the garbage collector closes a traced
        # generator left in a reference cycle, which may be in the middle of a ContextVar.set
        # of this very context. A set here would replace the variables that set is reading;
        # CPython 3.10 and 3.11 then read freed memory and crash (python/cpython#148891).
        # Nothing set while closing has to outlive it.
        contextvars.copy_context().run(_close, gen, obs, inner, yielded, transform)
        raise
    except BaseException as exc:
        _finish(obs, yielded, transform, exc)
        raise
    _finish(obs, yielded, transform, None)
    return result


async def traced_async_generator(
    agen: AsyncGenerator[Y, S],
    obs: Observation,
    capture_output: bool,
    transform: Callable[[list[Any]], str] | None,
) -> AsyncGenerator[Y, S]:
    yielded = (
        _YieldedItems(obs._recorder.max_payload) if capture_output and obs._recording else None
    )
    inner: Observation | None = obs  # what is current inside the generator's own code
    send: Callable[[Any], Any] = agen.asend
    value: Any = None
    try:
        while True:
            outer = CURRENT.get()
            CURRENT.set(inner)
            try:
                item = await send(value)
            except StopAsyncIteration:
                break
            finally:
                inner = CURRENT.get()
                CURRENT.set(outer)
            if yielded is not None:
                yielded.add(item)
            try:
                value = yield item
                send = agen.asend
            except GeneratorExit:
                raise
            except BaseException as thrown:
                value = thrown
                send = agen.athrow
    except GeneratorExit:
        outer = CURRENT.get()
        CURRENT.set(inner)
        try:
            await agen.aclose()
        except BaseException as exc:
            _finish(obs, yielded, transform, exc)
            raise
        finally:
            CURRENT.set(outer)
        _finish(obs, yielded, transform, None)
        raise
    except BaseException as exc:
        _finish(obs, yielded, transform, exc)
        raise
    _finish(obs, yielded, transform, None)
