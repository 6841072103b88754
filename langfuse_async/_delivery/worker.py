"""The delivery worker: drains the queue into batches, sends them, retries, reports outcomes.

One worker task runs per event loop. It sleeps on an event while idle (no busy loop), sends when
``flush_at`` events wait or the oldest has waited ``flush_interval``, and schedules retries from
pure policy functions. Every event taken from the queue stays in ``_active`` until its outcome is
final, so a loop that closes mid-flight puts it back rather than losing it; ``_active`` is bounded
like the queue, so events waiting for a retry cannot grow memory past the configured bounds.

A second task on the same loop hands reports to ``on_error``, so a slow or hanging callback
delays only other reports, never sending. An unexpected exception while sending (a bug) is
logged once and treated like a failed attempt of the events involved: they are retried, then
reported, and the worker goes on.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable

import anyio

from .._clock import now_ns
from .._config import Config
from .._outcomes import Reason
from .._records import ObservationRecord, Record, ScoreRecord
from .._wire import ingestion as _ingestion, otlp as _otlp
from .._wire.context import WireContext
from . import batching as _batching, retry as _retry
from .http import HttpClient, HttpError
from .ledger import Ledger, event_error
from .queue import EventQueue
from .reports import ErrorCallback, Reporter
from .routing import Route, choose_route, parse_health_version
from .sender import Item, SendOutcome, send_ingestion, send_otlp

__all__ = ["Worker"]

logger = logging.getLogger("langfuse_async")

#: How many events one send cycle takes from the queue at most; batches are then cut by bytes.
_TAKE_LIMIT = 1_000
#: Recently delivered root observations, for telling late trace updates on the OTLP route.
_ROOTS_REMEMBERED = 10_000
#: How long a task cancelled by ``stop`` may take to unwind (it closes the HTTP session).
_CANCEL_GRACE = 1.0


class Worker:
    """Moves records from the queue to the server and settles each one in the ledger."""

    def __init__(
        self,
        *,
        config: Config,
        queue: EventQueue,
        ledger: Ledger,
        http: HttpClient,
        ctx: WireContext,
        on_error: ErrorCallback | None,
    ) -> None:
        self._config = config
        self._queue = queue
        self._ledger = ledger
        self._http = http
        self._ctx = ctx
        self._callbacks = Reporter(on_error, timeout=config.timeout)
        self._rng = random.Random()
        self.route: Route | None = None if config.transport == "auto" else config.transport
        self._active: dict[int, Item] = {}
        self._active_bytes = 0
        self._head_mark: tuple[int, float] = (0, 0.0)
        """(seq, monotonic time) when the worker first saw that event at the head of the queue."""
        self._roots_sent: OrderedDict[str, int] = OrderedDict()
        self._retry: list[Item] = []
        self._pause_until = 0.0
        self._flush_waiters = 0
        self._stopping = False
        self._warned: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._progress: asyncio.Event | None = None
        self._generation = 0
        """Bumped by every start: a task of an earlier loop that wakes up again touches nothing."""
        self._reporter: asyncio.Task[None] | None = None
        self._reports_ready: asyncio.Event | None = None
        self._reports_closing = False
        self.live = False
        """True from start until the task ends: lets ``emit`` skip every check in steady state."""

    def __repr__(self) -> str:
        return (
            f"<Worker route={self.route or 'undecided'} queued={len(self._queue)} "
            f"active={len(self._active)} running={self.running}>"
        )

    # ----------------------------------------------------------------- lifecycle

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop

    @property
    def running(self) -> bool:
        loop = self._loop
        return (
            self._task is not None
            and not self._task.done()
            and loop is not None
            and not loop.is_closed()
        )

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the worker and reporter tasks on ``loop`` (the running loop of the caller)."""
        self._generation += 1
        if self._active:
            # Left over from a loop that was closed without cancelling our task.
            self._put_back()
        old_reporter, old_ready = self._reporter, self._reports_ready
        if old_reporter is not None and old_ready is not None and old_reporter.get_loop() is loop:
            old_ready.set()  # an idle reporter of the last worker on this loop: let it end
        self._loop = loop
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._reports_ready = asyncio.Event()
        self._reports_closing = False
        self._stopping = False
        self.live = True
        generation = self._generation
        # Fresh contexts: the tasks must not keep (or act inside) whatever trace the code that
        # happened to start them was in.
        self._task = contextvars.Context().run(
            loop.create_task, self._run(generation), name="langfuse_async-worker"
        )
        self._task.add_done_callback(self._task_done)
        self._reporter = contextvars.Context().run(
            loop.create_task,
            self._report_loop(generation, self._reports_ready),
            name="langfuse_async-reports",
        )

    def _put_back(self) -> None:
        self._queue.put_back((item.seq, item.record) for item in self._active.values())
        self._active.clear()
        self._active_bytes = 0
        self._retry.clear()

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            # A bug, not a delivery failure: say so loudly once; events stay queued.
            logger.error("langfuse_async worker crashed", exc_info=task.exception())

    def wake(self) -> None:
        """Wake the worker; call on its loop's thread."""
        if self._wake is not None:
            self._wake.set()

    def wake_threadsafe(self) -> None:
        """Wake the worker from another thread."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self.wake)
            except RuntimeError:  # the loop closed in between
                pass

    async def stop(self, timeout: float | None) -> None:
        """Ask the worker to finish, then the reporter; cancel what is left after ``timeout``.

        Call it on the worker's loop. From another loop (the worker's loop stopped or stuck,
        see ``Pipeline``) it only asks: a task of another loop cannot be awaited.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        here = asyncio.get_running_loop()
        task, reporter = self._task, self._reporter
        if task is not None and not task.done():
            self._stopping = True
            if task.get_loop() is not here:
                self.wake_threadsafe()
                return
            self.wake()
            await _finish(task, deadline)
        if reporter is not None and not reporter.done() and reporter.get_loop() is here:
            self._close_reports()
            await _finish(reporter, deadline)

    def detach(self) -> None:
        """Forget the loop and tasks without touching them (used in a forked child)."""
        self._generation += 1
        self.live = False
        self._task = None
        self._reporter = None
        self._loop = None
        self._wake = None
        self._progress = None
        self._reports_ready = None
        self._active.clear()
        self._active_bytes = 0
        self._retry.clear()

    # ----------------------------------------------------------------- flush

    def oldest_unfinished(self) -> int | None:
        """The smallest sequence number not yet settled (queued, in flight or awaiting retry)."""
        candidates = [s for s in (self._queue.head_seq(),) if s is not None]
        if self._active:
            candidates.append(min(self._active))
        return min(candidates) if candidates else None

    def unsettled_through(self, seq: int) -> int:
        """How many events up to ``seq`` are not settled yet."""
        # A copy first: another thread may ask while the worker changes the dict.
        return sum(1 for s in tuple(self._active) if s <= seq) + self._queue.count_through(seq)

    def settled_through(self, seq: int) -> bool:
        """True when every event up to ``seq`` is settled (its report may still be queued)."""
        oldest = self.oldest_unfinished()
        return oldest is None or oldest > seq

    def reports_handed_through(self, mark: int) -> bool:
        """True when the first ``mark`` reports ever queued have been handed to ``on_error``."""
        if self._reporter is not None and asyncio.current_task() is self._reporter:
            return True  # flush() from inside on_error: its own report is the one in progress
        return self._callbacks.handed >= mark

    async def wait_settled(self, seq: int, timeout: float | None) -> tuple[bool, int]:
        """Send everything now; wait until events up to ``seq`` are settled and reported.

        Reports are awaited up to those queued when the events were found settled: their own
        are among them, and later ones (a stream of drops under overload) cannot hold a flush
        for ever.

        Returns:
            Whether they all are, and how many events are not settled yet.
        """
        self._flush_waiters += 1
        mark: int | None = None
        try:
            # One wake is enough: while a flush waits, the worker treats every queued event as
            # due. Waking it on every progress signal would spin during a retry pause.
            self.wake()
            with anyio.move_on_after(timeout):
                while True:
                    if mark is None and self.settled_through(seq):
                        mark = self._ledger.reports_made
                    if mark is not None and self.reports_handed_through(mark):
                        break
                    progress = self._progress
                    if progress is None or not (self.running or self.reporter_alive):
                        break
                    progress.clear()
                    await progress.wait()
            if mark is None and self.settled_through(seq):
                mark = self._ledger.reports_made
            if mark is not None:
                return self.reports_handed_through(mark), 0
            return False, self.unsettled_through(seq)
        finally:
            self._flush_waiters -= 1

    def abandon(self, reason: Reason, message: str) -> int:
        """Settle every unsettled event as dropped with ``reason``; return how many."""
        items = list(self._active.values())
        self._active.clear()
        self._active_bytes = 0
        self._retry.clear()
        for item in items:
            self._ledger.finish(event_error(item.record, reason, message))
        entries = self._queue.clear()
        for _, record in entries:
            self._ledger.finish(event_error(record, reason, message))
        return len(items) + len(entries)

    # ----------------------------------------------------------------- the loop

    async def _run(self, generation: int) -> None:
        try:
            if self.route is None:
                try:
                    await self._probe_route()
                except Exception:
                    logger.debug("route probes failed", exc_info=True)
                    self._set_route("ingestion", "default (the probes failed)")
            while generation == self._generation:  # a later start() took over: step aside
                self._kick_reports()
                self._signal_progress()
                now = time.monotonic()
                if self._stopping and not self._queue and not self._active:
                    break
                if self._pause_until > now:
                    await self._sleep(self._pause_until - now)
                    continue
                due = self._due_retries(now)
                if due or self._batch_ready(now):
                    try:
                        await self._cycle(due)
                    except Exception as exc:  # a bug: settle what it touched, keep going
                        self._recover(exc)
                    continue
                await self._sleep(self._next_deadline(now))
        except asyncio.CancelledError:
            # The loop is closing (asyncio.run teardown) or shutdown gave up: keep what was
            # taken so the next loop, or the exit hook, can still send it.
            if generation == self._generation:
                self._put_back()
            raise
        finally:
            if generation == self._generation:
                self.live = False
                self._close_reports()
                self._signal_progress()
                await self._http.aclose()

    def _recover(self, exc: Exception, scope: list[Item] | None = None) -> None:
        """Treat an unexpected exception as a failed attempt of the events it caught unsettled.

        ``scope`` is the batch whose request or settling failed; without it, the whole cycle
        failed, and between cycles every active event waits in ``_retry``, so the others were
        in it. They are retried like after a network error: a transient fault costs nothing,
        and a persistent one ends in ``"retries_exhausted"`` reports instead of a worker that
        stops delivering.
        """
        if "crash" not in self._warned:
            self._warned.add("crash")
            logger.error(
                "unexpected error in the delivery worker; the events involved "
                "are retried, then reported",
                exc_info=exc,
            )
        else:
            logger.debug("unexpected error in the delivery worker", exc_info=exc)
        waiting = {id(item) for item in self._retry}
        candidates = self._active.values() if scope is None else scope
        orphans = [
            item
            for item in candidates
            if id(item) not in waiting and self._active.get(item.seq) is item
        ]
        message = f"internal error: {exc!r}"
        for item in orphans:
            item.last_error = (None, message, None)
        if orphans:
            self._retry_later(orphans, retry_after=None, whole_request=False)
        else:  # nothing to blame: do not spin on the same fault
            self._pause_until = max(self._pause_until, time.monotonic() + self._config.backoff_base)

    def _signal_progress(self) -> None:
        if self._progress is not None:
            self._progress.set()

    async def _sleep(self, timeout: float | None) -> None:
        wake = self._wake
        if wake is None:
            return
        if wake.is_set():
            wake.clear()
            return
        with anyio.move_on_after(timeout):
            await wake.wait()
        wake.clear()

    def _has_room(self) -> bool:
        """Whether the worker may take more events: those it holds count against the bounds."""
        config = self._config
        return (
            len(self._active) < config.max_queue_size
            and self._active_bytes < config.max_queue_bytes
        )

    def _head_wait(self, now: float) -> float | None:
        """How long the oldest queued event has waited, or None when the queue is empty.

        The later of two clocks: the event's own timestamp (wall clock, so events queued before
        the worker started count from when they were made) and the monotonic time the worker
        first saw it at the head (so a wall clock set back does not hold events for hours).
        """
        seq = self._queue.head_seq()
        if seq is None:
            return None
        if self._head_mark[0] != seq:
            self._head_mark = (seq, now)
        waited = now - self._head_mark[1]
        stamp = self._queue.head_timestamp_ns()
        if stamp is not None:
            waited = max(waited, (now_ns() - stamp) / 1e9)
        return waited

    def _batch_ready(self, now: float) -> bool:
        n = len(self._queue)
        if not n or not self._has_room():
            return False
        if n >= self._config.flush_at or self._flush_waiters or self._stopping:
            return True
        waited = self._head_wait(now)
        return waited is not None and waited >= self._config.flush_interval

    def _next_deadline(self, now: float) -> float | None:
        deadlines: list[float] = []
        waited = self._head_wait(now) if self._has_room() else None
        if waited is not None:
            deadlines.append(max(0.0, self._config.flush_interval - waited))
        if self._retry:
            deadlines.append(max(0.0, min(item.not_before for item in self._retry) - now))
        return min(deadlines) if deadlines else None

    def _due_retries(self, now: float) -> list[Item]:
        if not self._retry:
            return []
        due = [item for item in self._retry if item.not_before <= now]
        if due:
            self._retry = [item for item in self._retry if item.not_before > now]
        return due

    # ----------------------------------------------------------------- routing

    async def _probe_route(self) -> None:
        base = self._config.base_url

        async def get(path: str) -> tuple[int | None, bytes]:
            try:
                resp = await self._http.request("GET", base + path, authenticated=False)
            except HttpError:
                return None, b""
            return resp.status, resp.body

        # Each probe is bounded by the HTTP timeout itself. No cancel scope around them: one
        # expiring together with aiohttp's own timeout can leak its cancellation into the
        # worker task and end it.
        (hs, hb), (ts, _) = await asyncio.gather(
            get("/api/public/health"), get("/api/public/traces?limit=1")
        )
        logger.debug(
            "route probes: GET /api/public/health -> %s %r; GET /api/public/traces -> %s",
            hs if hs is not None else "no answer",
            hb[:200],
            ts if ts is not None else "no answer",
        )
        route = choose_route(health_status=hs, health_body=hb, traces_probe_status=ts)
        if route is not None:
            self._set_route(route, _describe_probes(hs, hb, ts))
            return
        # Undecided: start on the ingestion route; a rejection "not accepted" switches to OTLP.
        self._set_route("ingestion", "the probes were inconclusive; switching if refused")

    def _set_route(self, route: Route, why: str) -> None:
        if self.route != route:
            self.route = route
            logger.info("sending traces and observations via the %s route: %s", route, why)

    def _destination(self, record: Record) -> Route:
        if isinstance(record, ScoreRecord):
            return "ingestion"
        return self.route or "ingestion"

    # ----------------------------------------------------------------- encoding

    def _encode(self, item: Item, dest: Route) -> bool:
        """Give ``item`` its wire bytes for ``dest``; settle it and return False if impossible."""
        record = item.record
        limit = self._config.max_event_bytes
        try:
            if dest == "ingestion":
                if item.ingestion is None:
                    fitted = _ingestion.fit_event(record, self._ctx, limit)
                    if fitted is None:
                        return self._drop(item, "oversize", f"event larger than {limit} bytes")
                    if fitted[0] is not record:
                        self._count_truncated(item)
                    item.record, item.ingestion = fitted
                    root = item.record
                    if isinstance(root, ObservationRecord) and root.is_local_root:
                        item.trace_event = _ingestion.encode_root_trace(root, self._ctx, limit)
                return True
            if not isinstance(record, ObservationRecord) or item.span is not None:
                return True  # trace updates ride along as attributes of the spans
            fitted = _otlp.fit_span(record, self._ctx, limit)
            if fitted is None:
                return self._drop(item, "oversize", f"event larger than {limit} bytes")
            if fitted[0] is not record:
                self._count_truncated(item)
                item.record = fitted[0]
            item.span = fitted[1]
            return True
        except Exception as exc:  # encoding is total by design; this is the last safety net
            return self._drop(item, "unserializable", f"could not encode event: {exc!r}")

    def _count_truncated(self, item: Item) -> None:
        if item.truncated:
            return  # truncated again for another route after a reroute: still one event
        item.truncated = True
        record = item.record
        self._ledger.truncated += 1
        if "truncated" not in self._warned:
            self._warned.add("truncated")
            logger.warning(
                "a %s event was larger than max_event_bytes (%d): its largest input, output or "
                "metadata was replaced by the truncation marker (statistics().truncated counts "
                "such events)",
                record.event_type,
                self._config.max_event_bytes,
            )

    def _drop(self, item: Item, reason: Reason, message: str) -> bool:
        self._release(item)
        self._ledger.finish(event_error(item.record, reason, message))
        return False

    def _release(self, item: Item) -> None:
        """Forget a settled item (it no longer counts against the bounds)."""
        if self._active.pop(item.seq, None) is not None:
            self._active_bytes -= item.size

    # ----------------------------------------------------------------- sending

    async def _cycle(self, due: list[Item]) -> None:
        items = list(due)
        config = self._config
        count_room = config.max_queue_size - len(self._active)
        byte_room = config.max_queue_bytes - self._active_bytes
        if count_room > 0 and byte_room > 0:
            for seq, record in self._queue.take(min(_TAKE_LIMIT, count_room), byte_room):
                item = Item(seq, record)
                self._active[seq] = item
                self._active_bytes += item.size
                items.append(item)
        ingestion: list[Item] = []
        otlp: list[Item] = []
        for item in items:
            dest = self._destination(item.record)
            if self._encode(item, dest):
                (ingestion if dest == "ingestion" else otlp).append(item)
        if ingestion:
            await self._send_all(ingestion, "ingestion")
        if otlp:
            await self._send_all(otlp, "otlp")

    async def _send_all(self, items: list[Item], dest: Route) -> None:
        if dest == "otlp":
            riders = [item for item in items if item.span is None]
            spans = [item for item in items if item.span is not None]
            if not spans:
                self._settle_riders(riders, [])
                return
            sizes = [len(item.span or b"") for item in spans]
            ranges = _batching.cut_batches(
                sizes,
                max_bytes=self._config.max_batch_bytes,
                max_count=self._config.flush_at,
                overhead=lambda n: _otlp.request_overhead(n, self._ctx),
            )
            batches = self._within_limit(spans, sizes, ranges, _otlp.request_overhead)
            self._settle_riders(riders, batches)
        else:
            # A root's trace-create rides in its item: its bytes plus one separator count toward
            # the item, and the overhead assumes two envelopes per item (an upper bound for the
            # digits of batch_size), so every body stays within the limit.
            sizes = [
                len(item.ingestion or b"") + (len(item.trace_event) + 1 if item.trace_event else 0)
                for item in items
            ]
            ranges = _batching.cut_batches(
                sizes,
                max_bytes=self._config.max_batch_bytes,
                max_count=self._config.flush_at,
                overhead=lambda n: _ingestion.batch_overhead(2 * n, self._ctx),
            )
            batches = self._within_limit(
                items, sizes, ranges, lambda n, ctx: _ingestion.batch_overhead(2 * n, ctx)
            )
        for batch in batches:
            if self._pause_until > time.monotonic():
                self._schedule(batch, self._pause_until)
                continue
            await self._send(batch, dest)

    def _settle_riders(self, riders: list[Item], batches: list[list[Item]]) -> None:
        """Place trace updates on the OTLP route, where they travel as span attributes.

        Every observation carries a snapshot of its trace's attributes when it ended, so an
        update is carried by any span of its trace recorded after it. Such a span in this
        cycle: the update shares that span's request and outcome. None yet and the trace's
        root not sent: the root will carry it (it ends after the update). The root already
        sent before the update and no later span: nothing can carry it over OTLP, so it is
        reported rather than counted as delivered.
        """
        # One pass over the spans, so many updates in a cycle cost no quadratic scan.
        spans_of: dict[str, list[tuple[int, list[Item]]]] = {}
        first_root: dict[str, int] = {}
        for batch in batches:
            for item in batch:
                span = item.record
                if isinstance(span, ObservationRecord):
                    spans_of.setdefault(span.trace_id, []).append((span.timestamp_ns, batch))
                    if span.is_local_root:
                        first_root.setdefault(span.trace_id, span.timestamp_ns)
        for rider in riders:
            record = rider.record
            trace_id = getattr(record, "trace_id", "")
            carrier = next(
                (
                    batch
                    for ended, batch in spans_of.get(trace_id, ())
                    if ended >= record.timestamp_ns
                ),
                None,
            )
            if carrier is not None:
                carrier.append(rider)
                continue
            root_sent = self._roots_sent.get(trace_id)
            if root_sent is None:
                root_sent = first_root.get(trace_id)
            if root_sent is None or root_sent >= record.timestamp_ns:
                self._settle_delivered([rider])
            else:
                self._release(rider)
                self._ledger.finish(
                    event_error(
                        record,
                        "rejected",
                        "trace update made after the trace's observations were sent: the "
                        "OTLP route carries trace attributes only on spans that end after "
                        "them (update the trace before its root observation ends)",
                    )
                )

    def _within_limit(
        self,
        items: list[Item],
        sizes: list[int],
        ranges: list[range],
        overhead: Callable[[int, WireContext], int],
    ) -> list[list[Item]]:
        """Turn ranges into batches, dropping a lone event whose request would be too large."""
        batches: list[list[Item]] = []
        limit = self._config.max_batch_bytes
        for r in ranges:
            if (
                len(r) == 1
                and _batching.body_size(sizes, r, lambda n: overhead(n, self._ctx)) > limit
            ):
                self._drop(items[r[0]], "oversize", f"request would exceed {limit} bytes")
                continue
            batches.append([items[i] for i in r])
        return batches

    async def _send(self, batch: list[Item], dest: Route) -> None:
        self._ledger.retries += sum(1 for item in batch if item.attempts)
        self._ledger.requests += 1
        try:
            started = time.monotonic()
            if dest == "ingestion":
                out = await send_ingestion(self._http, self._config.base_url, batch, self._ctx)
            else:
                out = await send_otlp(self._http, self._config.base_url, batch, self._ctx)
            self._ledger.bytes_sent += out.bytes_sent
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "POST %s route: %d events, %d bytes -> %s in %.0f ms "
                    "(delivered %d, failed %d, retry %d%s)",
                    dest,
                    len(batch),
                    out.bytes_sent,
                    out.status if out.status is not None else f"no reply ({out.failure})",
                    (time.monotonic() - started) * 1000,
                    len(out.delivered),
                    len(out.failed),
                    len(out.retry),
                    ", split in halves" if out.split else "",
                )
            await self._settle(out, batch, dest)
        except Exception as exc:  # a bug: only this batch pays for it
            self._recover(exc, batch)

    async def _settle(self, out: SendOutcome, batch: list[Item], dest: Route) -> None:
        self._settle_delivered(out.delivered)
        for failure in out.failed:
            self._release(failure.item)
            self._ledger.finish(
                event_error(
                    failure.item.record,
                    failure.reason,
                    failure.message,
                    status=failure.status,
                    error=failure.error,
                )
            )
        if out.unauthorized and "auth" not in self._warned:
            self._warned.add("auth")
            logger.warning(
                "the server refused the credentials (HTTP %s) for %s; check "
                "LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY and that LANGFUSE_BASE_URL is the "
                "host of that project",
                out.failed[0].status if out.failed else "401",
                self._config.base_url,
            )
        if out.redirect is not None and "redirect" not in self._warned:
            self._warned.add("redirect")
            logger.warning(
                "%s answered with a redirect to %s; redirects are not followed "
                "(they drop the request body): set LANGFUSE_BASE_URL to the final address",
                self._config.base_url,
                out.redirect or "(no Location header)",
            )
        if out.not_found is not None and "not_found" not in self._warned:
            self._warned.add("not_found")
            logger.warning(
                "%s answered %s to the %s route: check that LANGFUSE_BASE_URL is the Langfuse "
                "host, including any path prefix it is served under",
                self._config.base_url,
                out.not_found,
                dest,
            )
        if out.not_accepted:
            self._reroute(out.not_accepted)
        if out.split:
            half_a, half_b = _batching.split_in_half(range(len(batch)))
            for half in (half_a, half_b):
                await self._send([batch[i] for i in half], dest)
        if out.retry:
            self._retry_later(
                out.retry, retry_after=out.retry_after, whole_request=out.whole_request
            )

    def _retry_later(
        self, items: list[Item], *, retry_after: float | None, whole_request: bool
    ) -> None:
        """Count a failed attempt of ``items``; report the exhausted, schedule the others."""
        now = time.monotonic()
        for item in items:
            item.attempts += 1
        alive = [item for item in items if not self._exhausted(item)]
        if not alive:
            return
        attempt = max(item.attempts for item in alive) - 1
        delay = _retry.backoff_delay(
            attempt,
            base=self._config.backoff_base,
            cap=self._config.backoff_max,
            rng=self._rng.random,
            retry_after=retry_after,
        )
        if whole_request:
            # The server (or the path to it) is unwell: pause everything, not just this batch.
            self._pause_until = max(self._pause_until, now + delay)
        logger.debug(
            "retrying %d events in %.2f s (attempt %d of %d%s%s)",
            len(alive),
            delay,
            attempt + 2,
            self._config.max_retries + 1,
            f", Retry-After {retry_after:g} s" if retry_after is not None else "",
            ", pausing all sending" if whole_request else "",
        )
        self._schedule(alive, now + delay)

    def _settle_delivered(self, items: list[Item]) -> None:
        roots = self._roots_sent
        for item in items:
            self._release(item)
            record = item.record
            if isinstance(record, ObservationRecord) and record.is_local_root:
                # Remembered (boundedly) so a later trace update knows its root has gone.
                roots[record.trace_id] = record.timestamp_ns
                if len(roots) > _ROOTS_REMEMBERED:
                    roots.popitem(last=False)
        self._ledger.delivered += len(items)

    def _exhausted(self, item: Item) -> bool:
        if item.attempts <= self._config.max_retries:
            return False
        status, message, error = item.last_error
        self._release(item)
        self._ledger.finish(
            event_error(
                item.record,
                "retries_exhausted",
                f"gave up after {item.attempts} attempt{'s' if item.attempts != 1 else ''}: "
                f"{message}",
                status=status,
                error=error,
            )
        )
        return True

    def _schedule(self, items: list[Item], not_before: float) -> None:
        for item in items:
            item.not_before = not_before
        self._retry.extend(items)

    def _reroute(self, items: list[Item]) -> None:
        if self._config.transport != "auto":
            for item in items:
                self._release(item)
                self._ledger.finish(
                    event_error(
                        item.record,
                        "rejected",
                        "Event type not accepted (the server takes traces only over OTLP; "
                        "use transport='otlp' or 'auto')",
                        status=400,
                    )
                )
            return
        self._set_route("otlp", "the ingestion route rejected an event type as not accepted")
        # Same records, same envelope ids: they go out again, now as OTLP spans.
        self._schedule(items, 0.0)

    # ----------------------------------------------------------------- callbacks

    @property
    def reporter_alive(self) -> bool:
        """Whether the reporter task runs (on :attr:`loop`) and will take new reports."""
        reporter = self._reporter
        return reporter is not None and not reporter.done() and not self._reports_closing

    def kick_reports(self) -> None:
        """Have the reporter hand over queued reports; call on the worker's loop."""
        if self._reports_ready is not None:
            self._reports_ready.set()

    def _kick_reports(self) -> None:
        if self._ledger.reports:
            self.kick_reports()

    def _close_reports(self) -> None:
        """Let the reporter finish: it hands over what is queued, then ends."""
        self._reports_closing = True
        self.kick_reports()

    async def _report_loop(self, generation: int, ready: asyncio.Event) -> None:
        while True:
            await ready.wait()
            ready.clear()
            if generation != self._generation:
                return
            await self.dispatch_reports()
            self._signal_progress()
            if self._reports_closing and not self._ledger.reports:
                return

    async def dispatch_reports(self) -> None:
        """Hand every queued report to ``on_error``, in order."""
        await self._callbacks.hand_over(
            self._ledger.reports, lost=self._ledger.reports_lost, after_each=self._signal_progress
        )


async def _finish(task: asyncio.Task[None], deadline: float | None) -> None:
    """Wait for ``task`` until ``deadline`` (monotonic), then cancel it and let it unwind."""
    timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
    # asyncio.wait neither cancels the task on timeout nor swallows the caller's cancellation.
    await asyncio.wait([task], timeout=timeout)
    if not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=_CANCEL_GRACE)


def _describe_probes(
    health_status: int | None, health_body: bytes, traces_status: int | None
) -> str:
    version = parse_health_version(health_body) if health_status == 200 else None
    health = f"health says {version[0]}.{version[1]}" if version else f"health {health_status}"
    return f"{health}; /api/public/traces answered {traces_status}"
