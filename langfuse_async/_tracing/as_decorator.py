"""A started observation used as a decorator: one new observation like it per call.

``@langfuse.start_as_current_observation(name=...)`` decorates a function in the official SDK
(an OpenTelemetry context-manager feature). The handle made where the function is decorated
is only a template: it is dropped unrecorded, and each call runs in a new observation with its
name, type and fields, under whatever is current at the call (or the trace context it was
given). Unlike a plain context-manager decorator, a coroutine is awaited inside the
observation and a generator iterated inside it, so the observation lasts as long as the work.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

from .._log import log_once
from . import joins
from .fields import START_FIELDS
from .generators import create, traced_result
from .observations import CURRENT, Observation, start
from .observe import _kind
from .open_handles import OPEN

__all__ = ["decorate"]


def decorate(template: Observation, func: Any) -> Any:
    """Return ``func`` wrapped so that each call runs in a new observation like ``template``.

    ``template`` is dropped without being recorded: it stood for the decorator, not for work.
    Never raises: anything that is not callable is returned as it came (logged once).
    """
    if not callable(func):
        log_once(
            logging.WARNING,
            "as_decorator.not_callable",
            "an observation was called with %s, which is not a function: it is returned "
            "unchanged (use the observation with `with`, or decorate a function)",
            type(func).__name__,
        )
        return func
    # Dropped: ended without a record, and no longer among the open ones that shutdown sends.
    template._ended = True
    OPEN.pop(template, None)
    recorder = template._recorder
    name, as_type = template.name, template.as_type
    fields = dict(template._extra or {})
    trace_context: dict[str, str] | None = None
    if fields.pop("remote_parent", False) and template.parent_id is not None:
        # Under another service's span: each call there too. (A trace id given alone is not
        # told apart from a new trace's, for free: such calls start traces of their own.)
        trace_context = {"trace_id": template.trace_id, "parent_span_id": template.parent_id}
    inp, out, end_on_exit = template._input, template._output, template._end_on_exit
    # A template sampled out encoded nothing: its fields, as given, are applied to each call
    # that is sampled in (masked and encoded then, as the official SDK does on every call).
    given = None if template._recording else getattr(template, "_template_fields", None)
    updates = (
        None
        if given is None
        else {k: v for k, v in zip(START_FIELDS, given, strict=True) if v is not None}
    )

    def begin() -> Observation | None:
        try:
            obs = start(recorder, CURRENT.get(), trace_context, name, as_type)
            if obs._recording:
                if updates:
                    obs.update(**updates)
                else:
                    obs._input, obs._output = inp, out
                if fields:
                    extra = obs._extra
                    obs._extra = {**fields, **extra} if extra else dict(fields)
            obs._end_on_exit = end_on_exit
            return obs
        except Exception:
            log_once(
                logging.WARNING,
                "as_decorator.start",
                "could not start the observation %r of a decorated call; the call runs untraced",
                name,
                exc_info=True,
            )
            return None

    kind = _kind(func)
    wrapper: Callable[..., Any]
    if kind == "coroutine":

        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            obs = begin()
            if obs is None:
                return await func(*args, **kwargs)
            async with obs:
                return await func(*args, **kwargs)

        wrapper = async_wrapper
    elif kind in ("gen", "async_gen"):

        def gen_wrapper(*args: Any, **kwargs: Any) -> Generator[Any] | AsyncGenerator[Any]:
            obs = begin()
            if obs is None:
                return func(*args, **kwargs)  # type: ignore[no-any-return]
            # Open over the whole iteration, as @observe keeps a generator's observation.
            return traced_result(create(obs, func, args, kwargs), obs, False, None)  # type: ignore[no-any-return]

        wrapper = gen_wrapper
    else:

        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            obs = begin()
            if obs is None:
                return func(*args, **kwargs)
            with obs:
                return func(*args, **kwargs)

        wrapper = sync_wrapper
    try:
        return functools.wraps(func)(wrapper)
    except Exception:  # a callable whose attributes raise: the wrapper keeps its own names
        return wrapper


joins.set_as_decorator(decorate)
