"""Loop and process safety: successive event loops, fork, the interpreter-exit hook."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator

import pytest

from langfuse_async._pipeline import Pipeline

from . import factories
from .fake_langfuse import FakeLangfuse
from .test_pipeline import make_pipeline


class ThreadedServer:
    """A FakeLangfuse on its own loop in a thread, for tests that run their own loops."""

    def __init__(self) -> None:
        self.server = FakeLangfuse()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._stop = asyncio.Event()
            async with self.server:
                self._ready.set()
                await self._stop.wait()

        self._loop.run_until_complete(main())
        self._loop.close()

    def __enter__(self) -> FakeLangfuse:
        self._thread.start()
        assert self._ready.wait(10)
        return self.server

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def wait_for_events(self, n: int) -> None:
        fut = asyncio.run_coroutine_threadsafe(
            self.server.wait_for(lambda: len(self.server.events()) >= n), self._loop
        )
        fut.result(15)


@pytest.fixture
def threaded() -> Iterator[ThreadedServer]:
    ts = ThreadedServer()
    with ts:
        yield ts


def test_a_client_keeps_working_across_successive_asyncio_runs(threaded: ThreadedServer) -> None:
    p = make_pipeline(threaded.server.url, flush_interval=3600)
    first = factories.observation(name="first-loop")

    async def one() -> None:
        p.emit(first)  # the worker starts on this loop and never gets to send (long interval)

    asyncio.run(one())  # the loop closes with the event still queued

    second = factories.observation(name="second-loop")

    async def two() -> None:
        p.emit(second)
        result = await p.flush(timeout=10)
        assert result.completed

    asyncio.run(two())
    names = sorted(e["body"]["name"] for e in threaded.server.events())
    assert names == ["first-loop", "second-loop"]

    asyncio.run(p.shutdown(timeout=5))
    assert p.statistics().pending == 0


def test_events_produced_before_any_loop_are_sent_by_the_first_flush(
    threaded: ThreadedServer,
) -> None:
    p = make_pipeline(threaded.server.url)
    p.emit(factories.observation(name="sync-code"))  # no loop running: just queued
    assert p.statistics().pending == 1

    async def main() -> None:
        assert (await p.shutdown(timeout=10)).completed

    asyncio.run(main())
    assert [e["body"]["name"] for e in threaded.server.events()] == ["sync-code"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+ warns on fork with threads
def test_a_forked_child_starts_clean(threaded: ThreadedServer) -> None:
    p = make_pipeline(threaded.server.url, flush_interval=3600)
    p.emit(factories.observation())
    p.emit(factories.observation())
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report what it sees, then leave without running atexit hooks
        try:
            s = p.statistics()
            p.emit(factories.observation(name="child"))
            after = p.statistics()
            os.write(write_fd, f"{s.enqueued} {s.pending} {after.enqueued}".encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    os.waitpid(pid, 0)
    with os.fdopen(read_fd) as f:
        assert f.read() == "0 0 1"
    assert p.statistics().pending == 2  # the parent keeps its own events

    async def main() -> None:
        await p.shutdown(timeout=10)

    asyncio.run(main())
    assert len(threaded.server.events()) == 2


def test_pending_events_are_sent_at_interpreter_exit(threaded: ThreadedServer) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio
        from langfuse_async._config import resolve_config
        from langfuse_async._pipeline import Pipeline
        from tests import factories

        config = resolve_config(
            public_key="pk", secret_key="sk", base_url={threaded.server.url!r},
            flush_interval=3600, max_retries=1, transport="ingestion", environ={{}},
        )
        p = Pipeline(config, None)

        async def main():
            for i in range(3):
                p.emit(factories.observation(name=f"exit-{{i}}"))

        asyncio.run(main())  # no flush, no shutdown: the exit hook must send them
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    threaded.wait_for_events(3)
    assert sorted(e["body"]["name"] for e in threaded.server.events()) == [
        "exit-0",
        "exit-1",
        "exit-2",
    ]


def test_pipeline_repr_shows_state_and_no_secret() -> None:
    p: Pipeline = make_pipeline("http://127.0.0.1:9")
    text = repr(p)
    assert "EventQueue" in text and "sk-test" not in text
