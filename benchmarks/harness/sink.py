"""The loopback sink every competitor sends to: a separate process that counts what arrives.

It accepts both routes a Langfuse server takes: ``POST /api/public/ingestion`` (JSON, answered
with a 207 listing every event as a success) and ``POST /api/public/otel/v1/traces`` (OTLP
protobuf or JSON, gzip or not, answered with an empty export response). It counts distinct
observation ids and distinct trace ids, so a re-sent event is counted once.

Run it as ``python benchmarks/harness/sink.py [port]``: it prints ``PORT <n>`` once it listens.
The harness reads the counts with ``GET /_bench/stats`` and clears them with
``POST /_bench/reset``. The counting functions are pure and tested without a server.
"""

from __future__ import annotations

import gzip
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

INGESTION_PATH = "/api/public/ingestion"
OTLP_PATH = "/api/public/otel/v1/traces"

#: Ingestion event types whose body is not an observation.
_NOT_OBSERVATIONS = {"trace-create", "score-create", "sdk-log"}


class _Body(msgspec.Struct):
    id: str | None = None
    traceId: str | None = None  # the wire name


class _Event(msgspec.Struct):
    id: str = ""
    type: str = ""
    body: _Body = msgspec.field(default_factory=_Body)


class _Batch(msgspec.Struct):
    batch: list[_Event] = msgspec.field(default_factory=list)


_BATCH_DECODER = msgspec.json.Decoder(_Batch)


@dataclass(frozen=True)
class Arrivals:
    """What one request carried: envelope ids (to answer), observation ids and trace ids."""

    event_ids: list[str]
    observations: list[str]
    traces: list[str]


def decompress(body: bytes) -> bytes:
    """Undo gzip when the body still carries it (aiohttp already undoes what the header says)."""
    if body[:2] == b"\x1f\x8b":
        return gzip.decompress(body)
    return body


def ingestion_arrivals(body: bytes) -> Arrivals:
    """Ids in an ingestion batch: observations are every event but traces, scores and logs."""
    events = _BATCH_DECODER.decode(body).batch
    observations: list[str] = []
    traces: list[str] = []
    for event in events:
        body_id = event.body.id
        if event.type == "trace-create":
            if body_id:
                traces.append(body_id)
        elif event.type not in _NOT_OBSERVATIONS:
            if body_id:
                observations.append(body_id)
            if event.body.traceId:
                traces.append(event.body.traceId)
    return Arrivals([event.id for event in events], observations, traces)


def ingestion_response(event_ids: list[str]) -> bytes:
    """The 207 body that accepts every event (msgspec: the sink must not be the bottleneck)."""
    successes = [{"id": event_id, "status": 201} for event_id in event_ids]
    return msgspec.json.encode({"successes": successes, "errors": []})


def _otlp_json_spans(document: Any) -> Iterator[tuple[str, str]]:
    for resource_spans in document.get("resourceSpans") or ():
        for scope_spans in resource_spans.get("scopeSpans") or ():
            for span in scope_spans.get("spans") or ():
                yield str(span.get("traceId", "")), str(span.get("spanId", ""))


def _otlp_proto_spans(body: bytes) -> Iterator[tuple[str, str]]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield span.trace_id.hex(), span.span_id.hex()


def otlp_arrivals(body: bytes, content_type: str) -> Arrivals:
    """Span and trace ids in an OTLP export request (JSON when the content type says so)."""
    if "json" in content_type:
        spans: Iterable[tuple[str, str]] = _otlp_json_spans(msgspec.json.decode(body))
    else:
        spans = _otlp_proto_spans(body)
    observations: list[str] = []
    traces: list[str] = []
    for trace_id, span_id in spans:
        observations.append(span_id)
        traces.append(trace_id)
    return Arrivals([], observations, traces)


@dataclass
class Tally:
    """Distinct ids received since the last reset, and when the last new one arrived."""

    observations: set[str] = field(default_factory=set)
    traces: set[str] = field(default_factory=set)
    requests: int = 0
    bytes: int = 0
    last_new: float = 0.0
    other_routes: dict[str, int] = field(default_factory=dict)

    def add(self, arrivals: Arrivals, size: int, now: float) -> None:
        """Count one request; ``now`` is the wall clock, comparable across processes."""
        self.requests += 1
        self.bytes += size
        before = len(self.observations) + len(self.traces)
        self.observations.update(arrivals.observations)
        self.traces.update(arrivals.traces)
        if len(self.observations) + len(self.traces) != before:
            self.last_new = now

    def reset(self) -> None:
        """Forget everything counted so far."""
        self.observations.clear()
        self.traces.clear()
        self.requests = self.bytes = 0
        self.last_new = 0.0
        self.other_routes.clear()

    def snapshot(self) -> dict[str, Any]:
        """The counts as JSON-ready values."""
        return {
            "observations": len(self.observations),
            "traces": len(self.traces),
            "requests": self.requests,
            "bytes": self.bytes,
            "last_new": self.last_new,
            "other_routes": dict(self.other_routes),
        }


def build_app(tally: Tally) -> Any:
    """The aiohttp application; imported lazily so the pure parts need no aiohttp."""
    from aiohttp import web

    async def ingestion(request: web.Request) -> web.Response:
        raw = await request.read()
        arrivals = ingestion_arrivals(decompress(raw))
        tally.add(arrivals, len(raw), time.time())
        return web.Response(
            body=ingestion_response(arrivals.event_ids),
            status=207,
            content_type="application/json",
        )

    async def otlp(request: web.Request) -> web.Response:
        raw = await request.read()
        content_type = request.headers.get("Content-Type", "")
        body = decompress(raw)
        tally.add(otlp_arrivals(body, content_type), len(raw), time.time())
        if "json" in content_type:
            return web.json_response({})
        return web.Response(body=b"", content_type="application/x-protobuf")

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(tally.snapshot())

    async def reset(request: web.Request) -> web.Response:
        tally.reset()
        return web.json_response({})

    async def other(request: web.Request) -> web.Response:
        key = f"{request.method} {request.path}"
        tally.other_routes[key] = tally.other_routes.get(key, 0) + 1
        await request.read()
        return web.json_response({"message": "not part of the benchmark sink"}, status=404)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post(INGESTION_PATH, ingestion)
    app.router.add_post(OTLP_PATH, otlp)
    app.router.add_get("/_bench/stats", stats)
    app.router.add_post("/_bench/reset", reset)
    app.router.add_route("*", "/{tail:.*}", other)
    return app


def main() -> None:
    import asyncio

    from aiohttp import web

    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0

    async def serve() -> None:
        runner = web.AppRunner(build_app(Tally()), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(f"PORT {bound}", flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
