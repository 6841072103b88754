"""The inert handle of a disabled client: every method works and records nothing."""

from __future__ import annotations

import datetime as _dt
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .observations import Observation

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["NOOP_OBSERVATION"]


class _NoopObservation(Observation):
    """What a disabled client returns: every method works and records nothing."""

    __slots__ = ()

    def __init__(self) -> None:  # the Observation constructor would draw ids and read a clock
        self.id = "0" * 16
        self.trace_id = "0" * 32
        self.parent_id = None
        self.name = ""
        self.as_type = "span"
        self.start_ns = 0
        self._root = None
        self._recording = False
        self._ended = True
        self._escaped = False
        self._end_on_exit = False
        self._entries = None
        self._input = self._output = self._extra = None
        self._trace_attrs = None

    def __repr__(self) -> str:
        return "<Observation (disabled)>"

    def update(self, **fields: Any) -> Observation:
        return self

    def end(self, end_time: _dt.datetime | int | None = None) -> Observation:
        return self

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    # Any: the overloads promise the handle class of each type; this one stands for all.
    def start_observation(self, **fields: Any) -> Any:
        return self

    def start_as_current_observation(self, **fields: Any) -> Any:
        return self

    def create_event(self, **fields: Any) -> Observation:
        return self

    def update_trace(self, **fields: Any) -> Observation:
        return self

    def score(self, **fields: Any) -> None:
        return None

    def score_trace(self, **fields: Any) -> None:
        return None


#: The single handle every method of a disabled client returns.
NOOP_OBSERVATION: Observation = _NoopObservation()
