"""The package's one logger, and ``log_once`` for problems that could repeat on every event."""

from __future__ import annotations

import logging

__all__ = ["log_once", "logger"]

#: Every message of the package goes through this logger; applications configure it by name.
logger = logging.getLogger("langfuse_async")

_logged: set[str] = set()
#: Distinct problems remembered; past this, problems are told apart by their key alone, so a
#: loop producing ever new values cannot grow the set (or the log) without bound.
_MAX_LOGGED = 512


def log_once(
    level: int, key: str, msg: str, *args: object, variant: str = "", exc_info: bool = False
) -> None:
    """Log ``msg`` at ``level`` the first time this problem is seen, later at DEBUG only.

    Misuse on the hot path (an invalid score in a loop, an update outside any observation)
    must not flood the application's logs, yet each distinct mistake must be visible once: a
    problem is ``key`` plus ``variant``, which names what tells two mistakes of one kind apart
    (which check an invalid score failed, which usage entry is wrong), never a value that
    changes on every call (an id, a number). Up to :data:`_MAX_LOGGED` problems are told
    apart, then ``key`` alone. A message whose first ``level`` is DEBUG is logged once only:
    repeating it at DEBUG would flood exactly the logs of someone debugging.
    """
    problem = key + "\x00" + variant[:200] if variant else key
    if key in _logged and (problem in _logged or len(_logged) >= _MAX_LOGGED):
        if level > logging.DEBUG and logger.isEnabledFor(logging.DEBUG):
            logger.debug(msg, *args, exc_info=exc_info)
        return
    _logged.add(key)
    _logged.add(problem)
    logger.log(level, msg, *args, exc_info=exc_info)
