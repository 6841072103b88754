"""SQLite storage: accepted events, the entities merged from them, and paged, filtered reads.

Every accepted event is kept in ``events`` under its entity and envelope id, so a retried batch
(same envelope ids) replaces its earlier copy instead of adding to it. A write stores a whole
request's events in one transaction and then rebuilds each entity it touched once (see
:mod:`._merge`): an entity seen for the first time is merged from the request's events alone,
one that existed is re-read in one query per request. The costly part of a write (encoding
the events, merging new entities) is :func:`._prepare.prepare_write`, a pure function the
server runs where it validates, off the store's thread; :meth:`Store.write` then only writes.
An entity written by one event keeps that event's payload in its document only (see
:data:`._prepare.FROM_DOC`), completed here when another event arrives. Entities are
kept as JSON documents in the public API's field names, next to the columns reads filter,
sort and page on in SQL.

A :class:`Store` is synchronous and belongs to one thread; :class:`._store_async.AsyncStore`
owns that thread and is what the server uses, so blocking SQLite work never runs on the event
loop and every write is serialised in one place. Under ``serve`` the store lives in a process
of its own (:mod:`._store_process`), which that thread calls in the same order.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, Final

from ._merge import merge_events
from ._prepare import (
    FROM_DOC,
    TABLE_OF,
    PendingEvent,
    PreparedRow,
    PreparedWrite,
    complete_event,
    prepare_write,
)
from ._queries import Queries, TraceSummary
from ._sqlite import (
    APPLICATION_ID,
    COLUMNS,
    INDEXES,
    ROW_OF,
    SCHEMA,
    TABLES,
    chunks,
    dumps,
    loads,
    marks,
)
from ._web_queries import WebQueries

__all__ = [
    "APPLICATION_ID",
    "FROM_DOC",
    "ForeignDatabase",
    "PendingEvent",
    "PreparedRow",
    "PreparedWrite",
    "Store",
    "TraceSummary",
    "prepare_write",
]


#: Pages in the write-ahead log that start a checkpoint (4 KiB pages: 16 MiB).
WAL_CHECKPOINT_PAGES: Final = 4096
#: The size the write-ahead log's file is trimmed to after a checkpoint, in bytes.
WAL_SIZE_LIMIT: Final = 32 * 1024 * 1024


class ForeignDatabase(ValueError):
    """The SQLite file exists but was not written by the collector."""


class Store(Queries, WebQueries):
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
        ours = marked or names == set(TABLES)  # unmarked: written by an older collector
        if names and not ours:
            raise ForeignDatabase(
                f"{self.path} is not a langfuse-async database (it holds other tables: "
                f"{', '.join(sorted(names - set(TABLES))[:5]) or 'none of ours'}); "
                "give the collector a file of its own"
            )
        if not create:
            if not names.issuperset(TABLES):
                raise ForeignDatabase(f"{self.path} is not a langfuse-async database")
            # Our own file: the read columns an older collector lacked may be added.
            self._upgrade()
            return
        if self.path != ":memory:":
            # WAL lets the `traces` command read while a server writes.
            conn.execute("PRAGMA journal_mode=WAL")
            # A 512-span OTLP export writes 300-500 pages: at SQLite's default (a checkpoint,
            # and its fsyncs, after a commit past 1,000 pages) every second or third export paid
            # for one. Every 16 MiB instead: an export's write takes about half as long, and a
            # read queued behind a checkpoint waits ~50 ms at worst. The file left behind by a
            # checkpoint is trimmed to 32 MiB.
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        conn.executescript(SCHEMA)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        self._upgrade()
        conn.executescript(INDEXES)

    def _upgrade(self) -> None:
        """Add the read columns an older collector file lacks, filled from its documents."""
        for table, columns in COLUMNS.items():
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
        return self.write(prepare_write(pending))

    def write(self, prepared: PreparedWrite) -> int:
        """Store a prepared request in one transaction (see :func:`prepare_write`).

        Returns:
            The number of events written (new or replacing an earlier copy).
        """
        if not prepared.rows:
            return 0
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            keys = list(dict.fromkeys((row[0], row[1]) for row in prepared.rows))
            existing = self._existing(keys)
            rows: dict[tuple[str, str, str], tuple[Any, ...]] = {}
            for (
                entity,
                body_id,
                envelope_id,
                kind,
                ts_ms,
                is_update,
                shallow,
                text,
                compact,
            ) in prepared.rows:
                if shallow and (entity, body_id) in existing:
                    continue
                if compact and (entity, body_id) in existing:
                    # The entity had events: it is merged again, so this one is kept whole
                    # (its document was merged from this request alone).
                    doc = loads(prepared.docs[(entity, body_id)][-1])
                    text = dumps(complete_event(loads(text), doc))
                key = (entity, body_id, envelope_id)
                earlier = rows.get(key)
                if earlier is None:
                    self._seq += 1
                seq = earlier[6] if earlier is not None else self._seq
                rows[key] = (entity, body_id, envelope_id, kind, ts_ms, is_update, seq, text)
            conn.executemany(
                "INSERT INTO events (entity, body_id, envelope_id, type, ts_ms, is_update,"
                " seq, event) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (entity, body_id, envelope_id) DO UPDATE SET"
                " type = excluded.type, ts_ms = excluded.ts_ms,"
                " is_update = excluded.is_update, event = excluded.event",
                list(rows.values()),
            )
            self._rebuild(list(rows.values()), existing, prepared.docs)
            conn.execute("COMMIT")
        except BaseException:
            # SQLite has rolled back already after some failures (a full disk, an I/O error):
            # a ROLLBACK then fails and would hide the error that matters.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return len(rows)

    def _existing(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        by_entity: dict[str, list[str]] = {}
        for entity, body_id in keys:
            by_entity.setdefault(entity, []).append(body_id)
        for entity, ids in by_entity.items():
            for chunk in chunks(ids):
                found.update(
                    (entity, row[0])
                    for row in self._conn.execute(
                        f"SELECT DISTINCT body_id FROM events WHERE entity = ?"
                        f" AND body_id IN ({marks(len(chunk))})",
                        (entity, *chunk),
                    )
                )
        return found

    def _rebuild(
        self,
        rows: list[tuple[Any, ...]],
        existing: set[tuple[str, str]],
        prepared: dict[tuple[str, str], tuple[Any, ...]],
    ) -> None:
        # An entity new in this request was merged from the request's rows alone (prepared);
        # one that existed is read back whole (its older events included) in one query per
        # chunk and merged again.
        docs: dict[tuple[str, str], tuple[Any, ...] | None] = {}
        old: dict[str, list[str]] = {}
        for row in rows:  # in arrival order, so rowids (the tie-break of reads) follow it
            key = (row[0], row[1])
            if key in docs:
                continue
            if key in existing:
                docs[key] = None
                old.setdefault(row[0], []).append(row[1])
            else:
                docs[key] = prepared[key]
        for entity, ids in old.items():
            events: dict[str, list[tuple[tuple[float, int, int], dict[str, Any]]]] = {}
            partial: list[tuple[str, str, dict[str, Any]]] = []
            for chunk in chunks(ids):
                for body_id, envelope_id, ts, is_update, seq, text in self._conn.execute(
                    "SELECT body_id, envelope_id, ts_ms, is_update, seq, event FROM events"
                    f" WHERE entity = ? AND body_id IN ({marks(len(chunk))})",
                    (entity, *chunk),
                ):
                    event = loads(text)
                    if FROM_DOC in event:
                        partial.append((body_id, envelope_id, event))
                    events.setdefault(body_id, []).append(((ts, is_update, seq), event))
            if partial:
                self._complete_stored(entity, partial)
            row_of = ROW_OF[TABLE_OF[entity]]
            for body_id, entries in events.items():
                entries.sort(key=lambda entry: entry[0])
                docs[(entity, body_id)] = row_of(
                    merge_events(entity, body_id, [event for _, event in entries])
                )
        by_table: dict[str, list[tuple[Any, ...]]] = {table: [] for table in TABLE_OF.values()}
        for (entity, _), doc_row in docs.items():
            if doc_row is not None:
                by_table[TABLE_OF[entity]].append(doc_row)
        for table, table_rows in by_table.items():
            self._write_docs(table, table_rows)

    def stored_events(self) -> list[tuple[str, str, float, int, int, dict[str, Any]]]:
        """Every stored event, whole, as ``(entity, body id, ts_ms, is_update, seq, event)``.

        Events stored without what their entity's document holds come back completed: this
        is what a merge of an entity reads (tests rebuild every document from it).
        """
        result = []
        docs: dict[tuple[str, str], dict[str, Any]] = {}
        for entity, body_id, ts, is_update, seq, text in self._conn.execute(
            "SELECT entity, body_id, ts_ms, is_update, seq, event FROM events ORDER BY rowid"
        ):
            event = loads(text)
            if FROM_DOC in event:
                key = (entity, body_id)
                if key not in docs:
                    [(doc,)] = self._conn.execute(
                        f"SELECT doc FROM {TABLE_OF[entity]} WHERE id = ?", (body_id,)
                    ).fetchall()
                    docs[key] = loads(doc)
                event = complete_event(event, docs[key])
            result.append((entity, body_id, ts, is_update, seq, event))
        return result

    def _complete_stored(self, entity: str, partial: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Complete stored events that left fields to their entity's document, and store them
        whole: the document is about to be merged again from more than that one event."""
        table = TABLE_OF[entity]
        ids = list(dict.fromkeys(body_id for body_id, _, _ in partial))
        docs: dict[str, dict[str, Any]] = {}
        for chunk in chunks(ids):
            docs.update(
                (row[0], loads(row[1]))
                for row in self._conn.execute(
                    f"SELECT id, doc FROM {table} WHERE id IN ({marks(len(chunk))})", chunk
                )
            )
        self._conn.executemany(
            "UPDATE events SET event = ? WHERE entity = ? AND body_id = ? AND envelope_id = ?",
            [
                # A document is written with every event; were one missing, the event would
                # merge without the fields it left to it rather than fail the write.
                (dumps(complete_event(event, docs.get(body_id, {}))), entity, body_id, envelope_id)
                for body_id, envelope_id, event in partial
            ],
        )

    def _write_docs(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        names = ["id", *COLUMNS[table], "doc"]
        self._conn.executemany(
            f"INSERT OR REPLACE INTO {table} ({', '.join(names)}) VALUES ({marks(len(names))})",
            rows,
        )
