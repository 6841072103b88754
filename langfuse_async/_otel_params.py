"""An OpenTelemetry span's model parameters and completion start, as the server reads them.

The server's ``extractModelParameters`` and ``extractCompletionStartTime``: Langfuse's own
``langfuse.observation.model.parameters`` first (merged over the Vercel AI SDK's settings for
its spans), Genkit's request config, the Vercel AI SDK's settings, OpenInference's
``llm.invocation_parameters``, ``model_config``, then the flattened ``gen_ai.request.*`` and
``llm.invocation_parameters.*`` attributes; and the completion start the AI SDK gives as
milliseconds to the first chunk, counted from the span's start. The OpenTelemetry bridge and
the collector both use it. Pure.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from ._otel_usage import js_number, js_string, json_payload

__all__ = ["first_chunk_ms", "model_parameters"]

#: The Vercel AI SDK's settings, each under the server's name, from the first key present.
_AI_SDK_SETTINGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("maxSteps", ("ai.settings.maxSteps",)),
    ("toolChoice", ("ai.prompt.toolChoice",)),
    ("maxTokens", ("gen_ai.request.max_tokens",)),
    # `gen_ai.finishReason` before AI SDK 4.
    ("finishReason", ("gen_ai.response.finish_reasons", "gen_ai.finishReason")),
    ("system", ("gen_ai.system", "ai.model.provider")),
    ("maxRetries", ("ai.settings.maxRetries",)),
    ("mode", ("ai.settings.mode",)),
    ("temperature", ("gen_ai.request.temperature",)),
)
_FLATTENED_PREFIXES = ("gen_ai.request.", "llm.invocation_parameters.")
#: JavaScript's dates end 8.64e15 ms either side of the epoch (``toISOString`` throws beyond).
_JS_DATE_LIMIT_MS = 8.64e15

_Unparsed = object()


def _js_numbers(value: Any) -> Any:
    """A decoded JSON value with JavaScript's one number type: integral floats as ints."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_js_numbers(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _js_numbers(item) for key, item in value.items()}
    return value


def _plain(value: Any) -> Any:
    """A parameter as the server keeps it: strings and numbers as they are, else its JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _js_numbers(value)
    return json.dumps(_js_numbers(value), separators=(",", ":"), ensure_ascii=False)


def _sanitized(params: Any) -> dict[str, Any] | None:
    """The server's ``sanitizeModelParams``: each entry of an object (an array's by index).

    Anything else (a number, a string, null) is no parameters: the server would pass it on,
    and the observation would fail validation for it.
    """
    if isinstance(params, Mapping):
        return {str(key): _plain(value) for key, value in params.items()}
    if isinstance(params, (list, tuple)):
        return {str(index): _plain(value) for index, value in enumerate(params)}
    return None


def _refuse(constant: str) -> Any:
    raise ValueError(constant)  # NaN and Infinity are no JSON to JavaScript


def _parsed(value: Any) -> Any:
    """JavaScript's ``JSON.parse(value)`` (made a string first), or ``_Unparsed`` if it throws."""
    try:
        return json.loads(js_string(value), parse_constant=_refuse)
    except ValueError:
        return _Unparsed


def _truthy(value: Any) -> bool:
    if value is None or value is False or value == "" or value is _Unparsed:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)
    return True


def _to_string(attrs: Mapping[str, Any], key: str) -> str | None:
    """``attributes[key]?.toString() ?? null``."""
    value = attrs.get(key)
    return None if value is None else js_string(value)


def _ai_sdk(attrs: Mapping[str, Any], explicit: dict[str, Any] | None) -> dict[str, Any]:
    """The Vercel AI SDK's settings: every name, null where its span has none."""
    params: dict[str, Any] = {}
    for name, keys in _AI_SDK_SETTINGS:
        key = next((k for k in keys if k in attrs), None)
        params[name] = None if key is None else _to_string(attrs, key)
    metadata = json_payload(attrs.get("ai.response.providerMetadata"))
    openai = metadata.get("openai") if isinstance(metadata, Mapping) else None
    tier = openai.get("serviceTier") if isinstance(openai, Mapping) else None
    # The tier OpenAI served the call with wins over the one asked for.
    if isinstance(tier, str):
        params["service_tier"] = tier
    elif "gen_ai.request.service_tier" in attrs:
        params["service_tier"] = _to_string(attrs, "gen_ai.request.service_tier")
    else:
        params["service_tier"] = None
    if explicit:
        params.update(explicit)  # Langfuse's own parameters win
    return params


def _genkit_config(attrs: Mapping[str, Any]) -> Any:
    """Genkit's generation config: its request's, in the input, else echoed in the output."""
    request = json_payload(attrs.get("genkit:input"))
    config = request.get("config") if isinstance(request, Mapping) else None
    if config is None:
        response = json_payload(attrs.get("genkit:output"))
        echoed = response.get("request") if isinstance(response, Mapping) else None
        config = echoed.get("config") if isinstance(echoed, Mapping) else None
    return config


def _flattened(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """``gen_ai.request.*`` then ``llm.invocation_parameters.*``, the model left out."""
    params: dict[str, Any] = {}
    for prefix in _FLATTENED_PREFIXES:
        for key, value in attrs.items():
            if key.startswith(prefix) and key[len(prefix) :] != "model":
                params[key[len(prefix) :]] = _plain(value)
    return params


def model_parameters(
    attrs: Mapping[str, Any], scope_name: str | None = None
) -> dict[str, Any] | None:
    """The span's model parameters, from the first source the server reads that has them.

    Args:
        attrs: The span's attributes.
        scope_name: Its instrumentation scope's name: Genkit's (``genkit-tracer``) and the
            Vercel AI SDK's (``ai``) spans are read their own way.

    Returns:
        The parameters by name (strings and numbers, other values as JSON; the AI SDK's
        settings it lacks as None), or None when there are none.
    """
    explicit: dict[str, Any] | None = None
    explicit_found = False
    if _truthy(attrs.get("langfuse.observation.model.parameters")):
        parsed = _parsed(attrs["langfuse.observation.model.parameters"])
        # A value that is no JSON, or JSON's null, lets the next sources speak.
        explicit_found = _truthy(parsed)
        explicit = _sanitized(parsed) if explicit_found else None
    if explicit_found and scope_name != "ai":
        return explicit or None
    if scope_name == "genkit-tracer":
        config = _genkit_config(attrs)
        if _truthy(config):
            return _sanitized(config) or None
    if scope_name == "ai":
        return _ai_sdk(attrs, explicit)
    for key in ("llm.invocation_parameters", "model_config"):
        if _truthy(attrs.get(key)):
            parsed = _parsed(attrs[key])
            if parsed is not _Unparsed:  # read, even as null or an empty object: the end
                return _sanitized(parsed) or None
    return _flattened(attrs) or None


def first_chunk_ms(attrs: Mapping[str, Any], start_ms: int) -> int | None:
    """When the first chunk came, for a span that gives it relative to its start (epoch ms).

    The Vercel AI SDK's streaming spans carry ``ai.response.msToFirstChunk`` (before AI SDK 4
    ``ai.stream.msToFirstChunk``): the server adds it, rounded up to a whole millisecond, to
    the span's start (``start_ms``, its start truncated to the millisecond). The server reads
    it only where ``langfuse.observation.completion_start_time`` gives no date.

    Returns:
        Epoch milliseconds, or None where there is no such count (or it is 0, or no number,
        or the date would be out of JavaScript's range).
    """
    value = attrs.get("ai.response.msToFirstChunk")
    if value is None:
        value = attrs.get("ai.stream.msToFirstChunk")
    if not _truthy(value):
        return None
    number = js_number(value)
    if not math.isfinite(number):
        return None
    moment = start_ms + math.ceil(number)
    return moment if abs(moment) <= _JS_DATE_LIMIT_MS else None
