"""The ``@observe`` decorator: one observation per call of a function.

Everything that can be decided once is decided when the function is decorated: its kind
(coroutine, generator, async generator or plain), its name, the names its positional arguments
are recorded under, and whether the first one is ``self``/``cls``. A call then costs a few
attribute reads, two ids, two clock reads and the encoding of the arguments and result.

Generators (and functions that return one, as in the official SDK) get an observation that
lasts over the whole iteration: see :mod:`.generators`.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator
from types import AsyncGeneratorType, GeneratorType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast, overload

import msgspec

from .._records import ObservationType
from .coerce import checked_type, flag, safe_str, valid_trace_context
from .generators import (
    GeneratorFunction,
    create,
    traced_async_generator,
    traced_generator,
    traced_result,
)
from .observations import CURRENT, OBSERVATION_CLASSES, Observation
from .payload import fields_encoder
from .registry import CLIENTS, get_client

if TYPE_CHECKING:
    from .recorder import Recorder
    from .tracer import Tracer

__all__ = ["observe"]

P = ParamSpec("P")
R = TypeVar("R")


class _Arguments:
    """How to record a function's arguments by parameter name, computed once per function."""

    __slots__ = ("clash", "count", "fields", "names", "skip", "varargs", "varkw")

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
        # Positional scalars, the common call, are encoded without a dict.
        self.fields = fields_encoder(self.names) if self.names else None

    def encode(
        self, recorder: Recorder, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> msgspec.Raw | None:
        """Return the call's arguments as recorded input (masked, encoded, capped), or None."""
        if self.skip:
            args = args[1:]
        if not kwargs and recorder.mask is None:
            n = len(args)
            if n == 0:
                return None
            if n <= self.count and self.fields is not None:
                raw = self.fields(args)
                if raw is not None and len(raw) <= recorder.max_payload:
                    return raw
        bound = self._bind(args, kwargs)
        return None if bound is None else recorder.encode(bound)

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """The arguments (without the receiver) keyed by parameter name, or None if none."""
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
    capture_input: bool | None = None,
    capture_output: bool | None = None,
    transform_to_string: Callable[[list[Any]], str] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def observe(
    func: Callable[P, R] | None = None,
    *,
    name: str | None = None,
    as_type: ObservationType | None = "span",
    capture_input: bool | None = None,
    capture_output: bool | None = None,
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
        capture_input: Record the arguments as input. None (the default) follows the
            recording client's ``capture_io`` (``LANGFUSE_OBSERVE_DECORATOR_IO_CAPTURE_ENABLED``,
            true unless set), read at call time; True or False wins over it.
        capture_output: Record the return value (or yielded items) as output; None follows
            ``capture_io`` in the same way.
        transform_to_string: For generators, turns the list of yielded items into the
            recorded output.

    Returns:
        The decorated function, or a decorator when called with options only.
    """
    kind = checked_type(as_type)
    # None: the recording client's capture_io decides, at call time.
    with_input = None if capture_input is None else flag(capture_input, True)
    with_output = None if capture_output is None else flag(capture_output, True)

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
    capture_input: bool | None,
    capture_output: bool | None,
    transform: Callable[[list[Any]], str] | None,
) -> Callable[P, R]:
    # None or "" means the function's name, as in the official SDK.
    unnamed = name is None or (type(name) is str and not name)
    obs_name = _function_name(fn) if unnamed else safe_str(name)
    arguments = _Arguments(fn) if capture_input is not False else None
    # Input captured unless the client says no: asked only when the decorator left it open.
    input_follows_client = capture_input is None
    clients = CLIENTS
    kind = _kind(fn)
    obs_class = OBSERVATION_CLASSES[as_type]

    def begin(
        client: Tracer,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        remote: tuple[str, str | None] | None,
    ) -> Observation:
        parent = CURRENT.get()
        recorder = client._recorder
        if remote is None:
            obs = obs_class(recorder, parent, obs_name, as_type)
        else:
            obs = obs_class._remote(recorder, remote[0], remote[1], obs_name, as_type)
        if (
            arguments is not None
            and obs._recording
            and (obs._recorder.capture_io or not input_follows_client)
        ):
            obs._input = arguments.encode(obs._recorder, args, kwargs)
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
                obs = obs_class(recorder, parent, obs_name, as_type)
            else:
                obs = obs_class._remote(recorder, remote[0], remote[1], obs_name, as_type)
            capture_io = obs._recorder.capture_io
            if (
                arguments is not None
                and obs._recording
                and (capture_io or not input_follows_client)
            ):
                obs._input = arguments.encode(obs._recorder, args, kwargs)
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
                with_output = capture_io if capture_output is None else capture_output
                if rtype is AsyncGeneratorType or rtype is GeneratorType:
                    return traced_result(result, obs, with_output, transform)
                if with_output and obs._output is None and obs._recording:
                    obs._output = obs._recorder.encode(result)
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
            agen = create(obs, gfn, args, kwargs)
            capture_io = obs._recorder.capture_io
            with_output = capture_io if capture_output is None else capture_output
            return traced_async_generator(agen, obs, with_output, transform)

        return cast("Callable[P, R]", GeneratorFunction(fn, async_gen_wrapper))

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
            gen = create(obs, sfn, args, kwargs)
            capture_io = obs._recorder.capture_io
            with_output = capture_io if capture_output is None else capture_output
            return traced_generator(gen, obs, with_output, transform)

        return cast("Callable[P, R]", GeneratorFunction(fn, gen_wrapper))

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
            obs = obs_class(recorder, parent, obs_name, as_type)
        else:
            obs = obs_class._remote(recorder, remote[0], remote[1], obs_name, as_type)
        capture_io = obs._recorder.capture_io
        if arguments is not None and obs._recording and (capture_io or not input_follows_client):
            obs._input = arguments.encode(obs._recorder, args, kwargs)
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
            with_output = capture_io if capture_output is None else capture_output
            if rtype is GeneratorType or rtype is AsyncGeneratorType:
                return cast("R", traced_result(result, obs, with_output, transform))
            if with_output and obs._output is None and obs._recording:
                obs._output = obs._recorder.encode(result)
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
