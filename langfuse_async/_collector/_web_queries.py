"""The web view's reads: light rows straight from SQL, never whole documents for a list.

A mixin of :class:`~._store.Store` (it uses the store's connection, on the store's thread).
Whole-table scans (traces that only observations name, the filters' suggestions) are kept until
a row is written.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

from ._web_page import FILTER_CHARS

__all__ = ["WebQueries"]

T = TypeVar("T")

#: Indexes the list's filters use (name, user, session, each newest first).
_INDEXES: Final = """
CREATE INDEX IF NOT EXISTS web_traces_by_name ON traces (name, timestamp);
CREATE INDEX IF NOT EXISTS web_traces_by_user ON traces (user_id, timestamp);
CREATE INDEX IF NOT EXISTS web_traces_by_session ON traces (session_id, timestamp);
CREATE INDEX IF NOT EXISTS web_traces_by_tags ON traces (tags, timestamp);
"""

#: Characters every JSON encoder writes as they are (printable ASCII but the quote and the
#: backslash): a tag made of them appears verbatim in the JSON text of any array holding it.
_VERBATIM: Final = frozenset(chr(code) for code in range(0x20, 0x7F)) - {'"', "\\"}


def _tag_clause(tag: str) -> tuple[str, list[Any]]:
    """The tag filter over the ``tags`` column (a JSON array), and its parameters.

    Its index holds the column, so the filter scans the index rather than the table; a tag
    written verbatim is first looked for as text, so only candidate rows are parsed.
    """
    exact = "EXISTS (SELECT 1 FROM json_each(traces.tags) WHERE value = ?)"
    if tag and set(tag) <= _VERBATIM:
        return f"(instr(traces.tags, ?) > 0 AND {exact})", [tag, tag]
    return exact, [tag]


def _equal(**filters: str | None) -> tuple[str, list[Any]]:
    clauses = [f"{column} = ?" for column, value in filters.items() if value is not None]
    params = [value for value in filters.values() if value is not None]
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


class WebQueries:
    """The web view's read methods over the store's connection (``_conn``)."""

    _conn: sqlite3.Connection
    _web_indexed: bool = False

    def _web_execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run ``sql``; rows answer by column name too, whatever the connection's row factory."""
        cursor = self._conn.cursor()
        cursor.row_factory = sqlite3.Row
        return cursor.execute(sql, params)

    def _web_indexes(self) -> None:
        """Create the filters' indexes once (the server's own database: it may write)."""
        if not self._web_indexed:
            self._conn.executescript(_INDEXES)
            self._web_indexed = True

    #: Answers of the web view's whole-table scans, each with the marker it was computed at.
    _web_cache: dict[str, tuple[tuple[Any, ...], Any]] | None = None

    def _web_cached(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()``, kept until a row of traces or observations is written.

        A write, even a replace, raises the table's largest rowid, so the pair of largest
        rowids tells whether anything changed.
        """
        marker = tuple(
            self._web_execute(
                "SELECT (SELECT MAX(rowid) FROM traces), (SELECT MAX(rowid) FROM observations)"
            ).fetchone()
        )
        if self._web_cache is None:
            self._web_cache = {}
        cached = self._web_cache.get(key)
        if cached is None or cached[0] != marker:
            cached = self._web_cache[key] = (marker, compute())
        result: T = cached[1]
        return result

    def _web_orphan_ids(self) -> list[tuple[str, str]]:
        """``(trace id, first start time)`` of traces only observations name, newest first."""

        def compute() -> list[tuple[str, str]]:
            rows = self._web_execute(
                "SELECT trace_id, MIN(start_time) FROM observations WHERE trace_id IS NOT NULL"
                " AND trace_id NOT IN (SELECT id FROM traces) GROUP BY trace_id"
                " ORDER BY MIN(start_time) DESC, trace_id"
            ).fetchall()
            return [(row[0], row[1] or "") for row in rows]

        return self._web_cached("orphans", compute)

    def web_trace_rows(
        self,
        *,
        name: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        tag: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the trace list, newest first, and how many traces match in all.

        Trace ids that only observations name (no trace event arrived) are listed too, by their
        first start time, when no filter is set. Each row holds the trace's light fields and its
        observations' count, time span, total cost and whether one is an ERROR.
        """
        self._web_indexes()
        clauses, params = _equal(name=name, user_id=user_id, session_id=session_id)
        if tag is not None:
            clauses += " AND " if clauses else " WHERE "
            clause, tag_params = _tag_clause(tag)
            clauses += clause
            params += tag_params
        orphans = [] if params else self._web_orphan_ids()
        total = int(
            self._web_execute(f"SELECT COUNT(*) FROM traces{clauses}", params).fetchone()[0]
        )
        if orphans:
            # Rare (clients send a trace event): merge the few orphans into the first pages.
            head = self._web_execute(
                f"SELECT id, timestamp FROM traces{clauses}"
                " ORDER BY timestamp DESC, rowid DESC LIMIT ?",
                [*params, offset + limit],
            ).fetchall()
            merged = sorted(
                [(row[1] or "", False, row[0]) for row in head]
                + [(start, True, trace_id) for trace_id, start in orphans],
                key=lambda item: item[0],
                reverse=True,
            )
            page = [(trace_id, orphan) for _, orphan, trace_id in merged[offset : offset + limit]]
            total += len(orphans)
        else:
            page = [
                (row[0], False)
                for row in self._web_execute(
                    f"SELECT id FROM traces{clauses}"
                    " ORDER BY timestamp DESC, rowid DESC LIMIT ? OFFSET ?",
                    [*params, limit, offset],
                ).fetchall()
            ]
        ids = [trace_id for trace_id, _ in page]
        marks = ", ".join("?" * len(ids))
        found = {
            row["id"]: row
            for row in self._web_execute(
                "SELECT id, timestamp, substr(name, 1, 500) AS name,"
                f" substr(user_id, 1, {FILTER_CHARS + 1}) AS user_id,"
                f" substr(session_id, 1, {FILTER_CHARS + 1}) AS session_id,"
                " tags, environment AS env"
                f" FROM traces WHERE id IN ({marks})",
                ids,
            ).fetchall()
        }
        aggregates = {
            row[0]: row
            for row in self._web_execute(
                "SELECT trace_id, COUNT(*), MIN(start_time),"
                " MAX(COALESCE(json_extract(doc, '$.endTime'), start_time)),"
                " SUM(json_extract(doc, '$.costDetails.total')),"
                " MAX(json_extract(doc, '$.level') = 'ERROR')"
                f" FROM observations WHERE trace_id IN ({marks}) GROUP BY trace_id",
                ids,
            ).fetchall()
        }
        scores: dict[str, list[dict[str, Any]]] = {}
        for row in self._web_execute(
            "SELECT trace_id, substr(name, 1, 200), json_extract(doc, '$.value'),"
            f" json_extract(doc, '$.dataType') FROM scores WHERE trace_id IN ({marks})"
            " ORDER BY timestamp, rowid",
            ids,
        ).fetchall():
            scores.setdefault(row[0], []).append(
                {"name": row[1], "value": row[2], "dataType": row[3]}
            )
        result = []
        for trace_id, orphan in page:
            row = found.get(trace_id)
            aggregate = aggregates.get(trace_id)
            result.append(
                {
                    "id": trace_id,
                    "timestamp": row["timestamp"] if row else (aggregate and aggregate[2]),
                    "name": row["name"] if row else None,
                    "userId": row["user_id"] if row else None,
                    "sessionId": row["session_id"] if row else None,
                    "tags": json.loads(row["tags"]) if row and row["tags"] else [],
                    "environment": row["env"] if row else None,
                    "orphan": orphan,
                    "observationCount": int(aggregate[1]) if aggregate else 0,
                    "startTime": aggregate[2] if aggregate else None,
                    "endTime": aggregate[3] if aggregate else None,
                    "totalCost": aggregate[4] if aggregate else None,
                    "hasError": bool(aggregate[5]) if aggregate else False,
                    "scores": scores.get(trace_id, []),
                }
            )
        return result, total

    def web_observation_rows(
        self, trace_id: str, *, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """A trace's first ``limit`` observations by start time (light fields) and their count."""
        total = int(
            self._web_execute(
                "SELECT COUNT(*) FROM observations WHERE trace_id = ?", (trace_id,)
            ).fetchone()[0]
        )
        # The page's rows are chosen first, so only they have their documents read.
        rows = self._web_execute(
            "SELECT id, substr(name, 1, 500) AS name, type, start_time,"
            " json_extract(doc, '$.endTime') AS end_time,"
            " json_extract(doc, '$.completionStartTime') AS first_token,"
            " json_extract(doc, '$.parentObservationId') AS parent,"
            " json_extract(doc, '$.level') AS level,"
            " substr(json_extract(doc, '$.statusMessage'), 1, 500) AS status,"
            " substr(json_extract(doc, '$.model'), 1, 200) AS model,"
            " json_extract(doc, '$.costDetails.total') AS cost,"
            " json_extract(doc, '$.usageDetails.total') AS tokens"
            " FROM observations WHERE rowid IN (SELECT rowid FROM observations"
            " WHERE trace_id = ? ORDER BY start_time, rowid LIMIT ?)"
            " ORDER BY start_time, rowid",
            (trace_id, limit),
        ).fetchall()
        result = [
            {
                "id": row["id"],
                "name": row["name"],
                "type": row["type"] or "SPAN",
                "startTime": row["start_time"],
                "endTime": row["end_time"],
                "completionStartTime": row["first_token"],
                "parentObservationId": row["parent"],
                "level": row["level"] or "DEFAULT",
                "statusMessage": row["status"],
                "model": row["model"],
                "totalCost": row["cost"],
                "totalTokens": row["tokens"],
            }
            for row in rows
        ]
        return result, total

    def web_filter_values(self, *, recent: int = 1_000, limit: int = 200) -> dict[str, list[str]]:
        """Names, users, sessions and tags of the ``recent`` newest traces, most used first."""
        return self._web_cached(
            f"filter values {recent} {limit}", lambda: self._web_filter_values(recent, limit)
        )

    def _web_filter_values(self, recent: int, limit: int) -> dict[str, list[str]]:
        newest = f"(SELECT * FROM traces ORDER BY timestamp DESC LIMIT {int(recent)})"
        values: dict[str, list[str]] = {}
        for key, column in (("name", "name"), ("userId", "user_id"), ("sessionId", "session_id")):
            values[key] = [
                row[0]
                for row in self._web_execute(
                    f"SELECT {column} FROM {newest} WHERE {column} IS NOT NULL"
                    f" AND length({column}) <= 200 GROUP BY {column}"
                    f" ORDER BY COUNT(*) DESC, {column} LIMIT ?",
                    (limit,),
                ).fetchall()
            ]
        values["tag"] = [
            row[0]
            for row in self._web_execute(
                f"SELECT value FROM {newest} AS recent, json_each(recent.tags)"
                " WHERE length(value) <= 200 GROUP BY value ORDER BY COUNT(*) DESC, value LIMIT ?",
                (limit,),
            ).fetchall()
        ]
        return values

    def web_counts(self) -> dict[str, int]:
        """How many traces, observations and scores are stored.

        Traces count as the list does: with those only observations name (no trace event).
        """
        counts = {
            table: int(self._web_execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            for table in ("traces", "observations", "scores")
        }
        counts["traces"] += len(self._web_orphan_ids())
        return counts
