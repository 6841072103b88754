"""The stored rows of an entity that one event writes, built directly (the OTLP fast path's).

What :func:`._prepare.prepare_write` stores for an entity written by a single event, without
its generic steps: the document is what :func:`._merge.merge_events` gives for that one event
(fields in its order, empty objects left out, the defaults after), the event row leaves the
input, output and metadata the document holds to it (:data:`._prepare.FROM_DOC`), and the
document row carries the read columns of :data:`._sqlite.ROW_OF`.
"""

from __future__ import annotations

import functools
from typing import Any, Final

from ._merge import _OBSERVATION_KEYS, _TRACE_KEYS, _with_total
from ._prepare import FROM_DOC, PreparedRow
from ._sqlite import ROW_OF, dumps
from ._validate import MAX_SAFE_INTEGER, iso_ms, normalize_environment

__all__ = [
    "Rows",
    "normalized_environment",
    "observation_rows",
    "plain_generation_fields",
    "plain_trace_body",
    "span_rows",
    "trace_rows",
]

#: One entity's event row and document row.
Rows = tuple[PreparedRow, tuple[Any, ...]]

_SHARED: Final = ("input", "output", "metadata")


@functools.lru_cache(maxsize=256)
def _environment_name(value: str) -> str:
    return normalize_environment(value)


def normalized_environment(value: object) -> str:
    """:func:`._validate.normalize_environment`, cached for the few names an export has."""
    return _environment_name(value) if isinstance(value, str) else normalize_environment(value)


def plain_trace_body(body: dict[str, Any]) -> bool:
    """Whether validation keeps a converted trace body as it is (its environment aside)."""
    name = body.get("name")
    if name is not None and not (type(name) is str and name.isascii() and len(name) <= 1000):
        return False
    for key in ("userId", "sessionId", "release", "version"):
        value = body.get(key)
        if value is not None and type(value) is not str:
            return False
    public = body.get("public")
    if public is not None and type(public) is not bool:
        return False
    tags = body.get("tags")
    return tags is None or (type(tags) is list and all(type(tag) is str for tag in tags))


def plain_generation_fields(body: dict[str, Any]) -> bool:
    """Whether validation keeps a converted generation body's own fields as they are.

    Usage and cost are kept as equal objects (validation rebuilds them): counts that are
    non-negative safe integers and no OpenAI shape (those name ``total_tokens``), and
    non-negative costs. A body with a prompt is left to validation.
    """
    model = body.get("model")
    if model is not None and type(model) is not str:
        return False
    if "promptName" in body or "promptVersion" in body:
        return False
    parameters = body.get("modelParameters")
    if parameters is not None and not (
        type(parameters) is dict
        and all(type(value) in (str, int, float) for value in parameters.values())
    ):
        return False
    usage = body.get("usageDetails")
    if usage is not None and not (
        type(usage) is dict
        and "total_tokens" not in usage
        and all(type(count) is int and 0 <= count <= MAX_SAFE_INTEGER for count in usage.values())
    ):
        return False
    cost = body.get("costDetails")
    if cost is not None and not (
        type(cost) is dict
        and all(type(amount) in (int, float) and amount >= 0 for amount in cost.values())
    ):
        return False
    started = body.get("completionStartTime")
    # The converter renders it; only a year past 9999 (a longer form) is refused.
    return started is None or (type(started) is str and len(started) == 24)


def _held(value: Any) -> bool:
    # What a merge keeps of a value: not None, not an empty object.
    return value is not None and not (isinstance(value, dict) and not value)


def _event_row(
    entity: str, event: dict[str, Any], doc: dict[str, Any], ts_ms: float, placeholder: bool
) -> PreparedRow:
    body = event["body"]
    # What the document holds as the very same value (see _prepare._leave_to_doc): a kept
    # input or output, and a metadata object (the merge wraps any other metadata).
    shared = [
        key
        for key in _SHARED
        if not placeholder
        and (isinstance(body.get(key), dict) if key == "metadata" else _held(body.get(key)))
    ]
    if shared:
        compact = {key: value for key, value in body.items() if key not in shared}
        text = dumps({**event, "body": compact, FROM_DOC: shared})
    else:
        text = dumps(event)
    return (
        entity,
        body["id"],
        event["id"],
        event["type"],
        ts_ms,
        0,
        placeholder,
        text,
        bool(shared),
    )


def observation_rows(event: dict[str, Any], kind: str, ts_ms: float) -> Rows:
    """The rows of an observation written by this one validated event of type ``kind``."""
    body = event["body"]
    doc: dict[str, Any] = {"id": body["id"]}
    for key in _OBSERVATION_KEYS:
        value = body.get(key)
        if value is None:
            continue
        if key == "metadata":
            doc[key] = value if isinstance(value, dict) else {"metadata": value}
        elif not (isinstance(value, dict) and not value):
            doc[key] = value
    doc["type"] = kind
    for key in ("startTime", "endTime", "completionStartTime"):
        if isinstance(doc.get(key), str):
            doc[key] = iso_ms(doc[key])
    doc.setdefault("startTime", iso_ms(event["timestamp"]))
    doc.setdefault("level", "DEFAULT")
    doc.setdefault("environment", "default")
    doc["usageDetails"] = _with_total(dict(doc.get("usageDetails") or {}))
    doc["costDetails"] = _with_total(dict(doc.get("costDetails") or {}))
    return _event_row("observation", event, doc, ts_ms, False), ROW_OF["observations"](doc)


def trace_rows(event: dict[str, Any], ts_ms: float, placeholder: bool) -> Rows:
    """The rows of a trace written by this one validated ``trace-create`` event.

    A placeholder only fills in what it says (it is the trace's only event here).
    """
    body = event["body"]
    doc: dict[str, Any] = {"id": body["id"]}
    for key in _TRACE_KEYS:
        value = body.get(key)
        if value is None:
            continue
        if placeholder:
            doc[key] = value
        elif key == "metadata":
            doc[key] = value if isinstance(value, dict) else {"metadata": value}
        elif key == "tags":
            doc[key] = sorted(set(value))
        elif not (isinstance(value, dict) and not value):
            doc[key] = value
    if isinstance(doc.get("timestamp"), str):
        doc["timestamp"] = iso_ms(doc["timestamp"])
    doc.setdefault("timestamp", iso_ms(event["timestamp"]))
    doc.setdefault("tags", [])
    doc.setdefault("public", False)
    doc.setdefault("environment", "default")
    return _event_row("trace", event, doc, ts_ms, placeholder), ROW_OF["traces"](doc)


def span_rows(
    where: tuple[str, str, str | None, str | None, str, str],
    payload: tuple[Any, Any, dict[str, Any]],
    fields: tuple[str, str | None, str | None, Any],
    kind: str,
    envelope: tuple[str, str, float],
) -> Rows:
    """The rows of a plainly valid span or event (``kind`` SPAN or EVENT), from its fields.

    :func:`observation_rows` without building the converted body first: every field is of
    a type validation keeps as it is.

    Args:
        where: Span id, trace id, parent id, name, start and end time.
        payload: Input, output and metadata (a dict).
        fields: Level, status message, version and the environment as converted.
        kind: ``SPAN`` or ``EVENT``.
        envelope: The envelope id, time and time in epoch milliseconds.
    """
    span_id, trace_id, parent, name, start, end = where
    observation_input, observation_output, metadata = payload
    level, status_message, version, environment = fields
    envelope_id, now, ts_ms = envelope
    environment_name = normalized_environment(environment)
    is_event = kind == "EVENT"
    doc: dict[str, Any] = {"id": span_id, "traceId": trace_id}
    if name is not None:
        doc["name"] = name
    doc["startTime"] = start
    if not is_event:
        doc["endTime"] = end
    shared = []
    if _held(observation_input):
        doc["input"] = observation_input
        shared.append("input")
    if _held(observation_output):
        doc["output"] = observation_output
        shared.append("output")
    doc["metadata"] = metadata
    shared.append("metadata")
    doc["level"] = level
    if status_message is not None:
        doc["statusMessage"] = status_message
    if parent is not None:
        doc["parentObservationId"] = parent
    if version is not None:
        doc["version"] = version
    doc["environment"] = environment_name
    doc["type"] = kind
    doc["usageDetails"] = {}
    doc["costDetails"] = {}
    # The event as stored: the converted body (its fields in the converter's order, the
    # environment normalised where validation puts it) less what the document holds.
    body: dict[str, Any] = {"id": span_id, "traceId": trace_id}
    if parent is not None:
        body["parentObservationId"] = parent
    if name is not None:
        body["name"] = name
    body["startTime"] = start
    if observation_input is not None and "input" not in shared:
        body["input"] = observation_input
    if observation_output is not None and "output" not in shared:
        body["output"] = observation_output
    body["level"] = level
    if status_message is not None:
        body["statusMessage"] = status_message
    if version is not None:
        body["version"] = version
    if environment is not None:
        body["environment"] = environment_name
    if not is_event:
        body["endTime"] = end
    if environment is None:
        body["environment"] = environment_name
    event_type = "event-create" if is_event else "span-create"
    event = {
        "id": envelope_id,
        "type": event_type,
        "timestamp": now,
        "body": body,
        FROM_DOC: shared,
    }
    row: PreparedRow = (
        "observation",
        span_id,
        envelope_id,
        event_type,
        ts_ms,
        0,
        False,
        dumps(event),
        True,
    )
    doc_row = (
        span_id,
        trace_id,
        kind,
        name,
        start,
        None if is_event else end,
        level,
        parent,
        version,
        environment_name,
        None,
        dumps(doc),
    )
    return row, doc_row
