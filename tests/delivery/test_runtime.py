"""Programs without a running asyncio loop: sync code, threads, trio; the background loop."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from langfuse_async import Langfuse, observe
from langfuse_async._delivery.runtime import BACKGROUND, BackgroundLoop
from tests.delivery.test_lifecycle import ThreadedServer
from tests.support import factories
from tests.support.pipelines import make_pipeline

pytestmark = pytest.mark.usefixtures("isolated_registry")


@pytest.fixture
def threaded() -> Iterator[ThreadedServer]:
    ts = ThreadedServer()
    with ts:
        yield ts


def _delivery_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "langfuse_async-delivery"]


def _assert_released(langfuse: Langfuse) -> None:
    """The client no longer uses the shared background loop; alone, it stopped the thread."""
    assert id(langfuse._pipeline) not in BACKGROUND._users
    if not BACKGROUND._users:
        for t in _delivery_threads():
            t.join(5)
        assert _delivery_threads() == []


def _run_python(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a Python program from the repository's root, without LANGFUSE_* variables."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGFUSE_")}
    return subprocess.run(
        [sys.executable, *args], cwd=root, capture_output=True, text=True, timeout=60, env=env
    )


def _client(url: str, **options: object) -> Langfuse:
    return Langfuse(
        public_key="pk-test",
        secret_key="sk-test",
        base_url=url,
        transport="ingestion",
        **options,  # type: ignore[arg-type]
    )


def test_sync_code_events_leave_within_the_flush_interval_without_flush(
    threaded: ThreadedServer,
) -> None:
    langfuse = _client(threaded.server.url, flush_interval=0.05)
    with langfuse.start_as_current_observation(name="sync-span"):
        pass
    # No flush, no loop of ours: the background thread sends it.
    threaded.wait_for_events(2)  # the span and its trace
    names = {e["body"].get("name") for e in threaded.server.events()}
    assert "sync-span" in names
    assert len(_delivery_threads()) == 1
    assert langfuse.shutdown_sync(timeout=10).completed
    _assert_released(langfuse)


def test_flush_sync_waits_for_every_event_from_many_threads(threaded: ThreadedServer) -> None:
    langfuse = _client(threaded.server.url, flush_interval=3600)

    @observe()
    def work(i: int) -> int:
        return i * 2

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(work, range(40))) == [i * 2 for i in range(40)]
    result = langfuse.flush_sync(timeout=10)
    assert result.completed and result.pending == 0
    assert result.delivered == 80  # 40 observations, each with its trace-create
    assert len(_delivery_threads()) == 1  # one thread however many producers
    langfuse.shutdown_sync(timeout=10)
    assert langfuse.statistics().pending == 0
    _assert_released(langfuse)


def test_blocking_calls_refuse_to_block_a_running_loop(threaded: ThreadedServer) -> None:
    langfuse = _client(threaded.server.url)

    async def main() -> None:
        with pytest.raises(RuntimeError, match=r"await langfuse\.flush"):
            langfuse.flush_sync()
        with pytest.raises(RuntimeError, match=r"await langfuse\.shutdown"):
            langfuse.shutdown_sync()
        await langfuse.shutdown(timeout=10)

    asyncio.run(main())


def test_a_worker_started_in_the_background_is_reached_from_asyncio(
    threaded: ThreadedServer,
) -> None:
    # Events made before asyncio.run start the background thread; flush and shutdown called
    # on a loop later do their waiting there, and the thread ends with the shutdown.
    langfuse = _client(threaded.server.url, flush_interval=3600)
    langfuse.create_event(name="before-the-loop")

    async def main() -> None:
        langfuse.create_event(name="inside-the-loop")
        assert (await langfuse.flush(timeout=10)).completed
        assert (await langfuse.shutdown(timeout=10)).completed

    asyncio.run(main())
    names = {e["body"].get("name") for e in threaded.server.events()}
    assert {"before-the-loop", "inside-the-loop"} <= names
    _assert_released(langfuse)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_tracing_flush_and_shutdown_under_trio(threaded: ThreadedServer) -> None:
    import trio
    import trio.lowlevel

    langfuse = _client(threaded.server.url, flush_interval=3600)

    @observe()
    async def step(i: int) -> int:
        await trio.lowlevel.checkpoint()
        return i

    async with trio.open_nursery() as nursery:
        for i in range(5):
            nursery.start_soon(step, i)
    async with langfuse.start_as_current_observation(name="trio-span") as span:
        span.update(output="ok")
    result = await langfuse.flush(timeout=10)
    assert result.completed and result.delivered == 12  # 6 observations and their traces
    assert (await langfuse.shutdown(timeout=10)).completed
    names = [e["body"].get("name") for e in threaded.server.events()]
    assert names.count("step") >= 5 and "trio-span" in names
    _assert_released(langfuse)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_an_api_call_after_shutdown_under_trio_leaves_no_background_thread(
    threaded: ThreadedServer,
) -> None:
    # Under trio an API call runs on the background loop; after shutdown it started that loop
    # again and never let it go: an idle thread for the rest of the program.
    langfuse = _client(threaded.server.url)
    assert (await langfuse.shutdown(timeout=10)).completed
    _assert_released(langfuse)
    await langfuse.auth_check()  # whatever the answer: what matters is the thread
    _assert_released(langfuse)


def test_the_background_loop_restarts_after_stop_and_in_a_forked_child() -> None:
    bg = BackgroundLoop()
    first = bg.loop()
    assert bg.running and bg.owns(first)
    bg.stop()
    assert not bg.running
    second = bg.loop()
    assert second is not first and bg.running
    bg.stop()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+ warns on fork with threads
def test_a_forked_child_delivers_on_a_background_thread_of_its_own(
    threaded: ThreadedServer,
) -> None:
    p = make_pipeline(threaded.server.url, flush_interval=3600)
    p.emit(factories.observation(name="parent"))  # the parent's background thread starts
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            p.emit(factories.observation(name="child"))
            result = p.flush_sync(10)
            os.write(write_fd, f"{result.completed} {result.delivered}".encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    os.waitpid(pid, 0)
    with os.fdopen(read_fd) as f:
        assert f.read() == "True 1"
    assert p.shutdown_sync(10).completed
    assert sorted(e["body"]["name"] for e in threaded.server.events()) == ["child", "parent"]


@pytest.mark.parametrize(
    "body",
    [
        # A sync program: no loop at all.
        """
        for i in range(3):
            langfuse.create_event(name=f"exit-{i}")
        """,
        # A trio program.
        """
        import trio

        async def main():
            for i in range(3):
                langfuse.create_event(name=f"exit-{i}")

        trio.run(main)
        """,
    ],
    ids=["sync", "trio"],
)
# A host name needs a DNS lookup, which asyncio runs in the loop's default executor; at
# interpreter exit the standard pools refuse new work, also the background loop's.
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_exit_hook_sends_what_sync_and_trio_programs_leave(
    threaded: ThreadedServer, body: str, host: str
) -> None:
    url = threaded.server.url.replace("127.0.0.1", host)
    script = textwrap.dedent(
        f"""
        from langfuse_async import Langfuse
        langfuse = Langfuse(
            public_key="pk", secret_key="sk", base_url={url!r},
            flush_interval=3600, transport="ingestion",
        )
        """
    ) + textwrap.dedent(body)
    proc = _run_python("-c", script)
    assert proc.returncode == 0, proc.stderr
    threaded.wait_for_events(6)  # three events, each with its trace
    events = [e for e in threaded.server.events() if e["type"] == "event-create"]
    assert sorted(e["body"]["name"] for e in events) == [
        "exit-0",
        "exit-1",
        "exit-2",
    ]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_a_multiprocessing_child_sends_what_it_leaves(
    threaded: ThreadedServer, method: str
) -> None:
    # A child of the fork or forkserver start method ends with os._exit: atexit hooks never
    # run there, and what it produced in its last flush_interval was lost without a report.
    script = textwrap.dedent(
        f"""
        import multiprocessing
        from langfuse_async import Langfuse

        URL = {threaded.server.url!r}

        def client():
            return Langfuse(
                public_key="pk", secret_key="sk", base_url=URL, flush_interval=3600,
                transport="ingestion",
            )

        def child_with_its_own_client():
            client().create_event(name="own-client")

        def child_with_the_parents_client():
            PARENT.create_event(name="parents-client")

        if __name__ == "__main__":
            ctx = multiprocessing.get_context({method!r})
            PARENT = client() if {method!r} == "fork" else None
            targets = [child_with_its_own_client]
            if PARENT is not None:
                targets.append(child_with_the_parents_client)
            for target in targets:
                process = ctx.Process(target=target)
                process.start()
                process.join()
                assert process.exitcode == 0, process.exitcode
        """
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "program.py")  # spawn and forkserver import the main module
        with open(path, "w", encoding="utf-8") as f:
            f.write(script)
        proc = _run_python(path)
    assert proc.returncode == 0, proc.stderr
    expected = ["own-client", "parents-client"] if method == "fork" else ["own-client"]
    threaded.wait_for_events(2 * len(expected))  # each event with its trace
    events = [e for e in threaded.server.events() if e["type"] == "event-create"]
    assert sorted(e["body"]["name"] for e in events) == expected


def test_calls_after_shutdown_sync_leave_no_background_thread(threaded: ThreadedServer) -> None:
    errors: list[str] = []
    langfuse = _client(threaded.server.url, on_error=lambda e: errors.append(e.reason))
    langfuse.create_event(name="in-time")
    assert langfuse.shutdown_sync(timeout=10).completed
    _assert_released(langfuse)
    langfuse.create_event(name="late")
    # Its report is handed over by the next flush; the thread that does it stops afterwards.
    assert langfuse.flush_sync(timeout=10).completed
    assert errors == ["shutdown"]
    _assert_released(langfuse)
    assert langfuse.shutdown_sync(timeout=10).completed
    _assert_released(langfuse)


def test_an_event_after_shutdown_in_a_sync_program_is_reported_at_exit(
    threaded: ThreadedServer,
) -> None:
    # No loop runs after shutdown_sync(): the report of an event produced then waited for a
    # flush that never came, and on_error never heard of it.
    script = textwrap.dedent(
        f"""
        from langfuse_async import Langfuse

        def on_error(error):
            print("reported", error.event_type, error.reason, flush=True)

        langfuse = Langfuse(
            public_key="pk", secret_key="sk", base_url={threaded.server.url!r},
            transport="ingestion", on_error=on_error,
        )
        langfuse.create_event(name="in-time")
        assert langfuse.shutdown_sync(timeout=10).completed
        langfuse.create_event(name="late")
        """
    )
    proc = _run_python("-c", script)
    assert proc.returncode == 0, proc.stderr
    assert "reported event-create shutdown" in proc.stdout.splitlines()


def test_blocking_calls_take_timeouts_longer_than_a_thread_can_wait(
    threaded: ThreadedServer,
) -> None:
    # Beyond threading.TIMEOUT_MAX (about 292 years) a thread's wait raised OverflowError:
    # flush_sync() answered at once that nothing was settled, shutdown_sync() stopped the
    # background loop under its own shutdown.
    langfuse = _client(threaded.server.url, flush_interval=3600, shutdown_timeout=1e12)
    langfuse.create_event(name="patient")
    result = langfuse.flush_sync(timeout=1e12)
    assert (result.completed, result.delivered) == (True, 2)
    langfuse.create_event(name="patient-too")
    result = langfuse.shutdown_sync()
    assert (result.completed, result.delivered) == (True, 2)
    _assert_released(langfuse)


def test_the_exit_hook_takes_an_exit_timeout_longer_than_a_thread_can_wait(
    threaded: ThreadedServer,
) -> None:
    script = textwrap.dedent(
        f"""
        from langfuse_async import Langfuse
        langfuse = Langfuse(
            public_key="pk", secret_key="sk", base_url={threaded.server.url!r},
            flush_interval=3600, transport="ingestion", exit_timeout=1e12,
        )
        langfuse.create_event(name="at-exit")
        """
    )
    proc = _run_python("-c", script)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    threaded.wait_for_events(2)
    assert [e["body"]["name"] for e in threaded.server.events() if e["type"] == "event-create"] == [
        "at-exit"
    ]


def test_the_readme_sync_example_runs_and_delivers() -> None:
    from pathlib import Path

    from tests.support.threaded_collector import ThreadedCollector

    root = Path(__file__).resolve().parent.parent.parent
    text = (root / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Sync code, threads and trio") :]
    code = section[section.index("```python\n") + len("```python\n") :]
    code = code[: code.index("```")]
    check = (
        "\nresult = langfuse.statistics()\n"
        "assert result.delivered == 2 and result.pending == 0, result\n"
        "import threading\n"
        "assert not [t for t in threading.enumerate() if t.name == 'langfuse_async-delivery']\n"
    )
    with ThreadedCollector() as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LANGFUSE_")}
        proc = subprocess.run(
            [sys.executable, "-c", code + check],
            env={**env, **server.env()},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr


def test_clients_share_one_background_thread_until_the_last_shuts_down() -> None:
    shared = BackgroundLoop()
    first, second = object(), object()
    loop = shared.loop(first)
    assert shared.loop(second) is loop
    shared.release(first)
    assert shared.running  # the second still uses it
    shared.release(second)
    assert not shared.running
