"""The client's instrumentation API (long: the official SDK's keyword signatures, one per method).

:class:`Tracer` turns calls into immutable records and hands each to its
:class:`~langfuse_async._records.Sink`, through its :class:`~.recorder.SinkRecorder`; it never
imports the queue, the transports or the client. ``Langfuse`` (in ``_client.py``, the
composition root) subclasses it for the public API and gives it the delivery pipeline as sink.

Nothing here raises into the user's code: invalid arguments are logged (once at WARNING, then
at DEBUG) and the call records nothing or ignores the bad field.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

from .._config import Config, resolve_config
from .._log import log_once
from .._records import ObservationType, Record, Sink
from . import ids as _ids
from .coerce import Level, TraceContext, flag, safe_str
from .fields import START_FIELDS
from .noop import noop_observation
from .observations import (
    CURRENT,
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
    Observation,
    current_observation,
    start,
)
from .open_handles import end_open_observations, has_open_observations
from .propagation import valid_environment
from .recorder import SinkRecorder
from .scores import ScoreDataType, score_record

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .fields import TracerCurrentFields, TracerFields

__all__ = ["NULL_SINK", "Tracer", "disabled_tracer"]


class Tracer:
    """The instrumentation methods of a Langfuse client.

    It emits what it records into the sink it is given. With ``config.enabled`` False every
    method is a cheap no-op and handles are inert (still usable as context managers). Building
    one does not make it the client ``get_client()`` returns: whoever builds it registers it
    (``Langfuse`` does).
    """

    _config: Config
    _tracing_enabled: bool
    _recorder: SinkRecorder

    def __init__(self, config: Config, sink: Sink) -> None:
        """Build the instrumentation of a client.

        Args:
            config: The client's configuration (``enabled``, ``mask``, limits, sampling).
            sink: Where finished records go (the delivery pipeline; a list in tests).
        """
        self._config = config
        self._tracing_enabled = config.enabled
        self._recorder = SinkRecorder(config, sink)
        self._recorder.owner = self
        self._closed = False
        """Shut down: ``get_client()`` prefers an open client (see the registry)."""

    def _has_open_observations(self) -> bool:
        """Whether an observation of this client's is still open."""
        return has_open_observations(self)

    def _end_open_observations(self, message: str) -> int:
        """End this client's observations still open, flagged as never ended; return how many."""
        return end_open_observations(self, message)

    # ----------------------------------------------------------------- starting

    @overload
    def start_observation(
        self, *, name: str, as_type: Literal["span"] = "span", **fields: Unpack[TracerFields]
    ) -> LangfuseSpan: ...

    @overload
    def start_observation(
        self, *, name: str, as_type: Literal["generation"], **fields: Unpack[TracerFields]
    ) -> LangfuseGeneration: ...

    @overload
    def start_observation(
        self, *, name: str, as_type: Literal["event"], **fields: Unpack[TracerFields]
    ) -> LangfuseEvent: ...

    @overload
    def start_observation(
        self, *, name: str, as_type: Literal["agent"], **fields: Unpack[TracerFields]
    ) -> LangfuseAgent: ...

    @overload
    def start_observation(
        self, *, name: str, as_type: Literal["tool"], **fields: Unpack[TracerFields]
    ) -> LangfuseTool: ...

    @overload
    def start_observation(
        self, *, name: str, as_type: Literal["chain"], **fields: Unpack[TracerFields]
    ) -> LangfuseChain: ...

    @overload
    def start_observation(
        self, *, name: str, as_type: Literal["retriever"], **fields: Unpack[TracerFields]
    ) -> LangfuseRetriever: ...

    @overload
    def start_observation(
        self, *, name: str, as_type: Literal["evaluator"], **fields: Unpack[TracerFields]
    ) -> LangfuseEvaluator: ...

    @overload
    def start_observation(
        self, *, name: str, as_type: Literal["embedding"], **fields: Unpack[TracerFields]
    ) -> LangfuseEmbedding: ...

    @overload
    def start_observation(
        self, *, name: str, as_type: Literal["guardrail"], **fields: Unpack[TracerFields]
    ) -> LangfuseGuardrail: ...

    @overload
    def start_observation(
        self, *, name: str, as_type: ObservationType, **fields: Unpack[TracerFields]
    ) -> Observation: ...

    def start_observation(
        self,
        *,
        name: str,
        as_type: ObservationType = "span",
        trace_context: TraceContext | None = None,
        input: Any = None,
        output: Any = None,
        metadata: Any = None,
        version: str | None = None,
        level: Level | None = None,
        status_message: str | None = None,
        completion_start_time: _dt.datetime | int | None = None,
        model: str | None = None,
        model_parameters: Mapping[str, Any] | None = None,
        usage_details: Mapping[str, int] | None = None,
        cost_details: Mapping[str, float] | None = None,
        prompt: Any = None,
        prompt_name: str | None = None,
        prompt_version: int | None = None,
    ) -> Observation:
        """Start an observation that is not made current; end it with ``.end()``.

        It is a child of the current observation, or the root of a new trace outside any.

        Args:
            name: The observation's name.
            as_type: ``span``, ``generation``, ``event``, ``agent``, ``tool``, ``chain``,
                ``retriever``, ``evaluator``, ``embedding`` or ``guardrail``.
            trace_context: Attach to this trace (and parent observation) instead of the
                current one: ``{"trace_id": ..., "parent_span_id": ...}``.
            input: The input, any JSON-encodable value (others are encoded best-effort).
            output: The output.
            metadata: Extra data, preferably a mapping.
            version: The version of the code or prompt.
            level: ``DEBUG``, ``DEFAULT``, ``WARNING`` or ``ERROR``.
            status_message: A short explanation, typically of a warning or error.
            completion_start_time: Generations: when the first token arrived.
            model: Generations: the model name.
            model_parameters: Generations: parameters such as ``temperature``.
            usage_details: Generations: counts, e.g. ``{"input": 12, "output": 3}``.
            cost_details: Generations: costs in USD.
            prompt: Generations: a prompt object with ``name`` and ``version``.
            prompt_name: Generations: the Langfuse prompt's name.
            prompt_version: Generations: the Langfuse prompt's version.

        Returns:
            The observation's handle.
        """
        return self._start(
            name,
            as_type,
            trace_context,
            (
                input,
                output,
                metadata,
                version,
                level,
                status_message,
                completion_start_time,
                model,
                model_parameters,
                usage_details,
                cost_details,
                prompt,
                prompt_name,
                prompt_version,
            ),
        )

    def _start(
        self, name: str, as_type: str, trace_context: TraceContext | None, fields: tuple[Any, ...]
    ) -> Observation:
        """Start an observation with ``fields`` (``update``'s keywords, ``START_FIELDS`` order)."""
        if not self._tracing_enabled:
            return noop_observation(as_type)
        obs = start(self._recorder, CURRENT.get(), trace_context, name, as_type)
        # Most observations start with a name only: then there is no update to apply.
        if fields.count(None) < len(fields):
            if obs._recording:
                obs.update(**dict(zip(START_FIELDS, fields, strict=True)))
            else:
                # Sampled out, so nothing is encoded; kept in case the handle decorates a
                # function, whose calls are sampled each on their own (see as_decorator).
                obs._template_fields = fields
        return obs

    @overload
    def start_as_current_observation(
        self, *, name: str, as_type: Literal["span"] = "span", **fields: Unpack[TracerCurrentFields]
    ) -> LangfuseSpan: ...

    @overload
    def start_as_current_observation(
        self, *, name: str, as_type: Literal["generation"], **fields: Unpack[TracerCurrentFields]
    ) -> LangfuseGeneration: ...

    @overload
    def start_as_current_observation(
        self, *, name: str, as_type: Literal["event"], **fields: Unpack[TracerCurrentFields]
    ) -> LangfuseEvent: ...

    @overload
    def start_as_current_observation(
        self, *, name: str, as_type: Literal["agent"], **fields: Unpack[TracerCurrentFields]
    ) -> LangfuseAgent: ...

    @overload
    def start_as_current_observation(
        self, *, name: str, as_type: Literal["tool"], **fields: Unpack[TracerCurrentFields]
    ) -> LangfuseTool: ...

    @overload
    def start_as_current_observation(
        self, *, name: str, as_type: Literal["chain"], **fields: Unpack[TracerCurrentFields]
    ) -> LangfuseChain: ...

    @overload
    def start_as_current_observation(
        self, *, name: str, as_type: Literal["retriever"], **fields: Unpack[TracerCurrentFields]
    ) -> LangfuseRetriever: ...

    @overload
    def start_as_current_observation(
        self, *, name: str, as_type: Literal["evaluator"], **fields: Unpack[TracerCurrentFields]
    ) -> LangfuseEvaluator: ...

    @overload
    def start_as_current_observation(
        self, *, name: str, as_type: Literal["embedding"], **fields: Unpack[TracerCurrentFields]
    ) -> LangfuseEmbedding: ...

    @overload
    def start_as_current_observation(
        self, *, name: str, as_type: Literal["guardrail"], **fields: Unpack[TracerCurrentFields]
    ) -> LangfuseGuardrail: ...

    @overload
    def start_as_current_observation(
        self, *, name: str, as_type: ObservationType, **fields: Unpack[TracerCurrentFields]
    ) -> Observation: ...

    def start_as_current_observation(
        self,
        *,
        name: str,
        as_type: ObservationType = "span",
        trace_context: TraceContext | None = None,
        input: Any = None,
        output: Any = None,
        metadata: Any = None,
        version: str | None = None,
        level: Level | None = None,
        status_message: str | None = None,
        completion_start_time: _dt.datetime | int | None = None,
        model: str | None = None,
        model_parameters: Mapping[str, Any] | None = None,
        usage_details: Mapping[str, int] | None = None,
        cost_details: Mapping[str, float] | None = None,
        prompt: Any = None,
        prompt_name: str | None = None,
        prompt_version: int | None = None,
        end_on_exit: bool | None = True,
    ) -> Observation:
        """Start an observation to use with ``with`` or ``async with``; current inside the block.

        Leaving the block ends it (unless ``end_on_exit`` is False) and records an exception
        leaving the block as level ``ERROR``; the exception propagates unchanged.

        Args:
            name: The observation's name.
            as_type: The observation type (see :meth:`start_observation`).
            trace_context: Attach to this trace instead of the current one.
            input: The input.
            output: The output.
            metadata: Extra data, preferably a mapping.
            version: The version of the code or prompt.
            level: ``DEBUG``, ``DEFAULT``, ``WARNING`` or ``ERROR``.
            status_message: A short explanation.
            completion_start_time: Generations: when the first token arrived.
            model: Generations: the model name.
            model_parameters: Generations: model parameters.
            usage_details: Generations: token or unit counts.
            cost_details: Generations: costs in USD.
            prompt: Generations: a prompt object with ``name`` and ``version``.
            prompt_name: Generations: the Langfuse prompt's name.
            prompt_version: Generations: the Langfuse prompt's version.
            end_on_exit: False leaves the observation open after the block (None: True, as
                in the official SDK).

        Returns:
            The observation's handle, which is also the context manager.
        """
        fields = (
            input,
            output,
            metadata,
            version,
            level,
            status_message,
            completion_start_time,
            model,
            model_parameters,
            usage_details,
            cost_details,
            prompt,
            prompt_name,
            prompt_version,
        )
        obs = self._start(name, as_type, trace_context, fields)
        if end_on_exit is not True and not flag(end_on_exit, True) and self._tracing_enabled:
            obs._end_on_exit = False
        return obs

    def start_span(
        self,
        *,
        name: str,
        trace_context: TraceContext | None = None,
        input: Any = None,
        output: Any = None,
        metadata: Any = None,
        version: str | None = None,
        level: Level | None = None,
        status_message: str | None = None,
    ) -> LangfuseSpan:
        """Shorthand for :meth:`start_observation` with ``as_type="span"``."""
        return self.start_observation(
            name=name,
            as_type="span",
            trace_context=trace_context,
            input=input,
            output=output,
            metadata=metadata,
            version=version,
            level=level,
            status_message=status_message,
        )

    def start_generation(
        self,
        *,
        name: str,
        trace_context: TraceContext | None = None,
        input: Any = None,
        output: Any = None,
        metadata: Any = None,
        version: str | None = None,
        level: Level | None = None,
        status_message: str | None = None,
        completion_start_time: _dt.datetime | int | None = None,
        model: str | None = None,
        model_parameters: Mapping[str, Any] | None = None,
        usage_details: Mapping[str, int] | None = None,
        cost_details: Mapping[str, float] | None = None,
        prompt: Any = None,
        prompt_name: str | None = None,
        prompt_version: int | None = None,
    ) -> LangfuseGeneration:
        """Shorthand for :meth:`start_observation` with ``as_type="generation"``."""
        return self.start_observation(
            name=name,
            as_type="generation",
            trace_context=trace_context,
            input=input,
            output=output,
            metadata=metadata,
            version=version,
            level=level,
            status_message=status_message,
            completion_start_time=completion_start_time,
            model=model,
            model_parameters=model_parameters,
            usage_details=usage_details,
            cost_details=cost_details,
            prompt=prompt,
            prompt_name=prompt_name,
            prompt_version=prompt_version,
        )

    def start_as_current_span(
        self,
        *,
        name: str,
        trace_context: TraceContext | None = None,
        input: Any = None,
        output: Any = None,
        metadata: Any = None,
        version: str | None = None,
        level: Level | None = None,
        status_message: str | None = None,
        end_on_exit: bool | None = True,
    ) -> LangfuseSpan:
        """Shorthand for :meth:`start_as_current_observation` with ``as_type="span"``."""
        return self.start_as_current_observation(
            name=name,
            as_type="span",
            trace_context=trace_context,
            input=input,
            output=output,
            metadata=metadata,
            version=version,
            level=level,
            status_message=status_message,
            end_on_exit=end_on_exit,
        )

    def start_as_current_generation(
        self,
        *,
        name: str,
        trace_context: TraceContext | None = None,
        input: Any = None,
        output: Any = None,
        metadata: Any = None,
        version: str | None = None,
        level: Level | None = None,
        status_message: str | None = None,
        completion_start_time: _dt.datetime | int | None = None,
        model: str | None = None,
        model_parameters: Mapping[str, Any] | None = None,
        usage_details: Mapping[str, int] | None = None,
        cost_details: Mapping[str, float] | None = None,
        prompt: Any = None,
        prompt_name: str | None = None,
        prompt_version: int | None = None,
        end_on_exit: bool | None = True,
    ) -> LangfuseGeneration:
        """Shorthand for :meth:`start_as_current_observation` with ``as_type="generation"``."""
        return self.start_as_current_observation(
            name=name,
            as_type="generation",
            trace_context=trace_context,
            input=input,
            output=output,
            metadata=metadata,
            version=version,
            level=level,
            status_message=status_message,
            completion_start_time=completion_start_time,
            model=model,
            model_parameters=model_parameters,
            usage_details=usage_details,
            cost_details=cost_details,
            prompt=prompt,
            prompt_name=prompt_name,
            prompt_version=prompt_version,
            end_on_exit=end_on_exit,
        )

    def create_event(
        self,
        *,
        name: str,
        trace_context: TraceContext | None = None,
        input: Any = None,
        output: Any = None,
        metadata: Any = None,
        version: str | None = None,
        level: Level | None = None,
        status_message: str | None = None,
    ) -> LangfuseEvent:
        """Record an instant event, a child of the current observation; return its handle.

        The event starts and ends at the same moment and is recorded at once.

        Args:
            name: The event's name.
            trace_context: ``{"trace_id": ..., "parent_span_id": ...}`` to attach it to a trace
                started elsewhere instead of the current observation.
            input: What the event received.
            output: What the event produced.
            metadata: Extra data, preferably a mapping.
            version: The version of the code that produced it.
            level: ``DEBUG``, ``DEFAULT``, ``WARNING`` or ``ERROR``.
            status_message: A message explaining the level.

        Returns:
            The ended event's handle (its ``id`` and ``trace_id`` are usable at once).
        """
        obs = self.start_observation(
            name=name,
            as_type="event",
            trace_context=trace_context,
            input=input,
            output=output,
            metadata=metadata,
            version=version,
            level=level,
            status_message=status_message,
        )
        obs.end(obs.start_ns)
        return obs

    # ----------------------------------------------------------------- current observation

    def _current(self, what: str) -> Observation | None:
        obs = current_observation()
        if obs is None:
            log_once(
                logging.DEBUG,
                "no_current." + what,
                "%s() called outside any observation; nothing to do",
                what,
            )
        return obs

    def update_current_trace(
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
    ) -> None:
        """Set attributes of the current trace; outside any observation, do nothing.

        See :meth:`Observation.update_trace` for the arguments and merge rules.
        """
        obs = self._current("update_current_trace")
        if obs is not None:
            obs.update_trace(
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

    def update_current_span(
        self,
        *,
        name: str | None = None,
        input: Any = None,
        output: Any = None,
        metadata: Any = None,
        version: str | None = None,
        level: Level | None = None,
        status_message: str | None = None,
    ) -> None:
        """Update the innermost current observation; outside any, do nothing.

        See :meth:`Observation.update` for the arguments.
        """
        obs = self._current("update_current_span")
        if obs is not None:
            obs.update(
                name=name,
                input=input,
                output=output,
                metadata=metadata,
                version=version,
                level=level,
                status_message=status_message,
            )

    def update_current_generation(
        self,
        *,
        name: str | None = None,
        input: Any = None,
        output: Any = None,
        metadata: Any = None,
        version: str | None = None,
        level: Level | None = None,
        status_message: str | None = None,
        completion_start_time: _dt.datetime | int | None = None,
        model: str | None = None,
        model_parameters: Mapping[str, Any] | None = None,
        usage_details: Mapping[str, int] | None = None,
        cost_details: Mapping[str, float] | None = None,
        prompt: Any = None,
        prompt_name: str | None = None,
        prompt_version: int | None = None,
    ) -> None:
        """Update the innermost current observation, generation fields included.

        Outside any observation, do nothing. See :meth:`Observation.update` for the arguments.
        """
        obs = self._current("update_current_generation")
        if obs is not None:
            obs.update(
                name=name,
                input=input,
                output=output,
                metadata=metadata,
                version=version,
                level=level,
                status_message=status_message,
                completion_start_time=completion_start_time,
                model=model,
                model_parameters=model_parameters,
                usage_details=usage_details,
                cost_details=cost_details,
                prompt=prompt,
                prompt_name=prompt_name,
                prompt_version=prompt_version,
            )

    def set_current_trace_as_public(self) -> None:
        """Make the current trace viewable by anyone with its link; outside any, do nothing."""
        obs = self._current("set_current_trace_as_public")
        if obs is not None:
            obs.set_trace_as_public()

    def get_current_trace_id(self) -> str | None:
        """Return the id of the current trace, or None outside any observation."""
        obs = current_observation()
        return None if obs is None else obs.trace_id

    def get_current_observation_id(self) -> str | None:
        """Return the id of the innermost current observation, or None outside any."""
        obs = current_observation()
        return None if obs is None else obs.id

    @staticmethod
    def create_trace_id(seed: str | None = None) -> str:
        """Return a new trace id (32 lowercase hex), or the one derived from ``seed``.

        With a seed the id is deterministic and equal to the official SDK's for the same seed,
        so an external id (a request id) can be turned into the trace id on both sides. A seed
        that is not a string (a number, a UUID) is seeded by its text.

        Args:
            seed: Any value whose text identifies the trace, or None for a random id.

        Returns:
            The trace id.
        """
        if seed is not None and type(seed) is not str:
            seed = safe_str(seed)
        try:
            return _ids.create_trace_id(seed)
        except UnicodeEncodeError:
            # Lone surrogates are not UTF-8; their escaped spelling still gives a stable id.
            escaped = (seed or "").encode("utf-8", "backslashreplace").decode("ascii")
            return _ids.create_trace_id(escaped)

    # ----------------------------------------------------------------- scores

    def create_score(
        self,
        *,
        name: str,
        value: float | str,
        trace_id: str | None = None,
        observation_id: str | None = None,
        session_id: str | None = None,
        score_id: str | None = None,
        data_type: ScoreDataType | None = None,
        comment: str | None = None,
        metadata: Any = None,
        config_id: str | None = None,
        dataset_run_id: str | None = None,
        timestamp: _dt.datetime | int | None = None,
        environment: str | None = None,
    ) -> None:
        """Record a score for a trace, an observation of a trace, a session or a dataset run.

        Invalid arguments are logged (once at WARNING) and nothing is recorded; this never
        raises. A score of a sampled-out trace is not recorded either.

        Args:
            name: The score's name (non-empty).
            value: A number for NUMERIC, 0 or 1 for BOOLEAN, a string for CATEGORICAL,
                CORRECTION and TEXT (1 to 500 characters); a number or string without
                ``data_type``.
            trace_id: The trace scored. Exactly one of ``trace_id``, ``session_id`` and
                ``dataset_run_id``.
            observation_id: The observation scored (needs ``trace_id``).
            session_id: The session scored.
            score_id: The score's id; giving the id of an existing score updates it.
                Generated when omitted.
            data_type: ``NUMERIC``, ``BOOLEAN``, ``CATEGORICAL``, ``TEXT`` or ``CORRECTION``.
            comment: A free-text comment.
            metadata: Extra data, preferably a mapping.
            config_id: The score config the value follows (not for CORRECTION scores).
            dataset_run_id: The dataset run scored.
            timestamp: When the score was given (a datetime or epoch ns); now by default.
            environment: The score's environment instead of the client's (lowercase letters,
                digits, ``-`` and ``_``, at most 40 characters; an invalid one is logged and
                the client's used).
        """
        if environment is not None:
            environment = valid_environment(environment)
        self._score(
            name,
            value,
            trace_id,
            observation_id,
            session_id,
            data_type,
            comment,
            metadata,
            score_id,
            config_id=config_id,
            dataset_run_id=dataset_run_id,
            timestamp=timestamp,
            environment=environment,
        )

    def score_current_span(
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
        """Score the innermost current observation; outside any, do nothing.

        See :meth:`create_score` for the arguments.
        """
        obs = self._current("score_current_span")
        if obs is not None:
            obs.score(
                name=name,
                value=value,
                score_id=score_id,
                data_type=data_type,
                comment=comment,
                config_id=config_id,
                timestamp=timestamp,
                metadata=metadata,
            )

    def score_current_trace(
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
        """Score the current trace; outside any observation, do nothing.

        See :meth:`create_score` for the arguments.
        """
        obs = self._current("score_current_trace")
        if obs is not None:
            obs.score_trace(
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
        name: str,
        value: float | str,
        trace_id: str | None,
        observation_id: str | None,
        session_id: str | None,
        data_type: str | None,
        comment: str | None,
        metadata: Any,
        score_id: str | None,
        *,
        config_id: str | None = None,
        dataset_run_id: str | None = None,
        timestamp: _dt.datetime | int | None = None,
        environment: str | None = None,
    ) -> None:
        if not self._tracing_enabled:
            return
        record = score_record(
            self._recorder,
            name,
            value,
            trace_id,
            observation_id,
            session_id,
            data_type,
            comment,
            metadata,
            score_id,
            config_id=config_id,
            dataset_run_id=dataset_run_id,
            timestamp=timestamp,
            environment=environment,
        )
        if record is not None:
            self._recorder.emit(record)


class _NullSink:
    """A sink that drops everything: the delivery side of a disabled client."""

    __slots__ = ()

    def emit(self, record: Record) -> None:
        return None

    def count_sampled_out(self) -> None:
        return None


#: The sink of clients that record nothing.
NULL_SINK: Sink = _NullSink()


def disabled_tracer() -> Tracer:
    """Return a client whose every method records nothing."""
    # Built from no environment at all, so that it cannot fail on variables that just did.
    return Tracer(resolve_config(enabled=False, environ={}), NULL_SINK)
