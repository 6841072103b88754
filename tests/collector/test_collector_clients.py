"""The collector driven by clients no one here wrote: the official 5.x SDK and plain OpenTelemetry.

Each test starts a collector on its own thread (the official SDK is synchronous and exports from
a background thread), writes with the real client, flushes it, and reads back what was stored.
"""

from __future__ import annotations

import base64
import json
import logging
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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
