"""Process and cross-loop hooks: the exit flush, the reset after a fork, waiting on another loop.

A pipeline registers itself; at interpreter exit every one with events left is shut down at
once, on a thread of its own, within its ``exit_timeout``; in a forked child each one forgets
the parent's events and session. :func:`run_on` lets ``flush()``/``shutdown()`` called on one
loop do their waiting on the worker's loop, bounded if that loop stops under them.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import sys
import threading
import time
import weakref
from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

from .._log import logger
from .._outcomes import FlushResult
from .runtime import ThreadPerCall, thread_wait, wind_down

__all__ = ["Hooked", "abandon_in_child", "register", "run_on", "shut_down_at_exit", "unregister"]


class Hooked(Protocol):
    """What the hooks need of a pipeline."""

    @property
    def exit_timeout(self) -> float: ...

    def needs_exit_flush(self) -> bool:
        """Whether events or reports are left that the exit hook should still deliver."""
        ...

    async def shutdown_at_exit(self) -> FlushResult:
        """Shut down within ``exit_timeout``, naming the exit hook in what it gives up on."""
        ...

    def after_fork_in_child(self) -> None:
        """Forget the parent's events, tasks and session; start empty."""
        ...


_LIVE: weakref.WeakSet[Hooked] = weakref.WeakSet()
#: Sessions left behind by a fork: the child must not close the parent's sockets, and must not
#: let them be collected either (aiohttp warns about unclosed sessions when they are).
_ABANDONED: list[object] = []

_T = TypeVar("_T")

#: Time a caller on another loop allows beyond its timeout before it takes the worker's loop
#: for stuck (more than the floors ``shutdown`` grants stopping and reporting).
_CROSS_LOOP_GRACE = 3.0
#: How often a caller on another loop checks that the worker's loop still runs.
_CROSS_LOOP_POLL = 0.5
#: Time the exit hook waits beyond ``exit_timeout`` before the interpreter goes on without it.
_EXIT_GRACE = 2.0


async def run_on(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, _T], timeout: float | None
) -> _T | None:
    """Run ``coro`` on another thread's ``loop`` and wait for it from this one.

    Returns None, and cancels ``coro``, when that loop stops running before ``coro`` ends, or
    when the wait outlasts ``timeout`` (the one ``coro`` itself honours) plus a grace: the loop
    is then taken for stuck.
    """
    try:
        fut = asyncio.run_coroutine_threadsafe(coro, loop)
    except RuntimeError:  # the loop closed in between
        coro.close()
        return None
    deadline = None if timeout is None else time.monotonic() + timeout + _CROSS_LOOP_GRACE
    wrapped = asyncio.wrap_future(fut)
    wrapped.add_done_callback(_consume)  # an outcome that comes after we gave up is dropped
    try:
        while True:
            wait = _CROSS_LOOP_POLL
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    return None
            done, _ = await asyncio.wait([wrapped], timeout=wait)
            if done:
                if wrapped.cancelled():
                    # That loop's asyncio.run ended and cancelled its tasks, ours among them:
                    # its cancellation, not the caller's.
                    return None
                exc = wrapped.exception()
                if exc is not None:
                    logger.debug("call on the worker's loop failed", exc_info=exc)
                    return None
                return wrapped.result()
            if loop.is_closed() or not loop.is_running():
                return None
    finally:
        if not fut.done():
            fut.cancel()


def _consume(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


_hooks_installed = False


def register(pipeline: Hooked) -> None:
    """Have ``pipeline`` flushed at interpreter exit and reset in a forked child."""
    _LIVE.add(pipeline)
    _install_process_hooks()


def unregister(pipeline: Hooked) -> None:
    """Forget ``pipeline`` (it has shut down: the exit hook has nothing left to do)."""
    _LIVE.discard(pipeline)


def abandon_in_child(resource: object) -> None:
    """Keep ``resource`` (the parent's HTTP session) alive and untouched in a forked child."""
    _ABANDONED.append(resource)


def _install_process_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_exit_hook)
    _at_multiprocessing_exit()
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_fork_hook)


class _Marker:
    """What ``multiprocessing``'s after-fork registry holds weakly (it needs an object)."""


_MARKER = _Marker()
_after_fork_registered = False


def _at_multiprocessing_exit() -> None:
    """Run the exit hook in a ``multiprocessing`` child too, where atexit hooks never run.

    A child of the fork or forkserver start method ends with ``os._exit`` once its target
    returns, after ``multiprocessing``'s own exit finalizers: the exit hook becomes one of them.
    The child clears the finalizers it inherits, then runs its after-fork callbacks: one of
    those registers the hook again there. (Where the hook also runs as an atexit hook, the
    second run finds nothing left to do.)
    """
    global _after_fork_registered
    util = sys.modules.get("multiprocessing.util")  # loaded wherever it makes processes
    if util is None:
        return
    try:
        if not _after_fork_registered:
            _after_fork_registered = True  # inherited, as the registry is, by every child
            util.register_after_fork(_MARKER, _finalize_with_multiprocessing)
        _finalize_with_multiprocessing(_MARKER)
    except Exception:
        logger.debug("could not register the exit hook with multiprocessing", exc_info=True)


def _finalize_with_multiprocessing(_: object) -> None:
    util = sys.modules.get("multiprocessing.util")
    if util is not None:
        util.Finalize(None, _exit_hook, exitpriority=0)


def _exit_hook() -> None:
    shut_down_at_exit(list(_LIVE))


def shut_down_at_exit(pipelines: list[Hooked]) -> None:
    """Shut down, all at once, every client with events left, within ``exit_timeout``."""
    todo = [p for p in pipelines if p.needs_exit_flush()]
    if not todo:
        return

    async def main() -> None:
        asyncio.get_running_loop().set_default_executor(ThreadPerCall())
        await asyncio.gather(*(p.shutdown_at_exit() for p in todo))

    def run() -> None:
        # Not asyncio.run: closing, it shuts the default executor down in a new thread, which
        # CPython 3.12.0 and 3.12.1 refuse at exit; this loop's executor needs no shutdown.
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(main())
            wind_down(loop)
        except Exception:
            logger.debug("exit flush failed", exc_info=True)
        finally:
            loop.close()

    # A thread of its own: the main thread may still hold a loop (even a running one).
    thread = threading.Thread(target=run, name="langfuse_async-exit", daemon=True)
    try:
        thread.start()
    except RuntimeError:
        # CPython 3.12.0 and 3.12.1 refuse new threads once the interpreter is finalizing
        # (fixed in 3.12.2). No loop can be running in this thread any more: run here.
        run()
        return
    thread.join(thread_wait(max(p.exit_timeout for p in todo) + _EXIT_GRACE))


def _fork_hook() -> None:
    for pipeline in list(_LIVE):
        pipeline.after_fork_in_child()
    _at_multiprocessing_exit()
