"""The loops async services run on: uvloop (uvicorn's default when installed) and eager tasks.

uvloop reports network failures with its own exceptions and schedules differently; Python
3.12's eager task factory runs a new task's first step inside ``create_task``, before the
caller goes on. Tracing, retries and reports must not depend on asyncio's default loop.
"""

from __future__ import annotations

import asyncio
import socket
import sys

import pytest

from langfuse_async import EventError, Langfuse, observe
from langfuse_async._collector import Collector

pytestmark = pytest.mark.anyio

ROUTES = ["ingestion", "otlp"]


def _client_of(collector: Collector, transport: str) -> Langfuse:
    return Langfuse(
        public_key=collector.public_key,
        secret_key=collector.secret_key,
        base_url=collector.url,
        transport=transport,
    )


async def _traced_work(langfuse: Langfuse) -> None:
    @observe()
    async def leaf(i: int) -> int:
        if i % 2:
            await asyncio.sleep(0)  # half of them suspend, half finish in their first step
        return i

    @observe()
    async def handler(n: int) -> int:
        async with langfuse.start_as_current_observation(name="fan-out") as span:
            values = await asyncio.gather(*(leaf(i) for i in range(n)))
            span.update(output=sum(values))
            span.score_trace(name="quality", value=1.0)
        return sum(values)

    results = await asyncio.gather(*(handler(4) for _ in range(25)))
    assert results == [6] * 25


async def _check_stored(collector: Collector, langfuse: Langfuse) -> None:
    result = await langfuse.shutdown(timeout=20)
    assert result.completed and result.failed == 0
    stats = langfuse.statistics()
    assert (stats.failed, stats.dropped, stats.never_ended) == (0, 0, 0)
    observations = await collector.observations()
    by_id = {o.id: o for o in observations}
    leaves = [o for o in observations if o.name == "leaf"]
    assert len(leaves) == 100 and len(observations) == 150
    # Every leaf under its own handler's span, whether it suspended or not.
    for o in leaves:
        parent = by_id[o.parent_observation_id]
        assert parent.name == "fan-out" and parent.trace_id == o.trace_id
    assert len(await collector.scores()) == 25


try:
    import uvloop  # noqa: F401

    HAS_UVLOOP = True
except ImportError:  # Windows: uvloop is not in the test extra there
    HAS_UVLOOP = False

#: anyio's asyncio backend on uvloop, as the parameter the anyio plugin reads.
ON_UVLOOP = pytest.mark.parametrize(
    "anyio_backend",
    [
        pytest.param(
            ("asyncio", {"use_uvloop": True}),
            id="uvloop",
            marks=pytest.mark.skipif(not HAS_UVLOOP, reason="uvloop is not installed"),
        )
    ],
)


@ON_UVLOOP
@pytest.mark.parametrize("transport", ROUTES)
async def test_tracing_delivers_everything_on_uvloop(transport: str) -> None:
    assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")
    async with Collector() as collector:
        langfuse = _client_of(collector, transport)
        collector.faults.server_error(times=1)  # one 5xx first: the retry path too
        await _traced_work(langfuse)
        await _check_stored(collector, langfuse)
        assert langfuse.statistics().retries > 0


@ON_UVLOOP
async def test_a_refused_connection_is_retried_then_reported_on_uvloop() -> None:
    # uvloop raises its own connection errors: they must read as network failures (retried,
    # then reported once each), not as a bug of the worker.
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    reported: list[EventError] = []
    langfuse = Langfuse(
        public_key="pk-lf-x",
        secret_key="sk-lf-x",
        base_url=f"http://127.0.0.1:{port}",
        transport="otlp",
        max_retries=2,
        on_error=reported.append,
    )

    @observe()
    async def work() -> None:
        return None

    for _ in range(3):
        await work()
    result = await langfuse.shutdown(timeout=20)
    assert result.failed == 3 and not result.pending
    assert sorted(e.reason for e in reported) == ["retries_exhausted"] * 3
    assert all("connect" in e.message.lower() for e in reported)
    assert langfuse.statistics().retries == 6


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager tasks came with Python 3.12")
@pytest.mark.parametrize("transport", ROUTES)
async def test_tracing_delivers_everything_with_eager_tasks(transport: str) -> None:
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()
    loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined,unused-ignore]
    try:
        async with Collector() as collector:
            langfuse = _client_of(collector, transport)
            await _traced_work(langfuse)
            await _check_stored(collector, langfuse)
    finally:
        loop.set_task_factory(previous)
