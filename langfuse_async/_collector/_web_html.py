"""The web view's pages, rendered on the server: the trace list and the trace page.

Pure functions from stored documents to HTML. Every value that came from a client is passed
through :func:`html.escape` (or :func:`urllib.parse.quote` inside a URL, then escaped) before
it reaches the page; long values are cut and the page says so.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any, Final
from urllib.parse import quote, urlencode

from ._validate import timestamp_ms
from ._web_json import render_json, short

__all__ = [
    "MAX_SCORES",
    "MAX_TIMELINE_ROWS",
    "ListQuery",
    "Timeline",
    "detail_html",
    "layout",
    "list_page",
    "not_found_page",
    "trace_page",
]

#: Most observations a trace page draws in its timeline.
MAX_TIMELINE_ROWS: Final = 1_000
#: Most scores a trace page lists.
MAX_SCORES: Final = 200
_NAME_CHARS: Final = 200
_MESSAGE_CHARS: Final = 4_000
_INDENT_LEVELS: Final = 16
_KNOWN_TYPES: Final = frozenset(
    {
        "span",
        "generation",
        "event",
        "agent",
        "tool",
        "chain",
        "retriever",
        "evaluator",
        "embedding",
        "guardrail",
    }
)


def trace_url(trace_id: str, observation_id: str | None = None) -> str:
    """The trace page's path (not escaped), optionally with one observation selected."""
    url = f"/_ui/traces/{quote(trace_id, safe='')}"
    return f"{url}?{urlencode({'observation': observation_id})}" if observation_id else url


def _raw_url(kind: str, entity_id: str) -> str:
    return f"/_ui/api/{kind}/{quote(entity_id, safe='')}"


# --- formatting ------------------------------------------------------------------------------


def _duration(ms: float | None) -> str:
    if ms is None or ms < 0:
        return ""
    if ms < 1_000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(ms / 1000, 60)
    return f"{minutes:.0f} min {seconds:02.0f} s"


def _span_ms(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return timestamp_ms(end) - timestamp_ms(start)


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        # Fixed notation: costs such as 0.0000036 read badly as 3.6e-06.
        return f"{value:.10f}".rstrip("0").rstrip(".") or "0"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _cost(value: Any) -> str:
    return f"${_number(float(value))}" if isinstance(value, (int, float)) else ""


def _time(iso: str | None) -> str:
    if not iso:
        return '<span class="muted">\u2014</span>'
    shown = iso.replace("T", " ").removesuffix("Z")
    return f'<time datetime="{escape(iso)}" title="{escape(iso)}">{escape(shown)}</time>'


def _type_class(kind: str | None) -> str:
    lowered = (kind or "span").lower()
    return f"t-{lowered}" if lowered in _KNOWN_TYPES else "t-other"


def _badge(kind: str | None) -> str:
    return f'<span class="badge {_type_class(kind)}">{escape(short(kind or "SPAN", 20))}</span>'


def _level(level: str | None) -> str:
    if not level or level == "DEFAULT":
        return ""
    css = {"ERROR": "lv-error", "WARNING": "lv-warning", "DEBUG": "lv-debug"}.get(level, "")
    return f'<span class="level {css}">{escape(short(level, 20))}</span>'


def _name(name: Any, fallback: str = "(unnamed)") -> str:
    if not isinstance(name, str) or not name:
        return f'<span class="muted">{fallback}</span>'
    title = escape(short(name, 1000))
    return f'<span class="nm" title="{title}">{escape(short(name, _NAME_CHARS))}</span>'


def _score_value(doc: Mapping[str, Any]) -> str:
    value = doc.get("value")
    if doc.get("dataType") == "BOOLEAN" and isinstance(value, (int, float)):
        return "True" if value == 1 else "False"
    if isinstance(value, str):
        return escape(short(value, 200))
    return escape(_number(value)) if value is not None else ""


# --- layout ----------------------------------------------------------------------------------


def layout(title: str, body: str, *, version: str, mode: str, counts: Mapping[str, int]) -> str:
    """A whole page around ``body`` (already HTML); ``title`` is plain text."""
    stats = " ".join(
        f'<span class="stat"><b>{counts.get(key, 0):,}</b> {label}</span>'
        for key, label in (
            ("traces", "traces"),
            ("observations", "observations"),
            ("scores", "scores"),
        )
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(short(title, 120))} \u00b7 langfuse-async</title>"
        '<link rel="icon" href="/_ui/static/favicon.svg" type="image/svg+xml">'
        '<link rel="stylesheet" href="/_ui/static/app.css">'
        '<script src="/_ui/static/app.js" defer></script></head><body>'
        '<header class="top"><a class="brand" href="/"><span class="logo" aria-hidden="true">'
        '</span>langfuse-async</a><span class="tagline">local collector</span>'
        f'<span class="pill">Langfuse {escape(version)} \u00b7 {escape(mode)}</span>'
        f'<span class="stats">{stats}</span></header>'
        f"<main>{body}</main><footer>Served by <code>langfuse-async serve</code> from its "
        "SQLite database. A development view: no login on loopback.</footer></body></html>"
    )


def not_found_page(message: str) -> str:
    """The body of a 404 page of the view."""
    return (
        f'<section class="card empty"><h1>Not found</h1><p>{escape(message)}</p>'
        '<p><a href="/">Back to the traces</a></p></section>'
    )


# --- the trace list --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ListQuery:
    """The trace list's filters and page, from the URL (``?name=&user=&session=&tag=&page=``)."""

    name: str | None = None
    user: str | None = None
    session: str | None = None
    tag: str | None = None
    page: int = 1
    limit: int = 50

    def url(self, **changes: Any) -> str:
        """The list's URL with some fields changed (not escaped)."""
        query = dataclasses.replace(self, **changes)
        params = {
            key: value
            for key, value in (
                ("name", query.name),
                ("user", query.user),
                ("session", query.session),
                ("tag", query.tag),
            )
            if value is not None
        }
        if query.page != 1:
            params["page"] = str(query.page)
        if query.limit != 50:
            params["limit"] = str(query.limit)
        return "/?" + urlencode(params) if params else "/"

    @property
    def filtered(self) -> bool:
        """Whether any filter is set."""
        return any(v is not None for v in (self.name, self.user, self.session, self.tag))


def _filter_form(query: ListQuery, suggestions: Mapping[str, Sequence[str]]) -> str:
    fields = []
    lists = []
    for key, label, value, suggest in (
        ("name", "Name", query.name, "name"),
        ("user", "User", query.user, "userId"),
        ("session", "Session", query.session, "sessionId"),
        ("tag", "Tag", query.tag, "tag"),
    ):
        fields.append(
            f'<label class="field"><span>{label}</span><input type="search" name="{key}" '
            f'list="dl-{key}" autocomplete="off" placeholder="any" '
            f'value="{escape(value or "")}"></label>'
        )
        options = "".join(f'<option value="{escape(v)}">' for v in suggestions.get(suggest, ()))
        lists.append(f'<datalist id="dl-{key}">{options}</datalist>')
    clear = '<a class="button ghost" href="/">Clear</a>' if query.filtered else ""
    return (
        f'<form class="filters card" method="get" action="/" role="search">{"".join(fields)}'
        f'<div class="actions"><button type="submit">Filter</button>{clear}</div></form>'
        + "".join(lists)
    )


def _trace_row(row: Mapping[str, Any], query: ListQuery) -> str:
    url = escape(trace_url(row["id"]))
    name = _name(row.get("name"), "(no trace event)" if row.get("orphan") else "(unnamed)")
    user = row.get("userId")
    session = row.get("sessionId")
    user_cell = (
        f'<a class="chip" href="{escape(query.url(user=user, page=1))}">'
        f"{escape(short(user, 40))}</a>"
        if user
        else ""
    )
    session_cell = (
        f'<a class="chip" href="{escape(query.url(session=session, page=1))}">'
        f"{escape(short(session, 40))}</a>"
        if session
        else ""
    )
    tags = "".join(
        f'<a class="chip tag" href="{escape(query.url(tag=tag, page=1))}">'
        f"{escape(short(str(tag), 40))}</a>"
        for tag in row.get("tags", [])[:8]
    )
    scores = "".join(
        f'<span class="score">{escape(short(s.get("name") or "", 30))} '
        f"<b>{_score_value(s)}</b></span>"
        for s in row.get("scores", [])[:4]
    )
    error = '<span class="level lv-error">ERROR</span>' if row.get("hasError") else ""
    count = row.get("observationCount", 0)
    return (
        f'<tr class="trace-row" data-trace-id="{escape(row["id"])}">'
        f'<td class="time"><a href="{url}">{_time(row.get("timestamp"))}</a></td>'
        f'<td class="name"><a href="{url}">{name}</a>{error}'
        f'<div class="id">{escape(short(row["id"], 64))}</div></td>'
        f"<td>{user_cell}</td><td>{session_cell}</td><td>{tags}</td>"
        f'<td class="num">{count:,}</td>'
        f'<td class="num">{_duration(_span_ms(row.get("startTime"), row.get("endTime")))}</td>'
        f'<td class="num">{_cost(row.get("totalCost"))}</td><td>{scores}</td></tr>'
    )


def list_page(
    rows: Sequence[Mapping[str, Any]],
    total: int,
    query: ListQuery,
    suggestions: Mapping[str, Sequence[str]],
    *,
    base_url: str,
) -> str:
    """The body of the trace list page."""
    parts = ['<div class="page-head"><h1>Traces</h1></div>', _filter_form(query, suggestions)]
    if not rows:
        if query.filtered or query.page > 1:
            parts.append(
                '<section class="card empty"><p>No traces match these filters.</p>'
                '<p><a href="/">Show all traces</a></p></section>'
            )
        else:
            parts.append(
                '<section class="card empty"><h2>No traces yet</h2><p>Point a client at this '
                "collector and traces appear here:</p><pre>"
                f"LANGFUSE_BASE_URL={escape(base_url)}\nLANGFUSE_PUBLIC_KEY=pk-lf-local\n"
                "LANGFUSE_SECRET_KEY=sk-lf-local</pre><p>or run <code>langfuse-async demo "
                "--local</code>.</p></section>"
            )
        return "".join(parts)
    first = (query.page - 1) * query.limit + 1
    parts.append(
        f'<p class="summary">Showing <b>{first:,}\u2013{first + len(rows) - 1:,}</b> of '
        f"<b>{total:,}</b> traces, newest first</p>"
    )
    parts.append(
        '<div class="card table-wrap"><table class="traces"><thead><tr>'
        "<th>Time (UTC)</th><th>Name</th><th>User</th><th>Session</th><th>Tags</th>"
        '<th class="num">Observations</th><th class="num">Latency</th>'
        '<th class="num">Cost</th><th>Scores</th></tr></thead><tbody>'
        + "".join(_trace_row(row, query) for row in rows)
        + "</tbody></table></div>"
    )
    pages = max(math.ceil(total / query.limit), 1)
    newer = (
        f'<a class="button ghost" rel="prev" href="{escape(query.url(page=query.page - 1))}">'
        "\u2190 Newer</a>"
        if query.page > 1
        else '<span class="button ghost disabled">\u2190 Newer</span>'
    )
    older = (
        f'<a class="button ghost" rel="next" href="{escape(query.url(page=query.page + 1))}">'
        "Older \u2192</a>"
        if query.page < pages
        else '<span class="button ghost disabled">Older \u2192</span>'
    )
    parts.append(
        f'<nav class="pager" aria-label="pages">{newer}<span>Page {query.page:,} of '
        f"{pages:,}</span>{older}</nav>"
    )
    return "".join(parts)


# --- the trace page --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Timeline:
    """What the trace page draws: the observations' light rows and how many there are."""

    rows: Sequence[Mapping[str, Any]]
    total: int


def _ordered(rows: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], int]]:
    """Depth-first by start time; rows whose parent is unknown (or in a cycle) become roots."""
    ids = {row["id"] for row in rows}
    children: dict[str | None, list[Mapping[str, Any]]] = {}
    for row in rows:  # already by start time
        parent = row.get("parentObservationId")
        children.setdefault(parent if parent in ids else None, []).append(row)
    ordered: list[tuple[Mapping[str, Any], int]] = []
    seen: set[str] = set()

    def walk(roots: Sequence[Mapping[str, Any]]) -> None:
        stack = [(row, 1) for row in reversed(roots)]
        while stack:
            row, depth = stack.pop()
            if row["id"] in seen:
                continue
            seen.add(row["id"])
            ordered.append((row, depth))
            stack.extend((child, depth + 1) for child in reversed(children.get(row["id"], [])))

    walk(children.get(None, []))
    rest = [row for row in rows if row["id"] not in seen]
    if rest:  # parents pointing at each other: show them anyway, at the top level
        walk(rest)
    return ordered


def _tick_label(ms: float) -> str:
    return f"{ms:g} ms" if ms < 1_000 else f"{ms / 1000:g} s"


def _axis(span_ms: float) -> str:
    """Ticks at round steps (1, 2 or 5 times a power of ten), about four of them."""
    if span_ms <= 0:
        steps = [0.0]
    else:
        raw = span_ms / 4
        magnitude = 10 ** math.floor(math.log10(raw))
        step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
        steps = [i * step for i in range(int(span_ms / step + 1e-9) + 1)]
    ticks = "".join(
        f'<span class="tick" style="left:{value / span_ms * 100 if span_ms else 0:.3f}%">'
        f"{_tick_label(value)}</span>"
        for value in steps
    )
    return (
        f'<div class="axis" aria-hidden="true"><span></span><div class="ticks">{ticks}</div></div>'
    )


def _bar(
    start: float,
    end: float | None,
    window: tuple[float, float],
    css: str,
    *,
    first_token: float | None = None,
    open_ended: bool = False,
) -> str:
    """One row's bar on the shared axis ``window`` (origin and length in ms)."""
    origin, span = window
    left = min(max((start - origin) / span * 100 if span else 0.0, 0.0), 100.0)
    if end is None and open_ended:
        width, label, css = 100.0 - left, "not ended", css + " open"
    elif end is None:
        width, label = 0.0, ""
    else:
        width = (end - start) / span * 100 if span else 0.0
        label = _duration(end - start)
    width = min(max(width, 0.0), 100.0 - left)
    point = " point" if width == 0.0 else ""
    right_edge = left + width
    # The duration goes right of the bar when there is room, else left of it, else inside.
    if right_edge < 82:
        position, inside = f"left:calc({right_edge:.3f}% + 6px)", ""
    elif left > 14:
        position, inside = f"right:calc({100 - left:.3f}% + 6px)", ""
    else:
        position, inside = f"right:calc({100 - right_edge:.3f}% + 6px)", " in"
    duration = (
        f'<span class="dur{inside}" style="{position}">{escape(label)}</span>' if label else ""
    )
    ttft = ""
    if first_token is not None and end is not None and end > start and first_token > start:
        share = min((first_token - start) / (end - start) * 100, 100.0)
        ttft = f'<span class="ttft" style="width:{share:.3f}%" title="time to first token"></span>'
    return (
        f'<span class="track"><span class="bar {css}{point}" '
        f'style="left:{left:.3f}%;width:{width:.3f}%">{ttft}</span>{duration}</span>'
    )


def _timeline(trace: Mapping[str, Any], timeline: Timeline, selected: str | None) -> str:
    rows = timeline.rows
    starts = [timestamp_ms(r["startTime"]) for r in rows if r.get("startTime")]
    ends = [timestamp_ms(r.get("endTime") or r["startTime"]) for r in rows if r.get("startTime")]
    origin = min(starts) if starts else 0.0
    span = (max(ends) - origin) if ends else 0.0
    trace_id = trace["id"]
    root_selected = " selected" if selected is None else ""
    items = [
        f'<li class="row{root_selected}" data-observation-id="">'
        f'<a class="row-link" href="{escape(trace_url(trace_id))}#detail">'
        f'<span class="label" style="--d:0">{_badge("TRACE").replace("t-other", "t-trace")}'
        f"{_name(trace.get('name'), '(trace)')}</span>"
        + (_bar(origin, origin + span, (origin, span), "t-trace") if starts else "<span></span>")
        + "</a></li>"
    ]
    for row, depth in _ordered(rows):
        start = timestamp_ms(row["startTime"]) if row.get("startTime") else origin
        end = timestamp_ms(row["endTime"]) if row.get("endTime") else None
        css = _type_class(row.get("type"))
        level = row.get("level") or "DEFAULT"
        flag = " lv-error" if level == "ERROR" else " lv-warning" if level == "WARNING" else ""
        status = row.get("statusMessage")
        title = f' title="{escape(short(status, 300))}"' if isinstance(status, str) else ""
        is_selected = " selected" if row["id"] == selected else ""
        first = row.get("completionStartTime")
        items.append(
            f'<li class="row{is_selected}{flag}" data-observation-id="{escape(row["id"])}"{title}>'
            f'<a class="row-link" href="{escape(trace_url(trace_id, row["id"]))}#detail">'
            f'<span class="label" style="--d:{min(depth, _INDENT_LEVELS)}">'
            f"{_badge(row.get('type'))}{_name(row.get('name'))}{_level(level)}</span>"
            + _bar(
                start,
                end,
                (origin, span),
                css + flag,
                first_token=timestamp_ms(first) if isinstance(first, str) else None,
                open_ended=row.get("type") != "EVENT",
            )
            + "</a></li>"
        )
    notice = ""
    if timeline.total > len(rows):
        notice = (
            f'<p class="notice" role="note">This trace has {timeline.total:,} observations; the '
            f"timeline shows the first {len(rows):,} by start time. "
            f'<a href="{escape(_raw_url("traces", trace_id))}" target="_blank" rel="noopener">'
            "All of them as JSON</a>.</p>"
        )
    empty = "" if rows else '<p class="muted pad">No observations in this trace.</p>'
    return (
        '<section class="card timeline"><div class="card-head"><h2>Timeline</h2>'
        f'<span class="muted">{timeline.total:,} observations \u00b7 {_duration(span) or "0 ms"}'
        f'</span></div>{notice}{_axis(span)}<ol class="tree">{"".join(items)}</ol>{empty}'
        "</section>"
    )


def _facts(pairs: Sequence[tuple[str, str]]) -> str:
    shown = "".join(
        f"<div><dt>{label}</dt><dd>{value}</dd></div>" for label, value in pairs if value
    )
    return f'<dl class="facts">{shown}</dl>'


def _details_table(title: str, values: Any, money: bool) -> str:
    if not isinstance(values, dict) or not values:
        return ""
    rows = "".join(
        f"<tr><th>{escape(short(str(key), 60))}</th>"
        f'<td class="num">{_cost(value) if money else escape(_number(value))}</td></tr>'
        for key, value in list(values.items())[:50]
    )
    return f'<table class="kv"><caption>{title}</caption>{rows}</table>'


def _json_section(label: str, value: Any, raw_url: str, *, is_open: bool) -> str:
    if value is None:
        return ""
    return (
        f'<details class="section"{" open" if is_open else ""}><summary>{label}'
        f'<a class="raw" href="{escape(raw_url)}" target="_blank" rel="noopener">JSON</a>'
        f"</summary>{render_json(value, raw_url=raw_url)}</details>"
    )


def _scores_table(scores: Sequence[Mapping[str, Any]], trace_id: str, *, targets: bool) -> str:
    if not scores:
        return ""
    rows = []
    for doc in scores[:MAX_SCORES]:
        target = ""
        if targets:
            observation = doc.get("observationId")
            target = (
                f'<a href="{escape(trace_url(trace_id, observation))}#detail">'
                f"{escape(short(observation, 24))}</a>"
                if isinstance(observation, str)
                else '<span class="muted">trace</span>'
            )
            target = f"<td>{target}</td>"
        comment = doc.get("comment")
        rows.append(
            f"<tr><td><b>{escape(short(str(doc.get('name') or ''), 80))}</b></td>"
            f'<td class="num score-value">{_score_value(doc)}</td>'
            f'<td><span class="muted">{escape(str(doc.get("dataType") or ""))}</span></td>'
            f"<td>{escape(short(comment, 300)) if isinstance(comment, str) else ''}</td>"
            f'<td><span class="muted">{escape(str(doc.get("source") or ""))}</span></td>'
            f"{target}</tr>"
        )
    more = (
        f'<p class="notice">Showing {MAX_SCORES} of {len(scores):,} scores.</p>'
        if len(scores) > MAX_SCORES
        else ""
    )
    head = "<th>Target</th>" if targets else ""
    return (
        '<table class="scores"><thead><tr><th>Name</th><th class="num">Value</th><th>Type</th>'
        f"<th>Comment</th><th>Source</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
        f"</table>{more}"
    )


def _message(text: Any) -> str:
    if not isinstance(text, str) or not text:
        return ""
    cut = (
        f' <span class="j-more">\u2026 {len(text) - _MESSAGE_CHARS:,} more characters</span>'
        if len(text) > _MESSAGE_CHARS
        else ""
    )
    return f'<p class="status-message">{escape(text[:_MESSAGE_CHARS])}{cut}</p>'


def detail_html(
    trace: Mapping[str, Any],
    observation: Mapping[str, Any] | None,
    scores: Sequence[Mapping[str, Any]],
) -> str:
    """The detail panel: the trace's, or one observation's (with the scores given to it)."""
    if observation is None:
        tags = "".join(
            f'<a class="chip tag" href="{escape(ListQuery(tag=str(t)).url())}">'
            f"{escape(short(str(t), 40))}</a>"
            for t in (trace.get("tags") or [])[:50]
        )
        facts = _facts(
            [
                ("Trace ID", f"<code>{escape(trace['id'])}</code>"),
                ("Timestamp", _time(trace.get("timestamp")) if trace.get("timestamp") else ""),
                ("Environment", escape(short(str(trace.get("environment") or ""), 60))),
                ("Release", escape(short(str(trace.get("release") or ""), 100))),
                ("Version", escape(short(str(trace.get("version") or ""), 100))),
                ("Public", "yes" if trace.get("public") else ""),
                ("Tags", tags),
            ]
        )
        raw = _raw_url("traces", trace["id"])
        return (
            f'<div class="detail-head">{_badge("TRACE").replace("t-other", "t-trace")}'
            f"<h2>{_name(trace.get('name'), '(trace)')}</h2></div>{facts}"
            + _json_section("Input", trace.get("input"), raw, is_open=True)
            + _json_section("Output", trace.get("output"), raw, is_open=True)
            + _json_section("Metadata", trace.get("metadata"), raw, is_open=False)
        )
    start, end = observation.get("startTime"), observation.get("endTime")
    prompt = observation.get("promptName")
    if prompt and observation.get("promptVersion") is not None:
        prompt = f"{prompt} v{observation['promptVersion']}"
    parent = observation.get("parentObservationId")
    facts = _facts(
        [
            ("Observation ID", f"<code>{escape(observation['id'])}</code>"),
            ("Start", _time(start)),
            ("End", _time(end) if end else '<span class="muted">not ended</span>'),
            ("Duration", _duration(_span_ms(start, end))),
            (
                "Time to first token",
                _duration(_span_ms(start, observation.get("completionStartTime"))),
            ),
            ("Model", escape(short(str(observation.get("model") or ""), 200))),
            ("Prompt", escape(short(str(prompt or ""), 200))),
            ("Version", escape(short(str(observation.get("version") or ""), 100))),
            ("Environment", escape(short(str(observation.get("environment") or ""), 60))),
            (
                "Parent",
                f'<a href="{escape(trace_url(trace["id"], parent))}#detail">'
                f"{escape(short(parent, 40))}</a>"
                if isinstance(parent, str)
                else "",
            ),
        ]
    )
    metrics = _details_table("Usage", observation.get("usageDetails"), False) + _details_table(
        "Cost", observation.get("costDetails"), True
    )
    raw = _raw_url("observations", observation["id"])
    given = [s for s in scores if s.get("observationId") == observation["id"]]
    return (
        f'<div class="detail-head">{_badge(observation.get("type"))}'
        f"<h2>{_name(observation.get('name'))}</h2>{_level(observation.get('level'))}</div>"
        f"{_message(observation.get('statusMessage'))}{facts}"
        + (f'<div class="metrics">{metrics}</div>' if metrics else "")
        + _json_section("Input", observation.get("input"), raw, is_open=True)
        + _json_section("Output", observation.get("output"), raw, is_open=True)
        + _json_section("Metadata", observation.get("metadata"), raw, is_open=False)
        + _json_section("Model parameters", observation.get("modelParameters"), raw, is_open=False)
        + (f"<h3>Scores</h3>{_scores_table(given, trace['id'], targets=False)}" if given else "")
    )


def trace_page(
    trace: Mapping[str, Any],
    timeline: Timeline,
    scores: Sequence[Mapping[str, Any]],
    observation: Mapping[str, Any] | None,
) -> str:
    """The body of a trace page, with ``observation`` (or the trace) in the detail panel."""
    rows = timeline.rows
    costs = [r["totalCost"] for r in rows if isinstance(r.get("totalCost"), (int, float))]
    tokens = [r["totalTokens"] for r in rows if isinstance(r.get("totalTokens"), (int, float))]
    starts = [r["startTime"] for r in rows if r.get("startTime")]
    ends = [r.get("endTime") or r["startTime"] for r in rows if r.get("startTime")]
    latency = (
        _span_ms(min(starts, key=timestamp_ms), max(ends, key=timestamp_ms)) if starts else None
    )
    user, session = trace.get("userId"), trace.get("sessionId")
    facts = _facts(
        [
            ("Time (UTC)", _time(trace.get("timestamp")) if trace.get("timestamp") else ""),
            ("Latency", _duration(latency)),
            ("Observations", f"{timeline.total:,}"),
            ("Tokens", _number(sum(tokens)) if tokens else ""),
            ("Cost", _cost(sum(costs)) if costs else ""),
            (
                "User",
                f'<a class="chip" href="{escape(ListQuery(user=user).url())}">'
                f"{escape(short(user, 60))}</a>"
                if isinstance(user, str) and user
                else "",
            ),
            (
                "Session",
                f'<a class="chip" href="{escape(ListQuery(session=session).url())}">'
                f"{escape(short(session, 60))}</a>"
                if isinstance(session, str) and session
                else "",
            ),
        ]
    )
    head = (
        '<nav class="crumbs"><a href="/">Traces</a><span>/</span>'
        f"{_name(trace.get('name'), '(trace)')}</nav>"
        f'<section class="card trace-head"><div class="title-row"><h1>'
        f"{_name(trace.get('name'), '(no trace event)')}</h1>"
        f'<code class="id">{escape(trace["id"])}</code></div>{facts}</section>'
    )
    score_card = (
        f'<section class="card"><div class="card-head"><h2>Scores</h2>'
        f'<span class="muted">{len(scores):,}</span></div>'
        f"{_scores_table(scores, trace['id'], targets=True)}</section>"
        if scores
        else ""
    )
    selected = observation["id"] if observation is not None else None
    return (
        f'{head}{score_card}<div class="split">{_timeline(trace, timeline, selected)}'
        f'<section class="card detail" id="detail" aria-live="polite">'
        f"{detail_html(trace, observation, scores)}</section></div>"
    )
