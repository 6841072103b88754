"""The producer side of the client: every method instrumented code calls.

:class:`Tracer` turns calls into immutable records and hands each to ``self._emit``; it never
imports the queue, the transports or the client. ``Langfuse`` (in ``_client.py``) subclasses it
and provides ``_config``, ``_emit`` and ``_count_sampled_out``.

Nothing here raises into the user's code: invalid arguments are logged (once at WARNING, then
at DEBUG) and the call records nothing or ignores the bad field.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from .._clock import now_ns
from .._config import Config
from .._log import log_once, logger
from .._records import (
    OBSERVATION_TYPES,
    RECORD_OVERHEAD_BYTES,
    Metadata,
    Record,
    ScoreRecord,
)
from . import context as _context, ids as _ids
from .observations import (
    NOOP_OBSERVATION,
    Level,
    Observation,
    ObservationType,
    ScoreDataType,
    TraceContext,
    checked_type,
    flag,
    safe_str,
    valid_trace_context,
)
from .payload import apply_mask, cap_payload, encode_metadata, encode_payload
from .sampling import bound_for_rate, is_sampled

__all__ = ["Tracer", "disabled_tracer"]

_SCORE_DATA_TYPES = frozenset({"NUMERIC", "BOOLEAN", "CATEGORICAL", "TEXT", "CORRECTION"})
_MAX_ID_LENGTH = 800  # the server's idSchema limit
_MAX_TEXT_SCORE = 500  # TEXT_SCORE_MAX_LENGTH on the server


def _plain(value: Any) -> Any:
    """A ``str`` subclass instance as a plain ``str``; anything else unchanged."""
    if type(value) is not str and isinstance(value, str):
        return str.__str__(value)
    return value


def _valid_ref(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= _MAX_ID_LENGTH


def _score_value(value: object, data_type: str | None) -> tuple[float | str | None, str]:
    """Check a score value against its data type; return ``(value, "")`` or ``(None, why)``."""
    if isinstance(value, (int, float)):  # bool included: True/False are BOOLEAN 1/0
        number = float(value)
        if not math.isfinite(number):
            return None, "value must be a finite number"
        if data_type in ("NUMERIC", None):
            return number, ""
        if data_type == "BOOLEAN":
            if number in (0.0, 1.0):
                return number, ""
            return None, "a BOOLEAN score's value must be 0 or 1"
        return None, f"a {data_type} score's value must be a string"
    if isinstance(value, str):
        if data_type == "TEXT" and not 0 < len(value) <= _MAX_TEXT_SCORE:
            return None, f"a TEXT score's value must be 1 to {_MAX_TEXT_SCORE} characters"
        if data_type in (None, "CATEGORICAL", "TEXT", "CORRECTION"):
            return value, ""
        return None, f"a {data_type} score's value must be a number"
    return None, f"value must be a number or a string, not {type(value).__name__}"


class Tracer:
    """The instrumentation methods of a Langfuse client.

    Subclasses set ``self._config`` and then call :meth:`_init_tracer`, and implement
    :meth:`_emit` and :meth:`_count_sampled_out`. With ``config.enabled`` False every method is
    a cheap no-op and handles are inert (still usable as context managers).
    """

    _config: Config
    _tracing_enabled: bool
    _sample_bound: int | None
    _mask: Callable[[Any], Any] | None
    _max_payload: int

    def _init_tracer(self, *, register: bool = True) -> None:
        """Read the options the hot path needs from ``self._config`` and register the client.

        Args:
            register: Make this the client ``get_client()`` returns (every real client does).
        """
        config = self._config
        self._tracing_enabled = config.enabled
        self._sample_bound = (
            None if config.sample_rate >= 1.0 else bound_for_rate(config.sample_rate)
        )
        self._mask = config.mask
        self._max_payload = config.max_event_bytes
        if register:
            _context.register_client(self)

    # ----------------------------------------------------------------- subclass hooks

    def _emit(self, record: Record) -> None:
        """Hand a finished record to the delivery side; must be thread-safe and never raise."""
        raise NotImplementedError

    def _count_sampled_out(self) -> None:
        """Count one observation not recorded because its trace was sampled out."""
        raise NotImplementedError

    # ----------------------------------------------------------------- encoding

    def _encode(self, value: object) -> msgspec.Raw:
        """Mask, encode and cap an input or output the moment it is given."""
        mask = self._mask
        if mask is not None:
            value = apply_mask(mask, value)
        raw = encode_payload(value)
        if len(raw) > self._max_payload:
            raw = cap_payload(raw, self._max_payload)
        return raw

    def _encode_plain(self, value: object) -> msgspec.Raw:
        """Encode and cap a value that is not user content (model parameters, usage, cost)."""
        raw = encode_payload(value)
        if len(raw) > self._max_payload:
            raw = cap_payload(raw, self._max_payload)
        return raw

    def _encode_metadata(self, value: object) -> Metadata | None:
        """Mask, encode and cap metadata: each top-level value of a mapping, or the whole."""
        mask = self._mask
        if mask is not None:
            value = apply_mask(mask, value)
        meta = encode_metadata(value)
        limit = self._max_payload
        if isinstance(meta, dict):
            if any(len(v) > limit for v in meta.values()):
                meta = {k: cap_payload(v, limit) for k, v in meta.items()}
        elif meta is not None and len(meta) > limit:
            meta = cap_payload(meta, limit)
        return meta

    # ----------------------------------------------------------------- starting

    def _start(
        self,
        parent: Observation | None,
        trace_context: TraceContext | None,
        name: str,
        as_type: str,
    ) -> Observation:
        """Start an observation under ``parent`` (or ``trace_context``); no fields set yet."""
        if not self._tracing_enabled:
            return NOOP_OBSERVATION
        if type(name) is not str:
            name = safe_str(name)
        if type(as_type) is not str or as_type not in OBSERVATION_TYPES:
            as_type = checked_type(as_type)
        if trace_context is not None:
            remote = valid_trace_context(trace_context)
            if remote is not None:
                return Observation._remote(self, remote[0], remote[1], name, as_type)
        return Observation(self, parent, name, as_type)

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
        obs = self._start(_context.CURRENT.get(), trace_context, name, as_type)
        if obs._recording:
            obs.update(
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
        return obs

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
        obs = self.start_observation(
            name=name,
            as_type=as_type,
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
        if not flag(end_on_exit, True) and obs is not NOOP_OBSERVATION:
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
    ) -> Observation:
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
    ) -> Observation:
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
    ) -> Observation:
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
    ) -> Observation:
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
    ) -> Observation:
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
        return obs.end(obs.start_ns)

    # ----------------------------------------------------------------- current observation

    def _current(self, what: str) -> Observation | None:
        obs = _context.current_observation()
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

    def get_current_trace_id(self) -> str | None:
        """Return the id of the current trace, or None outside any observation."""
        obs = _context.current_observation()
        return None if obs is None else obs.trace_id

    def get_current_observation_id(self) -> str | None:
        """Return the id of the innermost current observation, or None outside any."""
        obs = _context.current_observation()
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
        """
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
        )

    def score_current_span(
        self,
        *,
        name: str,
        value: float | str,
        score_id: str | None = None,
        data_type: ScoreDataType | None = None,
        comment: str | None = None,
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
    ) -> None:
        # The annotations are what callers should pass; the checks below assume nothing.
        if not self._tracing_enabled:
            return
        problem = ""
        checked: float | str | None = None
        try:
            # Strings are made plain (a str enum member, a subclass with odd methods) before
            # anything else looks at them.
            name = _plain(name)
            trace_id = _plain(trace_id)
            observation_id = _plain(observation_id)
            session_id = _plain(session_id)
            score_id = _plain(score_id)
            config_id = _plain(config_id)
            dataset_run_id = _plain(dataset_run_id)
            data_type = _plain(data_type)
            value = _plain(value)
            if not isinstance(name, str) or not name:
                problem = "name must be a non-empty string"
            elif data_type is not None and (
                not isinstance(data_type, str) or data_type not in _SCORE_DATA_TYPES
            ):
                problem = "data_type must be NUMERIC, BOOLEAN, CATEGORICAL, TEXT or CORRECTION"
            elif sum(r is not None for r in (trace_id, session_id, dataset_run_id)) != 1:
                problem = "give exactly one of trace_id, session_id and dataset_run_id"
            elif observation_id is not None and trace_id is None:
                problem = "observation_id needs trace_id"
            elif config_id is not None and data_type == "CORRECTION":
                problem = "a CORRECTION score cannot have a config_id"
            elif not all(
                _valid_ref(r)
                for r in (trace_id, observation_id, session_id, dataset_run_id, config_id)
                if r is not None
            ):
                problem = f"ids must be non-empty strings of at most {_MAX_ID_LENGTH} characters"
            elif score_id is not None and not _valid_ref(score_id):
                problem = (
                    f"score_id must be a non-empty string of at most {_MAX_ID_LENGTH} characters"
                )
            else:
                checked, problem = _score_value(value, data_type)
        except Exception:
            # The values are the caller's objects (a number too large for a float, a type
            # whose conversion raises); the score is refused, never the caller's code.
            problem = "the value or an argument could not be read"
        if problem or checked is None:
            log_once(
                logging.WARNING,
                "score.invalid",
                "score %r not recorded: %s",
                name if type(name) is str else f"<{type(name).__name__}>",
                problem,
                variant=(name if type(name) is str else "") + "\x00" + problem,
            )
            return
        bound = self._sample_bound
        if bound is not None and trace_id is not None and not is_sampled(trace_id, bound):
            return
        try:
            meta = None if metadata is None else self._encode_metadata(metadata)
            text = None if comment is None else safe_str(comment)
            size = RECORD_OVERHEAD_BYTES + len(name) + len(text or "")
            if isinstance(checked, str):
                size += len(checked)
            if isinstance(meta, dict):
                size += sum(len(k) + len(v) + 4 for k, v in meta.items())
            elif meta is not None:
                size += len(meta)
            record = ScoreRecord(
                event_id=_ids.new_event_id(),
                timestamp_ns=now_ns(),
                id=score_id if score_id is not None else _ids.new_observation_id(),
                name=name,
                value=checked,
                size=size,
                trace_id=trace_id,
                observation_id=observation_id,
                session_id=session_id,
                data_type=data_type,
                comment=text,
                metadata=meta,
                config_id=config_id,
                dataset_run_id=dataset_run_id,
            )
        except Exception:
            logger.warning("could not record score %r", name, exc_info=True)
            return
        self._emit(record)


class _DisabledTracer(Tracer):
    """What ``get_client()`` returns when no client exists and none can be built."""

    def __init__(self) -> None:
        self._tracing_enabled = False
        self._sample_bound = None
        self._mask = None
        self._max_payload = 0

    def _emit(self, record: Record) -> None:
        return None

    def _count_sampled_out(self) -> None:
        return None


def disabled_tracer() -> Tracer:
    """Return a client whose every method records nothing."""
    return _DisabledTracer()
