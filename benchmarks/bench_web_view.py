"""Web view figures: how long its pages take to answer over HTTP on a large database.

Run: ``python benchmarks/bench_web_view.py [--traces 50000]``. Fills a temporary database
through the store (each trace with two observations of about 1 KB of input and a score), starts
a collector on it and times the trace list (first page, a deep page, each filter) and a trace
page. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time

import aiohttp

from langfuse_async._collector import Collector
from langfuse_async._collector._store import PendingEvent, Store


def events(i: int) -> list[PendingEvent]:
    t = f"t{i}"
    stamp = f"2026-08-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{(i // 60) % 60:02d}.000Z"
    return [
        PendingEvent(
            {
                "id": f"e{t}",
                "type": "trace-create",
                "timestamp": stamp,
                "body": {
                    "id": t,
                    "timestamp": stamp,
                    "name": f"route-{i % 40}",
                    "userId": f"user-{i % 500}",
                    "sessionId": f"session-{i % 5000}",
                    "tags": ["bench", f"shard-{i % 16}"],
                    "input": {"question": "q" * 1000},
                },
            }
        ),
        *(
            PendingEvent(
                {
                    "id": f"e{t}-{j}",
                    "type": "generation-create" if j else "span-create",
                    "timestamp": stamp,
                    "body": {
                        "id": f"{t}-{j}",
                        "traceId": t,
                        "name": "llm" if j else "handle",
                        "startTime": stamp,
                        "endTime": stamp,
                        "input": "x" * 1000,
                        "costDetails": {"total": 0.0001} if j else {},
                    },
                }
            )
            for j in range(2)
        ),
        PendingEvent(
            {
                "id": f"e{t}-score",
                "type": "score-create",
                "timestamp": stamp,
                "body": {"id": f"{t}-score", "traceId": t, "name": "quality", "value": 0.5},
            }
        ),
    ]


async def timed(http: aiohttp.ClientSession, url: str, rounds: int = 7) -> tuple[float, float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        async with http.get(url) as response:
            await response.read()
            assert response.status == 200, (url, response.status)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), max(samples)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=50_000)
    args = parser.parse_args()
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "bench.db")
        store = Store(path)
        start = time.perf_counter()
        for first in range(0, args.traces, 1000):
            store.apply(e for i in range(first, min(first + 1000, args.traces)) for e in events(i))
        counts = store.web_counts()
        store.close()
        print(
            f"filled {counts['traces']:,} traces, {counts['observations']:,} observations,"
            f" {counts['scores']:,} scores in {time.perf_counter() - start:.0f} s"
        )
        async with Collector(db_path=path) as collector, aiohttp.ClientSession() as http:
            base = collector.url
            pages = [
                ("list, first page (cold)", "/", 1),
                ("list, first page", "/", 7),
                ("list, page 500", "/?page=500", 7),
                ("list, filtered by name", "/?name=route-7", 7),
                ("list, filtered by user", "/?user=user-42", 7),
                ("list, filtered by session", "/?session=session-42", 7),
                ("list, filtered by tag", "/?tag=shard-3", 3),
                ("trace page", "/_ui/traces/t4242", 7),
                ("trace page, one observation", "/_ui/traces/t4242?observation=t4242-1", 7),
                ("JSON list", "/_ui/api/traces", 7),
            ]
            for label, url, rounds in pages:
                median, worst = await timed(http, base + url, rounds)
                print(f"{label:32s} median {median:7.1f} ms   max {worst:7.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
