"""Route choice: ingestion, OTLP, and auto mode against v3-like and v4-like servers."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp import web

from langfuse_async._delivery.routing import choose_route, parse_health_version
from langfuse_async._outcomes import EventError
from langfuse_async._records import Record
from tests.support import factories
from tests.support.fake_langfuse import INGESTION, OTLP, FakeLangfuse
from tests.support.pipelines import balanced, make_pipeline

pytestmark = pytest.mark.anyio


def mixed_workload() -> tuple[list[Record], list[Record], list[Record]]:
    """Observations, trace updates and scores of two traces."""
    t1, t2 = factories.observation().trace_id, factories.observation().trace_id
    # Made while the trace is open: the spans that end after it carry it on the OTLP route.
    traces = [factories.trace(trace_id=t1, name="chat", user_id="u-1")]
    root = factories.observation(trace_id=t1, parent_id=None, name="root", input={"q": "hi"})
    child = factories.observation(trace_id=t1, parent_id=root.id, as_type="generation", name="llm")
    other = factories.observation(trace_id=t2, parent_id=None, as_type="tool", name="search")
    scores = [factories.score(trace_id=t1), factories.score(trace_id=t2, observation_id=other.id)]
    return [root, child, other], traces, scores


def test_choose_route_is_pure() -> None:
    v4 = b'{"status":"OK","version":"4.16.0"}'
    v3 = b'{"status":"OK","version":"3.225.4"}'
    assert choose_route(health_status=200, health_body=v3, traces_probe_status=404) == "otlp"
    assert choose_route(health_status=200, health_body=v4, traces_probe_status=401) == "otlp"
    assert choose_route(health_status=200, health_body=v3, traces_probe_status=401) == "ingestion"
    assert choose_route(health_status=503, health_body=b"", traces_probe_status=None) is None
    assert choose_route(health_status=200, health_body=b"<html>", traces_probe_status=401) is None
    # A wrong base URL answers 404 to everything: not a v4 server.
    assert choose_route(health_status=404, health_body=b"{}", traces_probe_status=404) is None
    assert parse_health_version(b'{"version":"v4.2.1"}') == (4, 2)
    assert parse_health_version(b"[]") is None
    # A proxy page nested deeper than the JSON parser recurses: inconclusive, not a crash.
    assert parse_health_version(b"[" * 100_000) is None


async def test_otlp_transport_sends_spans_gzipped_and_scores_via_ingestion() -> None:
    async with FakeLangfuse(mode="v4") as server:
        p = make_pipeline(server.url, transport="otlp")
        observations, traces, scores = mixed_workload()
        for r in [*observations, *traces, *scores]:
            p.emit(r)
        assert (await p.flush(timeout=10)).completed
        otlp = [r for r in server.posts() if r.path == OTLP]
        assert len(otlp) == 1
        req = otlp[0]
        assert req.headers["Content-Encoding"] == "gzip"
        assert req.headers["Content-Type"] == "application/json"
        assert req.headers["x-langfuse-ingestion-version"] == "4"
        assert req.headers["Authorization"].startswith("Basic ")
        assert req.json is not None  # the server gunzipped and parsed it
        assert sorted(s["spanId"] for s in server.spans()) == sorted(o.id for o in observations)
        assert [e["type"] for e in server.events()] == ["score-create", "score-create"]
        s = p.statistics()
        assert s.transport == "otlp"
        assert s.delivered == len(observations) + len(traces) + len(scores)
        await p.shutdown()
        assert balanced(p)


async def test_auto_mode_against_a_v4_server_uses_otlp_and_loses_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors: list[EventError] = []
    async with FakeLangfuse(mode="v4") as server:
        p = make_pipeline(server.url, transport="auto", on_error=errors.append)
        observations, traces, scores = mixed_workload()
        with caplog.at_level(logging.INFO, logger="langfuse_async"):
            for r in [*observations, *traces, *scores]:
                p.emit(r)
            assert (await p.flush(timeout=10)).completed
        assert errors == []
        assert not [e for e in server.events() if e["type"] != "score-create"]
        assert len(server.spans()) == 3
        assert p.statistics().transport == "otlp"
        decisions = [r for r in caplog.records if "sending traces and observations" in r.message]
        assert len(decisions) == 1 and decisions[0].levelno == logging.INFO
        await p.shutdown()
        assert balanced(p) and p.statistics().delivered == 6


async def test_auto_mode_against_a_v3_server_uses_only_the_ingestion_route() -> None:
    async with FakeLangfuse(mode="v3") as server:
        p = make_pipeline(server.url, transport="auto")
        observations, traces, scores = mixed_workload()
        for r in [*observations, *traces, *scores]:
            p.emit(r)
        assert (await p.flush(timeout=10)).completed
        assert not [r for r in server.posts() if r.path != INGESTION]
        types = sorted(e["type"] for e in server.events())
        # One trace update, plus the trace-create each of the two roots brings along.
        assert types == sorted(
            ["span-create", "generation-create", "tool-create"]
            + ["trace-create"] * 3
            + ["score-create"] * 2
        )
        assert p.statistics().transport == "ingestion"
        await p.shutdown()
        assert balanced(p)


async def test_auto_mode_switches_on_not_accepted_rejections_without_reporting_them() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse(mode="v4") as server:
        server.probes_broken = True  # the probes say nothing: start on the ingestion route
        p = make_pipeline(server.url, transport="auto", on_error=errors.append)
        observations, traces, scores = mixed_workload()
        for r in [*observations, *traces, *scores]:
            p.emit(r)
        assert (await p.flush(timeout=10)).completed
        assert errors == []
        # The rejected events went again as OTLP spans, with the same records.
        assert sorted(s["spanId"] for s in server.spans()) == sorted(o.id for o in observations)
        assert p.statistics().transport == "otlp"
        later = factories.observation(name="after-switch")
        p.emit(later)
        assert (await p.flush(timeout=10)).completed
        assert server.spans()[-1]["spanId"] == later.id
        await p.shutdown()
        s = p.statistics()
        # 7 records and the trace-create each of the 2 roots brought (carried by its span).
        assert balanced(p) and s.delivered == 9 and s.failed == 0


async def test_explicit_ingestion_transport_reports_not_accepted_events() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse(mode="v4") as server:
        p = make_pipeline(server.url, transport="ingestion", on_error=errors.append)
        p.emit(factories.observation())
        p.emit(factories.score())
        assert (await p.flush(timeout=10)).completed
        assert [(e.event_type, e.reason, e.status) for e in errors] == [
            ("span-create", "rejected", 400)
        ]
        assert "otlp" in errors[0].message
        await p.shutdown()


async def test_otlp_whole_export_400_is_final_and_429_is_retried() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse(mode="v4") as server:
        p = make_pipeline(server.url, transport="otlp", on_error=errors.append)
        server.reply(OTLP, 429, {"message": "Rate limit exceeded"}, headers={"Retry-After": "0"})
        p.emit(factories.observation())
        assert (await p.flush(timeout=10)).completed
        assert errors == [] and p.statistics().retries == 1
        server.reply(OTLP, 400, {"error": "Invalid OTLP trace export: 1 of 1 span(s)"})
        bad = factories.observation()
        p.emit(bad)
        assert (await p.flush(timeout=10)).completed
        assert [(e.event_id, e.reason, e.status) for e in errors] == [
            (bad.event_id, "rejected", 400)
        ]
        assert errors[0].message.startswith("Invalid OTLP trace export")
        await p.shutdown()
        assert balanced(p)


async def test_a_trace_update_after_its_root_was_sent_is_reported_on_otlp() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse(mode="v4") as server:
        p = make_pipeline(server.url, transport="otlp", on_error=errors.append)
        early = factories.trace(name="early")
        root = factories.observation(trace_id=early.trace_id, parent_id=None)
        p.emit(early)
        p.emit(root)
        assert (await p.flush(timeout=10)).completed
        late = factories.trace(trace_id=root.trace_id, user_id="too-late")
        p.emit(late)
        assert (await p.flush(timeout=10)).completed
        assert [(e.event_id, e.reason) for e in errors] == [(late.event_id, "rejected")]
        assert "before its root observation ends" in errors[0].message
        await p.shutdown()
        s = p.statistics()
        assert (s.delivered, s.failed) == (2, 1) and balanced(p)


async def test_large_otlp_exports_are_compressed_off_the_loop_and_arrive_whole() -> None:
    async with FakeLangfuse(mode="v4") as server:
        p = make_pipeline(server.url, transport="otlp")
        records = [factories.observation(input="x" * 50_000) for _ in range(6)]
        for r in records:
            p.emit(r)
        assert (await p.flush(timeout=10)).completed
        assert sorted(s["spanId"] for s in server.spans()) == sorted(r.id for r in records)
        assert p.statistics().bytes_sent < 300_000 / 5  # gzip took the repetition out
        await p.shutdown()


async def test_a_wrong_base_url_is_named_once_in_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors: list[EventError] = []
    async with FakeLangfuse() as server:
        p = make_pipeline(server.url + "/wrong-prefix", transport="auto", on_error=errors.append)
        with caplog.at_level(logging.WARNING, logger="langfuse_async"):
            for _ in range(3):
                p.emit(factories.observation())
                assert (await p.flush(timeout=10)).completed
        assert p.statistics().transport == "ingestion"  # the probes were not trusted
        assert {(e.reason, e.status) for e in errors} == {("rejected", 404)}
        warnings = [r for r in caplog.records if "LANGFUSE_BASE_URL" in r.getMessage()]
        assert len(warnings) == 1 and "404" in warnings[0].getMessage()
        await p.shutdown()


async def test_an_oversize_child_span_gives_up_its_copy_of_the_trace_first() -> None:
    async with FakeLangfuse(mode="v4") as server:
        p = make_pipeline(server.url, transport="otlp", max_event_bytes=20_000)
        snap = factories.trace(metadata={"big": factories.raw("t" * 12_000)}).attributes
        root = factories.observation(parent_id=None, input="r" * 12_000, trace=snap)
        child = factories.observation(
            trace_id=root.trace_id, parent_id=root.id, input="c" * 12_000, trace=snap
        )
        p.emit(child)
        p.emit(root)
        assert (await p.flush(timeout=10)).completed
        spans = {s["spanId"]: s for s in server.spans()}

        def attributes(span_id: str) -> dict[str, str]:
            return {
                a["key"]: a["value"].get("stringValue", "") for a in spans[span_id]["attributes"]
            }

        marker = "<truncated due to size exceeding limit>"
        # The child keeps its own input; the root (which owns the trace) keeps the trace's copy.
        assert attributes(child.id)["langfuse.observation.input"] == "c" * 12_000
        assert "t" * 12_000 not in str(attributes(child.id))  # the copy of the trace is cut
        assert attributes(root.id)["langfuse.observation.input"] == marker
        assert "t" * 12_000 in str(attributes(root.id))
        assert p.statistics().truncated == 2
        await p.shutdown()


def _span_ids(parsed: Any) -> set[str]:
    return {
        span["spanId"]
        for rs in parsed["resourceSpans"]
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
    }


async def test_a_trace_update_refused_with_the_one_span_carrying_it_is_not_delivered() -> None:
    # A proxy's 413 for a span and the trace update riding on it: the halves were the span
    # alone and the update alone, sent as an export of no span and counted delivered.
    errors: list[EventError] = []
    async with FakeLangfuse(mode="v4") as server:
        p = make_pipeline(server.url, transport="otlp", on_error=errors.append)
        update = factories.trace(name="chat")
        span = factories.observation(trace_id=update.trace_id, input="x" * 1000)

        def too_large(parsed: Any) -> web.StreamResponse:
            if span.id in _span_ids(parsed):
                return web.Response(status=413, text="Request Entity Too Large")
            return web.json_response({})

        server.reply_with(OTLP, too_large, times=5)
        p.emit(update)
        p.emit(span)
        assert (await p.flush(timeout=10)).completed
        assert sorted((e.event_id, e.reason, e.status) for e in errors) == sorted(
            [(span.event_id, "rejected", 413), (update.event_id, "rejected", 413)]
        )
        assert all(_span_ids(r.json) for r in server.posts())  # never an export of no span
        await p.shutdown()
        s = p.statistics()
        assert (s.delivered, s.failed) == (0, 2) and balanced(p)


async def test_the_halves_of_a_413_keep_a_trace_update_with_the_span_carrying_it() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse(mode="v4") as server:
        p = make_pipeline(server.url, transport="otlp", on_error=errors.append)
        update = factories.trace(name="chat")
        carrier = factories.observation(trace_id=update.trace_id)
        other = factories.observation()  # another trace, its span refused for good

        def reply(parsed: Any) -> web.StreamResponse:
            ids = _span_ids(parsed)
            if ids == {carrier.id, other.id}:
                return web.Response(status=413, text="Request Entity Too Large")
            if other.id in ids:
                return web.json_response({"error": "Invalid OTLP trace export"}, status=400)
            return web.json_response({})

        server.reply_with(OTLP, reply, times=5)
        p.emit(update)
        p.emit(carrier)
        p.emit(other)
        assert (await p.flush(timeout=10)).completed
        # The update rode on `carrier`, delivered; only `other` was refused.
        assert [(e.event_id, e.status) for e in errors] == [(other.event_id, 400)]
        await p.shutdown()
        s = p.statistics()
        assert (s.delivered, s.failed) == (2, 1) and balanced(p)
