"""Loop and process safety: successive event loops, fork, the interpreter-exit hook."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from langfuse_async._delivery.pipeline import Pipeline
from tests.support import factories
from tests.support.fake_langfuse import INGESTION, FakeLangfuse
from tests.support.pipelines import make_pipeline


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
        from langfuse_async._delivery.pipeline import Pipeline
        from tests.support import factories

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
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
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


class LoopThread:
    """An event loop running in a daemon thread, as sync frameworks host one."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> LoopThread:
        self._thread.start()
        return self

    def run(self, coro: Any, timeout: float = 15) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def __exit__(self, *exc: object) -> None:
        if self.loop.is_running():
            self.stop()
        if not self.loop.is_closed():
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.loop.run_until_complete(asyncio.sleep(0))
            self.loop.close()


def run_script(body: str, url: str, **popen: Any) -> subprocess.Popen[str]:
    header = textwrap.dedent(
        f"""
        import asyncio, threading
        from langfuse_async._config import resolve_config
        from langfuse_async._delivery.pipeline import Pipeline
        from tests.support import factories

        def make(url={url!r}, **options):
            args = dict(
                public_key="pk", secret_key="sk", base_url=url, flush_interval=3600,
                max_retries=1, transport="ingestion",
            )
            args.update(options)
            return Pipeline(resolve_config(**args, environ={{}}), None)
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return subprocess.Popen(
        [sys.executable, "-c", header + textwrap.dedent(body)],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def test_the_exit_hook_sends_to_a_host_name(threaded: ThreadedServer) -> None:
    # A host name needs a DNS lookup, which asyncio runs in a thread pool; at interpreter exit
    # the standard pools refuse new work, so the exit hook must not depend on them.
    url = threaded.server.url.replace("127.0.0.1", "localhost")
    proc = run_script(
        """
        p = make()

        async def main():
            for i in range(3):
                p.emit(factories.observation(name=f"exit-{i}"))

        asyncio.run(main())
        """,
        url,
    )
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    threaded.wait_for_events(3)
    assert len(threaded.server.events()) == 3
    assert "crashed" not in stderr


def test_the_exit_hook_shuts_down_every_client_at_once(threaded: ThreadedServer) -> None:
    server = threaded.server

    async def until_both(_: Any) -> None:
        # Each client's request waits for the other's: only concurrent exit flushes finish.
        await server.wait_for(lambda: len(server.posts()) >= 2, timeout=30)

    server.reply_with(INGESTION, until_both, times=2)
    proc = run_script(
        """
        clients = [make(exit_timeout=30), make(exit_timeout=30)]

        async def main():
            for i, p in enumerate(clients):
                p.emit(factories.observation(name=f"client-{i}"))

        asyncio.run(main())
        """,
        server.url,
    )
    try:
        threaded.wait_for_events(2)
    finally:
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert sorted(e["body"]["name"] for e in server.events()) == ["client-0", "client-1"]


def test_the_exit_hook_reaches_a_worker_on_a_loop_still_running_in_a_thread(
    threaded: ThreadedServer,
) -> None:
    proc = run_script(
        """
        import logging, sys
        logging.basicConfig(stream=sys.stderr, level=logging.DEBUG)
        p = make()
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, daemon=True).start()

        async def produce():
            for i in range(3):
                p.emit(factories.observation(name=f"bg-{i}"))

        asyncio.run_coroutine_threadsafe(produce(), loop).result()
        # The main thread ends here; the daemon thread's loop still runs the worker.
        """,
        threaded.server.url,
    )
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    threaded.wait_for_events(3)
    assert "exit flush failed" not in stderr
    assert "was never awaited" not in stderr


def test_shutdown_from_another_loop_stops_the_worker_where_it_runs(
    threaded: ThreadedServer,
) -> None:
    p = make_pipeline(threaded.server.url, flush_interval=3600)
    with LoopThread() as background:

        async def produce() -> None:
            for _ in range(3):
                p.emit(factories.observation())

        background.run(produce())
        assert p._worker.loop is background.loop

        async def flush_then_shut_down() -> tuple[Any, Any]:
            return await p.flush(timeout=10), await p.shutdown(timeout=10)

        flushed, result = asyncio.run(flush_then_shut_down())
        assert flushed.completed and flushed.delivered == 3
        assert result.completed
        assert not p._worker.running
        s = p.statistics()
        assert s.pending == 0 and s.delivered == 3


def test_flush_from_another_loop_is_bounded_when_the_worker_loop_stops(
    threaded: ThreadedServer,
) -> None:
    server = threaded.server
    release = threading.Event()

    async def held(_: Any) -> None:
        await anyio.to_thread.run_sync(release.wait, 30)

    server.reply_with(INGESTION, held)
    p = make_pipeline(server.url, flush_interval=3600)
    try:
        with LoopThread() as background:

            async def produce() -> None:
                p.emit(factories.observation())

            background.run(produce())

            async def flush_elsewhere() -> Any:
                loop = asyncio.get_running_loop()
                # The worker's loop stops (its thread's run_forever returns) mid-flush.
                loop.call_later(0.2, background.loop.call_soon_threadsafe, background.loop.stop)
                with anyio.fail_after(10):
                    return await p.flush(timeout=1)

            result = asyncio.run(flush_elsewhere())
            assert not result.completed and result.pending == 1
    finally:
        release.set()


def test_the_exit_hook_finishes_a_shutdown_that_was_cancelled(threaded: ThreadedServer) -> None:
    server = threaded.server
    release = threading.Event()

    async def held(_: Any) -> None:
        await anyio.to_thread.run_sync(release.wait, 30)

    server.reply_with(INGESTION, held)
    p = make_pipeline(server.url, flush_interval=3600)

    async def main() -> None:
        p.emit(factories.observation(name="kept"))
        shutdown = asyncio.create_task(p.shutdown(timeout=30))
        await asyncio.to_thread(
            asyncio.run_coroutine_threadsafe(
                server.wait_for(lambda: len(server.posts()) == 1), threaded._loop
            ).result,
            10,
        )
        shutdown.cancel()  # e.g. the app's own shutdown deadline

    asyncio.run(main())  # the loop closes with the event still in flight
    release.set()
    p._at_exit()  # what the interpreter-exit hook does
    assert p.statistics().pending == 0
    assert [e["body"]["name"] for e in server.events()] == ["kept", "kept"]


# The sockets of a loop closed under them can only be reclaimed by the garbage collector, and
# asyncio warns about that itself; the session and connector must not add their warnings.
@pytest.mark.filterwarnings("ignore:unclosed transport:ResourceWarning")
@pytest.mark.filterwarnings("ignore:unclosed <socket:ResourceWarning")
def test_a_loop_closed_without_cancelling_the_worker_loses_nothing(
    threaded: ThreadedServer,
) -> None:
    p = make_pipeline(threaded.server.url, flush_interval=3600)
    loop = asyncio.new_event_loop()

    async def first() -> None:
        p.emit(factories.observation(name="a"))
        assert (await p.flush(timeout=10)).completed  # the session is open, the worker idles
        p.emit(factories.observation(name="b"))  # queued; the interval never comes

    loop.run_until_complete(first())
    loop.close()  # no cancellation: the worker task stays pending forever

    async def second() -> None:
        assert (await p.shutdown(timeout=10)).completed

    asyncio.run(second())
    assert sorted(e["body"]["name"] for e in threaded.server.events()) == ["a", "b"]
    s = p.statistics()
    assert s.pending == 0 and s.delivered == 2
    del loop
    gc.collect()


def test_two_threads_with_loops_of_their_own_start_one_worker(threaded: ThreadedServer) -> None:
    p = make_pipeline(threaded.server.url, flush_interval=3600)
    starts: list[asyncio.AbstractEventLoop] = []
    real_start = p._worker.start
    first_in = threading.Event()
    second_in = threading.Event()

    def start(loop: asyncio.AbstractEventLoop) -> None:
        starts.append(loop)
        if len(starts) == 1:
            first_in.set()
            second_in.wait(1)  # without a lock the other thread gets in meanwhile
        else:
            second_in.set()
        real_start(loop)

    p._worker.start = start  # type: ignore[method-assign]

    async def produce(name: str) -> None:
        p.emit(factories.observation(name=name))

    with LoopThread() as a, LoopThread() as b:
        fa = asyncio.run_coroutine_threadsafe(produce("a"), a.loop)
        assert first_in.wait(10)
        fb = asyncio.run_coroutine_threadsafe(produce("b"), b.loop)
        fa.result(10)
        fb.result(10)
        assert starts == [a.loop]
        assert asyncio.run(p.shutdown(timeout=10)).completed
    assert sorted(e["body"]["name"] for e in threaded.server.events()) == ["a", "b"]


def test_the_exit_hook_is_bounded_by_exit_timeout_against_a_silent_server() -> None:
    import socket
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # accepts connections (the kernel does), never answers
    port = listener.getsockname()[1]
    script = textwrap.dedent(
        f"""
        import asyncio
        from langfuse_async._config import resolve_config
        from langfuse_async._delivery.pipeline import Pipeline
        from tests.support import factories

        import atexit
        errors = []
        # atexit runs last-in first-out: registered before the client's hook, this runs after it.
        atexit.register(lambda: print("reported:", [e.reason for e in errors]))
        config = resolve_config(
            public_key="pk", secret_key="sk", base_url="http://127.0.0.1:{port}",
            flush_interval=3600, timeout=30, exit_timeout=1.0, transport="ingestion",
            environ={{}},
        )
        p = Pipeline(config, errors.append)

        async def main():
            p.emit(factories.observation())

        asyncio.run(main())
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=60
        )
    finally:
        listener.close()
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 20  # exit_timeout=1, not the 30 s request timeout
    assert "reported: ['shutdown']" in proc.stdout
    assert "the exit hook timed out" in proc.stderr


def test_the_exit_hook_run_in_the_exiting_thread_is_bounded_by_a_callback_that_ignores_cancel() -> (
    None
):
    import socket

    with socket.socket() as closed:  # a port nobody listens on: connections are refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    script = textwrap.dedent(
        f"""
        import asyncio, atexit, threading
        from langfuse_async._config import resolve_config
        from langfuse_async._delivery.pipeline import Pipeline
        from tests.support import factories

        async def on_error(error):
            print("on_error:", error.reason, flush=True)
            while True:  # hostile: swallows every cancellation
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    pass

        config = resolve_config(
            public_key="pk", secret_key="sk", base_url="http://127.0.0.1:{port}",
            flush_interval=3600, timeout=0.5, max_retries=0, exit_timeout=2.0,
            transport="ingestion", environ={{}},
        )
        p = Pipeline(config, on_error)

        def no_new_threads():
            # What CPython 3.12.0 and 3.12.1 do once the interpreter is finalizing: the exit
            # hook then runs in the exiting thread, with no join timeout to bound it.
            def refuse(self):
                raise RuntimeError("can't create new thread at interpreter shutdown")

            threading.Thread.start = refuse

        # atexit runs last-in first-out: registered after the client's hook, this runs first.
        atexit.register(no_new_threads)

        async def main():
            p.emit(factories.observation())

        asyncio.run(main())
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        proc = subprocess.run(
            [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=45
        )
    except subprocess.TimeoutExpired as hung:  # a hang guard: exit_timeout is 2 s
        raise AssertionError(f"the process never exited: {hung.stdout!r}") from None
    assert "on_error: retries_exhausted" in proc.stdout
    assert proc.returncode == 0, proc.stderr
