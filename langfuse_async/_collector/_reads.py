"""The public read API: traces and observations, listed with filters and pages, or by id."""

from __future__ import annotations

import math
from typing import Any, Final
from urllib.parse import unquote

from aiohttp import web

from ._http import FORBIDDEN, NOT_FOUND_PAGE, AppState, json_reply
from ._request import authenticate
from ._store import Store
from ._validate import Issue, timestamp_ms
from ._views import observation_view, score_view, trace_view

__all__ = ["read"]


_EVENTS_ONLY_READ_MESSAGE: Final = (
    "This endpoint is not available on deployments running in Langfuse v4 events_only mode. "
    "Learn more about Langfuse v4 at: https://langfuse.com/docs/v4"
)


class _BadQuery(Exception):
    def __init__(self, issue: Issue) -> None:
        super().__init__(issue["message"])
        self.issue = issue


def _positive_int(request: web.Request, name: str, default: int, maximum: int | None) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadQuery(
            {
                "expected": "number",
                "code": "invalid_type",
                "received": "NaN",
                "path": [name],
                "message": "Invalid input: expected number, received NaN",
            }
        ) from None
    if value < 1:
        raise _BadQuery(
            {
                "origin": "number",
                "code": "too_small",
                "minimum": 1,
                "inclusive": True,
                "path": [name],
                "message": "Too small: expected number to be >=1",
            }
        )
    if maximum is not None and value > maximum:
        raise _BadQuery(
            {
                "origin": "number",
                "code": "too_big",
                "maximum": maximum,
                "inclusive": True,
                "path": [name],
                "message": f"Too big: expected number to be <={maximum}",
            }
        )
    return value


def _page(items: list[Any], page: int, limit: int) -> dict[str, Any]:
    total = len(items)
    return {
        "data": items[(page - 1) * limit : page * limit],
        "meta": {
            "page": page,
            "limit": limit,
            "totalItems": total,
            "totalPages": math.ceil(total / limit) if total else 0,
        },
    }


def _list_traces(store: Store, request: web.Request, page: int, limit: int) -> dict[str, Any]:
    query = request.query
    docs = store.traces(
        user_id=query.get("userId") or None,
        session_id=query.get("sessionId") or None,
        name=query.get("name") or None,
    )
    tags = query.getall("tags", [])
    for key, field in (("version", "version"), ("release", "release")):
        if query.get(key):
            docs = [d for d in docs if d.get(field) == query[key]]
    environments = query.getall("environment", [])
    if environments:
        docs = [d for d in docs if (d.get("environment") or "default") in environments]
    if tags:
        docs = [d for d in docs if set(tags) <= set(d.get("tags") or [])]
    if query.get("fromTimestamp"):
        low = timestamp_ms(query["fromTimestamp"])
        docs = [d for d in docs if timestamp_ms(d.get("timestamp") or "") >= low]
    if query.get("toTimestamp"):
        high = timestamp_ms(query["toTimestamp"])
        docs = [d for d in docs if timestamp_ms(d.get("timestamp") or "") < high]
    if query.get("orderBy", "").lower() == "timestamp.asc":
        docs.reverse()
    result = _page(docs, page, limit)
    views = []
    for doc in result["data"]:
        observations = store.observations(trace_id=doc["id"])
        scores = store.scores(trace_id=doc["id"])
        view = trace_view(doc, observations, scores)
        view["observations"] = [o["id"] for o in observations]
        view["scores"] = [s["id"] for s in scores]
        views.append(view)
    result["data"] = views
    return result


def _get_trace(store: Store, trace_id: str) -> dict[str, Any] | None:
    docs = store.traces(trace_id=trace_id)
    if not docs:
        return None
    observations = store.observations(trace_id=trace_id)
    scores = store.scores(trace_id=trace_id)
    view = trace_view(docs[0], observations, scores)
    view["observations"] = [observation_view(o) for o in observations]
    view["scores"] = [score_view(s) for s in scores]
    return view


def _list_observations(store: Store, request: web.Request, page: int, limit: int) -> dict[str, Any]:
    query = request.query
    docs = store.observations(
        trace_id=query.get("traceId") or None,
        type=query.get("type") or None,
        name=query.get("name") or None,
    )
    docs.reverse()  # newest first, as the API lists them
    if query.get("userId"):
        users = {d["id"] for d in store.traces(user_id=query["userId"])}
        docs = [d for d in docs if d.get("traceId") in users]
    for key in ("level", "parentObservationId", "version"):
        if query.get(key):
            docs = [d for d in docs if d.get(key) == query[key]]
    environments = query.getall("environment", [])
    if environments:
        docs = [d for d in docs if (d.get("environment") or "default") in environments]
    if query.get("fromStartTime"):
        low = timestamp_ms(query["fromStartTime"])
        docs = [d for d in docs if timestamp_ms(d.get("startTime") or "") >= low]
    if query.get("toStartTime"):
        high = timestamp_ms(query["toStartTime"])
        docs = [d for d in docs if timestamp_ms(d.get("startTime") or "") < high]
    result = _page(docs, page, limit)
    result["data"] = [observation_view(d) for d in result["data"]]
    return result


def _read_target(request: web.Request) -> tuple[str, str | None] | None:
    """Return ``(collection, entity id or None)``, or None when no read route matches.

    Ids are one path segment, percent-decoded, as Next.js decodes a dynamic segment: an id
    may hold an encoded ``/``, and a literal extra segment is no route at all.
    """
    segments = request.raw_path.split("?", 1)[0].rstrip("/").split("/")
    if len(segments) not in (4, 5) or segments[:3] != ["", "api", "public"]:
        return None
    if segments[3] not in ("traces", "observations"):
        return None
    return segments[3], unquote(segments[4]) if len(segments) == 5 else None


async def read(request: web.Request, state: AppState) -> web.Response:
    target = _read_target(request)
    if target is None:
        return web.Response(status=404, text=NOT_FOUND_PAGE, content_type="text/html")
    if state.mode == "v4":
        # events_only deployments refuse these legacy reads before looking at credentials.
        return json_reply(404, {"message": _EVENTS_ONLY_READ_MESSAGE})
    if request.method != "GET":
        return json_reply(405, {"message": "Method not allowed", "error": "MethodNotAllowedError"})
    level, message = authenticate(request.headers.get("Authorization"), state)
    if level is None:
        return json_reply(401, {"message": message})
    if level != "project":
        return json_reply(403, {"message": FORBIDDEN})
    collection, entity_id = target
    if entity_id is None:
        try:
            page = _positive_int(request, "page", 1, None)
            limit = _positive_int(request, "limit", 50, 1000)
        except _BadQuery as bad:
            return json_reply(400, {"message": "Invalid request data", "error": [bad.issue]})
        if collection == "traces":
            return json_reply(
                200, await state.store.run(lambda s: _list_traces(s, request, page, limit))
            )
        return json_reply(
            200, await state.store.run(lambda s: _list_observations(s, request, page, limit))
        )
    if collection == "traces":
        view = await state.store.run(lambda s: _get_trace(s, entity_id))
        if view is None:
            return json_reply(
                404,
                {
                    "message": "Trace not found within authorized project",
                    "error": "LangfuseNotFoundError",
                },
            )
        return json_reply(200, view)
    docs = await state.store.run(lambda s: s.observations(observation_id=entity_id))
    if not docs:
        return json_reply(
            404,
            {
                "message": "Observation not found within authorized project",
                "error": "LangfuseNotFoundError",
            },
        )
    return json_reply(200, observation_view(docs[0]))
