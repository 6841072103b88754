"""Per-event validation with the server's rules, reported as zod 4 does (one schema, long).

The server parses every ingestion event with a zod discriminated union; a failure becomes a
per-event 400 whose ``error`` is the zod error message: the issue list pretty-printed as JSON.
This module reproduces those rules (ids, timestamps, levels, usage integers, score rules) and
the issue shapes (``code``, ``path``, ``message`` and the code-specific keys, in zod's key
order), and returns the event as the server keeps it: unknown keys stripped, usage converted,
invalid usage/cost entries dropped, environments normalised.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable
from typing import Any, Final

__all__ = [
    "DATETIME_PATTERN",
    "LATEST_STORED_TIME",
    "OBSERVATION_TYPES",
    "UPDATE_TYPES",
    "ValidationFailure",
    "entity_of",
    "format_epoch_ms",
    "format_issues",
    "is_datetime",
    "iso_ms",
    "normalize_environment",
    "time_bound",
    "timestamp_ms",
    "validate_event",
    "validate_score_body",
]


class _Missing:
    """Marks a key absent from its object (JavaScript's ``undefined``)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()

Issue = dict[str, Any]
Path = list[str | int]

# zod 4's ISO datetime with ``offset: true``: real calendar dates, optional seconds, any number
# of fractional digits, and a zone that is ``Z`` or ``±HH:MM``.
_DATE_SOURCE = (
    r"(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29"
    r"|\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)"
    r"|(?:02)-(?:0[1-9]|1\d|2[0-8])))"
)
_TIME_SOURCE = r"(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?"
#: The regular expression source zod reports in an ``invalid_format`` issue.
DATETIME_PATTERN: Final = (
    f"^{_DATE_SOURCE}T(?:{_TIME_SOURCE}(?:Z|([+-](?:[01]\\d|2[0-3]):[0-5]\\d)))$"
)
_DATETIME_RE = re.compile(DATETIME_PATTERN, re.ASCII)
_PARTS_RE = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d)(?:\.(\d+))?)?(Z|([+-])(\d\d):(\d\d))",
    re.ASCII,
)
_YEAR_10000_MS: Final = 253_402_300_800_000
_CANONICAL_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", re.ASCII)
_ENV_RE = re.compile(r"[a-z0-9_-]+", re.ASCII)
_ENV_PREFIX_RE = re.compile(r"^(?:langfuse[-_]?)+")

LEVELS: Final = ("DEBUG", "DEFAULT", "WARNING", "ERROR")
USAGE_UNITS: Final = ("CHARACTERS", "TOKENS", "SECONDS", "MILLISECONDS", "IMAGES", "REQUESTS")
SCORE_DATA_TYPES: Final = ("NUMERIC", "CATEGORICAL", "BOOLEAN", "TEXT", "CORRECTION")
SCORE_SOURCES: Final = ("API", "EVAL", "ANNOTATION")
TEXT_SCORE_MAX_LENGTH: Final = 500

#: Observation types created by ``<type>-create`` events that take a generation body.
OBSERVATION_TYPES: Final = {
    "span-create": "SPAN",
    "span-update": "SPAN",
    "event-create": "EVENT",
    "generation-create": "GENERATION",
    "generation-update": "GENERATION",
    "agent-create": "AGENT",
    "tool-create": "TOOL",
    "chain-create": "CHAIN",
    "retriever-create": "RETRIEVER",
    "evaluator-create": "EVALUATOR",
    "embedding-create": "EMBEDDING",
    "guardrail-create": "GUARDRAIL",
}
#: Event types the server sorts after every other event of a batch.
UPDATE_TYPES: Final = frozenset({"span-update", "generation-update", "observation-update"})
_GENERATION_BODY_TYPES: Final = frozenset(
    t for t in OBSERVATION_TYPES if t not in {"span-create", "span-update", "event-create"}
)


class ValidationFailure(Exception):
    """An event the server would answer with a per-event error instead of a 201.

    Attributes:
        status: The per-event status (400 for validation failures).
        message: The ``message`` field of the error entry.
        error: The ``error`` field: the zod message, or a plain explanation.
    """

    def __init__(self, status: int, message: str, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.message = message
        self.error = error


def format_issues(issues: list[Issue]) -> str:
    """Render issues the way ``ZodError.message`` does: a JSON array indented by two spaces."""
    return json.dumps(issues, indent=2, ensure_ascii=False)


def entity_of(event_type: str) -> str:
    """Return the entity an event type writes: ``trace``, ``observation`` or ``score``."""
    if event_type == "trace-create":
        return "trace"
    if event_type == "score-create":
        return "score"
    return "observation"


def is_datetime(value: object) -> bool:
    """Tell whether ``value`` is a timestamp the server accepts (ISO 8601 with a zone)."""
    return isinstance(value, str) and _DATETIME_RE.fullmatch(value) is not None


def _days_from_civil(year: int, month: int, day: int) -> int:
    # Days since 1970-01-01 in the proleptic Gregorian calendar, for any year (Python's
    # datetime stops at years 1..9999; JavaScript dates do not).
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _civil_from_days(days: int) -> tuple[int, int, int]:
    days += 719468
    era = days // 146097
    day_of_era = days - era * 146097
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36524 - day_of_era // 146096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + 3 if shifted_month < 10 else shifted_month - 9
    return year_of_era + era * 400 + (month <= 2), month, day


@functools.lru_cache(maxsize=4096)
def timestamp_ms(value: str) -> float:
    """Return epoch milliseconds of an accepted timestamp, truncated like ``Date.getTime()``.

    Cached: the events of one request share their envelope time, and merges re-read it.
    """
    m = _PARTS_RE.fullmatch(value)
    if m is None:
        return 0.0
    year, month, day, hour, minute = (int(m.group(i)) for i in range(1, 6))
    second = int(m.group(6) or 0)
    millis = int((m.group(7) or "0")[:3].ljust(3, "0"))
    epoch = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    if m.group(8) != "Z":
        offset = int(m.group(10)) * 3600 + int(m.group(11)) * 60
        epoch -= offset if m.group(9) == "+" else -offset
    return epoch * 1000.0 + millis


@functools.lru_cache(maxsize=1024)
def _second_text(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def format_epoch_ms(epoch_ms: float) -> str:
    """Render epoch milliseconds like ``Date.prototype.toISOString()``.

    Years outside 0..9999 get the expanded form (``+010000``, ``-000001``), as in JavaScript.
    """
    whole_ms = int(epoch_ms // 1)
    if 0 <= whole_ms < _YEAR_10000_MS:
        # The common case, in C: 1970 to 9999 (the spans of an export share their seconds).
        seconds, millis = divmod(whole_ms, 1000)
        return f"{_second_text(seconds)}.{millis:03d}Z"
    days, ms_of_day = divmod(whole_ms, 86_400_000)
    year, month, day = _civil_from_days(days)
    seconds, millis = divmod(ms_of_day, 1000)
    hour, rest = divmod(seconds, 3600)
    minute, second = divmod(rest, 60)
    if 0 <= year <= 9999:
        year_text = f"{year:04d}"
    else:
        year_text = f"{'+' if year > 0 else '-'}{abs(year):06d}"
    return f"{year_text}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{millis:03d}Z"


@functools.lru_cache(maxsize=4096)
def iso_ms(value: str) -> str:
    """Re-render an accepted timestamp as the server returns it: UTC, milliseconds, ``Z``."""
    if len(value) == 24 and _CANONICAL_RE.fullmatch(value):
        return value  # already in that form (every stored time is): nothing to re-render
    return format_epoch_ms(timestamp_ms(value))


#: The latest time a stored document holds: accepted timestamps have four-digit years.
LATEST_STORED_TIME: Final = "9999-12-31T23:59:59.999Z"


def time_bound(value: str) -> str:
    """``iso_ms(value)`` as a bound compared with stored times as text.

    A time past the year 9999 (a zone offset can push one there) renders as ``+010000-...``,
    which sorts before every four-digit year; no stored time is that late, so the latest one
    stands in for it. Times before the year 0 render ``-0000NN-...`` and sort first, as they
    should.
    """
    text = iso_ms(value)
    return LATEST_STORED_TIME if text.startswith("+") else text


def normalize_environment(value: object) -> str:
    """Normalise an environment name like the server: never an error, ``default`` at worst."""
    if not isinstance(value, str):
        return "default"
    name = _ENV_PREFIX_RE.sub("", value.lower())[:40]
    return name if _ENV_RE.fullmatch(name) else "default"


# --- zod issue helpers ---------------------------------------------------------------------


def _js_length(value: str) -> int:
    # JavaScript measures strings in UTF-16 code units.
    return len(value.encode("utf-16-le", "surrogatepass")) // 2


def _received(value: object) -> str:
    if value is MISSING:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _invalid_type(expected: str, value: object, path: Path) -> Issue:
    return {
        "expected": expected,
        "code": "invalid_type",
        "path": path,
        "message": f"Invalid input: expected {expected}, received {_received(value)}",
    }


def _invalid_value(values: tuple[str, ...], path: Path) -> Issue:
    if len(values) == 1:
        message = f"Invalid input: expected {json.dumps(values[0])}"
    else:
        message = "Invalid option: expected one of " + "|".join(json.dumps(v) for v in values)
    return {"code": "invalid_value", "values": list(values), "path": path, "message": message}


def _custom(path: Path, message: str = "Invalid input") -> Issue:
    return {"code": "custom", "path": path, "message": message}


def _invalid_union(path: Path, errors: list[list[Issue]] | None = None) -> Issue:
    return {
        "code": "invalid_union",
        "errors": errors or [],
        "path": path,
        "message": "Invalid input",
    }


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_integer(value: object) -> bool:
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


#: ``Number.MAX_SAFE_INTEGER``: zod 4's ``.int()`` accepts only safe integers.
MAX_SAFE_INTEGER: Final = 2**53 - 1


def _is_safe_integer(value: object) -> bool:
    return _is_integer(value) and abs(value) <= MAX_SAFE_INTEGER  # type: ignore[arg-type]


# --- field checkers: each returns the kept value (or MISSING) and appends issues ------------

Checker = Callable[[object, Path, list[Issue]], object]


#: Checkers that keep nothing and report nothing for an absent field (the optional ones):
#: objects skip them for absent keys, which is most of a schema for most bodies.
_OPTIONAL: set[Checker] = set()

#: Per checker, where one is cheap: a test of a present value that is True only when the
#: checker would keep that very value and report nothing. The fast path of
#: :func:`validate_event` runs these instead of the checkers (no issue paths are built); any
#: value they do not accept sends the event through the full checks, which report it.
_ACCEPTS: dict[Checker, Callable[[object], bool]] = {}


def _nullish(check: Checker) -> Checker:
    def run(value: object, path: Path, issues: list[Issue]) -> object:
        if value is MISSING or value is None:
            return value
        return check(value, path, issues)

    _OPTIONAL.add(run)
    inner = _ACCEPTS.get(check)
    if inner is not None:
        _ACCEPTS[run] = lambda value: value is None or inner(value)
    return run


def _string(
    *, min_length: int | None = None, max_length: int | None = None, no_cr: bool = False
) -> Checker:
    def run(value: object, path: Path, issues: list[Issue]) -> object:
        if not isinstance(value, str):
            issues.append(_invalid_type("string", value, path))
            return MISSING
        length = _js_length(value)
        if min_length is not None and length < min_length:
            issues.append(
                {
                    "origin": "string",
                    "code": "too_small",
                    "minimum": min_length,
                    "inclusive": True,
                    "path": path,
                    "message": f"Too small: expected string to have >={min_length} characters",
                }
            )
        if max_length is not None and length > max_length:
            issues.append(
                {
                    "origin": "string",
                    "code": "too_big",
                    "maximum": max_length,
                    "inclusive": True,
                    "path": path,
                    "message": f"Too big: expected string to have <={max_length} characters",
                }
            )
        if no_cr and "\r" in value:
            issues.append(_custom(path, "ID cannot contain carriage return characters"))
        return value

    def accepts(value: object) -> bool:
        if not isinstance(value, str):
            return False
        if no_cr and "\r" in value:
            return False
        if min_length is None and max_length is None:
            return True
        # An ASCII string's UTF-16 length is its length; others are measured as JavaScript does.
        length = len(value) if value.isascii() else _js_length(value)
        return (min_length is None or length >= min_length) and (
            max_length is None or length <= max_length
        )

    _ACCEPTS[run] = accepts
    return run


_id = _string(min_length=1, max_length=800, no_cr=True)
_ID_ACCEPTS: Final = _ACCEPTS[_id]
_plain_string = _string()
_NULLISH_PLAIN_STRING: Final = _nullish(_plain_string)


def _datetime(value: object, path: Path, issues: list[Issue]) -> object:
    if not isinstance(value, str):
        issues.append(_invalid_type("string", value, path))
        return MISSING
    if _DATETIME_RE.fullmatch(value) is None:
        issues.append(
            {
                "origin": "string",
                "code": "invalid_format",
                "format": "datetime",
                "pattern": DATETIME_PATTERN,
                "path": path,
                "message": "Invalid ISO datetime",
            }
        )
    return value


def _datetime_accepts(value: object) -> bool:
    return isinstance(value, str) and _DATETIME_RE.fullmatch(value) is not None


_ACCEPTS[_datetime] = _datetime_accepts
_NULLISH_DATETIME: Final = _nullish(_datetime)


def _number(*, integer: bool = False, nonnegative: bool = False) -> Checker:
    def run(value: object, path: Path, issues: list[Issue]) -> object:
        if not _is_number(value):
            issues.append(_invalid_type("number", value, path))
            return MISSING
        if integer and not _is_integer(value):
            issues.append(
                {
                    "expected": "int",
                    "format": "safeint",
                    "code": "invalid_type",
                    "path": path,
                    "message": "Invalid input: expected int, received number",
                }
            )
            return MISSING
        if integer and not _is_safe_integer(value):
            big = value > 0  # type: ignore[operator]
            issues.append(
                {
                    "code": "too_big" if big else "too_small",
                    **({"maximum": MAX_SAFE_INTEGER} if big else {"minimum": -MAX_SAFE_INTEGER}),
                    "note": "Integers must be within the safe integer range.",
                    "origin": "int",
                    "inclusive": True,
                    "path": path,
                    "message": (
                        f"Too big: expected int to be <={MAX_SAFE_INTEGER}"
                        if big
                        else f"Too small: expected int to be >={-MAX_SAFE_INTEGER}"
                    ),
                }
            )
            return MISSING
        if nonnegative and value < 0:  # type: ignore[operator]
            issues.append(
                {
                    "origin": "number",
                    "code": "too_small",
                    "minimum": 0,
                    "inclusive": True,
                    "path": path,
                    "message": "Too small: expected number to be >=0",
                }
            )
        return int(value) if integer else value  # type: ignore[call-overload]

    if not integer:
        # Integers are converted (2.0 is kept as 2): the fast path runs their checker.
        _ACCEPTS[run] = lambda value: _is_number(value) and not (nonnegative and value < 0)  # type: ignore[operator]
    return run


def _boolean(value: object, path: Path, issues: list[Issue]) -> object:
    if not isinstance(value, bool):
        issues.append(_invalid_type("boolean", value, path))
        return MISSING
    return value


_ACCEPTS[_boolean] = lambda value: isinstance(value, bool)


def _enum(values: tuple[str, ...]) -> Checker:
    def run(value: object, path: Path, issues: list[Issue]) -> object:
        if value not in values:
            issues.append(_invalid_value(values, path))
            return MISSING
        return value

    _ACCEPTS[run] = lambda value: value in values
    return run


def _any(value: object, path: Path, issues: list[Issue]) -> object:
    return value


_OPTIONAL.add(_any)
_ACCEPTS[_any] = lambda value: True


def _string_array(value: object, path: Path, issues: list[Issue]) -> object:
    if not isinstance(value, list):
        issues.append(_invalid_type("array", value, path))
        return MISSING
    for index, item in enumerate(value):
        if not isinstance(item, str):
            issues.append(_invalid_type("string", item, [*path, index]))
    return value


_ACCEPTS[_string_array] = lambda value: (
    isinstance(value, list) and all(isinstance(item, str) for item in value)
)


def _model_parameter(value: object) -> bool:
    if value is None or isinstance(value, (str, bool)) or _is_number(value):
        return True
    if isinstance(value, list):
        return all(isinstance(item, str) for item in value)
    if isinstance(value, dict):
        return all(isinstance(item, str) for item in value.values())
    return False


def _model_parameters(*, legacy: bool) -> Checker:
    def run(value: object, path: Path, issues: list[Issue]) -> object:
        if not isinstance(value, dict):
            issues.append(_invalid_type("record", value, path))
            return MISSING
        for key, item in value.items():
            ok = (
                item is None or isinstance(item, (str, bool)) or _is_number(item)
                if legacy
                else _model_parameter(item)
            )
            if not ok:
                issues.append(_invalid_union([*path, key]))
        return value

    return run


def _usage(value: object, path: Path, issues: list[Issue]) -> object:
    """The deprecated ``usage`` field: a mixed object, OpenAI keys converted to TOKENS."""
    if not isinstance(value, dict):
        issues.append(_invalid_type("object", value, path))
        return MISSING
    checks: dict[str, Checker] = {
        "input": _nullish(_number(integer=True)),
        "output": _nullish(_number(integer=True)),
        "total": _nullish(_number(integer=True)),
        "unit": _nullish(_enum(USAGE_UNITS)),
        "promptTokens": _nullish(_number(integer=True)),
        "completionTokens": _nullish(_number(integer=True)),
        "totalTokens": _nullish(_number(integer=True)),
        "inputCost": _nullish(_number()),
        "outputCost": _nullish(_number()),
        "totalCost": _nullish(_number()),
    }
    kept = _check_object(value, checks, path, issues)
    if any(key in kept for key in ("promptTokens", "completionTokens", "totalTokens")):
        return {
            "input": kept.get("promptTokens"),
            "output": kept.get("completionTokens"),
            "total": kept.get("totalTokens"),
            "unit": "TOKENS",
        }
    return kept if kept else MISSING


def _non_negative_int(value: object) -> int | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value) if _is_safe_integer(value) and value >= 0 else None
    if isinstance(value, str):
        if "_" in value:
            return None  # Python's float() reads digit separators; JavaScript's Number() does not
        try:
            parsed = float(value.strip())
        except ValueError:
            return None
        if _is_safe_integer(parsed) and parsed >= 0:
            return int(parsed)
    return None


def _openai_usage(value: dict[str, Any], prefix_in: str, prefix_out: str) -> dict[str, int] | None:
    keys = {
        f"{prefix_in}_tokens",
        f"{prefix_out}_tokens",
        "total_tokens",
        f"{prefix_in}_tokens_details",
        f"{prefix_out}_tokens_details",
    }
    required = (f"{prefix_in}_tokens", f"{prefix_out}_tokens", "total_tokens")
    if not set(value) <= keys or not all(key in value for key in required):
        return None
    if not all(_non_negative_int(value[k]) is not None and _is_number(value[k]) for k in required):
        return None
    result = {
        "input": int(value[required[0]]),
        "output": int(value[required[1]]),
        "total": int(value["total_tokens"]),
    }
    for detail_key, side in (
        (f"{prefix_in}_tokens_details", "input"),
        (f"{prefix_out}_tokens_details", "output"),
    ):
        details = value.get(detail_key)
        if details is None:
            continue
        if not isinstance(details, dict):
            return None
        for name, count in details.items():
            if count is None:
                continue
            if not (_is_number(count) and _is_safe_integer(count) and count >= 0):
                return None
            result[f"{side}_{name}"] = int(count)
            result[side] = max(result[side] - int(count), 0)
    return result


def _usage_details(value: object, path: Path, issues: list[Issue]) -> object:
    if not isinstance(value, dict):
        issues.append(
            _invalid_union(
                path,
                [
                    [_invalid_type("object", value, [])],
                    [_invalid_type("object", value, [])],
                    [_invalid_type("record", value, [])],
                ],
            )
        )
        return MISSING
    converted = _openai_usage(value, "prompt", "completion") or _openai_usage(
        value, "input", "output"
    )
    if converted is not None:
        return converted
    # A free record: counts are kept, numeric strings parsed, anything else dropped silently.
    kept: dict[str, int] = {}
    for key, item in value.items():
        count = _non_negative_int(item)
        if count is not None:
            kept[key] = count
    return kept


def _cost_details(value: object, path: Path, issues: list[Issue]) -> object:
    if not isinstance(value, dict):
        issues.append(_invalid_type("record", value, path))
        return MISSING
    return {
        key: item
        for key, item in value.items()
        if isinstance(item, (int, float)) and not isinstance(item, bool) and item >= 0
    }


def _check_object(
    value: dict[str, Any], checks: dict[str, Checker], path: Path, issues: list[Issue]
) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, check in checks.items():
        item = value.get(key, MISSING)
        if item is MISSING and check in _OPTIONAL:
            continue
        result = check(item, [*path, key], issues)
        if result is not MISSING:
            kept[key] = result
    return kept


# --- body schemas --------------------------------------------------------------------------

_TRACE_BODY: dict[str, Checker] = {
    "id": _nullish(_id),
    "timestamp": _NULLISH_DATETIME,
    "name": _nullish(_string(max_length=1000)),
    "externalId": _NULLISH_PLAIN_STRING,
    "input": _any,
    "output": _any,
    "sessionId": _NULLISH_PLAIN_STRING,
    "userId": _NULLISH_PLAIN_STRING,
    "environment": _any,
    "metadata": _any,
    "release": _NULLISH_PLAIN_STRING,
    "version": _NULLISH_PLAIN_STRING,
    "public": _nullish(_boolean),
    "tags": _nullish(_string_array),
}

_OBSERVATION_BASE: dict[str, Checker] = {
    "traceId": _nullish(_id),
    "environment": _any,
    "name": _NULLISH_PLAIN_STRING,
    "startTime": _NULLISH_DATETIME,
    "metadata": _any,
    "input": _any,
    "output": _any,
    "level": _nullish(_enum(LEVELS)),
    "statusMessage": _NULLISH_PLAIN_STRING,
    "parentObservationId": _NULLISH_PLAIN_STRING,
    "version": _NULLISH_PLAIN_STRING,
    "id": _id,
}
_SPAN_BODY: dict[str, Checker] = {**_OBSERVATION_BASE, "endTime": _NULLISH_DATETIME}
_GENERATION_BODY: dict[str, Checker] = {
    **_SPAN_BODY,
    "completionStartTime": _NULLISH_DATETIME,
    "model": _NULLISH_PLAIN_STRING,
    "modelParameters": _nullish(_model_parameters(legacy=False)),
    "usage": _nullish(_usage),
    "usageDetails": _nullish(_usage_details),
    "costDetails": _nullish(_cost_details),
    "promptName": _NULLISH_PLAIN_STRING,
    "promptVersion": _nullish(_number(integer=True)),
}
_LEGACY_OBSERVATION_BODY: dict[str, Checker] = {
    "id": _nullish(_id),
    "traceId": _nullish(_id),
    "type": _enum(("GENERATION", "SPAN", "EVENT")),
    "name": _NULLISH_PLAIN_STRING,
    "startTime": _NULLISH_DATETIME,
    "endTime": _NULLISH_DATETIME,
    "completionStartTime": _NULLISH_DATETIME,
    "model": _NULLISH_PLAIN_STRING,
    "modelParameters": _nullish(_model_parameters(legacy=True)),
    "input": _any,
    "output": _any,
    "usage": _nullish(_usage),
    "usageDetails": _nullish(_usage_details),
    "costDetails": _nullish(_cost_details),
    "metadata": _any,
    "parentObservationId": _NULLISH_PLAIN_STRING,
    "level": _nullish(_enum(LEVELS)),
    "statusMessage": _NULLISH_PLAIN_STRING,
    "version": _NULLISH_PLAIN_STRING,
}
_SCORE_BASE: dict[str, Checker] = {
    "id": _nullish(_id),
    "name": _string(min_length=1),
    "traceId": _NULLISH_PLAIN_STRING,
    "sessionId": _NULLISH_PLAIN_STRING,
    "datasetRunId": _NULLISH_PLAIN_STRING,
    "environment": _any,
    "observationId": _NULLISH_PLAIN_STRING,
    "comment": _NULLISH_PLAIN_STRING,
    "metadata": _any,
    "source": _nullish(_enum(SCORE_SOURCES)),
    "configId": _NULLISH_PLAIN_STRING,
    "queueId": _NULLISH_PLAIN_STRING,
}


def _score_value(data_type: object) -> Checker:
    if data_type == "NUMERIC":
        return _number()
    if data_type in ("CATEGORICAL", "CORRECTION"):
        return _string()
    if data_type == "TEXT":
        return _string(min_length=1, max_length=TEXT_SCORE_MAX_LENGTH)
    if data_type == "BOOLEAN":

        def boolean_value(value: object, path: Path, issues: list[Issue]) -> object:
            kept = _number()(value, path, issues)
            if kept is not MISSING and kept not in (0, 1):
                issues.append(
                    _custom(
                        path, "Value must be a number equal to either 0 or 1 for data type BOOLEAN"
                    )
                )
            return kept

        return boolean_value

    def string_or_number(value: object, path: Path, issues: list[Issue]) -> object:
        if isinstance(value, str) or _is_number(value):
            return value
        issues.append(
            _invalid_union(
                path,
                [[_invalid_type("string", value, [])], [_invalid_type("number", value, [])]],
            )
        )
        return MISSING

    return string_or_number


def validate_score_body(body: object, path: Path, issues: list[Issue]) -> dict[str, Any]:
    """Check a score body (``score-create`` or ``POST /api/public/scores``) and return it kept.

    Args:
        body: The decoded body.
        path: Where the body sits in the event, for issue paths.
        issues: Receives zod-style issues.

    Returns:
        The body with unknown keys stripped, ``source`` defaulted and the environment normalised.
    """
    if not isinstance(body, dict):
        issues.append(_invalid_type("object", body, path))
        return {}
    data_type = body.get("dataType", MISSING)
    if data_type is not MISSING and data_type not in SCORE_DATA_TYPES:
        issues.append(
            {
                "code": "invalid_union",
                "errors": [],
                "note": "No matching discriminator",
                "discriminator": "dataType",
                "path": [*path, "dataType"],
                "message": "Invalid input",
            }
        )
        return {}
    before = len(issues)
    kept = _check_object(body, _SCORE_BASE, path, issues)
    value = _score_value(data_type)(body.get("value", MISSING), [*path, "value"], issues)
    if value is not MISSING:
        kept["value"] = value
    if data_type is not MISSING:
        kept["dataType"] = data_type
    if data_type == "CORRECTION" and kept.get("configId"):
        issues.append(_custom([*path, "configId"], "configId is not supported for CORRECTION"))
    if len(issues) == before:
        has_trace = bool(kept.get("traceId"))
        has_session = bool(kept.get("sessionId"))
        has_run = bool(kept.get("datasetRunId"))
        has_observation = bool(kept.get("observationId"))
        if not (
            (has_trace and not has_session and not has_run)
            or (has_session and not has_trace and not has_run and not has_observation)
            or (has_run and not has_trace and not has_session and not has_observation)
        ):
            issues.append(
                _custom(
                    [*path, "traceId", "sessionId", "datasetRunId", "observationId"],
                    "Provide exactly one of the following: traceId (with optional "
                    "observationId), sessionId or datasetRunId. ObservationId requires traceId.",
                )
            )
    kept.setdefault("source", "API")
    kept["environment"] = normalize_environment(body.get("environment"))
    return kept


def _validate_body(event_type: str, body: object, issues: list[Issue]) -> dict[str, Any]:
    path: Path = ["body"]
    if event_type == "score-create":
        return validate_score_body(body, path, issues)
    if not isinstance(body, dict):
        issues.append(_invalid_type("object", body, path))
        return {}
    if event_type == "sdk-log":
        if "log" not in body:
            issues.append(_invalid_union([*path, "log"]))
        return {"log": body.get("log")}
    if event_type == "trace-create":
        schema = _TRACE_BODY
    elif event_type in ("observation-create", "observation-update"):
        schema = _LEGACY_OBSERVATION_BODY
    elif event_type in _GENERATION_BODY_TYPES:
        schema = _GENERATION_BODY
    elif event_type == "event-create":
        schema = _OBSERVATION_BASE
    else:
        schema = _SPAN_BODY
    before = len(issues)
    kept = _check_object(body, schema, path, issues)
    if schema is _GENERATION_BODY and len(issues) == before:
        # The server's refine works on truthiness, so a version of 0 counts as absent.
        if bool(kept.get("promptName")) != bool(kept.get("promptVersion")):
            issues.append(_custom(path))
    if schema is not _LEGACY_OBSERVATION_BODY:
        kept["environment"] = normalize_environment(body.get("environment"))
    return kept


_EVENT_TYPES: Final = frozenset(
    {
        "trace-create",
        "score-create",
        "sdk-log",
        "observation-create",
        "observation-update",
        "dataset-run-item-create",
        *OBSERVATION_TYPES,
    }
)


#: A schema made ready for the fast path: per key, its accept test (None: run the checker)
#: and the checker; and the keys that must be present. The most common accept tests are
#: marked by these stand-ins instead, so that the fast path tests them inline.
_Plan = tuple[dict[str, tuple[Any, Checker]], frozenset[str]]
_KEEP: Final = "keep"  # any value
_NULL_OR_STRING: Final = "null-or-string"
_NULL_OR_DATETIME: Final = "null-or-datetime"


def _plan(schema: dict[str, Checker]) -> _Plan:
    entries: dict[str, tuple[Any, Checker]] = {}
    for key, check in schema.items():
        accepts: Any = _ACCEPTS.get(check)
        if check is _any:
            accepts = _KEEP
        elif check is _NULLISH_PLAIN_STRING:
            accepts = _NULL_OR_STRING
        elif check is _NULLISH_DATETIME:
            accepts = _NULL_OR_DATETIME
        entries[key] = (accepts, check)
    return entries, frozenset(key for key, check in schema.items() if check not in _OPTIONAL)


_FAST_SCHEMAS: Final = {
    schema_id: (schema, _plan(schema))
    for schema_id, schema in (
        ("trace", _TRACE_BODY),
        ("legacy", _LEGACY_OBSERVATION_BODY),
        ("generation", _GENERATION_BODY),
        ("event", _OBSERVATION_BASE),
        ("span", _SPAN_BODY),
    )
}
_SCHEMA_OF_TYPE: Final = {
    "trace-create": "trace",
    "observation-create": "legacy",
    "observation-update": "legacy",
    "event-create": "event",
    "span-create": "span",
    "span-update": "span",
    **{event_type: "generation" for event_type in _GENERATION_BODY_TYPES},
}
#: Checked values need no issue paths on the fast path: a failure there is checked again.
_NO_PATH: Final[Path] = []


def _fast_object(value: dict[str, Any], plan: _Plan) -> dict[str, Any] | None:
    """:func:`_check_object` for a value with no issue, or None when there may be one.

    It walks the value's keys rather than the schema's (bodies set few of them), so the kept
    keys follow the value's order; every reader of a kept body looks its keys up by name.
    """
    entries, required = plan
    if not required <= value.keys():
        return None
    kept: dict[str, Any] = {}
    for key, item in value.items():
        entry = entries.get(key)
        if entry is None:
            continue  # not in the schema: stripped
        accepts, check = entry
        if accepts is _KEEP:
            kept[key] = item
            continue
        if accepts is _NULL_OR_STRING:
            if item is None or isinstance(item, str):
                kept[key] = item
                continue
            return None
        if accepts is _NULL_OR_DATETIME:
            if item is None or (isinstance(item, str) and _DATETIME_RE.fullmatch(item)):
                kept[key] = item
                continue
            return None
        if accepts is not None:
            if not accepts(item):
                return None
            kept[key] = item
            continue
        issues: list[Issue] = []
        result = check(item, _NO_PATH, issues)
        if issues:
            return None
        if result is not MISSING:
            kept[key] = result
    return kept


@functools.lru_cache(maxsize=256)
def _normalized_environment(value: str) -> str:
    return normalize_environment(value)


def _validate_fast(event: object) -> dict[str, Any] | None:
    """The kept event when it is an observation or trace event that passes every check.

    None when it is not, or may not be: :func:`validate_event` then checks it in full, so a
    result here is always exactly what the full checks keep.
    """
    if not isinstance(event, dict):
        return None
    schema_id = _SCHEMA_OF_TYPE.get(event.get("type"))  # type: ignore[arg-type]
    if schema_id is None:
        return None
    envelope_id = event.get("id")
    timestamp = event.get("timestamp")
    body = event.get("body")
    if not (_ID_ACCEPTS(envelope_id) and _datetime_accepts(timestamp) and isinstance(body, dict)):
        return None
    schema, plan = _FAST_SCHEMAS[schema_id]
    kept_body = _fast_object(body, plan)
    if kept_body is None:
        return None
    if schema_id == "generation" and bool(kept_body.get("promptName")) != bool(
        kept_body.get("promptVersion")
    ):
        return None
    if schema is not _LEGACY_OBSERVATION_BODY:
        environment = body.get("environment")
        kept_body["environment"] = (
            _normalized_environment(environment)
            if isinstance(environment, str)
            else normalize_environment(environment)
        )
    kept = {"id": envelope_id, "type": event["type"], "timestamp": timestamp, "body": kept_body}
    if event.get("metadata") is not None:
        kept["metadata"] = event["metadata"]
    return kept


def validate_event(event: object) -> dict[str, Any]:
    """Validate one ingestion event as the public route does.

    A valid trace or observation event is kept by cheap precompiled tests; only an event that
    fails one (or of another type) goes through the checks that report zod's issues.

    Args:
        event: One element of the request's ``batch`` array.

    Returns:
        The event as kept: ``{"id", "type", "timestamp", "body"}`` (plus ``metadata`` when set).

    Raises:
        ValidationFailure: With the server's per-event status, message and error.
    """
    fast = _validate_fast(event)
    if fast is not None:
        return fast
    return _validate_full(event)


def _validate_full(event: object) -> dict[str, Any]:
    issues: list[Issue] = []
    if not isinstance(event, dict):
        issues.append(_invalid_type("object", event, []))
        raise ValidationFailure(400, "Invalid request data", format_issues(issues))
    event_type = event.get("type", MISSING)
    if event_type not in _EVENT_TYPES:
        issues.append(
            {
                "code": "invalid_union",
                "errors": [],
                "note": "No matching discriminator",
                "discriminator": "type",
                "path": ["type"],
                "message": "Invalid input",
            }
        )
        raise ValidationFailure(400, "Invalid request data", format_issues(issues))
    assert isinstance(event_type, str)
    if event_type == "dataset-run-item-create":
        raise ValidationFailure(
            400,
            "Invalid request data",
            "Dataset run item creation is only allowed for internal usage",
        )
    kept: dict[str, Any] = {}
    envelope_id = _id(event.get("id", MISSING), ["id"], issues)
    timestamp = _datetime(event.get("timestamp", MISSING), ["timestamp"], issues)
    body = _validate_body(event_type, event.get("body", MISSING), issues)
    if issues:
        raise ValidationFailure(400, "Invalid request data", format_issues(issues))
    kept["id"] = envelope_id
    kept["type"] = event_type
    kept["timestamp"] = timestamp
    kept["body"] = body
    if event.get("metadata") is not None:
        kept["metadata"] = event["metadata"]
    return kept
