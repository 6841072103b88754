"""SQLite storage: accepted events, and the entities merged from them like the Langfuse worker.

Every accepted event is kept in ``events`` under its entity and envelope id, so a retried batch
(same envelope ids) replaces its earlier copy instead of adding to it. After each write the
touched entities are rebuilt from all of their events: sorted by envelope timestamp with
creates before updates on ties, later values win, empty objects keep the old value, metadata is
deep-merged and tags are unioned. The result is one JSON document per trace, observation and
score, in the public API's field names.

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
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from ._validate import OBSERVATION_TYPES, UPDATE_TYPES, entity_of, iso_ms, timestamp_ms
from ._web_queries import WebQueries

__all__ = ["AsyncStore", "ForeignDatabase", "PendingEvent", "Store"]

T = TypeVar("T")

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
CREATE TABLE IF NOT EXISTS traces (
    id TEXT PRIMARY KEY,
    timestamp TEXT,
    name TEXT,
    user_id TEXT,
    session_id TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS traces_by_time ON traces (timestamp);
CREATE TABLE IF NOT EXISTS observations (
    id TEXT PRIMARY KEY,
    trace_id TEXT,
    type TEXT,
    name TEXT,
    start_time TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS observations_by_trace ON observations (trace_id);
CREATE TABLE IF NOT EXISTS scores (
    id TEXT PRIMARY KEY,
    trace_id TEXT,
    observation_id TEXT,
    name TEXT,
    timestamp TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS scores_by_trace ON scores (trace_id);
"""

_OBSERVATION_KEYS = (
    "traceId",
    "name",
    "startTime",
    "endTime",
    "completionStartTime",
    "model",
    "modelParameters",
    "input",
    "output",
    "metadata",
    "level",
    "statusMessage",
    "parentObservationId",
    "version",
    "environment",
    "usageDetails",
    "costDetails",
    "promptName",
    "promptVersion",
)
_TRACE_KEYS = (
    "timestamp",
    "name",
    "externalId",
    "input",
    "output",
    "sessionId",
    "userId",
    "environment",
    "metadata",
    "release",
    "version",
    "public",
    "tags",
)
_SCORE_KEYS = (
    "name",
    "value",
    "dataType",
    "traceId",
    "observationId",
    "sessionId",
    "datasetRunId",
    "environment",
    "comment",
    "metadata",
    "source",
    "configId",
    "queueId",
)
_TIME_KEYS = ("timestamp", "startTime", "endTime", "completionStartTime")
# Keys whose explicit null is a value (a score's comment is cleared by sending null).
_NULLABLE_KEYS = frozenset({"comment"})


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


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _metadata_map(value: Any) -> dict[str, Any] | None:
    # The worker keeps metadata as a map; a non-object value lands under the "metadata" key.
    if value is None:
        return None
    if isinstance(value, dict):
        return value
    return {"metadata": value}


def _deep_merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    merged = dict(old)
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _fold(result: dict[str, Any], record: dict[str, Any]) -> None:
    """Merge one event's record into the entity, the way the worker's overwrite does."""
    for key, value in record.items():
        if value is None and key not in _NULLABLE_KEYS:
            continue
        if key == "metadata":
            new = _metadata_map(value)
            if new is None:
                continue
            old = result.get("metadata")
            result["metadata"] = _deep_merge(old, new) if isinstance(old, dict) else new
        elif key == "tags":
            result["tags"] = sorted(set(result.get("tags") or ()) | set(value))
        elif isinstance(value, dict) and not value:
            continue
        else:
            result[key] = value


def _with_total(details: dict[str, Any]) -> dict[str, Any]:
    if details and "total" not in details:
        return {**details, "total": sum(details.values())}
    return details


def _observation_record(event: dict[str, Any]) -> dict[str, Any]:
    body = event["body"]
    record = {key: body[key] for key in _OBSERVATION_KEYS if key in body}
    usage = body.get("usage")
    if isinstance(usage, dict):
        if body.get("usageDetails") is None:
            record["usageDetails"] = {
                key: usage[key]
                for key in ("input", "output", "total")
                if usage.get(key) is not None
            }
        if body.get("costDetails") is None:
            record["costDetails"] = {
                side: usage[f"{side}Cost"]
                for side in ("input", "output", "total")
                if usage.get(f"{side}Cost") is not None
            }
    return record


def merge_events(entity: str, body_id: str, events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Merge an entity's events (already in processing order) into its document.

    Args:
        entity: ``trace``, ``observation`` or ``score``.
        body_id: The entity id.
        events: The kept events, sorted by timestamp with creates first on ties.

    Returns:
        The entity document in the public API's field names.
    """
    doc: dict[str, Any] = {"id": body_id}
    first_timestamp = iso_ms(events[0]["timestamp"]) if events else None
    for event in events:
        body = event["body"]
        if entity == "trace":
            _fold(doc, {key: body[key] for key in _TRACE_KEYS if key in body})
        elif entity == "score":
            _fold(doc, {key: body[key] for key in _SCORE_KEYS if key in body})
            doc["timestamp"] = iso_ms(event["timestamp"])
        else:
            _fold(doc, _observation_record(event))
            event_type = event["type"]
            if event_type in ("observation-create", "observation-update"):
                observation_type: str | None = body.get("type")
            else:
                observation_type = OBSERVATION_TYPES.get(event_type)
            # A create decides the type; an update only fills it in when no create arrived.
            if observation_type and (event_type not in UPDATE_TYPES or "type" not in doc):
                doc["type"] = observation_type
    for key in _TIME_KEYS:
        if isinstance(doc.get(key), str):
            doc[key] = iso_ms(doc[key])
    if entity == "trace":
        doc.setdefault("timestamp", first_timestamp)
        doc.setdefault("tags", [])
        doc.setdefault("public", False)
        doc.setdefault("environment", "default")
    elif entity == "observation":
        doc.setdefault("type", "SPAN")
        doc.setdefault("startTime", first_timestamp)
        doc.setdefault("level", "DEFAULT")
        doc.setdefault("environment", "default")
        doc["usageDetails"] = _with_total(dict(doc.get("usageDetails") or {}))
        doc["costDetails"] = _with_total(dict(doc.get("costDetails") or {}))
    else:
        value = doc.get("value")
        if "dataType" not in doc:
            doc["dataType"] = "CATEGORICAL" if isinstance(value, str) else "NUMERIC"
        doc.setdefault("environment", "default")
        doc.setdefault("source", "API")
    return doc


class ForeignDatabase(Exception):
    """The SQLite file exists but was not written by the collector."""


_TABLES = ("events", "traces", "observations", "scores")


class Store(WebQueries):
    """The collector's SQLite database, used from one thread only.

    Args:
        path: A file path, or ``":memory:"`` for a private in-memory database.
        create: Create the tables (and switch the file to WAL) when missing. With False the
            file is only read and written as it is, and one without the collector's tables
            raises :class:`ForeignDatabase` instead of being changed.

    Raises:
        sqlite3.Error: The file cannot be opened or is not a SQLite database.
        ForeignDatabase: ``create`` is False and the collector's tables are missing.
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
        conn.row_factory = sqlite3.Row
        if self.path != ":memory:":
            conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA synchronous=NORMAL")
        if not create:
            names = {
                row[0]
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            if not names.issuperset(_TABLES):
                raise ForeignDatabase(f"{self.path} is not a langfuse-async database")
            return
        if self.path != ":memory:":
            # WAL lets the `traces` command read while a server writes.
            conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_SCHEMA)

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
        written = 0
        touched: dict[tuple[str, str], None] = {}  # ordered: rebuilds (and rowids) follow arrival
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for item in pending:
                body_id = item.body_id
                if body_id is None:
                    continue
                entity = item.entity
                if item.shallow:
                    exists = conn.execute(
                        "SELECT 1 FROM events WHERE entity = ? AND body_id = ? LIMIT 1",
                        (entity, body_id),
                    ).fetchone()
                    if exists:
                        continue
                event = item.event
                self._seq += 1
                conn.execute(
                    "INSERT INTO events (entity, body_id, envelope_id, type, ts_ms, is_update,"
                    " seq, event) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (entity, body_id, envelope_id) DO UPDATE SET"
                    " type = excluded.type, ts_ms = excluded.ts_ms,"
                    " is_update = excluded.is_update, event = excluded.event",
                    (
                        entity,
                        body_id,
                        event["id"],
                        event["type"],
                        timestamp_ms(event["timestamp"]),
                        1 if event["type"] in UPDATE_TYPES else 0,
                        self._seq,
                        _dumps(event),
                    ),
                )
                written += 1
                touched[(entity, body_id)] = None
            for entity, body_id in touched:
                self._rebuild(entity, body_id)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return written

    def _rebuild(self, entity: str, body_id: str) -> None:
        rows = self._conn.execute(
            "SELECT event FROM events WHERE entity = ? AND body_id = ?"
            " ORDER BY ts_ms, is_update, seq",
            (entity, body_id),
        ).fetchall()
        doc = merge_events(entity, body_id, [json.loads(row[0]) for row in rows])
        if entity == "trace":
            self._conn.execute(
                "INSERT OR REPLACE INTO traces (id, timestamp, name, user_id, session_id, doc)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    body_id,
                    doc.get("timestamp"),
                    doc.get("name"),
                    doc.get("userId"),
                    doc.get("sessionId"),
                    _dumps(doc),
                ),
            )
        elif entity == "observation":
            self._conn.execute(
                "INSERT OR REPLACE INTO observations (id, trace_id, type, name, start_time, doc)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    body_id,
                    doc.get("traceId"),
                    doc.get("type"),
                    doc.get("name"),
                    doc.get("startTime"),
                    _dumps(doc),
                ),
            )
        else:
            self._conn.execute(
                "INSERT OR REPLACE INTO scores (id, trace_id, observation_id, name, timestamp, doc)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    body_id,
                    doc.get("traceId"),
                    doc.get("observationId"),
                    doc.get("name"),
                    doc.get("timestamp"),
                    _dumps(doc),
                ),
            )

    # --- reads -----------------------------------------------------------------------------

    def _docs(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        return [json.loads(row[0]) for row in self._conn.execute(sql, params).fetchall()]

    def traces(
        self,
        *,
        trace_id: str | None = None,
        name: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Trace documents matching the filters, newest first."""
        clauses, params = _where(id=trace_id, name=name, user_id=user_id, session_id=session_id)
        return self._docs(f"SELECT doc FROM traces{clauses} ORDER BY timestamp DESC", params)

    def observations(
        self,
        *,
        trace_id: str | None = None,
        type: str | None = None,
        name: str | None = None,
        observation_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Observation documents matching the filters, by start time."""
        clauses, params = _where(trace_id=trace_id, type=type, name=name, id=observation_id)
        return self._docs(
            f"SELECT doc FROM observations{clauses} ORDER BY start_time, rowid", params
        )

    def scores(
        self,
        *,
        trace_id: str | None = None,
        name: str | None = None,
        observation_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Score documents matching the filters, by timestamp."""
        clauses, params = _where(trace_id=trace_id, name=name, observation_id=observation_id)
        return self._docs(f"SELECT doc FROM scores{clauses} ORDER BY timestamp, rowid", params)

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


def _where(**filters: str | None) -> tuple[str, list[Any]]:
    clauses = [f"{column} = ?" for column, value in filters.items() if value is not None]
    params = [value for value in filters.values() if value is not None]
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


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
