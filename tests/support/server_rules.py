"""The ingestion server's validation rules, as a reusable checker for tests and fake servers.

The published JSON Schema (``tests/data/ingestion-request.schema.json``) is looser than the real
server, whose zod schemas reject or silently drop more. This module encodes the stricter rules
from the research notes (``ingestion-api.md`` §3-§5) on decoded JSON:

* envelope: ``id`` 1-800 chars without CR, a known ``type``, an ISO-8601 ``timestamp`` with a
  ``Z`` or ``±HH:MM`` zone (zod 4), a ``body`` object;
* every trace, observation and score body has an ``id`` (observations fail without one; traces
  and scores are acknowledged but never stored, so a client must treat that as an error too);
* body timestamps follow the envelope rule; levels, data types and units come from their enums;
* generation-like bodies: ``promptName``/``promptVersion`` both truthy or both falsy, integer
  usage counts, non-negative usage and cost details (others are silently dropped);
* traces: ``name`` at most 1000 chars, metadata not ``null`` at the root;
* scores: exactly one of ``traceId``/``sessionId``/``datasetRunId``; ``observationId`` needs
  ``traceId``; no ``dataType: null``; the value matches the data type (BOOLEAN 0 or 1, TEXT a
  string of 1-500 chars, ...).

Use :func:`check_event` / :func:`check_body` to get the list of violations (empty when valid),
or :func:`assert_valid_event` in a test.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = [
    "CLIENT_TIMESTAMP_RE",
    "EVENT_TYPES",
    "GENERATION_BODY_TYPES",
    "OBSERVATION_EVENT_TYPES",
    "SERVER_TIMESTAMP_RE",
    "assert_valid_event",
    "check_body",
    "check_event",
    "is_server_timestamp",
]

#: What zod 4 ``z.iso.datetime({offset: true})`` accepts: ``T`` separator, optional seconds and
#: fraction (any digits), zone ``Z`` or ``±HH:MM``.
SERVER_TIMESTAMP_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-](\d{2}):(\d{2}))$"
)
#: The one form this client sends, safe on every server version: microseconds and ``Z``.
CLIENT_TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")

#: Types whose body is the generation body on the server.
GENERATION_BODY_TYPES = frozenset(
    {
        "generation-create",
        "generation-update",
        "agent-create",
        "tool-create",
        "chain-create",
        "retriever-create",
        "evaluator-create",
        "embedding-create",
        "guardrail-create",
    }
)
#: Every observation event type with an ``id``-bearing observation body.
OBSERVATION_EVENT_TYPES = GENERATION_BODY_TYPES | {
    "span-create",
    "span-update",
    "event-create",
}
_LEGACY_OBSERVATION_TYPES = frozenset({"observation-create", "observation-update"})
#: Every type the public route accepts.
EVENT_TYPES = (
    OBSERVATION_EVENT_TYPES
    | _LEGACY_OBSERVATION_TYPES
    | {"trace-create", "score-create", "sdk-log"}
)

_LEVELS = frozenset({"DEBUG", "DEFAULT", "WARNING", "ERROR"})
_SCORE_DATA_TYPES = frozenset({"NUMERIC", "BOOLEAN", "CATEGORICAL", "CORRECTION", "TEXT"})
_USAGE_UNITS = frozenset({"CHARACTERS", "TOKENS", "SECONDS", "MILLISECONDS", "IMAGES", "REQUESTS"})
_USAGE_INT_FIELDS = ("input", "output", "total", "promptTokens", "completionTokens", "totalTokens")
_USAGE_NUMBER_FIELDS = ("inputCost", "outputCost", "totalCost")
_MAX_ID = 800
_MAX_TRACE_NAME = 1000
_MAX_TEXT_SCORE = 500


def is_server_timestamp(value: object) -> bool:
    """Tell whether ``value`` is a timestamp string the server accepts."""
    if not isinstance(value, str):
        return False
    match = SERVER_TIMESTAMP_RE.match(value)
    if match is None:
        return False
    _, month, day, hour, minute, second, zone_h, zone_m = match.groups()
    return (
        1 <= int(month) <= 12
        and 1 <= int(day) <= 31
        and int(hour) <= 23
        and int(minute) <= 59
        and (second is None or int(second) <= 59)
        and (zone_h is None or (int(zone_h) <= 23 and int(zone_m) <= 59))
    )


def _js_length(text: str) -> int:
    """The length JavaScript (and so zod's ``max``) gives ``text``: its UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _is_number(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _is_int(value: object) -> bool:
    # JSON cannot tell 5 from 5.0 and neither can zod's .int(), so both count.
    return _is_number(value) and float(value).is_integer()  # type: ignore[arg-type]


def _check_id(problems: list[str], where: str, value: object, *, required: bool) -> None:
    if value is None:
        if required:
            problems.append(f"{where}: missing (the server needs it)")
        return
    if not isinstance(value, str):
        problems.append(f"{where}: must be a string, got {type(value).__name__}")
    elif not 1 <= len(value) <= _MAX_ID:
        problems.append(f"{where}: length {len(value)} outside 1-{_MAX_ID}")
    elif "\r" in value:
        problems.append(f"{where}: must not contain a carriage return")


def _check_optional_str(problems: list[str], body: dict[str, Any], key: str) -> None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        problems.append(f"body.{key}: must be a string or absent")


def _check_timestamp_field(problems: list[str], body: dict[str, Any], key: str) -> None:
    value = body.get(key)
    if value is not None and not is_server_timestamp(value):
        problems.append(f"body.{key}: {value!r} is not an ISO-8601 datetime with a zone")


def _check_observation(problems: list[str], type_: str, body: dict[str, Any]) -> None:
    _check_id(problems, "body.id", body.get("id"), required=True)
    _check_id(problems, "body.traceId", body.get("traceId"), required=False)
    for key in ("name", "statusMessage", "parentObservationId", "version", "environment"):
        _check_optional_str(problems, body, key)
    for key in ("startTime", "endTime", "completionStartTime"):
        _check_timestamp_field(problems, body, key)
    level = body.get("level")
    if level is not None and level not in _LEVELS:
        problems.append(f"body.level: {level!r} is not one of {sorted(_LEVELS)}")
    if type_ in GENERATION_BODY_TYPES:
        _check_generation(problems, body)


def _check_generation(problems: list[str], body: dict[str, Any]) -> None:
    _check_optional_str(problems, body, "model")
    _check_optional_str(problems, body, "promptName")
    prompt_name = body.get("promptName")
    prompt_version = body.get("promptVersion")
    if prompt_version is not None and not _is_int(prompt_version):
        problems.append("body.promptVersion: must be an integer")
    if bool(prompt_name) != bool(prompt_version):
        problems.append("body.promptName/promptVersion: set both or neither (0 counts as unset)")
    params = body.get("modelParameters")
    if params is not None:
        if not isinstance(params, dict):
            problems.append("body.modelParameters: must be an object")
        else:
            for key, value in params.items():
                if not _is_model_parameter(value):
                    problems.append(f"body.modelParameters.{key}: unsupported value {value!r}")
    usage = body.get("usage")
    if usage is not None:
        if not isinstance(usage, dict):
            problems.append("body.usage: must be an object")
        else:
            for key in _USAGE_INT_FIELDS:
                if usage.get(key) is not None and not _is_int(usage[key]):
                    problems.append(f"body.usage.{key}: must be an integer")
            for key in _USAGE_NUMBER_FIELDS:
                if usage.get(key) is not None and not _is_number(usage[key]):
                    problems.append(f"body.usage.{key}: must be a number")
            unit = usage.get("unit")
            if unit is not None and unit not in _USAGE_UNITS:
                problems.append(f"body.usage.unit: {unit!r} is not a known unit")
    _check_details(problems, body, "usageDetails", integer=True)
    _check_details(problems, body, "costDetails", integer=False)


def _is_model_parameter(value: object) -> bool:
    if value is None or isinstance(value, (str, bool)) or _is_number(value):
        return True
    if isinstance(value, list):
        return all(isinstance(item, str) for item in value)
    if isinstance(value, dict):
        return all(isinstance(item, str) for item in value.values())
    return False


def _check_details(problems: list[str], body: dict[str, Any], key: str, *, integer: bool) -> None:
    details = body.get(key)
    if details is None:
        return
    if not isinstance(details, dict):
        problems.append(f"body.{key}: must be an object")
        return
    for name, value in details.items():
        # OpenAI-style ``*_details`` objects nest one level of counts.
        nested = list(value.values()) if isinstance(value, dict) and integer else [value]
        for item in nested:
            ok = _is_int(item) if integer else _is_number(item)
            if item is not None and (not ok or item < 0):
                kind = "non-negative integer" if integer else "non-negative number"
                problems.append(
                    f"body.{key}.{name}: {item!r} is not a {kind} (the server drops it)"
                )


def _check_trace(problems: list[str], body: dict[str, Any]) -> None:
    _check_id(problems, "body.id", body.get("id"), required=True)
    _check_timestamp_field(problems, body, "timestamp")
    for key in ("name", "userId", "sessionId", "release", "version", "environment"):
        _check_optional_str(problems, body, key)
    name = body.get("name")
    # zod counts a string's JavaScript length: UTF-16 code units, two for an astral character.
    if isinstance(name, str) and _js_length(name) > _MAX_TRACE_NAME:
        problems.append(f"body.name: longer than {_MAX_TRACE_NAME} characters")
    if "metadata" in body and body["metadata"] is None:
        problems.append("body.metadata: must not be null at the root")
    tags = body.get("tags")
    if tags is not None and not (
        isinstance(tags, list) and all(isinstance(tag, str) for tag in tags)
    ):
        problems.append("body.tags: must be a list of strings")
    public = body.get("public")
    if public is not None and not isinstance(public, bool):
        problems.append("body.public: must be a boolean")


def _check_score(problems: list[str], body: dict[str, Any]) -> None:
    _check_id(problems, "body.id", body.get("id"), required=True)
    name = body.get("name")
    if not isinstance(name, str) or not name:
        problems.append("body.name: must be a non-empty string")
    for key in ("traceId", "observationId", "sessionId", "datasetRunId", "comment", "configId"):
        _check_optional_str(problems, body, key)
    _check_optional_str(problems, body, "environment")
    targets = [key for key in ("traceId", "sessionId", "datasetRunId") if body.get(key)]
    if len(targets) != 1:
        problems.append(
            f"body: exactly one of traceId, sessionId, datasetRunId must be set, got {targets}"
        )
    if body.get("observationId") and not body.get("traceId"):
        problems.append("body.observationId: requires traceId")
    if "value" not in body:
        problems.append("body.value: missing")
        return
    value = body["value"]
    if "dataType" in body and body["dataType"] is None:
        problems.append("body.dataType: must be omitted, not null")
        return
    data_type = body.get("dataType")
    if data_type is not None and data_type not in _SCORE_DATA_TYPES:
        problems.append(f"body.dataType: {data_type!r} is not a score data type")
        return
    if data_type == "CORRECTION" and body.get("configId") is not None:
        problems.append("body.configId: not allowed for CORRECTION scores")
    if data_type is None:
        if not (isinstance(value, str) or _is_number(value)):
            problems.append("body.value: must be a number or a string")
    elif data_type == "NUMERIC":
        if not _is_number(value):
            problems.append("body.value: a NUMERIC score needs a number")
    elif data_type == "BOOLEAN":
        if not (_is_number(value) and value in (0, 1)):
            problems.append("body.value: a BOOLEAN score needs the number 0 or 1")
    elif data_type == "TEXT":
        if not (isinstance(value, str) and 1 <= len(value) <= _MAX_TEXT_SCORE):
            problems.append(f"body.value: a TEXT score needs 1-{_MAX_TEXT_SCORE} characters")
    elif not isinstance(value, str):
        problems.append(f"body.value: a {data_type} score needs a string")


def check_event(event: Any) -> list[str]:
    """Return the server rules one decoded event envelope breaks (empty when it is valid).

    Args:
        event: One element of a request's ``batch``, as decoded JSON.
    """
    if not isinstance(event, dict):
        return [f"event: must be an object, got {type(event).__name__}"]
    problems: list[str] = []
    _check_id(problems, "id", event.get("id"), required=True)
    if not is_server_timestamp(event.get("timestamp")):
        problems.append(f"timestamp: {event.get('timestamp')!r} is not ISO-8601 with a zone")
    type_ = event.get("type")
    if type_ not in EVENT_TYPES:
        problems.append(f"type: {type_!r} is not accepted on the public route")
        return problems
    body = event.get("body")
    if not isinstance(body, dict):
        problems.append("body: must be an object")
        return problems
    if type_ == "trace-create":
        _check_trace(problems, body)
    elif type_ == "score-create":
        _check_score(problems, body)
    elif type_ == "sdk-log":
        if "log" not in body:
            problems.append("body.log: missing")
    elif type_ in _LEGACY_OBSERVATION_TYPES:
        if body.get("type") not in ("GENERATION", "SPAN", "EVENT"):
            problems.append("body.type: must be GENERATION, SPAN or EVENT")
    else:
        _check_observation(problems, type_, body)
    return problems


def check_body(body: Any) -> list[str]:
    """Return the server rules a decoded request body breaks, each prefixed by its event index.

    Args:
        body: The whole request, as decoded JSON: ``{"batch": [...], "metadata": ...}``.
    """
    if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
        return ["request: must be an object with a batch array"]
    return [
        f"batch[{index}].{problem}"
        for index, event in enumerate(body["batch"])
        for problem in check_event(event)
    ]


def assert_valid_event(event: Any) -> None:
    """Fail with every broken rule listed when ``event`` breaks a server rule."""
    problems = check_event(event)
    assert not problems, "; ".join(problems)
