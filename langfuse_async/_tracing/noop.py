"""The inert handles of a disabled client: every method works and records nothing.

There is one per observation type, an instance of that type's class (``LangfuseGeneration``...),
so ``isinstance`` checks written for the official SDK hold with tracing disabled too.
"""

from __future__ import annotations

import datetime as _dt
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .observations import OBSERVATION_CLASSES, Observation

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["NOOP_OBSERVATION", "NOOP_OBSERVATIONS", "noop_observation"]


class _NoopObservation(Observation):
    """What a disabled client returns: every method works and records nothing."""

    __slots__ = ()

    def __init__(self, as_type: str) -> None:  # Observation's would draw ids, read a clock
        self.id = "0" * 16
        self.trace_id = "0" * 32
        self.parent_id = None
        self.name = ""
        self.as_type = as_type
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
        return f"<{type(self).__bases__[-1].__name__} {self.as_type} (disabled)>"

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

    def __call__(self, func: Any) -> Any:
        return func  # a disabled client's decorator leaves the function as it is

    # Any: the overloads promise the handle class of each type; this one stands for all.
    def start_observation(self, **fields: Any) -> Any:
        return noop_observation(fields.get("as_type", "span"))

    def start_as_current_observation(self, **fields: Any) -> Any:
        return noop_observation(fields.get("as_type", "span"))

    def create_event(self, **fields: Any) -> Observation:
        return NOOP_OBSERVATIONS["event"]

    def update_trace(self, **fields: Any) -> Self:
        return self

    def score(self, **fields: Any) -> None:
        return None

    def score_trace(self, **fields: Any) -> None:
        return None


def _noop_class(base: type[Observation]) -> type[_NoopObservation]:
    return type(f"_Noop{base.__name__}", (_NoopObservation, base), {"__slots__": ()})


#: The handle of each observation type that a disabled client returns.
NOOP_OBSERVATIONS: dict[str, Observation] = {
    as_type: _noop_class(cls)(as_type) for as_type, cls in OBSERVATION_CLASSES.items()
}

#: The span handle of a disabled client (also what an unknown type gets).
NOOP_OBSERVATION: Observation = NOOP_OBSERVATIONS["span"]


def noop_observation(as_type: object) -> Observation:
    """Return the disabled client's handle of ``as_type`` (the span's for an unknown type)."""
    return (
        NOOP_OBSERVATIONS.get(as_type, NOOP_OBSERVATION)
        if type(as_type) is str
        else (NOOP_OBSERVATION)
    )
