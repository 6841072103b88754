"""Embedded collector figures: OTLP ingest rate, an official-SDK burst, health latency, reads.

Run: ``python benchmarks/bench_collector.py`` (``--quick`` for a smaller run). Prints numbers;
asserts nothing (the tests never time anything). The collector runs in a child process, as
``langfuse-async serve`` does, so the clients here do not share its interpreter.

Targets (issue 13): >= 20,000 spans/s ingested from 5.x-like OTLP exports; a burst of 500
concurrent traces from the official 5.x SDK with no span dropped client-side;
``/api/public/health`` within 10 ms throughout; list reads under 20 ms at 100,000
observations.

On a shared machine wall times follow its load: the collector's CPU time per span (its process
and its worker process, read from ``/proc``) is printed beside them, and the idle collector's
``/health`` is measured first as the machine's baseline.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import json
import os
import platform
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

PUBLIC_KEY, SECRET_KEY = "pk-lf-bench", "sk-lf-bench"
AUTH = "Basic " + base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()


#: The URL of the running collector -> its process id (to read its CPU time).
_PIDS: dict[str, int] = {}


def cpu_seconds(url: str) -> float:
    """CPU time (user + system) so far of the collector at ``url`` and its worker processes.

    Read from ``/proc`` (Linux); NaN elsewhere.
    """
    pid = _PIDS[url]
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0.0
    try:
        names = os.listdir("/proc")
    except OSError:
        return float("nan")
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command: state, ppid, ... utime is field 14 and stime 15 of the whole line.
        if int(name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


@contextmanager
def serve(db: str) -> Iterator[str]:
    """Run ``langfuse-async serve`` on a free port in a child process; yield its URL."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "langfuse_async._cli", "serve", "--port", "0"),
            *("--db", db, "--public-key", PUBLIC_KEY, "--secret-key", SECRET_KEY),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        if match is None:
            raise RuntimeError(f"the collector did not start: {line!r}")
        _PIDS[match.group(1)] = process.pid
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(10)


def request(url: str, body: bytes | None = None, content_type: str = "") -> tuple[int, bytes]:
    headers = {"Authorization": AUTH}
    if content_type:
        headers["Content-Type"] = content_type
    req = urllib.request.Request(url, data=body, headers=headers)
    with urllib.request.urlopen(req, timeout=60) as response:
        return response.status, response.read()


# --- 5.x-like exports ----------------------------------------------------------------------


def sdk_exports(traces: int) -> list[bytes]:
    """Spans recorded by the official SDK (4 per trace), encoded 512 a request as it sends."""
    from langfuse import Langfuse, propagate_attributes
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    client = Langfuse(
        public_key="pk-lf-recorder",
        secret_key="sk",
        base_url="http://127.0.0.1:9",
        tracer_provider=TracerProvider(),
        span_exporter=memory,
        flush_at=512,
    )
    for i in range(traces):
        with client.start_as_current_observation(
            name="handle-request", input={"question": f"q{i}"}, metadata={"route": "/chat"}
        ) as root:
            with propagate_attributes(user_id=f"u{i % 50}", session_id=f"s{i % 200}"):
                with client.start_as_current_observation(name="retrieve", input={"q": i}) as r:
                    r.update(output={"docs": ["a", "b"]})
                with client.start_as_current_observation(
                    name="llm",
                    as_type="generation",
                    model="gpt-4o",
                    input=[{"role": "user", "content": "hi"}],
                    usage_details={"input": 10, "output": 20},
                ) as g:
                    g.update(output="hello there")
                client.create_event(name="done", output={"ok": True})
            root.update(output={"answer": "hello"})
    client.flush()
    client.shutdown()
    spans = list(memory.get_finished_spans())
    return [
        bytes(encode_spans(spans[i : i + 512]).SerializeToString())
        for i in range(0, len(spans), 512)
    ]


def _fresh(body: bytes) -> bytes:
    """The same export with new span ids (so it stores new spans, not replacements)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    for resource in request.resource_spans:
        for scope in resource.scope_spans:
            for span in scope.spans:
                span.span_id = bytes(b ^ 0xFF for b in span.span_id)
                if span.parent_span_id:
                    span.parent_span_id = bytes(b ^ 0xFF for b in span.parent_span_id)
                span.trace_id = bytes(b ^ 0xFF for b in span.trace_id)
    return bytes(request.SerializeToString())


def span_count(db: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM observations").fetchone()[0])
    finally:
        conn.close()


def stored_by_then(url: str) -> None:
    """Return once every export answered so far is stored.

    The OTLP route answers once an export's write is queued; a read queues behind the writes,
    so its answer marks the end of ingest (the clock stops after it).
    """
    request(url + "/api/public/observations?limit=1")


def bench_ingest(traces: int, control: list[float]) -> list[float]:
    """Time the ingest of 5.x exports; return the /health latencies seen meanwhile.

    The control server's latencies meanwhile go to ``control``.
    """
    exports = sdk_exports(traces)
    fresh = [_fresh(body) for body in exports]
    spans = traces * 4
    print(f"ingest: {len(exports)} exports of up to 512 spans ({spans} spans), protobuf")
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "bench.db")
        with serve(db) as url:
            cpu = cpu_seconds(url)
            start = time.perf_counter()
            for body in exports:  # one export at a time, as one BatchSpanProcessor sends
                request(url + "/api/public/otel/v1/traces", body, "application/x-protobuf")
            stored_by_then(url)
            elapsed = time.perf_counter() - start
            cpu_one = cpu_seconds(url) - cpu
            latencies: list[float] = []
            seen: list[float] = []
            with (
                probe_health(url, latencies, seen),
                concurrent.futures.ThreadPoolExecutor(4) as pool,
            ):
                # Four exporters at once (four services, or four processes of one).
                cpu = cpu_seconds(url)
                start = time.perf_counter()
                list(
                    pool.map(
                        lambda body: request(
                            url + "/api/public/otel/v1/traces", body, "application/x-protobuf"
                        ),
                        fresh,
                    )
                )
                stored_by_then(url)
                parallel = time.perf_counter() - start
                cpu_four = cpu_seconds(url) - cpu
        stored = span_count(db)
    best = max(spans / elapsed, spans / parallel)
    print(
        f"  one exporter: {spans / elapsed:,.0f} spans/s"
        f" ({elapsed * 1000 / len(exports):.0f} ms an export),"
        f" collector CPU {cpu_one * 1e6 / spans:.0f} us a span"
    )
    print(
        f"  four exporters at once: {spans / parallel:,.0f} spans/s,"
        f" collector CPU {cpu_four * 1e6 / spans:.0f} us a span (answering the probes too)"
    )
    print(f"  stored {stored} of {2 * spans} spans")
    print(f"  target >= 20,000 spans/s: {verdict(best >= 20_000)} ({best:,.0f})")
    if latencies:
        print(f"  /health meanwhile: {_spread(latencies)}")
    if seen:
        print(f"  the control's /health meanwhile: {_spread(seen)}")
    control += seen
    return latencies


# --- a burst from the official SDK, with health probes -------------------------------------


_PROBER = """
import os, sys, time, urllib.request
stop, urls = sys.argv[1], sys.argv[2:]
while not os.path.exists(stop):
    for i, url in enumerate(urls):
        start = time.perf_counter()
        with urllib.request.urlopen(url + "/api/public/health", timeout=10) as response:
            response.read()
        print(i, (time.perf_counter() - start) * 1000, flush=True)
    time.sleep(0.002)
"""

#: A bare aiohttp server that answers ``/health`` and does nothing else: the control. Probed
#: beside the collector, it shows how late any process of this machine answers under the same
#: load (the clients, the collector's work and the probes share the cores).
_CONTROL = """
import sys
from aiohttp import web

async def health(request):
    return web.json_response({"status": "OK", "version": "control"})

app = web.Application()
app.router.add_get("/api/public/health", health)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=lambda *_: print("up", flush=True))
"""

#: The control's URL, once started (see :func:`control_server`).
_CONTROL_URL: list[str] = []


@contextmanager
def control_server() -> Iterator[None]:
    """Run the control (:data:`_CONTROL`) for the whole benchmark."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-c", _CONTROL, str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()  # "up": listening
        _CONTROL_URL.append(f"http://127.0.0.1:{port}")
        yield
    finally:
        _CONTROL_URL.clear()
        process.terminate()
        process.wait(10)


@contextmanager
def probe_health(
    url: str, latencies: list[float], control: list[float] | None = None
) -> Iterator[None]:
    """Probe ``/health`` every 2 ms from a child process (so no client thread delays it).

    With ``control``, the control server (:func:`control_server`) is probed right after each
    probe of ``url``, from the same process, and its latencies go there.
    """
    urls = [url, *(_CONTROL_URL if control is not None else [])]
    with tempfile.TemporaryDirectory() as tmp:
        stop = os.path.join(tmp, "stop")
        prober = subprocess.Popen(
            [sys.executable, "-c", _PROBER, stop, *urls], stdout=subprocess.PIPE, text=True
        )
        try:
            yield
        finally:
            open(stop, "w").close()
            out, _ = prober.communicate(timeout=30)
            for line in out.splitlines():
                which, ms = line.split()
                if which == "0":
                    latencies.append(float(ms))
                elif control is not None:
                    control.append(float(ms))


def _spread(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"{len(ordered)} probes, median {statistics.median(ordered):.1f} ms,"
        f" p99 {p99:.1f} ms, max {ordered[-1]:.1f} ms"
    )


def idle_health() -> None:
    with tempfile.TemporaryDirectory() as tmp, serve(os.path.join(tmp, "idle.db")) as url:
        latencies: list[float] = []
        seen: list[float] = []
        with probe_health(url, latencies, seen):
            time.sleep(3)
    print(f"/health of an idle collector (the machine's baseline): {_spread(latencies)}")
    print(f"  the control's, meanwhile: {_spread(seen)}")


def bench_burst(traces: int, control: list[float]) -> list[float]:
    """Send a burst from the official SDK; return the /health latencies seen meanwhile.

    The control server's latencies meanwhile go to ``control``.
    """
    from langfuse import Langfuse
    from opentelemetry.sdk.trace import TracerProvider

    per_trace = 4
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "burst.db")
        with serve(db) as url:
            client = Langfuse(
                public_key=PUBLIC_KEY,
                secret_key=SECRET_KEY,
                base_url=url,
                tracer_provider=TracerProvider(),
            )
            barrier = threading.Barrier(traces)

            def one_trace(i: int) -> None:
                barrier.wait()
                with client.start_as_current_observation(name="burst", input={"i": i}):
                    for j in range(per_trace - 1):
                        with client.start_as_current_observation(name=f"step-{j}") as step:
                            step.update(output={"j": j})

            latencies: list[float] = []
            seen: list[float] = []
            with probe_health(url, latencies, seen):
                start = time.perf_counter()
                with concurrent.futures.ThreadPoolExecutor(max_workers=traces) as pool:
                    list(pool.map(one_trace, range(traces)))
                client.flush()
                elapsed = time.perf_counter() - start
                client.shutdown()
        stored = span_count(db)
    sent = traces * per_trace
    print(f"burst: {traces} concurrent traces x {per_trace} spans from the official SDK")
    print(f"  stored {stored} of {sent} spans ({sent - stored} dropped) in {elapsed:.2f} s")
    print(f"  target: no span dropped: {verdict(stored == sent)}")
    if latencies:
        print(f"  /health during the burst: {_spread(latencies)}")
    if seen:
        print(f"  the control's /health meanwhile: {_spread(seen)}")
    control += seen
    return latencies


# --- reads at scale ------------------------------------------------------------------------


def fill(db: str, observations: int) -> str:
    """Write a collector database of ``observations`` rows directly (ten per trace)."""
    from langfuse_async._collector._store import Store

    Store(db).close()  # the schema, as the collector creates it
    conn = sqlite3.connect(db)
    trace_rows, observation_rows = [], []
    for t in range(observations // 10):
        trace_id = f"trace-{t:06d}"
        stamp = f"2026-01-{1 + t % 28:02d}T{t % 24:02d}:00:{t % 60:02d}.000Z"
        doc = {"id": trace_id, "timestamp": stamp, "name": f"n{t % 7}", "userId": f"u{t % 50}"}
        doc.update({"environment": "default", "tags": ["a"], "public": False})
        trace_rows.append(
            (
                trace_id,
                stamp,
                doc["name"],
                doc["userId"],
                None,
                "default",
                None,
                None,
                '["a"]',
                json.dumps(doc),
            )
        )
        for o in range(10):
            obs_id = f"{trace_id}-{o}"
            obs = {"id": obs_id, "traceId": trace_id, "type": "SPAN", "name": f"step-{o}"}
            obs.update({"startTime": stamp, "endTime": stamp, "level": "DEFAULT"})
            obs.update({"environment": "default", "input": {"q": "x" * 200}})
            observation_rows.append(
                (
                    obs_id,
                    trace_id,
                    "SPAN",
                    obs["name"],
                    stamp,
                    stamp,
                    "DEFAULT",
                    None,
                    None,
                    "default",
                    None,
                    json.dumps(obs),
                )
            )
    conn.executemany(
        "INSERT INTO traces (id, timestamp, name, user_id, session_id, environment, release,"
        " version, tags, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        trace_rows,
    )
    conn.executemany(
        "INSERT INTO observations (id, trace_id, type, name, start_time, end_time, level,"
        " parent_id, version, environment, total_cost, doc)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        observation_rows,
    )
    conn.commit()
    conn.close()
    return trace_rows[len(trace_rows) // 2][0]


def bench_reads(observations: int) -> None:
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "reads.db")
        trace_id = fill(db, observations)
        print(f"reads at {observations:,} observations (median of 20, over loopback HTTP):")
        with serve(db) as url:
            for path in (
                "/api/public/observations?limit=50",
                "/api/public/observations?limit=50&page=100",
                f"/api/public/observations?traceId={trace_id}",
                "/api/public/v2/observations?limit=50",
                "/api/public/traces?limit=50",
                "/api/public/traces?limit=50&userId=u7",
                f"/api/public/traces/{trace_id}",
                "/api/public/sessions",
            ):
                request(url + path)  # warm the page cache
                times = []
                for _ in range(20):
                    start = time.perf_counter()
                    request(url + path)
                    times.append((time.perf_counter() - start) * 1000)
                print(f"  {statistics.median(times):6.1f} ms  GET {path}")
                worst = max(worst, statistics.median(times))
    print(f"  target < 20 ms: {verdict(worst < 20)} (slowest median {worst:.1f} ms)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller runs")
    parser.add_argument(
        "--only",
        default="idle,ingest,burst,reads",
        help="comma-separated parts to run (idle, ingest, burst, reads)",
    )
    args = parser.parse_args(argv)
    parts = set(args.only.split(","))
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    latencies: list[float] = []
    control: list[float] = []
    with control_server():
        if "idle" in parts:
            idle_health()
        if "ingest" in parts:
            latencies += bench_ingest(1000 if args.quick else 5000, control)
        if "burst" in parts:
            latencies += bench_burst(100 if args.quick else 500, control)
    if latencies:
        worst = max(latencies)
        print(f"/health within 10 ms throughout: {verdict(worst <= 10)} (max {worst:.1f} ms)")
        if control:
            # Not a verdict: how late this machine answers at all under the same load.
            print(
                f"  the control (a bare aiohttp server, same load): max {max(control):.1f} ms,"
                f" over 10 ms {sum(c > 10 for c in control)} of {len(control)} probes;"
                f" the collector: over 10 ms {sum(x > 10 for x in latencies)}"
                f" of {len(latencies)}"
            )
    if "reads" in parts:
        bench_reads(10_000 if args.quick else 100_000)


if __name__ == "__main__":
    main()
