"""What the OpenAI drop-in records: request arguments and responses as generation fields.

Pure functions over the ``openai`` package's objects (or plain mappings): the input, the model
parameters, the output and the usage as the Langfuse server counts it, and the accumulation of
a streamed response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import openai

__all__ = [
    "Accumulator",
    "field",
    "given",
    "model_parameters",
    "plain",
    "request_input",
    "response_output",
    "usage_details",
]

#: Request arguments recorded as model parameters, when given.
PARAMETERS = (
    "temperature",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "n",
    "stop",
    "service_tier",
    "reasoning_effort",
    "verbosity",
    "logprobs",
    "top_logprobs",
    "parallel_tool_calls",
    "dimensions",
    "encoding_format",
)
#: OpenAI's "not given" sentinels (``NOT_GIVEN``, ``omit``).
UNSET: tuple[type, ...] = tuple(
    t for t in (getattr(openai, "NotGiven", None), getattr(openai, "Omit", None)) if t
)


def given(value: Any) -> Any:
    """The value, or None when it is OpenAI's "not given" sentinel."""
    return None if value is None or isinstance(value, UNSET) else value


def plain(value: Any) -> Any:
    """An OpenAI model as plain JSON data (only the fields set), a model class as its schema."""
    if isinstance(value, type):
        # ``response_format=MyModel`` (structured outputs): the schema is what was asked for.
        schema = getattr(value, "model_json_schema", None)
        return {"name": value.__name__, "schema": schema()} if callable(schema) else value.__name__
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        # warnings=False: a parsed structured output sits in a field typed None, which
        # pydantic would warn about in the caller's code.
        return dump(mode="json", exclude_unset=True, warnings=False)
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def field(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


# ----------------------------------------------------------------------------- requests


def request_input(kind: str, kwargs: Mapping[str, Any]) -> Any:
    """What the generation records as its input, from the request arguments."""
    if kind == "chat":
        messages = given(kwargs.get("messages"))
        extras = {
            key: given(kwargs.get(key))
            for key in ("tools", "tool_choice", "functions", "function_call")
            if given(kwargs.get(key)) is not None
        }
        return {"messages": messages, **extras} if extras else messages
    if kind == "completion":
        return given(kwargs.get("prompt"))
    if kind == "embedding":
        return given(kwargs.get("input"))
    # The Responses API: instructions are the system message of the conversation.
    value = given(kwargs.get("input"))
    instructions = given(kwargs.get("instructions"))
    if instructions is not None:
        if isinstance(value, str):
            value = [
                {"role": "system", "content": instructions},
                {"role": "user", "content": value},
            ]
        elif isinstance(value, list):
            value = [{"role": "system", "content": instructions}, *value]
        else:
            value = {"instructions": instructions, "input": value}
    tools = given(kwargs.get("tools"))
    return {"input": value, "tools": tools} if tools else value


def model_parameters(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    params = {key: given(kwargs.get(key)) for key in PARAMETERS}
    reasoning = given(kwargs.get("reasoning"))
    if isinstance(reasoning, Mapping):
        for key in ("effort", "summary"):
            if reasoning.get(key) is not None:
                params["reasoning_" + key] = reasoning[key]
    return {key: value for key, value in params.items() if value is not None}


def usage_details(usage: Any) -> dict[str, int] | None:
    """OpenAI usage as the server counts it: details split out of input and output.

    ``prompt_tokens_details.cached_tokens`` becomes ``input_cached_tokens`` and is taken out of
    ``input`` (likewise for the output), as the server does with an OpenAI-shaped usage object,
    so that each token is priced once.
    """
    if usage is None:
        return None
    details: dict[str, int] = {}
    for side, count_keys, details_keys in (
        (
            "input",
            ("prompt_tokens", "input_tokens"),
            ("prompt_tokens_details", "input_tokens_details"),
        ),
        (
            "output",
            ("completion_tokens", "output_tokens"),
            ("completion_tokens_details", "output_tokens_details"),
        ),
    ):
        count = next((c for c in (field(usage, k) for k in count_keys) if c is not None), None)
        if not isinstance(count, int):
            continue
        split = next((d for d in (field(usage, k) for k in details_keys) if d is not None), None)
        for key, value in (plain(split) or {}).items():
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                details[f"{side}_{key}"] = value
                count = max(count - value, 0)
        details[side] = count
    total = field(usage, "total_tokens")
    if isinstance(total, int):
        details["total"] = total
    return details or None


# ----------------------------------------------------------------------------- responses


def message_dict(message: Any) -> dict[str, Any]:
    data = plain(message)
    if not isinstance(data, dict):
        return {"role": "assistant", "content": data}
    return {key: value for key, value in data.items() if value is not None}


def response_output(kind: str, response: Any) -> Any:
    """What the generation records as its output, from a complete response."""
    if kind == "embedding":
        data = field(response, "data") or []
        vector = field(data[0], "embedding") if data else None
        return {"dimensions": len(vector) if vector else 0, "count": len(data)}
    if kind == "responses":
        output = plain(field(response, "output"))
        return output[0] if isinstance(output, list) and len(output) == 1 else output
    choices = field(response, "choices") or []
    if kind == "completion":
        texts = [field(choice, "text") for choice in choices]
    else:
        texts = [message_dict(field(choice, "message")) for choice in choices]
    if not texts:
        return None
    return texts[0] if len(texts) == 1 else texts


class Accumulator:
    """Builds the output of a stream from its chunks, as they pass by."""

    __slots__ = ("content", "finish_reason", "model", "response", "tool_calls", "usage")

    def __init__(self) -> None:
        self.content: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.model: str | None = None
        self.usage: Any = None
        self.finish_reason: str | None = None
        self.response: Any = None

    def add(self, kind: str, chunk: Any) -> None:
        if kind == "responses":
            response = field(chunk, "response")
            if response is not None:  # response.created / .completed carry the whole response
                self.response = response
            delta = field(chunk, "delta")
            if field(chunk, "type") == "response.output_text.delta" and isinstance(delta, str):
                self.content.append(delta)
            return
        self.model = self.model or field(chunk, "model")
        if field(chunk, "usage") is not None:
            self.usage = field(chunk, "usage")
        for choice in field(chunk, "choices") or []:
            self.finish_reason = field(choice, "finish_reason") or self.finish_reason
            if kind == "completion":
                text = field(choice, "text")
                if isinstance(text, str):
                    self.content.append(text)
                continue
            delta = field(choice, "delta")
            text = field(delta, "content")
            if isinstance(text, str):
                self.content.append(text)
            for call in field(delta, "tool_calls") or []:
                index = field(call, "index")
                entry = self.tool_calls.setdefault(
                    index if isinstance(index, int) else len(self.tool_calls),
                    {"id": None, "type": "function", "function": {"name": "", "arguments": ""}},
                )
                entry["id"] = field(call, "id") or entry["id"]
                function = field(call, "function")
                entry["function"]["name"] += field(function, "name") or ""
                entry["function"]["arguments"] += field(function, "arguments") or ""

    def fields(self, kind: str) -> dict[str, Any]:
        if kind == "responses":
            response = self.response
            if response is not None and field(response, "status") == "completed":
                return {
                    "output": response_output(kind, response),
                    "model": field(response, "model"),
                    "usage_details": usage_details(field(response, "usage")),
                }
            return {"output": "".join(self.content) or None}
        text = "".join(self.content) or None
        output: Any = text
        if kind == "chat" and self.tool_calls:
            output = {"role": "assistant", "tool_calls": list(self.tool_calls.values())}
            if text is not None:
                output["content"] = text
        elif kind == "chat" and text is not None:
            output = {"role": "assistant", "content": text}
        fields: dict[str, Any] = {
            "output": output,
            "model": self.model,
            "usage_details": usage_details(self.usage),
        }
        if self.finish_reason is not None:
            fields["metadata"] = {"finish_reason": self.finish_reason}
        return fields
