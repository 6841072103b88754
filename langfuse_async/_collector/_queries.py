"""The collector database's reads: filtered, sorted and paged in SQL, documents decoded per row.

:class:`Queries` is the read half of :class:`._store.Store` (which adds opening and writing),
kept apart so each module holds one job.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from ._sqlite import COLUMNS, chunks, loads, marks
from ._validate import timestamp_ms

__all__ = ["Queries", "TraceSummary"]


@dataclasses.dataclass(frozen=True)
class TraceSummary:
    """What a trace's observations and scores add to its read view.

    Attributes:
        start: The earliest observation start, or None without observations.
        end: The latest observation end (or start, for one still open).
        total_cost: The summed total cost of its observations.
        observation_ids: Its observation ids, by start time.
        score_ids: Its score ids, by timestamp.
    """

    start: str | None = None
    end: str | None = None
    total_cost: float = 0.0
    observation_ids: tuple[str, ...] = ()
    score_ids: tuple[str, ...] = ()


@dataclasses.dataclass
class _Query:
    """A WHERE clause built up from optional filters."""

    clauses: list[str] = dataclasses.field(default_factory=list)
    params: list[Any] = dataclasses.field(default_factory=list)

    def equal(self, column: str, value: object) -> None:
        if value is not None and value != "":
            self.clauses.append(f"{column} = ?")
            self.params.append(value)

    def one_of(self, column: str, values: Sequence[str]) -> None:
        if values:
            self.clauses.append(f"{column} IN ({marks(len(values))})")
            self.params.extend(values)

    def compare(self, column: str, operator: str, value: object) -> None:
        if value is not None:
            self.clauses.append(f"{column} {operator} ?")
            self.params.append(value)

    def raw(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def extend(self, clauses: Sequence[tuple[str, Sequence[Any]]]) -> None:
        for clause, params in clauses:
            self.raw(f"({clause})", *params)

    @property
    def where(self) -> str:
        return (" WHERE " + " AND ".join(self.clauses)) if self.clauses else ""


class Queries:
    """Read methods over an open collector database (``_conn``, set by the subclass)."""

    _conn: sqlite3.Connection

    def _docs(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        return [loads(row[0]) for row in self._conn.execute(sql, params)]

    def _count(self, table: str, query: _Query) -> int:
        sql = f"SELECT COUNT(*) FROM {table}{query.where}"
        return int(self._conn.execute(sql, query.params).fetchone()[0])

    def traces(
        self,
        *,
        trace_id: str | None = None,
        name: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Trace documents matching the filters, newest first."""
        docs, _ = self.trace_page(
            trace_id=trace_id,
            name=name,
            user_id=user_id,
            session_id=session_id,
            limit=limit,
            offset=offset,
            count=False,
        )
        return docs

    def trace_page(
        self,
        *,
        trace_id: str | None = None,
        name: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        version: str | None = None,
        release: str | None = None,
        environments: Sequence[str] = (),
        tags: Sequence[str] = (),
        from_timestamp: str | None = None,
        to_timestamp: str | None = None,
        clauses: Sequence[tuple[str, Sequence[Any]]] = (),
        oldest_first: bool = False,
        order_by: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        count: bool = True,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of trace documents and how many match in all (0 when not ``count``).

        Timestamps compare as the stored ISO strings (``YYYY-MM-DDTHH:MM:SS.mmmZ``).

        Args:
            clauses: Further SQL conditions with their parameters (see ``_filters``).
            oldest_first: Sort ascending (by ``order_by``, then by timestamp).
            order_by: An SQL expression over ``traces`` to sort by before the timestamp.
        """
        query = _Query()
        query.equal("id", trace_id)
        query.equal("name", name)
        query.equal("user_id", user_id)
        query.equal("session_id", session_id)
        query.equal("version", version)
        query.equal("release", release)
        query.one_of("environment", environments)
        for tag in tags:
            query.raw("EXISTS (SELECT 1 FROM json_each(traces.tags) WHERE value = ?)", tag)
        query.compare("timestamp", ">=", from_timestamp)
        query.compare("timestamp", "<", to_timestamp)
        query.extend(clauses)
        order = "ASC" if oldest_first else "DESC"
        first = f"{order_by} {order}, " if order_by else ""
        docs = self._docs(
            f"SELECT doc FROM traces{query.where}"
            f" ORDER BY {first}timestamp {order}, rowid {order} LIMIT ? OFFSET ?",
            [*query.params, -1 if limit is None else limit, offset],
        )
        return docs, self._count("traces", query) if count else 0

    def trace_docs(self, trace_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The documents of the traces named (those stored), by id, in one query per chunk."""
        found: dict[str, dict[str, Any]] = {}
        for chunk in chunks(sorted(set(trace_ids))):
            sql = f"SELECT doc FROM traces WHERE id IN ({marks(len(chunk))})"
            for doc in self._docs(sql, chunk):
                found[doc["id"]] = doc
        return found

    def trace_summaries(self, trace_ids: Sequence[str]) -> dict[str, TraceSummary]:
        """Latency inputs, cost and child ids of each trace, in one query per table and chunk."""
        observations: dict[str, list[tuple[str, str | None, str | None, float | None]]] = {}
        scores: dict[str, list[str]] = {}
        for chunk in chunks(list(trace_ids)):
            placeholders = marks(len(chunk))
            for trace_id, obs_id, start, end, cost in self._conn.execute(
                "SELECT trace_id, id, start_time, COALESCE(end_time, start_time), total_cost"
                f" FROM observations WHERE trace_id IN ({placeholders}) ORDER BY start_time, rowid",
                chunk,
            ):
                observations.setdefault(trace_id, []).append((obs_id, start, end, cost))
            for trace_id, score_id in self._conn.execute(
                f"SELECT trace_id, id FROM scores WHERE trace_id IN ({placeholders})"
                " ORDER BY timestamp, rowid",
                chunk,
            ):
                scores.setdefault(trace_id, []).append(score_id)
        summaries = {}
        for trace_id in trace_ids:
            rows = observations.get(trace_id, [])
            starts = [start for _, start, _, _ in rows if start]
            ends = [end for _, _, end, _ in rows if end]
            costs = [cost for _, _, _, cost in rows if isinstance(cost, (int, float))]
            summaries[trace_id] = TraceSummary(
                start=min(starts, key=timestamp_ms) if starts else None,
                end=max(ends, key=timestamp_ms) if ends else None,
                total_cost=float(sum(costs)),
                observation_ids=tuple(obs_id for obs_id, _, _, _ in rows),
                score_ids=tuple(scores.get(trace_id, ())),
            )
        return summaries

    def observations(
        self,
        *,
        trace_id: str | None = None,
        type: str | None = None,
        name: str | None = None,
        observation_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Observation documents matching the filters, by start time."""
        query = _Query()
        query.equal("trace_id", trace_id)
        query.equal("type", type)
        query.equal("name", name)
        query.equal("id", observation_id)
        return self._docs(
            f"SELECT doc FROM observations{query.where} ORDER BY start_time, rowid", query.params
        )

    def observation_page(
        self,
        *,
        trace_id: str | None = None,
        type: str | None = None,
        name: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        level: str | None = None,
        parent_id: str | None = None,
        version: str | None = None,
        environments: Sequence[str] = (),
        from_start: str | None = None,
        to_start: str | None = None,
        roots_only: bool | None = None,
        clauses: Sequence[tuple[str, Sequence[Any]]] = (),
        limit: int = 50,
        offset: int = 0,
        count: bool = True,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of observation documents, newest start first, and the total matching.

        ``clauses`` are further SQL conditions with their parameters (see ``_filters``).
        """
        query = _Query()
        query.equal("trace_id", trace_id)
        query.equal("type", type)
        query.equal("name", name)
        query.equal("level", level)
        query.equal("parent_id", parent_id)
        query.equal("version", version)
        query.one_of("environment", environments)
        query.compare("start_time", ">=", from_start)
        query.compare("start_time", "<", to_start)
        if user_id:
            query.raw("trace_id IN (SELECT id FROM traces WHERE user_id = ?)", user_id)
        if session_id:
            query.raw("trace_id IN (SELECT id FROM traces WHERE session_id = ?)", session_id)
        if roots_only is not None:
            query.raw("parent_id IS NULL" if roots_only else "parent_id IS NOT NULL")
        query.extend(clauses)
        docs = self._docs(
            f"SELECT doc FROM observations{query.where}"
            " ORDER BY start_time DESC, rowid DESC LIMIT ? OFFSET ?",
            [*query.params, limit, offset],
        )
        return docs, self._count("observations", query) if count else 0

    def scores(
        self,
        *,
        trace_id: str | None = None,
        name: str | None = None,
        observation_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Score documents matching the filters, by timestamp."""
        query = _Query()
        query.equal("trace_id", trace_id)
        query.equal("name", name)
        query.equal("observation_id", observation_id)
        return self._docs(
            f"SELECT doc FROM scores{query.where} ORDER BY timestamp, rowid", query.params
        )

    def score_page(
        self,
        *,
        filters: Mapping[str, str | Sequence[str] | None],
        ids: Sequence[str] = (),
        environments: Sequence[str] = (),
        user_id: str | None = None,
        from_timestamp: str | None = None,
        to_timestamp: str | None = None,
        clauses: Sequence[tuple[str, Sequence[Any]]] = (),
        limit: int = 50,
        offset: int = 0,
        count: bool = True,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of score documents, newest first, and the total matching.

        Args:
            filters: Column (see the ``scores`` table) -> the required value, or a list of
                values one of which is required; None values are ignored.
            clauses: Further SQL conditions with their parameters (see ``_filters``).
        """
        query = _Query()
        for column, value in filters.items():
            if column not in COLUMNS["scores"]:
                continue
            if isinstance(value, str) or value is None:
                query.equal(column, value)
            else:
                query.one_of(column, value)
        query.one_of("id", ids)
        query.one_of("environment", environments)
        query.compare("timestamp", ">=", from_timestamp)
        query.compare("timestamp", "<", to_timestamp)
        if user_id:
            query.raw("trace_id IN (SELECT id FROM traces WHERE user_id = ?)", user_id)
        query.extend(clauses)
        docs = self._docs(
            f"SELECT doc FROM scores{query.where} ORDER BY timestamp DESC, rowid DESC"
            " LIMIT ? OFFSET ?",
            [*query.params, limit, offset],
        )
        return docs, self._count("scores", query) if count else 0

    def session_page(
        self,
        *,
        session_id: str | None = None,
        environments: Sequence[str] = (),
        from_timestamp: str | None = None,
        to_timestamp: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[tuple[str, str, str]], int]:
        """Sessions (the session ids of traces), newest first: ``(id, createdAt, environment)``.

        A session is created with its first trace; its environment is that trace's.
        """
        query = _Query()
        query.raw("session_id IS NOT NULL")
        query.equal("session_id", session_id)
        query.one_of("environment", environments)
        grouped = (
            "SELECT session_id, MIN(timestamp) AS created, environment FROM traces"
            f"{query.where} GROUP BY session_id"
        )
        having = _Query()
        having.compare("created", ">=", from_timestamp)
        having.compare("created", "<", to_timestamp)
        rows = self._conn.execute(
            f"SELECT * FROM ({grouped}){having.where} ORDER BY created DESC LIMIT ? OFFSET ?",
            [*query.params, *having.params, limit, offset],
        ).fetchall()
        total = self._conn.execute(
            f"SELECT COUNT(*) FROM ({grouped}){having.where}", [*query.params, *having.params]
        ).fetchone()[0]
        return [(row[0], row[1] or "", row[2] or "default") for row in rows], int(total)

    def orphan_trace_ids(self) -> list[str]:
        """Trace ids that observations or scores name but no trace event created."""
        rows = self._conn.execute(
            "SELECT trace_id FROM observations WHERE trace_id IS NOT NULL"
            " AND trace_id NOT IN (SELECT id FROM traces)"
            " GROUP BY trace_id ORDER BY MIN(start_time) DESC"
        ).fetchall()
        return [row[0] for row in rows]

    def event_count(self) -> int:
        """The number of stored events."""
        return int(self._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
