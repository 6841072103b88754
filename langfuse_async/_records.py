"""Event records: what the producer side (observations, scores) hands to the queue.

A record is immutable and already holds every user payload as encoded JSON (``msgspec.Raw``),
so later mutation of the user's objects changes nothing and no payload is encoded twice. The
consumer side turns records into wire bytes: an ingestion envelope or an OTLP span.

The producer side emits into a :class:`Sink` (the delivery pipeline, joined by ``_client.py``; a
list in tests) and never imports the queue, batcher or transports.
"""

from __future__ import annotations

from typing import Literal, Protocol, get_args

import msgspec

__all__ = [
    "GENERATION_LIKE_TYPES",
    "OBSERVATION_TYPES",
    "RECORD_OVERHEAD_BYTES",
    "TRUNCATED_MARKER",
    "Metadata",
    "ObservationRecord",
    "ObservationType",
    "Record",
    "ScoreRecord",
    "Sink",
    "TraceAttributes",
    "TraceRecord",
]

ObservationType = Literal[
    "span",
    "generation",
    "event",
    "agent",
    "tool",
    "chain",
    "retriever",
    "evaluator",
    "embedding",
    "guardrail",
]
"""The kinds of observation Langfuse knows (``as_type``), in the server's lowercase spelling."""

#: Every observation type, as a set for membership tests.
OBSERVATION_TYPES: frozenset[str] = frozenset(get_args(ObservationType))

#: Types whose ingestion body is the generation body (model, usage, cost, prompt fields).
#: ``span`` and ``event`` bodies have no such fields; the server strips them if sent.
GENERATION_LIKE_TYPES: frozenset[str] = OBSERVATION_TYPES - {"span", "event"}

#: A rough allowance for envelope keys, ids and timestamps, added to the payload bytes when
#: estimating a record's encoded size for the queue's byte bound.
RECORD_OVERHEAD_BYTES = 400

#: What replaces an input, output or metadata value that made its event too large.
TRUNCATED_MARKER = "<truncated due to size exceeding limit>"

#: Metadata as recorded: a mapping is kept per top-level key (each value encoded once), so the
#: ingestion body can splice it as an object and the OTLP span can flatten it into attributes.
#: Any other value (a list, a string) is one encoded blob.
Metadata = dict[str, msgspec.Raw] | msgspec.Raw


# Records are frozen data that never reference each other, so they cannot be part of a reference
# cycle: ``gc=False`` keeps tens of thousands of queued records out of the cycle collector, whose
# full passes (one event-loop stall each) grow with the number of objects it tracks.


class TraceAttributes(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Trace-level attributes; ``None`` means "not set by this update"."""

    name: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    version: str | None = None
    release: str | None = None
    input: msgspec.Raw | None = None
    output: msgspec.Raw | None = None
    metadata: Metadata | None = None
    tags: tuple[str, ...] | None = None
    public: bool | None = None


class ObservationRecord(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One finished observation: a single event on the queue (no create/update pair)."""

    event_id: str
    """Envelope id, 32 hex; stable across every retry of this event."""
    timestamp_ns: int
    """When the record was made (epoch ns); the envelope timestamp."""
    id: str
    """Observation id, 16 hex (an OTel span id)."""
    trace_id: str
    """Trace id, 32 hex (an OTel trace id)."""
    parent_id: str | None
    """Parent observation id, or ``None`` for the root of the trace."""
    as_type: str
    """One of :data:`OBSERVATION_TYPES`."""
    name: str
    start_ns: int
    end_ns: int
    """Equal to ``start_ns`` for ``event`` observations."""
    size: int
    """Estimated encoded size in bytes (payloads plus :data:`RECORD_OVERHEAD_BYTES`)."""
    input: msgspec.Raw | None = None
    output: msgspec.Raw | None = None
    metadata: Metadata | None = None
    level: str | None = None
    """``DEBUG``, ``DEFAULT``, ``WARNING`` or ``ERROR``."""
    status_message: str | None = None
    version: str | None = None
    model: str | None = None
    model_parameters: msgspec.Raw | None = None
    usage_details: msgspec.Raw | None = None
    """A JSON object of ``{str: int}``."""
    cost_details: msgspec.Raw | None = None
    """A JSON object of ``{str: float}`` (USD)."""
    completion_start_ns: int | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None
    trace: TraceAttributes | None = None
    """Snapshot of the trace's attributes when the observation ended (OTLP copies them onto
    every span); ``None`` when none were set."""
    remote_parent: bool = False
    """True for the local root of a trace continued from another service (``trace_context``
    with a parent): ``parent_id`` is not one of ours, and this is the root here."""
    environment: str | None = None
    """The environment propagated to this observation; None: the client's."""

    @property
    def is_local_root(self) -> bool:
        """The first observation of its trace in this process: a root, or a remote child."""
        return self.parent_id is None or self.remote_parent

    @property
    def event_type(self) -> str:
        return self.as_type + "-create"

    @property
    def body_id(self) -> str:
        return self.id


class TraceRecord(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """An update of trace-level attributes (``trace-create``; the server merges updates)."""

    event_id: str
    timestamp_ns: int
    trace_id: str
    attributes: TraceAttributes
    size: int
    start_ns: int | None = None
    """The trace's start (its ``timestamp``): set on the ``trace-create`` a root observation
    brings, None on an update (the server keeps the time it has)."""
    environment: str | None = None
    """The environment propagated to the root that brings it; None: the client's."""
    span_open: bool = False
    """Set on an update made after the trace's local root ended: True when another
    observation of the trace was still open then. The OTLP route has no event for a trace
    update, only spans that carry the trace's attributes when they end: with the root gone,
    only such an open observation can still carry it, so the worker waits for its span."""

    @property
    def event_type(self) -> str:
        return "trace-create"

    @property
    def body_id(self) -> str:
        return self.trace_id


class ScoreRecord(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A score (``score-create``); always sent to ``/api/public/ingestion``."""

    event_id: str
    timestamp_ns: int
    id: str
    """Score id, 16 hex."""
    name: str
    value: float | str
    size: int
    trace_id: str | None = None
    observation_id: str | None = None
    session_id: str | None = None
    data_type: str | None = None
    """``NUMERIC``, ``BOOLEAN``, ``CATEGORICAL``, ``TEXT`` or ``CORRECTION``; omitted when None."""
    comment: str | None = None
    metadata: Metadata | None = None
    config_id: str | None = None
    """The score config the value follows (Langfuse score configs)."""
    dataset_run_id: str | None = None
    """The dataset run scored (instead of a trace or session)."""
    environment: str | None = None
    """The score's own environment; None: the client's."""

    @property
    def event_type(self) -> str:
        return "score-create"

    @property
    def body_id(self) -> str:
        return self.id


Record = ObservationRecord | TraceRecord | ScoreRecord


class Sink(Protocol):
    """Where the producer side hands what it records: the delivery pipeline, or a list in tests.

    Both methods are called from the user's code (any thread, inside or outside an event loop):
    they must be thread-safe, never raise and never block.
    """

    def emit(self, record: Record) -> None:
        """Take a finished record for delivery."""
        ...

    def count_sampled_out(self) -> None:
        """Count one observation not recorded because its trace was sampled out."""
        ...
