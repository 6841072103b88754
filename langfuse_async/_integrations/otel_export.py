"""Which OpenTelemetry spans the bridge exports, and how a mask patches them.

The filters and the mask types follow the official SDK's (``langfuse.span_filter``,
``langfuse.types``), so predicates and masks written for it work unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import format_span_id, format_trace_id

__all__ = [
    "KNOWN_LLM_INSTRUMENTATION_SCOPE_PREFIXES",
    "LANGFUSE_TRACER_NAME",
    "MaskOtelSpansFunction",
    "MaskOtelSpansParams",
    "MaskOtelSpansResult",
    "OtelSpanData",
    "OtelSpanIdentifier",
    "OtelSpanPatch",
    "is_default_export_span",
    "is_genai_span",
    "is_known_llm_instrumentor",
    "is_langfuse_span",
    "masked",
]

#: The instrumentation scope of the official SDK's spans.
LANGFUSE_TRACER_NAME = "langfuse-sdk"

#: Instrumentation scopes whose spans are exported by default (a scope matches a prefix when
#: it equals it or starts with it followed by a dot), as in the official SDK.
KNOWN_LLM_INSTRUMENTATION_SCOPE_PREFIXES: frozenset[str] = frozenset(
    {
        LANGFUSE_TRACER_NAME,
        "agent_framework",
        "autogen-core",
        "ai",
        "haystack",
        "langsmith",
        "litellm",
        "openinference",
        "opentelemetry.instrumentation.agno",
        "opentelemetry.instrumentation.alephalpha",
        "opentelemetry.instrumentation.anthropic",
        "opentelemetry.instrumentation.bedrock",
        "opentelemetry.instrumentation.cohere",
        "opentelemetry.instrumentation.crewai",
        "opentelemetry.instrumentation.google_generativeai",
        "opentelemetry.instrumentation.groq",
        "opentelemetry.instrumentation.haystack",
        "opentelemetry.instrumentation.langchain",
        "opentelemetry.instrumentation.llamaindex",
        "opentelemetry.instrumentation.mistralai",
        "opentelemetry.instrumentation.ollama",
        "opentelemetry.instrumentation.openai",
        "opentelemetry.instrumentation.openai_agents",
        "opentelemetry.instrumentation.openai_v2",
        "opentelemetry.instrumentation.replicate",
        "opentelemetry.instrumentation.sagemaker",
        "opentelemetry.instrumentation.together",
        "opentelemetry.instrumentation.transformers",
        "opentelemetry.instrumentation.vertexai",
        "opentelemetry.instrumentation.voyageai",
        "opentelemetry.instrumentation.watsonx",
        "opentelemetry.instrumentation.writer",
        "pydantic-ai",
        "strands-agents",
        "vllm",
    }
)


# ----------------------------------------------------------------------------- filters


def is_langfuse_span(span: ReadableSpan) -> bool:
    """Whether the span was made by a Langfuse SDK's tracer (scope ``langfuse-sdk``)."""
    scope = span.instrumentation_scope
    return scope is not None and scope.name == LANGFUSE_TRACER_NAME


def is_genai_span(span: ReadableSpan) -> bool:
    """Whether the span has a ``gen_ai.*`` (GenAI semantic conventions) attribute."""
    return any(key.startswith("gen_ai.") for key in span.attributes or {})


def is_known_llm_instrumentor(span: ReadableSpan) -> bool:
    """Whether the span comes from one of :data:`KNOWN_LLM_INSTRUMENTATION_SCOPE_PREFIXES`."""
    scope = span.instrumentation_scope
    if scope is None:
        return False
    name = scope.name
    return any(
        name == prefix or name.startswith(prefix + ".")
        for prefix in KNOWN_LLM_INSTRUMENTATION_SCOPE_PREFIXES
    )


def is_default_export_span(span: ReadableSpan) -> bool:
    """The default ``should_export_span``: Langfuse, GenAI and known LLM instrumentation spans."""
    return is_langfuse_span(span) or is_genai_span(span) or is_known_llm_instrumentor(span)


# ----------------------------------------------------------------------------- masking


@dataclass(frozen=True)
class OtelSpanIdentifier:
    """Identifies a span in :class:`MaskOtelSpansParams` (lowercase hex ids)."""

    trace_id: str
    span_id: str


@dataclass(frozen=True)
class OtelSpanData:
    """What a mask sees of a span about to be exported (read-only)."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    instrumentation_scope_name: str | None
    instrumentation_scope_version: str | None
    attributes: Mapping[str, Any]
    resource_attributes: Mapping[str, Any]


@dataclass(frozen=True)
class OtelSpanPatch:
    """Attribute changes for one span: deletions first, then ``set_attributes``."""

    set_attributes: Mapping[str, Any] = field(default_factory=dict)
    delete_attributes: Sequence[str] = ()


@dataclass(frozen=True)
class MaskOtelSpansParams:
    """The spans a mask is asked about (here always one span per call)."""

    spans: Mapping[OtelSpanIdentifier, OtelSpanData]


@dataclass(frozen=True)
class MaskOtelSpansResult:
    """The patches a mask returns, keyed by the identifiers it was given."""

    span_patches: Mapping[OtelSpanIdentifier, OtelSpanPatch] = field(default_factory=dict)


MaskOtelSpansFunction = Callable[..., "MaskOtelSpansResult | None"]
"""``mask(*, params: MaskOtelSpansParams) -> MaskOtelSpansResult | None``, as in the official
SDK: it may inspect the spans and return attribute patches."""


def masked(
    mask: MaskOtelSpansFunction, span: ReadableSpan, attributes: dict[str, Any]
) -> dict[str, Any]:
    ctx = span.context
    ident = OtelSpanIdentifier(format_trace_id(ctx.trace_id), format_span_id(ctx.span_id))
    scope = span.instrumentation_scope
    data = OtelSpanData(
        trace_id=ident.trace_id,
        span_id=ident.span_id,
        parent_span_id=format_span_id(span.parent.span_id) if span.parent else None,
        name=span.name,
        instrumentation_scope_name=scope.name if scope else None,
        instrumentation_scope_version=scope.version if scope else None,
        attributes=dict(attributes),
        resource_attributes=dict(span.resource.attributes),
    )
    result = mask(params=MaskOtelSpansParams(spans={ident: data}))
    patch = result.span_patches.get(ident) if result is not None else None
    if patch is None:
        return attributes
    for key in patch.delete_attributes:
        attributes.pop(key, None)
    attributes.update(patch.set_attributes)
    return attributes
