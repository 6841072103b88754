"""An OpenTelemetry span's token counts as the server reads them: one job, long per instrumentation.

The server's ``extractUsageDetails`` and what it calls, which is long because each
instrumentation reports its counts its own way: Genkit (``usage`` in ``genkit:output``), the
Vercel AI SDK (``gen_ai.usage.*``, ``ai.usage.*`` and each provider's counts in the JSON of
``ai.response.providerMetadata``), Google ADK (the cached count in its response blob) and the
generic ``gen_ai.usage.*`` / ``llm.token_count.*`` attributes, their prefixes taken off, cache
reads and writes taken out of ``input`` (which counts them), reasoning and audio out of
``output``, every other count kept under its own name. Besides, what decides whether counts
are kept: the model's name, the AI SDK's model calls (generations by their operation) and its
agent spans (whose sums the server leaves out). The OpenTelemetry bridge and the collector
both use it. Pure.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "MODEL_KEYS",
    "ai_sdk_type",
    "is_agent_aggregate",
    "js_number",
    "js_string",
    "json_payload",
    "model_name",
    "usage_details",
]

_INPUT = ("prompt_tokens", "input_tokens", "prompt")
_OUTPUT = ("completion_tokens", "output_tokens", "completion")
_TOTAL = ("total_tokens", "total")
_CACHE_READ = (
    "cache_read.input_tokens",
    "cache_read_input_tokens",
    "cache_read_tokens",
    "details.cache_read_tokens",
    "details.cache_read_input_tokens",
    "prompt_details.cache_read",
    "input_cached_tokens",
)
_CACHE_CREATION = (
    "cache_creation.input_tokens",
    "cache_write.input_tokens",
    "cache_creation_input_tokens",
    "cache_write_tokens",
    "details.cache_write_tokens",
    "details.cache_creation_input_tokens",
    "prompt_details.cache_write",
    "input_cache_creation",
)
_REASONING = ("reasoning.output_tokens", "completion_details.reasoning")
_AUDIO = ("completion_details.audio",)
#: Read into the server's names above, not kept under their own.
_CONSUMED = frozenset(
    _INPUT + _OUTPUT + _TOTAL + _CACHE_READ + _CACHE_CREATION + _REASONING + _AUDIO
)
#: Where the model's name is read, in the server's order.
MODEL_KEYS = (
    "langfuse.observation.model.name",
    "gen_ai.response.model",
    "ai.model.id",
    "gen_ai.request.model",
    "llm.response.model",
    "llm.model_name",
    "model",
)
_NAN = math.nan
#: What Python's float() reads but JavaScript's Number() does not (bar "Infinity").
_PYTHON_ONLY = frozenset({"inf", "nan", "infinity"})
_JS_RADIX = re.compile(r"0(?:[xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)$")
_PARSE_INT = re.compile(r"[+-]?(?:0[xX](?P<hex>[0-9a-fA-F]*)|(?P<dec>\d+))")

Count = int | float


class _Unread(Exception):
    """Where the server's AI SDK reading throws (and falls through to the generic one)."""


def _truthy(value: Any) -> bool:
    if value is None or value is False or value == "":
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def js_string(value: Any) -> str:
    """JavaScript's ``String(value)`` for an attribute's value."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, (list, tuple)):
        return ",".join("" if item is None else js_string(item) for item in value)
    if isinstance(value, Mapping):
        return "[object Object]"
    return str(value)


def js_number(value: Any) -> Count:
    """JavaScript's ``Number(value)`` (NaN where it gives NaN)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, (str, list, tuple)):
        text = js_string(value).strip()
        if not text:
            return 0
        if _JS_RADIX.match(text):
            return int(text, 0)
        unsigned = text.lstrip("+-")
        if "_" in text or (unsigned != "Infinity" and unsigned.lower() in _PYTHON_ONLY):
            return _NAN
        try:
            number = float(text)
        except ValueError:
            return _NAN
        return int(number) if number.is_integer() else number
    return _NAN


def _number(value: Any) -> Count | None:
    """``Number(value)``, or None where it gives NaN."""
    number = js_number(value)
    return None if isinstance(number, float) and math.isnan(number) else number


def _parse_int(value: Any) -> Count:
    """JavaScript's ``parseInt(String(value))``: the leading integer, or NaN."""
    match = _PARSE_INT.match(js_string(value).lstrip())
    if match is None:
        return _NAN
    text = match.group(0)
    sign = -1 if text.startswith("-") else 1
    digits = match.group("hex")
    if digits is not None:
        return sign * int(digits, 16) if digits else _NAN
    return sign * int(match.group("dec"))


def _json_parse(value: Any) -> Any:
    """JavaScript's ``JSON.parse(value)`` (its argument made a string first)."""

    def refuse(constant: str) -> Any:
        raise ValueError(constant)

    try:
        return json.loads(js_string(value), parse_constant=refuse)
    except ValueError:
        raise _Unread from None


def json_payload(value: Any) -> Any:
    """The server's ``parseJsonPayload``: an object as it is, a string parsed, else None."""
    if isinstance(value, (Mapping, list, tuple)):
        return value
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return None


def _count(container: Any, key: str) -> Count | None:
    """A number under ``key`` of a JSON object; anything else (or none) is no count."""
    if not isinstance(container, Mapping):
        return None
    value = container.get(key)
    return value if _is_number(value) else None


def _at_least_zero(value: Count) -> Count:
    return value if isinstance(value, float) and math.isnan(value) else max(value, 0)


def _kept(usage: Mapping[str, Count | None]) -> dict[str, Count]:
    # An undefined count is left out of the JSON; a NaN one would be null: no count either.
    return {
        key: value
        for key, value in usage.items()
        if value is not None and not (isinstance(value, float) and math.isnan(value))
    }


def _first(raw: Mapping[str, Count], keys: tuple[str, ...]) -> Count | None:
    return next((raw[key] for key in keys if key in raw), None)


def _generic(attrs: Mapping[str, Any]) -> dict[str, Count]:
    """The ``gen_ai.usage.*`` and ``llm.token_count.*`` counts, normalised."""
    raw: dict[str, Count] = {}
    for key, value in attrs.items():
        if key.startswith("gen_ai.usage."):
            if key == "gen_ai.usage.cost":
                continue
            name = key[len("gen_ai.usage.") :]
        elif key.startswith("llm.token_count."):
            name = key[len("llm.token_count.") :]
        else:
            continue
        number = _number(value)
        if number is not None:
            raw[name] = number
    if not raw:
        # Before Anthropic's provider metadata is read: with no generic count, a span with
        # only that metadata has no usage at all (the server returns here too).
        return {}
    input_tokens, output_tokens = _first(raw, _INPUT), _first(raw, _OUTPUT)
    total, cache_read = _first(raw, _TOTAL), _first(raw, _CACHE_READ)
    cache_creation, reasoning = _first(raw, _CACHE_CREATION), _first(raw, _REASONING)
    audio = _first(raw, _AUDIO)
    usage = {
        key.removeprefix("details."): value for key, value in raw.items() if key not in _CONSUMED
    }
    if input_tokens is not None:
        # Input counts the cached tokens too: each is priced apart, so counted once.
        usage["input"] = max(input_tokens - (cache_read or 0) - (cache_creation or 0), 0)
    if output_tokens is not None:
        usage["output"] = max(output_tokens - (reasoning or 0) - (audio or 0), 0)
    # The total is kept as sent, though input and output were reduced: it still counts
    # every token, as the parts now do together (the server adds one only when none is sent).
    for name, value in (
        ("total", total),
        ("input_cached_tokens", cache_read),
        ("input_cache_creation", cache_creation),
        ("output_reasoning_tokens", reasoning),
        ("output_audio_tokens", audio),
    ):
        if value is not None:
            usage[name] = value
    _add_anthropic_metadata(attrs, usage)
    return usage


def _add_anthropic_metadata(attrs: Mapping[str, Any], usage: dict[str, Count]) -> None:
    """Anthropic's own counts (as the AI SDK forwards them) where the generic ones lack them.

    Only they split cache writes into 5-minute and 1-hour ones; the generic cache counts win
    where both are there, and what they took out of ``input`` already is not taken twice.
    """
    metadata = json_payload(attrs.get("ai.response.providerMetadata"))
    anthropic = metadata.get("anthropic") if isinstance(metadata, Mapping) else None
    counts = anthropic.get("usage") if isinstance(anthropic, Mapping) else None
    if not isinstance(counts, Mapping):
        return

    def finite(value: Any) -> Count | None:
        return value if _is_number(value) and math.isfinite(value) else None

    not_yet_subtracted: Count = 0
    cache_read = finite(counts.get("cache_read_input_tokens"))
    if cache_read is not None and "input_cached_tokens" not in usage:
        usage["input_cached_tokens"] = cache_read
        not_yet_subtracted += cache_read
    cache_creation = finite(counts.get("cache_creation_input_tokens"))
    if cache_creation is not None and "input_cache_creation" not in usage:
        usage["input_cache_creation"] = cache_creation
        not_yet_subtracted += cache_creation
    by_ttl = counts.get("cache_creation")
    five_minutes = (
        finite(by_ttl.get("ephemeral_5m_input_tokens")) if isinstance(by_ttl, Mapping) else None
    )
    one_hour = (
        finite(by_ttl.get("ephemeral_1h_input_tokens")) if isinstance(by_ttl, Mapping) else None
    )
    if five_minutes is not None or one_hour is not None:
        if five_minutes is not None:
            usage["input_cache_creation_5m"] = five_minutes
        if one_hour is not None:
            usage["input_cache_creation_1h"] = one_hour
        split = (five_minutes or 0) + (one_hour or 0)
        if "input_cache_creation" in usage:
            # The split is part of the whole: only the rest stays at the generic write price.
            usage["input_cache_creation"] = max(usage["input_cache_creation"] - split, 0)
        else:
            not_yet_subtracted += split
    if "input" in usage and not_yet_subtracted > 0:
        usage["input"] = max(usage["input"] - not_yet_subtracted, 0)


def _genkit(attrs: Mapping[str, Any]) -> dict[str, Count] | None:
    """Genkit's counts, in ``usage`` of its ``genkit:output`` (None when it has none)."""
    output = json_payload(attrs.get("genkit:output"))
    usage = output.get("usage") if isinstance(output, Mapping) else None
    if not _truthy(usage):
        return None
    input_tokens, output_tokens = _count(usage, "inputTokens"), _count(usage, "outputTokens")
    total, thoughts = _count(usage, "totalTokens"), _count(usage, "thoughtsTokens")
    details: dict[str, Count] = {}
    # Zero counts are left out here (the server tests each for truth), unlike elsewhere.
    if _truthy(input_tokens) and input_tokens is not None:
        details["input"] = input_tokens
    if _truthy(output_tokens) and output_tokens is not None:
        details["output"] = max(output_tokens - (thoughts or 0), 0)
    if _truthy(total) and total is not None:
        details["total"] = total
    if _truthy(thoughts) and thoughts is not None:
        # `output_reasoning`, not the `output_reasoning_tokens` the other sources give.
        details["output_reasoning"] = thoughts
    return details


def _ai_sdk_count(value: Any) -> Count | None:
    """An ``ai.usage.*`` detail: JSON, a number or an OTLP ``{"intValue": ...}``."""
    parsed = _json_parse(value)
    if _is_number(parsed):
        return parsed  # type: ignore[no-any-return]
    if parsed is None:
        raise _Unread  # `null.intValue` throws
    intvalue = parsed.get("intValue") if isinstance(parsed, Mapping) else None
    return None if intvalue is None else js_number(intvalue)


def _vercel(attrs: Mapping[str, Any]) -> dict[str, Count]:
    """The Vercel AI SDK's counts; raises :class:`_Unread` where the server's reading throws."""
    usage: dict[str, Count | None] = {"input": None, "output": None, "total": None}
    for name, keys in (
        # The older names first, though AI SDK 4+ sends `input_tokens`/`output_tokens`.
        ("input", ("gen_ai.usage.prompt_tokens", "gen_ai.usage.input_tokens")),
        ("output", ("gen_ai.usage.completion_tokens", "gen_ai.usage.output_tokens")),
        # The total only from the AI SDK's own key, never from gen_ai.usage.total_tokens.
        ("total", ("ai.usage.tokens",)),
    ):
        key = next((k for k in keys if k in attrs), None)
        if key is not None:
            value = attrs[key]
            usage[name] = _parse_int("0" if value is None else value)
    # The ai.usage.promptTokens/completionTokens (inputTokens/outputTokens) pairs are not
    # read: an outer ai.generateText span, which has only those, gets input and output 0.
    # Precedence of each detail: ai.usage.* first, then the gen_ai cache attributes, then
    # the provider metadata (each only fills what is still missing).
    if "ai.usage.cachedInputTokens" in attrs:
        usage["input_cached_tokens"] = _ai_sdk_count(attrs["ai.usage.cachedInputTokens"])
    if "ai.usage.reasoningTokens" in attrs:
        usage["output_reasoning_tokens"] = _ai_sdk_count(attrs["ai.usage.reasoningTokens"])

    # AI SDK 7 sends its cache counts as gen_ai attributes rather than under ai.usage.*.
    if "gen_ai.usage.cache_read.input_tokens" in attrs:
        _fill(
            usage, "input_cached_tokens", js_number(attrs["gen_ai.usage.cache_read.input_tokens"])
        )
    if "gen_ai.usage.cache_creation.input_tokens" in attrs:
        _fill(
            usage,
            "input_cache_creation",
            js_number(attrs["gen_ai.usage.cache_creation.input_tokens"]),
        )
    raw_metadata = attrs.get("ai.response.providerMetadata")
    if _truthy(raw_metadata):
        metadata = _json_parse(raw_metadata)
        if not isinstance(metadata, (Mapping, list)):
            raise _Unread  # `"openai" in 5` throws
        if isinstance(metadata, Mapping):
            _add_provider_metadata(metadata, usage)
    # Every cache count comes out of input, the TTL split too (its whole was reduced by it);
    # Bedrock's `input_cache_write` alone is not taken out.
    usage["input"] = _at_least_zero(
        (usage["input"] if usage["input"] is not None else 0)
        - sum(
            usage.get(name) or 0
            for name in (
                "input_cached_tokens",
                "input_cache_creation",
                "input_cache_creation_5m",
                "input_cache_creation_1h",
                "input_cache_read",
            )
        )
    )
    usage["output"] = _at_least_zero(
        (usage["output"] if usage["output"] is not None else 0)
        - (usage.get("output_reasoning_tokens") or 0)
    )
    return _kept(usage)


def _fill(usage: dict[str, Count | None], name: str, value: Count | None) -> None:
    """JavaScript's ``usage[name] ??= value``."""
    if usage.get(name) is None:
        usage[name] = value


def _add_provider_metadata(metadata: Mapping[str, Any], usage: dict[str, Count | None]) -> None:
    """Each provider's counts from ``ai.response.providerMetadata``, where none are yet."""
    if "openai" in metadata:
        openai = metadata["openai"]
        if openai is None:
            raise _Unread  # `null["cachedPromptTokens"]` throws
        _fill(usage, "input_cached_tokens", _count(openai, "cachedPromptTokens"))
        _fill(usage, "accepted_prediction_tokens", _count(openai, "acceptedPredictionTokens"))
        _fill(usage, "rejected_prediction_tokens", _count(openai, "rejectedPredictionTokens"))
        _fill(usage, "output_reasoning_tokens", _count(openai, "reasoningTokens"))
    if "anthropic" in metadata:
        anthropic = metadata["anthropic"]
        if not isinstance(anthropic, (Mapping, list)):
            raise _Unread  # `"usage" in "text"` throws
        if isinstance(anthropic, Mapping) and "usage" in anthropic:
            counts = anthropic["usage"]
            if counts is None:
                raise _Unread
            _fill(usage, "input_cache_creation", _count(counts, "cache_creation_input_tokens"))
            _fill(usage, "input_cached_tokens", _count(counts, "cache_read_input_tokens"))
            by_ttl = counts.get("cache_creation") if isinstance(counts, Mapping) else None
            if isinstance(by_ttl, (Mapping, list)):
                five_minutes = _count(by_ttl, "ephemeral_5m_input_tokens")
                one_hour = _count(by_ttl, "ephemeral_1h_input_tokens")
                _fill(usage, "input_cache_creation_5m", five_minutes)
                _fill(usage, "input_cache_creation_1h", one_hour)
                # The split is part of the whole: only the rest stays at the generic write
                # price (and the whole is set, 0 at least, even with no count to split).
                usage["input_cache_creation"] = _at_least_zero(
                    (usage.get("input_cache_creation") or 0)
                    - (usage.get("input_cache_creation_5m") or 0)
                    - (usage.get("input_cache_creation_1h") or 0)
                )
    if "bedrock" in metadata:
        bedrock = metadata["bedrock"]
        if bedrock is None:
            raise _Unread
        counts = bedrock.get("usage") if isinstance(bedrock, Mapping) else None
        if _truthy(counts):
            # Bedrock's own names (`input_cache_read`, `input_cache_write`), not the others'.
            _fill(usage, "input_cache_read", _count(counts, "cacheReadInputTokens"))
            _fill(usage, "input_cache_write", _count(counts, "cacheWriteInputTokens"))
            _fill(usage, "input_cache_creation", _count(counts, "cacheCreationInputTokens"))


def _vertex(attrs: Mapping[str, Any]) -> dict[str, Count]:
    """Google ADK's counts: the generic ones, and the cached count of its response blob."""
    usage = _generic(attrs)
    if "input_cached_tokens" not in usage:
        response = json_payload(attrs.get("gcp.vertex.agent.llm_response"))
        metadata = response.get("usage_metadata") if isinstance(response, Mapping) else None
        cached = _count(metadata, "cached_content_token_count")
        if cached is not None and cached > 0:
            # ADK's prompt count holds the cached tokens: taken out, as elsewhere.
            usage["input_cached_tokens"] = cached
            if "input" in usage:
                usage["input"] = max(usage["input"] - cached, 0)
    return usage


_AI_SDK_GENERATIONS = (
    "ai.generateText.doGenerate",
    "ai.streamText.doStream",
    "ai.generateObject.doGenerate",
    "ai.streamObject.doStream",
)
_AI_SDK_EMBEDDINGS = ("ai.embedMany.doEmbed", "ai.embed.doEmbed")
_AI_SDK_MODEL_KEYS = (
    "langfuse.observation.model.name",
    "ai.model.id",
    "gen_ai.request.model",
    "gen_ai.response.model",
)


def _meaningful(value: Any) -> bool:
    if value is None or value == "":
        return False
    if isinstance(value, (list, tuple, Mapping)):
        return len(value) > 0
    return True


def _ai_sdk_operation(attrs: Mapping[str, Any], prefixes: tuple[str, ...]) -> bool:
    # `operation.name` may have the function id appended; `ai.operationId` is exact.
    name, operation = attrs.get("operation.name"), attrs.get("ai.operationId")
    if isinstance(name, str) and name.startswith(prefixes):
        return True
    return isinstance(operation, str) and operation in prefixes


def ai_sdk_type(attrs: Mapping[str, Any]) -> str | None:
    """The observation type the server gives a Vercel AI SDK span by its operation, if any.

    A model call (``ai.generateText.doGenerate``...) with a model is a generation (its
    counts are kept), an embedding call an embedding, a tool call a tool; its other spans
    (the outer ``ai.generateText``...) are left to the next rules. The server tries this after
    Langfuse's own type, OpenInference's kind and the GenAI operation name.
    """
    name, operation = attrs.get("operation.name"), attrs.get("ai.operationId")
    if not (
        (isinstance(name, str) and name.startswith("ai."))
        or (isinstance(operation, str) and operation.startswith("ai."))
    ):
        return None
    if _ai_sdk_operation(attrs, _AI_SDK_GENERATIONS + _AI_SDK_EMBEDDINGS):
        if not any(_meaningful(attrs.get(key)) for key in _AI_SDK_MODEL_KEYS):
            return None
        return "GENERATION" if _ai_sdk_operation(attrs, _AI_SDK_GENERATIONS) else "EMBEDDING"
    return "TOOL" if _ai_sdk_operation(attrs, ("ai.toolCall",)) else None


def is_agent_aggregate(attrs: Mapping[str, Any]) -> bool:
    """Whether the span is an agent run or step, whose model, usage and cost are left out.

    The AI SDK's ``invoke_agent`` and ``agent_step`` spans sum their model calls' counts,
    which the model-call spans below carry too: read twice, every trace would cost double.
    The server tells them by the operation name alone, so any instrumentation's
    ``invoke_agent`` span loses its counts as well.
    """
    return attrs.get("gen_ai.operation.name") in ("invoke_agent", "agent_step")


def model_name(attrs: Mapping[str, Any]) -> str | None:
    """The span's model, from the first key that has one (not a string: its JSON)."""
    keys: Sequence[str] = MODEL_KEYS
    if attrs.get("genkit:metadata:subtype") == "model":
        keys = (*MODEL_KEYS, "genkit:name")  # Genkit names a model span by its model
    for key in keys:
        value = attrs.get(key)
        if _truthy(value):
            if isinstance(value, str):
                return value
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return None


def usage_details(attrs: Mapping[str, Any], scope_name: str | None = None) -> dict[str, Count]:
    """The span's usage details, as the server extracts them for its instrumentation.

    Args:
        attrs: The span's attributes (``langfuse.observation.usage_details`` is the caller's
            to read first: it wins when it holds an object; so is :func:`is_agent_aggregate`).
        scope_name: Its instrumentation scope's name: Genkit (``genkit-tracer``), the Vercel
            AI SDK (``ai``) and Google ADK (``gcp.vertex.agent``) are read their own way.

    Returns:
        The counts by name; empty when the span has none.
    """
    if scope_name == "genkit-tracer":
        genkit = _genkit(attrs)
        if genkit is not None:
            return genkit
    if scope_name == "ai":
        try:
            return _vercel(attrs)
        except _Unread:
            pass  # where the server's reading throws, it reads the generic counts instead
    if scope_name == "gcp.vertex.agent" and "gcp.vertex.agent.llm_response" in attrs:
        return _vertex(attrs)
    return _generic(attrs)
