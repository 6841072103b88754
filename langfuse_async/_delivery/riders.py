"""OTLP trace updates not settled yet: riding on spans in flight, or waiting for a span.

On the OTLP route a trace update has no span of its own: it rides on every span of its trace
that ends after it (see :func:`.batching.plan_otlp`), and is in no request's items. It is
delivered once any span that carried it is delivered. It fails only when none was: every span
that carried it failed for good, and no span still to come can carry it. One made after its
trace's root ended, while another observation of the trace was open
(``TraceRecord.span_open``), may still be carried by that observation's span, which may come
many cycles later: it waits for it (parked), and is reported when the client closes with no
span to come. The decisions are pure functions (:func:`settle_rides`); :class:`Riders` keeps
the book and applies them.

Every update stays held by :class:`~.inflight.InFlight` until settled (it counts against the
queue's bounds like every event taken); one waiting for a span is parked there
(:meth:`~.inflight.InFlight.park`), so that a flush does not wait for it: the span may end hours
later. Parked ones hold at most a share of the bounds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from .._outcomes import EventError, Reason
from .batching import UNCARRIED_MESSAGE, Plan, may_ride_later
from .inflight import InFlight, Item
from .ledger import event_error

__all__ = [
    "CARRIERS_FAILED_MESSAGE",
    "HELD_FULL_MESSAGE",
    "HELD_SHARE",
    "Ride",
    "RideSettlement",
    "Riders",
    "carriers_failed",
    "settle_rides",
]

#: The share of the bounds (``max_queue_size``, ``max_queue_bytes``) the waiting updates may
#: hold at most: the rest stays for the events that bring their spans, which could not be
#: taken from the queue otherwise.
HELD_SHARE = 10

HELD_FULL_MESSAGE = (
    "dropped while waiting for a span of its trace to carry it over OTLP: more trace updates "
    "waited for spans than a tenth of max_queue_size or max_queue_bytes allows"
)

CARRIERS_FAILED_MESSAGE = "no span that carried this trace update over OTLP was delivered"

#: Added to the report of an update whose spans failed, that waited for a later one in vain.
_NONE_LATER = "; no later span of its trace carried it before the client closed"


class Ride:
    """One trace update not settled yet, and the spans carrying it.

    A plain class with slots, not a dataclass: one is made for every update a plan places,
    and a dataclass's ``__init__`` with a field factory costs several times as much.

    Attributes:
        item: The update.
        trace_id: Its trace.
        carriers: The spans carrying it whose outcome is not final yet (in a request, or
            waiting for a retry), by ``id()``. Empty: it waits for a span (parked).
        possibly: A request of a span that carried it and failed may have been stored.
        failure: Its report, should no span carry it any more: the last carrier's failure
            (None while none failed).
    """

    __slots__ = ("carriers", "failure", "item", "possibly", "trace_id")

    def __init__(self, item: Item, carriers: dict[int, Item] | None = None) -> None:
        self.item = item
        self.trace_id: str = getattr(item.record, "trace_id", "")
        self.carriers: dict[int, Item] = {} if carriers is None else carriers
        self.possibly = False
        self.failure: EventError | None = None

    def __repr__(self) -> str:
        return f"<Ride {self.item!r} on {len(self.carriers)} spans>"


@dataclasses.dataclass(frozen=True, slots=True)
class RideSettlement:
    """What becomes of the trace updates riding on the spans of one request's outcome.

    Attributes:
        delivered: Updates a delivered span carried (delivered, each once).
        failed: Updates every carrier of which failed for good, with their report.
        waiting: Updates every carrier of which failed for good, that a span still to come
            may carry: they wait for it, the report kept for when the client closes.
    """

    delivered: Sequence[Item] = ()
    failed: Sequence[tuple[Item, EventError]] = ()
    waiting: Sequence[tuple[Item, EventError]] = ()


_NOTHING = RideSettlement()


def carriers_failed(rider: Item, span: Item, error: EventError, *, possibly: bool) -> EventError:
    """The report of ``rider`` when ``span``, the last span carrying it, failed with ``error``.

    It names the update (its own envelope id and type) and keeps the carrier's reason,
    status and the server's detail: the update was not delivered for the same cause.
    """
    record = span.record
    return event_error(
        rider.record,
        error.reason,
        f"{CARRIERS_FAILED_MESSAGE}; the last one ({record.event_type} {record.body_id}) "
        f"failed: {error.message}",
        status=error.status,
        error=error.error,
        possibly_delivered=possibly,
    )


def settle_rides(
    carrying: Mapping[int, Sequence[Ride]],
    delivered: Sequence[Item],
    failed: Sequence[tuple[Item, EventError]],
) -> RideSettlement:
    """Decide what becomes of the updates riding on spans whose outcome is now final.

    Pure: it changes no ride. An update is delivered when any span carrying it is (whatever
    else failed, before or in the same outcome). When every span still carrying it failed
    here, it fails with the report of the last one, unless a later span of its trace may
    still carry it (:func:`~.batching.may_ride_later`): then it waits for one.

    Args:
        carrying: The rides on each span, by the span's ``id()``.
        delivered: Spans delivered.
        failed: Spans failed for good, with their reports.
    """
    settled: set[int] = set()
    done: list[Item] = []
    for span in delivered:
        for ride in carrying.get(id(span), ()):
            if id(ride) not in settled:
                settled.add(id(ride))
                done.append(ride.item)
    if not failed:
        return RideSettlement(delivered=done) if done else _NOTHING
    errors = {id(span): error for span, error in failed}
    lost: list[tuple[Item, EventError]] = []
    waiting: list[tuple[Item, EventError]] = []
    for span, error in reversed(failed):  # each reported with the last of its carriers
        for ride in carrying.get(id(span), ()):
            if id(ride) in settled or not ride.carriers.keys() <= errors.keys():
                continue  # delivered, reported already, or another span still carries it
            settled.add(id(ride))
            possibly = ride.possibly or any(errors[c].possibly_delivered for c in ride.carriers)
            report = carriers_failed(ride.item, span, error, possibly=possibly)
            if may_ride_later(ride.item.record):
                waiting.append((ride.item, report))
            else:
                lost.append((ride.item, report))
    lost.reverse()
    waiting.reverse()
    return RideSettlement(delivered=done, failed=lost, waiting=waiting)


@dataclasses.dataclass(slots=True)
class Placed:
    """What follows from a plan for the trace updates: delivered now, or reported now."""

    delivered: list[Item] = dataclasses.field(default_factory=list)
    failed: list[tuple[Item, EventError]] = dataclasses.field(default_factory=list)


class Riders:
    """The trace updates not settled yet, by ``id()``, and the spans carrying each.

    Args:
        inflight: Holds them (and counts them); parks those waiting for a span.
        max_queue_size: The configured count bound.
        max_queue_bytes: The configured byte bound.
    """

    def __init__(self, inflight: InFlight, *, max_queue_size: int, max_queue_bytes: int) -> None:
        self._inflight = inflight
        self._rides: dict[int, Ride] = {}
        self._carrying: dict[int, list[Ride]] = {}
        """The rides on each span whose outcome is not final yet, by the span's ``id()``."""
        self._traces: dict[str, list[Ride]] = {}
        """The rides of each trace: only a span of its trace can carry an update."""
        self._max_count = max(1, max_queue_size // HELD_SHARE)
        self._max_bytes = max_queue_bytes // HELD_SHARE

    def __len__(self) -> int:
        return len(self._rides)

    def __bool__(self) -> bool:
        return bool(self._rides)

    def ids(self) -> set[int]:
        """The ``id()`` of each update not settled yet."""
        return set(self._rides)

    def items(self) -> list[Item]:
        """The updates not settled yet, oldest first."""
        return sorted((ride.item for ride in self._rides.values()), key=_seq_of)

    def offer(self, items: Sequence[Item]) -> list[Item]:
        """The updates not settled yet that a span of ``items`` may carry, oldest first.

        Placed again with a cycle's spans: only those of a trace with a span among them can
        gain a carrier (or be delivered); for the others the plan would change nothing. One
        look-up per span rather than a new placement of every update riding on a request in
        flight, at every cycle.
        """
        traces = self._traces
        offered: dict[int, Item] = {}
        for item in items:
            if item.span is not None:
                rides = traces.get(getattr(item.record, "trace_id", ""))
                if rides is not None:
                    for ride in rides:
                        offered[id(ride)] = ride.item
        return sorted(offered.values(), key=_seq_of)

    def carriers(self, item: Item) -> list[Item]:
        """The spans carrying ``item`` whose outcome is not final yet."""
        ride = self._rides.get(id(item))
        return [] if ride is None else list(ride.carriers.values())

    def place(self, plan: Plan) -> Placed:
        """Note which spans of ``plan`` carry which update; say what is settled already.

        An update carried by a span of the plan rides on it (and on those it rode on
        before, still in flight). One no span of the plan carries: delivered when a root
        delivered carried it; otherwise, while a span of an earlier plan still carries it,
        nothing changes; else it waits for a span (parked, within the share of the bounds:
        the oldest past it are reported), or is reported as carried by no span.
        """
        rides, carrying, inflight = self._rides, self._carrying, self._inflight
        placed = Placed()
        for rider, spans in plan.carried:
            ride = rides.get(id(rider))
            if ride is None:
                ride = self._add(rider)
            if rider.held:
                inflight.unpark(rider)
            carriers = ride.carriers
            for span in spans:
                key = id(span)
                if key not in carriers:
                    carriers[key] = span
                    on_span = carrying.get(key)
                    if on_span is None:
                        carrying[key] = [ride]
                    else:
                        on_span.append(ride)
        for rider in plan.delivered:
            self._forget(rider)
            placed.delivered.append(rider)
        for rider, message in plan.late:
            ride = rides.get(id(rider))
            if ride is not None and ride.carriers:
                continue  # spans of an earlier plan still carry it
            self._forget(rider)
            placed.failed.append((rider, _report(rider, ride, "rejected", message)))
        for rider in plan.held:
            ride = rides.get(id(rider))
            if ride is None:
                ride = self._add(rider)
            elif ride.carriers:
                continue
            inflight.park(rider)
        placed.failed.extend(self._evict())
        return placed

    def settle(
        self,
        delivered: Sequence[Item],
        failed: Sequence[tuple[Item, EventError]],
        retry: Sequence[Item] = (),
    ) -> RideSettlement:
        """Apply the outcome of spans to the updates riding on them (see :func:`settle_rides`).

        Updates delivered or failed leave the book (the caller counts and reports them);
        those that wait for a later span are parked, their report kept. An update riding on
        a span to be retried counts one more attempt (its next request re-sends it).
        """
        carrying = self._carrying
        if not carrying:
            return _NOTHING
        out = settle_rides(carrying, delivered, failed)
        for item in out.delivered:
            self._forget(item)
        for item, _ in out.failed:
            self._forget(item)
        for span in delivered:
            carrying.pop(id(span), None)  # every ride on it was delivered
        for span, error in failed:
            for ride in carrying.pop(id(span), ()):
                del ride.carriers[id(span)]
                ride.possibly = ride.possibly or error.possibly_delivered
        for item, report in out.waiting:
            ride = self._rides[id(item)]
            ride.failure = report
            self._inflight.park(item)
        if retry:
            seen: set[int] = set()
            for span in retry:
                for ride in carrying.get(id(span), ()):
                    if id(ride) not in seen:
                        seen.add(id(ride))
                        ride.item.attempts += 1
        if out.waiting:
            return dataclasses.replace(out, failed=[*out.failed, *self._evict()])
        return out

    def resent(self, batch: Sequence[Item]) -> int:
        """How many updates riding on ``batch``'s spans it sends again after a retryable failure."""
        carrying = self._carrying
        seen: set[int] = set()
        for span in batch:
            for ride in carrying.get(id(span), ()):
                if ride.item.attempts:
                    seen.add(id(ride))
        return len(seen)

    def give_up(self) -> list[tuple[Item, EventError]]:
        """Report the updates waiting for a span: none can come any more (the client closes)."""
        reports: list[tuple[Item, EventError]] = []
        for item in self._inflight.parked():
            ride = self._rides.get(id(item))
            self._forget(item)
            report = _report(item, ride, "rejected", UNCARRIED_MESSAGE)
            if ride is not None and report is ride.failure:
                report = dataclasses.replace(report, message=report.message + _NONE_LATER)
            reports.append((item, report))
        return reports

    def clear(self) -> None:
        """Forget every update (they are put back to the queue, or reported by the caller).

        One that rode on a request that may have been stored is marked so
        (:attr:`~.inflight.Item.maybe_sent`): its report, if it comes, says so.
        """
        for ride in self._rides.values():
            if ride.possibly or any(span.maybe_sent for span in ride.carriers.values()):
                ride.item.maybe_sent = True
            self._inflight.unpark(ride.item)
        self._rides.clear()
        self._carrying.clear()
        self._traces.clear()

    def _add(self, item: Item) -> Ride:
        ride = self._rides[id(item)] = Ride(item)
        same_trace = self._traces.get(ride.trace_id)
        if same_trace is None:
            self._traces[ride.trace_id] = [ride]
        else:
            same_trace.append(ride)
        return ride

    def _forget(self, item: Item) -> None:
        ride = self._rides.pop(id(item), None)
        if ride is None:
            return
        if item.held:
            self._inflight.unpark(item)
        trace_id = ride.trace_id
        same_trace = self._traces.get(trace_id)
        if same_trace is not None:
            same_trace.remove(ride)
            if not same_trace:
                del self._traces[trace_id]
        carrying = self._carrying
        for key in ride.carriers:
            rides = carrying.get(key)
            if rides is not None:
                rides.remove(ride)
                if not rides:
                    del carrying[key]

    def _evict(self) -> list[tuple[Item, EventError]]:
        """Report the oldest parked updates past the share of the bounds (one always may wait).

        An update whose spans failed is reported with their failure; any other as dropped.
        """
        inflight = self._inflight
        if inflight.holding <= self._max_count and inflight.parked_bytes <= self._max_bytes:
            return []
        evicted: list[tuple[Item, EventError]] = []
        for item in inflight.parked():
            if inflight.holding <= 1 or (
                inflight.holding <= self._max_count and inflight.parked_bytes <= self._max_bytes
            ):
                break
            ride = self._rides.get(id(item))
            self._forget(item)
            evicted.append((item, _report(item, ride, "queue_full", HELD_FULL_MESSAGE)))
        return evicted


def _report(item: Item, ride: Ride | None, reason: Reason, message: str) -> EventError:
    """The report of an update no span will deliver: its carriers' failure, if spans failed."""
    if ride is not None and ride.failure is not None:
        return ride.failure
    return event_error(item.record, reason, message, possibly_delivered=item.maybe_sent)


def _seq_of(item: Item) -> int:
    return item.seq
