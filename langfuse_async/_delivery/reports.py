"""Handing undelivered events to the user's ``on_error``: in order, isolated, never raising.

:class:`Reports` is the only owner of ``on_error``: the bounded backlog of reports, the task on
the worker's loop that hands them over (so a slow or hanging callback delays only other
reports, never sending), and hand-overs from elsewhere (a thread without a loop, a flush after
shutdown). :class:`Reporter` makes the calls.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .._outcomes import EventError

__all__ = ["IN_ON_ERROR", "ErrorCallback", "Reporter", "Reports", "finish_task"]

_get_running_loop = asyncio._get_running_loop  # the C fast path; returns None outside a loop
#: How long a task cancelled by ``stop`` may take to unwind.
_CANCEL_GRACE = 1.0

logger = logging.getLogger("langfuse_async")

ErrorCallback = Callable[[EventError], Any]

#: True while ``on_error`` runs: an event it produces that is dropped on the spot is only
#: counted, since reporting it would call ``on_error`` again, and again.
IN_ON_ERROR: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "langfuse_async_in_on_error", default=False
)


class Reporter:
    """Calls ``on_error`` once per report; without one, warns once per reason instead.

    Each call runs in a fresh context (outside any trace of the application's, and marked with
    :data:`IN_ON_ERROR`); an async callback is awaited for at most ``timeout`` seconds; an
    exception is logged (once with its traceback, then at DEBUG) and never stops the caller.
    """

    def __init__(self, on_error: ErrorCallback | None, *, timeout: float) -> None:
        self._on_error = on_error
        self._timeout = timeout
        self._warned: set[str] = set()
        self.handed = 0
        """Reports handed over so far (to the callback, or to the log)."""

    async def hand_over(
        self, reports: deque[EventError], *, lost: int, after_each: Callable[[], None]
    ) -> None:
        """Hand every report of ``reports`` over, oldest first; ``lost`` were never queued."""
        if lost and "lost" not in self._warned:
            self._warned.add("lost")
            logger.warning(
                "more undelivered events piled up than max_queue_size before the worker "
                "could hand them to on_error (the event loop did not run it in between); the "
                "excess were only counted in statistics()"
            )
        while reports:
            error = reports.popleft()
            if self._on_error is None:
                self.handed += 1
                key = "undelivered:" + error.reason
                if key not in self._warned:
                    self._warned.add(key)
                    logger.warning(
                        "an event was not delivered (%s: %s); pass on_error= "
                        "to see each one, statistics() counts them",
                        error.reason,
                        error.message,
                    )
                continue
            context = contextvars.Context()
            context.run(IN_ON_ERROR.set, True)
            try:
                call = self._call(context, error)
                if call is not None:
                    await self._await_call(call)
            finally:
                self.handed += 1
                after_each()

    def _call(self, context: contextvars.Context, error: EventError) -> asyncio.Future[Any] | None:
        """Call ``on_error``; return the future of an async one, None when it is done."""
        assert self._on_error is not None
        try:
            result = context.run(self._on_error, error)
            if inspect.isawaitable(result):
                return context.run(asyncio.ensure_future, result)
        except (KeyboardInterrupt, SystemExit):
            raise  # from a sync callback: the user's own way out
        except BaseException as exc:
            # Anything else, CancelledError included (a sync call cannot see our task's
            # cancellation): the callback's failure, never the reporting's.
            self._callback_failed(exc)
        return None

    async def _await_call(self, call: asyncio.Future[Any]) -> None:
        """Wait for an async callback, at most ``timeout``; its outcome never becomes ours.

        ``asyncio.wait`` raises only for the cancellation of the task that waits: a callback
        that ends in ``CancelledError`` (it awaited something cancelled elsewhere) is its own
        failure, and must not stop the reports task or reach ``flush()``/``shutdown()``.
        """
        try:
            done, _ = await asyncio.wait([call], timeout=self._timeout)
        except asyncio.CancelledError:  # our own task is cancelled: the call goes with it
            call.cancel()
            raise
        if not done:
            call.cancel()
            return
        if call.cancelled():
            self._callback_failed(asyncio.CancelledError("on_error was cancelled"))
            return
        exc = call.exception()
        if exc is not None:
            self._callback_failed(exc)

    def _callback_failed(self, exc: BaseException) -> None:
        if "callback" not in self._warned:
            self._warned.add("callback")
            logger.warning("on_error raised; continuing", exc_info=exc)
        else:
            logger.debug("on_error raised", exc_info=exc)


def _nothing() -> None:
    pass


class Reports:
    """The reports waiting for ``on_error``, and the task that hands them over.

    ``add`` is safe from any thread. The backlog is bounded like the queue, so a producer that
    never yields cannot grow memory through drops either; reports past the bound are only
    counted (:attr:`lost`). Without ``on_error``, one report per reason is kept (it is logged
    once), the others only counted in ``statistics()``.
    """

    def __init__(self, on_error: ErrorCallback | None, *, timeout: float, max_reports: int) -> None:
        self._reporter = Reporter(on_error, timeout=timeout)
        self._keep_all = on_error is not None
        self._max_reports = max_reports
        self._lock = threading.Lock()
        self._backlog: deque[EventError] = deque()
        self._reasons_seen: set[str] = set()
        self.made = 0
        """Reports ever queued (``flush()`` waits for a prefix of them to be handed over)."""
        self.lost = 0
        """Reports never queued because the backlog was full (still counted)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Event | None = None
        self._closing = False
        self._generation = 0
        self._on_progress: Callable[[], None] = _nothing
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._echoes: dict[str, None] = {}
        """Envelope ids of events produced inside ``on_error`` (oldest first, bounded)."""
        self._echo_warned = False

    def __len__(self) -> int:
        return len(self._backlog)

    def __bool__(self) -> bool:
        return bool(self._backlog)

    def __repr__(self) -> str:
        return f"<Reports waiting={len(self._backlog)} handed={self.handed} alive={self.alive}>"

    @property
    def handed(self) -> int:
        """Reports handed over so far (to the callback, or to the log)."""
        return self._reporter.handed

    def note_echo(self, event_id: str) -> None:
        """Remember an event produced inside ``on_error``: its own failure is not reported.

        A callback that records events the server rejects would otherwise be called for each,
        record more, and never stop. Such a failure is counted in ``statistics()`` only.
        """
        with self._lock:
            echoes = self._echoes
            echoes[event_id] = None
            if len(echoes) > self._max_reports:
                del echoes[next(iter(echoes))]

    def _is_echo(self, event_id: str) -> bool:
        echoes = self._echoes
        if not echoes:
            return False
        # A root's trace-create is made from the root, its id derived from the root's.
        return event_id in echoes or event_id.removesuffix("-trace") in echoes

    def may_keep(self, reason: str) -> bool:
        """False when a report for ``reason`` would surely not be kept: :meth:`offer` need not run.

        That is, without ``on_error``, once the first report of ``reason`` was kept (to be
        logged once); it stays so. Read without the lock, so a full queue's drops, after the
        first, take no lock here (echoes exist only with a callback).
        """
        return self._keep_all or reason not in self._reasons_seen

    def add(self, error: EventError) -> None:
        """Queue ``error`` for ``on_error``; from any thread."""
        self.offer(error.event_id, error.reason, lambda: error)

    def offer(self, event_id: str, reason: str, make: Callable[[], EventError]) -> None:
        """:meth:`add` for a report that ``make`` builds only if it is kept; from any thread.

        Most reports of a full queue are not kept: without ``on_error`` only the first of each
        reason is (it is logged once); with one, none while the backlog is full (counted as
        lost). A server down for minutes must not build a report per event to discard it.
        """
        with self._lock:
            if self._is_echo(event_id):
                if not self._echo_warned:
                    self._echo_warned = True
                    error = make()
                    logger.warning(
                        "an event recorded inside on_error was not delivered (%s: %s); it is "
                        "not reported to on_error, which could loop for ever; statistics() "
                        "counts it",
                        error.reason,
                        error.message,
                    )
                return
            if self._keep_all:
                if len(self._backlog) < self._max_reports:
                    self._backlog.append(make())
                    self.made += 1
                else:
                    self.lost += 1
            elif reason not in self._reasons_seen:
                self._reasons_seen.add(reason)
                self._backlog.append(make())  # logged once per reason, then only counted
                self.made += 1

    # ----------------------------------------------------------------- the task

    @property
    def alive(self) -> bool:
        """Whether the task runs (on the worker's loop) and will take new reports."""
        task = self._task
        return task is not None and not task.done() and not self._closing

    def start(self, loop: asyncio.AbstractEventLoop, on_progress: Callable[[], None]) -> None:
        """Start the task on ``loop``; ``on_progress`` is called after each hand-over."""
        self._generation += 1
        old_task, old_ready = self._task, self._ready
        if old_task is not None and old_ready is not None and old_task.get_loop() is loop:
            old_ready.set()  # an idle task of the last worker on this loop: let it end
        self._loop = loop
        self._on_progress = on_progress
        self._ready = asyncio.Event()
        self._closing = False
        # A fresh context: the task must not keep (or act inside) whatever trace the code that
        # happened to start it was in.
        self._task = contextvars.Context().run(
            loop.create_task,
            self._run(self._generation, self._ready),
            name="langfuse_async-reports",
        )

    def kick(self) -> None:
        """Have the task hand over what is queued; call on its loop."""
        if self._ready is not None:
            self._ready.set()

    def close(self) -> None:
        """Let the task finish: it hands over what is queued, then ends."""
        self._closing = True
        self.kick()

    async def stop(self, deadline: float | None) -> None:
        """Close the task and wait for it until ``deadline`` (monotonic), if it runs here."""
        task = self._task
        if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
            self.close()
            await finish_task(task, deadline)

    def detach(self) -> None:
        """Forget the loop and task without touching them (used in a forked child)."""
        self._generation += 1
        self._task = None
        self._ready = None
        self._loop = None
        self._side_tasks = set()

    def in_progress(self) -> bool:
        """Whether the caller runs inside the task (``flush()`` from inside ``on_error``)."""
        return self._task is not None and asyncio.current_task() is self._task

    def handed_through(self, mark: int) -> bool:
        """True when the first ``mark`` reports ever queued have been handed over."""
        if self.in_progress() or IN_ON_ERROR.get():
            # flush() from inside on_error (a sync one runs in the task, an async one in a
            # task of its own): its own report is the one in progress, and reports are handed
            # over one at a time; waiting for it would wait out the whole timeout.
            return True
        return self.handed >= mark

    async def _run(self, generation: int, ready: asyncio.Event) -> None:
        while True:
            await ready.wait()
            ready.clear()
            if generation != self._generation:
                return
            await self.dispatch()
            self._on_progress()
            if self._closing and not self._backlog:
                return

    # ----------------------------------------------------------------- hand-overs

    async def dispatch(self) -> None:
        """Hand every queued report to ``on_error``, in order, here and now."""
        await self._reporter.hand_over(self._backlog, lost=self.lost, after_each=self._on_progress)

    def dispatch_soon(self) -> None:
        """Have queued reports handed over soon, on a loop, never on this stack; any thread."""
        if _get_running_loop() is not None:
            self._dispatch_here()
            return
        # A thread without a loop: the worker's loop, if it still runs, takes them.
        loop = self._loop
        if loop is not None and not loop.is_closed() and loop.is_running():
            try:
                loop.call_soon_threadsafe(self._dispatch_here)
            except RuntimeError:  # it closed in between: flush(), shutdown() or exit hand over
                pass

    def _dispatch_here(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is loop and self.alive:
            self.kick()
            return
        if any(not t.done() and t.get_loop() is loop for t in self._side_tasks):
            return  # the one on its way takes every queued report
        task = loop.create_task(self.dispatch())
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)


async def finish_task(task: asyncio.Task[None], deadline: float | None) -> None:
    """Wait for ``task`` until ``deadline`` (monotonic), then cancel it and let it unwind."""
    timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
    # asyncio.wait neither cancels the task on timeout nor swallows the caller's cancellation.
    await asyncio.wait([task], timeout=timeout)
    if not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=_CANCEL_GRACE)
