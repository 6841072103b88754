"""The producer side: what user code calls to record observations, traces and scores.

``observe`` and ``tracer`` start ``observations`` (handles), which reach their client only through
a ``recorder`` that emits into a sink; ``propagation`` carries trace attributes into every
observation started inside a block; ``registry`` says which client ``get_client()`` returns.
"""

from . import as_decorator as _as_decorator  # noqa: F401  (installs handles' decorator use)
from .coerce import Level
from .observations import (
    LangfuseAgent,
    LangfuseChain,
    LangfuseEmbedding,
    LangfuseEvaluator,
    LangfuseEvent,
    LangfuseGeneration,
    LangfuseGuardrail,
    LangfuseRetriever,
    LangfuseSpan,
    LangfuseTool,
    Observation,
)
from .observe import observe
from .propagation import propagate_attributes
from .registry import client_closed, get_client, register_client, set_client_factory
from .scores import ScoreDataType
from .tracer import NULL_SINK, Tracer

__all__ = [
    "NULL_SINK",
    "LangfuseAgent",
    "LangfuseChain",
    "LangfuseEmbedding",
    "LangfuseEvaluator",
    "LangfuseEvent",
    "LangfuseGeneration",
    "LangfuseGuardrail",
    "LangfuseRetriever",
    "LangfuseSpan",
    "LangfuseTool",
    "Level",
    "Observation",
    "ScoreDataType",
    "Tracer",
    "client_closed",
    "get_client",
    "observe",
    "propagate_attributes",
    "register_client",
    "set_client_factory",
]
