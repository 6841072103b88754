"""The store in a process of its own (``work_processes`` > 0, what ``serve`` runs).

Every route the store serves works as it does with the store on a thread of the server's
process; its work runs in another process; its errors reach the same answers and logs; and it
closes its database and ends with the collector.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import json
import logging
import multiprocessing
import os
import pickle
import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from langfuse_async._collector import Collector
from langfuse_async._collector._store import PendingEvent, Store
from langfuse_async._collector._store_async import AsyncStore
from langfuse_async._collector._store_process import (
    StoreProcess,
    StoreProcessGone,
    StoreTraceback,
    _out_of_band,
    process_id,
)

from .test_collector_otlp import AUTH, EVENT, GEN, PATH, PK, ROOT, SK, TRACE, example, export, span

pytestmark = pytest.mark.anyio

JSON = {**AUTH, "Content-Type": "application/json"}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def protobuf(payload: dict[str, Any]) -> bytes:
    trace_service = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
    json_format = pytest.importorskip("google.protobuf.json_format")
    # proto3 JSON carries ids as base64 bytes.
    for s in payload["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        for key in ("traceId", "spanId", "parentSpanId"):
            if key in s:
                s[key] = base64.b64encode(bytes.fromhex(s[key])).decode()
    message = json_format.ParseDict(payload, trace_service.ExportTraceServiceRequest())
    data: bytes = message.SerializeToString()
    return data


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def store_pid(collector: Collector) -> int:
    store = collector._store
    assert store is not None
    return await store.run(process_id)


async def test_with_work_processes_the_store_works_in_a_process_that_ends_with_it(
    tmp_path: Path,
) -> None:
    async with Collector() as default:
        assert await store_pid(default) == os.getpid()  # the default: a thread of this one
    db = tmp_path / "c.db"
    async with Collector(db_path=db, work_processes=1) as collector:
        pid = await store_pid(collector)
        assert pid != os.getpid() and not gone(pid)
        assert pid in {p.pid for p in multiprocessing.active_children()}
        assert os.path.exists(f"{db}-wal")  # noqa: ASYNC240 (open in write-ahead mode)
    assert gone(pid)  # ended and reaped
    # The database was closed cleanly: its last connection checkpointed and removed the log.
    assert not os.path.exists(f"{db}-wal")  # noqa: ASYNC240


async def test_every_route_the_store_serves_works_with_the_store_in_a_process(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    batch = {
        "batch": [
            {
                "id": "e1",
                "type": "trace-create",
                "timestamp": "2026-01-01T00:00:00Z",
                "body": {"id": "t1", "name": "ingested"},
            },
            {
                "id": "e2",
                "type": "span-create",
                "timestamp": "2026-01-01T00:00:01Z",
                "body": {"id": "s1", "traceId": "t1", "name": "step"},
            },
        ]
    }
    json_export = export(span("1" * 16, "from-json", {}, trace_id="2" * 32))
    async with Collector(
        db_path=tmp_path / "c.db", public_key=PK, secret_key=SK, work_processes=1
    ) as c:
        url = c.url
        async with http.post(url + "/api/public/ingestion", json=batch, headers=JSON) as r:
            answer = await r.json()
        assert [s["id"] for s in answer["successes"]] == ["e1", "e2"]
        # Protobuf is answered before its write runs: a read sent right after sees its spans.
        headers = {**AUTH, "Content-Type": "application/x-protobuf"}
        async with http.post(url + PATH, data=protobuf(example()), headers=headers) as r:
            assert r.status == 200
        async with http.get(url + f"/api/public/observations?traceId={TRACE}", headers=AUTH) as r:
            assert {o["id"] for o in (await r.json())["data"]} == {ROOT, GEN, EVENT}
        async with http.post(url + PATH, data=json.dumps(json_export), headers=JSON) as r:
            assert r.status == 200
        score = {"traceId": "t1", "name": "quality", "value": 0.5, "id": "sc1"}
        async with http.post(url + "/api/public/scores", json=score, headers=AUTH) as r:
            assert (r.status, await r.json()) == (200, {"id": "sc1"})
        scores = [{**score, "id": "sc2"}, {"traceId": "t1", "name": "bad"}]
        async with http.post(url + "/api/public/scores", json=scores, headers=AUTH) as r:
            assert (r.status, (await r.json())["accepted"]) == (207, 1)

        # Public reads: a list, one entity, a refused parameter (raised where the store is).
        async with http.get(url + "/api/public/traces", headers=AUTH) as r:
            ids = {t["id"] for t in (await r.json())["data"]}
        assert ids == {"t1", TRACE, "2" * 32}
        async with http.get(url + "/api/public/traces/t1", headers=AUTH) as r:
            assert (r.status, (await r.json())["name"]) == (200, "ingested")
        async with http.get(url + "/api/public/traces?page=0", headers=AUTH) as r:
            assert r.status == 400 and (await r.json())["message"] == "Invalid request data"
        async with http.get(url + "/api/public/v3/scores", headers=AUTH) as r:
            assert {s["id"] for s in (await r.json())["data"]} == {"sc1", "sc2"}
        async with http.get(url + "/api/public/sessions/nope", headers=AUTH) as r:
            assert r.status == 404

        # The web view's pages and its JSON.
        async with http.get(url + "/") as r:
            assert r.status == 200 and "ingested" in await r.text()
        async with http.get(url + "/_ui/traces/t1?observation=s1") as r:
            assert r.status == 200 and "step" in await r.text()
        async with http.get(url + "/_ui/api/traces") as r:
            assert (await r.json())["meta"]["totalItems"] == 3
        async with http.get(url + "/_ui/api/traces/t1") as r:
            assert [o["id"] for o in (await r.json())["observations"]] == ["s1"]
        async with http.get(url + "/_ui/api/observations/s1") as r:
            assert (await r.json())["name"] == "step"
        async with http.get(url + "/_ui/traces/missing") as r:
            assert r.status == 404

        # The collector's own reads.
        assert {t.id for t in await c.traces()} == ids
        assert [t.name for t in await c.traces(name="ingested")] == ["ingested"]
        assert (await c.trace("t1")) is not None
        assert {o.id for o in await c.observations(trace_id=TRACE)} == {ROOT, GEN, EVENT}
        assert [s.id for s in await c.scores(name="quality")] == ["sc1", "sc2"]


async def test_a_store_error_in_its_process_is_answered_and_logged_as_on_its_thread(
    tmp_path: Path, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "c.db"
    async with Collector(db_path=db, public_key=PK, secret_key=SK, work_processes=1) as c:
        # Another connection takes a table away: every write of a trace now fails in SQLite.
        with sqlite3.connect(db) as other:
            other.execute("DROP TABLE traces")
        other.close()
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
        with caplog.at_level(logging.ERROR, logger="langfuse_async"):
            async with http.post(c.url + "/api/public/ingestion", json=batch, headers=JSON) as r:
                assert r.status == 500
                assert (await r.json())["errors"] == ["Internal Server Error"]
            async with http.post(c.url + PATH, json=example(), headers=AUTH) as r:
                assert r.status == 200  # answered once queued, as on the thread
            # Runs after the failed write on the same thread: its failure is logged by then.
            assert await c.scores() == []
        [internal] = [r for r in caplog.records if "internal error" in r.message]
        [queued] = [r for r in caplog.records if "storing an OTLP export of 3" in r.message]
        for record in (internal, queued):
            assert record.exc_info is not None
            exc = record.exc_info[1]
            assert isinstance(exc, sqlite3.OperationalError) and "no such table" in str(exc)
            # Where it was raised, in the store's process, is kept as its cause.
            assert isinstance(exc.__cause__, StoreTraceback)
            assert "Traceback" in str(exc.__cause__) and "_store.py" in str(exc.__cause__)


async def test_a_store_process_that_died_fails_calls_clearly_and_the_collector_closes(
    tmp_path: Path, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    async with Collector(
        db_path=tmp_path / "c.db", public_key=PK, secret_key=SK, work_processes=1
    ) as c:
        pid = await store_pid(c)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(StoreProcessGone, match="ended"):
            await c.traces()
        with pytest.raises(StoreProcessGone):
            await c.traces()  # and stays so, without hanging
        with caplog.at_level(logging.ERROR, logger="langfuse_async"):
            async with http.get(c.url + "/api/public/traces", headers=JSON) as r:
                assert r.status == 500
        [internal] = [r for r in caplog.records if "internal error" in r.message]
        assert internal.exc_info is not None and isinstance(internal.exc_info[1], StoreProcessGone)
    assert gone(pid)


def test_opening_a_database_that_fails_in_the_store_process_raises_here(tmp_path: Path) -> None:
    process = StoreProcess(Store, str(tmp_path / "missing-dir" / "c.db"))
    with pytest.raises(sqlite3.OperationalError, match="unable to open") as failed:
        process.start()
    assert isinstance(failed.value.__cause__, StoreTraceback)
    assert process.pid is None
    process.close()  # closing again is harmless


def test_an_unpicklable_error_comes_back_as_a_runtime_error_naming_it(tmp_path: Path) -> None:
    process = StoreProcess(Store, str(tmp_path / "c.db"))
    process.start()
    try:
        with pytest.raises(RuntimeError, match="Unpicklable: no"):
            process.call(raise_unpicklable, (), {})
        assert process.call(process_id, (), {}) == process.pid  # it goes on
    finally:
        process.close()


def test_large_arguments_go_out_of_band_and_arrive_whole(tmp_path: Path) -> None:
    # An export's prepared rows (megabytes) were copied into each call's pickle on the
    # store's thread, holding the GIL that the event loop then waited for.
    big, small = os.urandom(3 * 1024 * 1024), b"rows"
    sent = _out_of_band((big, small, 7))
    assert isinstance(sent[0], pickle.PickleBuffer) and sent[1:] == (small, 7)
    process = StoreProcess(Store, str(tmp_path / "c.db"))
    process.start()
    try:
        assert process.call(digests, (big, small), {"n": 7}) == digests(None, big, small, n=7)
        assert process.call(digests, (small, big), {"n": 1}) == digests(None, small, big, n=1)
        assert process.call(process_id, (), {}) == process.pid  # the framing stays in step
    finally:
        process.close()


def digests(store: Any, *parts: bytes, n: int) -> tuple[list[str], int]:
    return [hashlib.sha256(part).hexdigest() for part in parts], n


class Unpicklable(Exception):
    def __init__(self, message: str, handle: Any) -> None:
        super().__init__(message)
        self.handle = handle


def raise_unpicklable(store: Any) -> None:
    raise Unpicklable("no", lambda: None)


@pytest.mark.parametrize("in_process", [False, True], ids=["thread", "process"])
async def test_a_write_queued_before_close_is_stored_before_the_database_closes(
    tmp_path: Path, in_process: bool
) -> None:
    store = AsyncStore(tmp_path / "c.db", process=in_process)
    await store.open()
    event = {
        "id": "e1",
        "type": "score-create",
        "timestamp": "2026-01-01T00:00:00Z",
        "body": {"id": "sc1", "traceId": "t1", "name": "n", "value": 1},
    }
    events: concurrent.futures.Future[list[PendingEvent]] = concurrent.futures.Future()
    events.set_result([PendingEvent(event)])
    await store.queue(Store.apply, "a score", events)
    await store.close()  # at once: the queued write runs first
    stored = Store(tmp_path / "c.db")
    try:
        assert stored._conn.execute("SELECT id FROM scores").fetchall() == [("sc1",)]
    finally:
        stored.close()


async def test_a_failed_start_leaves_no_store_process_behind(tmp_path: Path) -> None:
    def store_processes() -> list[multiprocessing.process.BaseProcess]:
        return [
            p for p in multiprocessing.active_children() if p.name == "langfuse-collector-store"
        ]

    with pytest.raises(sqlite3.OperationalError, match="unable to open"):
        await Collector(db_path=tmp_path / "missing-dir" / "c.db", work_processes=1).start()
    assert store_processes() == []
    async with Collector(work_processes=1) as running:
        assert len(store_processes()) == 1
        with pytest.raises(OSError):  # the port is taken: fails once both processes started
            await Collector(port=running.port, work_processes=1).start()
        assert len(store_processes()) == 1
