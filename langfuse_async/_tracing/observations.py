"""Observation handles (one job; long for the official SDK's keyword signatures, as the API).

A handle is mutable until it ends. Values given to it are masked, encoded and capped at once by
its :class:`~langfuse_async._tracing.recorder.Recorder` (so later mutation of the user's objects
changes nothing), and ending it turns everything into one immutable
:class:`~langfuse_async._records.ObservationRecord` handed to the recorder. After that the handle
drops its payloads: a context that outlives the observation (a background task started inside
it) keeps only ids alive, not megabytes of input.

Why a record and not the handle itself goes to the queue (measured, and tried): a record is a
struct the cycle collector does not track, a handle is tracked. Thousands of queued handles were
promoted to the oldest generation and brought on full collections, each a 15-20 ms stall of the
event loop, while the record they saved the caller costs a few hundred nanoseconds.

The trace an observation belongs to is shared state: its id, the sampling decision and the
merged trace attributes. The first observation of a trace in this process (its local root)
holds that state, and every descendant reaches it through ``_root``; there is no registry of
traces, so nothing outlives the observations that use it.

:data:`CURRENT` holds the innermost current observation; :mod:`.context` keeps the with-block
bookkeeping that sets it.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar, cast, overload

import msgspec

from .._clock import EPOCH_OFFSET_NS, now_ns, perf_counter_ns
from .._log import log_once
from .._records import (
    GENERATION_LIKE_TYPES,
    OBSERVATION_TYPES,
    RECORD_OVERHEAD_BYTES,
    ObservationRecord,
    ObservationType,
    TraceAttributes,
)
from . import joins as _joins
from .coerce import (
    Level,
    TraceContext,
    checked_type,
    coerce_fields,
    describe_exception,
    flag,
    safe_str,
    to_ns,
    valid_trace_context,
)
from .context import Scope, enter, leave, live
from .ids import new_event_id, new_observation_id, new_trace_id
from .open_handles import MAX_OPEN, OPEN
from .recorder import Recorder
from .sampling import is_sampled
from .trace_ops import TraceOps
from .traces import (
    attributes_size,
    merge_metadata,
    metadata_size,
    payload_size,
)

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack

    from .fields import CurrentFields, ObservationFields

__all__ = [
    "CURRENT",
    "OBSERVATION_CLASSES",
    "LangfuseAgent",
    "LangfuseChain",
    "LangfuseEmbedding",
    "LangfuseEvaluator",
    "LangfuseEvent",
    "LangfuseGeneration",
    "LangfuseGuardrail",
    "LangfuseRetriever",
    "LangfuseSpan",
    "LangfuseTool",
    "Observation",
    "current_observation",
    "start",
]

P = ParamSpec("P")
R = TypeVar("R")

#: The innermost current observation of this context, or None outside any.
CURRENT: ContextVar[Observation | None] = ContextVar(
    "langfuse_async.current_observation", default=None
)


#: :data:`CURRENT` as the with-block bookkeeping sees it from a ``Self``-typed method (the
#: same object: only its static type differs).
_CURRENT_ANY: ContextVar[Any] = CURRENT


def current_observation() -> Observation | None:
    """Return the innermost current observation of this context, or None."""
    obs = CURRENT.get()
    if obs is not None and obs._escaped:
        return live(obs)
    return obs


_GENERATION_FIELDS = frozenset(
    {
        "completion_start_ns",
        "model",
        "model_parameters",
        "usage_details",
        "cost_details",
        "prompt_name",
        "prompt_version",
    }
)

#: The string fields of a record kept with the rarely set ones (their bytes count too).
_STRING_FIELDS = ("status_message", "version", "model", "prompt_name")


class Observation(Scope, TraceOps):
    """A span, generation, event or other observation, open until :meth:`end`.

    Usable as a context manager with ``with`` or ``async with``: inside the block it is the
    current observation (the parent of observations started there) and leaving the block ends
    it; an exception leaving the block is recorded as level ``ERROR`` (cancellation as
    ``WARNING``) and propagates unchanged.

    Attributes:
        id: The observation id: 16 lowercase hex characters (an OpenTelemetry span id).
        trace_id: The trace id: 32 lowercase hex characters (an OpenTelemetry trace id).
        parent_id: The parent observation's id, or None at the root of the trace.
        name: The observation's name.
        as_type: The observation type, e.g. ``"span"`` or ``"generation"``.
    """

    __slots__ = (
        "_end_on_exit",
        "_ended",
        "_extra",
        "_input",
        "_output",
        "_recorder",
        "_recording",
        "_root",
        "_template_fields",
        "_trace_attrs",
        "as_type",
        "id",
        "name",
        "parent_id",
        "start_ns",
        "trace_id",
    )

    id: str
    trace_id: str
    parent_id: str | None
    name: str
    as_type: str
    start_ns: int
    _recorder: Recorder
    _root: Observation | None
    _recording: bool
    _ended: bool
    _end_on_exit: bool
    _input: msgspec.Raw | None
    _output: msgspec.Raw | None
    _extra: dict[str, Any] | None
    """The fields set less often (metadata, level, ..., generation fields), keyed by their
    ObservationRecord names. Kept apart so the common observation is cheap to start and to
    turn into a record (a call with more than 15 keyword arguments builds a dict anyway)."""
    _trace_attrs: TraceAttributes | None
    _template_fields: tuple[Any, ...]
    """Only on a handle started sampled out with fields (never set otherwise, so that starting
    an observation pays nothing for it): the fields, unencoded, in ``START_FIELDS`` order, for
    the calls of a function it decorates, which are sampled each on their own."""

    def __init__(
        self,
        recorder: Recorder,
        parent: Observation | None,
        name: str,
        as_type: str,
    ) -> None:
        """Start an observation now; use the client's methods rather than this constructor.

        Args:
            recorder: What encodes its values and takes its record (its client's).
            parent: The parent observation, or None to start a new trace.
            name: The observation's name.
            as_type: One of the observation types.
        """
        self._recorder = recorder
        self.name = name
        self.as_type = as_type
        if parent is not None and parent._escaped:
            parent = live(parent)
        if parent is None:
            self.trace_id = trace_id = new_trace_id()
            self.id = new_observation_id()
            self.parent_id = None
            self._root = None
            bound = recorder.sample_bound
            self._recording = bound is None or is_sampled(trace_id, bound)
        else:
            self.id = new_observation_id()
            self.trace_id = parent.trace_id
            self.parent_id = parent.id
            self._root = parent._root or parent
            self._recording = parent._recording
            # A child belongs to the client that owns its trace, whichever client started it
            # (another client built later must not take the trace into its project).
            self._recorder = parent._recorder
        self._ended = False
        self._escaped = False
        self._end_on_exit = True
        self._entries = None
        self._input = None
        self._output = None
        self._extra = None
        self._trace_attrs = None
        self.start_ns = EPOCH_OFFSET_NS + perf_counter_ns()
        if _joins.external_parent is not None:
            _joins.adopt_external_parent(self, parent)
        if self._recording and len(OPEN) < MAX_OPEN:
            # Until it ends: one never ended is sent at shutdown or exit (end_open_observations).
            OPEN[self] = None
        if _joins.propagation_hook is not None:
            _joins.propagation_hook(self)

    @classmethod
    def _remote(
        cls,
        recorder: Recorder,
        trace_id: str,
        parent_id: str | None,
        name: str,
        as_type: str,
    ) -> Observation:
        """Start the local root of a trace whose id (and parent) were decided elsewhere."""
        obs = cls(recorder, None, name, as_type)
        obs.trace_id = trace_id
        obs.parent_id = parent_id
        # Kept with the rarely set fields: the common record pays nothing for it. (Also
        # replaces what an external parent hook may have set: the trace context wins.)
        extra = obs._extra
        if extra is not None:
            extra.pop("remote_parent", None)
        if parent_id is not None:
            if extra is None:
                extra = obs._extra = {}
            extra["remote_parent"] = True
        bound = recorder.sample_bound
        obs._recording = bound is None or is_sampled(trace_id, bound)
        return obs

    def __repr__(self) -> str:
        state = "ended" if self._ended else "open"
        if not self._recording:
            state += ", sampled out"
        return (
            f"<{type(self).__name__} {self.as_type} {self.name!r} id={self.id} "
            f"trace_id={self.trace_id} [{state}]>"
        )

    # ------------------------------------------------------------------- updating

    def update(
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
        **kwargs: Any,
    ) -> Observation:
        """Set fields of the observation; arguments left as None keep their current value.

        ``input``, ``output`` and ``metadata`` are masked (when the client has a ``mask``),
        encoded and size-capped now, so changing the objects afterwards changes nothing.
        ``metadata`` given as a mapping is merged into earlier metadata per top-level key.
        The generation fields (``model`` to ``prompt_version``) are recorded for
        generation-like types (all but ``span`` and ``event``).

        Args:
            name: A new name.
            input: The input, any JSON-encodable value (others are encoded best-effort).
            output: The output.
            metadata: Extra data, preferably a mapping.
            version: The version of the code or prompt that produced the observation.
            level: ``DEBUG``, ``DEFAULT``, ``WARNING`` or ``ERROR``.
            status_message: A short explanation, typically of a warning or error.
            completion_start_time: When the first token arrived (a datetime or epoch ns).
            model: The model name.
            model_parameters: Model parameters such as ``temperature``.
            usage_details: Token or unit counts, e.g. ``{"input": 12, "output": 3}``.
            cost_details: Costs in USD, e.g. ``{"total": 0.0004}``.
            prompt: A prompt object with ``name`` and ``version`` (as the official SDK's
                prompt clients have); fallback prompts are not linked.
            prompt_name: The name of the Langfuse prompt used.
            prompt_version: Its version.
            **kwargs: Other keywords are ignored, as in the official SDK (logged once at
                DEBUG).

        Returns:
            This observation, for chaining.
        """
        if kwargs:
            log_once(
                logging.DEBUG,
                "update.unknown",
                "update() ignores keywords it does not know: %s",
                ", ".join(sorted(kwargs)),
            )
        if self._ended:
            log_once(
                logging.DEBUG,
                "update.ended",
                "update() on observation %s after it ended is ignored",
                self.id,
            )
            return self
        if not self._recording:
            return self
        try:
            self._apply(
                name,
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
        except Exception:
            # The values are the user's objects; a hostile __str__ must not reach their code.
            log_once(
                logging.WARNING,
                "update.failed",
                "could not apply an update to observation %s",
                self.id,
                exc_info=True,
            )
        return self

    def _apply(
        self,
        name: Any,
        input: Any,
        output: Any,
        metadata: Any,
        version: Any,
        level: Any,
        status_message: Any,
        completion_start_time: Any,
        model: Any,
        model_parameters: Any,
        usage_details: Any,
        cost_details: Any,
        prompt: Any,
        prompt_name: Any,
        prompt_version: Any,
    ) -> None:
        recorder = self._recorder
        if name is not None:
            self.name = safe_str(name)
        if input is not None:
            self._input = recorder.encode(input)
        if output is not None:
            self._output = recorder.encode(output)
        if (
            metadata is None
            and version is None
            and level is None
            and status_message is None
            and completion_start_time is None
            and model is None
            and model_parameters is None
            and usage_details is None
            and cost_details is None
            and prompt is None
            and prompt_name is None
            and prompt_version is None
        ):
            return
        extra = self._extra
        if extra is None:
            extra = self._extra = {}
        if metadata is not None:
            extra["metadata"] = merge_metadata(
                extra.get("metadata"), recorder.encode_metadata(metadata)
            )
        coerce_fields(
            recorder,
            extra,
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

    def _fail(self, exc: BaseException) -> None:
        """Record ``exc`` (leaving the observation's code) as its level and status message.

        ``GeneratorExit`` is not a failure: it is how a generator or coroutine that nobody
        will resume is closed.
        """
        if self._recording and not self._ended and not isinstance(exc, GeneratorExit):
            extra = self._extra
            if extra is None:
                extra = self._extra = {}
            extra["level"], extra["status_message"] = describe_exception(exc)

    # ------------------------------------------------------------------- ending

    def end(self, end_time: _dt.datetime | int | None = None) -> Observation:
        """End the observation and hand it to the client; ending again does nothing.

        Args:
            end_time: When it ended (a datetime or epoch nanoseconds); now when omitted.

        Returns:
            This observation.
        """
        # Test and set with no call in between: the GIL does not switch threads there, so two
        # threads ending the same observation record it once.
        if self._ended:
            return self
        self._ended = True
        OPEN.pop(self, None)
        recorder = self._recorder
        if not self._recording:
            recorder.count_sampled_out()
            return self
        if end_time is None:
            end_ns = timestamp_ns = EPOCH_OFFSET_NS + perf_counter_ns()
        else:
            timestamp_ns = now_ns()
            given = to_ns(end_time, "end_time")
            end_ns = timestamp_ns if given is None else given
        inp, out, extra = self._input, self._output, self._extra
        self._input = self._output = self._extra = None
        root = self._root or self
        trace_attrs = root._trace_attrs
        # Every byte the record holds counts against the queue's bound: its strings too.
        size = RECORD_OVERHEAD_BYTES + len(self.name)
        if inp is not None:
            size += len(inp)
        if out is not None:
            size += len(out)
        if root is self and trace_attrs is not None:
            # The trace's attributes as merged: shared with the trace's other records, counted
            # on the root, which takes them to the wire.
            size += attributes_size(trace_attrs)
        record = ObservationRecord(
            event_id=new_event_id(),
            timestamp_ns=timestamp_ns,
            id=self.id,
            trace_id=self.trace_id,
            parent_id=self.parent_id,
            as_type=self.as_type,
            name=self.name,
            start_ns=self.start_ns,
            end_ns=end_ns,
            size=size,
            input=inp,
            output=out,
            trace=trace_attrs,
        )
        if extra is not None:
            try:
                record = self._with_extra(record, extra)
            except Exception:
                # Values validated when given should not fail here; if one does, the user's
                # code must not see it, and the observation is still sent without them.
                log_once(
                    logging.WARNING,
                    "record.extra",
                    "could not record some fields of observation %s; it is sent without them",
                    self.id,
                    exc_info=True,
                )
        recorder.emit(record)
        return self

    def _with_extra(self, record: ObservationRecord, extra: dict[str, Any]) -> ObservationRecord:
        """``record`` with the rarely set fields of ``extra`` (and their bytes in its size)."""
        if self.as_type not in GENERATION_LIKE_TYPES:
            # The server strips generation fields from span and event bodies; not sending
            # them keeps both routes alike.
            extra = {k: v for k, v in extra.items() if k not in _GENERATION_FIELDS}
        size = record.size + metadata_size(extra.get("metadata"))
        for key in ("model_parameters", "usage_details", "cost_details"):
            size += payload_size(extra.get(key))
        for key in _STRING_FIELDS:
            text = extra.get(key)
            if type(text) is str:
                size += len(text)
        return msgspec.structs.replace(record, size=size, **extra)

    # ------------------------------------------------------------------- context manager

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Decorate ``func``: each call runs in a new observation like this one.

        For ``@langfuse.start_as_current_observation(name=...)`` above a function, as the
        official SDK allows. This handle is dropped unrecorded; each call's observation has
        its name, type and fields, under what is current at the call, and lasts until the
        coroutine returns or the generator is exhausted. Never raises.
        """
        hook = _joins.as_decorator
        if hook is None:  # not reached: importing the package installs it
            return func
        try:
            return cast("Callable[P, R]", hook(self, func))
        except Exception:  # a hostile callable: decorating must not fail the user's import
            self._ended = True  # it stood for the decorator: dropped, as when decorating works
            OPEN.pop(self, None)
            log_once(
                logging.WARNING,
                "as_decorator.failed",
                "could not decorate %r with an observation; it runs untraced",
                func,
                exc_info=True,
            )
            return func

    def __enter__(self) -> Self:
        enter(_CURRENT_ANY, self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        leave(CURRENT, self)
        if exc is not None:
            self._fail(exc)
        if self._end_on_exit:
            self.end()

    # The async forms repeat the sync ones rather than call them: one frame less on every
    # ``async with``, the common use.
    async def __aenter__(self) -> Self:
        enter(_CURRENT_ANY, self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        leave(CURRENT, self)
        if exc is not None:
            self._fail(exc)
        if self._end_on_exit:
            self.end()

    # ------------------------------------------------------------------- children

    @overload
    def start_observation(
        self, *, name: str, as_type: Literal["span"] = "span", **fields: Unpack[ObservationFields]
    ) -> LangfuseSpan: ...

    @overload
    def start_observation(
        self, *, name: str, as_type: Literal["generation"], **fields: Unpack[ObservationFields]
    ) -> LangfuseGeneration: ...

    @overload
    def start_observation(
        self, *, name: str, as_type: Literal["event"], **fields: Unpack[ObservationFields]
    ) -> LangfuseEvent: ...

    @overload
    def start_observation(
        self, *, name: str, as_type: Literal["agent"], **fields: Unpack[ObservationFields]
    ) -> LangfuseAgent: ...

    @overload
    def start_observation(
        self, *, name: str, as_type: Literal["tool"], **fields: Unpack[ObservationFields]
    ) -> LangfuseTool: ...

    @overload
    def start_observation(
        self, *, name: str, as_type: Literal["chain"], **fields: Unpack[ObservationFields]
    ) -> LangfuseChain: ...

    @overload
    def start_observation(
        self, *, name: str, as_type: Literal["retriever"], **fields: Unpack[ObservationFields]
    ) -> LangfuseRetriever: ...

    @overload
    def start_observation(
        self, *, name: str, as_type: Literal["evaluator"], **fields: Unpack[ObservationFields]
    ) -> LangfuseEvaluator: ...

    @overload
    def start_observation(
        self, *, name: str, as_type: Literal["embedding"], **fields: Unpack[ObservationFields]
    ) -> LangfuseEmbedding: ...

    @overload
    def start_observation(
        self, *, name: str, as_type: Literal["guardrail"], **fields: Unpack[ObservationFields]
    ) -> LangfuseGuardrail: ...

    @overload
    def start_observation(
        self, *, name: str, as_type: ObservationType, **fields: Unpack[ObservationFields]
    ) -> Observation: ...

    def start_observation(
        self,
        *,
        name: str,
        as_type: ObservationType = "span",
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
        """Start a child of this observation without making it current; end it with ``end()``.

        Arguments are those of :meth:`update`, plus ``name`` and ``as_type``.
        """
        child = start(self._recorder, self, None, name, as_type)
        if child._recording:
            child.update(
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
        else:
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
            if fields.count(None) < len(fields):
                # Sampled out, so nothing is encoded; kept in case the handle decorates a
                # function, whose calls are sampled each on their own (see as_decorator).
                child._template_fields = fields
        return child

    @overload
    def start_as_current_observation(
        self, *, name: str, as_type: Literal["span"] = "span", **fields: Unpack[CurrentFields]
    ) -> LangfuseSpan: ...

    @overload
    def start_as_current_observation(
        self, *, name: str, as_type: Literal["generation"], **fields: Unpack[CurrentFields]
    ) -> LangfuseGeneration: ...

    @overload
    def start_as_current_observation(
        self, *, name: str, as_type: Literal["event"], **fields: Unpack[CurrentFields]
    ) -> LangfuseEvent: ...

    @overload
    def start_as_current_observation(
        self, *, name: str, as_type: Literal["agent"], **fields: Unpack[CurrentFields]
    ) -> LangfuseAgent: ...

    @overload
    def start_as_current_observation(
        self, *, name: str, as_type: Literal["tool"], **fields: Unpack[CurrentFields]
    ) -> LangfuseTool: ...

    @overload
    def start_as_current_observation(
        self, *, name: str, as_type: Literal["chain"], **fields: Unpack[CurrentFields]
    ) -> LangfuseChain: ...

    @overload
    def start_as_current_observation(
        self, *, name: str, as_type: Literal["retriever"], **fields: Unpack[CurrentFields]
    ) -> LangfuseRetriever: ...

    @overload
    def start_as_current_observation(
        self, *, name: str, as_type: Literal["evaluator"], **fields: Unpack[CurrentFields]
    ) -> LangfuseEvaluator: ...

    @overload
    def start_as_current_observation(
        self, *, name: str, as_type: Literal["embedding"], **fields: Unpack[CurrentFields]
    ) -> LangfuseEmbedding: ...

    @overload
    def start_as_current_observation(
        self, *, name: str, as_type: Literal["guardrail"], **fields: Unpack[CurrentFields]
    ) -> LangfuseGuardrail: ...

    @overload
    def start_as_current_observation(
        self, *, name: str, as_type: ObservationType, **fields: Unpack[CurrentFields]
    ) -> Observation: ...

    def start_as_current_observation(
        self,
        *,
        name: str,
        as_type: ObservationType = "span",
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
        """Start a child of this observation, current inside a ``with`` / ``async with`` block.

        Arguments are those of :meth:`update`, plus ``name``, ``as_type`` and ``end_on_exit``
        (False leaves the child open after the block, to be ended with ``end()``).
        """
        child = self.start_observation(
            name=name,
            as_type=as_type,
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
        child._end_on_exit = flag(end_on_exit, True)
        return child

    # The client's shorthands, which the 3.x/4.x docs call on handles too.

    def start_span(self, *, name: str, **fields: Unpack[ObservationFields]) -> LangfuseSpan:
        """Shorthand for :meth:`start_observation` with ``as_type="span"``."""
        span = self.start_observation(name=name, as_type="span", **fields)
        return cast("LangfuseSpan", span)  # mypy picks no overload through **fields

    def start_generation(
        self, *, name: str, **fields: Unpack[ObservationFields]
    ) -> LangfuseGeneration:
        """Shorthand for :meth:`start_observation` with ``as_type="generation"``."""
        generation = self.start_observation(name=name, as_type="generation", **fields)
        return cast("LangfuseGeneration", generation)

    def start_as_current_span(self, *, name: str, **fields: Unpack[CurrentFields]) -> LangfuseSpan:
        """Shorthand for :meth:`start_as_current_observation` with ``as_type="span"``."""
        span = self.start_as_current_observation(name=name, as_type="span", **fields)
        return cast("LangfuseSpan", span)

    def start_as_current_generation(
        self, *, name: str, **fields: Unpack[CurrentFields]
    ) -> LangfuseGeneration:
        """Shorthand for :meth:`start_as_current_observation` with ``as_type="generation"``."""
        generation = self.start_as_current_observation(name=name, as_type="generation", **fields)
        return cast("LangfuseGeneration", generation)

    def create_event(
        self,
        *,
        name: str,
        input: Any = None,
        output: Any = None,
        metadata: Any = None,
        version: str | None = None,
        level: Level | None = None,
        status_message: str | None = None,
    ) -> Observation:
        """Record an instant event as a child of this observation and return its (ended) handle."""
        event = self.start_observation(
            name=name,
            as_type="event",
            input=input,
            output=output,
            metadata=metadata,
            version=version,
            level=level,
            status_message=status_message,
        )
        return event.end(event.start_ns)


class LangfuseSpan(Observation):
    """A span handle (``as_type="span"``): the official SDK's class, for ``isinstance``."""

    __slots__ = ()


class LangfuseGeneration(Observation):
    """A generation handle (``as_type="generation"``)."""

    __slots__ = ()


class LangfuseEvent(Observation):
    """An event handle (``as_type="event"``)."""

    __slots__ = ()


class LangfuseAgent(Observation):
    """An agent handle (``as_type="agent"``)."""

    __slots__ = ()


class LangfuseTool(Observation):
    """A tool handle (``as_type="tool"``)."""

    __slots__ = ()


class LangfuseChain(Observation):
    """A chain handle (``as_type="chain"``)."""

    __slots__ = ()


class LangfuseRetriever(Observation):
    """A retriever handle (``as_type="retriever"``)."""

    __slots__ = ()


class LangfuseEmbedding(Observation):
    """An embedding handle (``as_type="embedding"``)."""

    __slots__ = ()


class LangfuseEvaluator(Observation):
    """An evaluator handle (``as_type="evaluator"``)."""

    __slots__ = ()


class LangfuseGuardrail(Observation):
    """A guardrail handle (``as_type="guardrail"``)."""

    __slots__ = ()


#: The handle class of each observation type.
OBSERVATION_CLASSES: dict[str, type[Observation]] = {
    "span": LangfuseSpan,
    "generation": LangfuseGeneration,
    "event": LangfuseEvent,
    "agent": LangfuseAgent,
    "tool": LangfuseTool,
    "chain": LangfuseChain,
    "retriever": LangfuseRetriever,
    "embedding": LangfuseEmbedding,
    "evaluator": LangfuseEvaluator,
    "guardrail": LangfuseGuardrail,
}


def start(
    recorder: Recorder,
    parent: Observation | None,
    trace_context: TraceContext | None,
    name: str,
    as_type: str,
) -> Observation:
    """Start an observation under ``parent`` (or ``trace_context``); no fields set yet.

    ``name`` and ``as_type`` are the caller's values: made a plain string and a known type here.
    """
    if type(name) is not str:
        name = safe_str(name)
    if type(as_type) is not str or as_type not in OBSERVATION_TYPES:
        as_type = checked_type(as_type)
    if trace_context is not None:
        remote = valid_trace_context(trace_context)
        if remote is not None:
            cls = OBSERVATION_CLASSES[as_type]
            return cls._remote(recorder, remote[0], remote[1], name, as_type)
    return OBSERVATION_CLASSES[as_type](recorder, parent, name, as_type)
