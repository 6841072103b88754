"""Tracing-side items of issue 9: one trace-create per trace while the root is open, locks that
survive a fork, and the memory bound counting every byte a record holds."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import pytest

from langfuse_async import Langfuse, get_client, observe
from langfuse_async._tracing import context, registry, traces
from tests.support.recording import RecordingTracer


def test_trace_updates_while_the_root_is_open_travel_with_the_root(
    tracer: RecordingTracer,
) -> None:
    with tracer.start_as_current_observation(name="root") as root:
        tracer.update_current_trace(user_id="u-1", tags=["a"])
        with tracer.start_as_current_observation(name="child"):
            tracer.update_current_trace(session_id="s-1", tags=["b"])
    # No trace event of its own: the root's record carries the merged attributes.
    assert tracer.traces == []
    snapshot = tracer.by_name("root").trace
    assert snapshot is not None
    assert (snapshot.user_id, snapshot.session_id, snapshot.tags) == ("u-1", "s-1", ("a", "b"))
    # After the root was sent, an update is an event of its own.
    root.update_trace(name="late")
    ((late,),) = [tracer.traces]
    assert (late.trace_id, late.attributes.name) == (root.trace_id, "late")


def _held_elsewhere(
    lock_of: Callable[[], threading.Lock],
) -> tuple[threading.Event, threading.Event]:
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock_of():
            held.set()
            release.wait(30)

    threading.Thread(target=hold, daemon=True).start()
    assert held.wait(10)
    return release


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+ warns on fork with threads
@pytest.mark.parametrize(
    "lock_of",
    [
        lambda: traces.trace_lock,
        lambda: context._entries_lock,
        lambda: registry.CLIENTS.lock,
    ],
    ids=["trace", "entries", "registry"],
)
def test_a_fork_while_another_thread_holds_a_lock_does_not_deadlock_the_child(
    tracer: RecordingTracer, lock_of: Callable[[], threading.Lock]
) -> None:
    release = _held_elsewhere(lock_of)
    try:
        pid = os.fork()
        if pid == 0:  # child: use every lock, then leave without running atexit hooks
            code = 1
            try:
                with lock_of():
                    pass
                with tracer.start_as_current_observation(name="in-child") as obs:
                    obs.update_trace(user_id="child")
                    # Entered twice at once: the list of blocks is guarded by the lock.
                    with obs, obs:
                        pass
                registry._get_client_slow("pk-unknown")
                code = 0
            finally:
                os._exit(code)
        done: list[int] = []
        waiter = threading.Thread(target=lambda: done.append(os.waitpid(pid, 0)[1]))
        waiter.start()
        waiter.join(30)
        if waiter.is_alive():
            os.kill(pid, 9)
            waiter.join(10)
            pytest.fail("the forked child deadlocked on a lock held at the fork")
        assert done == [0]
    finally:
        release.set()


def test_children_belong_to_the_client_that_owns_the_current_observation(
    isolated_registry: None,
) -> None:
    a = RecordingTracer(public_key="pk-a")

    @observe(name="inner")
    def inner() -> str:
        return "ok"

    with a.start_as_current_observation(name="outer"):
        b = RecordingTracer(public_key="pk-b")  # built last: get_client()'s default
        assert get_client() is a
        inner()
        b.start_observation(name="started-through-b").end()
    assert get_client() is b
    assert sorted(r.name for r in a.observations) == ["inner", "outer", "started-through-b"]
    assert {r.trace_id for r in a.observations} == {a.by_name("outer").trace_id}
    assert b.records == []


@pytest.mark.anyio
async def test_get_client_never_returns_a_closed_client_while_an_open_one_exists(
    isolated_registry: None,
) -> None:
    options = dict(public_key="pk-a", secret_key="sk", base_url="http://127.0.0.1:9")
    a = Langfuse(**options)  # type: ignore[arg-type]
    b = Langfuse(**options)  # type: ignore[arg-type]
    assert get_client() is b and get_client(public_key="pk-a") is b
    await b.shutdown(timeout=5)
    assert get_client() is a and get_client(public_key="pk-a") is a
    await a.shutdown(timeout=5)
    assert get_client() is a  # none open: the last one stays (it records nothing)


def test_traced_generators_closed_by_the_garbage_collector_do_not_crash_the_interpreter() -> None:
    import subprocess
    import sys
    import textwrap

    # A traced generator left half-read in a reference cycle is closed by the collector,
    # which runs wherever an allocation fills a generation: also inside a ContextVar.set of
    # the same context (ours, entering the next observation). On CPython 3.10 and 3.11 a set
    # made by that finalizer frees the variables the interrupted set is still reading: a
    # segmentation fault (python/cpython#148891). Low thresholds make it happen at once.
    script = textwrap.dedent(
        """
        import gc
        from langfuse_async import Langfuse, observe

        client = Langfuse(
            public_key="pk", secret_key="sk", base_url="http://127.0.0.1:9",
            flush_interval=3600, transport="otlp",
        )

        @observe
        def numbers():
            yield 1
            yield 2

        class Holder:
            def __init__(self):
                self.me = self
                self.gen = numbers()
                next(self.gen)

        for threshold in range(1, 16):
            gc.collect()
            gc.set_threshold(threshold)
            for _ in range(100):
                Holder()
        gc.set_threshold(700)
        gc.collect()
        print("ended", client.statistics().enqueued)
        client.shutdown_sync(timeout=0.5)
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-2_000:]
    assert "ended 1500" in proc.stdout  # every generator's observation, each ended once
