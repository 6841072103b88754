"""The read routes' query parameters: parsed and checked, or refused as the server refuses them.

Every refusal raises :class:`BadQuery` with one issue in the shape of the server's validation
errors (``{"code", "path", "message", ...}``); the route answers 400 ``Invalid request data``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping, Sequence
from typing import Final

from multidict import MultiMapping

from ._filters import Clause, Column, Condition, FilterError, compile_conditions, parse_conditions
from ._validate import Issue, is_datetime, time_bound

__all__ = [
    "OBSERVATION_TYPES",
    "BadQuery",
    "Filter",
    "boolean",
    "choice",
    "comma_list",
    "cursor_offset",
    "field_groups",
    "invalid",
    "next_cursor",
    "number",
    "page_meta",
    "positive_int",
    "time",
]

Query = MultiMapping[str]

#: The observation types the server knows (a ``type`` filter names one of them).
OBSERVATION_TYPES: Final = (
    "GENERATION",
    "SPAN",
    "EVENT",
    "AGENT",
    "TOOL",
    "CHAIN",
    "RETRIEVER",
    "EVALUATOR",
    "EMBEDDING",
    "GUARDRAIL",
)


class BadQuery(Exception):
    """A query parameter the route refuses (400), with the issue to report."""

    def __init__(self, issue: Issue) -> None:
        super().__init__(issue["message"])
        self.issue = issue

    def __reduce__(self) -> tuple[type[BadQuery], tuple[Issue]]:
        # Raised where the store is, maybe a process of its own: it comes back by pickle.
        return (BadQuery, (self.issue,))


def invalid(name: str, message: str) -> BadQuery:
    """A refusal of parameter ``name`` with a message of our own."""
    return BadQuery({"code": "custom", "path": [name], "message": message})


#: The largest integer a JavaScript number holds exactly (zod's ``int()`` refuses beyond it); a
#: page of it, times the largest limit, is still an offset SQLite can hold.
MAX_SAFE_INTEGER = 2**53 - 1


def positive_int(query: Query, name: str, default: int, maximum: int | None) -> int:
    """An integer parameter >= 1 and <= ``maximum`` (or the largest safe integer), as zod says."""
    if maximum is None:
        maximum = MAX_SAFE_INTEGER
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _not_a_number(name) from None
    if value < 1:
        raise BadQuery(
            {
                "origin": "number",
                "code": "too_small",
                "minimum": 1,
                "inclusive": True,
                "path": [name],
                "message": "Too small: expected number to be >=1",
            }
        )
    if value > maximum:
        raise BadQuery(
            {
                "origin": "number",
                "code": "too_big",
                "maximum": maximum,
                "inclusive": True,
                "path": [name],
                "message": f"Too big: expected number to be <={maximum}",
            }
        )
    return value


def _not_a_number(name: str) -> BadQuery:
    return BadQuery(
        {
            "expected": "number",
            "code": "invalid_type",
            "received": "NaN",
            "path": [name],
            "message": "Invalid input: expected number, received NaN",
        }
    )


def number(query: Query, name: str) -> float | None:
    """A finite number parameter, or None when absent."""
    raw = query.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise _not_a_number(name)
    return value


def choice(query: Query, name: str, options: Sequence[str]) -> str | None:
    """A parameter that names one of ``options`` (an enum), or None when absent."""
    raw = query.get(name)
    if not raw:
        return None
    if raw not in options:
        expected = "|".join(f'"{option}"' for option in options)
        raise BadQuery(
            {
                "code": "invalid_value",
                "values": list(options),
                "path": [name],
                "message": f"Invalid option: expected one of {expected}",
            }
        )
    return raw


def boolean(query: Query, name: str) -> bool | None:
    """A ``true``/``false`` parameter, or None when absent."""
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() not in ("true", "false"):
        raise invalid(name, f"Invalid input: expected true or false, got {raw!r}")
    return raw.lower() == "true"


def comma_list(query: Query, name: str) -> list[str]:
    """A comma-separated list parameter (repeated parameters add to it), blanks dropped."""
    return [
        part.strip() for raw in query.getall(name, []) for part in raw.split(",") if part.strip()
    ]


def time(query: Query, name: str) -> str | None:
    """A datetime filter, normalised to the stored form (so it compares as a string)."""
    raw = query.get(name)
    if not raw:
        return None
    if not is_datetime(raw):
        raise invalid(name, "Invalid ISO datetime")
    return time_bound(raw)


def field_groups(query: Query, known: Sequence[str], default: frozenset[str]) -> frozenset[str]:
    """The ``fields`` groups asked for (or ``default``); an unknown group is refused."""
    raw = query.get("fields")
    if not raw:
        return default
    groups = frozenset(part.strip() for part in raw.split(",") if part.strip())
    unknown = sorted(groups - frozenset(known))
    if unknown:
        raise invalid(
            "fields",
            f"Unknown field groups: {', '.join(unknown)}; expected any of {', '.join(known)}",
        )
    return groups


def cursor_offset(query: Query) -> int:
    """The offset a ``cursor`` parameter carries (0 without one)."""
    raw = query.get("cursor")
    if not raw:
        return 0
    try:
        decoded = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        offset = decoded["offset"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise invalid("cursor", "Invalid cursor") from None
    if (
        not isinstance(offset, int)
        or isinstance(offset, bool)
        or not 0 <= offset <= MAX_SAFE_INTEGER
    ):
        raise invalid("cursor", "Invalid cursor")
    return offset


def next_cursor(offset: int, limit: int, more: bool) -> str | None:
    """The cursor of the page after ``offset``, or None on the last page."""
    if not more:
        return None
    return base64.urlsafe_b64encode(json.dumps({"offset": offset + limit}).encode()).decode()


def page_meta(page: int, limit: int, total: int) -> dict[str, int]:
    """The ``meta`` of a paged list (``MetaResponse``)."""
    return {
        "page": page,
        "limit": limit,
        "totalItems": total,
        "totalPages": math.ceil(total / limit) if total else 0,
    }


class Filter:
    """A route's ``filter`` parameter, compiled, and which simple parameters it overrides.

    The spec: "When provided, this takes precedence over query parameter filters". A simple
    parameter is dropped when a condition filters the same column; the others still apply.
    """

    def __init__(
        self,
        query: Query,
        columns: Mapping[str, Column],
        *,
        matches: bool = False,
    ) -> None:
        raw = query.get("filter")
        self.conditions: list[Condition] = []
        self.clauses: list[Clause] = []
        if raw is None or raw.strip() == "":
            return
        try:
            self.conditions = parse_conditions(raw)
            self.clauses = compile_conditions(self.conditions, columns, matches=matches)
        except FilterError as error:
            raise invalid("filter", str(error)) from None
        self.columns = frozenset(c.column for c in self.conditions)

    def overrides(self, column: str) -> bool:
        """Whether the conditions filter ``column`` (so its simple parameter is dropped)."""
        return bool(self.conditions) and column in self.columns

    def simple(self, query: Query, name: str, column: str | None = None) -> str | None:
        """Simple parameter ``name`` (filtering ``column``, by default the same name)."""
        if self.overrides(column or name):
            return None
        return query.get(name) or None

    def simple_list(self, query: Query, name: str, column: str | None = None) -> list[str]:
        """A repeated simple parameter (``environment``, ``tags``)."""
        if self.overrides(column or name):
            return []
        return query.getall(name, [])
