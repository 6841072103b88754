"""Argument coercion: what users pass (levels, times, ids, usage and cost, names) made safe.

Every function here takes the caller's objects as they come and never raises: a value that
cannot be used is logged once (then at DEBUG, see :func:`~langfuse_async._log.log_once`) and
ignored, or replaced by a placeholder, so that tracing never breaks the instrumented code.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import numbers
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from .._log import log_once
from .._records import OBSERVATION_TYPES

if TYPE_CHECKING:
    from .recorder import Recorder

__all__ = [
    "MAX_STATUS_MESSAGE",
    "Level",
    "TraceContext",
    "check_details",
    "checked_level",
    "checked_type",
    "coerce_fields",
    "describe_exception",
    "flag",
    "plain",
    "safe_str",
    "short_repr",
    "to_ns",
    "valid_trace_context",
]

Level = Literal["DEBUG", "DEFAULT", "WARNING", "ERROR"]
"""The severity of an observation."""


TraceContext = Mapping[str, str]
"""Where a new observation attaches when it is not a child of the current one:
``{"trace_id": <32 hex>}`` to join (or start) that trace, plus ``"parent_span_id": <16 hex>``
to hang below an observation made elsewhere (another service, another process)."""

# Maps a level (or a str enum member equal to one) to its plain string.
_LEVELS = {level: level for level in ("DEBUG", "DEFAULT", "WARNING", "ERROR")}
_HEX = frozenset("0123456789abcdef")
MAX_STATUS_MESSAGE = 10_000
_NAIVE_EPOCH = _dt.datetime(1970, 1, 1)
_MAX_TIME_NS = 253_402_300_799_999_999_000  # 9999-12-31T23:59:59.999999Z


def _is_id(value: object, length: int) -> bool:
    return (
        isinstance(value, str)
        and len(value) == length
        and set(value) <= _HEX
        and value != "0" * length
    )


def short_repr(value: object) -> str:
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


def check_details(value: Any, option: str, *, integers: bool) -> bool:
    """Warn (once per problem) about entries the server would drop without a word.

    The server keeps only non-negative integers in ``usage_details`` and non-negative numbers
    in ``cost_details``; anything else vanishes silently there. Nested objects are left alone:
    OpenAI-shaped usage (``prompt_tokens_details``...) is valid and flattened by the server.
    The entries are still sent as given, so what the server does with them stays its decision.

    Returns:
        False when ``value`` is not a mapping at all: the server refuses the whole generation
        for that (a 400), so the caller leaves it out.
    """
    try:
        if not isinstance(value, Mapping):
            log_once(
                logging.WARNING,
                "details." + option,
                "%s must be a mapping of names to numbers; got %s, which is left out (the "
                "server refuses the whole observation for it)",
                option,
                type(value).__name__,
            )
            return False
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
                    short_repr(key),
                    short_repr(entry),
                    "integers" if integers else "numbers",
                    variant=short_repr(key),
                )
    except Exception:  # a hostile mapping: the encoder will cope, the check need not
        pass
    return True


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
    if len(message) > MAX_STATUS_MESSAGE:
        message = message[:MAX_STATUS_MESSAGE] + "..."
    return "ERROR", message


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
        short_repr(trace_context),
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
        short_repr(as_type),
    )
    return "span"


def plain(value: Any) -> Any:
    """A ``str`` subclass instance as a plain ``str``; anything else unchanged."""
    if type(value) is not str and isinstance(value, str):
        return str.__str__(value)
    return value


def checked_level(value: object) -> str | None:
    """Return ``value`` as a plain level string, or None (logged once) when it is not one."""
    canonical = _LEVELS.get(value) if isinstance(value, str) else None
    if canonical is None:
        log_once(
            logging.WARNING,
            "update.level",
            "level must be one of DEBUG, DEFAULT, WARNING, ERROR; got %s, ignored",
            short_repr(value),
        )
    return canonical


def coerce_fields(
    recorder: Recorder,
    extra: dict[str, Any],
    *,
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
    """Set in ``extra`` the fields of an update that are not None, under their record names.

    ``extra`` holds a handle's rarely set fields keyed as in
    :class:`~langfuse_async._records.ObservationRecord`. Each value is coerced (a level's plain
    string, a time in epoch ns, a prompt object's name and version) and payloads are encoded by
    ``recorder``; a value that cannot be used is logged once and left out. May raise what the
    caller's objects raise (the handle logs it).
    """
    if version is not None:
        extra["version"] = safe_str(version)
    if level is not None:
        canonical = checked_level(level)
        if canonical is not None:
            extra["level"] = canonical
    if status_message is not None:
        extra["status_message"] = safe_str(status_message)[:MAX_STATUS_MESSAGE]
    if completion_start_time is not None:
        ns = to_ns(completion_start_time, "completion_start_time")
        if ns is not None:
            extra["completion_start_ns"] = ns
    if model is not None:
        extra["model"] = safe_str(model)
    if model_parameters is not None:
        extra["model_parameters"] = recorder.encode_plain(model_parameters)
    if usage_details is not None and check_details(usage_details, "usage_details", integers=True):
        extra["usage_details"] = recorder.encode_plain(usage_details)
    if cost_details is not None and check_details(cost_details, "cost_details", integers=False):
        extra["cost_details"] = recorder.encode_plain(cost_details)
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
                short_repr(prompt_version),
            )
