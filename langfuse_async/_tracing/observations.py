"""Observation handles: what ``start_observation`` and friends return.

A handle is mutable until it ends. Values given to it are masked, encoded and capped at once
(so later mutation of the user's objects changes nothing), and ending it turns everything into
one immutable :class:`~langfuse_async._records.ObservationRecord` handed to the client. After
that the handle drops its payloads: a context that outlives the observation (a background task
started inside it) keeps only ids alive, not megabytes of input.

The trace an observation belongs to is shared state: its id, the sampling decision and the
merged trace attributes. The first observation of a trace in this process (its local root)
holds that state, and every descendant reaches it through ``_root``; there is no registry of
traces, so nothing outlives the observations that use it.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import numbers
import threading
from asyncio import _get_running_loop
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from .._clock import now_ns
from .._log import log_once, logger
from .._records import (
    GENERATION_LIKE_TYPES,
    OBSERVATION_TYPES,
    RECORD_OVERHEAD_BYTES,
    Metadata,
    ObservationRecord,
    ObservationType,
    TraceAttributes,
    TraceRecord,
)
from . import context as _context
from .ids import new_event_id, new_observation_id, new_trace_id
from .sampling import is_sampled

if TYPE_CHECKING:
    from .tracer import Tracer

__all__ = [
    "NOOP_OBSERVATION",
    "Level",
    "Observation",
    "ObservationType",
    "ScoreDataType",
    "TraceContext",
    "checked_type",
    "describe_exception",
    "flag",
    "merge_trace_attributes",
    "safe_str",
    "to_ns",
    "valid_trace_context",
]

Level = Literal["DEBUG", "DEFAULT", "WARNING", "ERROR"]
"""The severity of an observation."""

ScoreDataType = Literal["NUMERIC", "BOOLEAN", "CATEGORICAL", "TEXT", "CORRECTION"]
"""How a score's value is interpreted."""

TraceContext = Mapping[str, str]
"""Where a new observation attaches when it is not a child of the current one:
``{"trace_id": <32 hex>}`` to join (or start) that trace, plus ``"parent_span_id": <16 hex>``
to hang below an observation made elsewhere (another service, another process)."""

# Maps a level (or a str enum member equal to one) to its plain string.
_LEVELS = {level: level for level in ("DEBUG", "DEFAULT", "WARNING", "ERROR")}
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
_HEX = frozenset("0123456789abcdef")
_MAX_STATUS_MESSAGE = 10_000
_MAX_TRACE_NAME = 1_000  # the server rejects longer trace names, losing the whole update
_MAX_TRACE_TAGS = 200
_MAX_TRACE_METADATA_KEYS = 200
_NAIVE_EPOCH = _dt.datetime(1970, 1, 1)
_MAX_TIME_NS = 253_402_300_799_999_999_000  # 9999-12-31T23:59:59.999999Z

_Entry = tuple[object, "Observation | None"]
"""Who entered a ``with`` block (a task, or a thread's id) and what was current before."""

# Trace attribute merges are rare (one per update_trace call) and may come from threads; one
# lock for all traces keeps the per-trace state to a single attribute on the root.
_trace_lock = threading.Lock()
# Guards the list of open blocks of a handle entered by several threads at once (rare). The
# common single entry needs no lock: it is read and replaced with no call in between, which
# the GIL does not interrupt.
_entries_lock = threading.Lock()


def _current_owner() -> object:
    """The task running now, or the thread's id outside any task: who entered a ``with`` block."""
    loop = _get_running_loop()
    if loop is not None:
        task = asyncio.current_task(loop)
        if task is not None:
            return task
    return threading.get_ident()


def _is_id(value: object, length: int) -> bool:
    return (
        isinstance(value, str)
        and len(value) == length
        and set(value) <= _HEX
        and value != "0" * length
    )


def _short_repr(value: object) -> str:
    """``repr(value)`` cut to 200 characters, or the type's name when that raises."""
    try:
        text = repr(value)
    except Exception:
        return f"a {type(value).__name__}"
    return text if len(text) <= 200 else text[:200] + "..."


def flag(value: object, default: bool) -> bool:
    """A yes/no option as the official SDK reads it: None means the default.

    Wrappers written for the official SDK pass its defaults on explicitly (``end_on_exit=None``,
    ``capture_input=None``); reading None as False would silently change what they do.
    """
    if value is None:
        return default
    try:
        return bool(value)
    except Exception:  # a value whose truth cannot be told (an array, a hostile object)
        return default


def safe_str(value: object) -> str:
    """``value`` as a plain ``str``, or a type-named placeholder when that raises.

    A ``str`` subclass (a ``StrEnum`` member) becomes its plain text: ``str()`` of an enum
    member mixed with ``str`` is its qualified name, not its value.
    """
    if type(value) is str:
        return value
    try:
        if isinstance(value, str):
            return str.__str__(value)
        text = str(value)
        return text if type(text) is str else str.__str__(text)
    except Exception:
        return f"<{type(value).__name__}>"


def to_ns(value: object, what: str) -> int | None:
    """Convert a user-given time (epoch nanoseconds or a datetime) to epoch nanoseconds.

    A naive datetime (or one whose ``tzinfo`` gives no offset) is local time, as
    ``datetime.now()`` returns it. Anything else, and any time before 1970 or after 9999, is
    ignored (logged once) rather than raised: no wire format can carry it.
    """
    ns: int | None = None
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            ns = int.__int__(value)
        elif isinstance(value, _dt.datetime):
            offset = value.utcoffset()
            if offset is None:
                value = value.replace(tzinfo=None).astimezone()
                offset = value.utcoffset()
            naive = value.replace(tzinfo=None) - (offset or _dt.timedelta(0))
            delta = naive - _NAIVE_EPOCH
            ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
    except Exception:
        # A tzinfo is user code (it may raise anything); out-of-range dates raise as well.
        ns = None
    if ns is not None and 0 <= ns <= _MAX_TIME_NS:
        return ns
    log_once(
        logging.WARNING,
        "time." + what,
        "%s must be a datetime or epoch nanoseconds (int) between 1970 and 9999; got %s, ignored",
        what,
        type(value).__name__,
    )
    return None


def _check_details(value: Any, option: str, *, integers: bool) -> None:
    """Warn (once per problem) about entries the server would drop without a word.

    The server keeps only non-negative integers in ``usage_details`` and non-negative numbers
    in ``cost_details``; anything else vanishes silently there. Nested objects are left alone:
    OpenAI-shaped usage (``prompt_tokens_details``...) is valid and flattened by the server.
    The values are still sent as given, so what the server does stays its decision.
    """
    try:
        if not isinstance(value, Mapping):
            log_once(
                logging.WARNING,
                "details." + option,
                "%s must be a mapping of names to numbers; got %s",
                option,
                type(value).__name__,
            )
            return
        for key, entry in value.items():
            if isinstance(entry, (Mapping, type(None))):
                continue
            # numpy scalars are encoded as plain JSON numbers, so the server keeps them too.
            number = (
                isinstance(entry, (int, float))
                or (isinstance(entry, numbers.Real) and type(entry).__module__ == "numpy")
            ) and not isinstance(entry, bool)
            ok = number and entry >= 0 and (not integers or float(entry).is_integer())
            if not ok:
                log_once(
                    logging.WARNING,
                    "details." + option,
                    "%s[%s] = %s: the server keeps only non-negative %s and drops this entry",
                    option,
                    _short_repr(key),
                    _short_repr(entry),
                    "integers" if integers else "numbers",
                    variant=_short_repr(key),
                )
    except Exception:  # a hostile mapping: the encoder will cope, the check need not
        return


def describe_exception(exc: BaseException) -> tuple[Level, str]:
    """Return the level and status message recorded for an exception leaving an observation.

    Cancellation is how asyncio stops work that is no longer wanted (a timeout, a client that
    disconnected), so it is a warning rather than an error.
    """
    if isinstance(exc, asyncio.CancelledError):
        return "WARNING", "cancelled"
    kind = type(exc).__name__
    try:
        text = str(exc)
    except Exception:
        text = ""
    message = f"{kind}: {text}" if text else kind
    if len(message) > _MAX_STATUS_MESSAGE:
        message = message[:_MAX_STATUS_MESSAGE] + "..."
    return "ERROR", message


def _payload_size(value: msgspec.Raw | None) -> int:
    return 0 if value is None else len(value)


def _metadata_size(value: Metadata | None) -> int:
    if value is None:
        return 0
    if isinstance(value, dict):
        return sum(len(k) + len(v) + 4 for k, v in value.items())
    return len(value)


def _merge_metadata(
    old: Metadata | None, new: Metadata | None, max_keys: int | None = None
) -> Metadata | None:
    """Merge at the top level, as the server does for traces and OTLP does for attributes."""
    if new is None:
        return old
    if isinstance(old, dict) and isinstance(new, dict):
        merged = dict(old)
        for key, value in new.items():
            if max_keys is not None and key not in merged and len(merged) >= max_keys:
                log_once(
                    logging.WARNING,
                    "trace.metadata_keys",
                    "trace metadata holds at most %d keys; further keys are not copied onto "
                    "later observations",
                    max_keys,
                )
                break
            merged[key] = value
        return merged
    return new


def merge_trace_attributes(old: TraceAttributes | None, new: TraceAttributes) -> TraceAttributes:
    """Return the attributes of a trace after the update ``new`` (later values win).

    Tags are unioned in first-seen order and metadata merged per top-level key, both bounded,
    because the snapshot rides on every later observation of the trace.
    """
    if old is None:
        return new
    tags = old.tags
    if new.tags is not None:
        seen = list(old.tags or ())
        for tag in new.tags:
            if tag not in seen:
                if len(seen) >= _MAX_TRACE_TAGS:
                    break
                seen.append(tag)
        tags = tuple(seen)
    return TraceAttributes(
        name=new.name if new.name is not None else old.name,
        user_id=new.user_id if new.user_id is not None else old.user_id,
        session_id=new.session_id if new.session_id is not None else old.session_id,
        version=new.version if new.version is not None else old.version,
        release=new.release if new.release is not None else old.release,
        input=new.input if new.input is not None else old.input,
        output=new.output if new.output is not None else old.output,
        metadata=_merge_metadata(old.metadata, new.metadata, _MAX_TRACE_METADATA_KEYS),
        tags=tags,
        public=new.public if new.public is not None else old.public,
    )


class Observation:
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
        "_entries",
        "_escaped",
        "_extra",
        "_input",
        "_output",
        "_prev",
        "_recording",
        "_root",
        "_trace_attrs",
        "_tracer",
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
    _tracer: Tracer
    _root: Observation | None
    _recording: bool
    _ended: bool
    _escaped: bool
    _end_on_exit: bool
    _prev: Observation | None
    """Where readers skip to while the observation is escaped; set only with ``_escaped``."""
    _entries: _Entry | list[_Entry] | None
    """The ``with`` blocks inside which it is current: who entered each (a task, or a thread's
    id) and what was current before. One entry alone, a list only while several blocks are
    open at once (most observations are entered once, or never)."""
    _input: msgspec.Raw | None
    _output: msgspec.Raw | None
    _extra: dict[str, Any] | None
    """The fields set less often (metadata, level, ..., generation fields), keyed by their
    ObservationRecord names. Kept apart so the common observation is cheap to start and to
    turn into a record (a call with more than 15 keyword arguments builds a dict anyway)."""
    _trace_attrs: TraceAttributes | None

    def __init__(
        self,
        tracer: Tracer,
        parent: Observation | None,
        name: str,
        as_type: str,
    ) -> None:
        """Start an observation now; use the client's methods rather than this constructor.

        Args:
            tracer: The client that records it.
            parent: The parent observation, or None to start a new trace.
            name: The observation's name.
            as_type: One of the observation types.
        """
        self._tracer = tracer
        self.name = name
        self.as_type = as_type
        self.id = new_observation_id()
        if parent is not None and parent._escaped:
            parent = _context.live(parent)
        if parent is None:
            self.trace_id = trace_id = new_trace_id()
            self.parent_id = None
            self._root = None
            bound = tracer._sample_bound
            self._recording = bound is None or is_sampled(trace_id, bound)
        else:
            self.trace_id = parent.trace_id
            self.parent_id = parent.id
            self._root = parent._root or parent
            self._recording = parent._recording
        self._ended = False
        self._escaped = False
        self._end_on_exit = True
        self._entries = None
        self._input = None
        self._output = None
        self._extra = None
        self._trace_attrs = None
        self.start_ns = now_ns()
        if _context.external_parent is not None:
            self._adopt_external_parent(parent)

    def _adopt_external_parent(self, parent: Observation | None) -> None:
        """Hang below a span of another tracer when the hook says it is the innermost parent.

        The hook (:data:`~langfuse_async._tracing.context.external_parent`, set by the
        OpenTelemetry bridge) returns ``(trace_id, parent_span_id, remote)`` or None.
        """
        hook = _context.external_parent
        try:
            found = hook(parent) if hook is not None else None
        except Exception:
            found = None  # the hook promises not to raise; a bug there must not reach the user
        if found is None:
            return
        self.trace_id, self.parent_id, remote = found
        self._root = None
        bound = self._tracer._sample_bound
        self._recording = bound is None or is_sampled(self.trace_id, bound)
        if remote:
            self._extra = {"remote_parent": True}

    @classmethod
    def _remote(
        cls,
        tracer: Tracer,
        trace_id: str,
        parent_id: str | None,
        name: str,
        as_type: str,
    ) -> Observation:
        """Start the local root of a trace whose id (and parent) were decided elsewhere."""
        obs = cls(tracer, None, name, as_type)
        obs.trace_id = trace_id
        obs.parent_id = parent_id
        # Kept with the rarely set fields: the common record pays nothing for it. (Also
        # replaces what an external parent hook may have set: the trace context wins.)
        obs._extra = {"remote_parent": True} if parent_id is not None else None
        bound = tracer._sample_bound
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

        Returns:
            This observation, for chaining.
        """
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
        tracer = self._tracer
        if name is not None:
            self.name = safe_str(name)
        if input is not None:
            self._input = tracer._encode(input)
        if output is not None:
            self._output = tracer._encode(output)
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
            extra["metadata"] = _merge_metadata(
                extra.get("metadata"), tracer._encode_metadata(metadata)
            )
        if version is not None:
            extra["version"] = safe_str(version)
        if level is not None:
            canonical = _LEVELS.get(level) if isinstance(level, str) else None
            if canonical is not None:
                extra["level"] = canonical
            else:
                log_once(
                    logging.WARNING,
                    "update.level",
                    "level must be one of DEBUG, DEFAULT, WARNING, ERROR; got %s, ignored",
                    _short_repr(level),
                )
        if status_message is not None:
            extra["status_message"] = safe_str(status_message)[:_MAX_STATUS_MESSAGE]
        if completion_start_time is not None:
            ns = to_ns(completion_start_time, "completion_start_time")
            if ns is not None:
                extra["completion_start_ns"] = ns
        if model is not None:
            extra["model"] = safe_str(model)
        if model_parameters is not None:
            extra["model_parameters"] = tracer._encode_plain(model_parameters)
        if usage_details is not None:
            _check_details(usage_details, "usage_details", integers=True)
            extra["usage_details"] = tracer._encode_plain(usage_details)
        if cost_details is not None:
            _check_details(cost_details, "cost_details", integers=False)
            extra["cost_details"] = tracer._encode_plain(cost_details)
        if prompt is not None and not getattr(prompt, "is_fallback", False):
            prompt_name = getattr(prompt, "name", None)
            prompt_version = getattr(prompt, "version", None)
        if prompt_name is not None:
            extra["prompt_name"] = safe_str(prompt_name)
        if prompt_version is not None:
            if isinstance(prompt_version, int) and not isinstance(prompt_version, bool):
                extra["prompt_version"] = int.__int__(prompt_version)
            else:
                log_once(
                    logging.WARNING,
                    "update.prompt_version",
                    "prompt_version must be an int; got %s, ignored",
                    _short_repr(prompt_version),
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
        tracer = self._tracer
        if not self._recording:
            tracer._count_sampled_out()
            return self
        if end_time is None:
            end_ns = timestamp_ns = now_ns()
        else:
            timestamp_ns = now_ns()
            given = to_ns(end_time, "end_time")
            end_ns = timestamp_ns if given is None else given
        try:
            record = self._record(end_ns, timestamp_ns)
        except Exception:
            # Building a record from values that were validated when given should not fail;
            # if it does, the user's code must not see it.
            logger.warning("could not record observation %s", self.id, exc_info=True)
            return self
        finally:
            self._input = self._output = self._extra = None
        tracer._emit(record)
        return self

    def _record(self, end_ns: int, timestamp_ns: int) -> ObservationRecord:
        inp = self._input
        out = self._output
        size = RECORD_OVERHEAD_BYTES
        if inp is not None:
            size += len(inp)
        if out is not None:
            size += len(out)
        root = self._root or self
        extra = self._extra
        if extra is None:
            return ObservationRecord(
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
                trace=root._trace_attrs,
            )
        if self.as_type not in GENERATION_LIKE_TYPES:
            # The server strips generation fields from span and event bodies; not sending
            # them keeps both routes alike.
            extra = {k: v for k, v in extra.items() if k not in _GENERATION_FIELDS}
        size += _metadata_size(extra.get("metadata"))
        for key in ("model_parameters", "usage_details", "cost_details"):
            size += _payload_size(extra.get(key))
        return ObservationRecord(
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
            trace=root._trace_attrs,
            **extra,
        )

    # ------------------------------------------------------------------- context manager

    def __enter__(self) -> Observation:
        current = _context.CURRENT
        entry = (_current_owner(), current.get())
        # One handle may be inside several blocks at once (entered again inside its own block,
        # or by concurrent tasks), so each block keeps what it must restore.
        entries = self._entries
        if entries is None:
            self._entries = entry
        elif isinstance(entries, tuple):
            self._entries = [entries, entry]
        else:
            entries.append(entry)
        self._escaped = False
        current.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        current = _context.CURRENT
        here = current.get()
        owner = _current_owner()
        entries = self._entries
        if isinstance(entries, tuple):
            self._entries = None
            entered_by, prev = entries
            # Restore only when this context still has us as current; otherwise the blocks
            # were left out of order and the context is someone else's now. Left in another
            # task than the one that entered (a generator resumed elsewhere), the context
            # that entered still names us.
            restored = here is self and entered_by == owner
        elif entries:
            # Several blocks open at once: leave this task's innermost one, else the
            # innermost of all (this task did not enter any: a generator resumed elsewhere).
            # Threads may leave blocks of the same handle at once; the search and the removal
            # must see one list.
            with _entries_lock:
                index = len(entries) - 1
                while index >= 0 and entries[index][0] != owner:
                    index -= 1
                prev = entries.pop(index)[1] if entries else None
            restored = index >= 0 and here is self
        else:
            prev = None  # left without being entered
            restored = False
        if here is self:
            current.set(prev)
        if not restored and prev is not self:
            # The context that entered this block may still name us: readers there skip to
            # what it had before. (When that was us, an outer block is still open there.)
            self._prev = prev
            self._escaped = True
        if exc is not None:
            self._fail(exc)
        if self._end_on_exit:
            self.end()

    async def __aenter__(self) -> Observation:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # ------------------------------------------------------------------- children

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
        child = self._tracer._start(self, None, name, as_type)
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
        return child

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

    # ------------------------------------------------------------------- trace and scores

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
    ) -> Observation:
        """Set attributes of this observation's trace; arguments left as None are unchanged.

        The update is sent at once (one ``trace-create`` event holding only these values; the
        server merges updates), and the merged attributes are also copied onto every
        observation of the trace that ends afterwards. Tags are added to earlier tags and
        metadata is merged per top-level key.

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
        tracer = self._tracer
        try:
            tag_tuple: tuple[str, ...] | None = None
            if tags is not None:
                if isinstance(tags, str):
                    tags = [tags]
                tag_tuple = tuple(dict.fromkeys(safe_str(t) for t in tags))
            attrs = TraceAttributes(
                name=None if name is None else safe_str(name)[:_MAX_TRACE_NAME],
                user_id=None if user_id is None else safe_str(user_id),
                session_id=None if session_id is None else safe_str(session_id),
                version=None if version is None else safe_str(version),
                release=None if release is None else safe_str(release),
                input=None if input is None else tracer._encode(input),
                output=None if output is None else tracer._encode(output),
                metadata=None if metadata is None else tracer._encode_metadata(metadata),
                tags=tag_tuple,
                public=None if public is None else bool(public),
            )
        except Exception:
            logger.warning("could not record a trace update", exc_info=True)
            return self
        if attrs == _EMPTY_TRACE_ATTRIBUTES:
            return self
        size = (
            RECORD_OVERHEAD_BYTES
            + sum(
                len(s)
                for s in (attrs.name, attrs.user_id, attrs.session_id, attrs.version, attrs.release)
                if s is not None
            )
            + _payload_size(attrs.input)
            + _payload_size(attrs.output)
            + _metadata_size(attrs.metadata)
            + sum(len(t) + 3 for t in attrs.tags or ())
        )
        root = self._root or self
        with _trace_lock:
            root._trace_attrs = merge_trace_attributes(root._trace_attrs, attrs)
        tracer._emit(
            TraceRecord(
                event_id=new_event_id(),
                timestamp_ns=now_ns(),
                trace_id=self.trace_id,
                attributes=attrs,
                size=size,
            )
        )
        return self

    def score(
        self,
        *,
        name: str,
        value: float | str,
        score_id: str | None = None,
        data_type: ScoreDataType | None = None,
        comment: str | None = None,
        metadata: Any = None,
    ) -> None:
        """Score this observation (see the client's ``create_score`` for the arguments)."""
        if self._recording:
            self._tracer._score(
                name, value, self.trace_id, self.id, None, data_type, comment, metadata, score_id
            )

    def score_trace(
        self,
        *,
        name: str,
        value: float | str,
        score_id: str | None = None,
        data_type: ScoreDataType | None = None,
        comment: str | None = None,
        metadata: Any = None,
    ) -> None:
        """Score this observation's trace (see the client's ``create_score`` for the arguments)."""
        if self._recording:
            self._tracer._score(
                name, value, self.trace_id, None, None, data_type, comment, metadata, score_id
            )


_EMPTY_TRACE_ATTRIBUTES = TraceAttributes()


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

    def __enter__(self) -> Observation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def start_observation(self, **fields: Any) -> Observation:
        return self

    def start_as_current_observation(self, **fields: Any) -> Observation:
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


def valid_trace_context(trace_context: object) -> tuple[str, str | None] | None:
    """Return ``(trace_id, parent_span_id)`` from a trace context, or None (logged) if invalid."""
    try:
        trace_id: object = None
        parent: object = None
        if isinstance(trace_context, Mapping):
            trace_id = trace_context.get("trace_id")
            parent = trace_context.get("parent_span_id")
            if parent is None:
                parent = trace_context.get("parent_observation_id")
            # Ids from elsewhere may be uppercase hex; OpenTelemetry reads them as numbers.
            if isinstance(trace_id, str):
                trace_id = str.lower(trace_id)
            if isinstance(parent, str):
                parent = str.lower(parent)
        if isinstance(trace_id, str) and _is_id(trace_id, 32):
            if parent is None:
                return trace_id, None
            if isinstance(parent, str) and _is_id(parent, 16):
                return trace_id, parent
    except Exception:
        pass  # a hostile mapping: as invalid as any other
    log_once(
        logging.WARNING,
        "trace_context.invalid",
        "trace_context must be {'trace_id': <32 lowercase hex>} with an optional "
        "'parent_span_id': <16 lowercase hex>; got %s, starting a new trace instead",
        _short_repr(trace_context),
    )
    return None


# Observation types are checked once per call on the cold paths only; @observe checks once
# when it decorates. The map turns a str enum member into the plain string.
_TYPES = {t: t for t in OBSERVATION_TYPES}


def checked_type(as_type: object) -> str:
    """Return ``as_type`` as a plain string when it is a known observation type.

    None (the official SDK's default) is ``"span"``; anything else unknown is ``"span"`` too,
    logged once.
    """
    if as_type is None:
        return "span"
    try:
        if isinstance(as_type, str):
            return _TYPES[as_type]
    except Exception:
        pass  # unknown, or a value whose type or hash cannot be read
    log_once(
        logging.WARNING,
        "as_type.invalid",
        "as_type must be one of %s; got %s, using 'span'",
        ", ".join(sorted(OBSERVATION_TYPES)),
        _short_repr(as_type),
    )
    return "span"
