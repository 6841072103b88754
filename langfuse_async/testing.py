"""Test what your code sends to Langfuse: a local collector and a client pointed at it.

Installing ``langfuse-async`` registers this module as a pytest plugin. It provides:

``langfuse_collector``
    A :class:`Collector` (a Langfuse-compatible server) running in the test's event loop on a
    free loopback port, with a temporary SQLite database. Ask it what arrived
    (``await langfuse_collector.traces()``, ``.observations()``, ``.scores()``, ``.requests``)
    and script failures through ``langfuse_collector.faults``.

``langfuse_client``
    A :class:`langfuse_async.Langfuse` pointed at that collector, shut down after the test.

Both are async fixtures. They run on the loop of whichever plugin runs the test: anyio
(``pytest.mark.anyio``, asyncio backend) or pytest-asyncio (``pytest.mark.asyncio`` in strict
mode, every async test in auto mode, any ``loop_scope``). A test they cannot serve (a sync
test, trio, an async test no plugin runs) fails at setup saying what to change::

    import pytest

    pytestmark = pytest.mark.anyio  # or pytest.mark.asyncio

    async def test_checkout_is_traced(langfuse_client, langfuse_collector):
        await checkout(langfuse_client)
        await langfuse_client.flush()
        [trace] = await langfuse_collector.traces(name="checkout")
        assert trace.user_id == "user-1"

Isolation, for the duration of a test that uses them:

- every ``LANGFUSE_*`` variable of the shell is removed, and ``LANGFUSE_BASE_URL``,
  ``LANGFUSE_PUBLIC_KEY`` and ``LANGFUSE_SECRET_KEY`` name the collector, so a client the code
  under test builds from the environment sends there, never to a real server;
- ``get_client()`` and ``@observe`` use the fixture's client;
- with ``langfuse_client``, every client built before the test (such as a module-level
  ``langfuse = get_client()``, the pattern the official docs teach) records through the
  fixture's client, with its options;
- afterwards all of this is put back: the variables, and the client ``get_client()`` returned.

Mark a test with ``@pytest.mark.langfuse_collector(mode="v4")`` (or ``public_key=``,
``secret_key=``) to configure its collector; ``mode="v4"`` behaves like a Langfuse v4 server
in its default ``events_only`` mode. Mark it with ``@pytest.mark.langfuse_client(...)`` to pass
options to the client, e.g. ``on_error=errors.append`` or ``backoff_base=0.01`` for fast
retries against scripted faults.

Importing this module is cheap: the collector and its dependencies load when a fixture or one
of the names below is first used.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

# The one place this module reaches the client registry.
from ._tracing.registry import _reset_for_tests, _restore_for_tests

if TYPE_CHECKING:
    from ._client import Langfuse
    from ._collector import (
        Collector,
        Faults,
        Gate,
        Observation,
        RecordedRequest,
        Score,
        Trace,
    )

__all__ = [
    "Collector",
    "Faults",
    "Gate",
    "Observation",
    "RecordedRequest",
    "Score",
    "Trace",
    "langfuse_client",
    "langfuse_collector",
]

_LAZY = frozenset(
    {"Collector", "Faults", "Gate", "Observation", "RecordedRequest", "Score", "Trace"}
)
_MARKER = "langfuse_collector"
_CLIENT_MARKER = "langfuse_client"
LoopScope = Literal["function", "class", "module", "package", "session"]
_LOOP_SCOPES: tuple[LoopScope, ...] = ("function", "class", "module", "package", "session")
#: The registry as it was before the test, saved by the collector fixture for the client one.
_REGISTRY_BEFORE = pytest.StashKey[Any]()


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import _collector

        return getattr(_collector, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers that configure the fixtures."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(mode='v3', public_key=..., secret_key=...): configure the "
        "langfuse_collector fixture of this test",
    )
    config.addinivalue_line(
        "markers",
        f"{_CLIENT_MARKER}(**options): Langfuse options for the langfuse_client fixture",
    )


# ------------------------------------------------------------------ which loop runs the test

_HOW = (
    "mark it with pytest.mark.anyio (and an 'asyncio' anyio_backend), or install "
    "pytest-asyncio and mark it with pytest.mark.asyncio (or set asyncio_mode = auto)"
)


def _runner_of(item: pytest.Item, fixture: str) -> str:
    """Name the implementation of ``fixture`` that runs on the loop the test will run on.

    A fixture set up on another loop than the test's never answers: the collector's server
    would wait on a loop that is not running, and the test would only time out.
    """
    config = item.config
    if config.pluginmanager.has_plugin("asyncio"):
        import pytest_asyncio

        if pytest_asyncio.is_async_test(item):
            marker = item.get_closest_marker("asyncio")
            kwargs = marker.kwargs if marker is not None else {}
            scope = (
                kwargs.get("loop_scope")
                or kwargs.get("scope")
                or config.getini("asyncio_default_test_loop_scope")
                or "function"
            )
            return f"_{fixture}_asyncio_{scope}"
    function = getattr(item, "obj", None)
    if not inspect.iscoroutinefunction(function):
        pytest.fail(f"{fixture} is an async fixture: make the test async and {_HOW}", False)
    if "anyio_backend" in getattr(item, "fixturenames", ()):
        return f"_{fixture}_anyio"
    if item.get_closest_marker("asyncio") is not None:
        pytest.fail(
            f"{fixture}: the test is marked asyncio but pytest-asyncio is not active; install "
            "pytest-asyncio, or mark the test with pytest.mark.anyio instead",
            False,
        )
    pytest.fail(f"{fixture}: no plugin runs this async test; {_HOW}", False)


@pytest.fixture
def langfuse_collector(request: pytest.FixtureRequest) -> Collector:
    """A running Langfuse-compatible collector on a free loopback port, closed after the test."""
    collector: Collector = request.getfixturevalue(_runner_of(request.node, "langfuse_collector"))
    return collector


@pytest.fixture
def langfuse_client(request: pytest.FixtureRequest, langfuse_collector: Collector) -> Langfuse:
    """A ``Langfuse`` client sending to ``langfuse_collector``, shut down after the test."""
    client: Langfuse = request.getfixturevalue(_runner_of(request.node, "langfuse_client"))
    return client


# ---------------------------------------------------------------------- what the fixtures do


@contextlib.contextmanager
def _environment_of(collector: Collector) -> Iterator[None]:
    """Replace every ``LANGFUSE_*`` variable by the three that name ``collector``."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("LANGFUSE_"):
                patch.delenv(name)
        patch.setenv("LANGFUSE_BASE_URL", collector.url)
        patch.setenv("LANGFUSE_PUBLIC_KEY", collector.public_key)
        patch.setenv("LANGFUSE_SECRET_KEY", collector.secret_key)
        yield


def _distinct(state: Any) -> list[Any]:
    """The clients of a registry state (the last one and those by public key), each once."""
    last, by_key, _ = state
    found: list[Any] = []
    for client in (last, *by_key.values()):
        if client is not None and all(client is not seen for seen in found):
            found.append(client)
    return found


def _clients_before(request: pytest.FixtureRequest) -> list[Any]:
    return _distinct(request.node.stash.get(_REGISTRY_BEFORE, (None, {}, None)))


def _alias(client: object, target: object) -> Callable[[], None]:
    """Make ``client`` act as ``target`` (same options, same queue); return the undo.

    A module-level client was built before the test, often from the shell's environment: while
    the test runs, what it records goes where the fixture's client sends.
    """
    state = vars(client)
    saved = dict(state)
    state.clear()
    state.update(vars(target))

    def undo() -> None:
        state.clear()
        state.update(saved)

    return undo


async def _collector(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Collector]:
    from ._collector import Collector

    marker = request.node.get_closest_marker(_MARKER)
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    options.setdefault("db_path", tmp_path / "langfuse-collector.db")
    collector = Collector(**options)
    await collector.start()
    try:
        with _environment_of(collector):
            before = _reset_for_tests()
            request.node.stash[_REGISTRY_BEFORE] = before
            try:
                yield collector
            finally:
                del request.node.stash[_REGISTRY_BEFORE]
                during = _reset_for_tests()
                _restore_for_tests(before)
                # Clients built during the test (get_client() from the environment, say) send
                # to this collector and run on this loop: both end here.
                for client in _distinct(during):
                    with contextlib.suppress(Exception):
                        await client.shutdown(timeout=10)
    finally:
        await collector.aclose()


async def _client(request: pytest.FixtureRequest, collector: Collector) -> AsyncIterator[Langfuse]:
    from ._client import Langfuse

    marker = request.node.get_closest_marker(_CLIENT_MARKER)
    options: dict[str, Any] = {"flush_interval": 0.05}
    if marker is not None:
        options.update(marker.kwargs)
    client = Langfuse(
        public_key=collector.public_key,
        secret_key=collector.secret_key,
        base_url=collector.url,
        **options,
    )
    undo = [_alias(earlier, client) for earlier in _clients_before(request)]
    try:
        yield client
    finally:
        try:
            await client.shutdown()
        finally:
            for step in undo:
                step()


# One implementation per runner: anyio's, and pytest-asyncio's for each loop scope a test may
# run on (a fixture must share its test's loop).


@pytest.fixture
async def _langfuse_collector_anyio(
    request: pytest.FixtureRequest, tmp_path: Path, anyio_backend: Any
) -> AsyncIterator[Collector]:
    backend = anyio_backend[0] if isinstance(anyio_backend, tuple) else anyio_backend
    if backend != "asyncio":
        pytest.fail(f"langfuse_collector needs anyio's asyncio backend, not {backend!r}", False)
    async for collector in _collector(request, tmp_path):
        yield collector


@pytest.fixture
async def _langfuse_client_anyio(
    request: pytest.FixtureRequest, langfuse_collector: Collector, anyio_backend: Any
) -> AsyncIterator[Langfuse]:
    async for client in _client(request, langfuse_collector):
        yield client


def _asyncio_fixtures(scope: LoopScope) -> tuple[Any, Any]:
    import pytest_asyncio

    @pytest_asyncio.fixture(loop_scope=scope)
    async def collector(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
        async for value in _collector(request, tmp_path):
            yield value

    @pytest_asyncio.fixture(loop_scope=scope)
    async def client(request: pytest.FixtureRequest, langfuse_collector: Any) -> AsyncIterator[Any]:
        async for value in _client(request, langfuse_collector):
            yield value

    return collector, client


try:
    import pytest_asyncio as _pytest_asyncio  # noqa: F401 (only: is it installed?)
except ImportError:  # pragma: no cover - the test extra installs it
    pass
else:
    for _scope in _LOOP_SCOPES:
        (
            globals()[f"_langfuse_collector_asyncio_{_scope}"],
            globals()[f"_langfuse_client_asyncio_{_scope}"],
        ) = _asyncio_fixtures(_scope)
