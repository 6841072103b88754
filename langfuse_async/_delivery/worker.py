"""The delivery loop: take events, plan requests, send them, settle the outcomes, sleep.

One worker task runs per event loop. It sleeps on an event while idle (no busy loop), and sends
when ``flush_at`` events wait, the oldest has waited ``flush_interval``, a flush waits, or a
retry is due. Each step lives in a module of its own: :mod:`.prepare` encodes an item for its
route, :mod:`.batching` plans the requests, a :class:`~.sender.Sender` sends one, :mod:`.settle`
decides what follows; the worker applies those decisions to the :class:`~.ledger.Ledger` and the
:class:`~.inflight.InFlight` items. Reports go to :class:`~.reports.Reports`, whose task runs
beside this one, so a slow ``on_error`` never delays sending.

An unexpected exception while sending (a bug) is logged once and treated like a failed attempt
of the events involved: they are retried, then reported, and the worker goes on.

It is longer than the other modules (about 700 lines) because its lifecycle (start, stop, fork,
reroute, abandon), its cycle and its request tasks share the same state (the queue, the items
in flight, the requests, the trace updates riding or waiting in :mod:`.riders`); every
decision made in a cycle already lives in a pure module of its own.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections import deque
from collections.abc import Sequence

import anyio

try:
    # anyio imports its asyncio backend when first used, about 15 ms of work: imported with
    # the package instead, so that a client's first flush() or idle worker does not stall the
    # event loop that long.
    import anyio._backends._asyncio
except ImportError:  # a future anyio that moved it: first use imports it, as before
    pass

from .._clock import now_ns
from .._config import Config
from .._outcomes import EventError, Reason
from .._records import Record
from .._wire.context import WireContext
from .batching import SentRoots, plan_ingestion, plan_otlp
from .http import HttpClient
from .inflight import InFlight, Item
from .ledger import Ledger, event_error
from .pacing import turn_seconds
from .prepare import Prepared, prepare_items
from .queue import EventQueue
from .reports import Reports, finish_task
from .riders import Riders
from .routing import Route, probe_route
from .sender import Retry, Sender, SendOutcome
from .settle import Settlement, settle

__all__ = ["Worker"]

logger = logging.getLogger("langfuse_async")

#: How many events one send cycle takes from the queue at most; batches are then cut by bytes.
_TAKE_LIMIT = 256

_perf_counter = time.perf_counter


class _Request:
    """One request in flight: its batch, route and the task that sends it."""

    __slots__ = ("batch", "body_bytes", "dest", "task")

    def __init__(
        self, batch: Sequence[Item], dest: Route, task: asyncio.Task[SendOutcome], body_bytes: int
    ) -> None:
        self.batch = batch
        self.dest = dest
        self.task = task
        self.body_bytes = body_bytes
        """The encoded bytes the request's body copies, held until it is settled."""


class Worker:
    """Moves records from the queue to the server and settles each one in the ledger.

    Args:
        config: The client's configuration.
        queue: Where the producers put records.
        ledger: Counts every event's end.
        reports: Takes the reports; its task starts and stops with the worker's.
        sender: Sends one batch on one route.
        http: For the route probes; closed when the worker ends.
        ctx: Client-level facts for the encoders.
    """

    def __init__(
        self,
        *,
        config: Config,
        queue: EventQueue,
        ledger: Ledger,
        reports: Reports,
        sender: Sender,
        http: HttpClient,
        ctx: WireContext,
    ) -> None:
        self._config = config
        self._queue = queue
        self._ledger = ledger
        self._reports = reports
        self._sender = sender
        self._http = http
        self._ctx = ctx
        self.route: Route | None = None if config.transport == "auto" else config.transport
        self.inflight = InFlight(
            max_count=config.max_queue_size,
            max_bytes=config.max_queue_bytes,
            max_retries=config.max_retries,
            backoff_base=config.backoff_base,
            backoff_max=config.backoff_max,
        )
        self._roots = SentRoots()
        self._riders = Riders(
            self.inflight,
            max_queue_size=config.max_queue_size,
            max_queue_bytes=config.max_queue_bytes,
        )
        """OTLP trace updates not settled yet: riding on spans in flight, or waiting for a
        span of their trace (an observation open when they were made; a flush does not wait
        for those)."""
        self.closing = False
        """Set by the pipeline's shutdown: once nothing else is left to send, no span can come
        any more for the trace updates held, and they are reported."""
        self._requests: deque[_Request] = deque()
        """Requests in flight, oldest first; settled in this order (at most
        ``max_concurrent_requests``)."""
        self._head_mark: tuple[int, float] = (0, 0.0)
        """(seq, monotonic time) when the worker first saw that event at the head of the queue."""
        self.flush_waiters = 0
        """Flushes waiting: while any does, every queued event is due."""
        self._stopping = False
        self._warned: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._progress: asyncio.Event | None = None
        self._generation = 0
        """Bumped by every start: a task of an earlier loop that wakes up again touches nothing."""
        self.live = False
        """True from start until the task ends: lets ``emit`` skip every check in steady state."""
        self._slice_end = 0.0
        """When the worker's current turn on the loop should end (see :meth:`_pace`)."""

    def __repr__(self) -> str:
        return (
            f"<Worker route={self.route or 'undecided'} queued={len(self._queue)} "
            f"active={len(self.inflight)} running={self.running}>"
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

    @property
    def progress(self) -> asyncio.Event | None:
        """Set whenever events settle or reports are handed over (flush waits on it)."""
        return self._progress

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the worker and reports tasks on ``loop`` (the running loop of the caller)."""
        self._generation += 1
        if self.inflight:
            # Left over from a loop that was closed without cancelling our task.
            self._put_back()
        self._loop = loop
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._stopping = False
        self.live = True
        # A fresh context: the task must not keep (or act inside) whatever trace the code that
        # happened to start it was in.
        self._task = contextvars.Context().run(
            loop.create_task, self._run(self._generation), name="langfuse_async-worker"
        )
        self._task.add_done_callback(self._task_done)
        self._reports.start(loop, self._signal_progress)

    def _put_back(self) -> None:
        self._drop_requests()
        self._riders.clear()
        inflight = self.inflight
        items = inflight.clear()
        roots = {item.seq for item in items if not item.derived}
        entries: list[tuple[int, Record]] = []
        for item in items:
            if item.derived and item.seq in roots:
                # Its root goes back too and brings it again: not an event of its own twice.
                self._ledger.derived -= 1
                continue
            if item.maybe_sent:
                inflight.maybe_sent.add(item.record.event_id)
            entries.append((item.seq, item.record))
        self._queue.put_back(entries)

    def _drop_requests(self) -> None:
        """Forget the requests in flight, cancelling those of a loop still open.

        Their events stay held (to be put back or reported by the caller), marked as possibly
        delivered: a request in flight may have reached the server.
        """
        requests, self._requests = self._requests, deque()
        inflight = self.inflight
        for request in requests:
            inflight.request_bytes = max(0, inflight.request_bytes - request.body_bytes)
            for item in request.batch:
                item.maybe_sent = True
            task = request.task
            if not task.done() and not task.get_loop().is_closed():
                task.cancel()

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
        """Ask the worker to finish, then the reports task; cancel what is left after ``timeout``.

        Call it on the worker's loop. From another loop (the worker's loop stopped or stuck,
        see ``Pipeline``) it only asks: a task of another loop cannot be awaited.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        task = self._task
        if task is not None and not task.done():
            self._stopping = True
            if task.get_loop() is not asyncio.get_running_loop():
                self.wake_threadsafe()
                return
            self.wake()
            await finish_task(task, deadline)
        await self._reports.stop(deadline)

    def detach(self) -> None:
        """Forget the loop and tasks without touching them (used in a forked child)."""
        self._generation += 1
        self.live = False
        self._task = None
        self._loop = None
        self._wake = None
        self._progress = None
        self._reports.detach()
        self._requests.clear()  # tasks of the parent's loop: not ours to touch
        self._riders.clear()
        self.inflight.clear()

    def abandon(self, reason: Reason, message: str) -> int:
        """Settle every unsettled event as dropped with ``reason``; return how many."""
        self._drop_requests()  # their outcomes must not settle these events a second time
        self._riders.clear()
        inflight = self.inflight
        items = inflight.clear()
        for item in items:
            self._ledger.finish(
                event_error(item.record, reason, message, possibly_delivered=item.maybe_sent)
            )
        entries = self._queue.clear()
        maybe_sent = inflight.maybe_sent
        for _, record in entries:
            self._ledger.finish(
                event_error(
                    record, reason, message, possibly_delivered=record.event_id in maybe_sent
                )
            )
        maybe_sent.clear()
        return len(items) + len(entries)

    # ----------------------------------------------------------------- the loop

    async def _run(self, generation: int) -> None:
        try:
            if self.route is None:
                try:
                    route, why = await probe_route(self._http, self._config.base_url)
                except Exception:
                    logger.debug("route probes failed", exc_info=True)
                    route, why = "ingestion", "default (the probes failed)"
                self._set_route(route, why)
            inflight = self.inflight
            requests = self._requests
            self._new_turn()
            while generation == self._generation:  # a later start() took over: step aside
                await self._pace()
                # Settle the requests that came back, in the order they were sent.
                while requests and requests[0].task.done():
                    await self._settle_oldest()
                    await self._pace()
                if (
                    inflight.holding
                    and (self._stopping or self.closing)
                    and not self._queue
                    and len(inflight) == inflight.holding
                ):
                    # Closing, and nothing else left to send: no span of their traces can
                    # come any more (the open observations were ended and sent first).
                    self._give_up_held()
                if self._reports:
                    self._reports.kick()
                self._signal_progress()
                now = time.monotonic()
                if self._stopping and not self._queue and not inflight:
                    break
                if inflight.pause_until > now:
                    await self._sleep(inflight.pause_until - now)
                    self._new_turn()
                    continue
                # A cycle handles one take's worth: a backlog of retries is many cycles.
                due = inflight.due(now, _TAKE_LIMIT)
                if due or self._batch_ready(now):
                    try:
                        await self._cycle(due)
                    except Exception as exc:  # a bug: settle what it touched, keep going
                        self._recover(exc)
                    continue
                deadline = self._next_deadline(now)
                if requests and not self._has_room():
                    # Nothing can be taken before a request comes back: wait for it (or a
                    # retry's time), not for the wakes of every new event.
                    await asyncio.wait((requests[0].task,), timeout=deadline)
                    self._new_turn()
                    continue
                await self._sleep(deadline)
                self._new_turn()
        except asyncio.CancelledError:
            # The loop is closing (asyncio.run teardown) or shutdown gave up: keep what was
            # taken so the next loop, or the exit hook, can still send it.
            if generation == self._generation:
                self._put_back()
            raise
        finally:
            if generation == self._generation:
                self._drop_requests()
                self.live = False
                self._reports.close()
                self._signal_progress()
                await self._http.aclose()

    async def _cycle(self, due: list[Item]) -> None:
        """Take what is queued, give each item its bytes, and send each route's batches."""
        inflight = self.inflight
        # One take's worth a cycle, due retries first: planning and settling stay short.
        room = _TAKE_LIMIT - len(due)
        items = due + inflight.take(self._queue, room) if room > 0 else due
        route, ctx, limit = self.route, self._ctx, self._config.max_event_bytes
        prepared = Prepared()
        index, count = 0, len(items)
        # Encoding hundreds of events takes milliseconds: encode in slices and let the other
        # tasks run in between, so the worker never stalls the event loop.
        while index < count:
            if _perf_counter() > self._slice_end:
                await self._pace()
            try:
                index = prepare_items(items, index, route, ctx, limit, self._slice_end, prepared)
            finally:
                self._apply_prepared(prepared)  # before any wait: the bounds see every byte
        await self._pace()
        if prepared.ingestion:
            await self._send_all(prepared.ingestion, "ingestion")
        if prepared.otlp:
            await self._send_all(prepared.otlp, "otlp")

    def _apply_prepared(self, prepared: Prepared) -> None:
        """Hold the trace-creates made for roots, charge the bytes, report the refused."""
        inflight = self.inflight
        if prepared.held:
            # A root's trace-create: one more event each, settled and counted on its own.
            inflight.hold(prepared.held)
            self._ledger.derived += len(prepared.held)
            prepared.held.clear()
        inflight.charge(prepared.charged)
        prepared.charged = 0
        if prepared.refused:
            for item, reason, message in prepared.refused:
                self._drop(item, reason, message)
            prepared.refused.clear()
        if prepared.truncated:
            for item in prepared.truncated:
                self._count_truncated(item)
            prepared.truncated.clear()

    async def _send_all(self, items: list[Item], dest: Route) -> None:
        config = self._config
        # flush_at is the trigger, not a cap: a backlog is cut by bytes, so 50,000 waiting
        # events cost tens of requests, not hundreds.
        max_count = max(config.flush_at, len(items))
        if dest == "otlp":
            riders = self._riders
            if riders:
                # Placed again with this cycle's spans of their traces: one may carry them
                # now (or too).
                items = items + riders.offer(items)
            plan = plan_otlp(
                items,
                max_bytes=config.max_batch_bytes,
                max_count=max_count,
                ctx=self._ctx,
                roots=self._roots,
            )
        else:
            plan = plan_ingestion(
                items, max_bytes=config.max_batch_bytes, max_count=max_count, ctx=self._ctx
            )
        for item in plan.oversize:
            self._drop(item, "oversize", f"request would exceed {config.max_batch_bytes} bytes")
        if plan.carried or plan.delivered or plan.late or plan.held:
            # Before any request goes: its outcome settles the updates riding on it.
            placed = self._riders.place(plan)
            if placed.delivered:
                self._deliver(placed.delivered)
            for item, error in placed.failed:
                self._fail(item, error)
        for batch in plan.batches:
            await self._pace()
            await self._launch(batch, dest)

    async def _launch(self, batch: Sequence[Item], dest: Route) -> None:
        """Start sending ``batch``, first settling the oldest requests while all slots are taken.

        The request runs as a task of its own; the loop settles it once it is done, in the order
        the requests were sent, so reports and statistics do not depend on which reply came
        first.
        """
        requests, limit = self._requests, self._config.max_concurrent_requests
        while len(requests) >= limit:
            await self._settle_oldest()
        inflight = self.inflight
        if inflight.pause_until > time.monotonic():  # an earlier request says: wait
            inflight.schedule(batch, inflight.pause_until)
            return
        task = asyncio.get_running_loop().create_task(self._request(batch, dest))
        task.add_done_callback(self._request_done)
        # Each item was prepared this cycle: its size is its record's as taken plus its wire
        # bytes (prepare_items), so the difference is what the body copies of it.
        body_bytes = sum([item.size for item in batch]) - sum([item.taken_size for item in batch])
        inflight.request_bytes += body_bytes
        requests.append(_Request(batch, dest, task, body_bytes))

    def _request_done(self, task: asyncio.Task[SendOutcome]) -> None:
        self.wake()

    def _has_room(self) -> bool:
        """Whether a cycle may take more events: room in the bounds and a request slot."""
        return (
            self.inflight.has_room() and len(self._requests) < self._config.max_concurrent_requests
        )

    def _in_requests(self) -> set[int]:
        """The ids (``id()``) of the items in requests still in flight."""
        return {id(item) for request in self._requests for item in request.batch}

    async def _settle_oldest(self) -> None:
        """Wait for the oldest request in flight, settle it, and send what the settling says."""
        request = self._requests[0]
        batch, dest = request.batch, request.dest
        try:
            out = await asyncio.shield(request.task)
        except asyncio.CancelledError:
            if not request.task.cancelled():
                raise  # the worker itself is cancelled: the caller puts everything back
            out = None
        except Exception as exc:  # a bug in the request: only this batch pays for it
            self._pop_oldest()
            self._recover(exc, batch)
            return
        self._pop_oldest()
        if out is None:  # cancelled without the worker being cancelled: retry like a failure
            for item in batch:
                item.maybe_sent = True
            self._recover(RuntimeError("request cancelled"), batch)
            return
        try:
            settlement = self._settle(out, batch, dest)
            self._apply(settlement)
        except Exception as exc:  # a bug: only this batch pays for it
            self._recover(exc, batch)
            return
        if settlement.resend:
            await self._send_now(list(reversed(settlement.resend)), dest)

    def _pop_oldest(self) -> None:
        request = self._requests.popleft()
        inflight = self.inflight
        inflight.request_bytes = max(0, inflight.request_bytes - request.body_bytes)

    async def _send_now(self, todo: list[Sequence[Item]], dest: Route) -> None:
        """Send the batches of ``todo`` (last first) one by one, settling each (413 halves)."""
        while todo:
            batch = todo.pop()
            try:
                out = await self._request(batch, dest)
                settlement = self._settle(out, batch, dest)
                self._apply(settlement)
                todo.extend(reversed(settlement.resend))  # depth first: halves in order
            except Exception as exc:  # a bug: only this batch pays for it
                self._recover(exc, batch)

    async def _request(self, batch: Sequence[Item], dest: Route) -> SendOutcome:
        ledger = self._ledger
        ledger.retries += sum(1 for item in batch if item.attempts)
        if self._riders:  # the trace updates riding on its spans are sent again too
            ledger.retries += self._riders.resent(batch)
        ledger.requests += 1
        started = time.monotonic()
        out = await self._sender.send(batch, dest)
        ledger.bytes_sent += out.bytes_sent
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
        return out

    def _settle(self, out: SendOutcome, batch: Sequence[Item], dest: Route) -> Settlement:
        config = self._config
        return settle(
            out,
            batch,
            dest,
            max_retries=config.max_retries,
            may_reroute=config.transport == "auto",
            base_url=config.base_url,
        )

    def _apply(self, settlement: Settlement) -> None:
        """Carry out the decisions about one request's events (all but sending again)."""
        for item in settlement.maybe_sent:
            item.maybe_sent = True
        if settlement.delivered:
            self._deliver(settlement.delivered)
        inflight = self.inflight
        for item, error in settlement.failed:
            self._fail(item, error)
        if self._riders:
            # The trace updates riding on these spans: delivered with any one of them.
            rides = self._riders.settle(settlement.delivered, settlement.failed, settlement.retry)
            if rides.delivered:
                self._deliver(rides.delivered)
            for item, error in rides.failed:
                self._fail(item, error)
        for key, message in settlement.warnings:
            if key not in self._warned:
                self._warned.add(key)
                logger.warning("%s", message)
        if settlement.reroute:
            self._set_route("otlp", "the ingestion route rejected an event type as not accepted")
            # Same records, same envelope ids: they go out again, now as OTLP spans.
            inflight.schedule(settlement.reroute, 0.0)
        if settlement.retry:
            inflight.retry_later(
                settlement.retry,
                attempt=settlement.attempt,
                retry_after=settlement.retry_after,
                pause=settlement.pause,
                now=time.monotonic(),
            )

    def _recover(self, exc: Exception, scope: Sequence[Item] | None = None) -> None:
        """Treat an unexpected exception as a failed attempt of the events it caught unsettled.

        ``scope`` is the batch whose request or settling failed; without it, the whole cycle
        failed, and between cycles every held event waits for its retry, so the others were
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
        inflight = self.inflight
        # Items waiting for a retry, riding in a request still in flight or waiting for a
        # span of their trace are not orphans.
        waiting = inflight.waiting() | self._in_requests() | self._riders.ids()
        candidates = inflight.items() if scope is None else scope
        orphans = [item for item in candidates if id(item) not in waiting and inflight.holds(item)]
        if not orphans:  # nothing to blame: do not spin on the same fault
            inflight.pause(time.monotonic() + self._config.backoff_base)
            return
        message = f"internal error: {exc!r}"
        out = SendOutcome(retry=[Retry(item, None, message) for item in orphans])
        self._apply(self._settle(out, orphans, self.route or "ingestion"))

    def _give_up_held(self) -> None:
        """Report the trace updates waiting for a span: none can come any more."""
        for item, error in self._riders.give_up():
            self._fail(item, error)

    def _deliver(self, items: Sequence[Item]) -> None:
        self.inflight.release_all(items)
        # Remembered (boundedly) so a later trace update knows its root has gone; only the OTLP
        # route has such updates.
        if self._config.transport != "ingestion":
            self._roots.remember(items)
        self._ledger.delivered += len(items)

    def _fail(self, item: Item, error: EventError) -> None:
        """Settle ``item`` as failed or dropped, with ``error`` as its one report."""
        self.inflight.release(item)
        self._ledger.finish(error)

    def _drop(self, item: Item, reason: Reason, message: str) -> None:
        self._fail(
            item, event_error(item.record, reason, message, possibly_delivered=item.maybe_sent)
        )

    def _count_truncated(self, item: Item) -> None:
        self._ledger.truncated += 1
        if "truncated" not in self._warned:
            self._warned.add("truncated")
            logger.warning(
                "a %s event was larger than max_event_bytes (%d): its largest input, output or "
                "metadata was replaced by the truncation marker (statistics().truncated counts "
                "such events)",
                item.record.event_type,
                self._config.max_event_bytes,
            )

    def _set_route(self, route: Route, why: str) -> None:
        if self.route != route:
            self.route = route
            logger.info("sending traces and observations via the %s route: %s", route, why)

    # ----------------------------------------------------------------- sleeping

    async def _pace(self) -> None:
        """Let the other tasks run when this turn on the loop has lasted its slice.

        Every step of the worker (taking, encoding, planning, launching, settling) checks in
        here between units of work, so no turn holds the event loop for much longer than
        :mod:`.pacing` allows, whatever the backlog (a turn used to chain a cycle's last
        slice, its planning, a settling and the next cycle's first slice).
        """
        if _perf_counter() > self._slice_end:
            await asyncio.sleep(0)
            self._new_turn()

    def _new_turn(self) -> None:
        """Start a turn on the loop: after a real wait, or after yielding for one."""
        self._slice_end = _perf_counter() + turn_seconds(self._queue.fill())

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
        if n >= self._config.flush_at or self.flush_waiters or self._stopping:
            return True
        waited = self._head_wait(now)
        return waited is not None and waited >= self._config.flush_interval

    def _next_deadline(self, now: float) -> float | None:
        deadlines: list[float] = []
        waited = self._head_wait(now) if self._has_room() else None
        if waited is not None:
            deadlines.append(max(0.0, self._config.flush_interval - waited))
        next_due = self.inflight.next_due()
        if next_due is not None:
            deadlines.append(max(0.0, next_due - now))
        return min(deadlines) if deadlines else None
