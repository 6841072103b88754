"""The validation fast path keeps exactly what the full checks keep, or steps aside.

:func:`validate_event` first tries precompiled tests that build no issue; whatever they are not
sure of goes through the zod-like checks. Generated events (valid and not, every event type
the fast path knows, values of every JSON kind in every field) must come out the same either way.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from langfuse_async._collector._validate import (
    ValidationFailure,
    _validate_fast,
    _validate_full,
    validate_event,
)

FIELDS = [
    "id",
    "traceId",
    "name",
    "startTime",
    "endTime",
    "completionStartTime",
    "timestamp",
    "input",
    "output",
    "metadata",
    "level",
    "statusMessage",
    "parentObservationId",
    "version",
    "environment",
    "model",
    "modelParameters",
    "usage",
    "usageDetails",
    "costDetails",
    "promptName",
    "promptVersion",
    "type",
    "sessionId",
    "userId",
    "release",
    "public",
    "tags",
    "externalId",
    "unknownKey",
]
TYPES = [
    "trace-create",
    "span-create",
    "span-update",
    "event-create",
    "generation-create",
    "generation-update",
    "agent-create",
    "observation-create",
    "observation-update",
    "score-create",
    "sdk-log",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
#: Values at the edges of the checks: each set alone in an otherwise valid event below.
TRICKY: list[Any] = [
    None,
    "2026-08-22T10:00:00.000Z",
    "2026-02-30T10:00:00Z",
    "2026-08-22T10:00:00+02:00",
    "not a date",
    "DEBUG",
    "ERROR",
    "LOUD",
    "",
    "a\rb",
    "x" * 800,
    "x" * 801,
    "x" * 1001,
    "é" * 600,
    "😀" * 400,  # 800 UTF-16 units: the longest id
    "😀" * 401,  # 802: too long for an id, though 401 characters
    "😀" * 501,  # 1002: too long for a trace name
    True,
    0,
    2.0,
    -1,
    0.5,
    float("nan"),
    2**53,
    [],
    ["a", "b"],
    ["a", 1],
    {},
    {"input": 3, "output": 4},
    {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    {"input": "5", "bad": "x"},
    {"temperature": 0.2, "stop": ["x"]},
    {"temperature": [1]},
    {"total": -1, "input": 0.5},
    "GENERATION",
    "SPAN",
]
field_values = st.one_of(json_values, st.sampled_from(TRICKY))
STAMP = "2026-08-22T10:00:00.000Z"
#: A valid body of every type: most generated events change one to three of its fields, so
#: that each field's check decides the outcome.
BASE = {"id": "b", "traceId": "t", "name": "n", "startTime": STAMP, "type": "SPAN"}
bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=3).map(
        lambda changes: {**BASE, **changes}
    ),
    st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=10),
    json_values,
)
events = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["env-1"] * 5 + ["", "a\rb", 7, "x" * 801, "😀" * 401]),
        "type": st.sampled_from(TYPES),
        "timestamp": st.sampled_from([STAMP] * 5 + ["2026-13-01T00:00:00Z", None]),
        "body": bodies,
    },
    optional={"metadata": json_values},
)


def outcome(check: Any, event: object) -> tuple[str, Any]:
    try:
        return "kept", json.dumps(check(event), sort_keys=True, default=repr)
    except ValidationFailure as failure:
        return "failed", (failure.status, failure.message, failure.error)


@settings(max_examples=1000, deadline=None, derandomize=True, database=None)
@given(events)
def test_the_fast_path_keeps_what_the_full_checks_keep(event: dict[str, Any]) -> None:
    fast = _validate_fast(event)
    if fast is not None:
        assert fast == _validate_full(event)
    assert outcome(validate_event, event) == outcome(_validate_full, event)


@pytest.mark.parametrize("event_type", TYPES)
def test_every_field_at_every_edge_alone(event_type: str) -> None:
    # Deterministic: each field of the schemas, set to each edge value in a valid event.
    for field in FIELDS:
        for value in TRICKY:
            event = {
                "id": "env",
                "type": event_type,
                "timestamp": STAMP,
                "body": {**BASE, field: value},
            }
            fast = _validate_fast(event)
            if fast is not None:
                kept = ("kept", json.dumps(fast, sort_keys=True, default=repr))
                assert kept == outcome(_validate_full, event), (field, value)
    for envelope_id in ("", "a\rb", 7, "x" * 801, "😀" * 401, "😀" * 400):
        event = {"id": envelope_id, "type": event_type, "timestamp": STAMP, "body": BASE}
        assert outcome(validate_event, event) == outcome(_validate_full, event)


def test_ordinary_events_take_the_fast_path() -> None:
    stamp = "2026-08-22T10:00:00.000Z"
    span = {"id": "s", "traceId": "t", "name": "n", "startTime": stamp, "endTime": stamp}
    generation = {
        **span,
        "model": "gpt-4o",
        "usageDetails": {"input": 10, "output": 20},
        "costDetails": {"total": 0.1},
        "metadata": {"k": "v"},
        "input": [{"role": "user", "content": "hi"}],
    }
    trace = {"id": "t", "timestamp": stamp, "name": "n", "tags": ["a"], "public": False}
    for event_type, body in (
        ("span-create", span),
        ("generation-create", generation),
        ("trace-create", trace),
        ("event-create", {"id": "e", "traceId": "t", "level": "ERROR"}),
    ):
        event = {"id": "env", "type": event_type, "timestamp": stamp, "body": body}
        fast = _validate_fast(event)
        assert fast is not None, event_type
        assert fast == _validate_full(event)
