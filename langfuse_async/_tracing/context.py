"""Where the current observation lives, and which client ``get_client()`` returns.

One ``ContextVar`` holds the innermost current observation. Its trace (id, sampling decision and
merged trace attributes) is reached through the observation itself, so entering and leaving an
observation is one ``get`` and two ``set`` calls.

Leaving never uses ``ContextVar.reset``: a token is bound to the context that made it, and code
that resumes in another context (an async generator consumed by another task, a streaming
response) would fail with "token was created in a different Context". Instead the previous value
is restored with ``set``, and only when the observation being left is still the current one in
this context; if it is not, the context belongs to someone else and is left untouched.

That other context may then still name the observation as current after its block ended: a
``with`` block spanning a ``yield`` of a generator that another task finished leaves it behind
in the task that started it. Such an observation is marked as escaped, and readers skip from it
to what was current before that block was entered, so the stale value is never used as a
parent. Entering it again makes it usable as a parent again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .observations import Observation
    from .tracer import Tracer

__all__ = [
    "CURRENT",
    "current_observation",
    "external_parent",
    "get_client",
    "live",
    "register_client",
    "set_client_factory",
    "set_external_parent",
]

from .._log import log_once

#: The innermost current observation of this context, or None outside any.
CURRENT: ContextVar[Observation | None] = ContextVar(
    "langfuse_async.current_observation", default=None
)

#: Supplies the parent of a new observation from another tracer's context (the OpenTelemetry
#: bridge sets it): called with the parent the observation would get (the current one, or
#: None), it returns ``(trace_id, parent_span_id, remote)`` to hang the observation below that
#: span instead, or None to keep the parent. ``remote`` marks the span as not delivered by this
#: package (the observation is then the local root). Must be cheap and never raise.
external_parent: Callable[[Observation | None], tuple[str, str, bool] | None] | None = None


def set_external_parent(
    hook: Callable[[Observation | None], tuple[str, str, bool] | None] | None,
) -> None:
    """Install (or with None remove) the :data:`external_parent` hook."""
    global external_parent
    external_parent = hook


def current_observation() -> Observation | None:
    """Return the innermost current observation of this context, or None."""
    obs = CURRENT.get()
    if obs is not None and obs._escaped:
        return live(obs)
    return obs


# Escaped observations chain through what was current when they were entered. A handle entered
# again inside its own block by other tasks could link such a chain into a loop; the walk is
# bounded so that a reader can never hang on it.
_MAX_SKIPS = 1_000


def live(obs: Observation | None) -> Observation | None:
    """Skip escaped observations (see the module docstring) to the one current before them."""
    skips = 0
    while obs is not None and obs._escaped:
        skips += 1
        if skips > _MAX_SKIPS:
            return None
        obs = obs._prev
    return obs


# ---------------------------------------------------------------------------------- clients


class _Registry:
    """The clients built in this process: the last one, and the last one per public key."""

    __slots__ = ("by_key", "disabled_factory", "factory", "last", "lock")

    def __init__(self) -> None:
        self.last: Tracer | None = None
        self.by_key: dict[str, Tracer] = {}
        self.factory: Callable[[], Tracer] | None = None
        self.disabled_factory: Callable[[], Tracer] | None = None
        self.lock = threading.Lock()


_registry = _Registry()


def register_client(client: Tracer) -> None:
    """Record ``client`` as the one ``get_client()`` returns (called by ``Tracer._init_tracer``)."""
    with _registry.lock:
        _registry.last = client
        key = client._config.public_key
        if key:
            _registry.by_key[key] = client


def set_client_factory(
    factory: Callable[[], Tracer] | None, *, disabled: Callable[[], Tracer] | None = None
) -> None:
    """Set how ``get_client()`` builds a client from the environment when none exists yet.

    Args:
        factory: Builds a client from ``LANGFUSE_*`` variables (the client registers itself),
            or None to remove the factory.
        disabled: Builds the no-op client returned when no real one can be had, so that it
            still has the full client interface (``flush``, ``statistics``...).
    """
    _registry.factory = factory
    if disabled is not None:
        _registry.disabled_factory = disabled
        _disabled.clear()


def get_client(*, public_key: str | None = None) -> Tracer:
    """Return the client built last, or build one from the environment.

    Args:
        public_key: Return the client built last with this public key instead. When none was
            built with it, a disabled client is returned (and a warning logged once), so the
            instrumented code keeps running and records nothing.

    Returns:
        The client. Never raises: if no client exists and none can be built, a disabled one is
        returned.
    """
    if public_key is None:
        client = _registry.last
        if client is not None:
            return client
    return _get_client_slow(public_key)


def _get_client_slow(public_key: str | None) -> Tracer:
    with _registry.lock:
        if public_key is not None:
            found = _registry.by_key.get(public_key)
            if found is not None:
                return found
        elif _registry.last is not None:
            return _registry.last
        factory = _registry.factory
    if public_key is not None:
        log_once(
            logging.WARNING,
            "get_client.unknown_key",
            "get_client(public_key=...) found no client built with that public key; "
            "returning a disabled client",
        )
        return _disabled_client()
    if factory is not None:
        try:
            # The client registers itself while it is built.
            factory()
        except Exception as exc:
            log_once(
                logging.WARNING,
                "get_client.factory_failed",
                "get_client() could not build a client from the environment (%s); "
                "tracing is disabled until a client is built",
                exc,
            )
    else:
        log_once(
            logging.WARNING,
            "get_client.no_factory",
            "get_client() has no client and no way to build one; tracing is disabled until "
            "a client is built",
        )
    with _registry.lock:
        if _registry.last is None:
            # Remembered as the last client so the decorators stay on their fast path; the
            # next client built replaces it.
            _registry.last = _disabled_client()
        return _registry.last


_disabled: list[Tracer] = []


def _disabled_client() -> Tracer:
    if not _disabled:
        if _registry.disabled_factory is not None:
            _disabled.append(_registry.disabled_factory())
        else:
            from .tracer import disabled_tracer

            _disabled.append(disabled_tracer())
    return _disabled[0]


def _reset_for_tests() -> tuple[Tracer | None, dict[str, Tracer], Callable[[], Tracer] | None]:
    """Forget every registered client and return the previous state (tests only)."""
    with _registry.lock:
        state = (_registry.last, dict(_registry.by_key), _registry.factory)
        _registry.last = None
        _registry.by_key.clear()
    return state


def _restore_for_tests(
    state: tuple[Tracer | None, dict[str, Tracer], Callable[[], Tracer] | None],
) -> None:
    """Put back what :func:`_reset_for_tests` returned (tests only)."""
    with _registry.lock:
        _registry.last, by_key, _registry.factory = state
        _registry.by_key.clear()
        _registry.by_key.update(by_key)
