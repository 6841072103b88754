"""The collector's web view of stored traces: routes, access rules and data loading.

Served next to the API on the same port by a middleware that answers its own paths before the
catch-all API handler sees them (so they are neither recorded nor hit by scripted faults):

- ``/``: the trace list (``?name=&user=&session=&tag=&page=``);
- ``/_ui/traces/{id}``: a trace page (``?observation=`` selects one), ``.../detail`` its
  detail panel alone (what the page's script swaps in);
- ``/_ui/api/traces``, ``/_ui/api/traces/{id}``, ``/_ui/api/observations/{id}``: the same
  data as JSON, whole (the pages cut large values);
- ``/_ui/static/...``: the stylesheet, script and icon shipped with the package;
- ``/project/{projectId}/traces/{id}``: where the real server's trace links (``htmlPath``)
  point; redirects to the trace page.

It reads the store directly, never the public read routes, so it works in v4 mode too. On a
loopback address it needs no login but answers only requests whose ``Host`` names loopback (a
web page elsewhere cannot read it through DNS rebinding); bound elsewhere (``allow_remote``) it
asks for the project keys with HTTP Basic auth.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import hmac
import importlib.resources
import math
from collections.abc import Awaitable, Callable
from typing import Any, Final
from urllib.parse import unquote

from aiohttp import web

from ._hosts import is_loopback
from ._store import Store
from ._store_async import AsyncStore
from ._web_list import list_page
from ._web_page import ListQuery, layout, not_found_page, parse_list_query, trace_url
from ._web_trace import MAX_TIMELINE_ROWS, Timeline, detail_html, trace_page

__all__ = ["WebView", "access_problem", "install_web_view"]

_SECURITY_HEADERS: Final = {
    # Scripts and styles only from this server; inline style attributes position the bars.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        "style-src-attr 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
_ASSETS: Final = {
    "app.css": "text/css",
    "app.js": "text/javascript",
    "favicon.svg": "image/svg+xml",
}


def _hostname(host_header: str) -> str:
    """The host of a ``Host`` header value, without its port or IPv6 brackets."""
    if host_header.startswith("["):
        return host_header[1:].partition("]")[0]
    if host_header.count(":") == 1:
        return host_header.partition(":")[0]
    return host_header


def access_problem(
    *,
    loopback: bool,
    host_header: str | None,
    authorization: str | None,
    public_key: str,
    secret_key: str,
) -> str | None:
    """Decide whether a request may see the view; None when it may, else why not.

    Args:
        loopback: Whether the collector is bound to a loopback address.
        host_header: The request's ``Host`` header.
        authorization: The request's ``Authorization`` header.
        public_key: The project's public key.
        secret_key: The project's secret key.

    Returns:
        None, ``"host"`` (on loopback, a ``Host`` that does not name loopback) or ``"login"``
        (bound elsewhere, without the project keys as Basic credentials).
    """
    if loopback:
        return None if host_header and is_loopback(_hostname(host_header)) else "host"
    if not authorization or not authorization.startswith("Basic "):
        return "login"
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return "login"
    user, _, password = decoded.partition(":")
    matches = hmac.compare_digest(password.encode(), secret_key.encode())
    return None if matches and user == public_key else "login"


def _segments(request: web.Request) -> list[str]:
    # Ids are single segments, percent-decoded (an id may hold an encoded "/").
    path = request.raw_path.split("?", 1)[0]
    return [unquote(part) for part in path.strip("/").split("/")] if path != "/" else []


@dataclasses.dataclass(frozen=True)
class _TraceData:
    trace: dict[str, Any]
    timeline: Timeline
    scores: list[dict[str, Any]]
    observation: dict[str, Any] | None
    has_event: bool  # False: only observations or scores name the trace


def _load_trace(store: Store, trace_id: str, observation_id: str | None) -> _TraceData | None:
    docs = store.traces(trace_id=trace_id)
    rows, total = store.web_observation_rows(trace_id, limit=MAX_TIMELINE_ROWS)
    scores = store.scores(trace_id=trace_id)
    if not docs and not rows and not scores:
        return None
    observation = None
    if observation_id:
        found = store.observations(observation_id=observation_id)
        observation = found[0] if found and found[0].get("traceId") == trace_id else None
    trace = docs[0] if docs else {"id": trace_id}
    return _TraceData(trace, Timeline(rows, total), scores, observation, bool(docs))


# The loads below run where the store is (maybe a process of its own): module-level functions
# with picklable arguments and results.


def _trace_rows(store: Store, query: ListQuery) -> tuple[list[dict[str, Any]], int]:
    return store.web_trace_rows(
        name=query.name,
        user_id=query.user,
        session_id=query.session,
        tag=query.tag,
        limit=query.limit,
        offset=(query.page - 1) * query.limit,
    )


def _load_list(store: Store, query: ListQuery) -> tuple[Any, ...]:
    rows, total = _trace_rows(store, query)
    trimmed = query.trimmed() if not total else None
    # Nothing matches a value with white space at its ends: count what would without it.
    trimmed_total = _trace_rows(store, trimmed)[1] if trimmed and trimmed.filtered else 0
    return rows, total, trimmed_total, store.web_filter_values(), store.web_counts()


def _load_trace_json(store: Store, trace_id: str) -> dict[str, Any] | None:
    docs = store.traces(trace_id=trace_id)
    observations = store.observations(trace_id=trace_id)
    scores = store.scores(trace_id=trace_id)
    if not docs and not observations and not scores:
        return None
    trace = docs[0] if docs else {"id": trace_id}
    return {**trace, "observations": observations, "scores": scores}


@dataclasses.dataclass(frozen=True)
class WebView:
    """The web view's settings and handlers, bound to one collector's store.

    Attributes:
        store: The collector's store.
        mode: ``v3`` or ``v4`` (shown in the header).
        version: The server version the collector reports.
        loopback: Whether the collector binds a loopback address (then no login is asked).
        public_key: The project's public key (the login when bound off loopback).
        secret_key: The project's secret key (the password when bound off loopback).
    """

    store: AsyncStore
    mode: str
    version: str
    loopback: bool
    public_key: str
    secret_key: str = dataclasses.field(repr=False)

    def _page(self, status: int, title: str, body: str, counts: dict[str, int]) -> web.Response:
        html = layout(title, body, version=self.version, mode=self.mode, counts=counts)
        return web.Response(
            status=status, text=html, content_type="text/html", headers=_SECURITY_HEADERS
        )

    def _json(self, status: int, body: Any) -> web.Response:
        return web.json_response(body, status=status, headers=_SECURITY_HEADERS)

    async def _not_found(self, message: str, *, as_json: bool = False) -> web.Response:
        if as_json:
            return self._json(404, {"message": message})
        counts = await self.store.run(Store.web_counts)
        return self._page(404, "Not found", not_found_page(message), counts)

    async def _list(self, request: web.Request) -> web.Response:
        query = parse_list_query(request.query)
        rows, total, trimmed_total, suggestions, counts = await self.store.run(_load_list, query)
        base_url = f"{request.scheme}://{request.host}"
        body = await asyncio.to_thread(
            list_page,
            rows,
            total,
            query,
            suggestions,
            base_url=base_url,
            public_key=self.public_key,
            secret_key=self.secret_key,
            trimmed_total=trimmed_total,
        )
        return self._page(200, "Traces", body, counts)

    async def _trace(self, request: web.Request, trace_id: str, *, fragment: bool) -> web.Response:
        observation_id = request.query.get("observation") or None
        data = await self.store.run(_load_trace, trace_id, observation_id)
        if data is None:
            return await self._not_found(f"No trace with id {trace_id!r} in this collector.")
        missing = observation_id if data.observation is None else None
        if fragment:
            html = await asyncio.to_thread(
                detail_html,
                data.trace,
                data.observation,
                data.scores,
                has_event=data.has_event,
                missing=missing,
                names={row["id"]: row.get("name") for row in data.timeline.rows},
            )
            return web.Response(text=html, content_type="text/html", headers=_SECURITY_HEADERS)
        body = await asyncio.to_thread(
            trace_page,
            data.trace,
            data.timeline,
            data.scores,
            data.observation,
            has_event=data.has_event,
            missing=missing,
        )
        counts = await self.store.run(Store.web_counts)
        return self._page(200, str(data.trace.get("name") or "Trace"), body, counts)

    async def _api(self, request: web.Request, parts: list[str]) -> web.Response:
        if parts == ["traces"]:
            query = parse_list_query(request.query)
            rows, total = await self.store.run(_trace_rows, query)
            meta = {
                "page": query.page,
                "limit": query.limit,
                "totalItems": total,
                "totalPages": math.ceil(total / query.limit),
            }
            return self._json(200, {"data": rows, "meta": meta})
        if len(parts) == 2 and parts[0] == "traces":
            found = await self.store.run(_load_trace_json, parts[1])
            if found is None:
                return await self._not_found("Trace not found", as_json=True)
            return self._json(200, found)
        if len(parts) == 2 and parts[0] == "observations":
            observation_id = parts[1]
            docs = await self.store.run(Store.observations, observation_id=observation_id)
            if not docs:
                return await self._not_found("Observation not found", as_json=True)
            return self._json(200, docs[0])
        return await self._not_found("No such endpoint", as_json=True)

    def _static(self, name: str) -> web.Response:
        if name not in _ASSETS:
            raise web.HTTPNotFound()
        data = _asset(name)
        headers = {**_SECURITY_HEADERS, "Cache-Control": "no-cache"}
        return web.Response(body=data, content_type=_ASSETS[name], headers=headers)

    def _denied(self, problem: str) -> web.Response:
        if problem == "login":
            return web.Response(
                status=401,
                text="Log in with the collector's public key as user and secret key as password.",
                headers={**_SECURITY_HEADERS, "WWW-Authenticate": 'Basic realm="langfuse-async"'},
            )
        return web.Response(
            status=403,
            text="The web view answers only on loopback host names (localhost, 127.0.0.1, [::1]).",
            headers=_SECURITY_HEADERS,
        )

    async def handle(self, request: web.Request) -> web.StreamResponse | None:
        """Answer a request for the view, or return None when the path is not the view's."""
        parts = _segments(request)
        is_view = (
            not parts
            or parts[0] == "_ui"
            or (len(parts) == 4 and parts[0] == "project" and parts[2] == "traces")
        )
        if not is_view:
            return None
        if request.method not in ("GET", "HEAD"):
            if not parts:
                return None  # the API's catch-all answers other methods on "/" as before
            return web.Response(status=405, headers={**_SECURITY_HEADERS, "Allow": "GET, HEAD"})
        problem = access_problem(
            loopback=self.loopback,
            host_header=request.headers.get("Host"),
            authorization=request.headers.get("Authorization"),
            public_key=self.public_key,
            secret_key=self.secret_key,
        )
        if problem is not None:
            return self._denied(problem)
        if not parts:
            return await self._list(request)
        if parts[0] == "project":
            raise web.HTTPFound(trace_url(parts[3]), headers=_SECURITY_HEADERS)
        rest = parts[1:]
        if len(rest) == 2 and rest[0] == "static":
            return self._static(rest[1])
        if len(rest) == 2 and rest[0] == "traces":
            return await self._trace(request, rest[1], fragment=False)
        if len(rest) == 3 and rest[0] == "traces" and rest[2] == "detail":
            return await self._trace(request, rest[1], fragment=True)
        if rest and rest[0] == "api":
            return await self._api(request, rest[1:])
        return await self._not_found("This page does not exist.")


_asset_cache: dict[str, bytes] = {}


def _asset(name: str) -> bytes:
    data = _asset_cache.get(name)
    if data is None:
        files = importlib.resources.files("langfuse_async._collector") / "web_assets" / name
        data = _asset_cache[name] = files.read_bytes()
    return data


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def install_web_view(app: web.Application, view: WebView) -> None:
    """Serve the web view from ``app``: a middleware answers the view's paths first."""

    @web.middleware
    async def web_view(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await view.handle(request)
        return response if response is not None else await handler(request)

    app.middlewares.append(web_view)
