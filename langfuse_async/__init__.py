"""an asyncio-native tracer for Langfuse.

Record observations with :func:`observe` or the :class:`Langfuse` client's context managers,
set trace attributes with :func:`propagate_attributes`, attach scores, and
``await langfuse.flush()``; every event is delivered or reported once to ``on_error``. Code
written for the official Langfuse 5.x SDK runs with only the import changed. Test helpers live
in :mod:`langfuse_async.testing`.
"""

from __future__ import annotations

from ._client import Langfuse, get_client
from ._outcomes import EventError, FlushResult, Reason, Statistics
from ._records import ObservationType
from ._tracing import (
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
    Level,
    Observation,
    ScoreDataType,
    observe,
    propagate_attributes,
)
from ._version import __version__

__all__ = [
    "__version__",
    "EventError",
    "FlushResult",
    "get_client",
    "Langfuse",
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
    "ObservationType",
    "observe",
    "propagate_attributes",
    "Reason",
    "ScoreDataType",
    "Statistics",
]

# Show the public path in reprs and tracebacks (``langfuse_async.Langfuse``), not the private
# module a name happens to live in.
_CLASSES = (
    "EventError",
    "FlushResult",
    "Langfuse",
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
    "Observation",
    "Statistics",
)
for _name in _CLASSES:
    globals()[_name].__module__ = __name__
for _name in ("get_client", "observe", "propagate_attributes"):
    globals()[_name].__module__ = __name__
del _name, _CLASSES
