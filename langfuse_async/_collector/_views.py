"""Stored documents in the public API's response shapes (``TraceWithFullDetails``, ...)."""

from __future__ import annotations

from typing import Any

from ._http import PROJECT_ID
from ._validate import timestamp_ms

__all__ = ["observation_view", "score_view", "trace_view"]


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (timestamp_ms(end) - timestamp_ms(start)) / 1000.0


def observation_view(doc: dict[str, Any]) -> dict[str, Any]:
    """An observation document in the API's ``ObservationsView`` shape."""
    usage = doc.get("usageDetails") or {}
    cost = doc.get("costDetails") or {}
    return {
        "id": doc["id"],
        "traceId": doc.get("traceId"),
        "type": doc.get("type"),
        "name": doc.get("name"),
        "startTime": doc.get("startTime"),
        "endTime": doc.get("endTime"),
        "completionStartTime": doc.get("completionStartTime"),
        "model": doc.get("model"),
        "modelParameters": doc.get("modelParameters"),
        "input": doc.get("input"),
        "version": doc.get("version"),
        "metadata": doc.get("metadata"),
        "output": doc.get("output"),
        "usage": {
            "input": usage.get("input", 0),
            "output": usage.get("output", 0),
            "total": usage.get("total", 0),
            "unit": "TOKENS" if usage else None,
            "inputCost": cost.get("input"),
            "outputCost": cost.get("output"),
            "totalCost": cost.get("total"),
        },
        "level": doc.get("level") or "DEFAULT",
        "statusMessage": doc.get("statusMessage"),
        "parentObservationId": doc.get("parentObservationId"),
        "promptId": None,
        "usageDetails": usage,
        "costDetails": cost,
        "environment": doc.get("environment") or "default",
        "promptName": doc.get("promptName"),
        "promptVersion": doc.get("promptVersion"),
        "modelId": None,
        "inputPrice": None,
        "outputPrice": None,
        "totalPrice": None,
        "calculatedInputCost": cost.get("input"),
        "calculatedOutputCost": cost.get("output"),
        "calculatedTotalCost": cost.get("total"),
        "latency": _seconds_between(doc.get("startTime"), doc.get("endTime")),
        "timeToFirstToken": _seconds_between(doc.get("startTime"), doc.get("completionStartTime")),
        "projectId": PROJECT_ID,
    }


def score_view(doc: dict[str, Any]) -> dict[str, Any]:
    """A score document in the API's ``ScoreV1`` shape."""
    data_type = doc.get("dataType") or "NUMERIC"
    value = doc.get("value")
    view: dict[str, Any] = {
        "id": doc["id"],
        "traceId": doc.get("traceId"),
        "name": doc.get("name"),
        "source": doc.get("source") or "API",
        "observationId": doc.get("observationId"),
        "timestamp": doc.get("timestamp"),
        "createdAt": doc.get("timestamp"),
        "updatedAt": doc.get("timestamp"),
        "authorUserId": None,
        "comment": doc.get("comment"),
        "metadata": doc.get("metadata") or {},
        "configId": doc.get("configId"),
        "queueId": doc.get("queueId"),
        "environment": doc.get("environment") or "default",
        "dataType": data_type,
    }
    if data_type == "BOOLEAN":
        view["value"] = value
        view["stringValue"] = "True" if value == 1 else "False"
    elif isinstance(value, str):
        if data_type != "TEXT":
            view["value"] = 0
        view["stringValue"] = value
    else:
        view["value"] = value
    return view


def trace_view(
    doc: dict[str, Any], observations: list[dict[str, Any]], scores: list[dict[str, Any]]
) -> dict[str, Any]:
    """A trace document with the API's derived fields (``htmlPath``, ``latency``, ``totalCost``)."""
    starts: list[str] = [o["startTime"] for o in observations if o.get("startTime")]
    ends: list[str] = [
        o.get("endTime") or o["startTime"] for o in observations if o.get("startTime")
    ]
    latency = (
        (max(timestamp_ms(e) for e in ends) - min(timestamp_ms(s) for s in starts)) / 1000.0
        if starts and ends
        else None
    )
    costs = [(o.get("costDetails") or {}).get("total") for o in observations]
    cost_values = [c for c in costs if isinstance(c, (int, float))]
    return {
        "id": doc["id"],
        "timestamp": doc.get("timestamp"),
        "name": doc.get("name"),
        "input": doc.get("input"),
        "output": doc.get("output"),
        "sessionId": doc.get("sessionId"),
        "release": doc.get("release"),
        "version": doc.get("version"),
        "userId": doc.get("userId"),
        "metadata": doc.get("metadata"),
        "tags": doc.get("tags") or [],
        "public": bool(doc.get("public")),
        "environment": doc.get("environment") or "default",
        "htmlPath": f"/project/{PROJECT_ID}/traces/{doc['id']}",
        "latency": latency,
        "totalCost": sum(cost_values) if cost_values else None,
        "projectId": PROJECT_ID,
        "externalId": doc.get("externalId"),
    }
