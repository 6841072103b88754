"""The benchmark harness's pure parts: the sink's id counting and the results' rendering.

Nothing here times anything: the figures are made up, the sink is driven over loopback.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest

HARNESS = Path(__file__).resolve().parent.parent / "benchmarks" / "harness"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_harness_{name}", HARNESS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


sink = _load("sink")
report = _load("report")


def ingestion_batch(*events: tuple[str, str, dict[str, Any]]) -> bytes:
    return json.dumps(
        {"batch": [{"id": eid, "type": kind, "body": body} for eid, kind, body in events]}
    ).encode()


def test_ingestion_counts_observations_and_traces_apart() -> None:
    body = ingestion_batch(
        ("e1", "trace-create", {"id": "t1"}),
        ("e2", "span-create", {"id": "o1", "traceId": "t1"}),
        ("e3", "span-update", {"id": "o1", "traceId": "t1"}),
        ("e4", "generation-create", {"id": "o2", "traceId": "t2"}),
        ("e5", "score-create", {"id": "s1", "traceId": "t1"}),
    )
    arrivals = sink.ingestion_arrivals(body)
    assert arrivals.event_ids == ["e1", "e2", "e3", "e4", "e5"]
    assert sorted(set(arrivals.observations)) == ["o1", "o2"]
    assert set(arrivals.traces) == {"t1", "t2"}


def test_otlp_json_and_protobuf_give_the_same_ids() -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for span_id in (b"\x01" * 8, b"\x02" * 8):
        span = scope.spans.add()
        span.trace_id = b"\xaa" * 16
        span.span_id = span_id
        span.name = "s"
    document = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {"traceId": "aa" * 16, "spanId": "01" * 8},
                            {"traceId": "aa" * 16, "spanId": "02" * 8},
                        ]
                    }
                ]
            }
        ]
    }
    proto = sink.otlp_arrivals(request.SerializeToString(), "application/x-protobuf")
    as_json = sink.otlp_arrivals(json.dumps(document).encode(), "application/json")
    assert proto.observations == as_json.observations == ["01" * 8, "02" * 8]
    assert set(proto.traces) == set(as_json.traces) == {"aa" * 16}


def test_tally_counts_a_resent_id_once_and_dates_only_new_ones() -> None:
    tally = sink.Tally()
    first = sink.Arrivals([], ["o1", "o2"], ["t1"])
    tally.add(first, 100, now=10.0)
    tally.add(first, 100, now=20.0)  # a retry of the same batch: nothing new
    snapshot = tally.snapshot()
    assert (snapshot["observations"], snapshot["traces"], snapshot["requests"]) == (2, 1, 2)
    assert snapshot["last_new"] == 10.0
    tally.reset()
    assert tally.snapshot()["observations"] == 0


def test_decompress_undoes_gzip_left_on_the_body() -> None:
    assert sink.decompress(gzip.compress(b"payload")) == b"payload"
    assert sink.decompress(b"payload") == b"payload"


@pytest.mark.anyio
async def test_sink_answers_both_routes_and_reports_counts() -> None:
    from aiohttp.test_utils import TestServer

    server = TestServer(sink.build_app(sink.Tally()), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession(str(server.make_url(""))) as session:
            body = ingestion_batch(("e1", "span-create", {"id": "o1", "traceId": "t1"}))
            headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
            async with session.post(
                sink.INGESTION_PATH, data=gzip.compress(body), headers=headers
            ) as response:
                assert response.status == 207
                assert (await response.json())["successes"] == [{"id": "e1", "status": 201}]
            document = {
                "resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "t2", "spanId": "o2"}]}]}]
            }
            async with session.post(sink.OTLP_PATH, json=document) as response:
                assert response.status == 200
            async with session.get("/_bench/stats") as response:
                stats = await response.json()
    finally:
        await server.close()
    assert (stats["observations"], stats["traces"], stats["requests"]) == (2, 2, 2)


def _throughput_round(received: int, *, n: int = 1000) -> dict[str, Any]:
    result = {
        "n": n,
        "unit": "observations",
        "t0": 100.0,
        "t1": 101.0,
        "peak_rss_mb": 50.0,
        "stall_p99_ms": 2.0,
        "stall_max_ms": 4.0,
    }
    return {"result": result, "sink": {"observations": received, "last_new": 100.5}}


def test_throughput_clock_runs_until_the_last_arrival_when_flush_returned_early() -> None:
    result = _throughput_round(1000)["result"]
    late = report.throughput_figures(result, {"observations": 500, "last_new": 102.0})
    assert late == {"obs_s": 250.0, "lost": 500}
    on_time = report.throughput_figures(result, {"observations": 1000, "last_new": 100.5})
    assert on_time == {"obs_s": 1000.0, "lost": 0}


def test_aggregate_takes_medians_and_ranges_and_targets_say_met_or_missed() -> None:
    def one_round(observe_us: float, received: int) -> dict[str, Any]:
        hot = {
            "observe": {"overhead_us": observe_us},
            "parent_3_children": {"overhead_us": 4 * observe_us},
            "span_update": {"overhead_us": observe_us},
        }
        ours = {"hot_path": hot, "throughput_tiny": _throughput_round(received)}
        official = {"hot_path": {k: {"overhead_us": 300.0} for k in hot}}
        return {"langfuse_async-ingestion": ours, "langfuse5": official}

    summary = report.aggregate([one_round(1.0, 1000), one_round(3.0, 990), one_round(2.0, 1000)])
    observe = summary["langfuse_async-ingestion"]["observe_us"]
    assert (observe["median"], observe["min"], observe["max"], observe["rounds"]) == (
        2.0,
        1.0,
        3.0,
        3,
    )
    verdicts = {v["target"]: v for v in report.evaluate(summary)}
    assert verdicts["`@observe` overhead <= 2 us"]["met"] is True
    assert verdicts[">= 100x below the official SDK's `@observe`"]["met"] is True
    # 1,000 obs/s is below the floor, and one round lost 10: missed either way.
    tiny = verdicts[">= 150,000 tiny obs/s, nothing lost"]
    assert tiny["met"] is False and "lost up to 10" in tiny["figure"]


def test_markdown_table_shows_median_and_range_per_competitor() -> None:
    summary = {
        "langfuse_async-otlp": {"observe_us": report.summarize([1.5, 1.25, 2.0])},
        "otel": {"observe_us": report.summarize([70.0])},
    }
    table = report.markdown_table(summary).splitlines()
    assert table[0] == "| | langfuse_async (OTLP) | OpenTelemetry SDK |"
    assert table[2] == "| `@observe` overhead, new trace (us) | 1.50 (1.25-2.00) | 70.00 |"
    assert len(table) == 3  # metrics nobody measured get no row


def test_readme_block_replaces_only_the_text_between_its_markers() -> None:
    summary = {"langfuse_async-ingestion": {"observe_us": report.summarize([1.5])}}
    environment = {
        "date": "2026-01-01 00:00 UTC",
        "machine": "2 CPUs",
        "python": "3.11.7",
        "rounds": 1,
        "command": "python benchmarks/run.py",
        "versions": {"langfuse_async-ingestion": {"langfuse-async": "0.1.0"}},
        "note": "A shared machine.",
    }
    block = report.readme_block(environment, summary)
    readme = f"intro\n{report.README_START}\nold table\n{report.README_END}\nnotes\n"
    updated = report.replace_readme_block(readme, block)
    assert updated.startswith("intro\n") and updated.endswith("\nnotes\n")
    assert "old table" not in updated
    assert "| `@observe` overhead, new trace (us) | 1.50 |" in updated
    assert "langfuse-async 0.1.0" in updated and "**A shared machine.**" in updated
    assert report.replace_readme_block("no markers", block) == "no markers"
