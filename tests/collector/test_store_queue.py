"""Writes queued on the store's thread: reads see them, the queue is bounded, failures logged.

The OTLP route answers once its write is queued (the server also answers before storing); what
makes that safe is that every later read runs after it on the same thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from langfuse_async._collector import Collector
from langfuse_async._collector._store import Store
from langfuse_async._collector._store_async import MAX_QUEUED_WRITES, AsyncStore

from .test_collector_otlp import PK, ROOT, SK, example, send

pytestmark = pytest.mark.anyio


def blocked_until(gate: threading.Event) -> Callable[[Store], None]:
    def wait(store: Store) -> None:
        assert gate.wait(30), "the test never opened the gate"

    return wait


def insert(event_id: str) -> Callable[[Store], None]:
    def write(store: Store) -> None:
        store._conn.execute(
            "INSERT INTO scores (id, doc) VALUES (?, ?)", (event_id, json.dumps({"id": event_id}))
        )

    return write


async def test_a_read_queued_after_a_write_sees_it(tmp_path: Path) -> None:
    store = AsyncStore(tmp_path / "c.db")
    await store.open()
    gate = threading.Event()
    try:
        await store.queue(blocked_until(gate), "a blocker")
        await store.queue(insert("s1"), "a score")
        read = asyncio.ensure_future(
            store.run(lambda s: s._conn.execute("SELECT id FROM scores").fetchall())
        )
        for _ in range(5):
            await asyncio.sleep(0)
        assert not read.done()  # queued behind the writes
        gate.set()
        assert await read == [("s1",)]
    finally:
        gate.set()
        await store.close()


async def test_queued_writes_are_bounded(tmp_path: Path) -> None:
    store = AsyncStore(tmp_path / "c.db")
    await store.open()
    gate = threading.Event()
    try:
        await store.queue(blocked_until(gate), "a blocker")
        for index in range(MAX_QUEUED_WRITES - 1):
            await store.queue(insert(f"s{index}"), "a score")
        extra = asyncio.ensure_future(store.queue(insert("extra"), "a score"))
        for _ in range(5):
            await asyncio.sleep(0)
        assert not extra.done()  # waits for a slot: the client's answer waits with it
        gate.set()
        await extra
        rows = await store.run(lambda s: s._conn.execute("SELECT COUNT(*) FROM scores").fetchone())
        assert rows == (MAX_QUEUED_WRITES,)
    finally:
        gate.set()
        await store.close()


async def test_a_failed_queued_write_is_logged_and_frees_its_slot(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = AsyncStore(tmp_path / "c.db")
    await store.open()

    def broken(s: Store) -> None:
        raise RuntimeError("disk on fire")

    try:
        with caplog.at_level(logging.ERROR, logger="langfuse_async"):
            for _ in range(MAX_QUEUED_WRITES + 1):  # more than the slots: each failure frees one
                await store.queue(broken, "an OTLP export of 3 span(s)")
            await store.run(lambda s: None)  # runs after them
        failures = [
            r for r in caplog.records if "storing an OTLP export of 3 span(s) failed" in r.message
        ]
        assert len(failures) >= MAX_QUEUED_WRITES
    finally:
        await store.close()


async def test_an_otlp_export_is_answered_before_its_write_runs_and_read_after_it() -> None:
    gate = threading.Event()
    async with (
        Collector(public_key=PK, secret_key=SK) as collector,
        aiohttp.ClientSession() as http,
    ):
        store = collector._store
        assert store is not None
        await store.queue(blocked_until(gate), "a blocker")  # the store's thread is busy
        try:
            # Bounded only to fail instead of hanging, were the answer to wait for the write.
            status, _ = await asyncio.wait_for(send(http, collector, example()), 30)
            assert status == 200  # answered while its write waits in the queue
            assert collector.event_count > 0
            observations = asyncio.ensure_future(collector.observations())
            for _ in range(5):
                await asyncio.sleep(0)
            assert not observations.done()  # the read waits behind the write
        finally:
            gate.set()
        assert ROOT in {observation.id for observation in await observations}


def test_a_write_the_disk_cannot_hold_fails_with_its_own_error_and_the_store_goes_on(
    tmp_path: Path,
) -> None:
    from .test_collector_otlp import export, span
    from .test_store_prepared import otlp

    store = Store(tmp_path / "c.db")
    try:
        pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
        store._conn.execute(f"PRAGMA max_page_count = {pages + 8}").fetchone()  # a full disk
        big = {"langfuse.observation.type": "span", "langfuse.observation.input": "y" * 200_000}
        # SQLite rolls such a transaction back itself: the error logged (or answered) must be
        # the disk's, not a failed ROLLBACK hiding it.
        with pytest.raises(sqlite3.OperationalError, match="full"):
            store.write(otlp(export(span(ROOT, "root", big))))
        assert not store._conn.in_transaction
        store._conn.execute("PRAGMA max_page_count = 1000000").fetchone()  # space again
        store.write(otlp(example()))
        ids = {row[0] for row in store._conn.execute("SELECT id FROM observations")}
        assert ROOT in ids
    finally:
        store.close()


def test_a_file_store_checkpoints_its_log_every_16_mib_not_every_commit(tmp_path: Path) -> None:
    # At SQLite's default (1,000 pages) every second or third OTLP export paid for a checkpoint.
    path = tmp_path / "c.db"
    Store(path).close()
    store = Store(path)  # reopened: the setting is the connection's, made on every open
    try:
        conn = store._conn
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 4096
        doc = json.dumps({"text": "x" * 3000})
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO scores (id, doc) VALUES (?, ?)", ((f"s{i}", doc) for i in range(2000))
        )
        conn.execute("COMMIT")  # ~2,000 pages: past the default, below ours
        # No checkpoint ran: the pages are in the log, not yet in the database file.
        assert path.stat().st_size < 1024 * 1024 < (tmp_path / "c.db-wal").stat().st_size
    finally:
        store.close()
