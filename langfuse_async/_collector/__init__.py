"""An embedded, Langfuse-compatible collector for local development and tests (private).

Public names are re-exported from :mod:`langfuse_async.testing`.
"""

from __future__ import annotations

from ._faults import CannedResponse, DropConnection, EventFault, Faults, Gate, Route
from ._keys import DEFAULT_PUBLIC_KEY, DEFAULT_SECRET_KEY, shown_secret_key
from ._model import Observation, RecordedRequest, Score, Trace
from ._server import Collector, Mode, is_loopback

__all__ = [
    "DEFAULT_PUBLIC_KEY",
    "DEFAULT_SECRET_KEY",
    "CannedResponse",
    "Collector",
    "DropConnection",
    "EventFault",
    "Faults",
    "Gate",
    "Mode",
    "Observation",
    "RecordedRequest",
    "Route",
    "Score",
    "Trace",
    "is_loopback",
    "shown_secret_key",
]
