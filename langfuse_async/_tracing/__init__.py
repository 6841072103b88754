"""The producer side: what user code calls to record observations, traces and scores.

``observe`` and ``tracer`` start ``observations`` (handles), which reach their client only through
a ``recorder`` that emits into a sink; ``registry`` says which client ``get_client()`` returns.
"""

from .coerce import Level
from .observations import Observation
from .observe import observe
from .registry import client_closed, get_client, register_client, set_client_factory
from .scores import ScoreDataType
from .tracer import NULL_SINK, Tracer

__all__ = [
    "NULL_SINK",
    "Level",
    "Observation",
    "ScoreDataType",
    "Tracer",
    "client_closed",
    "get_client",
    "observe",
    "register_client",
    "set_client_factory",
]
