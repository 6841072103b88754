"""Hand-made records for tests of the consumer side (no tracer involved)."""

from __future__ import annotations

from typing import Any

import msgspec

from langfuse_async._clock import now_ns
from langfuse_async._records import (
    RECORD_OVERHEAD_BYTES,
    ObservationRecord,
    ScoreRecord,
    TraceAttributes,
    TraceRecord,
)
from langfuse_async._tracing.ids import new_event_id, new_observation_id, new_trace_id


def raw(value: Any) -> msgspec.Raw:
    return msgspec.Raw(msgspec.json.encode(value))


def observation(**fields: Any) -> ObservationRecord:
    now = now_ns()
    base: dict[str, Any] = dict(
        event_id=new_event_id(),
        timestamp_ns=now,
        id=new_observation_id(),
        trace_id=new_trace_id(),
        # A child by default: a root also brings its trace-create on the ingestion route,
        # which tests about roots ask for explicitly with parent_id=None.
        parent_id=new_observation_id(),
        as_type="span",
        name="work",
        start_ns=now - 1_000_000,
        end_ns=now,
        size=RECORD_OVERHEAD_BYTES,
    )
    base.update(fields)
    if base.get("input") is not None and not isinstance(base["input"], msgspec.Raw):
        base["input"] = raw(base["input"])
    if base.get("output") is not None and not isinstance(base["output"], msgspec.Raw):
        base["output"] = raw(base["output"])
    return ObservationRecord(**base)


def score(**fields: Any) -> ScoreRecord:
    base: dict[str, Any] = dict(
        event_id=new_event_id(),
        timestamp_ns=now_ns(),
        id=new_observation_id(),
        name="quality",
        value=0.9,
        trace_id=new_trace_id(),
        size=RECORD_OVERHEAD_BYTES,
    )
    base.update(fields)
    return ScoreRecord(**base)


def trace(**attributes: Any) -> TraceRecord:
    trace_id = attributes.pop("trace_id", None) or new_trace_id()
    return TraceRecord(
        event_id=new_event_id(),
        timestamp_ns=now_ns(),
        trace_id=trace_id,
        attributes=TraceAttributes(**attributes),
        size=RECORD_OVERHEAD_BYTES,
    )
