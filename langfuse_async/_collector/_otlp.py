"""OTLP spans to ingestion events as the server's legacy path converts them (one long mapping).

The route checks an export's shape first (a span without a string ``traceId``/``spanId``, or a
non-array ``scopeSpans``/``spans``/``attributes``/``events``, rejects the whole export). Each
span then becomes one ``<type>-create`` observation event, and ``trace-create`` events carry
the trace: a full one from a root span, a partial one from any span carrying trace-level
attributes, and a placeholder for a trace seen with neither. The events then pass the normal
ingestion validation, where an invalid one is dropped silently, as the worker drops it.

Protobuf bodies are decoded by :mod:`._otlp_proto` into the same shape.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import math
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Final

import msgspec

from .._otel_io import (
    GATEWAY_SCOPE,
    IO_KEYS,
    IO_PREFIXES,
    LANGFUSE_KEYS,
    LEFT_OUT_PREFIXES,
    SpanEvent,
    input_and_output,
)
from .._otel_params import first_chunk_ms, model_parameters
from .._otel_usage import (
    MODEL_KEYS,
    ai_sdk_type,
    is_agent_aggregate,
    model_name,
    usage_details,
)
from ._validate import format_epoch_ms, is_datetime, timestamp_ms

__all__ = [
    "PlainAttributes",
    "ProtobufUnavailable",
    "check_export",
    "convert_export",
    "js_stringify",
]

logger = logging.getLogger("langfuse_async")

_KNOWN_TYPES = {
    "span": "SPAN",
    "generation": "GENERATION",
    "event": "EVENT",
    "agent": "AGENT",
    "tool": "TOOL",
    "chain": "CHAIN",
    "retriever": "RETRIEVER",
    "evaluator": "EVALUATOR",
    "embedding": "EMBEDDING",
    "guardrail": "GUARDRAIL",
}
_OPENINFERENCE_KINDS = {
    "LLM": "GENERATION",
    "EMBEDDING": "EMBEDDING",
    "CHAIN": "CHAIN",
    "RETRIEVER": "RETRIEVER",
    "RERANKER": "RETRIEVER",
    "TOOL": "TOOL",
    "AGENT": "AGENT",
    "GUARDRAIL": "GUARDRAIL",
    "EVALUATOR": "EVALUATOR",
}
_GEN_AI_OPERATIONS = {
    "chat": "GENERATION",
    "completion": "GENERATION",
    "text_completion": "GENERATION",
    "generate_content": "GENERATION",
    "embeddings": "EMBEDDING",
    "execute_tool": "TOOL",
    "invoke_agent": "AGENT",
    "create_agent": "AGENT",
}
_GENERATION_KEYS = (
    "langfuse.observation.model.name",
    "langfuse.observation.model.parameters",
    "langfuse.observation.usage_details",
    "langfuse.observation.cost_details",
    "langfuse.observation.completion_start_time",
    "langfuse.observation.prompt.name",
    "langfuse.observation.prompt.version",
)
_LEVEL_ALIASES = {
    "DEBUG": "DEBUG",
    "TRACE": "DEBUG",
    "DEFAULT": "DEFAULT",
    "INFO": "DEFAULT",
    "NOTICE": "DEFAULT",
    "WARNING": "WARNING",
    "WARN": "WARNING",
    "ERROR": "ERROR",
    "ERR": "ERROR",
    "FATAL": "ERROR",
    "CRITICAL": "ERROR",
}
_METADATA_PREFIXES = (
    "langfuse.observation.metadata.",
    "langfuse.metadata.",
    "ai.telemetry.metadata.",
)
_TRACE_UPDATE_KEYS = (
    "langfuse.trace.name",
    "langfuse.trace.input",
    "langfuse.trace.output",
    "langfuse.trace.public",
    "langfuse.trace.tags",
    "user.id",
    "session.id",
    "langfuse.user.id",
    "langfuse.session.id",
)
_GENERATION_BODY_TYPES = frozenset(
    {"GENERATION", "AGENT", "TOOL", "CHAIN", "RETRIEVER", "EVALUATOR", "EMBEDDING", "GUARDRAIL"}
)


_NAME_KEYS = (
    "gen_ai.tool.name",
    "genkit:name",
    "logfire.msg",
    "ai.toolCall.name",
    "ai.operationId",
)
_TAGS_KEYS = (
    "langfuse.trace.tags",
    "langfuse.tags",
    "langfuse.observation.metadata.langfuse_tags",
    "langfuse.trace.metadata.langfuse_tags",
    "ai.telemetry.metadata.tags",
    "tag.tags",
)
_PUBLIC_KEYS = ("langfuse.trace.public", "langfuse.public")
# Most spans carry none of these: a set test in C skips the lookup (and the call) for them.
_NAME_KEYSET = frozenset(_NAME_KEYS)
_TAGS_KEYSET = frozenset(_TAGS_KEYS)
_PUBLIC_KEYSET = frozenset(_PUBLIC_KEYS)


class ProtobufUnavailable(Exception):
    """Raised when a protobuf export arrives but ``opentelemetry-proto`` is not installed."""


class PlainAttributes(dict[str, Any]):
    """Span attributes already decoded to plain values (what :mod:`._otlp_proto` produces)."""


# --- shape check -----------------------------------------------------------------------------


def check_export(resource_spans: object) -> str | None:
    """Return the server's whole-export 400 message for a malformed export, or None when valid."""
    problems: list[str] = []
    total = 0
    bad = 0
    if not isinstance(resource_spans, list):
        problems.append("resourceSpans:not-array")
        resource_spans = []
    for resource in resource_spans:
        if not isinstance(resource, dict):
            problems.append("resourceSpans:not-object")
            continue
        scope_spans = resource.get("scopeSpans", [])
        if not isinstance(scope_spans, list):
            problems.append("scopeSpans:not-array")
            continue
        for scope in scope_spans:
            if not isinstance(scope, dict):
                problems.append("scopeSpans:not-object")
                continue
            spans = scope.get("spans", [])
            if not isinstance(spans, list):
                problems.append("spans:not-array")
                continue
            for span in spans:
                total += 1
                reasons = _span_problems(span)
                if reasons:
                    bad += 1
                    problems.extend(reasons)
    if not problems:
        return None
    shown = ", ".join(dict.fromkeys(problems).keys())
    return (
        f"Invalid OTLP trace export: {bad} of {total} span(s) cannot be processed ({shown}). "
        "Every span needs a string traceId and spanId, and scopeSpans, spans, attributes and "
        "events must be arrays. The entire export was rejected and no spans were ingested. "
        "Fix the exporter and send the export again."
    )


def _span_problems(span: object) -> list[str]:
    if not isinstance(span, dict):
        return ["span:not-object"]
    reasons = []
    for key in ("traceId", "spanId"):
        value = span.get(key)
        if value is None or value == "":
            reasons.append(f"{key}:absent")
        elif not isinstance(value, str):
            reasons.append(f"{key}:invalid")
    parent = span.get("parentSpanId")
    if parent is not None and not isinstance(parent, str):
        reasons.append("parentSpanId:invalid")
    for key in ("attributes", "events"):
        if key in span and not isinstance(span[key], (list, PlainAttributes)):
            reasons.append(f"{key}:not-array")
    return reasons


# --- conversion ------------------------------------------------------------------------------


def _js_numbers(value: Any) -> Any:
    # JavaScript has one number type: an integral float prints without ".0".
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, list):
        return [_js_numbers(item) for item in value]
    if isinstance(value, dict):
        return {key: _js_numbers(item) for key, item in value.items()}
    return value


def js_stringify(value: Any) -> str:
    """``JSON.stringify(value)`` for decoded JSON values: compact, non-ASCII kept."""
    return json.dumps(_js_numbers(value), separators=(",", ":"), ensure_ascii=False)


def _any_value(value: object) -> Any:
    """Decode an OTLP ``AnyValue`` wrapper like the server's ``convertValueToPlainJavascript``."""
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "doubleValue" in value:
        number = value["doubleValue"]
        if isinstance(number, str):
            try:
                parsed = float(number)
            except ValueError:
                return number
            return parsed if math.isfinite(parsed) else number
        return number
    if "boolValue" in value:
        return value["boolValue"]
    if "arrayValue" in value:
        array = value["arrayValue"] if isinstance(value["arrayValue"], dict) else {}
        items = array.get("values") or []
        return [_any_value(item) for item in items] if isinstance(items, list) else []
    if "intValue" in value:
        number = value["intValue"]
        if isinstance(number, str):
            try:
                return int(number)
            except ValueError:
                return number
        return number
    return js_stringify(value)


def _attributes(items: object) -> dict[str, Any]:
    if isinstance(items, PlainAttributes):
        return items
    result: dict[str, Any] = {}
    if not isinstance(items, list):
        return result
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            result[item["key"]] = _any_value(item.get("value"))
    return result


def _nanos(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    if isinstance(value, dict) and "high" in value and "low" in value:
        try:
            return (int(value["high"]) << 32) | (int(value["low"]) & 0xFFFFFFFF)
        except (TypeError, ValueError):
            return None
    return None


def _iso_ms(epoch_ms: float) -> str:
    # Far outside JavaScript's date range this yields a year that fails validation later,
    # so such a span is dropped, as the worker fails to convert it.
    return format_epoch_ms(epoch_ms)


_decode_json = msgspec.json.decode


def _parse_json(text: str) -> Any:
    """``json.loads(text)``, in C for what msgspec reads (it raises ``ValueError`` alike).

    msgspec gives the same values for every document it accepts; what it refuses (NaN,
    numbers out of its range, lone surrogates) goes to the standard library, which decides.
    """
    try:
        return _decode_json(text)
    except msgspec.DecodeError:
        return json.loads(text)


#: The keys of each lookup tuple, as a set: most attributes have none of them, which one C
#: call tells (the tuples are constants, so each is built once).
_KEYSETS: dict[tuple[str, ...], frozenset[str]] = {}


def _first(attrs: dict[str, Any], keys: tuple[str, ...]) -> Any:
    keyset = _KEYSETS.get(keys)
    if keyset is None:
        keyset = _KEYSETS[keys] = frozenset(keys)
    if attrs.keys().isdisjoint(keyset):
        return None
    for key in keys:
        value = attrs.get(key)
        if value not in (None, "", [], {}):
            return value
    return None


def _json_object(value: object) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        if not value.lstrip().startswith("{"):
            return None  # no JSON object (JSON's blanks are among those lstrip removes)
        try:
            parsed = _parse_json(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def _io(value: object) -> Any:
    # Stored as received; objects and arrays read back parsed, as the API returns them.
    if isinstance(value, str):
        if not value.lstrip().startswith(("{", "[")):
            return value  # no JSON object or array (JSON's blanks are among those lstrip removes)
        try:
            parsed = _parse_json(value)
        except ValueError:
            return value
        return parsed if isinstance(parsed, (dict, list)) else value
    return value


_OWN_INPUT: Final = "langfuse.observation.input"
_OWN_OUTPUT: Final = "langfuse.observation.output"


def span_io(
    attrs: dict[str, Any], events: Sequence[SpanEvent], scope_name: object
) -> tuple[Any, Any]:
    """A span's input and output: both from the first source that has either (the server's).

    An observation's own input or output, once there, is the source, even empty (``""`` is
    kept, as the server keeps any value but null); any other span goes through the server's
    whole order of sources (:mod:`langfuse_async._otel_io`).
    """
    own_in, own_out = attrs.get(_OWN_INPUT), attrs.get(_OWN_OUTPUT)
    if own_in is not None or own_out is not None:
        return _io(own_in), _io(own_out)
    if not events and attrs.keys().isdisjoint(IO_KEYS):
        if not any(key.startswith(IO_PREFIXES) for key in attrs):
            return None, None  # most spans: no source at all, told in C
    return input_and_output(attrs, events, scope_name if isinstance(scope_name, str) else None)


def event_pairs(events: object) -> list[SpanEvent]:
    """OTLP span events as ``(name, attributes)`` pairs (what :func:`span_io` reads)."""
    if not isinstance(events, list):
        return []
    return [
        (event.get("name") or "", _attributes(event.get("attributes")))
        for event in events
        if isinstance(event, dict)
    ]


def _tags(value: object) -> list[str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, list):
        return [item if isinstance(item, str) else js_stringify(item) for item in value]
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, list):
                return [str(item) for item in parsed]
        if "," in text:
            return [part.strip() for part in text.split(",") if part.strip()]
        return [text]
    return [str(value)]


def _js_string(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def _version_at_most(version: object, limit: tuple[int, int]) -> bool:
    if not isinstance(version, str) or not version:
        return True
    return _str_version_at_most(version, limit)


@functools.lru_cache(maxsize=256)
def _str_version_at_most(version: str, limit: tuple[int, int]) -> bool:
    parts = version.split(".")
    try:
        major = int(parts[0])
        minor = int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return False
    return (major, minor) <= limit


def _observation_type(
    attrs: dict[str, Any], resource: dict[str, Any], scope_name: object, scope_version: object
) -> str:
    declared = attrs.get("langfuse.observation.type")
    declared_type = _KNOWN_TYPES.get(declared.lower()) if isinstance(declared, str) else None
    # Python SDK <= 3.3 marked generations as spans; the server still corrects them.
    if (
        scope_name == "langfuse-sdk"
        and resource.get("telemetry.sdk.language") == "python"
        and declared_type == "SPAN"
        and _version_at_most(scope_version, (3, 3))
        and any(key in attrs for key in _GENERATION_KEYS)
    ):
        return "GENERATION"
    if declared_type:
        return declared_type
    kind = attrs.get("openinference.span.kind")
    if isinstance(kind, str) and kind.upper() in _OPENINFERENCE_KINDS:
        return _OPENINFERENCE_KINDS[kind.upper()]
    operation = attrs.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation.lower() in _GEN_AI_OPERATIONS:
        return _GEN_AI_OPERATIONS[operation.lower()]
    ai_sdk = ai_sdk_type(attrs)
    if ai_sdk is not None:
        return ai_sdk
    if attrs.get("gen_ai.tool.name") or attrs.get("gen_ai.tool.call.id"):
        return "TOOL"
    if any(attrs.get(key) for key in MODEL_KEYS[:-1]):  # a bare "model" is not enough
        return "GENERATION"
    return "SPAN"


def _usage_details(attrs: dict[str, Any], scope_name: object) -> Any:
    raw = attrs.get("langfuse.observation.usage_details")
    if raw is not None:
        if not isinstance(raw, str):
            return {}
        parsed = _json_object(raw)
        if parsed is not None:
            return parsed
    # The server's reading per instrumentation (see langfuse_async._otel_usage), shared with
    # the bridge.
    return usage_details(attrs, scope_name if isinstance(scope_name, str) else None) or None


def _cost_details(attrs: dict[str, Any]) -> Any:
    raw = attrs.get("langfuse.observation.cost_details")
    if raw is not None:
        if not isinstance(raw, str):
            return {}
        parsed = _json_object(raw)
        if parsed is not None:
            return parsed
    total = _first(attrs, ("gen_ai.usage.cost", "llm.cost.total"))
    return {"total": total} if total is not None else None


def _completion_start(attrs: dict[str, Any], start: object) -> str | None:
    """When the completion started: Langfuse's own date, else the AI SDK's first chunk.

    ``start`` is the observation's start, from which the AI SDK counts its milliseconds.
    """
    value = attrs.get("langfuse.observation.completion_start_time")
    if isinstance(value, str):
        text = value
        if text.startswith('"'):
            # Older SDKs wrote the date as JSON: its text, quoted.
            try:
                unquoted = json.loads(text)
            except ValueError:
                unquoted = None
            text = unquoted if isinstance(unquoted, str) else ""
        if is_datetime(text):
            return _iso_ms(timestamp_ms(text))
    if not (isinstance(start, str) and is_datetime(start)):
        return None
    moment = first_chunk_ms(attrs, int(timestamp_ms(start)))
    return None if moment is None else _iso_ms(moment)


def _level(attrs: dict[str, Any], status: dict[str, Any], mode: str) -> Any:
    declared = attrs.get("langfuse.observation.level")
    if declared not in (None, ""):
        if mode == "v4" and isinstance(declared, str):
            alias = _LEVEL_ALIASES.get(declared.upper())
            if alias:
                return alias
        else:
            # v3 servers pass the raw value on; an unknown one fails validation later.
            return declared
    return "ERROR" if status.get("code") == 2 else "DEFAULT"


def encodes_metadata(scope: dict[str, Any]) -> bool:
    """Tell whether spans of this scope carry JSON-encoded metadata values (SDK 5 and later).

    The 5.x SDKs write every ``langfuse.*.metadata.<key>`` value with ``JSON.stringify`` (so
    ``"123"`` and ``123`` stay distinct) and the server decodes them again.
    """
    name, version = scope.get("name"), scope.get("version")
    # Only strings are cached (a JSON export may send anything there, unhashable included).
    if not (isinstance(name, str) and isinstance(version, str)):
        return False
    return _encodes_metadata(name, version)


@functools.lru_cache(maxsize=256)
def _encodes_metadata(name: str, version: str) -> bool:
    if not name.startswith("langfuse-sdk"):
        return False
    major = version.split(".", 1)[0]
    return major.isdigit() and int(major) >= 5


def _metadata_value(value: Any, encoded: bool) -> Any:
    if encoded and isinstance(value, str):
        try:
            return _parse_json(value)
        except ValueError:
            return value
    return value


def _span_events(events: object) -> list[dict[str, Any]]:
    """OTel span events (an exception and its stack trace, a log line) in a readable shape."""
    kept: list[dict[str, Any]] = []
    if not isinstance(events, list):
        return kept
    for event in events:
        if not isinstance(event, dict):
            continue
        entry: dict[str, Any] = {"name": event.get("name")}
        nanos = _nanos(event.get("timeUnixNano"))
        if nanos is not None:
            entry["timestamp"] = _iso_ms(nanos // 1_000_000)
        attributes = _attributes(event.get("attributes"))
        if attributes:
            entry["attributes"] = attributes
        kept.append(entry)
    return kept


def _metadata(
    attrs: dict[str, Any], resource: dict[str, Any], scope: dict[str, Any]
) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    encoded = encodes_metadata(scope)
    whole = _json_object(attrs.get("langfuse.observation.metadata"))
    if whole:
        metadata.update(whole)
    for key, value in attrs.items():
        if not key.startswith(_METADATA_PREFIXES):
            continue  # most attributes: one C call decides
        for prefix in _METADATA_PREFIXES:
            if key.startswith(prefix) and len(key) > len(prefix):
                metadata[key[len(prefix) :]] = _metadata_value(value, encoded)
                break
    metadata["resourceAttributes"] = resource
    metadata["scope"] = scope
    scope_name = scope.get("name")
    if not (isinstance(scope_name, str) and scope_name.startswith("langfuse-sdk")):
        # Every key that may carry input or output, used or not, as the server has it; the
        # gateway's Langfuse keys as well (each is read into a field).
        left_out = IO_KEYS | LANGFUSE_KEYS if scope_name == GATEWAY_SCOPE else IO_KEYS
        metadata["attributes"] = {
            key: value if isinstance(value, str) else js_stringify(value)
            for key, value in attrs.items()
            if key not in left_out and not key.startswith(LEFT_OUT_PREFIXES)
        }
    return metadata


def _trace_metadata(attrs: dict[str, Any], encoded: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    whole = _json_object(attrs.get("langfuse.trace.metadata"))
    if whole:
        metadata.update(whole)
    prefix = "langfuse.trace.metadata."
    for key, value in attrs.items():
        if key.startswith(prefix) and len(key) > len(prefix):
            metadata[key[len(prefix) :]] = _metadata_value(value, encoded)
    return metadata


_ENVIRONMENT_KEYS = frozenset(
    ("langfuse.environment", "deployment.environment.name", "deployment.environment")
)


def _environment(attrs: dict[str, Any], resource: dict[str, Any]) -> Any:
    if attrs.keys().isdisjoint(_ENVIRONMENT_KEYS) and resource.keys().isdisjoint(_ENVIRONMENT_KEYS):
        return None
    for key in ("langfuse.environment", "deployment.environment.name", "deployment.environment"):
        for source in (attrs, resource):
            value = source.get(key)
            if value not in (None, ""):
                return value
    return None


def _combine_trace_bodies(into: dict[str, Any], later: dict[str, Any]) -> None:
    """Fold a later partial trace body into an earlier one, as the store's merge folds them."""
    for key, value in later.items():
        if value is None or (isinstance(value, dict) and not value):
            continue
        if key in ("environment", "timestamp") and key in into:
            continue  # the first value is kept
        old = into.get(key)
        if key == "metadata" and isinstance(old, dict) and isinstance(value, dict):
            into[key] = _deep_merge(old, value)
        elif key == "tags" and isinstance(old, list) and isinstance(value, list):
            into[key] = list(dict.fromkeys([*old, *value]))
        else:
            into[key] = value


def _deep_merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    merged = dict(old)
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


_PROMPT_NAME_KEYS: Final = ("langfuse.observation.prompt.name", "langfuse.prompt.name")
_PROMPT_VERSION_KEYS: Final = ("langfuse.observation.prompt.version", "langfuse.prompt.version")


def _generation_fields(
    body: dict[str, Any], attrs: dict[str, Any], observation_type: str, scope_name: object
) -> None:
    """Set a generation-like body's model, usage, cost, completion start and prompt fields.

    Both the converter and the protobuf fast path (:mod:`._otlp_fast`) use it: one rule.
    """
    # An agent run's or step's counts sum its model calls': the server leaves them out.
    aggregate = is_agent_aggregate(attrs)
    generation: list[tuple[str, Any]] = [
        ("model", None if aggregate else model_name(attrs)),
        (
            "modelParameters",
            model_parameters(attrs, scope_name if isinstance(scope_name, str) else None),
        ),
        ("usageDetails", None if aggregate else _usage_details(attrs, scope_name)),
        ("costDetails", None if aggregate else _cost_details(attrs)),
        ("completionStartTime", _completion_start(attrs, body.get("startTime"))),
    ]
    if observation_type == "GENERATION":
        prompt_name = _first(attrs, _PROMPT_NAME_KEYS)
        prompt_version = _first(attrs, _PROMPT_VERSION_KEYS)
        if prompt_name is not None or prompt_version is not None:
            generation += [("promptName", prompt_name), ("promptVersion", prompt_version)]
    for key, value in generation:
        if value is not None:
            body[key] = value


class _Converter:
    def __init__(self, mode: str, now_ms: float, new_id: Callable[[], str]) -> None:
        self.mode = mode
        self.now = _iso_ms(now_ms)
        self.now_ms = now_ms
        self.new_id = new_id
        self.events: list[tuple[dict[str, Any], bool]] = []
        # The one trace-create body per trace of this export, merged from every span's part.
        self.trace_bodies: dict[str, dict[str, Any]] = {}
        self.first_seen: dict[str, tuple[str, Any]] = {}
        # Per resource (by identity, the object kept alongside): its trace metadata.
        self.resource_metadata: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}

    def envelope(self, event_type: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"id": self.new_id(), "type": event_type, "timestamp": self.now, "body": body}

    def span(self, span: dict[str, Any], resource: dict[str, Any], scope: dict[str, Any]) -> None:
        attrs = _attributes(span.get("attributes"))
        trace_id: str = span["traceId"]
        span_id: str = span["spanId"]
        parent = span.get("parentSpanId") or None
        is_root = (
            parent is None
            or _js_string(attrs.get("langfuse.internal.as_root")) == "true"
            or (self.mode == "v4" and attrs.get("langfuse.internal.is_app_root") in (True, "true"))
        )
        start_ns = _nanos(span.get("startTimeUnixNano"))
        end_ns = _nanos(span.get("endTimeUnixNano"))
        start_ns = start_ns if start_ns is not None else end_ns
        end_ns = end_ns if end_ns is not None else start_ns
        start = _iso_ms(start_ns // 1_000_000) if start_ns is not None else self.now
        end = _iso_ms(end_ns // 1_000_000) if end_ns is not None else self.now
        status = span.get("status")
        if not isinstance(status, dict):
            status = {}
        observation_type = _observation_type(
            attrs, resource, scope.get("name"), scope.get("version")
        )
        environment = _environment(attrs, resource)
        version = attrs.get("langfuse.version") or resource.get("service.version")
        observation_input, observation_output = span_io(
            attrs, event_pairs(span.get("events")), scope.get("name")
        )
        observation_metadata = _metadata(attrs, resource, scope)
        events = _span_events(span.get("events"))
        if events:
            # The server drops span events; the collector keeps them (an exception's type,
            # message and stack trace) under metadata "events" so they can be read back.
            observation_metadata["events"] = events
        # Fields left out when None, as the server leaves out undefined ones.
        body: dict[str, Any] = {"id": span_id, "traceId": trace_id}
        fields: tuple[tuple[str, Any], ...] = (
            # Verbatim, as the server does: a root marked as_root (a continued trace) keeps
            # its remote parent's id; being the root decides the trace-create, not this.
            ("parentObservationId", parent),
            (
                "name",
                (None if attrs.keys().isdisjoint(_NAME_KEYSET) else _first(attrs, _NAME_KEYS))
                or span.get("name"),
            ),
            ("startTime", start),
            ("input", observation_input),
            ("output", observation_output),
            ("metadata", observation_metadata),
            ("level", _level(attrs, status, self.mode)),
            (
                "statusMessage",
                attrs.get("langfuse.observation.status_message") or status.get("message") or None,
            ),
            ("version", version),
            ("environment", environment),
        )
        for key, value in fields:
            if value is not None:
                body[key] = value
        if observation_type != "EVENT":
            body["endTime"] = end
        if observation_type in _GENERATION_BODY_TYPES:
            _generation_fields(body, attrs, observation_type, scope.get("name"))
        self.events.append((self.envelope(f"{observation_type.lower()}-create", body), False))
        self.first_seen.setdefault(trace_id, (start, environment))

        # Trace-level attributes may sit on any span.
        if not is_root and not self.has_trace_keys(attrs):
            return
        trace_body = self.trace_fields(attrs, resource, encodes_metadata(scope), environment)
        if is_root:
            # Named as its root observation is (logfire.msg, a tool's name...), as the server.
            trace_body.setdefault("name", body.get("name"))
            trace_metadata = dict(trace_body.get("metadata") or {})
            trace_metadata.update(observation_metadata)
            trace_body["metadata"] = trace_metadata
            if parent is None or self.mode == "v3":
                trace_body.setdefault("input", observation_input)
                trace_body.setdefault("output", observation_output)
            trace_body["timestamp"] = start
        trace_body["id"] = trace_id
        trace_body = {key: value for key, value in trace_body.items() if value is not None}
        earlier = self.trace_bodies.get(trace_id)
        if earlier is None:
            self.trace_bodies[trace_id] = trace_body
            self.events.append((self.envelope("trace-create", trace_body), False))
        else:
            # Folded into the export's one trace-create: the store would merge the parts in
            # this same order, so the trace reads back the same, for a fraction of the work.
            _combine_trace_bodies(earlier, trace_body)

    def has_trace_keys(self, attrs: dict[str, Any]) -> bool:
        # Set operations and the tuple form of startswith run in C: this runs for every span.
        if not attrs.keys().isdisjoint(_TRACE_UPDATE_KEYS):
            return True
        return any(key.startswith("langfuse.trace.metadata") for key in attrs)

    def trace_fields(
        self,
        attrs: dict[str, Any],
        resource: dict[str, Any],
        encoded: bool,
        environment: Any,
    ) -> dict[str, Any]:
        """The trace-level fields a span's attributes set (``environment``: the span's)."""
        fields: dict[str, Any] = {}
        name = attrs.get("langfuse.trace.name")
        if name:
            fields["name"] = name
        user_id = _first(
            attrs,
            (
                "langfuse.user.id",
                "user.id",
                "langfuse.observation.metadata.langfuse_user_id",
                "langfuse.trace.metadata.langfuse_user_id",
                "ai.telemetry.metadata.userId",
            ),
        )
        session_id = _first(
            attrs,
            (
                "langfuse.session.id",
                "session.id",
                "gen_ai.conversation.id",
                "langfuse.observation.metadata.langfuse_session_id",
                "langfuse.trace.metadata.langfuse_session_id",
                "ai.telemetry.metadata.sessionId",
            ),
        )
        if user_id is not None:
            fields["userId"] = _js_string(user_id)
        if session_id is not None:
            fields["sessionId"] = _js_string(session_id)
        if not attrs.keys().isdisjoint(_TAGS_KEYSET):
            tags = _tags(_first(attrs, _TAGS_KEYS))
            if tags:
                fields["tags"] = tags
        if not attrs.keys().isdisjoint(_PUBLIC_KEYSET):
            public = _first(attrs, _PUBLIC_KEYS)
            if public is not None:
                fields["public"] = public in (True, "true")
        release = attrs.get("langfuse.release") or resource.get("langfuse.release")
        if release:
            fields["release"] = release
        version = attrs.get("langfuse.version") or resource.get("service.version")
        if version:
            fields["version"] = version
        if environment is not None:
            fields["environment"] = environment
        # The resource is shared by every span of its entry: its part is read once.
        resource_key = id(resource)
        from_resource = self.resource_metadata.get(resource_key)
        if from_resource is None or from_resource[0] is not resource:
            from_resource = (resource, _trace_metadata(resource))
            self.resource_metadata[resource_key] = from_resource
        metadata = {**from_resource[1], **_trace_metadata(attrs, encoded)}
        if metadata:
            fields["metadata"] = metadata
        if self.mode == "v3":
            # v4 never reads the deprecated trace input/output attributes.
            for key, field in (
                ("langfuse.trace.input", "input"),
                ("langfuse.trace.output", "output"),
            ):
                if attrs.get(key) is not None:
                    fields[field] = _io(attrs[key])
        return fields

    def finish(self) -> list[tuple[dict[str, Any], bool]]:
        for trace_id, (start, environment) in self.first_seen.items():
            if trace_id not in self.trace_bodies:
                body = {"id": trace_id, "timestamp": start}
                if environment is not None:
                    body["environment"] = environment
                self.events.append((self.envelope("trace-create", body), True))
        return self.events


def _envelope_ids() -> Callable[[], str]:
    # One random prefix per export and a counter: unique, and far cheaper than a uuid4 each.
    prefix = uuid.uuid4().hex[:24]
    counter = itertools.count()
    return lambda: f"{prefix}{next(counter):08x}"


def convert_export(
    resource_spans: list[Any],
    *,
    mode: str,
    now_ms: float | None = None,
    new_id: Callable[[], str] | None = None,
) -> tuple[list[tuple[dict[str, Any], bool]], list[tuple[str, str]]]:
    """Convert a checked export into ingestion events.

    Args:
        resource_spans: The export's ``resourceSpans`` (already accepted by :func:`check_export`).
        mode: ``"v3"`` (legacy path) or ``"v4"`` (app roots count as roots, trace I/O
            attributes ignored, level aliases accepted).
        now_ms: The envelope time in epoch milliseconds (defaults to now).
        new_id: Envelope id factory (defaults to uuid4).

    Returns:
        The raw events, each with a flag telling whether it is a placeholder trace, and the
        ``(traceId, spanId)`` of every span.
    """
    converter = _Converter(
        mode,
        time.time() * 1000 if now_ms is None else now_ms,
        new_id or _envelope_ids(),
    )
    spans_seen: list[tuple[str, str]] = []
    for resource_entry in resource_spans:
        resource = resource_entry.get("resource")
        # The worker reads `resource?.attributes`: anything but an object has none.
        resource_attrs = _attributes(
            resource.get("attributes") if isinstance(resource, dict) else None
        )
        for scope_entry in resource_entry.get("scopeSpans") or []:
            raw_scope = (
                scope_entry.get("scope") if isinstance(scope_entry.get("scope"), dict) else {}
            )
            assert isinstance(raw_scope, dict)
            scope = {
                "name": raw_scope.get("name"),
                "version": raw_scope.get("version"),
                "attributes": _attributes(raw_scope.get("attributes")),
            }
            for span in scope_entry.get("spans") or []:
                spans_seen.append((span["traceId"], span["spanId"]))
                try:
                    converter.span(span, resource_attrs, scope)
                except Exception:  # a span the worker could not convert is only logged
                    logger.debug("collector: could not convert span %r", span.get("spanId"))
    return converter.finish(), spans_seen
