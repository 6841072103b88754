"""Handing undelivered events to the user's ``on_error``: in order, isolated, never raising."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio

from .._outcomes import EventError

__all__ = ["IN_ON_ERROR", "ErrorCallback", "Reporter"]

logger = logging.getLogger("langfuse_async")

ErrorCallback = Callable[[EventError], Any]

#: True while ``on_error`` runs: an event it produces that is dropped on the spot is only
#: counted, since reporting it would call ``on_error`` again, and again.
IN_ON_ERROR: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "langfuse_async_in_on_error", default=False
)


class Reporter:
    """Calls ``on_error`` once per report; without one, warns once per reason instead.

    Each call runs in a fresh context (outside any trace of the application's, and marked with
    :data:`IN_ON_ERROR`); an async callback is awaited for at most ``timeout`` seconds; an
    exception is logged (once with its traceback, then at DEBUG) and never stops the caller.
    """

    def __init__(self, on_error: ErrorCallback | None, *, timeout: float) -> None:
        self._on_error = on_error
        self._timeout = timeout
        self._warned: set[str] = set()
        self.handed = 0
        """Reports handed over so far (to the callback, or to the log)."""

    async def hand_over(
        self, reports: deque[EventError], *, lost: int, after_each: Callable[[], None]
    ) -> None:
        """Hand every report of ``reports`` over, oldest first; ``lost`` were never queued."""
        if lost and "lost" not in self._warned:
            self._warned.add("lost")
            logger.warning(
                "more undelivered events piled up than max_queue_size before the worker "
                "could hand them to on_error (the event loop did not run it in between); the "
                "excess were only counted in statistics()"
            )
        while reports:
            error = reports.popleft()
            if self._on_error is None:
                self.handed += 1
                key = "undelivered:" + error.reason
                if key not in self._warned:
                    self._warned.add(key)
                    logger.warning(
                        "an event was not delivered (%s: %s); pass on_error= "
                        "to see each one, statistics() counts them",
                        error.reason,
                        error.message,
                    )
                continue
            context = contextvars.Context()
            context.run(IN_ON_ERROR.set, True)
            try:
                result = context.run(self._on_error, error)
                if inspect.isawaitable(result):
                    call = context.run(asyncio.ensure_future, result)
                    with anyio.move_on_after(self._timeout):
                        await call
            except Exception:
                if "callback" not in self._warned:
                    self._warned.add("callback")
                    logger.warning("on_error raised; continuing", exc_info=True)
                else:
                    logger.debug("on_error raised", exc_info=True)
            finally:
                self.handed += 1
                after_each()
