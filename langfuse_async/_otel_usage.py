"""An OpenTelemetry span's token counts as the Langfuse server normalises them (shared rules).

The ``gen_ai.usage.*`` and ``llm.token_count.*`` attributes, their prefixes taken off, become
usage details: input, output and total under the server's names, cache reads and writes
(``gen_ai.usage.cache_read.input_tokens``, ``cache_creation.input_tokens`` and their older
spellings) as ``input_cached_tokens`` and ``input_cache_creation`` and taken out of ``input``
(which counts them), reasoning and audio tokens taken out of ``output`` alike, and every other
count kept under its own name. The OpenTelemetry bridge and the collector both use it. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["usage_details"]

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


def _number(value: Any) -> int | float | None:
    """JavaScript's ``Number(value)``, or None where it gives NaN."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return None if isinstance(value, float) and math.isnan(value) else value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0
        try:
            number = float(text) if "_" not in text else math.nan
        except ValueError:
            return None
        if math.isnan(number):
            return None
        return int(number) if number.is_integer() else number
    if isinstance(value, Sequence) and len(value) <= 1:
        return 0 if not value else _number(str(value[0]))
    return None


def _first(raw: Mapping[str, int | float], keys: tuple[str, ...]) -> int | float | None:
    return next((raw[key] for key in keys if key in raw), None)


def usage_details(attrs: Mapping[str, Any]) -> dict[str, int | float]:
    """The span's usage details, as the server normalises its generic GenAI counts.

    Args:
        attrs: The span's attributes (``langfuse.observation.usage_details`` is the caller's
            to read first: it wins when it holds an object).

    Returns:
        The counts by name; empty when the span has none.
    """
    raw: dict[str, int | float] = {}
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
    for name, value in (
        ("total", total),
        ("input_cached_tokens", cache_read),
        ("input_cache_creation", cache_creation),
        ("output_reasoning_tokens", reasoning),
        ("output_audio_tokens", audio),
    ):
        if value is not None:
            usage[name] = value
    return usage
