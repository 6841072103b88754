"""The public read API: traces, observations, scores, sessions and the project, as the server reads.

Every list filters, sorts and pages in SQL (see :class:`._store.Store`), so a page costs the
same at 100 rows as at 100,000. Legacy reads (``/traces``, ``/observations``, ``/sessions``,
``/scores`` and ``/v2/scores``) answer 404 in v4 mode, as an ``events_only`` deployment does;
``/v2/observations``, ``/v3/scores`` and ``/projects`` answer in both modes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final
from urllib.parse import unquote

from aiohttp import web
from multidict import MultiDict, MultiMapping

from ._filter_columns import OBSERVATION_COLUMNS, TRACE_COLUMNS
from ._http import FORBIDDEN, NOT_FOUND_PAGE, AppState, json_reply
from ._read_params import (
    OBSERVATION_TYPES,
    BadQuery,
    Filter,
    boolean,
    choice,
    comma_list,
    cursor_offset,
    field_groups,
    invalid,
    next_cursor,
    page_meta,
    positive_int,
    time,
)
from ._read_scores import get_score, list_scores, list_scores_v3
from ._request import authenticate
from ._store import Store
from ._validate import LEVELS
from ._views import (
    OBSERVATION_FIELD_GROUPS,
    TRACE_FIELD_GROUPS,
    observation_v2_view,
    observation_view,
    plain_trace_view,
    projects_view,
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

Query = MultiMapping[str]


# --- traces ------------------------------------------------------------------------------------

#: ``orderBy`` fields of ``GET /traces`` and the SQL each sorts by (ties: by timestamp).
_TRACE_ORDER: Final[dict[str, str | None]] = {
    "timestamp": None,
    "id": "id",
    "name": "name",
    "userId": "user_id",
    "release": "release",
    "version": "version",
    "sessionId": "session_id",
    "public": "COALESCE(json_extract(doc, '$.public'), 0)",
    "bookmarked": "0",
}


def _trace_order(query: Query) -> tuple[str | None, bool]:
    raw = query.get("orderBy")
    if not raw:
        return None, False
    field, _, direction = raw.rpartition(".")
    if field not in _TRACE_ORDER or direction.lower() not in ("asc", "desc"):
        raise invalid(
            "orderBy",
            f"Invalid orderBy {raw!r}: expected [field].[asc|desc] with a field of "
            + ", ".join(_TRACE_ORDER),
        )
    return _TRACE_ORDER[field], direction.lower() == "asc"


def _trace_views(
    store: Store, docs: list[dict[str, Any]], groups: frozenset[str], *, full: bool
) -> list[dict[str, Any]]:
    summaries = store.trace_summaries([doc["id"] for doc in docs])
    views = []
    for doc in docs:
        summary = summaries[doc["id"]]
        view = trace_view(doc, summary, groups)
        if full:
            trace_id = doc["id"]
            observations = store.observations(trace_id=trace_id) if "observations" in groups else []
            scores = store.scores(trace_id=trace_id) if "scores" in groups else []
            view["observations"] = [observation_view(o) for o in observations]
            view["scores"] = [score_view(s) for s in scores]
        else:
            observation_ids = summary.observation_ids if "observations" in groups else ()
            view["observations"] = list(observation_ids)
            view["scores"] = list(summary.score_ids) if "scores" in groups else []
        views.append(view)
    return views


def _list_traces(store: Store, query: Query) -> dict[str, Any]:
    page = positive_int(query, "page", 1, None)
    limit = positive_int(query, "limit", 50, 1000)
    groups = field_groups(query, TRACE_FIELD_GROUPS, frozenset(TRACE_FIELD_GROUPS))
    order_by, ascending = _trace_order(query)
    conditions = Filter(query, TRACE_COLUMNS)
    docs, total = store.trace_page(
        name=conditions.simple(query, "name"),
        user_id=conditions.simple(query, "userId"),
        session_id=conditions.simple(query, "sessionId"),
        version=conditions.simple(query, "version"),
        release=conditions.simple(query, "release"),
        environments=conditions.simple_list(query, "environment"),
        tags=conditions.simple_list(query, "tags"),
        from_timestamp=None if conditions.overrides("timestamp") else time(query, "fromTimestamp"),
        to_timestamp=None if conditions.overrides("timestamp") else time(query, "toTimestamp"),
        clauses=conditions.clauses,
        oldest_first=ascending,
        order_by=order_by,
        limit=limit,
        offset=(page - 1) * limit,
    )
    data = _trace_views(store, docs, groups, full=False)
    return {"data": data, "meta": page_meta(page, limit, total)}


def _get_trace(store: Store, trace_id: str, query: Query) -> dict[str, Any] | None:
    groups = field_groups(query, TRACE_FIELD_GROUPS, frozenset(TRACE_FIELD_GROUPS))
    docs = store.traces(trace_id=trace_id)
    if not docs:
        return None
    return _trace_views(store, docs[:1], groups, full=True)[0]


# --- observations ------------------------------------------------------------------------------


def _observation_filters(query: Query, conditions: Filter) -> dict[str, Any]:
    level = choice(query, "level", LEVELS)
    observation_type = choice(query, "type", OBSERVATION_TYPES)
    clauses = list(conditions.clauses)
    if level is not None and not conditions.overrides("level"):
        clauses.append(("COALESCE(observations.level, 'DEFAULT') = ?", [level]))
    skip_start = conditions.overrides("startTime")
    return {
        "trace_id": conditions.simple(query, "traceId"),
        "type": None if conditions.overrides("type") else observation_type,
        "name": conditions.simple(query, "name"),
        "user_id": conditions.simple(query, "userId"),
        "parent_id": conditions.simple(query, "parentObservationId"),
        "version": conditions.simple(query, "version"),
        "environments": conditions.simple_list(query, "environment"),
        "from_start": None if skip_start else time(query, "fromStartTime"),
        "to_start": None if skip_start else time(query, "toStartTime"),
        "clauses": clauses,
    }


def _list_observations(store: Store, query: Query) -> dict[str, Any]:
    page = positive_int(query, "page", 1, None)
    limit = positive_int(query, "limit", 50, 1000)
    conditions = Filter(query, OBSERVATION_COLUMNS)
    docs, total = store.observation_page(
        **_observation_filters(query, conditions), limit=limit, offset=(page - 1) * limit
    )
    return {"data": [observation_view(d) for d in docs], "meta": page_meta(page, limit, total)}


def _io_conditions_anchored(conditions: Filter) -> None:
    # The server refuses a standalone substring search of input or output: one "=" or
    # "matches" condition on them must narrow it first.
    io = [c for c in conditions.conditions if c.column in ("input", "output")]
    if io and not any(c.operator in ("=", "matches") for c in io):
        raise invalid(
            "filter",
            'An input or output filter needs at least one "=" or "matches" condition on'
            " input or output",
        )


def _list_observations_v2(store: Store, query: Query) -> dict[str, Any]:
    limit = positive_int(query, "limit", 50, 1000)
    offset = cursor_offset(query)
    groups = field_groups(query, tuple(OBSERVATION_FIELD_GROUPS), frozenset({"core", "basic"}))
    if boolean(query, "parseIoAsJson"):
        raise invalid(
            "parseIoAsJson",
            "parseIoAsJson is no longer supported: input and output are always returned as"
            " raw strings. Remove the parameter or set it to false.",
        )
    expand = frozenset(comma_list(query, "expandMetadata"))
    conditions = Filter(query, OBSERVATION_COLUMNS, matches=True)
    _io_conditions_anchored(conditions)
    filters = _observation_filters(query, conditions)
    filters["session_id"] = conditions.simple(query, "sessionId")
    if query.get("parentObservationId") == "" and not conditions.overrides("parentObservationId"):
        # "An empty value matches only observations without a physical parent."
        filters["clauses"].append(("observations.parent_id IS NULL", []))
    roots = (
        None if conditions.overrides("isRootObservation") else boolean(query, "isRootObservation")
    )
    # One row more than the page tells whether another page follows, without a count.
    docs, _ = store.observation_page(
        **filters, roots_only=roots, limit=limit + 1, offset=offset, count=False
    )
    traces = store.trace_docs([d["traceId"] for d in docs[:limit] if d.get("traceId")])
    data = [
        observation_v2_view(d, traces.get(d.get("traceId") or ""), groups, expand)
        for d in docs[:limit]
    ]
    meta: dict[str, Any] = {}
    cursor = next_cursor(offset, limit, len(docs) > limit)
    if cursor is not None:
        meta["cursor"] = cursor
    return {"data": data, "meta": meta}


def _get_observation(store: Store, observation_id: str, query: Query) -> dict[str, Any] | None:
    docs = store.observations(observation_id=observation_id)
    return observation_view(docs[0]) if docs else None


# --- sessions ----------------------------------------------------------------------------------


def _list_sessions(store: Store, query: Query) -> dict[str, Any]:
    page = positive_int(query, "page", 1, None)
    limit = positive_int(query, "limit", 50, 1000)
    rows, total = store.session_page(
        environments=query.getall("environment", []),
        from_timestamp=time(query, "fromTimestamp"),
        to_timestamp=time(query, "toTimestamp"),
        limit=limit,
        offset=(page - 1) * limit,
    )
    return {"data": [session_view(*row) for row in rows], "meta": page_meta(page, limit, total)}


def _get_session(store: Store, session_id: str, query: Query) -> dict[str, Any] | None:
    rows, _ = store.session_page(session_id=session_id, limit=1)
    if not rows:
        return None
    traces = store.trace_page(session_id=session_id, oldest_first=True, count=False)[0]
    return {**session_view(*rows[0]), "traces": [plain_trace_view(t) for t in traces]}


def _list_projects(store: Store, query: Query) -> dict[str, Any]:
    return projects_view()


_LISTS: Final[dict[str, Callable[[Store, Query], dict[str, Any]]]] = {
    "traces": _list_traces,
    "observations": _list_observations,
    "v2/observations": _list_observations_v2,
    "scores": list_scores,
    "v2/scores": list_scores,
    "v3/scores": list_scores_v3,
    "sessions": _list_sessions,
    "projects": _list_projects,
}


_GETS: Final[dict[str, tuple[Callable[[Store, str, Query], dict[str, Any] | None], str]]] = {
    "traces": (_get_trace, "Trace"),
    "observations": (_get_observation, "Observation"),
    "scores": (get_score, "Score"),
    "v2/scores": (get_score, "Score"),
    "sessions": (_get_session, "Session"),
}


def _read_list(store: Store, collection: str, query: Query) -> dict[str, Any]:
    # Run where the store is (maybe a process of its own): picklable, as its arguments are.
    return _LISTS[collection](store, query)


def _read_one(store: Store, collection: str, entity_id: str, query: Query) -> dict[str, Any] | None:
    return _GETS[collection][0](store, entity_id, query)


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
        # A copy of the query: the request's own view of it cannot be pickled.
        query = MultiDict(request.query)
        if entity_id is None:
            body = await state.store.run(_read_list, collection, query)
            return json_reply(200, body)
        found = await state.store.run(_read_one, collection, entity_id, query)
    except BadQuery as bad:
        return json_reply(400, {"message": "Invalid request data", "error": [bad.issue]})
    if found is None:
        label = _GETS[collection][1]
        return json_reply(
            404,
            {
                "message": f"{label} not found within authorized project",
                "error": "LangfuseNotFoundError",
            },
        )
    return json_reply(200, found)
