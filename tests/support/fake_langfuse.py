"""A small scriptable Langfuse stand-in for the delivery pipeline's tests.

It behaves like the real server by default (207 with every event a success on the ingestion
route, 200 on the OTLP route; ``mode="v4"`` rejects non-score events on the ingestion route with
the per-event 400 "Event type not accepted") and lets a test script the next replies per route.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from aiohttp import web

INGESTION = "/api/public/ingestion"
OTLP = "/api/public/otel/v1/traces"

Reply = Callable[[dict[str, Any] | None], "web.StreamResponse | str | Pieces | Awaitable[Any]"]


@dataclasses.dataclass
class Pieces:
    """A reply whose body is written in parts, each reaching the client on its own."""

    status: int
    parts: list[bytes]
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any


class FakeLangfuse:
    def __init__(
        self, *, mode: str = "v3", public_key: str = "pk-test", secret_key: str = "sk-test"
    ):
        self.mode = mode
        self.public_key = public_key
        self.secret_key = secret_key
        self.received: list[Received] = []
        self.script: dict[str, deque[Reply]] = {INGESTION: deque(), OTLP: deque()}
        self.per_event: dict[str, tuple[int, str]] = {}
        """Envelope id -> (status, message) to answer inside the next 207s."""
        self.per_event_once: set[str] = set()
        self.probes_broken = False
        """Answer the unauthenticated probes like a proxy that hides the server (503)."""
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # ----------------------------------------------------------------- scripting

    def reply(
        self,
        path: str,
        status: int,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        text: bool = False,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests on ``path`` with ``status`` and ``body``."""

        def make(_: Any) -> web.StreamResponse:
            if text:
                return web.Response(status=status, text=str(body), headers=headers)
            return web.json_response(
                body if body is not None else {}, status=status, headers=headers
            )

        for _ in range(times):
            self.script[path].append(make)

    def reply_with(self, path: str, make: Reply, *, times: int = 1) -> None:
        """Answer the next ``times`` requests on ``path`` with ``make(parsed_body)``."""
        for _ in range(times):
            self.script[path].append(make)

    def reply_in_pieces(
        self, path: str, status: int, parts: list[bytes], headers: dict[str, str] | None = None
    ) -> None:
        """Answer the next request on ``path`` with a body sent in ``parts``."""
        self.script[path].append(lambda _: Pieces(status, parts, dict(headers or {})))

    def drop_connection(self, path: str, times: int = 1) -> None:
        for _ in range(times):
            self.script[path].append(lambda _: "drop")

    def hold(self, path: str) -> asyncio.Event:
        """Make the next request on ``path`` wait until the returned event is set."""
        release = asyncio.Event()

        async def held(_: Any) -> None:
            await release.wait()

        self.script[path].append(held)
        return release

    def fail_event(
        self, event_id: str, status: int, message: str = "boom", *, once: bool = False
    ) -> None:
        self.per_event[event_id] = (status, message)
        if once:
            self.per_event_once.add(event_id)

    # ----------------------------------------------------------------- views

    def posts(self) -> list[Received]:
        return [r for r in self.received if r.method == "POST"]

    def batches(self) -> list[list[dict[str, Any]]]:
        return [r.json["batch"] for r in self.received if r.path == INGESTION and r.json]

    def events(self) -> list[dict[str, Any]]:
        return [e for batch in self.batches() for e in batch]

    def spans(self) -> list[dict[str, Any]]:
        out = []
        for r in self.received:
            if r.path == OTLP and r.json:
                for rs in r.json["resourceSpans"]:
                    for ss in rs["scopeSpans"]:
                        out.extend(ss["spans"])
        return out

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        with anyio.fail_after(timeout):
            async with self._changed:
                await self._changed.wait_for(predicate)

    # ----------------------------------------------------------------- server

    async def __aenter__(self) -> FakeLangfuse:
        app = web.Application(client_max_size=10 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        for queue in self.script.values():
            queue.clear()
        assert self._runner is not None
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        path = request.path
        if request.method == "GET":
            return self._probe(request)
        # aiohttp has already decoded a gzip Content-Encoding (and failed the request if the
        # body was not valid gzip), so `body` is the JSON text.
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        self.received.append(Received(request.method, path, dict(request.headers), body, parsed))
        async with self._changed:
            self._changed.notify_all()
        try:
            script = self.script.get(path)
            if script:
                step = script.popleft()
                result = step(parsed)
                if asyncio.iscoroutine(result):
                    result = await result
                if result == "drop":
                    assert request.transport is not None
                    request.transport.close()
                    return web.Response(status=500)
                if isinstance(result, Pieces):
                    return await self._write_pieces(request, result)
                if isinstance(result, web.StreamResponse):
                    return result
            return self._default(path, parsed)
        finally:
            async with self._changed:
                self._changed.notify_all()

    async def _write_pieces(self, request: web.Request, pieces: Pieces) -> web.StreamResponse:
        resp = web.StreamResponse(status=pieces.status, headers=pieces.headers)
        resp.content_type = "application/json"
        await resp.prepare(request)
        for i, part in enumerate(pieces.parts):
            if i:
                # Nothing on the server side tells when the client has read a part; a short
                # pause is the only way to make each part its own read on the client.
                await asyncio.sleep(0.05)
            await resp.write(part)
        await resp.write_eof()
        return resp

    def _probe(self, request: web.Request) -> web.StreamResponse:
        self.received.append(
            Received(request.method, request.path, dict(request.headers), b"", None)
        )
        if self.probes_broken:
            return web.Response(status=503, text="Service Unavailable")
        if request.path == "/api/public/health":
            return web.json_response(
                {"status": "OK", "version": "4.16.0" if self.mode == "v4" else "3.225.4"}
            )
        if request.path == "/api/public/traces":
            if self.mode == "v4":
                return web.json_response(
                    {"message": "This endpoint is not available in v4 events_only mode"}, status=404
                )
            return web.json_response({"message": "No authorization header"}, status=401)
        return web.json_response({"message": "not found"}, status=404)

    def _default(self, path: str, parsed: Any) -> web.StreamResponse:
        if path not in (INGESTION, OTLP):
            return web.json_response({"message": "not found"}, status=404)
        if path == OTLP:
            return web.json_response({})
        successes, errors = [], []
        for event in parsed["batch"]:
            eid = event["id"]
            if eid in self.per_event:
                status, message = self.per_event[eid]
                if eid in self.per_event_once:
                    del self.per_event[eid]
                errors.append(
                    {"id": eid, "status": status, "message": message, "error": {"detail": message}}
                )
            elif self.mode == "v4" and event["type"] not in ("score-create", "sdk-log"):
                errors.append(
                    {
                        "id": eid,
                        "status": 400,
                        "message": "Event type not accepted",
                        "error": f'Event type "{event["type"]}" is not accepted by '
                        "/api/public/ingestion when LANGFUSE_MIGRATION_V4_WRITE_MODE is "
                        "events_only.",
                    }
                )
            elif event["type"] != "sdk-log":
                successes.append({"id": eid, "status": 201})
        successes.sort(key=lambda s: s["id"])  # never the request order
        return web.json_response({"successes": successes, "errors": errors}, status=207)
