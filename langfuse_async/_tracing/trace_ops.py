"""The handle's methods that act on its trace and on scores, not on its own fields.

A mixin of :class:`~langfuse_async._tracing.observations.Observation`: it declares the handle
attributes it reads, so it needs nothing of the handle's module (no import cycle).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._log import logger
from .._records import TraceAttributes
from . import traces as _traces
from .open_handles import trace_has_open
from .recorder import Recorder
from .scores import ScoreDataType, score_record
from .traces import merge_trace_attributes, trace_record, trace_update

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["TraceOps"]


class TraceOps:
    """Trace attributes and scores of an observation handle (see ``Observation``)."""

    __slots__ = ()

    # Provided by the handle.
    id: str
    trace_id: str
    _recorder: Recorder
    _recording: bool
    _ended: bool
    _root: Any
    _trace_attrs: TraceAttributes | None
    _extra: dict[str, Any] | None

    def update_trace(
        self,
        *,
        name: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        version: str | None = None,
        release: str | None = None,
        input: Any = None,
        output: Any = None,
        metadata: Any = None,
        tags: Sequence[str] | None = None,
        public: bool | None = None,
    ) -> Self:
        """Set attributes of this observation's trace; arguments left as None are unchanged.

        The merged attributes are copied onto every observation of the trace that ends
        afterwards; while the trace's root observation (in this process) is open, they travel
        with it, in the trace's one ``trace-create`` event. An update after the root ended is
        sent at once as an event of its own, holding only these values (the server merges);
        on the OTLP route it rides on the span of an observation of the trace still open
        (this one, or another), which the client waits for, and is reported when none is.
        Tags are added to earlier tags and metadata is merged per top-level key.

        Args:
            name: The trace name (at most 1000 characters; longer is cut).
            user_id: The end user the trace belongs to.
            session_id: The session (conversation) the trace belongs to.
            version: The version of the application.
            release: The release of the application (the client's ``release`` otherwise).
            input: The trace's input.
            output: The trace's output.
            metadata: Extra data, preferably a mapping.
            tags: Labels for filtering.
            public: Whether the trace can be viewed by anyone with its link.

        Returns:
            This observation.
        """
        if not self._recording:
            return self
        try:
            attrs = trace_update(
                self._recorder,
                name=name,
                user_id=user_id,
                session_id=session_id,
                version=version,
                release=release,
                input=input,
                output=output,
                metadata=metadata,
                tags=tags,
                public=public,
            )
        except Exception:
            logger.warning("could not record a trace update", exc_info=True)
            return self
        if attrs is None:
            return self
        root = self._root or self
        with _traces.trace_lock:
            root._trace_attrs = merge_trace_attributes(root._trace_attrs, attrs)
            # While the root is open, its record will carry the merged attributes (the one
            # trace-create of the trace on the ingestion route, every later span on OTLP):
            # an event of its own only once the root has gone.
            separate = root._ended
        if separate:
            # This observation, when open, ends later and carries the update on the OTLP
            # route; otherwise (rare: an ended handle) another open one of the trace may.
            try:
                span_open = not self._ended or trace_has_open(root)
            except Exception:  # a bug must not reach the user: the update is still sent
                span_open = False
            self._recorder.emit(trace_record(self.trace_id, attrs, span_open=span_open))
        return self

    def set_trace_as_public(self) -> Self:
        """Make this observation's trace viewable by anyone with its link.

        Returns:
            This observation.
        """
        return self.update_trace(public=True)

    def score(
        self,
        *,
        name: str,
        value: float | str,
        score_id: str | None = None,
        data_type: ScoreDataType | None = None,
        comment: str | None = None,
        config_id: str | None = None,
        timestamp: _dt.datetime | int | None = None,
        metadata: Any = None,
    ) -> None:
        """Score this observation (see the client's ``create_score`` for the arguments)."""
        self._score(
            self.id,
            name=name,
            value=value,
            score_id=score_id,
            data_type=data_type,
            comment=comment,
            config_id=config_id,
            timestamp=timestamp,
            metadata=metadata,
        )

    def score_trace(
        self,
        *,
        name: str,
        value: float | str,
        score_id: str | None = None,
        data_type: ScoreDataType | None = None,
        comment: str | None = None,
        config_id: str | None = None,
        timestamp: _dt.datetime | int | None = None,
        metadata: Any = None,
    ) -> None:
        """Score this observation's trace (see the client's ``create_score`` for the arguments)."""
        self._score(
            None,
            name=name,
            value=value,
            score_id=score_id,
            data_type=data_type,
            comment=comment,
            config_id=config_id,
            timestamp=timestamp,
            metadata=metadata,
        )

    def _score(
        self,
        observation_id: str | None,
        *,
        name: str,
        value: float | str,
        score_id: str | None,
        data_type: ScoreDataType | None,
        comment: str | None,
        config_id: str | None,
        timestamp: _dt.datetime | int | None,
        metadata: Any,
    ) -> None:
        if self._recording:
            record = score_record(
                self._recorder,
                name,
                value,
                self.trace_id,
                observation_id,
                None,
                data_type,
                comment,
                metadata,
                score_id,
                config_id=config_id,
                timestamp=timestamp,
                environment=self._environment(),
            )
            if record is not None:
                self._recorder.emit(record)

    def _environment(self) -> str | None:
        """The environment propagated to this observation, if any (its scores share it)."""
        extra = self._extra
        return None if extra is None else extra.get("environment")
