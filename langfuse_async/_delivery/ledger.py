"""Counters of every event's end, each event counted once; its report goes to ``reports``."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import MappingProxyType
from typing import Any, Protocol

from .._outcomes import DROP_REASONS, EventError, Reason, Statistics
from .._records import ObservationRecord, Record, ScoreRecord, TraceRecord

__all__ = ["Ledger", "ReportSink", "event_error"]


class ReportSink(Protocol):
    """Where the ledger sends the report of an event that will not be delivered."""

    def add(self, error: EventError) -> None: ...

    def offer(self, event_id: str, reason: str, make: Callable[[], EventError]) -> None:
        """Queue the report ``make`` builds, only if it is kept (else it is only counted)."""
        ...

    def may_keep(self, reason: str) -> bool:
        """False when a report for ``reason`` would surely not be kept."""
        ...


def _trace_id_of(record: Record) -> str | None:
    if isinstance(record, (ObservationRecord, TraceRecord)):
        return record.trace_id
    if isinstance(record, ScoreRecord):
        return record.trace_id
    return None


def event_error(
    record: Record,
    reason: Reason,
    message: str,
    *,
    status: int | None = None,
    error: Any = None,
    possibly_delivered: bool = False,
) -> EventError:
    """Describe why ``record`` will not be delivered."""
    return EventError(
        event_id=record.event_id,
        event_type=record.event_type,
        body_id=record.body_id,
        trace_id=_trace_id_of(record),
        status=status,
        reason=reason,
        message=message,
        error=error,
        possibly_delivered=possibly_delivered,
    )


class Ledger:
    """Every event ends here exactly once: delivered, failed or dropped.

    Producers may record drops from any thread, so those paths take a lock; the worker's
    updates happen on the loop.
    """

    def __init__(self, reports: ReportSink) -> None:
        self._lock = threading.Lock()
        self._reports = reports
        self.refused = 0
        """Events refused before they got a queue sequence number (counted as enqueued)."""
        self.derived = 0
        """Events the worker made (a root's ``trace-create``), counted as enqueued: statistics
        count events on the wire, not records."""
        self.delivered = 0
        self.failed = 0
        self.dropped = 0
        self.retries = 0
        self.requests = 0
        self.bytes_sent = 0
        self.sampled_out = 0
        self.truncated = 0
        self.never_ended = 0
        self.by_reason: dict[str, int] = {}

    def refuse(self, record: Record, reason: Reason, message: str, *, report: bool = True) -> None:
        """Count a record never admitted to the queue as enqueued and dropped, and report it."""
        self.drop(record, reason, message, report=report, admitted=False)

    def drop(
        self, record: Record, reason: Reason, message: str, *, report: bool, admitted: bool
    ) -> None:
        """Count ``record`` as dropped (``admitted``: it had a place in the queue) and report it.

        This is the producer's path when the queue is full (a server down for minutes), so it
        is one lock, and the report is built only when it is kept (see ``Reports.offer``).
        """
        with self._lock:
            if not admitted:
                self.refused += 1
            if reason in DROP_REASONS:
                self.dropped += 1
            else:
                self.failed += 1
            self.by_reason[reason] = self.by_reason.get(reason, 0) + 1
            if report and self._reports.may_keep(reason):
                # Under the lock: a reader never sees the event counted and its report missing.
                self._reports.offer(
                    record.event_id, reason, lambda: event_error(record, reason, message)
                )

    def finish(self, error: EventError, *, report: bool = True) -> None:
        """Count a final failure or drop and send its report on to ``on_error``.

        ``report=False`` only counts it: for events dropped while ``on_error`` itself runs,
        whose reports would call it again, and again.
        """
        with self._lock:
            if error.reason in DROP_REASONS:
                self.dropped += 1
            else:
                self.failed += 1
            self.by_reason[error.reason] = self.by_reason.get(error.reason, 0) + 1
            if report:
                # Under the lock: a reader never sees the event counted and its report missing.
                self._reports.add(error)

    def count_sampled_out(self) -> None:
        with self._lock:
            self.sampled_out += 1

    def snapshot(
        self, *, accepted: Callable[[], int], queued_bytes: int, transport: str
    ) -> Statistics:
        """Freeze the counters; ``accepted()`` is the number of records the queue ever admitted.

        It is read after the counters: an event is admitted before it is settled, so a reader
        on another thread can see ``pending`` too high for a moment, never below zero.
        """
        with self._lock:
            delivered, failed, dropped = self.delivered, self.failed, self.dropped
            refused = self.refused + self.derived
            by_reason = MappingProxyType(dict(self.by_reason))
            retries, requests, bytes_sent = self.retries, self.requests, self.bytes_sent
            sampled_out, truncated = self.sampled_out, self.truncated
            never_ended = self.never_ended
        enqueued = accepted() + refused
        return Statistics(
            enqueued=enqueued,
            delivered=delivered,
            failed=failed,
            dropped=dropped,
            pending=enqueued - delivered - failed - dropped,
            retries=retries,
            requests=requests,
            bytes_sent=bytes_sent,
            queued_bytes=queued_bytes,
            dropped_by_reason=by_reason,
            sampled_out=sampled_out,
            truncated=truncated,
            transport=transport,
            never_ended=never_ended,
        )
