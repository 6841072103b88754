"""Where an OpenTelemetry span's input and output come from: one job, long for the server's sources.

The server tries one source after another (Langfuse's own keys, Genkit, the Vercel AI SDK,
Flue, GenAI span events, Google ADK, Logfire, LiveKit, MLflow, Traceloop, OpenInference,
Pydantic AI, the GenAI semantic conventions) and takes the input and the output from the first
source that has either: the two always come from the same source. Values are kept as received
(a string holding a JSON object or array reads back as that value, as the server's API returns
it).
Pure functions over plain values, shared by the OpenTelemetry bridge (which maps spans as the
server would) and the collector (which is the server here).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "GATEWAY_SCOPE",
    "IO_KEYS",
    "LANGFUSE_KEYS",
    "IO_PREFIXES",
    "LEFT_OUT_PREFIXES",
    "SpanEvent",
    "input_and_output",
    "truthy",
]

#: A span event: its name and attributes.
SpanEvent = tuple[str, Mapping[str, Any]]

#: The Vercel AI SDK's input keys, and its output keys after ``ai.response.text``, in order.
_VERCEL_INPUT_KEYS = ("ai.prompt.messages", "ai.prompt", "ai.toolCall.args")
_VERCEL_OUTPUT_KEYS = (
    "ai.result.text",
    "ai.toolCall.result",
    "ai.response.object",
    "ai.result.object",
    "ai.response.toolCalls",
    "ai.result.toolCalls",
)

#: Flue's (``@flue/opentelemetry``) input keys and output keys, each in the server's order.
_FLUE_INPUT_KEYS = (
    "flue.turn.input",
    "flue.tool.arguments",
    "flue.task.prompt",
    "flue.workflow.payload",
)
_FLUE_OUTPUT_KEYS = (
    "flue.turn.output",
    "flue.tool.result",
    "flue.task.result",
    "flue.operation.result",
    "flue.workflow.result",
)

#: The instrumentation scope of Langfuse's AI gateway, whose spans' ``langfuse.*`` keys are
#: all read into fields: none of them (:data:`LANGFUSE_KEYS`) stays in ``metadata.attributes``.
GATEWAY_SCOPE = "langfuse-ai-gateway"
#: The server's own span attributes (its ``LangfuseOtelSpanAttributes``).
LANGFUSE_KEYS = frozenset(
    {
        "langfuse.trace.name",
        "user.id",
        "session.id",
        "langfuse.trace.tags",
        "langfuse.trace.public",
        "langfuse.trace.metadata",
        "langfuse.trace.input",
        "langfuse.trace.output",
        "langfuse.observation.type",
        "langfuse.observation.metadata",
        "langfuse.observation.level",
        "langfuse.observation.status_message",
        "langfuse.observation.input",
        "langfuse.observation.output",
        "langfuse.observation.completion_start_time",
        "langfuse.observation.model.name",
        "langfuse.observation.model.parameters",
        "langfuse.observation.usage_details",
        "langfuse.observation.cost_details",
        "langfuse.observation.prompt.name",
        "langfuse.observation.prompt.version",
        "langfuse.environment",
        "langfuse.release",
        "langfuse.version",
        "langfuse.internal.as_root",
        "langfuse.internal.is_app_root",
        "langfuse.user.id",
        "langfuse.session.id",
        "langfuse.experiment.id",
        "langfuse.experiment.name",
        "langfuse.experiment.metadata",
        "langfuse.experiment.description",
        "langfuse.experiment.dataset.id",
        "langfuse.experiment.item.id",
        "langfuse.experiment.item.version",
        "langfuse.experiment.item.metadata",
        "langfuse.experiment.item.root_observation_id",
        "langfuse.experiment.item.expected_output",
    }
)

#: Attributes that may carry input or output: never repeated in ``metadata.attributes``,
#: whichever source was used (as the server leaves them out).
IO_KEYS = frozenset(
    {
        "langfuse.trace.input",
        "langfuse.trace.output",
        "langfuse.observation.input",
        "langfuse.observation.output",
        *_VERCEL_INPUT_KEYS,
        "ai.response.text",
        *_VERCEL_OUTPUT_KEYS,
        "gcp.vertex.agent.llm_request",
        "gcp.vertex.agent.llm_response",
        "gcp.vertex.agent.tool_call_args",
        "gcp.vertex.agent.tool_response",
        "prompt",
        "all_messages_events",
        "events",
        "lk.input_text",
        "lk.user_transcript",
        "lk.chat_ctx",
        "lk.user_input",
        "lk.function_tool.output",
        "lk.response.text",
        # livekit-agents >= 1.8 marks content attributes with `lk.pii.`
        "lk.pii.input_text",
        "lk.pii.user_transcript",
        "lk.pii.chat_ctx",
        "lk.pii.user_input",
        "lk.pii.instructions",
        "lk.pii.function_tool.arguments",
        "lk.pii.function_tool.output",
        "lk.pii.response.text",
        "lk.pii.response.function_calls",
        "mlflow.spanInputs",
        "mlflow.spanOutputs",
        "traceloop.entity.input",
        "traceloop.entity.output",
        "input.value",
        "output.value",
        "final_result",
        "pydantic_ai.all_messages",
        "gen_ai.system_instructions",
        "input",
        "output",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "genkit:input",
        "genkit:output",
        *_FLUE_INPUT_KEYS,
        *_FLUE_OUTPUT_KEYS,
    }
)
#: Prefixes of the flattened message attributes, left out of ``metadata.attributes`` too.
IO_PREFIXES = ("gen_ai.prompt", "gen_ai.completion", "llm.input_messages", "llm.output_messages")
#: What ``metadata.attributes`` leaves out by prefix: the flattened messages, and the metadata
#: keys the metadata itself holds already.
LEFT_OUT_PREFIXES = (
    *IO_PREFIXES,
    "langfuse.trace.metadata",
    "langfuse.observation.metadata",
    "ai.telemetry.metadata",
)

_INPUT_EVENTS = frozenset(
    {"gen_ai.system.message", "gen_ai.user.message", "gen_ai.assistant.message"}
    | {"gen_ai.tool.message"}
)
_DIGITS = re.compile(r"^\d+$")


def truthy(value: Any) -> bool:
    """JavaScript's truthiness, which the server's ``||`` and ``if`` tests use."""
    if value is None or value is False or value == "":
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0 and not (isinstance(value, float) and math.isnan(value))
    return True


def _json(value: Any) -> Any:
    """A string holding a JSON object or array as that value; anything else unchanged."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, tuple):
        return list(value)
    return value


def _nested(attrs: Mapping[str, Any], prefix: str) -> Any:
    """Flattened keys below ``prefix`` (``prefix.0.message.role``...) as nested values.

    Arrays where the first part of some key is an index, objects otherwise; leaf values are
    kept as they are.
    """
    whole = attrs.get(prefix)
    if truthy(whole):
        return whole
    rests = [key[len(prefix) + 1 :] for key in attrs if key.startswith(prefix + ".")]
    if any(re.match(r"^\d+\.", rest) for rest in rests):
        items: dict[int, Any] = {}
        for rest in rests:
            parts = rest.split(".")
            if not _DIGITS.match(parts[0]) or len(parts) < 2:
                continue
            entry = items.setdefault(int(parts[0]), {})
            _set_path(entry, parts[1:], attrs[f"{prefix}.{rest}"])
        size = max(items) + 1 if items else 0
        return [items.get(i) for i in range(size)]
    result: dict[str, Any] = {}
    for rest in rests:
        _set_path(result, rest.split("."), attrs[f"{prefix}.{rest}"])
    return result


def _set_path(target: Any, path: Sequence[str], value: Any) -> None:
    current = target
    for index, key in enumerate(path[:-1]):
        following = path[index + 1]
        current = _child(current, key, [] if _DIGITS.match(following) else {})
    _assign(current, path[-1], value)


def _child(container: Any, key: str, empty: Any) -> Any:
    if isinstance(container, list):
        position = int(key) if _DIGITS.match(key) else None
        if position is None:
            return empty  # a name below a list: the server would lose it as well
        while len(container) <= position:
            container.append(None)
        if container[position] is None:
            container[position] = empty
        return container[position]
    if key not in container or not isinstance(container[key], (dict, list)):
        container[key] = empty
    return container[key]


def _assign(container: Any, key: str, value: Any) -> None:
    if isinstance(container, list):
        if _DIGITS.match(key):
            position = int(key)
            while len(container) <= position:
                container.append(None)
            container[position] = value
        return
    container[key] = value


def _system_messages(raw: Any) -> list[dict[str, Any]]:
    """``gen_ai.system_instructions`` as system messages, in the server's shapes.

    Whole messages (``{role?, parts}``) are kept, each with a role; text parts (or plain
    strings) are joined into one ``{role: "system", content}``; anything else is dropped.
    """
    value = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            return [{"role": "system", "content": raw}]
    if isinstance(value, str):
        return [{"role": "system", "content": value}] if value else []
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return []
    entries = [entry for entry in value if isinstance(entry, (dict, str))]
    whole = [e for e in entries if isinstance(e, dict) and isinstance(e.get("parts"), list)]
    if entries and len(whole) == len(entries):
        return [{**entry, "role": entry.get("role") or "system"} for entry in whole]
    texts: list[str] = []
    for entry in entries:
        if isinstance(entry, str):
            texts.append(entry)
        elif isinstance(entry.get("content"), str):
            texts.append(entry["content"])
        elif isinstance(entry.get("parts"), list):
            texts.extend(
                part["content"]
                for part in entry["parts"]
                if isinstance(part, dict) and isinstance(part.get("content"), str)
            )
    return [{"role": "system", "content": "\n".join(texts)}] if texts else []


def _with_system(messages: Any, attrs: Mapping[str, Any]) -> Any:
    """Messages with ``gen_ai.system_instructions`` in front, unless one is a system message."""
    raw = attrs.get("gen_ai.system_instructions")
    if raw is None:
        return messages
    parsed = _json(messages)
    if parsed is not None and not isinstance(parsed, list):
        return messages
    listed: list[Any] = parsed or []
    if any(isinstance(m, dict) and m.get("role") == "system" for m in listed):
        return messages
    system = _system_messages(raw)
    return [*system, *listed] if system else messages


def _event_values(events: Sequence[SpanEvent]) -> tuple[Any, Any] | None:
    inputs = [
        {"role": name.removeprefix("gen_ai.").removesuffix(".message"), **dict(attributes)}
        for name, attributes in events
        if name in _INPUT_EVENTS
    ]
    outputs = [dict(attributes) for name, attributes in events if name == "gen_ai.choice"]
    if not inputs and not outputs:
        return None
    output: Any = outputs or None
    if len(outputs) == 1:
        output = outputs[0]
    return inputs or None, output


def _vercel(attrs: Mapping[str, Any]) -> tuple[Any, Any]:
    input_value = next((attrs[k] for k in _VERCEL_INPUT_KEYS if k in attrs), None)
    if "ai.response.text" in attrs and "ai.response.toolCalls" in attrs:
        output: Any = json.dumps(
            {
                "role": "assistant",
                "content": attrs["ai.response.text"],
                "tool_calls": attrs["ai.response.toolCalls"],
            }
        )
    elif truthy(attrs.get("ai.response.text")):
        output = attrs["ai.response.text"]
    else:
        output = next((attrs[k] for k in _VERCEL_OUTPUT_KEYS if k in attrs), None)
    return input_value, output


def _parsed(value: Any) -> Any:
    """The server's ``parseJsonPayload(value) ?? value``: a JSON string as its value."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value, parse_constant=_refuse)
        except ValueError:
            return value
        return value if parsed is None else parsed
    return value


def _refuse(constant: str) -> Any:
    raise ValueError(constant)  # NaN and Infinity are no JSON to JavaScript


def _genkit(attrs: Mapping[str, Any]) -> tuple[Any, Any]:
    input_value, output = _parsed(attrs.get("genkit:input")), _parsed(attrs.get("genkit:output"))
    # A model span's messages and message; a flow's or a tool's whole payload.
    if isinstance(input_value, Mapping) and input_value.get("messages") is not None:
        input_value = input_value["messages"]
    if isinstance(output, Mapping) and output.get("message") is not None:
        output = output["message"]
    return input_value, output


def _logfire_events(attrs: Mapping[str, Any]) -> tuple[Any, Any] | None:
    raw = attrs.get("events")
    if not isinstance(raw, (str, list, tuple)):
        return None
    events: Any = raw
    if isinstance(raw, str):
        try:
            events = json.loads(raw)
        except ValueError:
            events = []
    if not isinstance(events, (list, tuple)):
        return None
    dicts = [e for e in events if isinstance(e, dict)]
    choice = next((e for e in dicts if e.get("event.name") == "gen_ai.choice"), None)
    inputs = [e for e in dicts if e.get("event.name") != "gen_ai.choice"]
    if choice is None and not inputs:
        return None
    return inputs or None, choice


def _pair(attrs: Mapping[str, Any], input_key: str, output_key: str) -> tuple[Any, Any] | None:
    input_value, output = attrs.get(input_key), attrs.get(output_key)
    return (input_value, output) if truthy(input_value) or truthy(output) else None


def _raw(attrs: Mapping[str, Any], events: Sequence[SpanEvent], scope_name: str) -> tuple[Any, Any]:
    """The input and output as received, before JSON strings are read."""
    own_in = attrs.get("langfuse.observation.input")
    own_out = attrs.get("langfuse.observation.output")
    if own_in is not None or own_out is not None:
        return own_in, own_out
    if scope_name == "genkit-tracer":
        # Genkit's spans never fall through to the other sources, even with neither key.
        return _genkit(attrs)
    if scope_name == "ai":
        input_value, output = _vercel(attrs)
        if input_value is None or output is None:  # the server's `??=`: GenAI fills the gaps
            genai = _genai(attrs)
            if genai is not None:
                input_value = genai[0] if input_value is None else input_value
                output = genai[1] if output is None else output
        return input_value, output
    if scope_name == "@flue/opentelemetry":
        flue_in = _first_present(attrs, _FLUE_INPUT_KEYS)
        flue_out = _first_present(attrs, _FLUE_OUTPUT_KEYS)
        if flue_in is not None or flue_out is not None:
            return _parsed(flue_in), _parsed(flue_out)
    # GenAI semantic conventions 1.37+: the messages on an operation-details event.
    for name, event_attributes in events:
        if name == "gen_ai.client.inference.operation.details":
            genai = _genai(event_attributes)
            if genai is not None:
                return genai
    from_events = _event_values(events)
    if from_events is not None:
        return from_events
    prompt = next((a for n, a in events if n == "gen_ai.content.prompt"), None)
    completion = next((a for n, a in events if n == "gen_ai.content.completion"), None)
    if prompt or completion:  # Semantic Kernel's older events: their attributes, read again
        prompt_attrs, completion_attrs = dict(prompt or {}), dict(completion or {})
        inner_in = _raw(prompt_attrs, (), scope_name)[0]
        inner_out = _raw(completion_attrs, (), scope_name)[1]
        return inner_in or prompt_attrs, inner_out or completion_attrs
    vertex_in = attrs.get("gcp.vertex.agent.llm_request")
    vertex_out = attrs.get("gcp.vertex.agent.llm_response")
    if vertex_in == "{}" or not truthy(vertex_in):
        vertex_in = attrs.get("gcp.vertex.agent.tool_call_args")
    if vertex_out == "{}" or not truthy(vertex_out):
        vertex_out = attrs.get("gcp.vertex.agent.tool_response")
    if truthy(vertex_in) or truthy(vertex_out):
        return vertex_in, vertex_out
    found = _pair(attrs, "prompt", "all_messages_events")
    if found is not None:
        return found
    livekit = _livekit(attrs)
    if livekit is not None:
        return livekit
    found = _logfire_events(attrs)
    for input_key, output_key in (
        ("mlflow.spanInputs", "mlflow.spanOutputs"),
        ("traceloop.entity.input", "traceloop.entity.output"),
        ("input.value", "output.value"),
        ("input", "output"),
    ):
        if found is not None:
            return found
        found = _pair(attrs, input_key, output_key)
    if found is not None:
        return found
    if scope_name == "pydantic-ai":
        found = _pair(attrs, "pydantic_ai.all_messages", "final_result")
        if found is not None:
            return _with_system(found[0], attrs), found[1]
    found = _pair(attrs, "tool_arguments", "tool_response")
    if found is not None:
        return found
    for input_prefix, output_prefix in (
        ("gen_ai.prompt", "gen_ai.completion"),
        ("llm.input_messages", "llm.output_messages"),
    ):
        if any(k.startswith((input_prefix, output_prefix)) for k in attrs):
            return _nested(_starting(attrs, input_prefix), input_prefix), _nested(
                _starting(attrs, output_prefix), output_prefix
            )
    genai = _genai(attrs)
    return genai if genai is not None else (None, None)


def _genai(attrs: Mapping[str, Any]) -> tuple[Any, Any] | None:
    """The GenAI semantic conventions' messages (system instructions in front), or tool call."""
    found = _pair(attrs, "gen_ai.input.messages", "gen_ai.output.messages")
    if found is not None:
        input_value = _with_system(found[0], attrs) if truthy(found[0]) else found[0]
        return input_value, found[1]
    return _pair(attrs, "gen_ai.tool.call.arguments", "gen_ai.tool.call.result")


def _first_present(attrs: Mapping[str, Any], keys: Sequence[str]) -> Any:
    """The first of ``keys`` whose value is not None (JavaScript's ``??`` chain)."""
    return next((attrs[k] for k in keys if attrs.get(k) is not None), None)


def _first_truthy(attrs: Mapping[str, Any], keys: Sequence[str]) -> Any:
    """The first of ``keys`` whose value is truthy (JavaScript's ``||`` chain)."""
    return next((attrs[k] for k in keys if truthy(attrs.get(k))), None)


def _livekit(attrs: Mapping[str, Any]) -> tuple[Any, Any] | None:
    """LiveKit agents' input and output; ``lk.pii.*`` from livekit-agents 1.8 on."""
    input_value = _first_present(
        attrs,
        (
            "lk.input_text",
            "lk.pii.input_text",
            "lk.user_transcript",
            "lk.pii.user_transcript",
            "lk.chat_ctx",
            "lk.pii.chat_ctx",
        ),
    )
    if input_value is None:
        # An agent turn carries its instructions and the user's message apart: one chat.
        instructions = (
            attrs.get("lk.pii.instructions") if truthy(attrs.get("lk.pii.instructions")) else None
        )
        user_input = _first_truthy(attrs, ("lk.user_input", "lk.pii.user_input"))
        if instructions is not None:
            input_value = [{"role": "system", "content": instructions}]
            if user_input is not None:
                input_value.append({"role": "user", "content": user_input})
        else:
            input_value = user_input
    if input_value is None:
        input_value = attrs.get("lk.pii.function_tool.arguments")
    output = _first_truthy(
        attrs,
        (
            "lk.function_tool.output",
            "lk.pii.function_tool.output",
            "lk.response.text",
            "lk.pii.response.text",
        ),
    )
    calls = attrs.get("lk.pii.response.function_calls")
    if output is None and truthy(calls) and calls != "[]":
        output = calls  # a turn that only called tools
    return (input_value, output) if truthy(input_value) or truthy(output) else None


def _starting(attrs: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if k.startswith(prefix)}


def input_and_output(
    attrs: Mapping[str, Any], events: Sequence[SpanEvent] = (), scope_name: str | None = None
) -> tuple[Any, Any]:
    """The span's input and output, as the server extracts them.

    Args:
        attrs: The span's attributes.
        events: Its events (name and attributes), for the GenAI message events.
        scope_name: Its instrumentation scope (some sources belong to one framework).

    Returns:
        ``(input, output)``; either may be None. A string holding a JSON object or array is
        returned as that value.
    """
    input_value, output = _raw(attrs, events, scope_name or "")
    return _json(input_value), _json(output)
