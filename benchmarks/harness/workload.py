"""One measurement in one fresh process, inside a competitor's own virtual environment.

Run by the harness as ``python workload.py '<json options>'``; prints one JSON line with the
figures. It imports only the standard library and the competitor's package, so it runs in
every competitor's venv unchanged. Scenarios:

* ``hot_path``: per-call overhead over the undecorated call of ``@observe`` (new trace), of a
  decorated parent with three decorated children, and of a context-manager span with
  ``update(input, output)``. Timed in batches of 100 calls with an untimed pause between them
  (three times the batch's duration), so the background side delivers what was recorded as
  it would in a service; the result is the median over batches of
  (decorated - undecorated) / 100.
* ``throughput``: ``n`` observations (each a new trace) with a tiny or a 2 KB input and output,
  the producer awaiting ``asyncio.sleep(0)`` every 100 calls, then ``flush()``. Meanwhile a
  1 ms timer measures the event loop's lateness. Reports the wall-clock span (the harness
  divides what the sink received by it), stalls and peak RSS.
* ``idle_flush``: one observation then ``flush()``, repeated with idle pauses between.
* ``server_down``: the endpoint refuses connections; ``@observe`` overhead meanwhile, then how
  long ``shutdown(timeout=2)`` (or the SDK's nearest equivalent) takes.

The official SDKs' ``flush``/``shutdown`` are blocking calls; they run in a worker thread
(``asyncio.to_thread``), as a careful asyncio service would call them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

PUBLIC_KEY = "pk-lf-bench"
SECRET_KEY = "sk-lf-bench"
BATCH = 100


async def plain(x: Any) -> Any:
    return x


# --- adapters: one per competitor -------------------------------------------------------------


class Adapter:
    """What every competitor provides to the scenarios."""

    #: What the sink should count for this competitor's throughput: a root ``@observe`` of the
    #: 2.x SDK is a trace, not an observation.
    unit = "observations"
    #: How ``shutdown`` is bounded: the SDK's own timeout, or none (the figure says so).
    shutdown_note = "shutdown(timeout=2)"

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def observe(self, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        raise NotImplementedError

    def span(self, name: str) -> Any:
        """A context manager whose value has ``update(input=..., output=...)``."""
        raise NotImplementedError

    async def flush(self) -> None:
        raise NotImplementedError

    async def shutdown(self, timeout: float) -> None:
        raise NotImplementedError

    def stats(self) -> dict[str, Any]:
        return {}


class LangfuseAsync(Adapter):
    def __init__(self, endpoint: str, transport: str) -> None:
        super().__init__(endpoint)
        from langfuse_async import Langfuse, observe

        self.client = Langfuse(
            public_key=PUBLIC_KEY, secret_key=SECRET_KEY, base_url=endpoint, transport=transport
        )
        self._observe = observe

    def observe(self, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        return self._observe(fn)  # type: ignore[no-any-return]

    def span(self, name: str) -> Any:
        return self.client.start_as_current_observation(name=name)

    async def flush(self) -> None:
        await self.client.flush(timeout=120)

    async def shutdown(self, timeout: float) -> None:
        await self.client.shutdown(timeout=timeout)

    def stats(self) -> dict[str, Any]:
        s = self.client.statistics()
        return {
            "enqueued": s.enqueued,
            "delivered": s.delivered,
            "dropped": s.dropped,
            "failed": s.failed,
            "requests": s.requests,
        }


class Langfuse5(Adapter):
    shutdown_note = "shutdown() (no timeout parameter)"

    def __init__(self, endpoint: str) -> None:
        super().__init__(endpoint)
        from langfuse import Langfuse, observe

        self.client = Langfuse(public_key=PUBLIC_KEY, secret_key=SECRET_KEY, base_url=endpoint)
        self._observe = observe

    def observe(self, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        return self._observe(fn)  # type: ignore[no-any-return]

    def span(self, name: str) -> Any:
        return self.client.start_as_current_observation(name=name)

    async def flush(self) -> None:
        await asyncio.to_thread(self.client.flush)

    async def shutdown(self, timeout: float) -> None:
        await asyncio.to_thread(self.client.shutdown)


class Langfuse2(Adapter):
    unit = "traces"
    shutdown_note = "shutdown() (no timeout parameter)"

    def __init__(self, endpoint: str) -> None:
        super().__init__(endpoint)
        from langfuse.decorators import langfuse_context, observe

        langfuse_context.configure(public_key=PUBLIC_KEY, secret_key=SECRET_KEY, host=endpoint)
        self.context = langfuse_context
        self.client = langfuse_context.client_instance
        self._observe = observe

    def observe(self, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        return self._observe()(fn)  # type: ignore[no-any-return]

    @contextlib.contextmanager
    def span(self, name: str) -> Any:
        # 2.x has no context manager: the nearest is a stateful span, updated and ended.
        span = self.client.span(name=name)
        try:
            yield span
        finally:
            span.end()

    async def flush(self) -> None:
        await asyncio.to_thread(self.context.flush)

    async def shutdown(self, timeout: float) -> None:
        await asyncio.to_thread(self.client.shutdown)


class _OtelSpan:
    __slots__ = ("span",)

    def __init__(self, span: Any) -> None:
        self.span = span

    def update(self, *, input: Any = None, output: Any = None) -> None:
        if input is not None:
            self.span.set_attribute("langfuse.observation.input", json.dumps(input))
        if output is not None:
            self.span.set_attribute("langfuse.observation.output", json.dumps(output))


class OpenTelemetry(Adapter):
    shutdown_note = "provider.shutdown() (exporter timeout 2 s)"

    def __init__(self, endpoint: str) -> None:
        super().__init__(endpoint)
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self.provider = TracerProvider()
        exporter = OTLPSpanExporter(
            endpoint=f"{endpoint}/api/public/otel/v1/traces",
            headers={"Authorization": "Basic cGstbGYtYmVuY2g6c2stbGYtYmVuY2g="},
            timeout=2,
        )
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("bench")

    def observe(self, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        # Plain OpenTelemetry has no @observe: the decorator a user would write, recording
        # the arguments and the result as Langfuse's span attributes.
        tracer = self.tracer
        name = fn.__name__

        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            with tracer.start_as_current_span(name) as span:
                span.set_attribute(
                    "langfuse.observation.input", json.dumps({"args": args, "kwargs": kwargs})
                )
                result = await fn(*args, **kwargs)
                span.set_attribute("langfuse.observation.output", json.dumps(result))
                return result

        return wrapper

    @contextlib.contextmanager
    def span(self, name: str) -> Any:
        with self.tracer.start_as_current_span(name) as span:
            yield _OtelSpan(span)

    async def flush(self) -> None:
        await asyncio.to_thread(self.provider.force_flush)

    async def shutdown(self, timeout: float) -> None:
        await asyncio.to_thread(self.provider.shutdown)


def make_adapter(name: str, endpoint: str) -> Adapter:
    if name == "langfuse_async-ingestion":
        return LangfuseAsync(endpoint, "ingestion")
    if name == "langfuse_async-otlp":
        return LangfuseAsync(endpoint, "otlp")
    if name == "langfuse5":
        return Langfuse5(endpoint)
    if name == "langfuse2":
        return Langfuse2(endpoint)
    if name == "otel":
        return OpenTelemetry(endpoint)
    raise ValueError(f"unknown competitor {name!r}")


# --- measuring helpers ------------------------------------------------------------------------


class StallMonitor:
    """A 1 ms timer; records how late each tick fires (the event loop's stalls)."""

    def __init__(self) -> None:
        self.lateness: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        clock = time.perf_counter
        while True:
            start = clock()
            await asyncio.sleep(0.001)
            self.lateness.append(max(0.0, clock() - start - 0.001))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> dict[str, float]:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        data = sorted(self.lateness) or [0.0]
        return {
            "stall_p99_ms": data[min(len(data) - 1, int(len(data) * 0.99))] * 1e3,
            "stall_max_ms": data[-1] * 1e3,
            "ticks": len(self.lateness),
        }


async def _time_batches(
    decorated: Callable[[Any], Awaitable[Any]],
    baseline: Callable[[Any], Awaitable[Any]],
    arg: Any,
    *,
    max_calls: int,
    budget: float,
    pause: float | None = None,
) -> dict[str, float]:
    """Overhead per call in microseconds: batches of each, interleaved, pauses untimed.

    The figure is the median over batch pairs of (decorated - undecorated) / 100: a batch
    that the OS preempted (the machine is shared) is an outlier, not a shift of the mean.
    """
    clock = time.perf_counter_ns
    for _ in range(2):  # warm up both paths
        for _ in range(BATCH):
            await baseline(arg)
            await decorated(arg)
        await asyncio.sleep(0)
    overheads: list[float] = []
    baselines: list[float] = []
    deadline = time.perf_counter() + budget
    while len(overheads) * BATCH < max_calls and time.perf_counter() < deadline:
        start = clock()
        for _ in range(BATCH):
            await baseline(arg)
        middle = clock()
        for _ in range(BATCH):
            await decorated(arg)
        end = clock()
        overheads.append(((end - middle) - (middle - start)) / BATCH / 1e3)
        baselines.append((middle - start) / BATCH / 1e3)
        # Untimed: the SDK's background side (task or thread) gets three times what the batch
        # took to send what it recorded, so every batch measures recording, not a full queue.
        # The throughput and server-down scenarios are where backlogs belong.
        await asyncio.sleep(pause if pause is not None else max(0.001, 3 * (end - middle) / 1e9))
    overheads.sort()
    baselines.sort()
    return {
        "overhead_us": overheads[len(overheads) // 2],
        "mean_overhead_us": sum(overheads) / len(overheads),
        "baseline_us": baselines[len(baselines) // 2],
        "calls": len(overheads) * BATCH,
    }


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux, bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e6


def payload_of(size: str) -> Any:
    if size == "tiny":
        return "what is 2+2?"
    # About 2 KB of JSON: a chat-style request.
    return {
        "model": "gpt-4o-mini",
        "temperature": 0.2,
        "messages": [
            {"role": "system", "content": "You answer briefly. " * 20},
            {"role": "user", "content": "Summarise the following text. " + "lorem ipsum " * 120},
        ],
    }


# --- scenarios --------------------------------------------------------------------------------


async def hot_path(adapter: Adapter, options: dict[str, Any]) -> dict[str, Any]:
    max_calls, budget = options["max_calls"], options["budget"]

    async def f(x: Any) -> Any:
        return x

    observed = adapter.observe(f)
    child1, child2, child3 = (adapter.observe(f) for _ in range(3))

    async def parent_plain(x: Any) -> Any:
        await plain(x)
        await plain(x)
        await plain(x)
        return x

    async def parent_body(x: Any) -> Any:
        await child1(x)
        await child2(x)
        await child3(x)
        return x

    parent = adapter.observe(parent_body)

    async def with_span(x: Any) -> Any:
        with adapter.span("step") as span:
            result = await plain(x)
            span.update(input=x, output=result)
        return result

    arg = "what is 2+2?"
    out = {
        "observe": await _time_batches(observed, plain, arg, max_calls=max_calls, budget=budget),
        "parent_3_children": await _time_batches(
            parent, parent_plain, arg, max_calls=max_calls // 4, budget=budget
        ),
        "span_update": await _time_batches(
            with_span, plain, arg, max_calls=max_calls, budget=budget
        ),
    }
    out["sdk"] = adapter.stats()
    await adapter.shutdown(5.0)
    return out


async def throughput(adapter: Adapter, options: dict[str, Any]) -> dict[str, Any]:
    n = options["n"]
    payload = payload_of(options["size"])

    async def handle(x: Any) -> Any:
        return x

    observed = adapter.observe(handle)
    rss_before = peak_rss_mb()
    monitor = StallMonitor()
    monitor.start()
    await asyncio.sleep(0.01)
    t0 = time.time()
    for i in range(n):
        await observed(payload)
        if i % 100 == 99:
            await asyncio.sleep(0)
    produced = time.time()
    await adapter.flush()
    t1 = time.time()
    stalls = await monitor.stop()
    result = {
        "n": n,
        "unit": adapter.unit,
        "t0": t0,
        "produce_s": produced - t0,
        "flush_s": t1 - produced,
        "t1": t1,
        "rss_start_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
        **stalls,
        "sdk": adapter.stats(),
    }
    await adapter.shutdown(10.0)
    return result


async def idle_flush(adapter: Adapter, options: dict[str, Any]) -> dict[str, Any]:
    async def one(x: Any) -> Any:
        return x

    observed = adapter.observe(one)
    await observed("warm-up")
    await adapter.flush()
    latencies = []
    for _ in range(options["repeats"]):
        await asyncio.sleep(0.05)  # idle: the worker is waiting for its interval
        await observed("ping")
        start = time.perf_counter()
        await adapter.flush()
        latencies.append((time.perf_counter() - start) * 1e3)
    await adapter.shutdown(5.0)
    latencies.sort()
    return {"flush_ms_median": latencies[len(latencies) // 2], "flush_ms_max": latencies[-1]}


async def server_down(adapter: Adapter, options: dict[str, Any]) -> dict[str, Any]:
    async def f(x: Any) -> Any:
        return x

    observed = adapter.observe(f)
    # Only sleep(0) between batches: a queue filling up while the server is down is the point.
    timing = await _time_batches(
        observed,
        plain,
        "what is 2+2?",
        max_calls=options["max_calls"],
        budget=options["budget"],
        pause=0.0,
    )
    timing["sdk"] = adapter.stats()  # type: ignore[assignment]
    # Printed before shutting down: an SDK whose shutdown never returns still has its figure.
    sys.stdout.write("PARTIAL " + json.dumps({"observe": timing}) + "\n")
    sys.stdout.flush()
    start = time.perf_counter()
    await adapter.shutdown(2.0)
    return {
        "observe": timing,
        "shutdown_s": time.perf_counter() - start,
        "shutdown_call": adapter.shutdown_note,
    }


SCENARIOS = {
    "hot_path": hot_path,
    "throughput": throughput,
    "idle_flush": idle_flush,
    "server_down": server_down,
}


async def main(options: dict[str, Any]) -> dict[str, Any]:
    adapter = make_adapter(options["competitor"], options["endpoint"])
    return await SCENARIOS[options["scenario"]](adapter, options)


if __name__ == "__main__":
    # The SDKs' own warnings (connection refused, dropped spans) are expected here.
    logging.disable(logging.CRITICAL)
    os.environ.setdefault("OTEL_SDK_DISABLED", "false")
    opts = json.loads(sys.argv[1])
    figures = asyncio.run(main(opts))
    sys.stdout.write("RESULT " + json.dumps(figures) + "\n")
    sys.stdout.flush()
    # Some SDKs leave non-daemon threads behind after a failed shutdown; the figure is taken.
    os._exit(0)
