"""What the LangChain handler records: runs' names, messages, models, usage and levels.

Pure functions over LangChain's objects (messages, documents, LLM results) and the arguments
its callbacks receive.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.documents import Document
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, LLMResult

__all__ = [
    "PARAMETERS",
    "level_of",
    "llm_result",
    "message_dict",
    "model_name",
    "plain",
    "run_name",
    "usage_details",
]

#: Invocation parameters recorded as model parameters, when given.
PARAMETERS = (
    "temperature",
    "max_tokens",
    "max_completion_tokens",
    "top_p",
    "top_k",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "n",
    "stop",
    "request_timeout",
    "reasoning_effort",
    "max_new_tokens",
    "min_new_tokens",
    "stop_sequences",
)


def run_name(serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any]) -> str:
    """The run's name: ``name=`` given to the run, else the serialized name or class."""
    name = kwargs.get("name")
    if name:
        return str(name)
    if isinstance(serialized, Mapping):
        if serialized.get("name"):
            return str(serialized["name"])
        ident = serialized.get("id")
        if isinstance(ident, list) and ident:
            return str(ident[-1])
    return "<unknown>"


#: A message's role by its ``type``; streamed messages are chunks (``AIMessageChunk``...).
#: ``ChatMessage`` and its chunk carry their own ``role``.
_ROLES = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "function",
    "HumanMessageChunk": "user",
    "AIMessageChunk": "assistant",
    "SystemMessageChunk": "system",
    "ToolMessageChunk": "tool",
    "FunctionMessageChunk": "function",
}


def message_dict(message: Any) -> Any:
    """A LangChain message as an OpenAI-style message dict."""
    if not isinstance(message, BaseMessage):
        return message
    role = _ROLES.get(message.type) or getattr(message, "role", None) or message.type
    data: dict[str, Any] = {"role": role, "content": message.content}
    for key in ("tool_calls", "invalid_tool_calls", "tool_call_id", "name"):
        value = getattr(message, key, None)
        if value:
            data[key] = value
    return data


def plain(value: Any, depth: int = 0) -> Any:
    """A run's input or output with messages and documents made plain.

    Only the top levels are walked (deeper values, and cycles, are left to the encoder).
    """
    if isinstance(value, BaseMessage):
        return message_dict(value)
    if isinstance(value, Document):
        return {"page_content": value.page_content, "metadata": value.metadata}
    if depth < 4 and type(value) is list:
        return [plain(v, depth + 1) for v in value]
    if depth < 4 and type(value) is dict:
        return {k: plain(v, depth + 1) for k, v in value.items()}
    return value


def model_name(
    serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any], metadata: Any
) -> str | None:
    if isinstance(metadata, Mapping) and isinstance(metadata.get("ls_model_name"), str):
        return str(metadata["ls_model_name"])
    sources = [kwargs.get("invocation_params")]
    if isinstance(serialized, Mapping):
        sources.append(serialized.get("kwargs"))
    for source in sources:
        if isinstance(source, Mapping):
            for key in ("model", "model_name", "model_id", "deployment_name", "azure_deployment"):
                if isinstance(source.get(key), str) and source[key]:
                    return str(source[key])
    return None


def usage_details(value: Any) -> dict[str, int] | None:
    """Usage in the server's names, from LangChain's ``usage_metadata`` or a provider's."""
    if not isinstance(value, Mapping):
        return None
    usage: dict[str, int] = {}
    for side, keys, details_key, names in (
        (
            "input",
            ("input_tokens", "prompt_tokens"),
            "input_token_details",
            {"cache_read": "cached_tokens", "cache_creation": "cache_creation"},
        ),
        (
            "output",
            ("output_tokens", "completion_tokens"),
            "output_token_details",
            {"reasoning": "reasoning_tokens"},
        ),
    ):
        count = next((value[k] for k in keys if isinstance(value.get(k), int)), None)
        if count is None:
            continue
        details = value.get(details_key)
        if isinstance(details, Mapping):
            for key, n in details.items():
                if isinstance(n, int) and not isinstance(n, bool) and n > 0:
                    # Split out of the side's count, as the server does for OpenAI usage,
                    # so that every token is priced once.
                    usage[f"{side}_{names.get(key, key)}"] = n
                    count = max(count - n, 0)
        usage[side] = count
    total = value.get("total_tokens")
    if isinstance(total, int):
        usage["total"] = total
    return usage or None


def llm_result(response: LLMResult) -> dict[str, Any]:
    """Output, usage and model of a finished LLM run."""
    fields: dict[str, Any] = {}
    last = (
        response.generations[-1][-1] if response.generations and response.generations[-1] else None
    )
    usage = None
    if isinstance(last, ChatGeneration):
        message = last.message
        fields["output"] = message_dict(message)
        usage = usage_details(getattr(message, "usage_metadata", None))
        meta = getattr(message, "response_metadata", None) or {}
        model = meta.get("model_name") or meta.get("model")
        if isinstance(model, str):
            fields["model"] = model
    elif last is not None:
        fields["output"] = last.text
    llm_output = response.llm_output or {}
    if usage is None:
        usage = usage_details(llm_output.get("token_usage") or llm_output.get("usage"))
    if usage is not None:
        fields["usage_details"] = usage
    if "model" not in fields and isinstance(llm_output.get("model_name"), str):
        fields["model"] = llm_output["model_name"]
    return fields


def level_of(error: BaseException) -> str:
    """The level a run ending with ``error`` is recorded with."""
    names = {cls.__name__ for cls in type(error).__mro__}
    if "GraphBubbleUp" in names:
        return "DEFAULT"  # LangGraph's interrupts and hand-offs are control flow
    return "ERROR" if isinstance(error, Exception) else "WARNING"  # cancelled, interrupted
