"""The delivery worker: drains the queue into batches, sends them, retries, reports outcomes.

One worker task runs per event loop. It sleeps on an event while idle (no busy loop), sends when
``flush_at`` events wait or the oldest has waited ``flush_interval``, and schedules retries from
pure policy functions. Every event taken from the queue stays in ``_active`` until its outcome is
final, so a loop that closes mid-flight puts it back rather than losing it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import anyio

from . import _batching, _ingestion, _otlp, _retry
from ._clock import now_ns
from ._config import Config
from ._ledger import Ledger, event_error
from ._queue import EventQueue
from ._records import ObservationRecord, Record, ScoreRecord
from ._results import EventError, Reason
from ._routing import Route, choose_route
from ._sender import Item, SendOutcome, send_ingestion, send_otlp
from ._transport import HttpClient, TransportError
from ._wire import WireContext

__all__ = ["Worker"]

logger = logging.getLogger("langfuse_async")

ErrorCallback = Callable[[EventError], Any]

#: How many events one send cycle takes from the queue at most; batches are then cut by bytes.
_TAKE_LIMIT = 1_000
#: Recently delivered root observations, for telling late trace updates on the OTLP route.
_ROOTS_REMEMBERED = 10_000


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
        self._on_error = on_error
        self._rng = random.Random()
        self.route: Route | None = None if config.transport == "auto" else config.transport
        self._active: dict[int, Item] = {}
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
        """Start the worker task on ``loop`` (the running loop of the caller)."""
        if self._active:
            # Left over from a loop that was closed without cancelling our task.
            self._queue.put_back((item.seq, item.record) for item in self._active.values())
            self._active.clear()
            self._retry.clear()
        self._loop = loop
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._stopping = False
        self.live = True
        self._task = loop.create_task(self._run(), name="langfuse_async-worker")
        self._task.add_done_callback(self._task_done)

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
        """Ask the worker to finish and wait for it (cancel it after ``timeout``)."""
        task = self._task
        if task is None or task.done():
            return
        self._stopping = True
        self.wake()
        with anyio.move_on_after(timeout):
            await asyncio.shield(task)
        if not task.done():
            task.cancel()
            with anyio.move_on_after(1.0):
                try:
                    await task
                except asyncio.CancelledError:
                    pass

    def detach(self) -> None:
        """Forget the loop and task without touching them (used in a forked child)."""
        self.live = False
        self._task = None
        self._loop = None
        self._wake = None
        self._progress = None
        self._active.clear()
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
        return sum(1 for s in self._active if s <= seq) + self._queue.count_through(seq)

    def settled_through(self, seq: int) -> bool:
        """True when every event up to ``seq`` is settled and its report dispatched."""
        oldest = self.oldest_unfinished()
        return (oldest is None or oldest > seq) and not self._ledger.reports

    async def wait_settled(self, seq: int, timeout: float | None) -> bool:
        """Send everything now and wait until events up to ``seq`` are settled."""
        self._flush_waiters += 1
        try:
            # One wake is enough: while a flush waits, the worker treats every queued event as
            # due. Waking it on every progress signal would spin during a retry pause.
            self.wake()
            with anyio.move_on_after(timeout):
                while not self.settled_through(seq):
                    progress = self._progress
                    if progress is None or not self.running:
                        return False
                    progress.clear()
                    await progress.wait()
            return self.settled_through(seq)
        finally:
            self._flush_waiters -= 1

    def abandon(self, reason: Reason, message: str) -> int:
        """Settle every unsettled event as dropped with ``reason``; return how many."""
        items = list(self._active.values())
        self._active.clear()
        self._retry.clear()
        for item in items:
            self._ledger.finish(event_error(item.record, reason, message))
        entries = self._queue.clear()
        for _, record in entries:
            self._ledger.finish(event_error(record, reason, message))
        return len(items) + len(entries)

    # ----------------------------------------------------------------- the loop

    async def _run(self) -> None:
        try:
            if self.route is None:
                await self._probe_route()
            while True:
                await self.dispatch_reports()
                self._signal_progress()
                now = time.monotonic()
                if self._stopping and not self._queue and not self._active:
                    break
                if self._pause_until > now:
                    await self._sleep(self._pause_until - now)
                    continue
                due = self._due_retries(now)
                if due or self._batch_ready():
                    await self._cycle(due)
                    continue
                await self._sleep(self._next_deadline(now))
            await self.dispatch_reports()
            self._signal_progress()
        except asyncio.CancelledError:
            # The loop is closing (asyncio.run teardown) or shutdown gave up: keep what was
            # taken so the next loop, or the exit hook, can still send it.
            self._queue.put_back((item.seq, item.record) for item in self._active.values())
            self._active.clear()
            self._retry.clear()
            raise
        finally:
            self.live = False
            self._signal_progress()
            await self._http.aclose()

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

    def _batch_ready(self) -> bool:
        n = len(self._queue)
        if not n:
            return False
        if n >= self._config.flush_at or self._flush_waiters or self._stopping:
            return True
        head = self._queue.head_timestamp_ns()
        return head is not None and now_ns() - head >= self._config.flush_interval * 1e9

    def _next_deadline(self, now: float) -> float | None:
        deadlines: list[float] = []
        head = self._queue.head_timestamp_ns()
        if head is not None:
            deadlines.append(max(0.0, self._config.flush_interval - (now_ns() - head) / 1e9))
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
            except TransportError:
                return None, b""
            return resp.status, resp.body

        with anyio.move_on_after(self._config.timeout):
            (hs, hb), (ts, _) = await asyncio.gather(
                get("/api/public/health"), get("/api/public/traces?limit=1")
            )
            route = choose_route(health_status=hs, health_body=hb, traces_probe_status=ts)
            if route is not None:
                self._set_route(route, "the server's health and traces probes")
                return
        # Undecided: start on the ingestion route; a rejection "not accepted" switches to OTLP.
        self._set_route("ingestion", "default (the probes were inconclusive)")

    def _set_route(self, route: Route, why: str) -> None:
        if self.route != route:
            self.route = route
            logger.info("langfuse_async: sending traces and observations via %s (%s)", route, why)

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
                    item.record, item.ingestion = fitted
                    root = item.record
                    if isinstance(root, ObservationRecord) and root.parent_id is None:
                        item.trace_event = _ingestion.encode_root_trace(root, self._ctx, limit)
                return True
            if not isinstance(record, ObservationRecord) or item.span is not None:
                return True  # trace updates ride along as attributes of the spans
            span = _otlp.encode_span(record, self._ctx)
            if len(span) > limit:
                fitted = _ingestion.fit_event(record, self._ctx, limit)
                if fitted is not None:
                    item.record = fitted[0]
                    span = _otlp.encode_span(fitted[0], self._ctx)  # type: ignore[arg-type]
                if fitted is None or len(span) > limit:
                    return self._drop(item, "oversize", f"event larger than {limit} bytes")
            item.span = span
            return True
        except Exception as exc:  # encoding is total by design; this is the last safety net
            return self._drop(item, "unserializable", f"could not encode event: {exc!r}")

    def _drop(self, item: Item, reason: Reason, message: str) -> bool:
        self._active.pop(item.seq, None)
        self._ledger.finish(event_error(item.record, reason, message))
        return False

    # ----------------------------------------------------------------- sending

    async def _cycle(self, due: list[Item]) -> None:
        items = list(due)
        for seq, record in self._queue.take(_TAKE_LIMIT):
            item = Item(seq, record)
            self._active[seq] = item
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
        for rider in riders:
            record = rider.record
            carrier = next(
                (
                    batch
                    for batch in batches
                    for item in batch
                    if isinstance(item.record, ObservationRecord)
                    and item.record.trace_id == getattr(record, "trace_id", None)
                    and item.record.timestamp_ns >= record.timestamp_ns
                ),
                None,
            )
            if carrier is not None:
                carrier.append(rider)
                continue
            root_sent = self._roots_sent.get(getattr(record, "trace_id", ""))
            if root_sent is None:
                root_sent = next(
                    (
                        item.record.timestamp_ns
                        for batch in batches
                        for item in batch
                        if isinstance(item.record, ObservationRecord)
                        and item.record.parent_id is None
                        and item.record.trace_id == getattr(record, "trace_id", None)
                    ),
                    None,
                )
            if root_sent is None or root_sent >= record.timestamp_ns:
                self._settle_delivered([rider])
            else:
                self._active.pop(rider.seq, None)
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
        if dest == "ingestion":
            out = await send_ingestion(self._http, self._config.base_url, batch, self._ctx)
        else:
            out = await send_otlp(self._http, self._config.base_url, batch, self._ctx)
        self._ledger.bytes_sent += out.bytes_sent
        await self._settle(out, batch, dest)

    async def _settle(self, out: SendOutcome, batch: list[Item], dest: Route) -> None:
        self._settle_delivered(out.delivered)
        for failure in out.failed:
            self._active.pop(failure.item.seq, None)
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
                "langfuse_async: the server refused the credentials (HTTP %s) for %s; check "
                "LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY and that LANGFUSE_BASE_URL is the "
                "host of that project",
                out.failed[0].status if out.failed else "401",
                self._config.base_url,
            )
        if out.not_accepted:
            self._reroute(out.not_accepted)
        if out.split:
            half_a, half_b = _batching.split_in_half(range(len(batch)))
            for half in (half_a, half_b):
                await self._send([batch[i] for i in half], dest)
        if out.retry:
            now = time.monotonic()
            for item in out.retry:
                item.attempts += 1
            alive = [item for item in out.retry if not self._exhausted(item)]
            if not alive:
                return
            attempt = max(item.attempts for item in alive) - 1
            delay = _retry.backoff_delay(
                attempt,
                base=self._config.backoff_base,
                cap=self._config.backoff_max,
                rng=self._rng.random,
                retry_after=out.retry_after,
            )
            if out.whole_request:
                # The server (or the path to it) is unwell: pause everything, not just this batch.
                self._pause_until = max(self._pause_until, now + delay)
            self._schedule(alive, now + delay)

    def _settle_delivered(self, items: list[Item]) -> None:
        roots = self._roots_sent
        for item in items:
            self._active.pop(item.seq, None)
            record = item.record
            if isinstance(record, ObservationRecord) and record.parent_id is None:
                # Remembered (boundedly) so a later trace update knows its root has gone.
                roots[record.trace_id] = record.timestamp_ns
                if len(roots) > _ROOTS_REMEMBERED:
                    roots.popitem(last=False)
        self._ledger.delivered += len(items)

    def _exhausted(self, item: Item) -> bool:
        if item.attempts <= self._config.max_retries:
            return False
        status, message, error = item.last_error
        self._active.pop(item.seq, None)
        self._ledger.finish(
            event_error(
                item.record,
                "retries_exhausted",
                f"gave up after {item.attempts} attempts: {message}",
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
                self._active.pop(item.seq, None)
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

    async def dispatch_reports(self) -> None:
        """Hand every queued report to ``on_error``, in order."""
        reports = self._ledger.reports
        if self._ledger.reports_lost and "reports_lost" not in self._warned:
            self._warned.add("reports_lost")
            logger.warning(
                "langfuse_async: on_error could not keep up; some undelivered events were only "
                "counted in statistics(), not passed to on_error"
            )
        while reports:
            error = reports.popleft()
            if self._on_error is None:
                key = "undelivered:" + error.reason
                if key not in self._warned:
                    self._warned.add(key)
                    logger.warning(
                        "langfuse_async: an event was not delivered (%s: %s); pass on_error= "
                        "to see each one, statistics() counts them",
                        error.reason,
                        error.message,
                    )
                continue
            try:
                result = self._on_error(error)
                if inspect.isawaitable(result):
                    with anyio.move_on_after(self._config.timeout):
                        await result
            except Exception:
                if "callback" not in self._warned:
                    self._warned.add("callback")
                    logger.warning("langfuse_async: on_error raised; continuing", exc_info=True)
                else:
                    logger.debug("langfuse_async: on_error raised", exc_info=True)
