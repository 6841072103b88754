"""How an OpenTelemetry span becomes an observation: the server's attribute mapping, as data.

Pure functions over plain values (no OpenTelemetry import), following how the Langfuse server
reads OTLP spans (``/work/shared/research/otlp-mapping.md`` section 2): Langfuse's own
``langfuse.*`` keys first, then the GenAI semantic conventions (``gen_ai.*``), OpenInference
(``openinference.span.kind``, ``llm.*``) and the frameworks' own keys (``logfire.msg``...).
Where the input and output come from is :mod:`langfuse_async._otel_io`'s job.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._otel_io import (
    GATEWAY_SCOPE,
    IO_KEYS,
    LANGFUSE_KEYS,
    LEFT_OUT_PREFIXES,
    SpanEvent,
    input_and_output,
    truthy as _truthy,
)
from .._otel_params import first_chunk_ms, model_parameters
from .._otel_usage import ai_sdk_type, is_agent_aggregate, model_name, usage_details

__all__ = ["MappedSpan", "map_span"]


@dataclass(frozen=True)
class MappedSpan:
    """An observation's name, type and fields (keyword arguments of ``update``)."""

    name: str
    as_type: str
    fields: dict[str, Any] = field(default_factory=dict)
    trace: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of ``update_trace``; empty when the span sets no trace attribute."""


_OPENINFERENCE_KINDS = {
    "LLM": "generation",
    "CHAIN": "chain",
    "TOOL": "tool",
    "RETRIEVER": "retriever",
    "RERANKER": "retriever",
    "EMBEDDING": "embedding",
    "AGENT": "agent",
    "GUARDRAIL": "guardrail",
    "EVALUATOR": "evaluator",
}
_OPERATIONS = {
    "chat": "generation",
    "text_completion": "generation",
    "completion": "generation",
    "generate_content": "generation",
    "embeddings": "embedding",
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "create_agent": "agent",
}
_TYPES = frozenset(
    {"span", "generation", "event", "agent", "tool", "chain", "retriever", "evaluator"}
    | {"embedding", "guardrail"}
)
_LEVELS = {
    "DEBUG": "DEBUG",
    "TRACE": "DEBUG",
    "DEFAULT": "DEFAULT",
    "INFO": "DEFAULT",
    "WARNING": "WARNING",
    "WARN": "WARNING",
    "ERROR": "ERROR",
    "FATAL": "ERROR",
    "CRITICAL": "ERROR",
}
_MODEL_KEYS = (
    "langfuse.observation.model.name",
    "gen_ai.response.model",
    "gen_ai.request.model",
    "llm.response.model",
    "llm.model_name",
    "model",
)


def _json(value: Any) -> Any:
    """A string holding a JSON object or array as that value; anything else unchanged."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _first(attrs: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return value
    return None


def _with_prefix(attrs: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix) :]: v for k, v in attrs.items() if k.startswith(prefix)}


def _as_type(attrs: Mapping[str, Any], has_model: bool) -> str:
    own = attrs.get("langfuse.observation.type")
    if isinstance(own, str) and own.lower() in _TYPES:
        return own.lower()
    kind = attrs.get("openinference.span.kind")
    if isinstance(kind, str) and kind.upper() in _OPENINFERENCE_KINDS:
        return _OPENINFERENCE_KINDS[kind.upper()]
    operation = attrs.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation.lower() in _OPERATIONS:
        return _OPERATIONS[operation.lower()]
    ai_sdk = ai_sdk_type(attrs)
    if ai_sdk is not None:
        return ai_sdk.lower()
    if "gen_ai.tool.name" in attrs or "gen_ai.tool.call.id" in attrs:
        return "tool"
    return "generation" if has_model else "span"


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _usage(attrs: Mapping[str, Any], scope_name: str | None) -> dict[str, int] | None:
    own = _json(attrs.get("langfuse.observation.usage_details"))
    if isinstance(own, Mapping):
        kept = {str(k): n for k, v in own.items() if (n := _int(v)) is not None}
        if kept:
            return kept
    # The server's reading per instrumentation (cache reads and writes out of input,
    # reasoning out of output); the counts the ingestion API takes are whole and not negative.
    usage = {
        name: count
        for name, value in usage_details(attrs, scope_name).items()
        if (count := _int(value)) is not None
    }
    return usage or None


def _cost(attrs: Mapping[str, Any]) -> dict[str, float] | None:
    own = _json(attrs.get("langfuse.observation.cost_details"))
    if isinstance(own, Mapping):
        kept = {
            str(k): float(v)
            for k, v in own.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
        }
        if kept:
            return kept
    total = _first(attrs, "gen_ai.usage.cost", "llm.cost.total")
    if isinstance(total, (int, float)) and not isinstance(total, bool) and total >= 0:
        return {"total": float(total)}
    return None


_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def _time(value: Any) -> _dt.datetime | None:
    text = _json(value)
    if isinstance(text, str) and text.startswith('"'):
        try:
            text = json.loads(text)
        except ValueError:
            return None
    if not isinstance(text, str):
        return None
    try:
        parsed = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_dt.timezone.utc)


def _completion_start(attrs: Mapping[str, Any], start_ns: int | None) -> _dt.datetime | None:
    """Langfuse's own completion start, else the AI SDK's first chunk after the span's start."""
    own = _time(attrs.get("langfuse.observation.completion_start_time"))
    if own is not None or start_ns is None:
        return own
    moment = first_chunk_ms(attrs, start_ns // 1_000_000)
    if moment is None:
        return None
    try:
        return _EPOCH + _dt.timedelta(milliseconds=moment)
    except OverflowError:
        return None  # past Python's year 9999


def _tags(value: Any) -> list[str] | None:
    value = _json(value)
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    if isinstance(value, str) and value:
        return [t.strip() for t in value.split(",") if t.strip()]
    return None


def _trace(attrs: Mapping[str, Any]) -> dict[str, Any]:
    trace: dict[str, Any] = {}
    name = attrs.get("langfuse.trace.name")
    if isinstance(name, str) and name:
        trace["name"] = name
    user_id = _first(attrs, "langfuse.user.id", "user.id")
    if user_id is not None:
        trace["user_id"] = str(user_id)
    session_id = _first(attrs, "langfuse.session.id", "session.id", "gen_ai.conversation.id")
    if session_id is not None:
        trace["session_id"] = str(session_id)
    tags = _tags(_first(attrs, "langfuse.trace.tags", "langfuse.tags"))
    if tags:
        trace["tags"] = tags
    public = _first(attrs, "langfuse.trace.public", "langfuse.public")
    if public is True or public == "true":
        trace["public"] = True
    metadata = _with_prefix(attrs, "langfuse.trace.metadata.")
    if metadata:
        trace["metadata"] = metadata
    return trace


def _js_number(value: Any) -> Any:
    # JavaScript has one number type: an integral float prints without ".0".
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_js_number(item) for item in value]
    return value


def _stringified(value: Any) -> str:
    """An attribute value as the server keeps it in ``metadata.attributes`` (JSON unless a str)."""
    if isinstance(value, str):
        return value
    return json.dumps(_js_number(value), separators=(",", ":"), ensure_ascii=False, default=str)


def _metadata(
    attrs: Mapping[str, Any],
    scope_name: str | None,
    scope_version: str | None,
    scope_attributes: Mapping[str, Any],
    resource: Mapping[str, Any],
) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    own = _json(attrs.get("langfuse.observation.metadata"))
    if isinstance(own, Mapping):
        meta.update(own)
    for prefix in ("langfuse.observation.metadata.", "langfuse.metadata."):
        meta.update(_with_prefix(attrs, prefix))
    if not (scope_name or "").startswith("langfuse-sdk"):
        # Third-party spans keep every attribute that cannot carry the input or output (used
        # or not), each a string, as the server stores them; the gateway's spans none of the
        # Langfuse keys either (each is read into a field).
        left_out = IO_KEYS | LANGFUSE_KEYS if scope_name == GATEWAY_SCOPE else IO_KEYS
        rest = {
            k: _stringified(v)
            for k, v in attrs.items()
            if k not in left_out and not k.startswith(LEFT_OUT_PREFIXES)
        }
        if rest:
            meta["attributes"] = rest
    if resource:
        meta["resourceAttributes"] = dict(resource)
    if scope_name:
        meta["scope"] = {
            "name": scope_name,
            "version": scope_version,
            "attributes": dict(scope_attributes),
        }
    return meta


def _name(span_name: str, attrs: Mapping[str, Any]) -> str:
    """The observation's name: a tool's, Genkit's or Logfire's name first, as the server has it."""
    for key in ("gen_ai.tool.name", "genkit:name", "logfire.msg"):
        value = attrs.get(key)
        if _truthy(value):
            return value if isinstance(value, str) else _stringified(value)
    if "ai.toolCall.name" in attrs:
        return str(attrs["ai.toolCall.name"])
    if "ai.operationId" in attrs:
        function_id = attrs.get("ai.telemetry.functionId")
        prefix = f"{function_id}:" if _truthy(function_id) else ""
        return f"{prefix}{attrs['ai.operationId']}"
    return span_name


def map_span(
    *,
    name: str,
    attributes: Mapping[str, Any],
    is_error: bool = False,
    status_message: str | None = None,
    scope_name: str | None = None,
    scope_version: str | None = None,
    scope_attributes: Mapping[str, Any] | None = None,
    resource: Mapping[str, Any] | None = None,
    events: Sequence[SpanEvent] = (),
    start_ns: int | None = None,
) -> MappedSpan:
    """Map one span's data to an observation, as the Langfuse server maps an OTLP span.

    Args:
        name: The span's name.
        attributes: Its attributes (sequences as tuples or lists).
        is_error: Its status is ``ERROR``.
        status_message: Its status description (or the message of its exception event).
        scope_name: The instrumentation scope's name.
        scope_version: The instrumentation scope's version.
        scope_attributes: The instrumentation scope's attributes.
        resource: The attributes of the span's resource.
        events: The span's events (name and attributes): GenAI message events carry the
            input and output of some instrumentations.
        start_ns: Its start (epoch nanoseconds), from which the Vercel AI SDK counts the
            milliseconds to its first chunk.

    Returns:
        The observation's name, type, fields and trace attributes.
    """
    attrs = attributes
    resource = resource or {}
    model = _first(attrs, *_MODEL_KEYS)
    as_type = _as_type(attrs, model is not None)
    input_value, output = input_and_output(attrs, events, scope_name)
    fields: dict[str, Any] = {
        "input": input_value,
        "output": output,
        "metadata": _metadata(attrs, scope_name, scope_version, scope_attributes or {}, resource)
        or None,
    }
    level = attrs.get("langfuse.observation.level")
    if isinstance(level, str) and level.upper() in _LEVELS:
        fields["level"] = _LEVELS[level.upper()]
    elif is_error:
        fields["level"] = "ERROR"
    message = _first(attrs, "langfuse.observation.status_message") or status_message
    if message:
        fields["status_message"] = str(message)
    version = _first(attrs, "langfuse.version") or resource.get("service.version")
    if version:
        fields["version"] = str(version)
    # An agent run's or step's counts sum its model calls': the server leaves them out.
    aggregate = is_agent_aggregate(attrs)
    model_used = None if aggregate else model_name(attrs)
    if model_used is not None:
        fields["model"] = model_used
    fields["model_parameters"] = model_parameters(attrs, scope_name)
    if not aggregate:
        fields["usage_details"] = _usage(attrs, scope_name)
        fields["cost_details"] = _cost(attrs)
    fields["completion_start_time"] = _completion_start(attrs, start_ns)
    prompt_name = _first(attrs, "langfuse.observation.prompt.name", "langfuse.prompt.name")
    prompt_version = _int(
        _first(attrs, "langfuse.observation.prompt.version", "langfuse.prompt.version")
    )
    if isinstance(prompt_name, str) and prompt_version is not None:
        fields["prompt_name"] = prompt_name
        fields["prompt_version"] = prompt_version
    return MappedSpan(
        name=_name(name, attrs),
        as_type=as_type,
        fields={k: v for k, v in fields.items() if v is not None},
        trace=_trace(attrs),
    )
