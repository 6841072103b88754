"""The observations started and not ended yet, for shutdown and the exit hook to end and send.

Handles add themselves when they start recording and leave when they end; kept apart from the
handle so that the handle module stays the API.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "MAX_OPEN",
    "OPEN",
    "end_open_observations",
    "has_open_observations",
    "trace_has_open",
]


#: The observations started and not ended yet (recording ones), for the shutdown and the exit
#: hook to send those that never will be. Bounded: past it, new ones are not tracked (an
#: application that leaks handles must not leak memory through us).
OPEN: dict[Any, None] = {}
MAX_OPEN = 100_000


def has_open_observations(owner: object) -> bool:
    """Whether an observation of ``owner``'s is still open (the exit hook has work)."""
    return any(getattr(obs._recorder, "owner", None) is owner for obs in list(OPEN))


def trace_has_open(root: Any) -> bool:
    """Whether an observation of the trace whose local root is ``root`` is still open.

    Asked only by a trace update made after that root ended (rare): a scan of the open
    observations, not a count kept by every observation on the hot path. One not tracked
    (past :data:`MAX_OPEN`) is not seen.
    """
    for obs in list(OPEN):
        if (obs._root or obs) is root and not obs._ended:
            return True
    return False


def end_open_observations(owner: object, message: str) -> int:
    """End every observation of ``owner``'s still open, flagged as never ended; return how many.

    Each is ended now with level ``WARNING`` (``ERROR`` stays) and ``message`` as its status
    message (after any it had), so what it recorded reaches the server rather than being lost
    with the process. Called by the client's shutdown and exit hook; safe from any thread.
    """
    ended = 0
    for obs in list(OPEN):
        if getattr(obs._recorder, "owner", None) is not owner or obs._ended:
            continue
        extra = obs._extra
        if extra is None:
            extra = obs._extra = {}
        if extra.get("level") != "ERROR":
            extra["level"] = "WARNING"
        previous = extra.get("status_message")
        extra["status_message"] = f"{previous}; {message}" if previous else message
        obs.end()
        ended += 1
    return ended
