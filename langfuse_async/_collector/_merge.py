"""Merging an entity's events into its document, the way the Langfuse worker merges them.

Events are folded in processing order (envelope timestamp, creates before updates on ties):
later values win, empty objects keep the old value, metadata is deep-merged, tags are unioned,
and the first environment, trace timestamp and start time are kept. The result is one JSON
document per trace, observation and score, in the public API's field names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._validate import OBSERVATION_TYPES, UPDATE_TYPES, iso_ms

__all__ = ["merge_events"]

_OBSERVATION_KEYS = (
    "traceId",
    "name",
    "startTime",
    "endTime",
    "completionStartTime",
    "model",
    "modelParameters",
    "input",
    "output",
    "metadata",
    "level",
    "statusMessage",
    "parentObservationId",
    "version",
    "environment",
    "usageDetails",
    "costDetails",
    "promptName",
    "promptVersion",
)
_TRACE_KEYS = (
    "timestamp",
    "name",
    "externalId",
    "input",
    "output",
    "sessionId",
    "userId",
    "environment",
    "metadata",
    "release",
    "version",
    "public",
    "tags",
)
_SCORE_KEYS = (
    "name",
    "value",
    "dataType",
    "traceId",
    "observationId",
    "sessionId",
    "datasetRunId",
    "environment",
    "comment",
    "metadata",
    "source",
    "configId",
    "queueId",
)
_TIME_KEYS = ("timestamp", "startTime", "endTime", "completionStartTime")
# Keys whose explicit null is a value (a score's comment is cleared by sending null).
_NULLABLE_KEYS = frozenset({"comment"})
# Keys the server keeps from the first event that sets them: an update (which validation
# stamps with environment "default") must not move a trace's environment or time.
_FIRST_WINS = frozenset({"environment", "timestamp", "startTime"})
# The keys _fold does not simply overwrite (most keys of most records are not among them).
_SPECIAL_KEYS = _FIRST_WINS | {"metadata", "tags"}


def _metadata_map(value: Any) -> dict[str, Any] | None:
    # The worker keeps metadata as a map; a non-object value lands under the "metadata" key.
    if value is None:
        return None
    if isinstance(value, dict):
        return value
    return {"metadata": value}


def _deep_merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    merged = dict(old)
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _fold(result: dict[str, Any], record: dict[str, Any]) -> None:
    """Merge one event's record into the entity, the way the worker's overwrite does."""
    for key, value in record.items():
        if value is None and key not in _NULLABLE_KEYS:
            continue
        if key in _SPECIAL_KEYS:
            if key in _FIRST_WINS:
                if key in result:
                    continue
            elif key == "metadata":
                new = _metadata_map(value)
                if new is not None:
                    old = result.get("metadata")
                    result["metadata"] = _deep_merge(old, new) if isinstance(old, dict) else new
                continue
            else:  # tags
                result["tags"] = sorted(set(result.get("tags") or ()) | set(value))
                continue
        if isinstance(value, dict) and not value:
            continue
        result[key] = value


def _with_total(details: dict[str, Any]) -> dict[str, Any]:
    if details and "total" not in details:
        return {**details, "total": sum(details.values())}
    return details


def _observation_record(event: dict[str, Any]) -> dict[str, Any]:
    body = event["body"]
    record = {key: body[key] for key in _OBSERVATION_KEYS if key in body}
    usage = body.get("usage")
    if isinstance(usage, dict):
        if body.get("usageDetails") is None:
            record["usageDetails"] = {
                key: usage[key]
                for key in ("input", "output", "total")
                if usage.get(key) is not None
            }
        if body.get("costDetails") is None:
            record["costDetails"] = {
                side: usage[f"{side}Cost"]
                for side in ("input", "output", "total")
                if usage.get(f"{side}Cost") is not None
            }
    return record


def merge_events(entity: str, body_id: str, events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Merge an entity's events (already in processing order) into its document.

    Args:
        entity: ``trace``, ``observation`` or ``score``.
        body_id: The entity id.
        events: The kept events, sorted by timestamp with creates first on ties.

    Returns:
        The entity document in the public API's field names.
    """
    doc: dict[str, Any] = {"id": body_id}
    first_timestamp = iso_ms(events[0]["timestamp"]) if events else None
    # A placeholder (the OTLP converter's stand-in for a trace no span described) only fills
    # in what no real event said, wherever it sorts.
    ordered = events
    if len(events) > 1 and any(event.get("placeholder") for event in events):
        ordered = [event for event in events if not event.get("placeholder")]
        ordered += [event for event in events if event.get("placeholder")]
    for event in ordered:
        body = event["body"]
        if event.get("placeholder"):
            for key in _TRACE_KEYS:
                if key in body and body[key] is not None:
                    doc.setdefault(key, body[key])
            continue
        if entity == "trace":
            _fold(doc, {key: body[key] for key in _TRACE_KEYS if key in body})
        elif entity == "score":
            _fold(doc, {key: body[key] for key in _SCORE_KEYS if key in body})
            doc["timestamp"] = iso_ms(event["timestamp"])
        else:
            _fold(doc, _observation_record(event))
            event_type = event["type"]
            if event_type in ("observation-create", "observation-update"):
                observation_type: str | None = body.get("type")
            else:
                observation_type = OBSERVATION_TYPES.get(event_type)
            # A create decides the type; an update only fills it in when no create arrived.
            if observation_type and (event_type not in UPDATE_TYPES or "type" not in doc):
                doc["type"] = observation_type
    for key in _TIME_KEYS:
        if isinstance(doc.get(key), str):
            doc[key] = iso_ms(doc[key])
    if entity == "trace":
        doc.setdefault("timestamp", first_timestamp)
        doc.setdefault("tags", [])
        doc.setdefault("public", False)
        doc.setdefault("environment", "default")
    elif entity == "observation":
        doc.setdefault("type", "SPAN")
        doc.setdefault("startTime", first_timestamp)
        doc.setdefault("level", "DEFAULT")
        doc.setdefault("environment", "default")
        doc["usageDetails"] = _with_total(dict(doc.get("usageDetails") or {}))
        doc["costDetails"] = _with_total(dict(doc.get("costDetails") or {}))
    else:
        value = doc.get("value")
        if "dataType" not in doc:
            doc["dataType"] = "CATEGORICAL" if isinstance(value, str) else "NUMERIC"
        doc.setdefault("environment", "default")
        doc.setdefault("source", "API")
    return doc
