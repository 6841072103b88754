"""The collector as a server: bounded bodies, bounded gzip, a bounded request log, its own file."""

from __future__ import annotations

import asyncio
import base64
import gzip
import io
import os
import sqlite3
import threading
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from langfuse_async._collector import Collector, _dispatch, _server
from langfuse_async._collector._http import WORK_NICENESS, Work
from langfuse_async._collector._request import BodyTooLarge, inflate_gzip
from langfuse_async._collector._store import ForeignDatabase, Store

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": "Basic " + base64.b64encode(b"pk-lf-local:sk-lf-local").decode()}
OTLP = "/api/public/otel/v1/traces"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


# --- gzip --------------------------------------------------------------------------------------


def test_inflate_gzip_reads_members_and_padding_and_refuses_what_is_broken():
    one, two = gzip.compress(b"ab"), gzip.compress(b"cd")
    assert inflate_gzip(one + two, 10) == b"abcd"
    assert inflate_gzip(one + b"\x00" * 8, 10) == b"ab"
    for broken in (b"", one[:-3], one + b"junk", b"not gzip at all"):
        with pytest.raises(ValueError):
            inflate_gzip(broken, 10)
    with pytest.raises(BodyTooLarge):
        inflate_gzip(gzip.compress(b"x" * 11), 10)


def test_a_gzip_bomb_stops_at_the_limit():
    bomb = gzip.compress(b"\x00" * (50 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 100_000
    with pytest.raises(BodyTooLarge):
        inflate_gzip(bomb, 1024 * 1024)


async def test_the_otlp_route_refuses_a_gzip_bomb(http, monkeypatch):
    # The inflated size is checked where the export is prepared.
    monkeypatch.setattr("langfuse_async._collector._otlp_prepare.OTLP_BODY_LIMIT", 1024 * 1024)
    bomb = gzip.compress(b"\x00" * (20 * 1024 * 1024), compresslevel=9)
    headers = {**AUTH, "Content-Type": "application/json", "Content-Encoding": "gzip"}
    async with Collector() as c:
        async with http.post(c.url + OTLP, data=io.BytesIO(bomb), headers=headers) as r:
            assert r.status == 413
            assert "Decompressed body exceeds" in (await r.json())["error"]
        # The server still answers (the inflating ran on the work thread, bounded).
        async with http.get(c.url + "/api/public/health") as r:
            assert r.status == 200


# --- bodies ------------------------------------------------------------------------------------


async def test_bodies_are_bounded_on_every_route_before_credentials(http, monkeypatch):
    monkeypatch.setitem(_dispatch._BODY_LIMITS, "otlp", 1000)
    monkeypatch.setattr("langfuse_async._collector._writes.OTLP_BODY_LIMIT", 1000)
    big = b"x" * (2 * 1024 * 1024)
    async with Collector() as c:
        # No credentials at all: the size is what is refused, and nothing of it is kept.
        async with http.post(c.url + OTLP, data=b"y" * 2000) as r:
            assert r.status == 413
        async with http.post(
            c.url + "/api/public/ingestion", data=io.BytesIO(b"z" * 5_000_000)
        ) as r:
            assert (r.status, await r.text()) == (413, "Body exceeded 4.5mb limit")
        async with http.post(c.url + "/api/public/traces", data=io.BytesIO(big)) as r:
            assert r.status in (401, 405)
        async with http.post(c.url + "/no/such/route", data=io.BytesIO(big)) as r:
            assert r.status == 404
        sizes = [(q.route, q.body_size, len(q.body)) for q in c.requests]
    assert sizes == [
        ("otlp", 2000, 0),
        ("ingestion", 5_000_000, 0),
        ("read", len(big), 0),
        ("other", len(big), 0),
    ]


async def test_the_request_log_is_bounded_and_its_counts_stay_exact(http, monkeypatch):
    monkeypatch.setattr(_server, "MAX_LOGGED_BODY_BYTES", 2500)
    monkeypatch.setattr(_server, "MAX_LOGGED_REQUESTS", 4)
    async with Collector() as c:
        for i in range(6):
            async with http.post(c.url + "/api/public/health", data=bytes([65 + i]) * 1000):
                pass
        await c.wait_for_requests(6, route="health")
        kept = c.requests
        assert len(kept) == 4  # the two oldest entries went
        assert [len(r.body) for r in kept] == [0, 0, 1000, 1000]
        assert [r.body_dropped for r in kept] == [True, True, False, False]
        assert kept[-1].body == b"F" * 1000 and all(r.body_size == 1000 for r in kept)
        assert "requests 6" in repr(c)


async def test_a_collector_that_does_not_track_events_keeps_no_id_of_them(http):
    # A long-running server must not grow a set of every event id it ever accepted.
    export = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "ab" * 16,
                                "spanId": f"{i:016x}",
                                "name": f"s{i}",
                                "startTimeUnixNano": "1767225600000000000",
                                "endTimeUnixNano": "1767225601000000000",
                            }
                            for i in range(1, 51)
                        ]
                    }
                ]
            }
        ]
    }
    batch = {
        "batch": [
            {
                "id": "e1",
                "type": "trace-create",
                "timestamp": "2026-01-01T00:00:00Z",
                "body": {"id": "t1"},
            }
        ]
    }
    async with Collector(track_events=False) as c:
        async with http.post(c.url + OTLP, json=export, headers=AUTH) as r:
            assert r.status == 200
        async with http.post(c.url + "/api/public/ingestion", json=batch, headers=AUTH) as r:
            assert r.status == 207
        # Stored and readable as ever; only the ids are not kept.
        assert {t.id for t in await c.traces()} == {"ab" * 16, "t1"}
        assert len(await c.observations()) == 50
        assert c._accepted == set()
        assert "events" not in repr(c)
        with pytest.raises(RuntimeError, match="track_events"):
            _ = c.event_count
        with pytest.raises(RuntimeError, match="track_events"):
            await c.wait_for_events(1, timeout=0.1)


def test_serve_does_not_track_event_ids(tmp_path, monkeypatch):
    made: list[dict[str, Any]] = []

    class Made(Exception):
        pass

    def collector(**kwargs: Any) -> None:
        made.append(kwargs)
        raise Made

    monkeypatch.setattr("langfuse_async._collector.Collector", collector)
    from langfuse_async._cli import main

    with pytest.raises(Made):
        main(["serve", "--db", str(tmp_path / "c.db"), "--port", "0"])
    assert made[0]["track_events"] is False


# --- the database file -------------------------------------------------------------------------


async def test_another_applications_database_is_refused_untouched(tmp_path):
    foreign = tmp_path / "app.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    before = foreign.read_bytes()
    with pytest.raises(ForeignDatabase, match="not a langfuse-async database"):
        async with Collector(db_path=foreign):
            pass
    assert foreign.read_bytes() == before
    assert not (tmp_path / "app.db-wal").exists()


def test_a_collector_file_is_marked_and_an_older_one_is_upgraded(tmp_path):
    path = tmp_path / "collector.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == 0x4C464153
    conn.close()
    # A file an older collector wrote: the same four tables with fewer columns, no mark.
    old = tmp_path / "old.db"
    conn = sqlite3.connect(old)
    conn.executescript(
        """
        CREATE TABLE events (entity TEXT, body_id TEXT, envelope_id TEXT, type TEXT,
            ts_ms REAL, is_update INTEGER, seq INTEGER, event TEXT,
            PRIMARY KEY (entity, body_id, envelope_id));
        CREATE TABLE traces (id TEXT PRIMARY KEY, timestamp TEXT, name TEXT, user_id TEXT,
            session_id TEXT, doc TEXT NOT NULL);
        CREATE TABLE observations (id TEXT PRIMARY KEY, trace_id TEXT, type TEXT, name TEXT,
            start_time TEXT, doc TEXT NOT NULL);
        CREATE TABLE scores (id TEXT PRIMARY KEY, trace_id TEXT, observation_id TEXT,
            name TEXT, timestamp TEXT, doc TEXT NOT NULL);
        INSERT INTO traces (id, timestamp, name, doc) VALUES ('t1', '2026-01-01T00:00:00.000Z',
            'old', '{"id":"t1","name":"old","environment":"prod","tags":["a"]}');
        """
    )
    conn.commit()
    conn.close()
    store = Store(old)
    try:
        docs, total = store.trace_page(environments=["prod"], tags=["a"])
        assert (total, [d["name"] for d in docs]) == (1, ["old"])
    finally:
        store.close()


# --- work in a process -------------------------------------------------------------------------


async def test_work_in_a_process_answers_like_the_work_thread(http):
    span = {"traceId": "a" * 32, "spanId": "b" * 16, "name": "s", "attributes": []}
    export = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    batch = {
        "batch": [
            {
                "id": "e1",
                "type": "trace-create",
                "timestamp": "2026-01-01T00:00:00Z",
                "body": {"id": "t1"},
            },
            {"id": "e2", "type": "trace-create", "timestamp": "nope", "body": {"id": "t2"}},
        ]
    }
    async with Collector(work_processes=1) as c:
        headers = {**AUTH, "Content-Type": "application/json"}
        async with http.post(c.url + OTLP, json=export, headers=AUTH) as r:
            assert r.status == 200
        # An early answer decided in the worker process comes back whole.
        async with http.post(c.url + OTLP, data=b"x", headers={**AUTH, "Content-Type": "a/b"}) as r:
            assert (r.status, await r.json()) == (400, {"error": "Invalid content type"})
        async with http.post(c.url + "/api/public/ingestion", json=batch, headers=headers) as r:
            answer = await r.json()
        assert [s["id"] for s in answer["successes"]] == ["e1"]
        assert [e["id"] for e in answer["errors"]] == ["e2"]
        assert {t.id for t in await c.traces()} == {"a" * 32, "t1"}
    with pytest.raises(ValueError, match="work_processes"):
        Collector(work_processes=-1)


@pytest.mark.skipif(not hasattr(os, "nice"), reason="Unix process priorities")
async def test_work_processes_run_below_the_event_loops_priority() -> None:
    # Bulk parsing must yield the cores to the server's loop when the machine is busy.
    work = Work(processes=1)
    try:
        await work.start()
        niceness = await work.run_pure(os.nice, 0)
    finally:
        work.close()
    assert niceness == min(os.nice(0) + WORK_NICENESS, 19)


async def test_work_started_without_waiting_is_paced() -> None:
    # Conversions started ahead of their answers: at most MAX_STARTED at a time, so a burst
    # of exports waits for its answers instead of piling up bodies in the queue.
    import anyio

    from langfuse_async._collector._http import MAX_STARTED

    work = Work()
    gate = threading.Event()
    try:
        started = [await work.start_pure(gate.wait, 30) for _ in range(MAX_STARTED)]
        late: list[Any] = []

        async def one_more() -> None:
            late.append(await work.start_pure(gate.wait, 30))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(one_more)
            await anyio.wait_all_tasks_blocked()
            assert late == []  # waiting for a slot
            gate.set()
        ended = [await asyncio.wrap_future(f) for f in [*started, *late]]
        assert ended == [True] * (MAX_STARTED + 1)
    finally:
        gate.set()
        work.close()


WARMED: list[str] = []


def record_warm_up() -> bool:
    WARMED.append(threading.current_thread().name)
    return True


async def test_serving_work_warms_up_on_the_work_thread_too() -> None:
    # The first protobuf export must not import its modules on the server's work thread
    # (a tenth of a second taking turns with the event loop): `serve` imports them at start.
    WARMED.clear()
    work = Work(processes=1)
    try:
        await work.start(record_warm_up)
    finally:
        work.close()
    assert [name.startswith("langfuse-collector-work") for name in WARMED] == [True]


_SERVER_THAT_DIES = """
import asyncio, os, sys
from langfuse_async._collector._http import Work

async def main():
    work = Work(processes=1)
    await work.start()
    print(await work.run_pure(os.getpid), flush=True)
    await asyncio.sleep(60)  # killed long before

asyncio.run(main())
"""


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads process states in /proc")
def test_a_work_process_ends_when_its_server_is_killed() -> None:
    # kill -9 (or the OOM killer) gives the server no chance to stop its work processes, and
    # their pool's shared queues never reach end-of-file: each lived on, idle, for good.
    import subprocess
    import sys
    import time

    with subprocess.Popen(
        [sys.executable, "-c", _SERVER_THAT_DIES], stdout=subprocess.PIPE, text=True
    ) as server:
        try:
            assert server.stdout is not None
            work_pid = int(server.stdout.readline())
            assert _running(work_pid)
        finally:
            server.kill()
    deadline = time.monotonic() + 30  # generous: only a hang fails it
    while _running(work_pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # another process's end: nothing here to await
    assert not _running(work_pid)
