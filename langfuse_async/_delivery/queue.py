"""The bounded in-process queue between the producer side and the delivery worker."""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Iterable

from .._config import QueueFull
from .._records import Record

__all__ = ["EventQueue"]


class EventQueue:
    """A FIFO of records bounded by count and by estimated bytes; ``put`` never blocks or raises.

    Each entry carries a sequence number, so ``flush()`` can tell which events were enqueued
    before it was called. ``put`` is safe from any thread: a short lock guards the bounds check,
    because producers may run in executor threads while the worker drains on the loop.

    ``put`` may also be re-entered by the thread that holds the lock: the garbage collector
    runs finalizers on whatever thread allocates when a generation fills up, and a finalizer
    may record an event (an object that ends its span in ``__del__``). Waiting for the lock
    there would deadlock the thread; changing the entries would break the operation under
    way. The record waits beside it instead, and is admitted, in order, when it ends.
    """

    __slots__ = (
        "_acquire",
        "_busy",
        "_bytes",
        "_deferred",
        "_entries",
        "_lock",
        "_max_bytes",
        "_max_size",
        "_policy",
        "_release",
        "_seq",
        "evicted",
    )

    def __init__(self, *, max_size: int, max_bytes: int, policy: QueueFull) -> None:
        self._entries: deque[tuple[int, Record]] = deque()
        self._bytes = 0
        self._seq = 0
        self._max_size = max_size
        self._max_bytes = max_bytes
        self._policy = policy
        # Re-entrant: a finalizer run by the collector mid-operation must not deadlock (above).
        self._lock = threading.RLock()
        self._acquire = self._lock.acquire
        self._release = self._lock.release
        self._busy = False
        """True while an operation changes or reads the entries (under the lock)."""
        self._deferred: deque[Record] = deque()
        """Records put by this thread while an operation was under way, not admitted yet."""
        self.evicted: deque[Record] = deque()
        """Records evicted by ``drop_oldest``, waiting to be reported by the caller."""

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return (
            f"<EventQueue [{len(self._entries)}/{self._max_size} events | "
            f"{self._bytes}/{self._max_bytes} bytes | {self._policy}]>"
        )

    @property
    def bytes(self) -> int:
        """Estimated bytes of the queued records."""
        return self._bytes

    def fill(self) -> float:
        """How full the queue is, 0.0 to 1.0: the larger of its count and byte ratios."""
        return max(len(self._entries) / self._max_size, self._bytes / self._max_bytes)

    @property
    def last_seq(self) -> int:
        """The sequence number of the last record accepted (0 before the first)."""
        return self._seq

    def head_seq(self) -> int | None:
        """The sequence number of the oldest queued record, or None when empty."""
        try:
            return self._entries[0][0]
        except IndexError:
            return None

    def head_timestamp_ns(self) -> int | None:
        """When the oldest queued record was made, or None when empty."""
        try:
            return self._entries[0][1].timestamp_ns
        except IndexError:
            return None

    def put(self, record: Record) -> int:
        """Add ``record`` and return the queue length after the call, or 0 if it was refused.

        With ``drop_new`` a full queue refuses ``record`` itself. With ``drop_oldest`` it evicts
        the oldest records until ``record`` fits and leaves them in :attr:`evicted`. A record
        larger than the whole byte bound is always refused. The caller reports every refused or
        evicted record.
        """
        size = record.size
        # acquire/release rather than ``with``: this runs once per event on the caller's path,
        # and the with-statement's method lookups cost as much as the lock itself.
        self._acquire()
        if self._busy:  # re-entered by a finalizer mid-operation (see the class docstring)
            try:
                self._deferred.append(record)
                return len(self._entries) + len(self._deferred)
            finally:
                self._release()
        self._busy = True
        try:
            entries = self._entries
            if len(entries) < self._max_size and self._bytes + size <= self._max_bytes:
                self._seq += 1
                entries.append((self._seq, record))
                self._bytes += size
                n = len(entries)
            else:
                n = self._admit_when_full(record, size)
            if self._deferred:
                self._admit_deferred()
            return n
        finally:
            self._busy = False
            self._release()

    def _admit_when_full(self, record: Record, size: int) -> int:
        """``put`` past a bound: refuse (0), or evict the oldest; under the lock."""
        if self._policy == "drop_new" or size > self._max_bytes:
            return 0
        entries = self._entries
        while entries and (len(entries) >= self._max_size or self._bytes + size > self._max_bytes):
            _, old = entries.popleft()
            self._bytes -= old.size
            self.evicted.append(old)
        self._seq += 1
        entries.append((self._seq, record))
        self._bytes += size
        return len(entries)

    def _admit_deferred(self) -> None:
        """Admit the records put while an operation was under way; under the lock, busy.

        One the bounds refuse is admitted and evicted at once (counted as enqueued, reported
        as ``queue_full`` by the caller that finds it in :attr:`evicted`): its ``put`` already
        returned, so it cannot say so.
        """
        deferred = self._deferred
        while deferred:  # a finalizer run in here adds to it: taken in this same loop
            record = deferred.popleft()
            size = record.size
            entries = self._entries
            if len(entries) < self._max_size and self._bytes + size <= self._max_bytes:
                self._seq += 1
                entries.append((self._seq, record))
                self._bytes += size
            elif not self._admit_when_full(record, size):
                self._seq += 1
                self.evicted.append(record)

    def count_through(self, seq: int) -> int:
        """How many queued entries have a sequence number up to ``seq``."""
        n = 0
        self._acquire()
        self._busy = True
        try:
            for entry_seq, _ in self._entries:
                if entry_seq > seq:
                    break
                n += 1
        finally:
            self._leave()
        return n

    def take(self, limit: int, max_bytes: int | None = None) -> list[tuple[int, Record]]:
        """Remove and return up to ``limit`` of the oldest entries, within ``max_bytes``.

        The first entry is taken whatever its size when ``max_bytes`` is positive, so a budget
        smaller than one event still makes progress.
        """
        self._acquire()
        self._busy = True
        try:
            entries = self._entries
            out = list(itertools.islice(entries, max(0, min(limit, len(entries)))))
            sizes = [entry[1].size for entry in out]
            if max_bytes is not None:
                count = _within_budget(sizes, max_bytes)
                if count < len(out):
                    del out[count:], sizes[count:]
            popleft = entries.popleft
            for _ in out:
                popleft()
            self._bytes -= sum(sizes)
        finally:
            self._leave()
        return out

    def put_back(self, entries: Iterable[tuple[int, Record]]) -> None:
        """Return entries taken but not finished to the front, oldest first, ignoring bounds.

        They were already admitted, so bounds do not apply twice; this happens only when the
        worker stops mid-flight (loop closing, fork), never in steady state.
        """
        ordered = sorted(entries, key=lambda e: e[0], reverse=True)
        self._acquire()
        self._busy = True
        try:
            for entry in ordered:
                self._entries.appendleft(entry)
                self._bytes += entry[1].size
        finally:
            self._leave()

    def clear(self) -> list[tuple[int, Record]]:
        """Remove and return every entry (those put meanwhile by a finalizer included)."""
        self._acquire()
        self._busy = True
        try:
            out = list(self._entries)
            self._entries.clear()
            self._bytes = 0
            deferred = self._deferred
            while deferred:
                self._seq += 1
                out.append((self._seq, deferred.popleft()))
            return out
        finally:
            self._busy = False
            self._release()

    def _leave(self) -> None:
        """End an operation begun with the lock taken and ``_busy`` set."""
        try:
            if self._deferred:
                self._admit_deferred()
        finally:
            self._busy = False
            self._release()


def _within_budget(sizes: list[int], budget: int) -> int:
    """How many of ``sizes``, in order, :meth:`EventQueue.take` takes within ``budget``.

    Each is taken while the budget left is positive and holds it; the first whatever its size
    (progress with a budget smaller than one event). Sizes are never negative.
    """
    if sum(sizes) < budget:  # the common case: all of them, and no test each
        return len(sizes)
    count = 0
    for size in sizes:
        if budget <= 0 or (count and size > budget):
            break
        budget -= size
        count += 1
    return count
