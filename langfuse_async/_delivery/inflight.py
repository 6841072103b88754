"""The events in flight: taken from the queue, not settled yet; their bounds, retries and pause.

Every event taken from the queue stays here until its outcome is final, so a loop that closes
mid-flight puts it back rather than losing it. What is held counts against the same bounds as
the queue, so events waiting for a retry cannot grow memory past the configuration.
"""

from __future__ import annotations

import logging
import operator
import random
from collections.abc import Iterable, Sequence

import msgspec

from .._records import Record
from . import retry as _retry
from .queue import EventQueue

__all__ = ["InFlight", "Item"]

logger = logging.getLogger("langfuse_async")


class Item(msgspec.Struct, kw_only=False, eq=False, gc=False):
    """A record taken from the queue, with its wire bytes and retry state.

    A struct the cycle collector does not track: it holds only a record (untracked too), bytes
    and numbers, so it cannot be part of a reference cycle. Thousands are held while requests
    are in flight; tracked, they would be promoted to the oldest generation and bring on the
    full collections that stall the event loop for tens of milliseconds.
    """

    seq: int
    record: Record
    derived: bool = False
    """Made by the worker, not taken from the queue: the ``trace-create`` a root observation
    brings on the ingestion route (it has its root's ``seq``)."""
    taken_size: int = 0
    """The queue's estimate of the record as taken."""
    size: int = 0
    """What it counts against the bounds until settled: the queue's estimate of the record as
    taken, plus its wire bytes once encoded (see :meth:`InFlight.charge`)."""
    attempts: int = 0
    """Failed attempts so far; the next send is a retry when > 0."""
    not_before: float = 0.0
    """Monotonic time before which the item must not be re-sent."""
    ingestion: bytes | None = None
    span: bytes | None = None
    maybe_sent: bool = False
    """A request that carried it got no complete answer: the server may have stored it."""
    truncated: bool = False
    """Counted in ``statistics().truncated`` already (a rerouted event counts once)."""
    held: bool = False
    """An OTLP trace update waiting for a span of its trace to carry it: a flush does not
    wait for it (the span may end much later); see :class:`~.riders.Riders`. Set and
    cleared only by :meth:`InFlight.park` and :meth:`InFlight.unpark` (and when released)."""

    def __post_init__(self) -> None:
        self.taken_size = self.size = self.record.size

    def __repr__(self) -> str:
        return f"<Item seq={self.seq} {self.record.event_type} attempts={self.attempts}>"


#: An item's ``seq`` (a flush asks for the smallest held one at every step of the worker).
_seq = operator.attrgetter("seq")


def _order(item: Item) -> tuple[int, bool]:
    return item.seq, item.derived


class InFlight:
    """The items held between ``take`` and their settling, by sequence number.

    Also the retry schedule (items waiting for their ``not_before``) and the pause of all
    sending after a whole request failed. Runs on the worker's loop; other threads only read
    (:meth:`count_through`, :meth:`oldest`), on a copy.
    """

    def __init__(
        self,
        *,
        max_count: int,
        max_bytes: int,
        max_retries: int,
        backoff_base: float,
        backoff_max: float,
    ) -> None:
        self._max_count = max_count
        self._max_bytes = max_bytes
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._items: dict[int, Item] = {}
        """By ``id(item)``: a derived item shares its root's ``seq``."""
        self._bytes = 0
        self.request_bytes = 0
        """The bodies of the requests in flight: counted against the byte bound too, since
        each holds a copy of its events' encoded bytes until it is settled."""
        self.maybe_sent: set[str] = set()
        """Envelope ids of events put back to the queue after a request that may have stored
        them: taken again, they keep the mark."""
        self._waiting: list[Item] = []
        self._parked: dict[int, Item] = {}
        """The held items that are trace updates waiting for a span (:attr:`Item.held`), by
        ``id()``: the one record of them, so that their count cannot drift from them."""
        self._parked_bytes = 0
        self.pause_until = 0.0
        """Monotonic time before which nothing is sent (a whole request failed)."""
        self.rng = random.Random()
        """The jitter's random source (a test may fix it)."""

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    @property
    def bytes(self) -> int:
        """The queue's size estimates of the held items."""
        return self._bytes

    @property
    def holding(self) -> int:
        """How many held items are trace updates waiting for a span (:attr:`Item.held`)."""
        return len(self._parked)

    @property
    def parked_bytes(self) -> int:
        """What the trace updates waiting for a span count against the byte bound."""
        return self._parked_bytes

    def parked(self) -> list[Item]:
        """The trace updates waiting for a span, oldest first."""
        return sorted(self._parked.values(), key=_seq)

    def park(self, item: Item) -> None:
        """Mark a held trace update as waiting for a span: a flush does not wait for it.

        Its size must not change while parked (a parked update is not prepared again).
        """
        if id(item) not in self._parked and self.holds(item):
            item.held = True
            self._parked[id(item)] = item
            self._parked_bytes += item.size

    def unpark(self, item: Item) -> None:
        """A trace update no longer waits for a span (a span carries it, or it is settled)."""
        if self._parked.pop(id(item), None) is not None:
            item.held = False
            self._parked_bytes -= item.size

    def items(self) -> list[Item]:
        """The held items, oldest first."""
        return sorted(self._items.values(), key=_order)

    def has_room(self) -> bool:
        """Whether more events may be taken: those held count against the bounds."""
        return (
            len(self._items) < self._max_count
            and self._bytes + self.request_bytes < self._max_bytes
        )

    def take(self, queue: EventQueue, limit: int) -> list[Item]:
        """Take up to ``limit`` of the oldest queued events, within the room left.

        An event held here also holds its encoding, about as large as the record itself:
        records are taken within half the room, so both together stay within the bound.
        """
        count_room = self._max_count - len(self._items)
        byte_room = self._max_bytes - self._bytes - self.request_bytes
        if count_room <= 0 or byte_room <= 0:
            return []
        taken = [
            Item(seq, record)
            for seq, record in queue.take(min(limit, count_room), max(1, byte_room // 2))
        ]
        maybe_sent = self.maybe_sent
        if maybe_sent:
            for item in taken:
                event_id = item.record.event_id
                if event_id in maybe_sent:
                    maybe_sent.discard(event_id)
                    item.maybe_sent = True
        # One call each for the lot: this runs for every event.
        self._items.update(zip(map(id, taken), taken, strict=True))
        self._bytes += sum([item.size for item in taken])
        return taken

    def hold(self, items: Iterable[Item]) -> None:
        """Hold ``items``, events the worker made for roots (``derived``, their root's ``seq``).

        Each counts its record's size as taken; its wire bytes are charged with
        :meth:`charge`, like those of every other item.
        """
        held = self._items
        added = 0
        for item in items:
            held[id(item)] = item
            added += item.taken_size
        self._bytes += added

    def charge(self, added: int) -> None:
        """Count ``added`` more bytes of held items (their wire bytes, once encoded)."""
        self._bytes += added

    def holds(self, item: Item) -> bool:
        """Whether ``item`` is held and not settled yet."""
        return self._items.get(id(item)) is item

    def release(self, item: Item) -> None:
        """Forget a settled item (it no longer counts against the bounds)."""
        if self._items.pop(id(item), None) is not None:
            self._bytes -= item.size
            if self._parked:
                self.unpark(item)

    def release_all(self, items: Sequence[Item]) -> None:
        """Forget settled items, as :meth:`release` does each (one call for a whole request)."""
        pop = self._items.pop
        released = 0
        for item in items:
            if pop(id(item), None) is not None:
                released += item.size
        self._bytes -= released
        if self._parked:  # rarely: not a test per item of every request
            for item in items:
                self.unpark(item)

    def clear(self) -> list[Item]:
        """Forget every item and the schedule; return the items (to put back or to report)."""
        items = list(self._items.values())
        self._items.clear()
        self._bytes = 0
        self.request_bytes = 0
        self._waiting.clear()
        for item in self._parked.values():
            item.held = False
        self._parked.clear()
        self._parked_bytes = 0
        return items

    def oldest(self) -> int | None:
        """The smallest sequence number of the held items a flush waits for, or None.

        Trace updates waiting for a span of their trace (:attr:`Item.held`) are left out.
        """
        # A copy: another thread may ask while the worker changes it.
        held = tuple(self._items.values())
        if not self._parked:  # nearly always: no filter for every item
            return min(map(_seq, held)) if held else None
        return min((item.seq for item in held if not item.held), default=None)

    def count_through(self, seq: int) -> int:
        """How many held items have a sequence number up to ``seq``."""
        return sum(1 for item in tuple(self._items.values()) if item.seq <= seq)

    def waiting_for_spans_through(self, seq: int) -> int:
        """How many trace updates waiting for a span (:attr:`Item.held`) are up to ``seq``."""
        return sum(1 for item in tuple(self._parked.values()) if item.seq <= seq)

    # ----------------------------------------------------------------- retry schedule

    def schedule(self, items: Iterable[Item], not_before: float) -> None:
        """Have ``items`` sent again once the monotonic clock reaches ``not_before``."""
        for item in items:
            item.not_before = not_before
            self._waiting.append(item)

    def waiting(self) -> set[int]:
        """The ids (``id()``) of the items waiting for a retry."""
        return {id(item) for item in self._waiting}

    def due(self, now: float, limit: int) -> list[Item]:
        """Remove and return the waiting items whose time has come, at most ``limit``.

        The first ones in waiting order; the others stay waiting, due at once next time.
        """
        if not self._waiting:
            return []
        due: list[Item] = []
        rest: list[Item] = []
        for item in self._waiting:
            if item.not_before <= now and len(due) < limit:
                due.append(item)
            else:
                rest.append(item)
        if due:
            self._waiting = rest
        return due

    def next_due(self) -> float | None:
        """The earliest ``not_before`` of the waiting items, or None."""
        if not self._waiting:
            return None
        return min(item.not_before for item in self._waiting)

    def retry_later(
        self,
        items: Sequence[Item],
        *,
        attempt: int,
        retry_after: float | None,
        pause: bool,
        now: float,
    ) -> None:
        """Count a failed attempt of ``items`` and schedule their retry after a backoff.

        Args:
            items: Items that may still be retried.
            attempt: How many retries came before this one, for the backoff.
            retry_after: The server's ``Retry-After``, in seconds.
            pause: The whole request failed: pause all sending, not just these items.
            now: The monotonic time.
        """
        for item in items:
            item.attempts += 1
        delay = _retry.backoff_delay(
            attempt,
            base=self._backoff_base,
            cap=self._backoff_max,
            rng=self.rng.random,
            retry_after=retry_after,
        )
        if pause:
            # The server (or the path to it) is unwell: pause everything, not just this batch.
            self.pause_until = max(self.pause_until, now + delay)
        logger.debug(
            "retrying %d events in %.2f s (attempt %d of %d%s%s)",
            len(items),
            delay,
            attempt + 2,
            self._max_retries + 1,
            f", Retry-After {retry_after:g} s" if retry_after is not None else "",
            ", pausing all sending" if pause else "",
        )
        self.schedule(items, now + delay)

    def pause(self, until: float) -> None:
        """Send nothing before the monotonic time ``until``."""
        self.pause_until = max(self.pause_until, until)
