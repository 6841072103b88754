"""SQLite storage: accepted events, the entities merged from them, and paged, filtered reads.

Every accepted event is kept in ``events`` under its entity and envelope id, so a retried batch
(same envelope ids) replaces its earlier copy instead of adding to it. A write stores a whole
request's events in one transaction and then rebuilds each entity it touched once (see
:mod:`._merge`): an entity seen for the first time is merged from the request's events alone,
one that existed is re-read in one query per request. Entities are kept as JSON documents in
the public API's field names, next to the columns reads filter, sort and page on in SQL.

A :class:`Store` is synchronous and belongs to one thread; :class:`AsyncStore` owns that thread
and is what the server uses, so blocking SQLite work never runs on the event loop and every
write is serialised in one place.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final, TypeVar

import msgspec

from ._merge import merge_events
from ._validate import UPDATE_TYPES, entity_of, timestamp_ms

__all__ = [
    "APPLICATION_ID",
    "AsyncStore",
    "ForeignDatabase",
    "PendingEvent",
    "Store",
    "TraceSummary",
]

T = TypeVar("T")

#: ``PRAGMA application_id`` of a collector database ("LFAS"): how a file is known as ours.
APPLICATION_ID: Final = 0x4C464153

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    entity TEXT NOT NULL,
    body_id TEXT NOT NULL,
    envelope_id TEXT NOT NULL,
    type TEXT NOT NULL,
    ts_ms REAL NOT NULL,
    is_update INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (entity, body_id, envelope_id)
);
CREATE TABLE IF NOT EXISTS traces (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS observations (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scores (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
"""

#: The columns reads use, by table: column -> the document field it copies. Added to older
#: collector files on open (and filled from their documents).
_COLUMNS: Final[dict[str, dict[str, str]]] = {
    "traces": {
        "timestamp": "$.timestamp",
        "name": "$.name",
        "user_id": "$.userId",
        "session_id": "$.sessionId",
        "environment": "$.environment",
        "release": "$.release",
        "version": "$.version",
        "tags": "$.tags",
    },
    "observations": {
        "trace_id": "$.traceId",
        "type": "$.type",
        "name": "$.name",
        "start_time": "$.startTime",
        "end_time": "$.endTime",
        "level": "$.level",
        "parent_id": "$.parentObservationId",
        "version": "$.version",
        "environment": "$.environment",
        "total_cost": "$.costDetails.total",
    },
    "scores": {
        "trace_id": "$.traceId",
        "observation_id": "$.observationId",
        "session_id": "$.sessionId",
        "dataset_run_id": "$.datasetRunId",
        "name": "$.name",
        "timestamp": "$.timestamp",
        "source": "$.source",
        "data_type": "$.dataType",
        "environment": "$.environment",
        "config_id": "$.configId",
        "queue_id": "$.queueId",
    },
}
_INDEXES = """
CREATE INDEX IF NOT EXISTS traces_by_time ON traces (timestamp);
CREATE INDEX IF NOT EXISTS traces_by_session ON traces (session_id);
CREATE INDEX IF NOT EXISTS traces_by_user ON traces (user_id);
CREATE INDEX IF NOT EXISTS observations_by_trace ON observations (trace_id);
CREATE INDEX IF NOT EXISTS observations_by_start ON observations (start_time);
CREATE INDEX IF NOT EXISTS scores_by_trace ON scores (trace_id);
CREATE INDEX IF NOT EXISTS scores_by_time ON scores (timestamp);
"""
_TABLES = ("events", "traces", "observations", "scores")
# SQLite's default limit of bound parameters is 999 on old builds: stay well below it.
_CHUNK = 400
_encoder = msgspec.json.Encoder()


def _dumps(value: Any) -> str:
    try:
        return _encoder.encode(value).decode()
    except (msgspec.EncodeError, UnicodeEncodeError, OverflowError):
        # A lone surrogate or an integer beyond 64 bits: the standard library copes.
        return json.dumps(value, separators=(",", ":"))


def _loads(text: str) -> Any:
    return msgspec.json.decode(text)


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _marks(count: int) -> str:
    return ",".join("?" * count)


@dataclasses.dataclass(frozen=True)
class PendingEvent:
    """A validated event ready to be stored.

    Attributes:
        event: The kept event: ``{"id", "type", "timestamp", "body"}``.
        shallow: Store it only when its entity has no event yet (the OTLP converter's
            placeholder trace, which must never overwrite a real one).
    """

    event: dict[str, Any]
    shallow: bool = False

    @property
    def entity(self) -> str:
        """The entity type the event writes."""
        return entity_of(self.event["type"])

    @property
    def body_id(self) -> str | None:
        """The entity id, or None when the body has none (then nothing is stored)."""
        body_id = self.event["body"].get("id")
        return body_id if isinstance(body_id, str) and body_id else None


class ForeignDatabase(Exception):
    """The SQLite file exists but was not written by the collector."""


@dataclasses.dataclass
class _Row:
    # One event row about to be written; `order` is the key entities are merged in.
    entity: str
    body_id: str
    event: dict[str, Any]
    ts_ms: float
    is_update: int
    seq: int

    @property
    def order(self) -> tuple[float, int, int]:
        return (self.ts_ms, self.is_update, self.seq)

    def params(self) -> tuple[Any, ...]:
        event = self.event
        return (
            self.entity,
            self.body_id,
            event["id"],
            event["type"],
            self.ts_ms,
            self.is_update,
            self.seq,
            _dumps(event),
        )


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
            self.clauses.append(f"{column} IN ({_marks(len(values))})")
            self.params.extend(values)

    def compare(self, column: str, operator: str, value: object) -> None:
        if value is not None:
            self.clauses.append(f"{column} {operator} ?")
            self.params.append(value)

    def raw(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    @property
    def where(self) -> str:
        return (" WHERE " + " AND ".join(self.clauses)) if self.clauses else ""


class Store:
    """The collector's SQLite database, used from one thread only.

    Args:
        path: A file path, or ``":memory:"`` for a private in-memory database.
        create: Create the tables (and switch the file to WAL) when missing. With False the
            file is only read as it is, and one without the collector's tables raises
            :class:`ForeignDatabase` instead of being changed.

    Raises:
        sqlite3.Error: The file cannot be opened or is not a SQLite database.
        ForeignDatabase: The file is another application's database (it has tables, and is
            neither marked as the collector's nor holds exactly the collector's tables), or
            ``create`` is False and the collector's tables are missing.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path = os.fspath(path)
        self._conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            self._setup(create)
        except BaseException:
            self._conn.close()
            raise
        row = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
        self._seq = int(row[0])

    def _setup(self, create: bool) -> None:
        conn = self._conn
        if self.path != ":memory:":
            conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA synchronous=NORMAL")
        names = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        marked = conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        ours = marked or names == set(_TABLES)  # unmarked: written by an older collector
        if names and not ours:
            raise ForeignDatabase(
                f"{self.path} is not a langfuse-async database (it holds other tables: "
                f"{', '.join(sorted(names - set(_TABLES))[:5]) or 'none of ours'}); "
                "give the collector a file of its own"
            )
        if not create:
            if not names.issuperset(_TABLES):
                raise ForeignDatabase(f"{self.path} is not a langfuse-async database")
            # Our own file: the read columns an older collector lacked may be added.
            self._upgrade()
            return
        if self.path != ":memory:":
            # WAL lets the `traces` command read while a server writes.
            conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_SCHEMA)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        self._upgrade()
        conn.executescript(_INDEXES)

    def _upgrade(self) -> None:
        """Add the read columns an older collector file lacks, filled from its documents."""
        for table, columns in _COLUMNS.items():
            present = {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}
            missing = [column for column in columns if column not in present]
            if not missing:
                continue
            for column in missing:
                kind = "REAL" if column == "total_cost" else "TEXT"
                self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            assignments = ", ".join(f"{c} = json_extract(doc, '{columns[c]}')" for c in missing)
            self._conn.execute(f"UPDATE {table} SET {assignments}")

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    # --- writes ----------------------------------------------------------------------------

    def apply(self, pending: Iterable[PendingEvent]) -> int:
        """Store events and rebuild every entity they touch, in one transaction.

        Events without a body id are skipped, as the server skips them.

        Returns:
            The number of events written (new or replacing an earlier copy).
        """
        items = [(item, item.body_id) for item in pending]
        items_with_id = [(item, body_id) for item, body_id in items if body_id is not None]
        if not items_with_id:
            return 0
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            keys = list(dict.fromkeys((item.entity, body_id) for item, body_id in items_with_id))
            existing = self._existing(keys)
            rows: dict[tuple[str, str, str], _Row] = {}
            for item, body_id in items_with_id:
                entity = item.entity
                if item.shallow and (entity, body_id) in existing:
                    continue
                event = {**item.event, "placeholder": True} if item.shallow else item.event
                key = (entity, body_id, event["id"])
                earlier = rows.get(key)
                if earlier is None:
                    self._seq += 1
                seq = earlier.seq if earlier is not None else self._seq
                rows[key] = _Row(
                    entity,
                    body_id,
                    event,
                    timestamp_ms(event["timestamp"]),
                    1 if event["type"] in UPDATE_TYPES else 0,
                    seq,
                )
            conn.executemany(
                "INSERT INTO events (entity, body_id, envelope_id, type, ts_ms, is_update,"
                " seq, event) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (entity, body_id, envelope_id) DO UPDATE SET"
                " type = excluded.type, ts_ms = excluded.ts_ms,"
                " is_update = excluded.is_update, event = excluded.event",
                [r.params() for r in rows.values()],
            )
            self._rebuild(list(rows.values()), existing)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return len(rows)

    def _existing(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        by_entity: dict[str, list[str]] = {}
        for entity, body_id in keys:
            by_entity.setdefault(entity, []).append(body_id)
        for entity, ids in by_entity.items():
            for chunk in _chunks(ids):
                found.update(
                    (entity, row[0])
                    for row in self._conn.execute(
                        f"SELECT DISTINCT body_id FROM events WHERE entity = ?"
                        f" AND body_id IN ({_marks(len(chunk))})",
                        (entity, *chunk),
                    )
                )
        return found

    def _rebuild(self, rows: list[_Row], existing: set[tuple[str, str]]) -> None:
        # An entity new in this request merges from the request's rows alone; one that
        # existed is read back whole (its older events included) in one query per chunk.
        events: dict[tuple[str, str], list[tuple[tuple[float, int, int], dict[str, Any]]]] = {}
        old: dict[str, list[str]] = {}
        for row in rows:  # in arrival order, so rowids (the tie-break of reads) follow it
            key = (row.entity, row.body_id)
            if key not in existing:
                events.setdefault(key, []).append((row.order, row.event))
            elif key not in events:
                events[key] = []
                old.setdefault(row.entity, []).append(row.body_id)
        for entity, ids in old.items():
            for chunk in _chunks(ids):
                for body_id, ts, is_update, seq, text in self._conn.execute(
                    "SELECT body_id, ts_ms, is_update, seq, event FROM events WHERE entity = ?"
                    f" AND body_id IN ({_marks(len(chunk))})",
                    (entity, *chunk),
                ):
                    events[(entity, body_id)].append(((ts, is_update, seq), _loads(text)))
        docs: dict[str, list[dict[str, Any]]] = {"trace": [], "observation": [], "score": []}
        for (entity, body_id), entries in events.items():
            entries.sort(key=lambda entry: entry[0])
            docs[entity].append(merge_events(entity, body_id, [event for _, event in entries]))
        for entity, table in (("trace", "traces"), ("observation", "observations")):
            self._write_docs(table, docs[entity])
        self._write_docs("scores", docs["score"])

    def _write_docs(self, table: str, docs: list[dict[str, Any]]) -> None:
        if not docs:
            return
        columns = _COLUMNS[table]
        names = ["id", *columns, "doc"]
        self._conn.executemany(
            f"INSERT OR REPLACE INTO {table} ({', '.join(names)}) VALUES ({_marks(len(names))})",
            [
                (doc["id"], *(_column(doc, path) for path in columns.values()), _dumps(doc))
                for doc in docs
            ],
        )

    # --- reads -----------------------------------------------------------------------------

    def _docs(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        return [_loads(row[0]) for row in self._conn.execute(sql, params)]

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
        oldest_first: bool = False,
        limit: int | None = None,
        offset: int = 0,
        count: bool = True,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of trace documents and how many match in all (0 when not ``count``).

        Timestamps compare as the stored ISO strings (``YYYY-MM-DDTHH:MM:SS.mmmZ``).
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
        order = "ASC" if oldest_first else "DESC"
        docs = self._docs(
            f"SELECT doc FROM traces{query.where} ORDER BY timestamp {order}, rowid {order}"
            " LIMIT ? OFFSET ?",
            [*query.params, -1 if limit is None else limit, offset],
        )
        return docs, self._count("traces", query) if count else 0

    def trace_summaries(self, trace_ids: Sequence[str]) -> dict[str, TraceSummary]:
        """Latency inputs, cost and child ids of each trace, in one query per table and chunk."""
        observations: dict[str, list[tuple[str, str | None, str | None, float | None]]] = {}
        scores: dict[str, list[str]] = {}
        for chunk in _chunks(list(trace_ids)):
            marks = _marks(len(chunk))
            for trace_id, obs_id, start, end, cost in self._conn.execute(
                "SELECT trace_id, id, start_time, COALESCE(end_time, start_time), total_cost"
                f" FROM observations WHERE trace_id IN ({marks}) ORDER BY start_time, rowid",
                chunk,
            ):
                observations.setdefault(trace_id, []).append((obs_id, start, end, cost))
            for trace_id, score_id in self._conn.execute(
                f"SELECT trace_id, id FROM scores WHERE trace_id IN ({marks})"
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
        limit: int = 50,
        offset: int = 0,
        count: bool = True,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of observation documents, newest start first, and the total matching."""
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
        filters: dict[str, str | None],
        ids: Sequence[str] = (),
        environments: Sequence[str] = (),
        user_id: str | None = None,
        from_timestamp: str | None = None,
        to_timestamp: str | None = None,
        limit: int = 50,
        offset: int = 0,
        count: bool = True,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of score documents, newest first, and the total matching.

        Args:
            filters: Column (see the ``scores`` table) -> required value; None values are ignored.
        """
        query = _Query()
        for column, value in filters.items():
            if column in _COLUMNS["scores"]:
                query.equal(column, value)
        query.one_of("id", ids)
        query.one_of("environment", environments)
        query.compare("timestamp", ">=", from_timestamp)
        query.compare("timestamp", "<", to_timestamp)
        if user_id:
            query.raw("trace_id IN (SELECT id FROM traces WHERE user_id = ?)", user_id)
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


def _column(doc: dict[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path[2:].split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, (list, dict)):
        return _dumps(value)
    if isinstance(value, bool):
        return int(value)
    return value


class AsyncStore:
    """A :class:`Store` on its own thread, awaited from the event loop.

    Every call, read or write, runs on the one thread that owns the connection, so writes from
    concurrent requests are serialised there and never interleave.

    Args:
        path: The database path, or ``":memory:"``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = path
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="langfuse-collector-db"
        )
        self._store: Store | None = None

    async def open(self) -> None:
        """Open the database on the store thread."""
        self._store = await self._run_raw(lambda: Store(self._path))

    async def close(self) -> None:
        """Close the database and stop the thread."""
        store = self._store
        self._store = None
        if store is not None:
            await self._run_raw(store.close)
        self._executor.shutdown(wait=True)

    async def _run_raw(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn)

    async def run(self, fn: Callable[[Store], T]) -> T:
        """Run ``fn(store)`` on the store thread and return its result."""
        store = self._store
        if store is None:
            raise RuntimeError("the collector's store is not open")
        return await self._run_raw(lambda: fn(store))
