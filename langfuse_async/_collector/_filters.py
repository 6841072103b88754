"""The read routes' ``filter`` parameter: JSON filter conditions, checked and compiled to SQL.

A condition is ``{"type", "column", "operator", "value", "key"?}`` as the official spec
describes it. Each route has a catalogue of the columns it filters on (``_filter_columns``): the
SQL expression of a column over the route's table, and the condition types it takes. A condition
that is not well formed, names an unknown column or pairs a column with a type it does not take
raises :class:`FilterError`, which the route answers with a 400 naming the condition.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ._sqlite import marks
from ._validate import is_datetime, time_bound

__all__ = [
    "Clause",
    "Column",
    "Condition",
    "FilterError",
    "compile_conditions",
    "parse_conditions",
]

#: An SQL boolean expression and its bound parameters.
Clause = tuple[str, list[Any]]

#: The operators of each condition type (the spec's list).
OPERATORS: Final[dict[str, tuple[str, ...]]] = {
    "datetime": (">", "<", ">=", "<="),
    "string": ("=", "contains", "does not contain", "starts with", "ends with", "matches"),
    "stringOptions": ("any of", "none of"),
    "categoryOptions": ("any of", "none of"),
    "arrayOptions": ("any of", "none of", "all of"),
    "number": ("=", ">", "<", ">=", "<="),
    "stringObject": ("=", "contains", "does not contain", "starts with", "ends with", "matches"),
    "numberObject": ("=", ">", "<", ">=", "<="),
    "booleanObject": ("=", "<>"),
    "boolean": ("=", "<>"),
    "null": ("is null", "is not null"),
}
_KEYED: Final = frozenset({"stringObject", "numberObject", "booleanObject"})


class FilterError(ValueError):
    """A ``filter`` parameter the route cannot apply; the message says which condition and why."""


@dataclasses.dataclass(frozen=True)
class Condition:
    """One checked filter condition."""

    type: str
    column: str
    operator: str
    value: Any
    key: str | None = None


@dataclasses.dataclass(frozen=True)
class Column:
    """A filterable column of a route.

    Attributes:
        sql: Its SQL expression; a keyed column's holds one ``?`` for the key.
        types: The condition types it takes.
        keyed: Whether conditions name a key (``metadata``, a score name).
        text: Whether ``matches`` applies (input, output, metadata values).
        many: A keyed column whose ``sql`` is a subquery of values (``SELECT ... AS v``): a
            condition holds when some value matches (``any of``, ``=``) or none does.
        case_sensitive_matches: ``matches`` compares case-sensitively (metadata values).
        through: For a column of the row's trace: ``(the row's trace id, the column over
            traces)``. A condition that only keeps rows with a matching value then selects the
            traces first (``trace_id IN (SELECT ...)``), which the traces' indexes serve.
    """

    sql: str
    types: frozenset[str]
    keyed: bool = False
    text: bool = False
    many: bool = False
    case_sensitive_matches: bool = False
    through: tuple[str, str] | None = None


#: Operators that keep only rows with a matching value (a row without a trace never matches).
_KEEPING: Final = frozenset(
    {
        "=",
        ">",
        "<",
        ">=",
        "<=",
        "contains",
        "starts with",
        "ends with",
        "matches",
        "any of",
        "all of",
    }
)


def parse_conditions(raw: str) -> list[Condition]:
    """Parse and check a ``filter`` parameter (a JSON array of conditions).

    Raises:
        FilterError: The text is not a JSON array of well-formed conditions.
    """
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError):
        raise FilterError("Invalid filter: not valid JSON") from None
    if not isinstance(parsed, list):
        raise FilterError("Invalid filter: expected a JSON array of filter conditions")
    return [_condition(index, item) for index, item in enumerate(parsed)]


def _condition(index: int, item: Any) -> Condition:
    where = f"filter[{index}]"
    if not isinstance(item, dict):
        raise FilterError(f"{where}: expected an object with type, column, operator and value")
    kind = item.get("type")
    if kind not in OPERATORS:
        raise FilterError(f"{where}.type: expected one of {_quoted(OPERATORS)}, got {kind!r}")
    column = item.get("column")
    if not isinstance(column, str) or not column:
        raise FilterError(f"{where}.column: expected a column name")
    operator = item.get("operator")
    if operator not in OPERATORS[kind]:
        raise FilterError(
            f"{where}.operator: a {kind} filter takes {_quoted(OPERATORS[kind])}, got {operator!r}"
        )
    key = item.get("key")
    if key is not None and not _is_text(key):
        raise FilterError(f"{where}.key: expected a string")
    if kind in _KEYED and not key:
        raise FilterError(f"{where}.key: a {kind} filter needs the key to filter on")
    return Condition(kind, column, operator, _value(where, kind, item.get("value")), key)


def _value(where: str, kind: str, value: Any) -> Any:
    if kind == "datetime":
        if not is_datetime(value):
            raise FilterError(f"{where}.value: expected an ISO 8601 datetime, got {value!r}")
        return time_bound(value)
    if kind in ("string", "stringObject"):
        if not _is_text(value):
            raise FilterError(f"{where}.value: expected a string")
        return value
    if kind in ("number", "numberObject"):
        if not _is_number(value):
            raise FilterError(f"{where}.value: expected a finite number, got {value!r}")
        # SQLite binds integers of 64 bits at most; beyond, the float compares the same.
        return value if isinstance(value, float) or abs(value) < 2**63 else float(value)
    if kind in ("boolean", "booleanObject"):
        if not isinstance(value, bool):
            raise FilterError(f"{where}.value: expected true or false, got {value!r}")
        return value
    if kind == "null":
        return None
    # stringOptions, categoryOptions, arrayOptions: a non-empty list of strings.
    if not isinstance(value, list) or not value or not all(_is_text(v) for v in value):
        raise FilterError(f"{where}.value: expected a non-empty array of strings")
    return value


def _is_text(value: Any) -> bool:
    # A string SQLite can bind: JSON may spell a lone surrogate, which UTF-8 cannot encode.
    if not isinstance(value, str):
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _is_number(value: Any) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer literal beyond the float range: JavaScript's Infinity
        return False


def _quoted(names: Sequence[str] | Mapping[str, Any]) -> str:
    return ", ".join(f'"{name}"' for name in names)


def compile_conditions(
    conditions: Sequence[Condition],
    columns: Mapping[str, Column],
    *,
    matches: bool = False,
) -> list[Clause]:
    """The SQL clauses of checked conditions over one route's columns, to AND together.

    Args:
        conditions: From :func:`parse_conditions`.
        columns: The route's catalogue.
        matches: Whether the route takes the ``matches`` operator (v2 observations only).

    Raises:
        FilterError: A condition names an unknown column or a type the column does not take.
    """
    clauses = []
    for index, condition in enumerate(conditions):
        where = f"filter[{index}]"
        column = columns.get(_catalogue_name(condition))
        if column is None or "#" in condition.column:
            known = sorted(name for name in columns if "#" not in name)
            raise FilterError(
                f"{where}.column: unknown column {condition.column!r}; "
                f"expected one of {_quoted(known)}"
            )
        if condition.type not in column.types:
            types = {
                kind
                for name, entry in columns.items()
                if name.split("#")[0] == condition.column
                for kind in entry.types
            }
            raise FilterError(
                f"{where}: column {condition.column!r} takes {_quoted(sorted(types))} "
                f"filters, not {condition.type!r}"
            )
        if column.keyed and not condition.key:
            raise FilterError(f"{where}.key: column {condition.column!r} needs a key")
        if condition.operator == "matches" and not (matches and column.text):
            raise FilterError(
                f'{where}.operator: "matches" applies only to input, output and metadata'
                " values of v2 observations"
            )
        clauses.append(_clause(condition, column))
    return clauses


def _clause(condition: Condition, column: Column) -> Clause:
    if column.through is not None and condition.operator in _KEEPING:
        trace_id, over_traces = column.through
        inner, params = _clause(
            condition, dataclasses.replace(column, sql=over_traces, through=None)
        )
        return (f"{trace_id} IN (SELECT traces.id FROM traces WHERE {inner})", params)
    key_params: list[Any] = [condition.key] if column.keyed else []
    sql, op, value = column.sql, condition.operator, condition.value
    if column.many:
        return _many_clause(condition, sql, key_params)
    if condition.type == "null":
        return (f"{sql} IS {'NOT ' if op == 'is not null' else ''}NULL", key_params)
    if condition.type in ("stringOptions", "categoryOptions"):
        inside = f"{sql} IN ({marks(len(value))})"
        if op == "any of":
            return (inside, [*key_params, *value])
        # "none of" holds for a row without a value too.
        return (f"({sql} IS NULL OR NOT {inside})", [*key_params, *key_params, *value])
    if condition.type == "arrayOptions":
        return _array_clause(sql, op, value, key_params)
    if condition.type in ("boolean", "booleanObject"):
        return (f"{sql} {'=' if op == '=' else 'IS NOT'} ?", [*key_params, int(value)])
    if condition.type in ("string", "stringObject"):
        return _string_clause(sql, op, value, key_params, column.case_sensitive_matches)
    # datetime, number, numberObject: a plain comparison.
    return (f"{sql} {op} ?", [*key_params, value])


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _string_clause(
    sql: str, op: str, value: str, key_params: list[Any], case_sensitive: bool
) -> Clause:
    if op == "=":
        return (f"{sql} = ?", [*key_params, value])
    if op == "matches":
        # A literal search: % and _ are plain characters.
        if case_sensitive:
            return (f"instr({sql}, ?) > 0", [*key_params, value])
        return (f"instr(lower({sql}), lower(?)) > 0", [*key_params, value])
    pattern = {
        "contains": f"%{_like(value)}%",
        "does not contain": f"%{_like(value)}%",
        "starts with": f"{_like(value)}%",
        "ends with": f"%{_like(value)}",
    }[op]
    negate = "NOT " if op == "does not contain" else ""
    return (f"{sql} {negate}LIKE ? ESCAPE '\\'", [*key_params, pattern])


def _array_clause(sql: str, op: str, values: list[str], key_params: list[Any]) -> Clause:
    wanted = sorted(set(values))
    found = f"SELECT value FROM json_each({sql}) WHERE value IN ({marks(len(wanted))})"
    if op == "all of":
        return (
            f"(SELECT COUNT(DISTINCT value) FROM ({found})) = ?",
            [*key_params, *wanted, len(wanted)],
        )
    negate = "NOT " if op == "none of" else ""
    return (f"{negate}EXISTS ({found})", [*key_params, *wanted])


def _many_clause(condition: Condition, sql: str, key_params: list[Any]) -> Clause:
    # A set of values per row (e.g. a trace's scores of one name): "=" and "any of" hold when
    # one value matches, "<>" and "none of" when none does (so also for a row without any).
    op, value = condition.operator, condition.value
    if condition.type in ("categoryOptions", "stringOptions"):
        test, params = f"v IN ({marks(len(value))})", list(value)
        negate = op == "none of"
    elif condition.type in ("booleanObject", "boolean"):
        test, params = "v = ?", [int(value)]
        negate = op == "<>"
    elif condition.type == "null":
        return (f"{'NOT ' if op == 'is null' else ''}EXISTS ({sql})", key_params)
    else:  # numberObject / number
        test, params = f"v {op} ?", [value]
        negate = False
    clause = f"EXISTS (SELECT 1 FROM ({sql}) WHERE {test})"
    return (f"NOT {clause}" if negate else clause, [*key_params, *params])


def _catalogue_name(condition: Condition) -> str:
    # Metadata's number and boolean forms are entries of their own.
    if condition.column == "metadata" and condition.type == "numberObject":
        return "metadata#number"
    if condition.column == "metadata" and condition.type == "booleanObject":
        return "metadata#boolean"
    return condition.column
