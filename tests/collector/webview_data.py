"""Traces for the web view's tests and screenshot: a realistic agent run and small extras."""

from __future__ import annotations

import base64
import io
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp

AUTH = {"Authorization": "Basic " + base64.b64encode(b"pk-lf-local:sk-lf-local").decode()}
BASE = datetime(2026, 8, 22, 10, 0, 0, tzinfo=timezone.utc)


def at(ms: float, base: datetime = BASE) -> str:
    """An ISO timestamp ``ms`` milliseconds after ``base``."""
    return (
        (base + timedelta(milliseconds=ms))
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def event(kind: str, body: dict[str, Any], ms: float = 0, base: datetime = BASE) -> dict[str, Any]:
    """One ingestion envelope; its id is derived from the body id and type."""
    return {"id": f"{body['id']}-{kind}", "type": kind, "timestamp": at(ms, base), "body": body}


def span(
    kind: str,
    trace_id: str,
    span_id: str,
    name: str,
    start: float,
    end: float | None,
    parent: str | None = None,
    base: datetime = BASE,
    **fields: Any,
) -> dict[str, Any]:
    """An observation ``<kind>-create`` event lasting from ``start`` to ``end`` ms."""
    body: dict[str, Any] = {
        "id": span_id,
        "traceId": trace_id,
        "name": name,
        "startTime": at(start, base),
        **fields,
    }
    if end is not None:
        body["endTime"] = at(end, base)
    if parent is not None:
        body["parentObservationId"] = parent
    return event(kind, body, start, base)


def agent_run(trace_id: str = "trace-agent", base: datetime = BASE) -> list[dict[str, Any]]:
    """A support agent answering one question: retrieval, two generations, a failing tool."""
    t = trace_id
    messages = [
        {"role": "system", "content": "You are a helpful travel assistant. Cite your sources."},
        {"role": "user", "content": "Is it warm enough in Lisbon to swim this weekend?"},
    ]
    documents = [
        {"id": "doc-17", "score": 0.91, "text": "Lisbon in August: sea 21 C, air 28 C."},
        {
            "id": "doc-03",
            "score": 0.84,
            "text": "Beaches near Lisbon: Carcavelos, Costa da Caparica.",
        },
        {"id": "doc-44", "score": 0.62, "text": "Atlantic water stays cool all year."},
    ]
    return [
        event(
            "trace-create",
            {
                "id": t,
                "name": "chat-request",
                "timestamp": at(0, base),
                "userId": "u-ada",
                "sessionId": "session-42",
                "tags": ["production", "rag"],
                "release": "2026.08.1",
                "input": {"question": messages[1]["content"], "locale": "en-GB"},
                "output": {"answer": "Yes: the sea is about 21 C; try Carcavelos.", "sources": 2},
                "metadata": {"route": "/chat", "region": "eu-west-1", "experiment": {"arm": "B"}},
            },
            0,
            base,
        ),
        span("agent-create", t, f"{t}-agent", "answer-question", 0, 1840, base=base),
        span(
            "guardrail-create",
            t,
            f"{t}-guard",
            "input-guardrail",
            4,
            58,
            f"{t}-agent",
            base,
            output={"allowed": True, "checks": ["pii", "toxicity"]},
        ),
        span(
            "retriever-create",
            t,
            f"{t}-search",
            "vector-search",
            62,
            318,
            f"{t}-agent",
            base,
            input={"query": "Lisbon swimming weather weekend", "top_k": 3},
            output=documents,
        ),
        span(
            "embedding-create",
            t,
            f"{t}-embed",
            "embed-query",
            66,
            141,
            f"{t}-search",
            base,
            model="text-embedding-3-small",
            usageDetails={"input": 9},
            costDetails={"total": 0.00000018},
        ),
        span(
            "event-create",
            t,
            f"{t}-cache",
            "cache-miss",
            300,
            None,
            f"{t}-agent",
            base,
            metadata={"key": "weather:lisbon"},
        ),
        span(
            "generation-create",
            t,
            f"{t}-llm",
            "llm",
            322,
            1380,
            f"{t}-agent",
            base,
            model="gpt-4o-mini",
            modelParameters={"temperature": 0.2, "max_tokens": 512},
            completionStartTime=at(604, base),
            input=messages,
            output={"role": "assistant", "content": "", "tool_calls": [{"name": "weather"}]},
            usageDetails={"input": 412, "output": 96},
            costDetails={"input": 0.0000618, "output": 0.0000576},
        ),
        span(
            "tool-create",
            t,
            f"{t}-tool",
            "weather",
            1386,
            1512,
            f"{t}-agent",
            base,
            input={"city": "Lisbon", "date": "2026-08-23"},
            level="ERROR",
            statusMessage="ToolError: the weather service timed out after 120 ms",
        ),
        span(
            "generation-create",
            t,
            f"{t}-llm2",
            "llm",
            1520,
            1832,
            f"{t}-agent",
            base,
            model="gpt-4o-mini",
            completionStartTime=at(1611, base),
            input=[*messages, {"role": "tool", "content": "error: timeout"}],
            output={"role": "assistant", "content": "Yes: the sea is about 21 C; try Carcavelos."},
            usageDetails={"input": 538, "output": 41},
            costDetails={"input": 0.0000807, "output": 0.0000246},
        ),
        event(
            "score-create",
            {"id": f"{t}-helpful", "traceId": t, "name": "helpfulness", "value": 0.9},
            1900,
            base,
        ),
        event(
            "score-create",
            {
                "id": f"{t}-grounded",
                "traceId": t,
                "observationId": f"{t}-llm2",
                "name": "grounded",
                "value": 1,
                "dataType": "BOOLEAN",
                "comment": "cites doc-17",
            },
            1901,
            base,
        ),
        event(
            "score-create",
            {
                "id": f"{t}-tone",
                "traceId": t,
                "name": "tone",
                "value": "friendly",
                "dataType": "CATEGORICAL",
                "source": "EVAL",
            },
            1902,
            base,
        ),
    ]


def simple_trace(trace_id: str, name: str, second: int, **fields: Any) -> list[dict[str, Any]]:
    """A trace with one span, ``second`` seconds after :data:`BASE`."""
    base = BASE + timedelta(seconds=second)
    return [
        event(
            "trace-create",
            {"id": trace_id, "name": name, "timestamp": at(0, base), **fields},
            0,
            base,
        ),
        span("span-create", trace_id, f"{trace_id}-root", "handle", 0, 250, base=base),
    ]


async def ingest(url: str, events: list[dict[str, Any]]) -> None:
    """Send events to a collector's ingestion route and check every one was accepted."""
    async with aiohttp.ClientSession() as http:
        for start in range(0, len(events), 500):
            chunk = events[start : start + 500]
            # A stream, not bytes: aiohttp warns about large bytes bodies.
            body = io.BytesIO(json.dumps({"batch": chunk}).encode())
            headers = {**AUTH, "Content-Type": "application/json"}
            async with http.post(
                f"{url}/api/public/ingestion", data=body, headers=headers
            ) as response:
                body = await response.json()
                assert response.status == 207, body
                assert not body["errors"], body["errors"]


def awkward_traces() -> list[dict[str, Any]]:
    """Traces that stretch the layout: deep nesting, long text, a right-to-left override."""
    events = [event("trace-create", {"id": "deep", "name": "deep", "timestamp": at(0)})]
    parent = None
    for level in range(50):
        events.append(span("span-create", "deep", f"deep-{level}", f"level-{level}", level, 900))
        if parent is not None:
            events[-1]["body"]["parentObservationId"] = parent
        parent = f"deep-{level}"
    long_name = "n" * 1_000
    events += [
        event("trace-create", {"id": "long", "name": long_name, "timestamp": at(-1_000)}),
        span("span-create", "long", "long-span", long_name, -1_000, -900),
        event(
            "score-create",
            {
                "id": "long-verdict",
                "traceId": "long",
                "name": "verdict",
                "value": "a long verdict " * 30,
                "dataType": "TEXT",
            },
        ),
        # A name that opens a right-to-left override and never closes it.
        event("trace-create", {"id": "rtl", "name": "\u202eabc", "timestamp": at(-2_000)}),
        span("span-create", "rtl", "rtl-span", "x", -2_000, -1_900, level="ERROR"),
        event("trace-create", {"id": "short", "name": "no-observations", "timestamp": at(-3_000)}),
    ]
    return events


def spaced_traces() -> list[dict[str, Any]]:
    """Names, users, sessions and tags that differ only by white space at their ends."""
    events: list[dict[str, Any]] = []
    for i, (name, user, session, tag) in enumerate(
        [
            ("checkout", "u-1", "s-1", "beta"),
            (" checkout", "u-1 ", " s-1", " beta "),
            ("checkout\t", "u-1", "s-1", "beta"),
            ("  ", " ", "\t", " "),
            ("multi-line", "first\nsecond", "s-2", "gamma"),  # a field cannot hold its user
        ]
    ):
        fields = {"userId": user, "sessionId": session, "tags": [tag]}
        events += simple_trace(f"spaced-{i}", name, -10 * (i + 1), **fields)
    return events


def wide_trace(trace_id: str, count: int) -> list[dict[str, Any]]:
    """A trace with ``count`` steps under one root span, a millisecond apart."""
    events = [
        event("trace-create", {"id": trace_id, "name": "batch-job", "timestamp": at(0)}),
        span("span-create", trace_id, f"{trace_id}-root", "batch", 0, count + 1),
    ]
    for i in range(count):
        events.append(
            span(
                "span-create",
                trace_id,
                f"{trace_id}-{i:03d}",
                f"step-{i:03d}",
                i,
                i + 1,
                f"{trace_id}-root",
            )
        )
    return events
