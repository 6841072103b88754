"""The public read API: traces, observations, scores, sessions and the project, as the server reads.

Every list filters, sorts and pages in SQL (see :class:`._store.Store`), so a page costs the
same at 100 rows as at 100,000. Legacy reads (``/traces``, ``/observations``, ``/sessions``,
``/scores`` and ``/v2/scores``) answer 404 in v4 mode, as an ``events_only`` deployment does;
``/v2/observations``, ``/v3/scores`` and ``/projects`` answer in both modes.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import unquote

from aiohttp import web

from ._http import FORBIDDEN, NOT_FOUND_PAGE, AppState, json_reply
from ._request import authenticate
from ._store import Store
from ._validate import Issue, is_datetime, iso_ms
from ._views import (
    OBSERVATION_FIELD_GROUPS,
    SCORE_FIELD_GROUPS,
    observation_v2_view,
    observation_view,
    plain_trace_view,
    projects_view,
    score_v2_view,
    score_v3_view,
    score_view,
    session_view,
    trace_view,
)

__all__ = ["READ_COLLECTIONS", "read"]

_EVENTS_ONLY_READ_MESSAGE: Final = (
    "This endpoint is not available on deployments running in Langfuse v4 events_only mode. "
    "Learn more about Langfuse v4 at: https://langfuse.com/docs/v4"
)
#: Read routes by path under ``/api/public/``: whether one takes an id, and whether v4 has it.
READ_COLLECTIONS: Final[dict[str, tuple[bool, bool]]] = {
    "traces": (True, False),
    "observations": (True, False),
    "sessions": (True, False),
    "scores": (True, False),
    "v2/scores": (True, False),
    "v2/observations": (False, True),
    "v3/scores": (False, True),
    "projects": (False, True),
}


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


def _invalid(name: str, message: str) -> _BadQuery:
    return _BadQuery({"code": "custom", "path": [name], "message": message})


def _time(request: web.Request, name: str) -> str | None:
    """A datetime filter, normalised to the stored form (so it compares as a string)."""
    raw = request.query.get(name)
    if not raw:
        return None
    if not is_datetime(raw):
        raise _invalid(name, "Invalid ISO datetime")
    return iso_ms(raw)


def _groups(request: web.Request, known: frozenset[str], default: frozenset[str]) -> frozenset[str]:
    raw = request.query.get("fields")
    if not raw:
        return default
    groups = frozenset(part.strip() for part in raw.split(",") if part.strip())
    unknown = sorted(groups - known)
    if unknown:
        raise _invalid("fields", f"Unknown field groups: {', '.join(unknown)}")
    return groups


def _cursor_offset(request: web.Request) -> int:
    raw = request.query.get("cursor")
    if not raw:
        return 0
    try:
        decoded = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        offset = decoded["offset"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise _invalid("cursor", "Invalid cursor") from None
    if not isinstance(offset, int) or offset < 0:
        raise _invalid("cursor", "Invalid cursor")
    return offset


def _next_cursor(offset: int, limit: int, total: int) -> str | None:
    if offset + limit >= total:
        return None
    return base64.urlsafe_b64encode(json.dumps({"offset": offset + limit}).encode()).decode()


def _meta(page: int, limit: int, total: int) -> dict[str, int]:
    return {
        "page": page,
        "limit": limit,
        "totalItems": total,
        "totalPages": math.ceil(total / limit) if total else 0,
    }


def _with_trace_docs(store: Store, docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    ids = list({doc["traceId"] for doc in docs if doc.get("traceId")})
    traces: dict[str, dict[str, Any]] = {}
    for trace_id in ids:
        for trace in store.traces(trace_id=trace_id):
            traces[trace_id] = trace
    return traces


# --- one function per route: (store, request) -> the answer's body -----------------------------


def _list_traces(store: Store, request: web.Request) -> dict[str, Any]:
    query = request.query
    page = _positive_int(request, "page", 1, None)
    limit = _positive_int(request, "limit", 50, 1000)
    docs, total = store.trace_page(
        name=query.get("name") or None,
        user_id=query.get("userId") or None,
        session_id=query.get("sessionId") or None,
        version=query.get("version") or None,
        release=query.get("release") or None,
        environments=query.getall("environment", []),
        tags=query.getall("tags", []),
        from_timestamp=_time(request, "fromTimestamp"),
        to_timestamp=_time(request, "toTimestamp"),
        oldest_first=query.get("orderBy", "").lower() == "timestamp.asc",
        limit=limit,
        offset=(page - 1) * limit,
    )
    summaries = store.trace_summaries([doc["id"] for doc in docs])
    views = []
    for doc in docs:
        summary = summaries[doc["id"]]
        view = trace_view(doc, summary)
        view["observations"] = list(summary.observation_ids)
        view["scores"] = list(summary.score_ids)
        views.append(view)
    return {"data": views, "meta": _meta(page, limit, total)}


def _get_trace(store: Store, trace_id: str) -> dict[str, Any] | None:
    docs = store.traces(trace_id=trace_id)
    if not docs:
        return None
    view = trace_view(docs[0], store.trace_summaries([trace_id])[trace_id])
    view["observations"] = [observation_view(o) for o in store.observations(trace_id=trace_id)]
    view["scores"] = [score_view(s) for s in store.scores(trace_id=trace_id)]
    return view


def _observation_filters(request: web.Request) -> dict[str, Any]:
    query = request.query
    return {
        "trace_id": query.get("traceId") or None,
        "type": query.get("type") or None,
        "name": query.get("name") or None,
        "user_id": query.get("userId") or None,
        "session_id": query.get("sessionId") or None,
        "level": query.get("level") or None,
        "parent_id": query.get("parentObservationId") or None,
        "version": query.get("version") or None,
        "environments": query.getall("environment", []),
        "from_start": _time(request, "fromStartTime"),
        "to_start": _time(request, "toStartTime"),
    }


def _list_observations(store: Store, request: web.Request) -> dict[str, Any]:
    page = _positive_int(request, "page", 1, None)
    limit = _positive_int(request, "limit", 50, 1000)
    docs, total = store.observation_page(
        **_observation_filters(request), limit=limit, offset=(page - 1) * limit
    )
    return {"data": [observation_view(d) for d in docs], "meta": _meta(page, limit, total)}


def _list_observations_v2(store: Store, request: web.Request) -> dict[str, Any]:
    limit = _positive_int(request, "limit", 50, 1000)
    offset = _cursor_offset(request)
    groups = _groups(request, frozenset(OBSERVATION_FIELD_GROUPS), frozenset({"core", "basic"}))
    roots = request.query.get("isRootObservation", "").lower()
    docs, total = store.observation_page(
        **_observation_filters(request),
        roots_only={"true": True, "false": False}.get(roots),
        limit=limit,
        offset=offset,
    )
    traces = _with_trace_docs(store, docs)
    data = [observation_v2_view(d, traces.get(d.get("traceId") or ""), groups) for d in docs]
    meta: dict[str, Any] = {}
    cursor = _next_cursor(offset, limit, total)
    if cursor is not None:
        meta["cursor"] = cursor
    return {"data": data, "meta": meta}


def _score_filters(request: web.Request) -> dict[str, Any]:
    query = request.query
    columns = {
        "name": "name",
        "source": "source",
        "dataType": "data_type",
        "configId": "config_id",
        "queueId": "queue_id",
        "traceId": "trace_id",
        "sessionId": "session_id",
        "observationId": "observation_id",
        "datasetRunId": "dataset_run_id",
        "experimentId": "dataset_run_id",
    }
    filters = {column: query.get(name) or None for name, column in columns.items()}
    environments = query.getall("environment", [])
    ids = [part for part in (query.get("scoreIds") or query.get("id") or "").split(",") if part]
    return {
        "filters": filters,
        "ids": ids,
        "environments": environments,
        "user_id": query.get("userId") or None,
        "from_timestamp": _time(request, "fromTimestamp"),
        "to_timestamp": _time(request, "toTimestamp"),
    }


def _list_scores(store: Store, request: web.Request) -> dict[str, Any]:
    page = _positive_int(request, "page", 1, None)
    limit = _positive_int(request, "limit", 50, 1000)
    docs, total = store.score_page(
        **_score_filters(request), limit=limit, offset=(page - 1) * limit
    )
    traces = _with_trace_docs(store, docs)
    data = [score_v2_view(d, traces.get(d.get("traceId") or "")) for d in docs]
    return {"data": data, "meta": _meta(page, limit, total)}


def _get_score(store: Store, score_id: str) -> dict[str, Any] | None:
    docs, _ = store.score_page(filters={}, ids=[score_id], limit=1, count=False)
    if not docs:
        return None
    view = score_v2_view(docs[0], None)
    view.pop("trace", None)
    return view


def _list_scores_v3(store: Store, request: web.Request) -> dict[str, Any]:
    limit = _positive_int(request, "limit", 50, 100)
    offset = _cursor_offset(request)
    groups = _groups(request, SCORE_FIELD_GROUPS, frozenset())
    docs, total = store.score_page(**_score_filters(request), limit=limit, offset=offset)
    meta: dict[str, Any] = {"limit": limit}
    cursor = _next_cursor(offset, limit, total)
    if cursor is not None:
        meta["cursor"] = cursor
    return {"data": [score_v3_view(d, groups) for d in docs], "meta": meta}


def _list_sessions(store: Store, request: web.Request) -> dict[str, Any]:
    page = _positive_int(request, "page", 1, None)
    limit = _positive_int(request, "limit", 50, 1000)
    rows, total = store.session_page(
        environments=request.query.getall("environment", []),
        from_timestamp=_time(request, "fromTimestamp"),
        to_timestamp=_time(request, "toTimestamp"),
        limit=limit,
        offset=(page - 1) * limit,
    )
    return {"data": [session_view(*row) for row in rows], "meta": _meta(page, limit, total)}


def _get_session(store: Store, session_id: str) -> dict[str, Any] | None:
    rows, _ = store.session_page(session_id=session_id, limit=1)
    if not rows:
        return None
    traces = store.trace_page(session_id=session_id, oldest_first=True, count=False)[0]
    return {**session_view(*rows[0]), "traces": [plain_trace_view(t) for t in traces]}


_LISTS: Final[dict[str, Callable[[Store, web.Request], dict[str, Any]]]] = {
    "traces": _list_traces,
    "observations": _list_observations,
    "v2/observations": _list_observations_v2,
    "scores": _list_scores,
    "v2/scores": _list_scores,
    "v3/scores": _list_scores_v3,
    "sessions": _list_sessions,
    "projects": lambda store, request: projects_view(),
}


def _get_observation(store: Store, observation_id: str) -> dict[str, Any] | None:
    docs = store.observations(observation_id=observation_id)
    return observation_view(docs[0]) if docs else None


_GETS: Final[dict[str, tuple[Callable[[Store, str], dict[str, Any] | None], str]]] = {
    "traces": (_get_trace, "Trace"),
    "observations": (_get_observation, "Observation"),
    "scores": (_get_score, "Score"),
    "v2/scores": (_get_score, "Score"),
    "sessions": (_get_session, "Session"),
}


def read_target(raw_path: str) -> tuple[str, str | None] | None:
    """Return ``(collection, entity id or None)``, or None when no read route matches.

    Ids are one path segment, percent-decoded, as Next.js decodes a dynamic segment: an id
    may hold an encoded ``/``, and a literal extra segment is no route at all.
    """
    segments = raw_path.split("?", 1)[0].rstrip("/").split("/")
    if segments[:3] != ["", "api", "public"]:
        return None
    rest = segments[3:]
    for size in (2, 1):
        collection = "/".join(rest[:size])
        if collection in READ_COLLECTIONS and len(rest) in (size, size + 1):
            if len(rest) == size:
                return collection, None
            if READ_COLLECTIONS[collection][0]:
                return collection, unquote(rest[size])
    return None


async def read(request: web.Request, state: AppState) -> web.Response:
    """Answer a read route (any method reaches here; only GET reads)."""
    target = read_target(request.raw_path)
    if target is None:
        return web.Response(status=404, text=NOT_FOUND_PAGE, content_type="text/html")
    collection, entity_id = target
    if state.mode == "v4" and not READ_COLLECTIONS[collection][1]:
        # events_only deployments refuse these legacy reads before looking at credentials.
        return json_reply(404, {"message": _EVENTS_ONLY_READ_MESSAGE})
    if request.method != "GET":
        return json_reply(405, {"message": "Method not allowed", "error": "MethodNotAllowedError"})
    level, message = authenticate(request.headers.get("Authorization"), state)
    if level is None:
        return json_reply(401, {"message": message})
    if level != "project":
        return json_reply(403, {"message": FORBIDDEN})
    try:
        if entity_id is None:
            body = await state.store.run(lambda s: _LISTS[collection](s, request))
            return json_reply(200, body)
        get, label = _GETS[collection]
        found = await state.store.run(lambda s: get(s, entity_id))
    except _BadQuery as bad:
        return json_reply(400, {"message": "Invalid request data", "error": [bad.issue]})
    if found is None:
        return json_reply(
            404,
            {
                "message": f"{label} not found within authorized project",
                "error": "LangfuseNotFoundError",
            },
        )
    return json_reply(200, found)
