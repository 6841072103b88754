"""The ``@observe`` decorator: one observation per call of a function.

Everything that can be decided once is decided when the function is decorated: its kind
(coroutine, generator, async generator or plain), its name, the names its positional arguments
are recorded under, and whether the first one is ``self``/``cls``. A call then costs a few
attribute reads, two ids, two clock reads and the encoding of the arguments and result.

Generators get an observation that starts when the generator is created (so its parent is the
observation current at that moment, even if the generator is consumed later by another task,
as a streaming response does) and ends when it is exhausted, closed or raises. The generator's
own code runs with the observation current, restored around every step, so no context is ever
carried across a ``yield`` into the consumer's code. A function that returns a generator (or
an async generator) instead of being one gets the same treatment for the generator it returns,
as in the official SDK.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import AsyncGenerator, Callable, Generator
from types import AsyncGeneratorType, GeneratorType, MethodType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast, overload

from .._log import log_once
from .._records import TRUNCATED_MARKER, ObservationType
from .coerce import checked_type, flag, safe_str, valid_trace_context
from .observations import CURRENT, Observation
from .payload import encode_payload
from .registry import CLIENTS, get_client

if TYPE_CHECKING:
    from .tracer import Tracer

__all__ = ["observe"]

P = ParamSpec("P")
R = TypeVar("R")
Y = TypeVar("Y")
S = TypeVar("S")

_TRUNCATED = encode_payload(TRUNCATED_MARKER)
# A stream whose items add up to more than the event limit would only be replaced by the
# truncation marker, so collecting stops there instead of holding every item to the end.
_ITEM_COST = 16


class _Arguments:
    """How to record a function's arguments by parameter name, computed once per function."""

    __slots__ = ("clash", "count", "names", "skip", "varargs", "varkw")

    def __init__(self, func: Callable[..., Any]) -> None:
        names: list[str] = []
        self.varargs = "args"
        self.varkw = "kwargs"
        try:
            parameters = list(inspect.signature(func).parameters.values())
            known = True
        except Exception:  # no signature (some builtins), or a __signature__ that raises
            parameters = []
            known = False
        # Only when a keyword argument can have the name of a positional one (f(a, /, **kw)
        # called as f(1, a=2), or f(*args, **kw) as f(1, args=2)) must they be kept apart:
        # merging them would lose a value.
        self.clash = not known
        for p in parameters:
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                names.append(p.name)
                self.clash = self.clash or p.kind == p.POSITIONAL_ONLY
            elif p.kind == p.VAR_POSITIONAL:
                self.varargs = p.name
                self.clash = True
            elif p.kind == p.VAR_KEYWORD:
                self.varkw = p.name
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
            if self.clash and not bound.keys().isdisjoint(kwargs):
                bound[self.varkw] = kwargs
            else:
                bound.update(kwargs)
        return bound


@overload
def observe(func: Callable[P, R]) -> Callable[P, R]: ...


@overload
def observe(
    func: None = None,
    *,
    name: str | None = None,
    as_type: ObservationType | None = "span",
    capture_input: bool | None = True,
    capture_output: bool | None = True,
    transform_to_string: Callable[[list[Any]], str] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def observe(
    func: Callable[P, R] | None = None,
    *,
    name: str | None = None,
    as_type: ObservationType | None = "span",
    capture_input: bool | None = True,
    capture_output: bool | None = True,
    transform_to_string: Callable[[list[Any]], str] | None = None,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Record every call of the decorated function as an observation.

    Works on ``async def`` functions, plain functions, generators and async generators, as
    ``@observe`` or ``@observe(...)``, also above ``@classmethod`` or ``@staticmethod`` and on
    callable objects (an ``async def __call__`` is awaited inside the observation); the
    decorated function keeps its signature and type.
    The observation is a child of the current one (or the root of a new trace) and is current
    while the function runs. Arguments are recorded as input keyed by parameter name
    (``self``/``cls`` excluded) and the return value as output; an exception is recorded as
    level ``ERROR`` with its message and re-raised unchanged. A generator's observation lasts
    for the whole iteration and its output is the items it yielded (joined when they are all
    strings); so does the observation of a function that returns a generator or an async
    generator. A decorated generator function still passes ``inspect.isgeneratorfunction``
    (``isasyncgenfunction``), as frameworks that call it by its kind need. The client is the
    one ``get_client()`` returns at call time.

    Args:
        func: The function, when used as ``@observe`` without parentheses.
        name: The observation's name; the function's ``__name__`` by default (also when
            empty).
        as_type: The observation type, e.g. ``"generation"`` or ``"tool"``; None is
            ``"span"``, as in the official SDK.
        capture_input: Record the arguments as input (None: the default, True).
        capture_output: Record the return value (or yielded items) as output (None: True).
        transform_to_string: For generators, turns the list of yielded items into the
            recorded output.

    Returns:
        The decorated function, or a decorator when called with options only.
    """
    kind = checked_type(as_type)
    with_input = flag(capture_input, True)
    with_output = flag(capture_output, True)

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        if isinstance(fn, (classmethod, staticmethod)):
            # Above @classmethod/@staticmethod: observe the function and wrap it again, so
            # the descriptor still binds (or does not bind) the class as before.
            inner = _wrap(fn.__func__, name, kind, with_input, with_output, transform_to_string)
            rewrapped = classmethod(inner) if isinstance(fn, classmethod) else staticmethod(inner)
            return cast("Callable[P, R]", rewrapped)
        return _wrap(fn, name, kind, with_input, with_output, transform_to_string)

    if func is None:
        return decorate
    return decorate(func)


def _function_name(fn: object) -> str:
    """Return the default observation name for ``fn``.

    That is its ``__name__``, seen through ``functools.partial``, or its type's name for an
    object without one.
    """
    while isinstance(fn, functools.partial):
        fn = fn.func
    try:
        name = getattr(fn, "__name__", None)
    except Exception:
        name = None
    return name if type(name) is str and name else type(fn).__name__


def _kind(fn: object) -> str:
    """What calling ``fn`` gives: ``"coroutine"``, ``"async_gen"``, ``"gen"`` or ``"plain"``.

    A callable object is what its class's ``__call__`` is, so that an ``async def __call__``
    is awaited inside the observation instead of the observation ending when it is called.
    """
    target = fn
    while isinstance(target, functools.partial):
        target = target.func
    candidates: list[object] = [fn]
    try:
        candidates.append(type(target).__call__)
    except AttributeError:
        pass  # not callable: calling it raises as it would undecorated
    for candidate in candidates:
        if inspect.iscoroutinefunction(candidate) or _marked_coroutine(candidate):
            return "coroutine"
        if inspect.isasyncgenfunction(candidate):
            return "async_gen"
        if inspect.isgeneratorfunction(candidate):
            return "gen"
    return "plain"


# Before Python 3.12 made inspect.markcoroutinefunction, async wrappers (asgiref, async-lru)
# marked themselves with asyncio's private marker, which asyncio.iscoroutinefunction reads.
_COROUTINE_MARKER = getattr(asyncio.coroutines, "_is_coroutine", None)


def _marked_coroutine(fn: object) -> bool:
    try:
        return _COROUTINE_MARKER is not None and (
            getattr(fn, "_is_coroutine", None) is _COROUTINE_MARKER
        )
    except Exception:
        return False


def _wrap(
    fn: Callable[P, R],
    name: str | None,
    as_type: str,
    capture_input: bool,
    capture_output: bool,
    transform: Callable[[list[Any]], str] | None,
) -> Callable[P, R]:
    # None or "" means the function's name, as in the official SDK.
    unnamed = name is None or (type(name) is str and not name)
    obs_name = _function_name(fn) if unnamed else safe_str(name)
    arguments = _Arguments(fn) if capture_input else None
    clients = CLIENTS
    kind = _kind(fn)

    def begin(
        client: Tracer,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        remote: tuple[str, str | None] | None = None,
    ) -> Observation:
        recorder = client._recorder
        if remote is None:
            obs = Observation(recorder, CURRENT.get(), obs_name, as_type)
        else:
            obs = Observation._remote(recorder, remote[0], remote[1], obs_name, as_type)
        if arguments is not None and obs._recording:
            bound = arguments.bind(args, kwargs)
            if bound is not None:
                obs._input = recorder.encode(bound)
        return obs

    # The coroutine and plain wrappers inline what begin() does: they are the hot path, and a
    # call frame there is a measurable share of the cost.
    if kind == "coroutine":
        afn = cast("Callable[P, Any]", fn)

        @functools.wraps(fn)
        async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            client = clients.last
            if client is None:
                client = get_client()
            remote = None
            if kwargs and not _LANGFUSE_KWARGS.isdisjoint(kwargs):
                client, remote = _take_langfuse_kwargs(client, kwargs)
            if not client._tracing_enabled:
                return await afn(*args, **kwargs)
            parent = CURRENT.get()
            recorder = client._recorder
            if remote is None:
                obs = Observation(recorder, parent, obs_name, as_type)
            else:
                obs = Observation._remote(recorder, remote[0], remote[1], obs_name, as_type)
            if arguments is not None and obs._recording:
                bound = arguments.bind(args, kwargs)
                if bound is not None:
                    obs._input = recorder.encode(bound)
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
            if result is not None:
                rtype = type(result)
                if rtype is AsyncGeneratorType or rtype is GeneratorType:
                    return _traced_result(result, obs, capture_output, transform)
                if capture_output and obs._output is None and obs._recording:
                    obs._output = recorder.encode(result)
            obs.end()
            return result

        return cast("Callable[P, R]", async_wrapper)

    if kind == "async_gen":
        gfn = cast("Callable[P, AsyncGenerator[Any, Any]]", fn)

        def async_gen_wrapper(*args: P.args, **kwargs: P.kwargs) -> AsyncGenerator[Any, Any]:
            client = clients.last
            if client is None:
                client = get_client()
            remote = None
            if kwargs and not _LANGFUSE_KWARGS.isdisjoint(kwargs):
                client, remote = _take_langfuse_kwargs(client, kwargs)
            if not client._tracing_enabled:
                return gfn(*args, **kwargs)
            obs = begin(client, args, kwargs, remote)
            agen = _create(obs, gfn, args, kwargs)
            return _traced_async_generator(agen, obs, capture_output, transform)

        return cast("Callable[P, R]", _GeneratorFunction(fn, async_gen_wrapper))

    if kind == "gen":
        sfn = cast("Callable[P, Generator[Any, Any, Any]]", fn)

        def gen_wrapper(*args: P.args, **kwargs: P.kwargs) -> Generator[Any, Any, Any]:
            client = clients.last
            if client is None:
                client = get_client()
            remote = None
            if kwargs and not _LANGFUSE_KWARGS.isdisjoint(kwargs):
                client, remote = _take_langfuse_kwargs(client, kwargs)
            if not client._tracing_enabled:
                return sfn(*args, **kwargs)
            obs = begin(client, args, kwargs, remote)
            gen = _create(obs, sfn, args, kwargs)
            return _traced_generator(gen, obs, capture_output, transform)

        return cast("Callable[P, R]", _GeneratorFunction(fn, gen_wrapper))

    @functools.wraps(fn)
    def sync_wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        client = clients.last
        if client is None:
            client = get_client()
        remote = None
        if kwargs and not _LANGFUSE_KWARGS.isdisjoint(kwargs):
            client, remote = _take_langfuse_kwargs(client, kwargs)
        if not client._tracing_enabled:
            return fn(*args, **kwargs)
        parent = CURRENT.get()
        recorder = client._recorder
        if remote is None:
            obs = Observation(recorder, parent, obs_name, as_type)
        else:
            obs = Observation._remote(recorder, remote[0], remote[1], obs_name, as_type)
        if arguments is not None and obs._recording:
            bound = arguments.bind(args, kwargs)
            if bound is not None:
                obs._input = recorder.encode(bound)
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
        if result is not None:
            rtype = type(result)
            if rtype is GeneratorType or rtype is AsyncGeneratorType:
                return cast("R", _traced_result(result, obs, capture_output, transform))
            if capture_output and obs._output is None and obs._recording:
                obs._output = recorder.encode(result)
        obs.end()
        return result

    return sync_wrapper


#: Call-time keyword arguments of the official SDK's ``@observe``: taken out of the call, never
#: passed to the function.
_LANGFUSE_KWARGS = frozenset(
    {"langfuse_trace_id", "langfuse_parent_observation_id", "langfuse_public_key"}
)


def _take_langfuse_kwargs(
    client: Tracer, kwargs: dict[str, Any]
) -> tuple[Tracer, tuple[str, str | None] | None]:
    """Pop the ``langfuse_*`` arguments; return the client to use and the trace to join.

    ``langfuse_trace_id`` (with ``langfuse_parent_observation_id``) makes the observation join
    that trace, as a ``trace_context`` does; ``langfuse_public_key`` picks the client built
    with that key. Invalid values are logged once and ignored, never raised.
    """
    trace_id = kwargs.pop("langfuse_trace_id", None)
    parent_id = kwargs.pop("langfuse_parent_observation_id", None)
    public_key = kwargs.pop("langfuse_public_key", None)
    if public_key is not None:
        client = get_client(public_key=safe_str(public_key))
    if trace_id is None:
        return client, None
    context: dict[str, Any] = {"trace_id": trace_id}
    if parent_id is not None:
        context["parent_span_id"] = parent_id
    return client, valid_trace_context(context)


class _GeneratorFunction(functools.partial):  # type: ignore[type-arg]
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

    def __new__(cls, fn: Callable[..., Any], call: Callable[..., Any]) -> _GeneratorFunction:
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


def _create(
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


def _traced_result(
    result: Any,
    obs: Observation,
    capture_output: bool,
    transform: Callable[[list[Any]], str] | None,
) -> Any:
    """Keep ``obs`` open over the iteration of a generator the function returned."""
    if type(result) is GeneratorType:
        return _traced_generator(result, obs, capture_output, transform)
    return _traced_async_generator(result, obs, capture_output, transform)


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


def _traced_generator(
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
        outer = CURRENT.get()
        CURRENT.set(inner)
        try:
            gen.close()
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
    return result


async def _traced_async_generator(
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
