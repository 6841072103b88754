"""Test what your code sends to Langfuse: a local collector and a client pointed at it.

Installing ``langfuse-async`` registers this module as a pytest plugin. It provides:

``langfuse_collector``
    A :class:`Collector` (a Langfuse-compatible server) running in the test's event loop on a
    free loopback port, with a temporary SQLite database. Ask it what arrived
    (``await langfuse_collector.traces()``, ``.observations()``, ``.scores()``, ``.requests``)
    and script failures through ``langfuse_collector.faults``.

``langfuse_client``
    A :class:`langfuse_async.Langfuse` pointed at that collector, shut down after the test.

Both are async fixtures for the anyio pytest plugin (asyncio backend)::

    import pytest

    pytestmark = pytest.mark.anyio

    async def test_checkout_is_traced(langfuse_client, langfuse_collector):
        await checkout(langfuse_client)
        await langfuse_client.flush()
        [trace] = await langfuse_collector.traces(name="checkout")
        assert trace.user_id == "user-1"

Mark a test with ``@pytest.mark.langfuse_collector(mode="v4")`` (or ``public_key=``,
``secret_key=``) to configure its collector; ``mode="v4"`` behaves like a Langfuse v4 server
in its default ``events_only`` mode. Mark it with ``@pytest.mark.langfuse_client(...)`` to pass
options to the client, e.g. ``on_error=errors.append`` or ``backoff_base=0.01`` for fast
retries against scripted faults.

Importing this module is cheap: the collector and its dependencies load when a fixture or one
of the names below is first used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import _collector

        return getattr(_collector, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker that configures the ``langfuse_collector`` fixture."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(mode='v3', public_key=..., secret_key=...): configure the "
        "langfuse_collector fixture of this test",
    )
    config.addinivalue_line(
        "markers",
        f"{_CLIENT_MARKER}(**options): Langfuse options for the langfuse_client fixture",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fail fast, and say why, when the fixtures meet pytest-asyncio instead of anyio.

    The fixtures run on anyio's event loop; a test run by pytest-asyncio runs on another one,
    where the collector never answers and the test only times out.
    """
    names = getattr(item, "fixturenames", ())
    if (
        ("langfuse_collector" in names or "langfuse_client" in names)
        and item.get_closest_marker("asyncio") is not None
        and item.get_closest_marker("anyio") is None
    ):
        pytest.fail(
            "langfuse_collector and langfuse_client are anyio fixtures: mark the test with "
            "pytest.mark.anyio instead of pytest.mark.asyncio",
            pytrace=False,
        )


@pytest.fixture
async def langfuse_collector(
    request: pytest.FixtureRequest, tmp_path: Path, anyio_backend: Any
) -> AsyncIterator[Collector]:
    """A running Langfuse-compatible collector on a free loopback port, closed after the test."""
    backend = anyio_backend[0] if isinstance(anyio_backend, tuple) else anyio_backend
    if backend != "asyncio":
        raise RuntimeError(f"langfuse_collector needs the asyncio backend, not {backend!r}")
    from ._collector import Collector

    marker = request.node.get_closest_marker(_MARKER)
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    options.setdefault("db_path", tmp_path / "langfuse-collector.db")
    collector = Collector(**options)
    await collector.start()
    try:
        yield collector
    finally:
        await collector.aclose()


@pytest.fixture
async def langfuse_client(
    request: pytest.FixtureRequest, langfuse_collector: Collector, anyio_backend: Any
) -> AsyncIterator[Langfuse]:
    """A ``Langfuse`` client sending to ``langfuse_collector``, shut down after the test."""
    from ._client import Langfuse

    marker = request.node.get_closest_marker(_CLIENT_MARKER)
    options: dict[str, Any] = {"flush_interval": 0.05}
    if marker is not None:
        options.update(marker.kwargs)
    client = Langfuse(
        public_key=langfuse_collector.public_key,
        secret_key=langfuse_collector.secret_key,
        base_url=langfuse_collector.url,
        **options,
    )
    try:
        yield client
    finally:
        await client.shutdown()
