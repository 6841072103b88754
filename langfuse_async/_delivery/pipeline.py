"""The consumer side's front door: admit records, bind the worker to a loop, flush, shut down.

``emit`` is the producer's only entry point. It is safe from any thread, never raises and never
blocks: it appends to the bounded queue and, at most once per batch, wakes the worker. The
worker is started lazily on the first event seen inside a running loop, and again on a later
loop when the first one has closed (a client that outlives ``asyncio.run``). Events produced
where no asyncio loop of the client runs (sync code, other threads, trio) start it on the
client's background loop thread (:mod:`.runtime`), so they leave within ``flush_interval`` too;
``flush_sync``/``shutdown_sync`` and ``flush_elsewhere``/``shutdown_elsewhere`` wait for that
loop from blocking code and from non-asyncio async code.

The worker belongs to one loop. ``flush()`` and ``shutdown()`` called on another loop (another
thread's) do their waiting there, and stay bounded if that loop stops under them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable

import anyio

from .._config import Config
from .._outcomes import FlushResult, Statistics
from .._records import Record
from .._wire.context import WireContext
from . import hooks as _hooks
from .http import HttpClient, HttpError
from .ledger import Ledger, event_error
from .pacing import turn_seconds
from .queue import EventQueue
from .reports import IN_ON_ERROR, ErrorCallback, Reports
from .runtime import BACKGROUND, in_running_asyncio_loop, run_from_any_async, run_sync
from .sender import HttpSender, Sender
from .worker import Worker

__all__ = ["Pipeline"]

logger = logging.getLogger("langfuse_async")

_get_running_loop = asyncio._get_running_loop  # the C fast path; returns None outside a loop


class Pipeline:
    """Queue, ledger, reports and worker of one client.

    Args:
        config: The client's configuration.
        on_error: Called once per event that is not delivered.
        sender: Sends each batch; by default an :class:`~.sender.HttpSender` to
            ``config.base_url`` (a test passes its own, to script outcomes without a server).
    """

    def __init__(
        self, config: Config, on_error: ErrorCallback | None, *, sender: Sender | None = None
    ) -> None:
        self._config = config
        self._on_error = on_error
        self._given_sender = sender
        self._flush_at = config.flush_at
        self._closed = False
        self._closing_by = "shutdown()"
        self._sealed = False
        """Set once shutdown has stopped the worker: nothing queued from then on is sent."""
        self._shutdown_result: FlushResult | None = None
        self.before_close: Callable[[str], int] | None = None
        """Set by the client: ends the observations still open, as never ended, with the
        message given; returns how many (they are sent with the rest)."""
        self.has_open: Callable[[], bool] | None = None
        """Set by the client: whether observations are still open (the exit hook ends them)."""
        self._shutdown_task: asyncio.Task[FlushResult] | None = None
        self._bind_lock = threading.Lock()
        self._background = BACKGROUND  # shared by the clients of the process
        self._background_pending = False
        """A start on the background loop is scheduled: later events need not ask again."""
        self._queue_full_message = (
            f"queue full ({config.queue_full}, max_queue_size={config.max_queue_size}, "
            f"max_queue_bytes={config.max_queue_bytes})"
        )
        self._ctx = WireContext(
            public_key=config.public_key or "",
            environment=config.environment,
            release=config.release,
        )
        self._build()
        _hooks.register(self)

    def _build(self) -> None:
        config = self._config
        self._queue = EventQueue(
            max_size=config.max_queue_size,
            max_bytes=config.max_queue_bytes,
            policy=config.queue_full,
        )
        self._reports = Reports(
            self._on_error, timeout=config.timeout, max_reports=config.max_queue_size
        )
        self._ledger = Ledger(self._reports)
        self._http = self._new_http()
        sender = self._given_sender or HttpSender(
            self._http,
            base_url=config.base_url,
            ctx=self._ctx,
            turn=self._turn,
            otlp_gzip=config.otel_gzip,
        )
        self._worker = Worker(
            config=config,
            queue=self._queue,
            ledger=self._ledger,
            reports=self._reports,
            sender=sender,
            http=self._http,
            ctx=self._ctx,
        )

    def _turn(self) -> float:
        # The queue looked up per call: a forked child rebuilds it.
        return turn_seconds(self._queue.fill())

    def _new_http(self) -> HttpClient:
        config = self._config
        return HttpClient(
            public_key=config.public_key or "",
            secret_key=config.secret_key or "",
            timeout=config.timeout,
            ssl=config.ssl,
            proxy=config.proxy,
            trust_env=config.trust_env,
            headers=dict(config.additional_headers),
        )

    def __repr__(self) -> str:
        return f"<Pipeline {self._queue!r} {self._worker!r} closed={self._closed}>"

    # ------------------------------------------------------------------ hot path

    def emit(self, record: Record) -> None:
        """Admit ``record``; never raises, never blocks."""
        try:
            if IN_ON_ERROR.get():
                self._reports.note_echo(record.event_id)
            if self._closed:
                self._ledger.refuse(
                    record, "shutdown", "produced after shutdown()", report=not IN_ON_ERROR.get()
                )
                self._dispatch_soon()
                if self._sealed and _get_running_loop() is None:
                    # No loop may ever run here again: the exit hook hands the report over.
                    _hooks.register(self)
                return
            queue = self._queue
            n = queue.put(record)
            # Steady state: the worker is alive and this event neither starts a batch nor fills
            # one, so there is nothing to wake.
            if n > 1 and n != self._flush_at and self._worker.live and not queue.evicted:
                return
            dropped = n == 0 or bool(queue.evicted)
            if dropped:
                # Woken only for a new report to hand over: without on_error a drop is only
                # counted after the first of its reason, and a server down for minutes
                # must not cost a wake-up (a thread's is a write to the loop's pipe) per event.
                dropped = self._report_drops(record, n == 0)
            if self._sealed:
                # shutdown() finished between the check above and the put (another thread):
                # nothing will send it any more.
                self._sweep_after_shutdown()
                return
            if self._closed:
                return  # the shutdown in progress sends or reports it; start nothing new
            worker = self._worker
            loop = _get_running_loop()
            if loop is not None and worker.loop is loop and worker.running:
                if n == 1 or n == self._flush_at or dropped:
                    worker.wake()
                return
            if loop is not None:
                self._bind(loop)
            elif worker.running:
                if n == 1 or n == self._flush_at or dropped:
                    worker.wake_threadsafe()
            elif not self._background_pending:
                self._start_in_background()
        except Exception:  # tracing must never raise into user code
            logger.debug("emit failed", exc_info=True)

    def _report_drops(self, record: Record, refused: bool) -> bool:
        """Count and report ``record`` (when ``refused``) and the evicted records.

        Returns:
            Whether a report was queued for ``on_error`` (or the log) by this call.
        """
        message = self._queue_full_message
        reports = self._reports
        made = reports.made
        report = not IN_ON_ERROR.get()
        if refused:  # it never got a place in the queue
            self._ledger.refuse(record, "queue_full", message, report=report)
        evicted = self._queue.evicted
        while evicted:
            try:
                old = evicted.popleft()
            except IndexError:  # another thread took it
                break
            self._ledger.drop(old, "queue_full", message, report=report, admitted=True)
        return reports.made != made

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        # Locked: producers on two threads, each with a loop of its own, must not both start
        # a worker (the slow path of emit only).
        with self._bind_lock:
            worker = self._worker
            if not worker.running:
                worker.start(loop)
            elif worker.loop is loop:
                worker.wake()  # started by another producer on this loop meanwhile
            else:
                old = worker.loop
                if old is not None and not old.is_closed() and old.is_running():
                    worker.wake_threadsafe()  # producer on another thread's loop: leave it be

    def _start_in_background(self) -> None:
        """Have the worker started on the background loop (no asyncio loop runs here)."""
        self._background_pending = True
        try:
            self._background.call_soon(self._bind_in_background, user=self)
        except Exception:
            self._background_pending = False
            raise

    def _bind_in_background(self) -> None:
        self._background_pending = False
        if not self._closed:
            self._bind(asyncio.get_running_loop())

    def _sweep_after_shutdown(self) -> None:
        report = not IN_ON_ERROR.get()
        for _, record in self._queue.clear():
            self._ledger.finish(
                event_error(record, "shutdown", "produced after shutdown()"), report=report
            )
        self._dispatch_soon()

    def _dispatch_soon(self) -> None:
        """Have queued reports handed to ``on_error`` soon, on a loop, never on this stack."""
        self._reports.dispatch_soon()

    # ------------------------------------------------------------------ flush / shutdown

    @property
    def closed(self) -> bool:
        return self._closed

    def statistics(self) -> Statistics:
        queue = self._queue
        return self._ledger.snapshot(
            accepted=lambda: queue.last_seq,
            queued_bytes=self._queue.bytes,
            transport=self._worker.route or "undecided",
        )

    def _ensure_worker(self) -> None:
        loop = asyncio.get_running_loop()
        with self._bind_lock:
            worker = self._worker
            if worker.running:
                old = worker.loop
                if old is loop or (old is not None and not old.is_closed() and old.is_running()):
                    return
            worker.start(loop)

    async def flush(self, timeout: float | None = None) -> FlushResult:
        """Send everything enqueued so far and wait for its outcomes, at most ``timeout`` s."""
        _check_timeout("flush", timeout)
        if self._sealed:
            # Shut down: nothing is sent any more; reports of late events may be left.
            with anyio.move_on_after(timeout):
                await self._reports.dispatch()
            return FlushResult(completed=not self._reports, pending=0)
        target = self._queue.last_seq
        before = self.statistics()
        if before.pending == 0 and not self._reports:
            return FlushResult(completed=True, pending=0)
        self._ensure_worker()
        worker_loop = self._worker.loop
        if worker_loop is not None and worker_loop is not asyncio.get_running_loop():
            # The worker lives on another thread's loop; wait there.
            outcome = await _hooks.run_on(worker_loop, self._wait_settled(target, timeout), timeout)
            if outcome is None:  # that loop stopped or is stuck
                outcome = (False, self._unsettled_through(target))
            completed, pending = outcome
        else:
            completed, pending = await self._wait_settled(target, timeout)
        after = self.statistics()
        return FlushResult(
            completed=completed,
            pending=pending,
            delivered=after.delivered - before.delivered,
            failed=(after.failed + after.dropped) - (before.failed + before.dropped),
        )

    async def _wait_settled(self, seq: int, timeout: float | None) -> tuple[bool, int]:
        """Send everything now; wait until events up to ``seq`` are settled and reported.

        Call it on the worker's loop. Reports are awaited up to those queued when the events
        were found settled: their own are among them, and later ones (a stream of drops under
        overload) cannot hold a flush for ever.

        Returns:
            Whether they all are, and how many events are not settled yet.
        """
        worker, reports = self._worker, self._reports
        worker.flush_waiters += 1
        mark: int | None = None
        try:
            # One wake is enough: while a flush waits, the worker treats every queued event as
            # due. Waking it on every progress signal would spin during a retry pause.
            worker.wake()
            with anyio.move_on_after(timeout):
                while True:
                    if mark is None and self._settled_through(seq):
                        mark = reports.made
                    if mark is not None and reports.handed_through(mark):
                        break
                    progress = worker.progress
                    if progress is None or not (worker.running or reports.alive):
                        break
                    progress.clear()
                    await progress.wait()
            if mark is None and self._settled_through(seq):
                mark = reports.made
            if mark is not None:
                # Trace updates waiting for a span of their trace still open are not waited
                # for (it may end hours later), and are not settled: pending, said so.
                waiting = worker.inflight.waiting_for_spans_through(seq)
                return reports.handed_through(mark) and not waiting, waiting
            return False, self._unsettled_through(seq)
        finally:
            worker.flush_waiters -= 1

    def _settled_through(self, seq: int) -> bool:
        """True when every event up to ``seq`` is settled (its report may still be queued).

        Trace updates the worker holds for a span of their trace do not count (see
        :meth:`_wait_settled`), unless the client is closing: then the worker reports them
        once the rest is sent, and the shutdown's flush waits for that.
        """
        queued = self._queue.head_seq()
        if queued is not None and queued <= seq:
            return False  # known at once: no need to look through every event in flight
        worker = self._worker
        if worker.closing and worker.inflight.holding:
            return False
        held = worker.inflight.oldest()
        return held is None or held > seq

    def _unsettled_through(self, seq: int) -> int:
        """How many events up to ``seq`` are not settled yet (queued, in flight or waiting)."""
        return self._worker.inflight.count_through(seq) + self._queue.count_through(seq)

    async def shutdown(self, timeout: float | None = None) -> FlushResult:
        """Flush, stop the worker and close the session; idempotent and bounded by ``timeout``.

        The work runs in a task of its own: a caller that is cancelled (an application's own
        shutdown deadline) stops waiting, but does not cut the shutdown short for the others.
        """
        _check_timeout("shutdown", timeout)  # before anything changes: a bad call closes nothing
        if self._shutdown_result is not None:
            return self._shutdown_result
        if not self._closed:
            self._end_open_observations()
        self._closed = True  # at once: what is produced from now on is refused and reported
        loop = asyncio.get_running_loop()
        task = self._shutdown_task
        if task is None or task.done() or task.get_loop() is not loop:
            # The first call, or the first since a shutdown whose loop went away unfinished.
            task = loop.create_task(self._shutdown(timeout), name="langfuse_async-shutdown")
            self._shutdown_task = task
        result = await asyncio.shield(task)
        if not self._background.owns(loop):
            # Nothing of ours runs there any more. (Called on that loop, the blocking and
            # non-asyncio callers release it once they have the result.)
            self._background.release(self, join=False)
        return result

    async def _shutdown(self, timeout: float | None) -> FlushResult:
        deadline = None if timeout is None else time.monotonic() + timeout
        self._closed = True
        try:
            worker, here = self._worker, asyncio.get_running_loop()
            worker_loop = worker.loop
            if (
                worker.running
                and worker_loop is not None
                and worker_loop is not here
                and worker_loop.is_running()
            ):
                # The worker's tasks and session belong to that loop: wind down there.
                result = await _hooks.run_on(worker_loop, self._close(deadline), timeout)
                if result is not None:
                    return result
                # That loop stopped or is stuck: finish from here with what is left.
            return await self._close(deadline)
        except Exception:  # shutdown never raises into the application
            logger.warning("shutdown failed", exc_info=True)
            return FlushResult(completed=False, pending=self.statistics().pending)

    async def _close(self, deadline: float | None) -> FlushResult:
        def remaining(floor: float = 0.0) -> float | None:
            return None if deadline is None else max(floor, deadline - time.monotonic())

        # Nothing new is admitted now: once the rest is sent, no span can come any more for
        # the trace updates the worker holds for one (it reports them, and the flush waits).
        self._worker.closing = True
        result = await self.flush(remaining())
        await self._worker.stop(remaining(0.1))
        self._sealed = True  # before abandon: an event queued after it is swept by emit()
        abandoned = self._worker.abandon(
            "shutdown", f"still pending when {self._closing_by} timed out"
        )
        if abandoned:
            logger.warning(
                "%s timed out; %d %s not delivered",
                self._closing_by,
                abandoned,
                "event was" if abandoned == 1 else "events were",
            )
        with anyio.move_on_after(remaining(1.0)):
            await self._reports.dispatch()
        await self._http.aclose()
        _hooks.unregister(self)
        self._shutdown_result = FlushResult(
            completed=result.completed and not abandoned,
            pending=abandoned,
            delivered=result.delivered,
            failed=result.failed + abandoned,
        )
        return self._shutdown_result

    # ------------------------------------------------------------------ without asyncio

    def flush_sync(self, timeout: float | None) -> FlushResult:
        """:meth:`flush` for blocking code: run on the background loop, wait here."""
        _check_timeout("flush", timeout)
        try:
            result = run_sync(self._background, lambda: self.flush(timeout), _grace(timeout), self)
        finally:
            self._release_if_sealed(join=True)
        return result or self._unfinished()

    def shutdown_sync(self, timeout: float | None) -> FlushResult:
        """:meth:`shutdown` for blocking code; stops the background loop thread."""
        _check_timeout("shutdown", timeout)
        if self._shutdown_result is not None:
            return self._shutdown_result
        self._closed = True
        try:
            result = run_sync(
                self._background, lambda: self.shutdown(timeout), _grace(timeout), self
            )
        finally:
            self._background.release(self)
        return result or self._unfinished()

    async def flush_elsewhere(self, timeout: float | None) -> FlushResult:
        """:meth:`flush` awaited from non-asyncio async code (trio), through the background loop."""
        _check_timeout("flush", timeout)
        try:
            result = await run_from_any_async(
                self._background, lambda: self.flush(timeout), _grace(timeout), self
            )
        finally:
            self._release_if_sealed(join=False)
        return result or self._unfinished()

    async def shutdown_elsewhere(self, timeout: float | None) -> FlushResult:
        """:meth:`shutdown` awaited from non-asyncio async code; stops the background loop."""
        _check_timeout("shutdown", timeout)
        if self._shutdown_result is not None:
            return self._shutdown_result
        self._closed = True
        try:
            result = await run_from_any_async(
                self._background, lambda: self.shutdown(timeout), _grace(timeout), self
            )
        finally:
            self._background.release(self, join=False)
        return result or self._unfinished()

    async def api_get(self, path: str) -> tuple[int, bytes] | None:
        """GET ``path`` of the server's API with the client's credentials, from any loop.

        On a session of its own (the worker's belongs to the worker's loop). Under a
        non-asyncio library (trio) it runs on the background loop.

        Returns:
            The status and body, or None when no reply came (logged at DEBUG).
        """
        if not in_running_asyncio_loop():
            try:
                return await run_from_any_async(
                    self._background,
                    lambda: self.api_get(path),
                    _grace(self._config.timeout),
                    self,
                )
            finally:
                self._release_if_sealed(join=False)
        http = self._new_http()
        try:
            reply = await http.request("GET", self._config.base_url.rstrip("/") + path)
            return reply.status, reply.body
        except HttpError as exc:
            logger.debug("GET %s: no reply (%s)", path, exc)
            return None
        finally:
            await http.aclose()

    def _release_if_sealed(self, *, join: bool) -> None:
        """After a call run on the background loop: a client shut down lets that loop go."""
        if self._sealed:  # nothing of ours runs there any more
            self._background.release(self, join=join)

    def _unfinished(self) -> FlushResult:
        return FlushResult(completed=False, pending=self.statistics().pending)

    def _end_open_observations(self) -> None:
        """Send what never ended now, while it is still accepted (before closing)."""
        hook = self.before_close
        if hook is None:
            return
        by = "at interpreter exit" if self._closing_by == "the exit hook" else "by shutdown()"
        try:
            ended = hook(f"never ended: ended {by}")
        except Exception:  # the hook is the client's; shutdown goes on whatever it does
            logger.debug("ending the open observations failed", exc_info=True)
            return
        if ended:
            self._ledger.never_ended += ended
            logger.warning(
                "%d observation%s never ended; %s sent %s with level WARNING "
                "(statistics().never_ended counts them)",
                ended,
                "" if ended == 1 else "s",
                "it was" if ended == 1 else "they were",
                by,
            )

    # ------------------------------------------------------------------ process hooks

    @property
    def exit_timeout(self) -> float:
        return self._config.exit_timeout

    async def shutdown_at_exit(self) -> FlushResult:
        if self._shutdown_result is not None:
            # Shut down already: only reports of events produced since are left.
            await self.flush(self._config.exit_timeout)
            return self._shutdown_result
        self._closing_by = "the exit hook"  # named in the reports of what it gives up on
        return await self.shutdown(timeout=self._config.exit_timeout)

    def after_fork_in_child(self) -> None:
        # The parent's events are the parent's to send; the child starts empty.
        _hooks.abandon_in_child(self._http)
        self._worker.detach()
        self._bind_lock = threading.Lock()  # another thread may have held it at the fork
        self._background_pending = False  # the background loop restarts itself when needed
        self._shutdown_task = None
        self._build()

    def needs_exit_flush(self) -> bool:
        # Not `_closed`: a shutdown cut short (its loop torn down) leaves work behind.
        if self._shutdown_result is not None:
            return bool(self._reports)  # of events produced after it
        if self.statistics().pending > 0 or bool(self._reports):
            return True
        has_open = self.has_open
        try:
            return has_open is not None and has_open()
        except Exception:
            return False

    def _at_exit(self) -> None:
        _hooks.shut_down_at_exit([self])


#: Time a blocking caller allows beyond its timeout for the background loop to answer (more
#: than the floors ``shutdown`` grants stopping and reporting).
_BLOCKING_GRACE = 3.0


def _grace(timeout: float | None) -> float | None:
    return None if timeout is None else timeout + _BLOCKING_GRACE


def _check_timeout(call: str, timeout: object) -> None:
    """Refuse a timeout that is not a number of seconds (a programming error, said at once)."""
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(
            f"{call}(timeout=...) takes seconds as a number or None, got {type(timeout).__name__}"
        )
    try:
        seconds = float(timeout)
    except OverflowError:  # an integer beyond the float range: no timer takes it
        seconds = math.nan
    if seconds != seconds or seconds < 0:  # NaN or negative
        raise ValueError(f"{call}(timeout=...) must be a number of seconds >= 0, got {timeout!r}")
