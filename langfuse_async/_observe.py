"""The ``@observe`` decorator: one observation per call of a function.

Everything that can be decided once is decided when the function is decorated: its kind
(coroutine, generator, async generator or plain), its name, the names its positional arguments
are recorded under, and whether the first one is ``self``/``cls``. A call then costs a few
attribute reads, two ids, two clock reads and the encoding of the arguments and result.

Generators get an observation that starts when the generator is created (so its parent is the
observation current at that moment, even if the generator is consumed later by another task,
as a streaming response does) and ends when it is exhausted, closed or raises. The generator's
own code runs with the observation current, restored around every step, so no context is ever
carried across a ``yield`` into the consumer's code.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncGenerator, Callable, Generator
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast, overload

from . import _context
from ._context import CURRENT, get_client
from ._observations import Observation, ObservationType, checked_type
from ._payload import encode_payload
from ._records import TRUNCATED_MARKER

if TYPE_CHECKING:
    from ._tracer import Tracer

__all__ = ["observe"]

P = ParamSpec("P")
R = TypeVar("R")
Y = TypeVar("Y")
S = TypeVar("S")

_registry = _context._registry
_TRUNCATED = encode_payload(TRUNCATED_MARKER)
# A stream whose items add up to more than the event limit would only be replaced by the
# truncation marker, so collecting stops there instead of holding every item to the end.
_ITEM_COST = 16


class _Arguments:
    """How to record a function's arguments by parameter name, computed once per function."""

    __slots__ = ("count", "names", "skip", "varargs")

    def __init__(self, func: Callable[..., Any]) -> None:
        names: list[str] = []
        self.varargs = "args"
        try:
            parameters = inspect.signature(func).parameters.values()
        except (TypeError, ValueError):
            parameters = ()  # type: ignore[assignment]
        for p in parameters:
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                names.append(p.name)
            elif p.kind == p.VAR_POSITIONAL:
                self.varargs = p.name
        # A method's receiver is not input; the decorator sees the plain function, so the
        # first parameter's conventional name is the only reliable sign.
        self.skip = 1 if names and names[0] in ("self", "cls") else 0
        self.names = tuple(names[self.skip :])
        self.count = len(self.names)

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """Return the call's arguments keyed by parameter name, or None when there are none."""
        if self.skip:
            args = args[1:]
        if not args:
            return kwargs or None
        bound = dict(zip(self.names, args))  # noqa: B905 (extra args are handled below)
        if len(args) > self.count:
            bound[self.varargs] = args[self.count :]
        if kwargs:
            bound.update(kwargs)
        return bound


@overload
def observe(func: Callable[P, R]) -> Callable[P, R]: ...


@overload
def observe(
    func: None = None,
    *,
    name: str | None = None,
    as_type: ObservationType = "span",
    capture_input: bool = True,
    capture_output: bool = True,
    transform_to_string: Callable[[list[Any]], str] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def observe(
    func: Callable[P, R] | None = None,
    *,
    name: str | None = None,
    as_type: ObservationType = "span",
    capture_input: bool = True,
    capture_output: bool = True,
    transform_to_string: Callable[[list[Any]], str] | None = None,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Record every call of the decorated function as an observation.

    Works on ``async def`` functions, plain functions, generators and async generators, as
    ``@observe`` or ``@observe(...)``; the decorated function keeps its signature and type.
    The observation is a child of the current one (or the root of a new trace) and is current
    while the function runs. Arguments are recorded as input keyed by parameter name
    (``self``/``cls`` excluded) and the return value as output; an exception is recorded as
    level ``ERROR`` with its message and re-raised unchanged. A generator's observation lasts
    for the whole iteration and its output is the items it yielded (joined when they are all
    strings). The client is the one ``get_client()`` returns at call time.

    Args:
        func: The function, when used as ``@observe`` without parentheses.
        name: The observation's name; the function's ``__name__`` by default.
        as_type: The observation type, e.g. ``"generation"`` or ``"tool"``.
        capture_input: Record the arguments as input.
        capture_output: Record the return value (or yielded items) as output.
        transform_to_string: For generators, turns the list of yielded items into the
            recorded output.

    Returns:
        The decorated function, or a decorator when called with options only.
    """
    kind = checked_type(as_type)

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        return _wrap(fn, name, kind, capture_input, capture_output, transform_to_string)

    if func is None:
        return decorate
    return decorate(func)


def _wrap(
    fn: Callable[P, R],
    name: str | None,
    as_type: str,
    capture_input: bool,
    capture_output: bool,
    transform: Callable[[list[Any]], str] | None,
) -> Callable[P, R]:
    obs_name = name if name is not None else getattr(fn, "__name__", type(fn).__name__)
    arguments = _Arguments(fn) if capture_input else None
    registry = _registry

    def begin(client: Tracer, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Observation:
        obs = Observation(client, CURRENT.get(), obs_name, as_type)
        if arguments is not None and obs._recording:
            bound = arguments.bind(args, kwargs)
            if bound is not None:
                obs._input = client._encode(bound)
        return obs

    # The coroutine and plain wrappers inline what begin() does: they are the hot path, and a
    # call frame there is a measurable share of the cost.
    if inspect.iscoroutinefunction(fn):
        afn = cast("Callable[P, Any]", fn)

        @functools.wraps(fn)
        async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            client = registry.last
            if client is None:
                client = get_client()
            if not client._tracing_enabled:
                return await afn(*args, **kwargs)
            parent = CURRENT.get()
            obs = Observation(client, parent, obs_name, as_type)
            if arguments is not None and obs._recording:
                bound = arguments.bind(args, kwargs)
                if bound is not None:
                    obs._input = client._encode(bound)
            CURRENT.set(obs)
            try:
                result = await afn(*args, **kwargs)
            except BaseException as exc:
                if CURRENT.get() is obs:
                    CURRENT.set(parent)
                obs._fail(exc)
                obs.end()
                raise
            if CURRENT.get() is obs:
                CURRENT.set(parent)
            if capture_output and result is not None and obs._output is None and obs._recording:
                obs._output = client._encode(result)
            obs.end()
            return result

        return cast("Callable[P, R]", async_wrapper)

    if inspect.isasyncgenfunction(fn):
        gfn = fn

        @functools.wraps(fn)
        def async_gen_wrapper(*args: P.args, **kwargs: P.kwargs) -> AsyncGenerator[Any, Any]:
            client = registry.last
            if client is None:
                client = get_client()
            if not client._tracing_enabled:
                return gfn(*args, **kwargs)
            obs = begin(client, args, kwargs)
            try:
                agen = gfn(*args, **kwargs)
            except BaseException as exc:
                obs._fail(exc)
                obs.end()
                raise
            return _traced_async_generator(agen, obs, capture_output, transform)

        return cast("Callable[P, R]", async_gen_wrapper)

    if inspect.isgeneratorfunction(fn):
        sfn = fn

        @functools.wraps(fn)
        def gen_wrapper(*args: P.args, **kwargs: P.kwargs) -> Generator[Any, Any, Any]:
            client = registry.last
            if client is None:
                client = get_client()
            if not client._tracing_enabled:
                return sfn(*args, **kwargs)
            obs = begin(client, args, kwargs)
            try:
                gen = sfn(*args, **kwargs)
            except BaseException as exc:
                obs._fail(exc)
                obs.end()
                raise
            return _traced_generator(gen, obs, capture_output, transform)

        return cast("Callable[P, R]", gen_wrapper)

    @functools.wraps(fn)
    def sync_wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        client = registry.last
        if client is None:
            client = get_client()
        if not client._tracing_enabled:
            return fn(*args, **kwargs)
        parent = CURRENT.get()
        obs = Observation(client, parent, obs_name, as_type)
        if arguments is not None and obs._recording:
            bound = arguments.bind(args, kwargs)
            if bound is not None:
                obs._input = client._encode(bound)
        CURRENT.set(obs)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            if CURRENT.get() is obs:
                CURRENT.set(parent)
            obs._fail(exc)
            obs.end()
            raise
        if CURRENT.get() is obs:
            CURRENT.set(parent)
        if capture_output and result is not None and obs._output is None and obs._recording:
            obs._output = client._encode(result)
        obs.end()
        return result

    return sync_wrapper


class _Collector:
    """The items a generator yielded, bounded by the event size limit."""

    __slots__ = ("budget", "items", "overflow")

    def __init__(self, budget: int) -> None:
        self.items: list[Any] = []
        self.budget = budget
        self.overflow = False

    def add(self, item: Any) -> None:
        if self.overflow:
            return
        self.items.append(item)
        self.budget -= len(item) if isinstance(item, (str, bytes)) else _ITEM_COST
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
                _context.log_once(
                    logging.WARNING,
                    "observe.transform_to_string",
                    "transform_to_string raised; the yielded items are recorded as a list",
                    exc_info=True,
                )
        elif all(type(i) is str for i in items):
            value = "".join(items)
        obs._output = obs._tracer._encode(value)


def _finish(
    obs: Observation,
    collector: _Collector | None,
    transform: Callable[[list[Any]], str] | None,
    exc: BaseException | None,
) -> None:
    if collector is not None:
        collector.finish(obs, transform)
    if exc is not None:
        obs._fail(exc)
    obs.end()


def _traced_generator(
    gen: Generator[Y, S, R],
    obs: Observation,
    capture_output: bool,
    transform: Callable[[list[Any]], str] | None,
) -> Generator[Y, S, R]:
    collector = _Collector(obs._tracer._max_payload) if capture_output and obs._recording else None
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
            if collector is not None:
                collector.add(item)
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
        outer = CURRENT.get()
        CURRENT.set(inner)
        try:
            gen.close()
        except BaseException as exc:
            _finish(obs, collector, transform, exc)
            raise
        finally:
            CURRENT.set(outer)
        _finish(obs, collector, transform, None)
        raise
    except BaseException as exc:
        _finish(obs, collector, transform, exc)
        raise
    _finish(obs, collector, transform, None)
    return result


async def _traced_async_generator(
    agen: AsyncGenerator[Y, S],
    obs: Observation,
    capture_output: bool,
    transform: Callable[[list[Any]], str] | None,
) -> AsyncGenerator[Y, S]:
    collector = _Collector(obs._tracer._max_payload) if capture_output and obs._recording else None
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
            if collector is not None:
                collector.add(item)
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
            _finish(obs, collector, transform, exc)
            raise
        finally:
            CURRENT.set(outer)
        _finish(obs, collector, transform, None)
        raise
    except BaseException as exc:
        _finish(obs, collector, transform, exc)
        raise
    _finish(obs, collector, transform, None)
