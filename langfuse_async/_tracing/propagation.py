"""``propagate_attributes``: trace attributes for the current observation and all started inside.

The official 5.x SDK's way to set ``user_id``, ``session_id``, ``tags``, the trace name,
``metadata``, ``version``, ``environment`` and a prompt for a whole unit of work. Values are
checked as the official SDK checks them (strings of at most 200 characters, metadata values at
most 200 characters once JSON-encoded, an environment of lowercase letters, digits, ``-`` and
``_``, at most 40 characters, not starting with ``langfuse``); an invalid value is dropped and
logged, never raised.

Entering the block applies the values to the current observation (its trace, for the trace
attributes) and pushes them onto a ``ContextVar``; every observation started while they are
there applies them in turn, through the hook this module installs into
:mod:`.observations` on first use (code that never propagates pays one global read).
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any, TypeVar, cast

import msgspec

from .._log import log_once
from .._records import GENERATION_LIKE_TYPES, TraceAttributes
from . import joins as _joins, traces as _traces
from .observations import Observation, current_observation
from .payload import encode_payload
from .traces import merge_trace_attributes, trace_record

__all__ = ["Propagated", "PropagateAttributes", "propagate_attributes"]

_MAX_VALUE = 200
_MAX_ENVIRONMENT = 40
_ENVIRONMENT = re.compile(r"(?!langfuse)[a-z0-9_-]+")


class Propagated(msgspec.Struct, frozen=True, kw_only=True):
    """What a ``propagate_attributes`` block (with those around it) applies."""

    trace: TraceAttributes | None = None
    version: str | None = None
    environment: str | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None


#: The attributes propagated in this context, or None outside any block.
PROPAGATED: ContextVar[Propagated | None] = ContextVar(
    "langfuse_async.propagated_attributes", default=None
)


def _drop(key: str, why: str) -> None:
    log_once(
        logging.WARNING,
        "propagate.invalid",
        "propagated attribute %r %s; dropping the value",
        key,
        why,
        variant=key + "\x00" + why,
    )


def _string(key: str, value: object) -> str | None:
    if not isinstance(value, str):
        _drop(key, "is not a string")
        return None
    if len(value) > _MAX_VALUE:
        _drop(key, f"is over {_MAX_VALUE} characters")
        return None
    return str(value)


def _environment(value: object) -> str | None:
    if not isinstance(value, str):
        _drop("environment", "is not a string")
        return None
    if len(value) > _MAX_ENVIRONMENT:
        _drop("environment", f"is over {_MAX_ENVIRONMENT} characters")
        return None
    if not _ENVIRONMENT.fullmatch(value):
        _drop(
            "environment",
            "must be lowercase letters, digits, '-' or '_' and not start with 'langfuse'",
        )
        return None
    return str(value)


def valid_environment(value: object) -> str | None:
    """Return ``value`` if it is a valid Langfuse environment name, else None (logged once)."""
    return _environment(value)


def _metadata(value: object) -> dict[str, msgspec.Raw] | None:
    if not isinstance(value, Mapping):
        _drop("metadata", "is not a mapping")
        return None
    out: dict[str, msgspec.Raw] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            _drop("metadata", "has a key that is not a string")
            continue
        if item is None:
            _drop(f"metadata.{key}", "is None")
            continue
        raw = encode_payload(item)
        if len(bytes(raw).decode("utf-8", "replace")) > _MAX_VALUE:
            _drop(f"metadata.{key}", f"is over {_MAX_VALUE} characters once JSON-encoded")
            continue
        out[str(key)] = raw
    return out or None


def _tags(value: object) -> tuple[str, ...] | None:
    if isinstance(value, str) or not isinstance(value, Sequence):
        _drop("tags", "is not a list of strings")
        return None
    tags = tuple(t for t in (_string("tags", v) for v in value) if t is not None)
    return tuple(dict.fromkeys(tags)) or None


def _prompt(value: object) -> tuple[str, int] | None:
    if isinstance(value, Mapping):
        name, version = value.get("name"), value.get("version")
    else:
        if getattr(value, "is_fallback", False):
            return None  # the official SDK never links fallback prompts
        name, version = getattr(value, "name", None), getattr(value, "version", None)
    if (
        isinstance(name, str)
        and name
        and isinstance(version, int)
        and not isinstance(version, bool)
    ):
        return str(name), int(version)
    _drop("prompt", "has no string name and integer version")
    return None


def _merge(outer: Propagated | None, new: Propagated) -> Propagated:
    if outer is None:
        return new
    trace = outer.trace
    if new.trace is not None:
        trace = merge_trace_attributes(trace, new.trace)
    return Propagated(
        trace=trace,
        version=new.version if new.version is not None else outer.version,
        environment=new.environment if new.environment is not None else outer.environment,
        prompt_name=new.prompt_name if new.prompt_name is not None else outer.prompt_name,
        prompt_version=(
            new.prompt_version if new.prompt_version is not None else outer.prompt_version
        ),
    )


def apply(obs: Observation, values: Propagated | None = None) -> None:
    """Apply the propagated values to ``obs`` (just started, or current when a block opens).

    The trace attributes merge into its trace (sent with the trace's local root, or at once
    as a trace update when that root has already ended); ``version``, ``environment`` and the
    prompt become the observation's own unless it has them.
    """
    if values is None:
        values = PROPAGATED.get()
        if values is None:
            return
    if not obs._recording or obs._ended:
        return
    try:
        extra = obs._extra
        if (
            values.version is not None
            or values.environment is not None
            or (values.prompt_name is not None and obs.as_type in GENERATION_LIKE_TYPES)
        ):
            if extra is None:
                extra = obs._extra = {}
            if values.version is not None:
                extra.setdefault("version", values.version)
            if values.environment is not None:
                extra["environment"] = values.environment
            if values.prompt_name is not None and obs.as_type in GENERATION_LIKE_TYPES:
                if "prompt_name" not in extra:
                    extra["prompt_name"] = values.prompt_name
                    extra["prompt_version"] = values.prompt_version
        attrs = values.trace
        if attrs is None:
            return
        root = obs._root or obs
        with _traces.trace_lock:
            before = root._trace_attrs
            merged = merge_trace_attributes(before, attrs)
            if merged == before:
                return
            root._trace_attrs = merged
        if root is not obs and root._ended:
            # The root's record (which brings the trace on the ingestion route) has left;
            # ``obs`` is open, and its span carries the update on the OTLP route.
            obs._recorder.emit(trace_record(obs.trace_id, attrs, span_open=True))
    except Exception:
        log_once(logging.WARNING, "propagate.apply", "could not apply propagated attributes")


_F = TypeVar("_F", bound=Callable[..., Any])


class PropagateAttributes:
    """What :func:`propagate_attributes` returns: ``with``, ``async with`` or a decorator."""

    __slots__ = ("_token", "_values")

    def __init__(self, values: Propagated) -> None:
        self._values = values
        self._token: Token[Propagated | None] | None = None

    def __repr__(self) -> str:
        return f"<PropagateAttributes {self._values!r}>"

    def __enter__(self) -> None:
        try:
            _joins.set_propagation_hook(apply)
            merged = _merge(PROPAGATED.get(), self._values)
            self._token = PROPAGATED.set(merged)
            obs = current_observation()
            if obs is not None:
                apply(obs, self._values)
        except Exception:
            log_once(logging.WARNING, "propagate.enter", "could not propagate attributes")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token, self._token = self._token, None
        if token is None:
            return
        try:
            PROPAGATED.reset(token)
        except ValueError:
            # Left in another context than the one it was entered in (an async generator
            # finished by another task): that context is not ours to change.
            pass

    def __call__(self, func: _F) -> _F:
        """Decorate ``func``: each call runs inside a block of its own, as 5.x's decorator.

        A coroutine function's block covers the awaited body; any other function's covers
        the call (a generator function's, only the creation of its generator, as in 5.x).
        """
        values = self._values
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with PropagateAttributes(values):
                    return await func(*args, **kwargs)

            return cast("_F", run_async)

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with PropagateAttributes(values):
                return func(*args, **kwargs)

        return cast("_F", run)

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def propagate_attributes(
    *,
    user_id: str | None = None,
    session_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    version: str | None = None,
    tags: Sequence[str] | None = None,
    trace_name: str | None = None,
    environment: str | None = None,
    prompt: Any = None,
    skills_available: Any = None,
    attach_skills: bool | None = None,
    as_baggage: bool = False,
) -> PropagateAttributes:
    """Apply trace attributes to the current observation and every observation started inside.

    Use as ``with propagate_attributes(...):``, ``async with`` or, as in 5.x, a decorator of a
    function (each call a block of its own); blocks nest (inner values win, tags and metadata
    add up). Call it early, ideally around or right inside the root observation: observations
    that ended before the block are not changed. Invalid values are dropped and logged once,
    never raised, as in the official SDK.

    Args:
        user_id: The end user (a string of at most 200 characters).
        session_id: The session (at most 200 characters).
        metadata: Trace metadata; each value JSON-encoded must be at most 200 characters;
            None values are dropped.
        version: The version of the observations started inside (unless they set one).
        tags: Tags added to the trace (each at most 200 characters).
        trace_name: The trace's name (at most 200 characters).
        environment: The environment of the observations started inside, instead of the
            client's: lowercase letters, digits, ``-`` and ``_``, at most 40 characters, not
            starting with ``langfuse``.
        prompt: A prompt (``name`` and integer ``version``, an object or a mapping) linked to
            the generations started inside that link none themselves.
        skills_available: Accepted for code written for the official SDK; no effect here.
        attach_skills: Accepted for code written for the official SDK; no effect here.
        as_baggage: Accepted; this client sets no OpenTelemetry baggage, so values never
            leave the process in HTTP headers (logged once when True).

    Returns:
        The context manager.
    """
    if as_baggage:
        log_once(
            logging.WARNING,
            "propagate.baggage",
            "propagate_attributes(as_baggage=True): this client sets no OpenTelemetry "
            "baggage; the values apply in this process only",
        )
    if skills_available is not None or attach_skills is not None:
        log_once(
            logging.DEBUG,
            "propagate.skills",
            "propagate_attributes(skills_available=..., attach_skills=...) has no effect here",
        )
    values = Propagated()
    try:
        name = None if trace_name is None else _string("trace_name", trace_name)
        user = None if user_id is None else _string("user_id", user_id)
        session = None if session_id is None else _string("session_id", session_id)
        tag_tuple = None if tags is None else _tags(tags)
        meta = None if metadata is None else _metadata(metadata)
        trace = None
        if any(v is not None for v in (name, user, session, tag_tuple, meta)):
            trace = TraceAttributes(
                name=name, user_id=user, session_id=session, tags=tag_tuple, metadata=meta
            )
        found = None if prompt is None else _prompt(prompt)
        values = Propagated(
            trace=trace,
            version=None if version is None else _string("version", version),
            environment=None if environment is None else _environment(environment),
            prompt_name=None if found is None else found[0],
            prompt_version=None if found is None else found[1],
        )
    except Exception:
        log_once(
            logging.WARNING,
            "propagate.values",
            "could not read the values given to propagate_attributes; none apply",
        )
    return PropagateAttributes(values)
