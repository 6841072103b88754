"""The whole product: user code -> client -> embedded collector, on both routes.

Every event the client can produce goes over the wire, is checked against the published
schema and the real server's stricter rules, and is stored by the collector as the server
would store it; the OTLP route must produce the same observations as the ingestion route.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from langfuse_async import EventError, Langfuse, get_client, observe
from langfuse_async._records import OBSERVATION_TYPES
from langfuse_async.testing import Collector
from tests.support.server_rules import check_body, check_event
from tests.wire.test_ingestion import assert_schema_valid

pytestmark = pytest.mark.anyio

GENERATION_FIELDS: dict[str, Any] = dict(
    model="gpt-4o-mini",
    model_parameters={"temperature": 0.2, "max_tokens": 256},
    usage_details={"input": 12, "output": 3},
    cost_details={"total": 0.0000036},
    prompt_name="qa-prompt",
    prompt_version=3,
)


@observe(name="answer")
async def answer(question: str) -> str:
    langfuse = get_client()
    langfuse.update_current_trace(
        name="chat-turn",
        user_id="user-42",
        session_id="sess-7",
        version="v2",
        release="2026.11",
        metadata={"tenant": "acme", "attempt": 1},
        tags=["beta", "chat"],
        public=True,
        input={"question": question},
    )
    for as_type in sorted(OBSERVATION_TYPES - {"event"}):
        fields = GENERATION_FIELDS if as_type not in ("span",) else {}
        async with langfuse.start_as_current_observation(
            name=f"{as_type}-step", as_type=as_type, input={"q": question}, **fields
        ) as obs:
            obs.update(output={"ok": as_type}, metadata={"k": as_type})
    langfuse.create_event(name="cache-miss", input={"key": question}, level="WARNING")
    langfuse.score_current_span(name="relevance", value=0.5)
    trace_id = langfuse.get_current_trace_id()
    assert trace_id is not None
    for data_type, value in [
        ("NUMERIC", 0.9),
        ("BOOLEAN", 1),
        ("CATEGORICAL", "good"),
        ("TEXT", "a fine answer"),
        ("CORRECTION", "4"),
    ]:
        langfuse.create_score(
            name=f"s-{data_type.lower()}", value=value, trace_id=trace_id, data_type=data_type
        )
    langfuse.create_score(name="session-quality", value=1.0, session_id="sess-7")
    langfuse.update_current_trace(output={"answer": "4"})
    return "4"


async def run_workload(collector: Collector, transport: str) -> Langfuse:
    errors: list[EventError] = []
    langfuse = Langfuse(
        public_key=collector.public_key,
        secret_key=collector.secret_key,
        base_url=collector.url,
        transport=transport,
        environment="production",
        release="2026.11",
        on_error=errors.append,
        flush_interval=0.05,
    )
    try:
        assert await answer("what is 2+2?") == "4"
        result = await langfuse.flush(timeout=20)
        assert result.completed, result
        assert errors == []
    finally:
        await langfuse.shutdown(timeout=10)
    s = langfuse.statistics()
    assert s.pending == 0 and s.enqueued == s.delivered and s.failed == s.dropped == 0
    return langfuse


async def test_every_event_on_the_ingestion_route_is_valid_and_stored() -> None:
    async with Collector(mode="v3") as collector:
        await run_workload(collector, "ingestion")
        events = []
        for request in collector.requests_to("ingestion"):
            body = request.json()
            assert check_body(body) == []
            events.extend(body["batch"])
        for event in events:
            assert_schema_valid(event)
            assert check_event(event) == [], event
        types = {e["type"] for e in events}
        assert types == {t + "-create" for t in OBSERVATION_TYPES} | {
            "trace-create",
            "score-create",
        }
        assert len({e["id"] for e in events}) == len(events)

        [trace] = await collector.traces()
        assert (trace.name, trace.user_id, trace.session_id) == ("chat-turn", "user-42", "sess-7")
        assert sorted(trace.tags) == ["beta", "chat"]
        assert trace.input == {"question": "what is 2+2?"}
        assert trace.output == {"answer": "4"}
        assert trace.environment == "production" and trace.release == "2026.11"
        observations = await collector.observations(trace_id=trace.id)
        assert len(observations) == 11  # the root, nine typed steps, one event
        root = next(o for o in observations if o.parent_observation_id is None)
        assert root.name == "answer"
        assert all(o.parent_observation_id == root.id for o in observations if o.id != root.id)
        generation = next(o for o in observations if o.type == "GENERATION")
        assert generation.model == "gpt-4o-mini"
        assert generation.usage_details == {"input": 12, "output": 3, "total": 15}
        assert generation.prompt_name == "qa-prompt"
        scores = await collector.scores()
        assert len(scores) == 7


def observation_summary(o: Any) -> tuple[Any, ...]:
    return (
        o.id,
        o.trace_id,
        o.parent_observation_id,
        o.type,
        o.name,
        o.level,
        o.model,
        o.input,
        o.output,
    )


async def test_the_otlp_route_stores_the_same_observations_as_the_ingestion_route() -> None:
    stored: dict[str, list[tuple[Any, ...]]] = {}
    traces: dict[str, Any] = {}
    for mode, transport in (("v3", "ingestion"), ("v4", "auto")):
        async with Collector(mode=mode) as collector:
            client = await run_workload(collector, transport)
            assert client.statistics().transport == ("otlp" if mode == "v4" else "ingestion")
            observations = await collector.observations()
            # Ids differ between the runs; compare shapes with ids replaced by their roles.
            by_id = {o.id: o.name for o in observations}
            stored[mode] = sorted(
                (
                    o.name,
                    by_id.get(o.parent_observation_id),
                    o.type,
                    o.level,
                    o.model,
                    o.input,
                    o.output,
                )
                for o in observations
            )
            [trace] = await collector.traces()
            traces[mode] = (trace.name, trace.user_id, trace.session_id, sorted(trace.tags))
    assert stored["v4"] == stored["v3"]
    assert traces["v4"] == traces["v3"]


async def test_concurrent_requests_keep_their_own_traces() -> None:
    async with Collector(mode="v4") as collector:
        langfuse = Langfuse(
            public_key=collector.public_key,
            secret_key=collector.secret_key,
            base_url=collector.url,
            flush_interval=0.05,
        )

        @observe(name="request")
        async def request(i: int) -> int:
            get_client().update_current_trace(user_id=f"user-{i}")
            await asyncio.sleep(0)
            return await step(i)

        @observe(name="step")
        async def step(i: int) -> int:
            await asyncio.sleep(0)
            return i

        assert await asyncio.gather(*(request(i) for i in range(50))) == list(range(50))
        assert (await langfuse.shutdown(timeout=20)).completed
        traces = await collector.traces()
        assert len(traces) == 50
        for trace in traces:
            observations = await collector.observations(trace_id=trace.id)
            assert sorted(o.name for o in observations) == ["request", "step"]
            root = next(o for o in observations if o.name == "request")
            child = next(o for o in observations if o.name == "step")
            assert child.parent_observation_id == root.id
            assert root.input == {"i": int(trace.user_id.split("-")[1])}


@pytest.mark.parametrize(("mode", "transport"), [("v3", "ingestion"), ("v3", "otlp")])
async def test_a_trace_continued_from_another_service_is_stored_as_a_trace(
    mode: str, transport: str
) -> None:
    remote_trace, remote_parent = "ab" * 16, "cd" * 8
    async with Collector(mode=mode) as collector:
        langfuse = Langfuse(
            public_key=collector.public_key,
            secret_key=collector.secret_key,
            base_url=collector.url,
            transport=transport,
            flush_interval=0.05,
        )
        async with langfuse.start_as_current_observation(
            name="handler",
            trace_context={"trace_id": remote_trace, "parent_span_id": remote_parent},
            input={"q": 1},
        ) as handler:
            assert handler.trace_id == remote_trace
            langfuse.update_current_trace(user_id="u-remote")
            with langfuse.start_as_current_observation(name="child"):
                pass
        assert (await langfuse.shutdown(timeout=20)).completed
        [trace] = await collector.traces()
        assert (trace.id, trace.name, trace.user_id) == (remote_trace, "handler", "u-remote")
        observations = {o.name: o for o in await collector.observations(trace_id=remote_trace)}
        assert observations["handler"].parent_observation_id == remote_parent
        assert observations["child"].parent_observation_id == observations["handler"].id
        if transport == "otlp":
            [request] = collector.requests_to("otlp")
            spans = request.json()["resourceSpans"][0]["scopeSpans"][0]["spans"]
            handler_span = next(s for s in spans if s["name"] == "handler")
            keys = {a["key"]: a["value"] for a in handler_span["attributes"]}
            assert keys["langfuse.internal.as_root"] == {"boolValue": True}
            assert handler_span["parentSpanId"] == remote_parent


@pytest.mark.parametrize("compression", ["gzip", "none"])
async def test_otlp_bodies_go_gzipped_or_as_they_are(compression: str) -> None:
    # "none", as in the official SDK: for a server before 3.30, which does not inflate OTLP
    # bodies, or a proxy that mangles gzip.
    async with Collector(mode="v4") as collector:
        langfuse = Langfuse(
            public_key="pk-lf-local",
            secret_key="sk-lf-local",
            base_url=collector.url,
            transport="otlp",
            otel_compression=compression,  # type: ignore[arg-type]
        )
        with langfuse.start_as_current_observation(name="plain", input={"q": "x" * 2000}):
            pass
        result = await langfuse.shutdown(timeout=10)
        assert result.completed and result.delivered == 1
        [request] = collector.requests_to("otlp")
        if compression == "gzip":
            assert request.headers["content-encoding"] == "gzip"
            assert request.body[:2] == b"\x1f\x8b"
        else:
            assert "content-encoding" not in request.headers
            assert request.body.startswith(b'{"resourceSpans":')
        [observation] = await collector.observations()
        assert observation.input == {"q": "x" * 2000}
