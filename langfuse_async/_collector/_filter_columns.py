"""The columns each read route filters on with its ``filter`` parameter, as SQL over its table.

Names and condition types follow the official spec's lists per route; a column's SQL reads the
row's indexed columns where there is one and its stored document otherwise.
"""

from __future__ import annotations

from typing import Final

from ._filters import Column

__all__ = ["OBSERVATION_COLUMNS", "SCORE_COLUMNS", "TRACE_COLUMNS"]

# --- the catalogues ----------------------------------------------------------------------------

_STRING = frozenset({"string", "stringOptions", "categoryOptions", "null"})
_DATETIME = frozenset({"datetime", "null"})
_NUMBER = frozenset({"number", "null"})
_BOOLEAN = frozenset({"boolean"})
_ARRAY = frozenset({"arrayOptions"})


def _string(sql: str) -> Column:
    return Column(sql, _STRING)


def _number(sql: str) -> Column:
    return Column(sql, _NUMBER)


def _seconds(later: str, earlier: str) -> str:
    # Seconds between two stored ISO times, to the millisecond.
    return f"ROUND((julianday({later}) - julianday({earlier})) * 86400.0, 3)"


def _metadata(table: str) -> dict[str, Column]:
    # One metadata value as text (as the server's string map holds it), or as a number.
    entry = f"FROM json_each({table}.doc, '$.metadata') WHERE key = ?"
    text = (
        "(SELECT CASE type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false'"
        f" WHEN 'null' THEN NULL ELSE CAST(value AS TEXT) END {entry})"
    )
    return {
        "metadata": Column(
            text,
            frozenset({"stringObject", "categoryOptions", "null"}),
            keyed=True,
            text=True,
            case_sensitive_matches=True,
        ),
        # Internal spellings the type picks between (see _with_metadata_types).
        "metadata#number": Column(
            f"(SELECT value {entry} AND type IN ('integer', 'real'))",
            frozenset({"numberObject"}),
            keyed=True,
        ),
        "metadata#boolean": Column(
            f"(SELECT type = 'true' {entry} AND type IN ('true', 'false'))",
            frozenset({"booleanObject"}),
            keyed=True,
        ),
    }


def _field(table: str, path: str) -> str:
    return f"json_extract({table}.doc, '$.{path}')"


def _trace_of(table: str, column: str) -> str:
    return f"(SELECT traces.{column} FROM traces WHERE traces.id = {table}.trace_id)"


def _of_trace(table: str, column: str, types: frozenset[str]) -> Column:
    # A column of the row's trace (see Column.through).
    through = (f"{table}.trace_id", f"traces.{column}")
    return Column(_trace_of(table, column), types, through=through)


_OBS_LATENCY = _seconds("observations.end_time", "observations.start_time")

#: ``/observations`` and ``/v2/observations``: the spec's columns of the ``filter`` parameter.
OBSERVATION_COLUMNS: Final[dict[str, Column]] = {
    "id": _string("observations.id"),
    "type": _string("observations.type"),
    "name": _string("observations.name"),
    "traceId": _string("observations.trace_id"),
    "parentObservationId": _string("observations.parent_id"),
    "startTime": Column("observations.start_time", _DATETIME),
    "endTime": Column("observations.end_time", _DATETIME),
    "environment": _string("COALESCE(observations.environment, 'default')"),
    "level": _string("COALESCE(observations.level, 'DEFAULT')"),
    "statusMessage": _string(_field("observations", "statusMessage")),
    "version": _string("observations.version"),
    "userId": _of_trace("observations", "user_id", _STRING),
    "sessionId": _of_trace("observations", "session_id", _STRING),
    "isRootObservation": Column("(observations.parent_id IS NULL)", _BOOLEAN),
    "traceName": _of_trace("observations", "name", _STRING),
    "traceEnvironment": _of_trace("observations", "environment", _STRING),
    "traceTags": _of_trace("observations", "tags", _ARRAY),
    "tags": _of_trace("observations", "tags", _ARRAY),
    "latency": _number(_OBS_LATENCY),
    "timeToFirstToken": _number(
        _seconds(_field("observations", "completionStartTime"), "observations.start_time")
    ),
    "tokensPerSecond": _number(
        f"({_field('observations', 'usageDetails.output')} / NULLIF({_OBS_LATENCY}, 0))"
    ),
    "inputTokens": _number(_field("observations", "usageDetails.input")),
    "outputTokens": _number(_field("observations", "usageDetails.output")),
    "totalTokens": _number(_field("observations", "usageDetails.total")),
    "tokens": _number(_field("observations", "usageDetails.total")),
    "inputCost": _number(_field("observations", "costDetails.input")),
    "outputCost": _number(_field("observations", "costDetails.output")),
    "totalCost": _number("observations.total_cost"),
    "model": _string(_field("observations", "model")),
    "providedModelName": _string(_field("observations", "model")),
    "promptName": _string(_field("observations", "promptName")),
    "promptVersion": _number(_field("observations", "promptVersion")),
    "input": Column(_field("observations", "input"), _STRING, text=True),
    "output": Column(_field("observations", "output"), _STRING, text=True),
    **_metadata("observations"),
}


def _over_observations(select: str, where: str = "") -> str:
    return f"(SELECT {select} FROM observations WHERE observations.trace_id = traces.id{where})"


def _level_count(level: str) -> Column:
    return _number(
        _over_observations("COUNT(*)", f" AND COALESCE(observations.level, 'DEFAULT') = '{level}'")
    )


def _summed(path: str) -> Column:
    return _number(_over_observations(f"COALESCE(SUM({_field('observations', path)}), 0)"))


def _trace_scores(condition: str, value: str) -> str:
    return (
        f"SELECT {value} AS v FROM scores WHERE scores.trace_id = traces.id"
        f" AND scores.name = ? AND {condition}"
    )


_SEVERITY = (
    "MAX(CASE observations.level WHEN 'ERROR' THEN 3 WHEN 'WARNING' THEN 2"
    " WHEN 'DEBUG' THEN 0 ELSE 1 END)"
)

#: ``/traces``: the spec's columns of the ``filter`` parameter (aggregates over observations).
TRACE_COLUMNS: Final[dict[str, Column]] = {
    "id": _string("traces.id"),
    "name": _string("traces.name"),
    "timestamp": Column("traces.timestamp", _DATETIME),
    "userId": _string("traces.user_id"),
    "sessionId": _string("traces.session_id"),
    "environment": _string("COALESCE(traces.environment, 'default')"),
    "version": _string("traces.version"),
    "release": _string("traces.release"),
    "tags": Column("traces.tags", _ARRAY),
    "bookmarked": Column("0", _BOOLEAN),
    "public": Column(f"COALESCE({_field('traces', 'public')}, 0)", _BOOLEAN),
    "latency": _number(
        _over_observations(
            "COALESCE("
            + _seconds(
                "MAX(COALESCE(observations.end_time, observations.start_time))",
                "MIN(observations.start_time)",
            )
            + ", 0)"
        )
    ),
    "inputTokens": _summed("usageDetails.input"),
    "outputTokens": _summed("usageDetails.output"),
    "totalTokens": _summed("usageDetails.total"),
    "tokens": _summed("usageDetails.total"),
    "inputCost": _summed("costDetails.input"),
    "outputCost": _summed("costDetails.output"),
    "totalCost": _number(_over_observations("COALESCE(SUM(observations.total_cost), 0)")),
    "level": _string(
        _over_observations(
            f"CASE {_SEVERITY} WHEN 3 THEN 'ERROR' WHEN 2 THEN 'WARNING'"
            " WHEN 0 THEN 'DEBUG' ELSE 'DEFAULT' END"
        )
    ),
    "errorCount": _level_count("ERROR"),
    "warningCount": _level_count("WARNING"),
    "defaultCount": _level_count("DEFAULT"),
    "debugCount": _level_count("DEBUG"),
    "scores_avg": Column(
        "(SELECT AVG(json_extract(scores.doc, '$.value')) FROM scores"
        " WHERE scores.trace_id = traces.id AND scores.name = ?"
        " AND COALESCE(scores.data_type, 'NUMERIC') = 'NUMERIC')",
        frozenset({"numberObject"}),
        keyed=True,
    ),
    "score_categories": Column(
        _trace_scores("scores.data_type = 'CATEGORICAL'", "json_extract(scores.doc, '$.value')"),
        frozenset({"categoryOptions"}),
        keyed=True,
        many=True,
    ),
    "score_booleans": Column(
        _trace_scores("scores.data_type = 'BOOLEAN'", "json_extract(scores.doc, '$.value')"),
        frozenset({"booleanObject"}),
        keyed=True,
        many=True,
    ),
    **_metadata("traces"),
}
TRACE_COLUMNS["scores"] = TRACE_COLUMNS["scores_avg"]

_SCORE_VALUE = "json_extract(scores.doc, '$.value')"

#: ``/scores`` and ``/v2/scores``: the columns of the ``filter`` parameter.
SCORE_COLUMNS: Final[dict[str, Column]] = {
    "id": _string("scores.id"),
    "name": _string("scores.name"),
    "source": _string("scores.source"),
    "dataType": _string("COALESCE(scores.data_type, 'NUMERIC')"),
    "timestamp": Column("scores.timestamp", _DATETIME),
    "environment": _string("COALESCE(scores.environment, 'default')"),
    "traceId": _string("scores.trace_id"),
    "observationId": _string("scores.observation_id"),
    "sessionId": _string("scores.session_id"),
    "datasetRunId": _string("scores.dataset_run_id"),
    "configId": _string("scores.config_id"),
    "queueId": _string("scores.queue_id"),
    "comment": _string(_field("scores", "comment")),
    "value": _number(
        f"(CASE WHEN typeof({_SCORE_VALUE}) IN ('integer', 'real') THEN {_SCORE_VALUE} END)"
    ),
    "stringValue": _string(f"(CASE WHEN typeof({_SCORE_VALUE}) = 'text' THEN {_SCORE_VALUE} END)"),
    "userId": _of_trace("scores", "user_id", _STRING),
    "traceName": _of_trace("scores", "name", _STRING),
    "traceEnvironment": _of_trace("scores", "environment", _STRING),
    "tags": _of_trace("scores", "tags", _ARRAY),
    "traceTags": _of_trace("scores", "tags", _ARRAY),
    **_metadata("scores"),
}
