"""Observations that are never ended (issue 9, item 3): sent at shutdown or at exit, ended then,
with level WARNING and a status message saying so, and counted in ``statistics()``."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from typing import Any

import pytest

from langfuse_async import EventError, Langfuse, observe
from langfuse_async.testing import Collector
from tests.support.threaded_collector import ThreadedCollector

pytestmark = pytest.mark.anyio


def _client(collector: Collector, errors: list[EventError]) -> Langfuse:
    return Langfuse(
        public_key=collector.public_key,
        secret_key=collector.secret_key,
        base_url=collector.url,
        transport="ingestion",
        on_error=errors.append,
    )


@observe(name="stream")
async def stream() -> AsyncIterator[int]:
    yield 1


async def test_never_ended_observations_are_sent_at_shutdown_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors: list[EventError] = []
    async with Collector() as collector:
        langfuse = _client(collector, errors)
        forgotten = langfuse.start_observation(name="forgotten", input={"q": 1})
        forgotten.start_observation(name="forgotten-child", as_type="generation")
        failed = langfuse.start_observation(name="failed")
        failed.update(level="ERROR", status_message="boom")
        never_iterated = stream()  # the generator's observation starts at the call

        started = asyncio.Event()

        async def cancelled_in_between() -> None:
            langfuse.start_observation(name="cancelled")
            started.set()
            await asyncio.Event().wait()  # cancelled here, before it could be ended

        task = asyncio.ensure_future(cancelled_in_between())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        langfuse.start_observation(name="ended").end()

        result = await langfuse.shutdown(timeout=10)
        assert result.completed and errors == []
        stored = {o.name: o for o in await collector.observations()}
        assert set(stored) == {
            "forgotten",
            "forgotten-child",
            "failed",
            "stream",
            "cancelled",
            "ended",
        }
        for name in ("forgotten", "forgotten-child", "stream", "cancelled"):
            assert stored[name].level == "WARNING"
            assert stored[name].status_message == "never ended: ended by shutdown()"
            assert stored[name].end_time is not None
        assert stored["failed"].level == "ERROR"
        assert stored["failed"].status_message == "boom; never ended: ended by shutdown()"
        assert stored["ended"].level == "DEFAULT" and stored["ended"].status_message is None
        s = langfuse.statistics()
        assert s.never_ended == 5
        assert s.enqueued == s.delivered == collector.event_count
        assert "5 observations never ended" in caplog.text
        del never_iterated


def test_never_ended_observations_are_sent_at_interpreter_exit() -> None:
    with ThreadedCollector() as threaded:
        script = textwrap.dedent(
            f"""
            from langfuse_async import Langfuse
            langfuse = Langfuse(
                public_key={threaded.collector.public_key!r},
                secret_key={threaded.collector.secret_key!r},
                base_url={threaded.collector.url!r},
                transport="ingestion",
            )
            handle = langfuse.start_observation(name="left-open-at-exit")
            # The program ends here: no end(), no shutdown().
            """
        )
        proc = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr

        async def stored(collector: Collector) -> list[Any]:
            return await collector.observations(name="left-open-at-exit")

        (obs,) = threaded.query(stored)
        assert (obs.level, obs.status_message) == (
            "WARNING",
            "never ended: ended at interpreter exit",
        )
