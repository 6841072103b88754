"""Delivery pipeline figures: emit cost, throughput to a loopback server, bounded memory.

Run: ``python benchmarks/bench_pipeline.py``. Prints numbers; asserts nothing (the tests never
time anything). Targets: emit well under 1 us; memory bounded by the queue limits whatever the
server does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import platform
import time
import tracemalloc

import msgspec
from aiohttp import web

from langfuse_async._clock import now_ns
from langfuse_async._config import resolve_config
from langfuse_async._delivery.pipeline import Pipeline
from langfuse_async._records import RECORD_OVERHEAD_BYTES, ObservationRecord
from langfuse_async._tracing.ids import new_event_id, new_observation_id, new_trace_id


def record(i: int) -> ObservationRecord:
    now = now_ns()
    payload = msgspec.Raw(msgspec.json.encode({"question": f"q{i}", "k": 3}))
    return ObservationRecord(
        event_id=new_event_id(),
        timestamp_ns=now,
        id=new_observation_id(),
        trace_id=new_trace_id(),
        parent_id=None,
        as_type="span",
        name="handle",
        start_ns=now - 1000,
        end_ns=now,
        input=payload,
        output=payload,
        size=RECORD_OVERHEAD_BYTES + 2 * len(payload),
    )


def pipeline(url: str, **options: object) -> Pipeline:
    args: dict[str, object] = dict(
        public_key="pk-bench",
        secret_key="sk-bench",
        base_url=url,
        max_retries=0,
        exit_timeout=0.0,
        transport="ingestion",
    )
    args.update(options)
    return Pipeline(resolve_config(**args, environ={}), None)  # type: ignore[arg-type]


async def emit_cost() -> None:
    p = pipeline("http://127.0.0.1:9", flush_interval=3600.0, flush_at=10**9, max_queue_size=10**9)
    records = [record(i) for i in range(1000)]
    p.emit(records[0])
    total = 0.0
    rounds = 200
    for _ in range(rounds):
        start = time.perf_counter()
        for r in records:
            p.emit(r)
        total += time.perf_counter() - start
        p._queue.clear()
    print(f"emit (steady state):       {total / (rounds * len(records)) * 1e9:8.0f} ns/event")
    await p.shutdown(timeout=0)


async def throughput(n: int = 50_000) -> None:
    async def ingest(request: web.Request) -> web.Response:
        batch = json.loads(await request.read())["batch"]
        ok = [{"id": e["id"], "status": 201} for e in batch]
        return web.json_response({"successes": ok, "errors": []}, status=207)

    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_post("/api/public/ingestion", ingest)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    p = pipeline(f"http://127.0.0.1:{port}", max_queue_size=n)
    records = [record(i) for i in range(n)]
    start = time.perf_counter()
    for r in records:
        p.emit(r)
    result = await p.shutdown(timeout=60)
    elapsed = time.perf_counter() - start
    s = p.statistics()
    print(
        f"throughput to loopback:    {n / elapsed:8.0f} events/s "
        f"({s.requests} requests, {s.bytes_sent / 1e6:.1f} MB, completed={result.completed})"
    )
    await runner.cleanup()


async def bounded_memory(n: int = 200_000) -> None:
    # Nothing listens on port 9: every request fails, the queue fills and must stay bounded.
    p = pipeline("http://127.0.0.1:9", max_queue_size=10_000, flush_interval=3600.0)
    tracemalloc.start()
    for i in range(n):
        p.emit(record(i))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    s = p.statistics()
    print(
        f"memory with server down:   peak {peak / 1e6:6.1f} MB for {n} events "
        f"(queued {s.pending}, dropped {s.dropped_by_reason.get('queue_full', 0)})"
    )
    await p.shutdown(timeout=0)


async def main() -> None:
    # The server-down scenario fails on purpose; its warnings are not the point here.
    logging.getLogger("langfuse_async").setLevel(logging.ERROR)
    print(
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs; figures vary by a few tens of percent from run to run"
    )
    await emit_cost()
    await throughput()
    await bounded_memory()


if __name__ == "__main__":
    asyncio.run(main())
