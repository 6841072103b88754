"""How much ``@observe`` adds to a call, on the user's path (enqueueing included, sending not).

Run with ``python benchmarks/bench_hot_path.py [calls]``. It prints, per scenario, the cost of
entering and leaving the decorator in microseconds per call: the time of a decorated call minus
the time of the same undecorated call, best of several rounds (the least disturbed one).

Scenarios:

* a test tracer whose sink appends to a deque (the instrumentation alone);
* the real ``langfuse_async.Langfuse`` with keys set and a ``base_url`` on 127.0.0.1 that is
  never flushed during the measurement (instrumentation plus the real queue), when the client
  module is importable.

Each measures ``@observe`` on an ``async def`` (a new trace per call, and a child of an open
observation) and on a plain ``def``, and the context-manager path: ``async with
start_as_current_span(...)`` around the same undecorated call.

Numbers are not asserted anywhere; compare them on the same machine.
"""

from __future__ import annotations

import asyncio
import gc
import os
import platform
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from langfuse_async._config import resolve_config
from langfuse_async._records import Record
from langfuse_async._tracing.observations import CURRENT
from langfuse_async._tracing.observe import observe
from langfuse_async._tracing.registry import register_client
from langfuse_async._tracing.tracer import Tracer

ROUNDS = 7


class DequeSink:
    """A sink that appends to a deque, cleared between rounds."""

    def __init__(self) -> None:
        self.records: deque[Record] = deque()
        self.emit = self.records.append

    def count_sampled_out(self) -> None:
        pass


class DequeTracer(Tracer):
    """A client whose delivery side is a deque that is cleared between rounds."""

    def __init__(self) -> None:
        config = resolve_config(
            public_key="pk-lf-bench",
            secret_key="sk-lf-bench",
            base_url="http://127.0.0.1:9",
            enabled=True,
            environ={},
        )
        self.sink = DequeSink()
        self.records = self.sink.records
        super().__init__(config, self.sink)
        register_client(self)


async def plain_async(question: str, top_k: int = 3) -> str:
    return question


def plain_sync(question: str, top_k: int = 3) -> str:
    return question


async def _time_with_block(client: Any, calls: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(calls):
        async with client.start_as_current_span(name="step"):
            await plain_async("what is 2+2?", 3)
    return (time.perf_counter_ns() - start) / calls / 1000


async def _time_async(fn: Callable[[str, int], Awaitable[Any]], calls: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(calls):
        await fn("what is 2+2?", 3)
    return (time.perf_counter_ns() - start) / calls / 1000


def _time_sync(fn: Callable[[str, int], Any], calls: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(calls):
        fn("what is 2+2?", 3)
    return (time.perf_counter_ns() - start) / calls / 1000


def _report(label: str, decorated: list[float], baseline: list[float]) -> None:
    best = min(decorated) - min(baseline)
    median = sorted(decorated)[len(decorated) // 2] - sorted(baseline)[len(baseline) // 2]
    print(f"  {label:<52} {best:6.2f} us/call (median {median:5.2f})")


async def _scenario(client: Any, calls: int, clear: Callable[[], None]) -> None:
    observed_async = observe(plain_async)
    observed_sync = observe(plain_sync)
    results: dict[str, list[float]] = {k: [] for k in ("a", "a0", "c", "c0", "s", "s0", "w")}
    parent = client.start_observation(name="parent")
    for _ in range(ROUNDS):
        gc.collect()
        results["a0"].append(await _time_async(plain_async, calls))
        results["a"].append(await _time_async(observed_async, calls))
        clear()
        token = CURRENT.set(parent)  # children of an open observation instead of new traces
        results["c"].append(await _time_async(observed_async, calls))
        CURRENT.reset(token)
        clear()
        results["c0"].append(await _time_async(plain_async, calls))
        results["s0"].append(_time_sync(plain_sync, calls))
        results["s"].append(_time_sync(observed_sync, calls))
        clear()
        results["w"].append(await _time_with_block(client, calls))
        clear()
    _report("@observe async def, new trace per call", results["a"], results["a0"])
    _report("@observe async def, child of an open observation", results["c"], results["c0"])
    _report("@observe def, new trace per call", results["s"], results["s0"])
    _report("async with start_as_current_span(), new trace", results["w"], results["a0"])


async def main(calls: int) -> None:
    print(
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {calls} calls per round, best of {ROUNDS} rounds"
    )
    print("test tracer (emit appends to a deque):")
    tracer = DequeTracer()
    await _scenario(tracer, calls, tracer.records.clear)

    try:
        from langfuse_async._client import Langfuse
    except ImportError as exc:
        print(f"real client: skipped ({exc})")
        return
    try:
        client = Langfuse(
            public_key="pk-lf-bench",
            secret_key="sk-lf-bench",
            base_url="http://127.0.0.1:9",
            flush_at=1_000_000,
            flush_interval=3600.0,
            max_queue_size=1_000_000,
            transport="ingestion",
        )
    except Exception as exc:
        print(f"real client: skipped ({exc!r})")
        return

    def drain() -> None:
        # Emptied between rounds (a private hook, for measuring only) so the queue never fills
        # and every round measures the accepting path.
        queue = getattr(getattr(client, "_pipeline", None), "_queue", None)
        if queue is not None:
            queue.clear()

    print("real Langfuse client (queued, never flushed):")
    try:
        await _scenario(client, calls, drain)
    finally:
        drain()
        await client.shutdown(timeout=1.0)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000))
