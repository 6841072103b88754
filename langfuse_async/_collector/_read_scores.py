"""The score reads: ``/scores`` and ``/v2/scores`` (pages), ``/v3/scores`` (cursors), one score.

The two list routes filter differently, as the server's do: the v2 list takes one value per
parameter (``operator`` with ``value``, ``traceTags``, a ``filter`` JSON), the v3 list takes
comma-separated lists, typed ``value``/``valueMin``/``valueMax`` and refuses combinations the
server refuses.
"""

from __future__ import annotations

import math
from typing import Any, Final

from multidict import MultiMapping

from ._filter_columns import SCORE_COLUMNS
from ._filters import Clause
from ._read_params import (
    Filter,
    choice,
    comma_list,
    cursor_offset,
    field_groups,
    invalid,
    next_cursor,
    number,
    page_meta,
    positive_int,
    time,
)
from ._sqlite import marks
from ._store import Store
from ._views import SCORE_FIELD_GROUPS, score_v2_view, score_v3_view

__all__ = ["get_score", "list_scores", "list_scores_v3"]

Query = MultiMapping[str]

SCORE_DATA_TYPES: Final = ("NUMERIC", "BOOLEAN", "CATEGORICAL", "CORRECTION", "TEXT")
SCORE_SOURCES: Final = ("ANNOTATION", "API", "EVAL")
#: ``operator`` of the v2 list, and its SQL.
_OPERATORS: Final = {"<": "<", ">": ">", "<=": "<=", ">=": ">=", "!=": "<>", "=": "="}
_STORED_VALUE: Final = "json_extract(scores.doc, '$.value')"
#: A score's numeric value (NULL for a text value, which SQLite would rank above every number).
_VALUE: Final = (
    f"(CASE WHEN typeof({_STORED_VALUE}) IN ('integer', 'real') THEN {_STORED_VALUE} END)"
)
_TRACES_WHERE: Final = "scores.trace_id IN (SELECT traces.id FROM traces WHERE "


def _all_tags(tags: list[str]) -> Clause:
    # Scores of traces that carry every one of the tags.
    wanted = sorted(set(tags))
    return (
        f"{_TRACES_WHERE}(SELECT COUNT(DISTINCT value) FROM json_each(traces.tags)"
        f" WHERE value IN ({marks(len(wanted))})) = ?)",
        [*wanted, len(wanted)],
    )


def list_scores(store: Store, query: Query) -> dict[str, Any]:
    """``GET /api/public/scores`` and ``/v2/scores``: ``GetScoresResponse``."""
    page = positive_int(query, "page", 1, None)
    limit = positive_int(query, "limit", 50, 100)
    groups = field_groups(query, ("score", "trace"), frozenset({"score", "trace"}))
    conditions = Filter(query, SCORE_COLUMNS)
    data_type = choice(query, "dataType", SCORE_DATA_TYPES)
    source = choice(query, "source", SCORE_SOURCES)
    operator = choice(query, "operator", tuple(_OPERATORS))
    value = number(query, "value")
    user_id = conditions.simple(query, "userId")
    tags = [] if conditions.overrides("traceTags") else comma_list(query, "traceTags")
    if (user_id or tags) and "trace" not in groups:
        raise invalid(
            "fields",
            "Filtering by trace properties (userId, traceTags) needs the 'trace' field group",
        )
    clauses = list(conditions.clauses)
    if operator is not None and value is not None and not conditions.overrides("value"):
        clauses.append((f"{_VALUE} {_OPERATORS[operator]} ?", [value]))
    if tags:
        clauses.append(_all_tags(tags))
    environments = conditions.simple_list(query, "environment")
    if environments and (user_id or tags):
        # Filtering by trace properties also asks the trace to be in those environments.
        clauses.append(
            (
                f"{_TRACES_WHERE}traces.environment IN ({marks(len(environments))}))",
                environments,
            )
        )
    filters: dict[str, str | list[str] | None] = {
        "name": conditions.simple(query, "name"),
        "source": None if conditions.overrides("source") else source,
        "data_type": None if conditions.overrides("dataType") else data_type,
        "config_id": conditions.simple(query, "configId"),
        "queue_id": conditions.simple(query, "queueId"),
        "trace_id": conditions.simple(query, "traceId"),
        "session_id": conditions.simple(query, "sessionId"),
        "dataset_run_id": conditions.simple(query, "datasetRunId"),
        "observation_id": (
            [] if conditions.overrides("observationId") else comma_list(query, "observationId")
        ),
    }
    skip_time = conditions.overrides("timestamp")
    docs, total = store.score_page(
        filters=filters,
        ids=[] if conditions.overrides("id") else comma_list(query, "scoreIds"),
        environments=environments,
        user_id=user_id,
        from_timestamp=None if skip_time else time(query, "fromTimestamp"),
        to_timestamp=None if skip_time else time(query, "toTimestamp"),
        clauses=clauses,
        limit=limit,
        offset=(page - 1) * limit,
    )
    traces = store.trace_docs([d["traceId"] for d in docs if d.get("traceId")])
    data = []
    for doc in docs:
        view = score_v2_view(doc, traces.get(doc.get("traceId") or ""))
        if "trace" not in groups:
            view["trace"] = None
        data.append(view)
    return {"data": data, "meta": page_meta(page, limit, total)}


def get_score(store: Store, score_id: str, query: Query) -> dict[str, Any] | None:
    """``GET /api/public/scores/{id}`` and ``/v2/scores/{id}``: one ``Score``."""
    docs, _ = store.score_page(filters={}, ids=[score_id], limit=1, count=False)
    if not docs:
        return None
    view = score_v2_view(docs[0], None)
    view.pop("trace", None)
    return view


def _upper_list(query: Query, name: str, options: tuple[str, ...]) -> list[str]:
    # Case-insensitive: "api" and "API" are one source.
    values = [value.upper() for value in comma_list(query, name)]
    unknown = sorted(set(values) - set(options))
    if unknown:
        raise invalid(
            name, f"Unknown {name} {', '.join(unknown)}: expected any of {', '.join(options)}"
        )
    return values


def _v3_values(query: Query, data_types: list[str]) -> list[Clause]:
    values = comma_list(query, "value")
    low, high = number(query, "valueMin"), number(query, "valueMax")
    if not values and low is None and high is None:
        return []
    data_type = data_types[0] if len(data_types) == 1 else None
    clauses: list[Clause] = []
    if low is not None or high is not None:
        if data_type != "NUMERIC":
            raise invalid("valueMin" if low is not None else "valueMax", _needs("NUMERIC"))
        if low is not None:
            clauses.append((f"{_VALUE} >= ?", [low]))
        if high is not None:
            clauses.append((f"{_VALUE} <= ?", [high]))
    if not values:
        return clauses
    if data_type not in ("NUMERIC", "BOOLEAN", "CATEGORICAL"):
        raise invalid("value", _needs("NUMERIC, BOOLEAN or CATEGORICAL"))
    typed: list[Any]
    if data_type == "BOOLEAN":
        if any(value.lower() not in ("true", "false") for value in values):
            raise invalid("value", "A BOOLEAN value filter takes true or false")
        typed = [int(value.lower() == "true") for value in values]
    elif data_type == "NUMERIC":
        typed = []
        for value in values:
            try:
                parsed = float(value)
            except ValueError:
                parsed = math.nan
            if not math.isfinite(parsed):
                raise invalid("value", f"A NUMERIC value filter takes finite numbers: {value!r}")
            typed.append(parsed)
    else:
        typed = values
        clauses.append((f"{_STORED_VALUE} IN ({marks(len(typed))})", typed))
        return clauses
    clauses.append((f"{_VALUE} IN ({marks(len(typed))})", typed))
    return clauses


def _needs(types: str) -> str:
    return f"This value filter needs one dataType of {types}"


def _v3_subjects(query: Query) -> dict[str, list[str]]:
    subjects = {
        "trace_id": comma_list(query, "traceId"),
        "session_id": comma_list(query, "sessionId"),
        "observation_id": comma_list(query, "observationId"),
        "dataset_run_id": comma_list(query, "experimentId"),
    }
    if subjects["observation_id"] and not subjects["trace_id"]:
        raise invalid("observationId", "observationId requires traceId")
    named = [
        name
        for name, column in (
            ("traceId", "trace_id"),
            ("sessionId", "session_id"),
            ("experimentId", "dataset_run_id"),
        )
        if subjects[column]
    ]
    if subjects["observation_id"] and subjects["session_id"]:
        named.append("observationId")
    if len(named) > 1:
        raise invalid(named[1], f"{' and '.join(named)} are mutually exclusive")
    return subjects


def list_scores_v3(store: Store, query: Query) -> dict[str, Any]:
    """``GET /api/public/v3/scores``: ``GetScoresV3Response``, with cursors."""
    limit = positive_int(query, "limit", 50, 100)
    offset = cursor_offset(query)
    groups = field_groups(query, sorted(SCORE_FIELD_GROUPS), frozenset())
    data_types = _upper_list(query, "dataType", SCORE_DATA_TYPES)
    clauses = _v3_values(query, data_types)
    if comma_list(query, "authorUserId"):
        # Scores written through the API carry no author: no score matches.
        clauses.append(("0", []))
    filters: dict[str, str | list[str] | None] = {
        "name": comma_list(query, "name"),
        "source": _upper_list(query, "source", SCORE_SOURCES),
        "data_type": data_types,
        "config_id": comma_list(query, "configId"),
        "queue_id": comma_list(query, "queueId"),
        **_v3_subjects(query),
    }
    docs, _ = store.score_page(
        filters=filters,
        ids=comma_list(query, "id"),
        environments=comma_list(query, "environment"),
        from_timestamp=time(query, "fromTimestamp"),
        to_timestamp=time(query, "toTimestamp"),
        clauses=clauses,
        limit=limit + 1,
        offset=offset,
        count=False,
    )
    meta: dict[str, Any] = {"limit": limit}
    cursor = next_cursor(offset, limit, len(docs) > limit)
    if cursor is not None:
        meta["cursor"] = cursor
    return {"data": [score_v3_view(d, groups) for d in docs[:limit]], "meta": meta}
