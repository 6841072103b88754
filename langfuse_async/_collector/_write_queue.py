"""Prepared writes queued for the store's thread, stored together when they are ready together."""

from __future__ import annotations

import collections
import concurrent.futures
from collections.abc import Callable, Sequence

from ._prepare import PreparedWrite

__all__ = ["QueuedWrite", "WriteQueue"]


class QueuedWrite:
    """A write in a :class:`WriteQueue`: where it comes from, and its outcome."""

    def __init__(self, source: Callable[[], PreparedWrite], ready: Callable[[], bool]) -> None:
        self.source = source
        self.ready = ready
        self.taken = False
        #: Resolved once stored, or with what failed.
        self.stored: concurrent.futures.Future[None] = concurrent.futures.Future()


class WriteQueue:
    """The writes queued for the store's thread, in queue order (thread-safe)."""

    def __init__(self) -> None:
        self._writes: collections.deque[QueuedWrite] = collections.deque()

    def add(self, source: Callable[[], PreparedWrite], ready: Callable[[], bool]) -> QueuedWrite:
        """Queue a write: ``source()`` gives it, without waiting once ``ready()`` is true."""
        entry = QueuedWrite(source, ready)
        self._writes.append(entry)
        return entry

    def drop(self, entry: QueuedWrite) -> None:
        """Take a write out of the queue before it was handed to the store's thread."""
        self._writes.remove(entry)

    def store_due(
        self, write_many: Callable[[Sequence[PreparedWrite]], object], entry: QueuedWrite
    ) -> None:
        """Store ``entry`` and the writes after it that are ready, in one transaction.

        Run on the store's thread once per entry, in queue order: the entry is then the
        oldest one not yet stored, unless an earlier call took it along (then nothing is
        left to do). Each entry's ``stored`` future tells how it went.
        """
        if entry.taken:
            return
        batch: list[QueuedWrite] = []
        writes = self._writes
        while writes and (not batch or writes[0].ready()):
            queued = writes.popleft()
            queued.taken = True
            batch.append(queued)
        prepared: list[PreparedWrite] = []
        taken: list[QueuedWrite] = []
        for queued in batch:
            try:
                prepared.append(queued.source())
            except Exception as exc:  # its conversion failed: the others are stored
                queued.stored.set_exception(exc)
            else:
                taken.append(queued)
        try:
            write_many(prepared)
        except Exception as exc:
            for queued in taken:
                queued.stored.set_exception(exc)
        else:
            for queued in taken:
                queued.stored.set_result(None)
