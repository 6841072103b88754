"""The collector's HTTP surface: one catch-all handler that records, faults and dispatches.

Every request is read (within its route's body limit) and recorded, scripted faults apply,
then the path picks the route module that answers it the way the server answers.
"""

from __future__ import annotations

import logging
from typing import Final

from aiohttp import web

from ._faults import CannedResponse, DropConnection
from ._http import (
    INGESTION_BODY_LIMIT,
    NOT_FOUND_PAGE,
    OTHER_BODY_LIMIT,
    OTLP_BODY_LIMIT,
    SERVER_VERSIONS,
    AppState,
    json_reply,
    text_reply,
)
from ._model import RecordedRequest
from ._reads import READ_COLLECTIONS, read
from ._request import read_body
from ._writes import ingestion, otlp, scores

__all__ = ["build_app", "route_of"]

logger = logging.getLogger("langfuse_async")


def route_of(path: str) -> str:
    """Name the route a path belongs to, as faults and recorded requests call it."""
    path = path.rstrip("/") or "/"
    if path == "/api/public/ingestion":
        return "ingestion"
    if path == "/api/public/otel/v1/traces":
        return "otlp"
    if path == "/api/public/scores":
        return "scores"
    if path in ("/api/public/health", "/api/public/ready"):
        return "health"
    if path.startswith("/api/public/"):
        rest = path[len("/api/public/") :].split("/")
        if "/".join(rest[:2]) in READ_COLLECTIONS or rest[0] in READ_COLLECTIONS:
            return "read"
    return "other"


_CORS_HEADERS: Final = {
    "Access-Control-Allow-Methods": "GET,POST,PUT,PATCH,DELETE,OPTIONS",
    "Access-Control-Allow-Headers": "*",
}


_BODY_LIMITS: Final = {
    "ingestion": INGESTION_BODY_LIMIT,
    "scores": INGESTION_BODY_LIMIT,
    "otlp": OTLP_BODY_LIMIT,
}


def build_app(state: AppState) -> web.Application:
    """Create the aiohttp application serving every route of the collector."""

    async def dispatch(request: web.Request) -> web.StreamResponse:
        route = route_of(request.path)
        # Every route's body is bounded before anything else (credentials included) is looked
        # at: past the limit it is drained unkept, so an anonymous client cannot fill memory.
        body, size, complete = await read_body(request, _BODY_LIMITS.get(route, OTHER_BODY_LIMIT))
        await state.on_request(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=request.query_string,
                headers={key.lower(): value for key, value in request.headers.items()},
                body=body,
                body_size=size,
                route=route,
            )
        )
        if not complete:
            # The body never arrived whole; the client is most likely gone, so this answer
            # (the server's, for a body stream error) is a formality.
            logger.info("collector: %s %s: the body was cut short", request.method, request.path)
            if route == "otlp":
                return json_reply(400, {"error": "Failed to read request body"})
            return text_reply(400, "Invalid body")
        await state.faults._hold(route)
        fault = state.faults._take_response(route)
        if isinstance(fault, DropConnection):
            transport = request.transport
            if transport is not None:
                transport.abort()
            # Nothing reaches the client: the transport is gone before anything is written.
            return web.Response(status=499)
        if isinstance(fault, CannedResponse):
            response = web.Response(status=fault.status, body=fault.body)
            for key, value in fault.headers.items():
                response.headers[key] = value
            return response
        if request.method == "OPTIONS" and route != "other":
            origin = request.headers.get("Origin", "*")
            return web.Response(
                status=204, headers={**_CORS_HEADERS, "Access-Control-Allow-Origin": origin}
            )
        try:
            if route == "ingestion":
                return await ingestion(request, body, size, state)
            if route == "otlp":
                return await otlp(request, body, size, state)
            if route == "scores" and request.method == "GET":
                # `GET /api/public/scores` lists scores; the route is the write route's path.
                return await read(request, state)
            if route == "scores":
                return await scores(request, body, size, state)
            if route == "health":
                return json_reply(200, {"status": "OK", "version": SERVER_VERSIONS[state.mode]})
            if route == "read":
                return await read(request, state)
        except Exception:
            # A bug of ours, never a client mistake: answer like the server's catch-all.
            logger.exception("collector: internal error on %s %s", request.method, request.path)
            if route == "ingestion":
                return json_reply(
                    500, {"message": "Invalid request data", "errors": ["Internal Server Error"]}
                )
            return json_reply(
                500, {"message": "Internal Server Error", "error": "InternalServerError"}
            )
        return web.Response(status=404, text=NOT_FOUND_PAGE, content_type="text/html")

    app = web.Application(client_max_size=OTLP_BODY_LIMIT + 1)
    # Any character, newlines included: every path reaches dispatch and gets a server answer.
    app.router.add_route("*", r"/{tail:[\s\S]*}", dispatch)
    return app
