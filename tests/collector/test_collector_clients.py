"""The collector driven by clients no one here wrote: the official 5.x SDK and plain OpenTelemetry.

Each test starts a collector on its own thread (the official SDK is synchronous and exports from
a background thread), writes with the real client, flushes it, and reads back what was stored.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import logging
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.openapi import check, load_spec
from tests.support.threaded_collector import ThreadedCollector

langfuse = pytest.importorskip("langfuse", reason="the official SDK is in the test extra")
trace_sdk = pytest.importorskip("opentelemetry.sdk.trace")
resources = pytest.importorskip("opentelemetry.sdk.resources")
otlp_http = pytest.importorskip("opentelemetry.exporter.otlp.proto.http.trace_exporter")
export = pytest.importorskip("opentelemetry.sdk.trace.export")


@pytest.fixture
def served() -> Iterator[ThreadedCollector]:
    # The official SDK keeps one resource manager per public key: a fresh key per test keeps
    # each test's client pointed at its own collector.
    with ThreadedCollector(public_key=f"pk-lf-{uuid.uuid4().hex}") as threaded:
        yield threaded


def official(served: ThreadedCollector, **options: Any) -> Any:
    """An official 5.x client on its own tracer provider (the global one stays untouched)."""
    c = served.collector
    return langfuse.Langfuse(
        public_key=c.public_key,
        secret_key=c.secret_key,
        base_url=c.url,
        tracer_provider=trace_sdk.TracerProvider(),
        **options,
    )


def test_scores_from_the_official_sdk_are_all_stored(served):
    client = official(served)
    try:
        with client.start_as_current_observation(name="root") as root:
            root.score(name="on-span", value=0.5)
            root.score_trace(name="on-trace", value=1.0, comment="good")
            trace_id, span_id = root.trace_id, root.id
        client.create_score(
            name="category", value="calm", trace_id=trace_id, data_type="CATEGORICAL"
        )
        client.flush()
    finally:
        client.shutdown()
    scores = {s.name: s for s in served.query(lambda c: c.scores(trace_id=trace_id))}
    assert set(scores) == {"on-span", "on-trace", "category"}
    assert (scores["on-span"].value, scores["on-span"].observation_id) == (0.5, span_id)
    assert (scores["on-trace"].comment, scores["on-trace"].observation_id) == ("good", None)
    assert (scores["category"].value, scores["category"].data_type) == ("calm", "CATEGORICAL")
    [request] = served.collector.requests_to("scores")
    assert isinstance(request.json(), list)  # the 5.x SDK posts an array


def test_5x_metadata_values_read_back_decoded(served):
    client = official(served)
    try:
        with client.start_as_current_observation(
            name="root", metadata={"provider": "openai", "n": 2, "text": "2", "nested": {"a": [1]}}
        ) as root:
            trace_id = root.trace_id
        client.flush()
    finally:
        client.shutdown()
    [observation] = served.query(lambda c: c.observations(trace_id=trace_id))
    metadata = observation.metadata
    assert (metadata["provider"], metadata["n"], metadata["text"]) == ("openai", 2, "2")
    assert metadata["nested"] == {"a": [1]}


DATA = Path(__file__).resolve().parent.parent / "data"


def post_json(served: ThreadedCollector, path: str, body: Any) -> tuple[int, Any]:
    c = served.collector
    request = urllib.request.Request(
        c.url + path,
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": "Basic " + _basic(c.public_key, c.secret_key),
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_a_recorded_2x_batch_keeps_the_first_environment_and_timestamp(served):
    recorded = json.loads((DATA / "langfuse2_ingestion_batch.json").read_text())
    status, answer = post_json(served, "/api/public/ingestion", recorded)
    assert (status, answer["errors"]) == (207, [])
    trace = served.query(lambda c: c.trace("trace-2x"))
    assert trace is not None
    # The trace update (a second trace-create, without environment or timestamp) and the
    # observation updates must not turn "staging" into "default" or move the start.
    assert trace.environment == "staging"
    assert trace.timestamp == recorded["batch"][0]["body"]["timestamp"][:23] + "Z"
    assert (trace.output, trace.metadata, trace.user_id) == ({"a": "hello"}, {"done": True}, "u1")
    observations = {o.id: o for o in served.query(lambda c: c.observations(trace_id="trace-2x"))}
    assert {o.environment for o in observations.values()} == {"staging"}
    span = observations["span-2x"]
    assert span.start_time == recorded["batch"][1]["body"]["startTime"][:23] + "Z"
    assert (span.output, span.metadata) == ({"docs": ["d1"]}, {"docs": 2})
    generation = observations["gen-2x"]
    assert (generation.output, generation.usage_details["total"]) == ("hello", 8)
    [score] = served.query(lambda c: c.scores(trace_id="trace-2x"))
    assert (score.value, score.environment) == (0.8, "staging")


def otel_provider(served: ThreadedCollector, **resource: Any) -> Any:
    c = served.collector
    exporter = otlp_http.OTLPSpanExporter(
        endpoint=c.url + "/api/public/otel/v1/traces",
        headers={"Authorization": "Basic " + _basic(c.public_key, c.secret_key)},
    )
    provider = trace_sdk.TracerProvider(resource=resources.Resource.create(resource))
    provider.add_span_processor(export.SimpleSpanProcessor(exporter))
    return provider


def _basic(public_key: str, secret_key: str) -> str:
    return base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()


def test_opentelemetry_exception_events_are_kept(served):
    provider = otel_provider(served, **{"service.name": "svc"})
    tracer = provider.get_tracer("my-app")
    try:
        with tracer.start_as_current_span("work") as span:
            span.set_attribute("langfuse.observation.input", '{"q": 1}')
            span.add_event("cache miss", {"key": "k1"})
            raise ValueError("boom")
    except ValueError:
        pass
    finally:
        provider.shutdown()
    trace_id = format(span.get_span_context().trace_id, "032x")
    [observation] = served.query(lambda c: c.observations(trace_id=trace_id))
    assert observation.level == "ERROR"
    assert observation.status_message == "ValueError: boom"
    events = {e["name"]: e for e in observation.metadata["events"]}
    assert events["cache miss"]["attributes"] == {"key": "k1"}
    exception = events["exception"]["attributes"]
    assert exception["exception.type"] == "ValueError"
    assert exception["exception.message"] == "boom"
    assert 'raise ValueError("boom")' in exception["exception.stacktrace"]
    assert events["exception"]["timestamp"].endswith("Z")


def test_a_rejected_score_in_a_batch_is_named_and_logged(served, caplog):
    body = [
        {"name": "ok", "value": 1.0, "traceId": "t1"},
        {"id": "bad-one", "name": "missing target", "value": 1.0},
    ]
    caplog.set_level(logging.WARNING, logger="langfuse_async")
    status, answer = post_json(served, "/api/public/scores", body)
    assert status == 207
    assert (answer["accepted"], answer["rejected"]) == (1, 1)
    assert "'bad-one'" in answer["errors"][0]["message"]
    assert any("score batch" in r.getMessage() for r in caplog.records)
    assert [s.name for s in served.query(lambda c: c.scores())] == ["ok"]


# --- reads: the official client's typed API, and the spec's schemas ---------------------------


def get_json(served: ThreadedCollector, path: str) -> tuple[int, Any]:
    c = served.collector
    request = urllib.request.Request(
        c.url + path, headers={"Authorization": "Basic " + _basic(c.public_key, c.secret_key)}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def written(served: ThreadedCollector) -> dict[str, str]:
    """A trace written by the official SDK: a span, a generation, scores; and a bare trace."""
    client = official(served, environment="staging")
    try:
        with client.start_as_current_observation(name="root", input={"q": "hi"}) as root:
            with propagate(user_id="u1", session_id="s1", tags=["t1"]):
                with client.start_as_current_observation(
                    name="llm",
                    as_type="generation",
                    model="gpt-4o",
                    usage_details={"input": 3, "output": 5},
                    cost_details={"input": 0.25, "output": 0.5},
                ) as generation:
                    generation.update(output="hello")
            root.score(name="helpful", value=1.0, data_type="BOOLEAN")
            root.score_trace(name="tone", value="calm", data_type="CATEGORICAL")
            ids = {"trace": root.trace_id, "root": root.id, "generation": generation.id}
        client.flush()
    finally:
        client.shutdown()
    # A trace without observations or costs: its latency and totalCost must still be numbers.
    status, _ = post_json(
        served,
        "/api/public/ingestion",
        {
            "batch": [
                {
                    "id": "bare-event",
                    "type": "trace-create",
                    "timestamp": "2026-01-01T00:00:00.000Z",
                    "body": {"id": "bare", "name": "bare"},
                }
            ]
        },
    )
    assert status == 207
    return ids


def propagate(**attributes: Any) -> Any:
    return langfuse.propagate_attributes(**attributes)


def test_auth_check_and_projects(served):
    client = official(served)
    try:
        assert client.auth_check() is True
        projects = client.api.projects.get()
    finally:
        client.shutdown()
    assert projects.data[0].id == "local-project"
    check(load_spec(), "Projects", get_json(served, "/api/public/projects")[1])


def test_v2_observations_through_the_official_client(served, written):
    client = official(served)
    try:
        page = client.api.observations.get_many(
            trace_id=written["trace"], fields="core,basic,io,usage,model,metrics,trace_context"
        )
        roots = client.api.observations.get_many(
            trace_id=written["trace"], is_root_observation=True
        )
        first = client.api.observations.get_many(limit=1)
        second = client.api.observations.get_many(limit=1, cursor=first.meta.cursor)
    finally:
        client.shutdown()
    by_name = {o.name: o for o in page.data}
    generation = by_name["llm"]
    assert generation.id == written["generation"]
    assert (generation.type, generation.environment) == ("GENERATION", "staging")
    assert generation.parent_observation_id == written["root"]
    assert (generation.output, generation.model) == ("hello", "gpt-4o")
    assert generation.usage_details == {"input": 3, "output": 5, "total": 8}
    assert generation.total_cost == 0.75
    assert (generation.user_id, generation.session_id, generation.tags) == ("u1", "s1", ["t1"])
    assert by_name["root"].input == {"q": "hi"}
    assert [o.id for o in roots.data] == [written["root"]]
    assert second.meta.cursor is None and first.data[0].id != second.data[0].id
    _, raw = get_json(served, f"/api/public/v2/observations?traceId={written['trace']}")
    check(load_spec(), "ObservationsV2Response", raw)
    assert "input" not in raw["data"][0]  # only the default core and basic groups


def test_v3_scores_through_the_official_client(served, written):
    client = official(served)
    try:
        page = client.api.scores.get_many(trace_id=written["trace"], fields="details,subject")
    finally:
        client.shutdown()
    by_name = {s.name: s for s in page.data}
    assert by_name["helpful"].value is True
    assert by_name["helpful"].subject.id == written["root"]
    assert by_name["tone"].value == "calm"
    _, raw = get_json(served, "/api/public/v3/scores?fields=details,subject,annotation")
    check(load_spec(), "GetScoresV3Response", raw)
    status, body = get_json(served, "/api/public/v3/scores?fields=nope")
    assert status == 400 and "nope" in body["error"][0]["message"]


def test_trace_reads_match_the_spec_with_and_without_observations(served, written):
    spec = load_spec()
    status, trace = get_json(served, f"/api/public/traces/{written['trace']}")
    assert status == 200
    check(spec, "TraceWithFullDetails", trace)
    assert trace["totalCost"] == 0.75 and trace["latency"] >= 0
    assert (trace["userId"], trace["sessionId"], trace["environment"]) == ("u1", "s1", "staging")
    status, bare = get_json(served, "/api/public/traces/bare")
    check(spec, "TraceWithFullDetails", bare)
    assert (bare["latency"], bare["totalCost"]) == (0.0, 0.0)
    status, page = get_json(served, "/api/public/traces?limit=10")
    check(spec, "Traces", page)
    assert page["meta"]["totalItems"] == 2


def test_sessions_and_legacy_score_reads_match_the_spec(served, written):
    spec = load_spec()
    status, sessions = get_json(served, "/api/public/sessions")
    assert status == 200
    check(spec, "PaginatedSessions", sessions)
    assert [s["id"] for s in sessions["data"]] == ["s1"]
    status, session = get_json(served, "/api/public/sessions/s1")
    check(spec, "SessionWithTraces", session)
    assert [t["id"] for t in session["traces"]] == [written["trace"]]
    assert get_json(served, "/api/public/sessions/none")[0] == 404
    for path in ("/api/public/scores", "/api/public/v2/scores"):
        status, scores = get_json(served, f"{path}?traceId={written['trace']}")
        assert status == 200
        check(spec, "GetScoresResponse", scores)
        assert {s["name"] for s in scores["data"]} == {"helpful", "tone"}
        assert scores["data"][0]["trace"]["userId"] == "u1"
        score_id = scores["data"][0]["id"]
        status, one = get_json(served, f"{path}/{score_id}")
        assert status == 200
        check(spec, "Score", one)
    assert get_json(served, "/api/public/scores/none")[0] == 404


def test_v4_mode_serves_the_v4_reads_and_refuses_the_legacy_ones():
    with ThreadedCollector(mode="v4", public_key=f"pk-lf-{uuid.uuid4().hex}") as v4:
        assert get_json(v4, "/api/public/projects")[0] == 200
        assert get_json(v4, "/api/public/v2/observations")[1] == {"data": [], "meta": {}}
        assert get_json(v4, "/api/public/v3/scores")[0] == 200
        for path in ("/api/public/sessions", "/api/public/scores", "/api/public/v2/scores/x"):
            status, body = get_json(v4, path)
            assert status == 404 and "events_only" in body["message"]


def test_a_burst_of_500_concurrent_traces_from_the_official_sdk_is_stored_whole(served):
    # Speed is the benchmark's business (benchmarks/bench_collector.py); this checks that
    # concurrent exports of interleaved traces lose and mix up nothing.
    client = official(served)
    barrier = threading.Barrier(50)

    def traces(worker: int) -> list[str]:
        barrier.wait()
        ids = []
        for i in range(10):
            with client.start_as_current_observation(name=f"burst-{worker}-{i}") as root:
                for step in range(3):
                    with client.start_as_current_observation(name=f"step-{step}"):
                        pass
                ids.append(root.trace_id)
        return ids

    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            trace_ids = [t for ids in pool.map(traces, range(50)) for t in ids]
        client.flush()
    finally:
        client.shutdown()
    assert len(set(trace_ids)) == 500
    observations = served.query(lambda c: c.observations())
    assert len(observations) == 2000
    per_trace: dict[str | None, int] = {}
    for observation in observations:
        per_trace[observation.trace_id] = per_trace.get(observation.trace_id, 0) + 1
    assert per_trace == dict.fromkeys(trace_ids, 4)
    stored = served.query(lambda c: c.traces())
    assert {t.id for t in stored} == set(trace_ids)
