"""an asyncio-native tracer for Langfuse.

Record observations with :func:`observe` or the :class:`Langfuse` client's context managers,
attach scores, and ``await langfuse.flush()``; every event is delivered or reported once to
``on_error``. Test helpers live in :mod:`langfuse_async.testing`.
"""

from __future__ import annotations

from ._client import Langfuse, get_client
from ._outcomes import EventError, FlushResult, Reason, Statistics
from ._records import ObservationType
from ._tracing import Level, Observation, ScoreDataType, observe
from ._version import __version__

__all__ = [
    "__version__",
    "EventError",
    "FlushResult",
    "get_client",
    "Langfuse",
    "Level",
    "Observation",
    "ObservationType",
    "observe",
    "Reason",
    "ScoreDataType",
    "Statistics",
]

# Show the public path in reprs and tracebacks (``langfuse_async.Langfuse``), not the private
# module a name happens to live in.
for _name in ("EventError", "FlushResult", "Langfuse", "Observation", "Statistics"):
    globals()[_name].__module__ = __name__
for _name in ("get_client", "observe"):
    globals()[_name].__module__ = __name__
del _name
