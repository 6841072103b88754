"""Stored documents in the public API's response shapes, one function per schema of the spec."""

from __future__ import annotations

from typing import Any, Final

from ._http import PROJECT_ID
from ._store import TraceSummary
from ._validate import timestamp_ms

__all__ = [
    "OBSERVATION_FIELD_GROUPS",
    "SCORE_FIELD_GROUPS",
    "TRACE_FIELD_GROUPS",
    "observation_v2_view",
    "observation_view",
    "plain_trace_view",
    "projects_view",
    "score_v2_view",
    "score_v3_view",
    "score_view",
    "session_view",
    "trace_view",
]


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
    """A score document in the API's ``ScoreV1`` shape (a trace's scores)."""
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


#: The ``fields`` groups of the trace reads (``core`` is always included).
TRACE_FIELD_GROUPS: Final = ("core", "io", "scores", "observations", "metrics")


def trace_view(
    doc: dict[str, Any], summary: TraceSummary, groups: frozenset[str] | None = None
) -> dict[str, Any]:
    """A trace document with the API's derived fields (``htmlPath``, ``latency``, ``totalCost``).

    ``latency`` and ``totalCost`` are numbers even for a trace without observations or costs
    (0), as the official clients' models require.

    Args:
        doc: The trace document.
        summary: What its observations add (latency, cost).
        groups: The ``fields`` groups asked for (all by default): without ``io`` the input,
            output and metadata are left out; without ``metrics`` latency and cost read -1, as
            the server answers.
    """
    latency = _seconds_between(summary.start, summary.end)
    view = {
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
        "latency": max(latency, 0.0) if latency is not None else 0.0,
        "totalCost": summary.total_cost,
        "projectId": PROJECT_ID,
        "externalId": doc.get("externalId"),
    }
    if groups is not None:
        if "io" not in groups:
            for key in ("input", "output", "metadata"):
                del view[key]
        if "metrics" not in groups:
            view["latency"] = view["totalCost"] = -1
    return view


def plain_trace_view(doc: dict[str, Any]) -> dict[str, Any]:
    """A trace document in the API's plain ``Trace`` shape (a session's traces)."""
    return {
        key: value
        for key, value in trace_view(doc, TraceSummary()).items()
        if key not in ("htmlPath", "latency", "totalCost", "projectId", "externalId")
    }


# --- v2 observations ---------------------------------------------------------------------------

#: The field groups of ``GET /api/public/v2/observations`` and the fields each adds.
OBSERVATION_FIELD_GROUPS: Final[dict[str, tuple[str, ...]]] = {
    "core": (
        "id",
        "traceId",
        "startTime",
        "endTime",
        "projectId",
        "parentObservationId",
        "type",
        "modelId",
        "inputPrice",
        "outputPrice",
        "totalPrice",
    ),
    "basic": (
        "name",
        "level",
        "statusMessage",
        "version",
        "environment",
        "bookmarked",
        "public",
        "userId",
        "sessionId",
        "isRootObservation",
    ),
    "time": ("completionStartTime", "createdAt", "updatedAt"),
    "io": ("input", "output"),
    "metadata": ("metadata",),
    # The spec names the model "providedModelName"; the 5.x SDK's model reads "model".
    "model": ("providedModelName", "model", "internalModelId", "modelParameters"),
    "usage": ("usageDetails", "costDetails", "totalCost", "usagePricingTierName"),
    "prompt": ("promptId", "promptName", "promptVersion"),
    "metrics": ("latency", "timeToFirstToken"),
    "trace_context": ("traceName", "tags", "release"),
}


#: Metadata values longer than this are cut in v2 observations unless ``expandMetadata`` names
#: their key.
METADATA_VALUE_CHARS: Final = 200


def _cut_metadata(metadata: Any, expand: frozenset[str]) -> Any:
    if not isinstance(metadata, dict):
        return metadata
    return {
        key: value[:METADATA_VALUE_CHARS]
        if isinstance(value, str) and len(value) > METADATA_VALUE_CHARS and key not in expand
        else value
        for key, value in metadata.items()
    }


def observation_v2_view(
    doc: dict[str, Any],
    trace: dict[str, Any] | None,
    groups: frozenset[str],
    expand: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """An observation in the v2 API's ``ObservationV2`` shape, with the requested field groups.

    Args:
        doc: The observation document.
        trace: Its trace's document, if stored (user, session, tags, name, release).
        groups: The field groups to include (``core`` is always included).
        expand: Metadata keys whose string values are returned whole; longer values of the
            other keys are cut to 200 characters, as the server cuts them.
    """
    trace = trace or {}
    cost = doc.get("costDetails") or {}
    start = doc.get("startTime")
    full: dict[str, Any] = {
        "id": doc["id"],
        "traceId": doc.get("traceId"),
        "startTime": start,
        "endTime": doc.get("endTime"),
        "projectId": PROJECT_ID,
        "parentObservationId": doc.get("parentObservationId"),
        "type": doc.get("type") or "SPAN",
        "modelId": None,
        "inputPrice": None,
        "outputPrice": None,
        "totalPrice": None,
        "name": doc.get("name"),
        "level": doc.get("level") or "DEFAULT",
        "statusMessage": doc.get("statusMessage"),
        "version": doc.get("version"),
        "environment": doc.get("environment") or "default",
        "bookmarked": False,
        "public": bool(trace.get("public")),
        "userId": trace.get("userId"),
        "sessionId": trace.get("sessionId"),
        "isRootObservation": doc.get("parentObservationId") is None,
        "completionStartTime": doc.get("completionStartTime"),
        "createdAt": start,
        "updatedAt": doc.get("endTime") or start,
        "input": doc.get("input"),
        "output": doc.get("output"),
        "metadata": _cut_metadata(doc.get("metadata"), expand),
        "providedModelName": doc.get("model"),
        "model": doc.get("model"),
        "internalModelId": None,
        "modelParameters": doc.get("modelParameters"),
        "usageDetails": doc.get("usageDetails") or {},
        "costDetails": cost,
        "totalCost": cost.get("total"),
        "usagePricingTierName": None,
        "promptId": None,
        "promptName": doc.get("promptName"),
        "promptVersion": doc.get("promptVersion"),
        "latency": _seconds_between(start, doc.get("endTime")),
        "timeToFirstToken": _seconds_between(start, doc.get("completionStartTime")),
        "traceName": trace.get("name"),
        "tags": trace.get("tags") or [],
        "release": trace.get("release"),
    }
    keep = {field for group in groups | {"core"} for field in OBSERVATION_FIELD_GROUPS[group]}
    return {key: value for key, value in full.items() if key in keep}


# --- scores ------------------------------------------------------------------------------------


def _score_value_fields(doc: dict[str, Any]) -> dict[str, Any]:
    # The v1/v2 shapes: a number in "value", the text form in "stringValue" where one exists.
    data_type = doc.get("dataType") or "NUMERIC"
    value = doc.get("value")
    if data_type == "BOOLEAN":
        return {"value": value, "stringValue": "True" if value == 1 else "False"}
    if isinstance(value, str):
        return {"value": 0, "stringValue": value}
    return {"value": value}


def score_v2_view(doc: dict[str, Any], trace: dict[str, Any] | None) -> dict[str, Any]:
    """A score in the ``GET /api/public/v2/scores`` shape (``GetScoresResponseData``).

    Args:
        doc: The score document.
        trace: The scored trace's document, if any (its user, tags, environment, session).
    """
    view: dict[str, Any] = {
        "id": doc["id"],
        "traceId": doc.get("traceId"),
        "sessionId": doc.get("sessionId"),
        "observationId": doc.get("observationId"),
        "datasetRunId": doc.get("datasetRunId"),
        "name": doc.get("name"),
        "source": doc.get("source") or "API",
        "timestamp": doc.get("timestamp"),
        "createdAt": doc.get("timestamp"),
        "updatedAt": doc.get("timestamp"),
        "authorUserId": None,
        "comment": doc.get("comment"),
        "metadata": doc.get("metadata") or {},
        "configId": doc.get("configId"),
        "queueId": doc.get("queueId"),
        "environment": doc.get("environment") or "default",
        "dataType": doc.get("dataType") or "NUMERIC",
        **_score_value_fields(doc),
    }
    if doc.get("traceId"):
        trace = trace or {}
        view["trace"] = {
            "userId": trace.get("userId"),
            "tags": trace.get("tags") or [],
            "environment": trace.get("environment"),
            "sessionId": trace.get("sessionId"),
        }
    return view


#: The field groups of ``GET /api/public/v3/scores`` beyond the core fields.
SCORE_FIELD_GROUPS: Final = frozenset({"details", "subject", "annotation"})


def score_v3_view(doc: dict[str, Any], groups: frozenset[str]) -> dict[str, Any]:
    """A score in the v3 API's ``ScoreV3`` shape: the value in its own type.

    Args:
        doc: The score document.
        groups: Field groups beyond the core: ``details``, ``subject``, ``annotation``.
    """
    data_type = doc.get("dataType") or "NUMERIC"
    value = doc.get("value")
    if data_type == "BOOLEAN":
        value = value == 1
    elif data_type in ("CATEGORICAL", "TEXT", "CORRECTION"):
        value = "" if value is None else str(value)
    view: dict[str, Any] = {
        "id": doc["id"],
        "projectId": PROJECT_ID,
        "name": doc.get("name"),
        "source": doc.get("source") or "API",
        "timestamp": doc.get("timestamp"),
        "environment": doc.get("environment") or "default",
        "createdAt": doc.get("timestamp"),
        "updatedAt": doc.get("timestamp"),
        "dataType": data_type,
        "value": value,
    }
    if "details" in groups:
        view["comment"] = doc.get("comment")
        view["configId"] = doc.get("configId")
        metadata = doc.get("metadata")
        view["metadata"] = metadata if isinstance(metadata, dict) else None
    if "annotation" in groups:
        view["authorUserId"] = None
        view["queueId"] = doc.get("queueId")
    if "subject" in groups:
        view["subject"] = _score_subject(doc)
    return view


def _score_subject(doc: dict[str, Any]) -> dict[str, Any] | None:
    if doc.get("observationId"):
        return {"kind": "observation", "id": doc["observationId"], "traceId": doc.get("traceId")}
    if doc.get("traceId"):
        return {"kind": "trace", "id": doc["traceId"]}
    if doc.get("sessionId"):
        return {"kind": "session", "id": doc["sessionId"]}
    if doc.get("datasetRunId"):
        return {"kind": "experiment", "id": doc["datasetRunId"]}
    return None


# --- sessions and projects ---------------------------------------------------------------------


def session_view(session_id: str, created_at: str, environment: str) -> dict[str, Any]:
    """A session in the API's ``Session`` shape."""
    return {
        "id": session_id,
        "createdAt": created_at,
        "projectId": PROJECT_ID,
        "environment": environment,
    }


def projects_view() -> dict[str, Any]:
    """The one project the collector's keys belong to, in the API's ``Projects`` shape."""
    return {
        "data": [
            {
                "id": PROJECT_ID,
                "name": "langfuse-async collector",
                "organization": {"id": "local-organization", "name": "langfuse-async"},
                "metadata": {},
            }
        ]
    }
