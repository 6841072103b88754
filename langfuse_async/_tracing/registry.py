"""Which client ``get_client()`` returns: the clients by public key, and how to build one.

A client registers itself when it is built (``Langfuse``, test doubles); the last one built is
what ``get_client()`` and ``@observe`` use, and ``get_client(public_key=...)`` picks the last one
built with that key. When there is none, the factory set by the composition root builds one from
the environment; when that is impossible, a disabled client keeps instrumented code running.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable

from .._log import log_once
from .observations import CURRENT
from .tracer import Tracer, disabled_tracer

__all__ = [
    "CLIENTS",
    "Clients",
    "client_closed",
    "get_client",
    "register_client",
    "set_client_factory",
]


class Clients:
    """The clients built in this process: the last one, and the last one per public key.

    Attributes:
        last: The client ``get_client()`` returns; ``@observe`` reads it on every call (its
            fast path), so it is a plain attribute.
    """

    __slots__ = ("all", "by_key", "disabled_factory", "factory", "last", "lock")

    def __init__(self) -> None:
        self.last: Tracer | None = None
        self.by_key: dict[str, Tracer] = {}
        self.all: list[weakref.ref[Tracer]] = []
        """Every client built, oldest first (weakly: a client dropped by its owner goes)."""
        self.factory: Callable[[], Tracer] | None = None
        self.disabled_factory: Callable[[], Tracer] | None = None
        self.lock = threading.Lock()


#: The one registry of the process.
CLIENTS = Clients()


class _Build:
    """The lock that serialises building a client from the environment."""

    __slots__ = ("lock",)

    def __init__(self) -> None:
        self.lock = threading.RLock()


_BUILD = _Build()


def _new_lock_in_child() -> None:
    # A lock held by another thread at fork() stays held in the child, where that thread is
    # gone: the child gets a new one.
    CLIENTS.lock = threading.Lock()
    _BUILD.lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_in_child)


def register_client(client: Tracer) -> None:
    """Record ``client`` as the one ``get_client()`` returns (called by whoever builds one)."""
    with CLIENTS.lock:
        CLIENTS.last = client
        key = client._config.public_key
        if key:
            CLIENTS.by_key[key] = client
        CLIENTS.all = [ref for ref in CLIENTS.all if ref() not in (None, client)]
        CLIENTS.all.append(weakref.ref(client))


def client_closed(client: Tracer) -> None:
    """Note that ``client`` was shut down: ``get_client()`` then returns the latest open one.

    ``@observe`` reads :attr:`Clients.last` on its fast path, so the choice is made here, once,
    rather than on every call.
    """
    with CLIENTS.lock:
        client._closed = True
        opened = [c for c in (ref() for ref in CLIENTS.all) if c is not None and not c._closed]
        if CLIENTS.last is client and opened:
            CLIENTS.last = opened[-1]
        key = client._config.public_key
        if key and CLIENTS.by_key.get(key) is client:
            same_key = [c for c in opened if c._config.public_key == key]
            if same_key:
                CLIENTS.by_key[key] = same_key[-1]


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
    CLIENTS.factory = factory
    if disabled is not None:
        CLIENTS.disabled_factory = disabled
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
        obs = CURRENT.get()
        if obs is not None:
            # Inside an observation: the client that owns it (its trace goes to that project),
            # while that client is open and still one of the registered clients.
            owner = getattr(obs._recorder, "owner", None)
            if (
                isinstance(owner, Tracer)
                and not owner._closed
                and any(ref() is owner for ref in CLIENTS.all)
            ):
                return owner
        client = CLIENTS.last
        if client is not None:
            return client
    return _get_client_slow(public_key)


def _get_client_slow(public_key: str | None) -> Tracer:
    with CLIENTS.lock:
        if public_key is not None:
            found = CLIENTS.by_key.get(public_key)
            if found is not None:
                return found
        elif CLIENTS.last is not None:
            return CLIENTS.last
        factory = CLIENTS.factory
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
            # One build at a time: threads asking at once get the one client the first builds.
            # Re-entrant: building a client may ask for the client. The client registers
            # itself while it is built (under CLIENTS.lock, so not held here).
            with _BUILD.lock:
                if CLIENTS.last is None:
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
    with CLIENTS.lock:
        if CLIENTS.last is None:
            # Remembered as the last client so the decorators stay on their fast path; the
            # next client built replaces it.
            CLIENTS.last = _disabled_client()
        return CLIENTS.last


_disabled: list[Tracer] = []


def _disabled_client() -> Tracer:
    if not _disabled:
        if CLIENTS.disabled_factory is not None:
            _disabled.append(CLIENTS.disabled_factory())
        else:
            _disabled.append(disabled_tracer())
    return _disabled[0]


def _reset_for_tests() -> tuple[Tracer | None, dict[str, Tracer], Callable[[], Tracer] | None]:
    """Forget every registered client and return the previous state (tests only)."""
    with CLIENTS.lock:
        state = (CLIENTS.last, dict(CLIENTS.by_key), CLIENTS.factory)
        CLIENTS.last = None
        CLIENTS.by_key.clear()
        CLIENTS.all = []
    return state


def _restore_for_tests(
    state: tuple[Tracer | None, dict[str, Tracer], Callable[[], Tracer] | None],
) -> None:
    """Put back what :func:`_reset_for_tests` returned (tests only)."""
    with CLIENTS.lock:
        CLIENTS.last, by_key, CLIENTS.factory = state
        CLIENTS.by_key.clear()
        CLIENTS.by_key.update(by_key)
