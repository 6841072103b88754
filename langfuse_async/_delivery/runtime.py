"""The background event loop: delivery for programs where no asyncio loop of the client runs.

A sync program (a CLI, a Celery or Django worker, a thread pool) or a trio program produces
events where ``asyncio`` has no running loop. The pipeline then starts its worker on the
:data:`BACKGROUND` loop: one daemon thread running an asyncio loop of its own, shared by every
client of the process, started lazily on the first such event (a forked child starts a new one
when it needs one), and stopped when the last client using it shuts down. So events leave
within ``flush_interval`` there as they do under asyncio. :func:`run_sync` and
:func:`run_from_any_async` let blocking code and non-asyncio async code (trio) run a coroutine
on that loop and wait for it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import os
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import anyio.to_thread

from .._log import logger

__all__ = [
    "BACKGROUND",
    "BackgroundLoop",
    "ThreadPerCall",
    "in_running_asyncio_loop",
    "thread_wait",
    "run_from_any_async",
    "run_sync",
]

_P = ParamSpec("_P")
_T = TypeVar("_T")

#: How long stopping waits for the thread to end (it has nothing left to do by then).
_JOIN_TIMEOUT = 2.0

_get_running_loop = asyncio._get_running_loop  # the C fast path; None outside a loop


def thread_wait(seconds: float | None) -> float | None:
    """``seconds`` as a thread may wait them: beyond ``threading.TIMEOUT_MAX`` (about 292
    years), where a lock's wait raises ``OverflowError``, it waits without a bound."""
    return None if seconds is None or seconds >= threading.TIMEOUT_MAX else seconds


def in_running_asyncio_loop() -> bool:
    """True when the calling thread runs an asyncio event loop (a blocking call would stall it)."""
    return _get_running_loop() is not None


class BackgroundLoop:
    """One daemon thread running an asyncio event loop, started on first use.

    Thread-safe; the thread is named ``langfuse_async-delivery``. Its users (the pipelines
    delivering there) say so with ``user=``; when the last one is released (:meth:`release`),
    the thread stops. After that (or in a forked child, where the parent's thread does not
    exist) the next use starts a new one.
    """

    __slots__ = ("_lock", "_loop", "_pid", "_thread", "_users")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._users: set[int] = set()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<BackgroundLoop {state}>"

    @property
    def running(self) -> bool:
        """True while the thread runs its loop in this process."""
        loop, thread = self._loop, self._thread
        return (
            self._pid == os.getpid()
            and loop is not None
            and thread is not None
            and thread.is_alive()
            and not loop.is_closed()
        )

    def owns(self, loop: asyncio.AbstractEventLoop | None) -> bool:
        """True when ``loop`` is this thread's loop."""
        return loop is not None and loop is self._loop

    def loop(self, user: object = None) -> asyncio.AbstractEventLoop:
        """Return the running background loop, starting the thread first if needed.

        Args:
            user: Who will use it (kept until :meth:`release`), or None.
        """
        with self._lock:
            if self._pid != os.getpid():
                # A forked child: the parent's thread is not here, and its loop's selector is
                # shared with the parent. Forget both (never close them).
                self._pid = os.getpid()
                self._loop = self._thread = None
                self._users = set()
            if user is not None:
                self._users.add(id(user))
            loop = self._loop
            if loop is not None and not loop.is_closed() and self.running:
                return loop
            # Callbacks scheduled before the thread runs the loop wait in it: no need to wait
            # for the thread here.
            loop = asyncio.new_event_loop()
            loop.set_default_executor(_PoolThenThreadPerCall())
            thread = threading.Thread(
                target=_serve, args=(loop,), name="langfuse_async-delivery", daemon=True
            )
            self._loop, self._thread = loop, thread
            thread.start()
            return loop

    def call_soon(self, callback: Callable[[], object], *, user: object = None) -> None:
        """Run ``callback`` on the background loop soon, starting the thread if needed.

        It runs in an empty context: not in the caller's trace, nor in its async library's
        (anyio would take the loop for the caller's trio).
        """
        self.loop(user).call_soon_threadsafe(callback, context=contextvars.Context())

    def submit(
        self, coro: Coroutine[Any, Any, _T], *, user: object = None
    ) -> concurrent.futures.Future[_T]:
        """Run ``coro`` as a task of the background loop, in an empty context (see above)."""
        loop = self.loop(user)
        return contextvars.Context().run(asyncio.run_coroutine_threadsafe, coro, loop)

    def release(self, user: object, *, join: bool = True) -> None:
        """Forget ``user``; stop the thread when no user is left (see :meth:`stop`)."""
        with self._lock:
            self._users.discard(id(user))
            if self._users:
                return
        self.stop(join=join)

    def stop(self, *, join: bool = True) -> None:
        """Stop the loop and let the thread end; the next use starts a new one.

        Args:
            join: Also wait briefly for the thread to end (blocking code only; never from
                the thread itself, which only asks).
        """
        with self._lock:
            loop, thread = self._loop, self._thread
            if self._pid != os.getpid() or loop is None or thread is None:
                return
            self._loop = self._thread = None
        try:
            loop.call_soon_threadsafe(loop.stop)
        except RuntimeError:  # already closed
            return
        if join and thread is not threading.current_thread():
            thread.join(_JOIN_TIMEOUT)


def _in_a_thread_of_its_own(
    fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
) -> concurrent.futures.Future[_T]:
    future: concurrent.futures.Future[_T] = concurrent.futures.Future()

    def call() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)

    try:
        threading.Thread(target=call, name="langfuse_async-exit-call", daemon=True).start()
    except RuntimeError:
        call()  # no new threads at this point of the exit (CPython 3.12.0/3.12.1): inline
    return future


class ThreadPerCall(concurrent.futures.ThreadPoolExecutor):
    """An executor giving each call a daemon thread of its own (for interpreter exit).

    By the time ``atexit`` hooks run, the standard thread pools refuse new work, and asyncio
    sends every DNS lookup through the loop's default executor: without this, the exit hook
    could reach no server by host name.
    """

    def submit(
        self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> concurrent.futures.Future[_T]:
        return _in_a_thread_of_its_own(fn, *args, **kwargs)


class _PoolThenThreadPerCall(concurrent.futures.ThreadPoolExecutor):
    """The background loop's default executor: a thread pool, then a thread per call.

    The worker of a sync program runs on the background loop, and the exit hook finishes its
    work there: once the interpreter exits, the pool refuses new work (DNS lookups included),
    so calls go to a thread of their own instead.
    """

    def submit(
        self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> concurrent.futures.Future[_T]:
        try:
            return super().submit(fn, *args, **kwargs)
        except RuntimeError:  # "cannot schedule new futures after interpreter shutdown"
            return _in_a_thread_of_its_own(fn, *args, **kwargs)


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        try:
            # What is left (a reports task of a client that shut down) is cancelled, as
            # asyncio.run does, so nothing warns "task was destroyed but it is pending".
            wind_down(loop)
        except Exception:
            logger.debug("background loop teardown failed", exc_info=True)
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def wind_down(loop: asyncio.AbstractEventLoop, grace: float = 1.0) -> None:
    """Cancel the tasks left on a stopped ``loop`` and close its async generators.

    What ``asyncio.run`` does before closing, without its shutdown of the default executor
    (which starts a thread: at interpreter exit CPython 3.12.0 and 3.12.1 refuse one), and
    within ``grace`` seconds: a task that ignores its cancellation (an ``on_error`` callback
    that swallows ``CancelledError`` and goes on waiting) is left behind, not waited for; the
    exit hook runs this in the exiting thread on those versions, where it would hang the exit.
    """
    deadline = time.monotonic() + grace
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        done, _ = loop.run_until_complete(asyncio.wait(pending, timeout=grace))
        for task in done:  # retrieved, as gather(return_exceptions=True) would
            if not task.cancelled():
                task.exception()
    closing = loop.create_task(loop.shutdown_asyncgens())
    loop.run_until_complete(asyncio.wait([closing], timeout=max(0.0, deadline - time.monotonic())))
    if not closing.done():
        closing.cancel()


#: The background loop of the process, shared by its clients.
BACKGROUND = BackgroundLoop()


def run_sync(
    background: BackgroundLoop,
    make: Callable[[], Coroutine[Any, Any, _T]],
    wait: float | None,
    user: object = None,
) -> _T | None:
    """Run ``make()`` on the background loop and block until it ends, at most ``wait`` s.

    Returns None when it did not end in time (it is cancelled) or failed (logged).
    """
    fut = background.submit(make(), user=user)
    try:
        return fut.result(thread_wait(wait))
    except concurrent.futures.TimeoutError:
        fut.cancel()
        return None
    except Exception:
        logger.debug("call on the background loop failed", exc_info=True)
        return None


async def run_from_any_async(
    background: BackgroundLoop,
    make: Callable[[], Coroutine[Any, Any, _T]],
    wait: float | None,
    user: object = None,
) -> _T | None:
    """Like :func:`run_sync`, awaited from async code of any library anyio supports (trio).

    The wait happens on a worker thread, so the caller's event loop keeps running; cancelling
    the caller stops its wait, not the call.
    """
    fut = background.submit(make(), user=user)

    def result() -> _T | None:
        try:
            return fut.result(thread_wait(wait))
        except concurrent.futures.TimeoutError:
            fut.cancel()
            return None
        except Exception:
            logger.debug("call on the background loop failed", exc_info=True)
            return None

    return await anyio.to_thread.run_sync(result, abandon_on_cancel=True)
