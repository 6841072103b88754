"""The outcome vocabulary: what happened to events, as values handed to the user."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Any, Literal

__all__ = [
    "DROP_REASONS",
    "FAILURE_REASONS",
    "EventError",
    "FlushResult",
    "Reason",
    "Statistics",
]

#: Why an event will not be delivered.
Reason = Literal[
    # The server refused it: a per-event 4xx in a 207, a whole-batch 400/404/405, or the 403
    # of a project whose ingestion is suspended.
    "rejected",
    "retries_exhausted",  # network, timeout, 408, 429 or 5xx failures outlasted max_retries
    "unauthorized",  # any other 401/403: wrong keys or wrong host
    "queue_full",  # the bounded queue was full (count or bytes)
    "oversize",  # larger than max_event_bytes even after truncating input/output/metadata
    "unserializable",  # could not be encoded as JSON at all
    "shutdown",  # produced after shutdown(), or still pending when shutdown() timed out
]

#: Reasons counted as ``dropped`` (never sent); the others count as ``failed`` (sent, refused).
DROP_REASONS: frozenset[str] = frozenset({"queue_full", "oversize", "unserializable", "shutdown"})
FAILURE_REASONS: frozenset[str] = frozenset({"rejected", "retries_exhausted", "unauthorized"})


@dataclasses.dataclass(frozen=True, slots=True)
class EventError:
    """One event that will not be delivered, handed once to ``on_error``.

    Attributes:
        event_id: The envelope id (stable across retries).
        event_type: The ingestion event type, e.g. ``"span-create"`` or ``"score-create"``.
        body_id: The id of the entity: observation, trace or score id.
        trace_id: The trace the event belongs to, when it has one.
        status: The per-event or HTTP status, or ``None`` when no response applies.
        reason: Why it was not delivered; see :data:`Reason`.
        message: A human-readable explanation.
        error: The server's detail as received (string, object or ``None``).
        possibly_delivered: True when a request carrying this event was sent and no complete
            answer came back (a timeout after sending, the connection lost mid-reply, a reply
            that could not be read): the server may have stored it. Delivery is at least once
            and the server deduplicates by envelope id, so such an event may be in Langfuse
            although it is reported here. False means every request that carried it got a
            complete answer saying it was not stored.
    """

    event_id: str
    event_type: str
    body_id: str
    trace_id: str | None
    status: int | None
    reason: Reason
    message: str
    error: Any = None
    possibly_delivered: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class FlushResult:
    """What ``flush()`` or ``shutdown()`` achieved.

    Attributes:
        completed: True when every event enqueued before the call reached a final outcome.
        pending: Events enqueued before the call that had no final outcome when it returned.
            ``flush()`` does not wait for an OTLP trace update whose carrier, a span of an
            observation still open, has not ended yet: it is counted here (``shutdown()``
            ends that observation, or reports the update).
        delivered: Events delivered while the call waited.
        failed: Events that failed or were dropped while the call waited.
    """

    completed: bool
    pending: int
    delivered: int = 0
    failed: int = 0

    def __bool__(self) -> bool:
        """True when the call completed: ``if await langfuse.flush(timeout=5): ...``."""
        return self.completed


@dataclasses.dataclass(frozen=True, slots=True)
class Statistics:
    """A snapshot of the client's counters.

    After ``shutdown()`` completes, ``enqueued == delivered + failed + dropped`` and
    ``pending == 0``.

    Attributes:
        enqueued: Events produced (every one of them ends delivered, failed or dropped). One
            event is one event on the wire: an ingestion envelope (an observation, a trace
            update, a score, and the ``trace-create`` the worker adds for each root observation
            on the ingestion route) or, on the OTLP route, one span or one trace update.
        delivered: Events the server accepted.
        failed: Events sent and refused, or whose retries ran out.
        dropped: Events never sent (queue full, oversize, unserializable, shutdown).
        pending: Events without a final outcome yet (queued or in flight, or an OTLP trace
            update waiting for the span of an observation still open to carry it).
        retries: Re-sends of events after a retryable failure.
        requests: HTTP requests made (both routes, probes excluded).
        bytes_sent: Request body bytes sent (after compression, where used).
        queued_bytes: Estimated bytes of the events waiting in the queue.
        dropped_by_reason: Every undelivered event counted by its :data:`Reason`: the drops
            (``queue_full``, ``oversize``, ``unserializable``, ``shutdown``) and the failures
            (``rejected``, ``retries_exhausted``, ``unauthorized``) alike, so its values add up
            to ``failed + dropped``.
        sampled_out: Observations not recorded because their trace was sampled out.
        truncated: Events sent with their largest payloads replaced by the truncation marker
            to fit ``max_event_bytes``.
        never_ended: Observations started and never ended (a handle never ``end()``-ed, a
            traced generator never iterated) that ``shutdown()`` or the exit hook ended and
            sent, with level ``WARNING`` and a status message saying so.
        transport: The route traces and observations take: ``"ingestion"``, ``"otlp"``,
            ``"undecided"`` while auto mode has not chosen yet, or ``"disabled"`` for a client
            without keys or with ``enabled=False``.
    """

    enqueued: int = 0
    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    pending: int = 0
    retries: int = 0
    requests: int = 0
    bytes_sent: int = 0
    queued_bytes: int = 0
    dropped_by_reason: MappingProxyType[str, int] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )
    sampled_out: int = 0
    truncated: int = 0
    transport: str = "undecided"
    never_ended: int = 0
