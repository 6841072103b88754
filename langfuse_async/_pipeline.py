"""The consumer side's front door: admit records, bind the worker to a loop, flush, shut down.

``emit`` is the producer's only entry point. It is safe from any thread, never raises and never
blocks: it appends to the bounded queue and, at most once per batch, wakes the worker. The
worker is started lazily on the first event seen inside a running loop, and again on a later
loop when the first one has closed (a client that outlives ``asyncio.run``). Events produced
where no loop runs wait for the next loop, ``flush()``, or the exit hook.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
import time
import weakref
from typing import Any

from ._config import Config
from ._ledger import Ledger, event_error
from ._queue import EventQueue
from ._records import Record
from ._results import FlushResult, Statistics
from ._transport import HttpClient
from ._wire import WireContext
from ._worker import ErrorCallback, Worker

__all__ = ["Pipeline"]

logger = logging.getLogger("langfuse_async")

_get_running_loop = asyncio._get_running_loop  # the C fast path; returns None outside a loop

_LIVE: weakref.WeakSet[Pipeline] = weakref.WeakSet()
#: Sessions left behind by a fork: the child must not close the parent's sockets, and must not
#: let them be collected either (aiohttp warns about unclosed sessions when they are).
_ABANDONED: list[Any] = []


class Pipeline:
    """Queue, ledger and worker of one client."""

    def __init__(self, config: Config, on_error: ErrorCallback | None) -> None:
        self._config = config
        self._on_error = on_error
        self._flush_at = config.flush_at
        self._closed = False
        self._shutdown_result: FlushResult | None = None
        self._shutdown_task: asyncio.Future[FlushResult] | None = None
        self._side_tasks: set[asyncio.Task[Any]] = set()
        self._ctx = WireContext(
            public_key=config.public_key or "",
            environment=config.environment,
            release=config.release,
        )
        self._build()
        _LIVE.add(self)
        _install_process_hooks()

    def _build(self) -> None:
        config = self._config
        self._queue = EventQueue(
            max_size=config.max_queue_size,
            max_bytes=config.max_queue_bytes,
            policy=config.queue_full,
        )
        self._ledger = Ledger(
            keep_reports=self._on_error is not None, max_reports=config.max_queue_size
        )
        self._http = HttpClient(
            public_key=config.public_key or "",
            secret_key=config.secret_key or "",
            timeout=config.timeout,
        )
        self._worker = Worker(
            config=config,
            queue=self._queue,
            ledger=self._ledger,
            http=self._http,
            ctx=self._ctx,
            on_error=self._on_error,
        )

    def __repr__(self) -> str:
        return f"<Pipeline {self._queue!r} {self._worker!r} closed={self._closed}>"

    # ------------------------------------------------------------------ hot path

    def emit(self, record: Record) -> None:
        """Admit ``record``; never raises, never blocks."""
        try:
            if self._closed:
                self._ledger.refuse(record, "shutdown", "produced after shutdown()")
                self._dispatch_soon()
                return
            queue = self._queue
            n = queue.put(record)
            # Steady state: the worker is alive and this event neither starts a batch nor fills
            # one, so there is nothing to wake.
            if n > 1 and n != self._flush_at and self._worker.live and not queue.evicted:
                return
            dropped = n == 0 or bool(queue.evicted)
            if dropped:
                self._report_drops(record, n == 0)
            worker = self._worker
            loop = _get_running_loop()
            if loop is not None and worker.loop is loop and worker.running:
                if n == 1 or n == self._flush_at or dropped:
                    worker.wake()
                return
            if loop is not None:
                self._bind(loop)
            elif worker.running and (n <= 1 or n == self._flush_at or dropped):
                worker.wake_threadsafe()
        except Exception:  # tracing must never raise into user code
            logger.debug("langfuse_async: emit failed", exc_info=True)

    def _report_drops(self, record: Record, refused: bool) -> None:
        config = self._config
        message = (
            f"queue full ({config.queue_full}, max_queue_size={config.max_queue_size}, "
            f"max_queue_bytes={config.max_queue_bytes})"
        )
        if refused:  # it never got a place in the queue
            self._ledger.refuse(record, "queue_full", message)
        evicted = self._queue.evicted
        while evicted:
            try:
                old = evicted.popleft()
            except IndexError:  # another thread took it
                break
            self._ledger.finish(event_error(old, "queue_full", message))

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        worker = self._worker
        old = worker.loop
        if worker.running and old is not None and old is not loop:
            if not old.is_closed() and old.is_running():
                worker.wake_threadsafe()  # producer on another thread's loop: leave it be
                return
        if not worker.running:
            worker.start(loop)

    def _dispatch_soon(self) -> None:
        loop = _get_running_loop()
        if loop is None:
            return
        task = loop.create_task(self._worker.dispatch_reports())
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    # ------------------------------------------------------------------ flush / shutdown

    @property
    def closed(self) -> bool:
        return self._closed

    def statistics(self) -> Statistics:
        return self._ledger.snapshot(
            accepted=self._queue.last_seq,
            queued_bytes=self._queue.bytes,
            transport=self._worker.route or "undecided",
        )

    def _ensure_worker(self) -> None:
        loop = asyncio.get_running_loop()
        if not (self._worker.running and self._worker.loop is loop):
            if self._worker.running and self._worker.loop is not None:
                old = self._worker.loop
                if not old.is_closed() and old.is_running():
                    return
            self._worker.start(loop)

    async def flush(self, timeout: float | None = None) -> FlushResult:
        """Send everything enqueued so far and wait for its outcomes, at most ``timeout`` s."""
        target = self._queue.last_seq
        before = self.statistics()
        if before.pending == 0 and not self._ledger.reports:
            return FlushResult(completed=True, pending=0)
        self._ensure_worker()
        if self._worker.loop is not asyncio.get_running_loop():
            # The worker lives on another thread's loop; wait there.
            fut = asyncio.run_coroutine_threadsafe(
                self._worker.wait_settled(target, timeout),
                self._worker.loop,  # type: ignore[arg-type]
            )
            completed = await asyncio.wrap_future(fut)
        else:
            completed = await self._worker.wait_settled(target, timeout)
        after = self.statistics()
        return FlushResult(
            completed=completed,
            pending=0 if completed else self._worker.unsettled_through(target),
            delivered=after.delivered - before.delivered,
            failed=(after.failed + after.dropped) - (before.failed + before.dropped),
        )

    async def shutdown(self, timeout: float | None = None) -> FlushResult:
        """Flush, stop the worker and close the session; idempotent and bounded by ``timeout``."""
        if self._shutdown_result is not None:
            return self._shutdown_result
        if self._shutdown_task is not None:
            return await asyncio.shield(self._shutdown_task)
        loop = asyncio.get_running_loop()
        self._shutdown_task = loop.create_future()
        try:
            result = await self._shutdown(timeout)
        except BaseException as exc:
            self._shutdown_task.set_exception(exc)
            self._shutdown_task.exception()  # consumed: the caller sees it raised
            self._shutdown_task = None
            raise
        self._shutdown_result = result
        self._shutdown_task.set_result(result)
        return result

    async def _shutdown(self, timeout: float | None) -> FlushResult:
        deadline = None if timeout is None else time.monotonic() + timeout

        def remaining(floor: float = 0.0) -> float | None:
            return None if deadline is None else max(floor, deadline - time.monotonic())

        self._closed = True
        result = await self.flush(remaining())
        await self._worker.stop(remaining(0.1))
        abandoned = self._worker.abandon("shutdown", "still pending when shutdown() timed out")
        if abandoned:
            logger.warning(
                "langfuse_async: shutdown timed out; %d events were not delivered", abandoned
            )
        import anyio

        with anyio.move_on_after(remaining(1.0)):
            await self._worker.dispatch_reports()
        await self._http.aclose()
        _LIVE.discard(self)
        return FlushResult(
            completed=result.completed and not abandoned,
            pending=abandoned,
            delivered=result.delivered,
            failed=result.failed + abandoned,
        )

    # ------------------------------------------------------------------ process hooks

    def _after_fork_in_child(self) -> None:
        # The parent's events are the parent's to send; the child starts empty.
        _ABANDONED.append(self._http)
        self._worker.detach()
        self._side_tasks = set()
        self._shutdown_task = None
        self._build()

    def _at_exit(self) -> None:
        if self._closed or self.statistics().pending == 0:
            return
        timeout = self._config.exit_timeout

        def run() -> None:
            try:
                asyncio.run(self.shutdown(timeout=timeout))
            except Exception:
                logger.debug("langfuse_async: exit flush failed", exc_info=True)

        thread = threading.Thread(target=run, name="langfuse_async-exit", daemon=True)
        thread.start()
        thread.join(timeout + 2.0)


_hooks_installed = False


def _install_process_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_exit_hook)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_fork_hook)


def _exit_hook() -> None:
    for pipeline in list(_LIVE):
        pipeline._at_exit()


def _fork_hook() -> None:
    for pipeline in list(_LIVE):
        pipeline._after_fork_in_child()
