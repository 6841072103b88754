"""The web view's trace page: the observation tree as a timeline, and a detail panel.

The timeline draws every observation as a bar on one time axis, nested by parent; the panel
shows the trace or one observation: level and status message, model, usage and cost, and input,
output and metadata as collapsible JSON (cut to a budget, see :mod:`._web_json`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any, Final

from ._validate import timestamp_ms
from ._web_json import render_json, short
from ._web_page import (
    ListQuery,
    badge,
    chip,
    cost,
    duration,
    level_badge,
    more_html,
    name_html,
    number,
    plural,
    raw_url,
    score_value,
    span_ms,
    time_html,
    trace_url,
    type_class,
    visible_text,
)

__all__ = ["MAX_SCORES", "MAX_TIMELINE_ROWS", "Timeline", "detail_html", "trace_page"]

#: Most observations a trace page draws in its timeline.
MAX_TIMELINE_ROWS: Final = 1_000
#: Most scores a trace page lists.
MAX_SCORES: Final = 200
_MESSAGE_CHARS: Final = 4_000
#: Most tags the trace's panel shows (it says how many more there are).
_PANEL_TAGS: Final = 50
_INDENT_LEVELS: Final = 64


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


#: Units of the axis's labels, largest first: (milliseconds in one, name).
_UNITS: Final = ((86_400_000.0, "d"), (3_600_000.0, "h"), (60_000.0, "min"), (1_000.0, "s"))
#: Round steps of the axis above a second, in ms (below, 1, 2 or 5 times a power of ten).
_CLOCK_STEPS: Final = tuple(
    seconds * 1000.0
    for seconds in (
        *(1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800),  # up to half an hour
        *(3600, 7200, 10800, 21600, 43200, 86400, 172800, 432000, 864000),  # hours to days
    )
)


def _step(raw: float) -> float:
    """The smallest round step of at least ``raw`` ms, in a unit people count in."""
    if raw >= _CLOCK_STEPS[-1]:  # tens of days and more: 1, 2 or 5 times a power of ten days
        return _round_step(raw / _UNITS[0][0]) * _UNITS[0][0]
    if raw > 1_000:
        return next(step for step in _CLOCK_STEPS if step >= raw)
    return _round_step(raw)


def _round_step(raw: float) -> float:
    """The smallest of 1, 2 or 5 times a power of ten that is at least ``raw``."""
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1.0, 2.0, 5.0, 10.0) if m * magnitude >= raw)


def _tick_label(ms: float, step: float) -> str:
    """A tick's time in the unit of the axis's step: ``250 ms``, ``1.5 s``, ``45 min``, ``3 d``."""
    for size, name in _UNITS:
        if step >= size:
            return f"{ms / size:,.10g} {name}"
    return f"{ms:.10g} ms" if ms < 1_000 else f"{ms / 1000:.10g} s"


def _axis(span_ms: float) -> str:
    """Ticks at round steps (in ms, s, min, h or d), about four of them."""
    if span_ms <= 0:
        steps, step = [0.0], 1.0
    else:
        step = _step(span_ms / 4)
        steps = [i * step for i in range(int(span_ms / step + 1e-9) + 1)]
    ticks = "".join(
        f'<span class="tick" style="left:{value / span_ms * 100 if span_ms else 0:.3f}%">'
        f"{_tick_label(value, step)}</span>"
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
        label = duration(end - start)
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
    if end is not None and end < start:  # a clock went backwards: say so, do not hide it
        inside += ' neg" title="ends before it starts'
    label_html = (
        f'<span class="dur{inside}" style="{position}">{escape(label)}</span>' if label else ""
    )
    ttft = ""
    if first_token is not None and end is not None and end > start and first_token > start:
        share = min((first_token - start) / (end - start) * 100, 100.0)
        ttft = f'<span class="ttft" style="width:{share:.3f}%" title="time to first token"></span>'
    return (
        f'<span class="track"><span class="bar {css}{point}" '
        f'style="left:{left:.3f}%;width:{width:.3f}%">{ttft}</span>{label_html}</span>'
    )


def _untitled(*, has_event: bool) -> str:
    """What stands for a trace's name when it has none."""
    return "(unnamed)" if has_event else "(no trace event)"


def _timeline(
    trace: Mapping[str, Any], timeline: Timeline, selected: str | None, untitled: str
) -> str:
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
        f'<span class="label" style="--d:0">{badge("TRACE").replace("t-other", "t-trace")}'
        f"{name_html(trace.get('name'), untitled)}</span>"
        + (_bar(origin, origin + span, (origin, span), "t-trace") if starts else "<span></span>")
        + "</a></li>"
    ]
    for row, depth in _ordered(rows):
        start = timestamp_ms(row["startTime"]) if row.get("startTime") else origin
        end = timestamp_ms(row["endTime"]) if row.get("endTime") else None
        css = type_class(row.get("type"))
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
            f"{badge(row.get('type'))}{name_html(row.get('name'))}{level_badge(level)}</span>"
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
            f'<a href="{escape(raw_url("traces", trace_id))}" target="_blank" rel="noopener">'
            "All of them as JSON</a>.</p>"
        )
    empty = "" if rows else '<p class="muted pad">No observations in this trace.</p>'
    return (
        '<section class="card timeline"><div class="card-head"><h2>Timeline</h2>'
        f'<span class="muted">{plural(timeline.total, "observation")} \u00b7 '
        f"{duration(span) or '0 ms'}"
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
        f'<td class="num">{cost(value) if money else escape(number(value))}</td></tr>'
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


def _scores_table(
    scores: Sequence[Mapping[str, Any]],
    trace_id: str,
    *,
    targets: bool,
    names: Mapping[str, Any] | None = None,
) -> str:
    """The scores as a table; with ``targets``, a column linking what each was given to.

    ``names`` maps the page's observation ids to their names: a target reads as the name a
    user sees in the timeline (its id in the tooltip), or as its id when not on the page.
    """
    if not scores:
        return ""
    names = names or {}
    rows = []
    for doc in scores[:MAX_SCORES]:
        target = ""
        if targets:
            link = _observation_link(trace_id, doc.get("observationId"), names)
            target = link or '<span class="muted">trace</span>'
            target = f'<td class="target" data-label="on">{target}</td>'
        comment = doc.get("comment")
        rows.append(
            f"<tr><td><b>{escape(short(str(doc.get('name') or ''), 80))}</b></td>"
            f'<td class="score-value">{score_value(doc)}</td>'
            f'<td><span class="muted">{escape(str(doc.get("dataType") or ""))}</span></td>'
            f'<td class="comment">'
            f"{escape(short(comment, 300)) if isinstance(comment, str) else ''}</td>"
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
        '<table class="scores"><thead><tr><th>Name</th><th>Value</th><th>Type</th>'
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


def _observation_link(trace_id: str, observation_id: Any, names: Mapping[str, Any]) -> str:
    """A link selecting an observation of the trace, by its name when ``names`` has it."""
    if not isinstance(observation_id, str):
        return ""
    name = names.get(observation_id)
    shown = short(name, 60) if isinstance(name, str) and name else short(observation_id, 40)
    return (
        f'<a href="{escape(trace_url(trace_id, observation_id))}#detail"'
        f' title="{escape(short(observation_id, 200))}">{visible_text(shown)}</a>'
    )


def _duration_fact(ms: float | None) -> str:
    if ms is not None and ms < 0:
        return f'{duration(ms)} <span class="level lv-warning">ends before it starts</span>'
    return duration(ms)


def detail_html(
    trace: Mapping[str, Any],
    observation: Mapping[str, Any] | None,
    scores: Sequence[Mapping[str, Any]],
    *,
    has_event: bool = True,
    missing: str | None = None,
    names: Mapping[str, Any] | None = None,
) -> str:
    """The detail panel: the trace's, or one observation's (with the scores given to it).

    ``missing`` is an observation id the URL asked for that is not in this trace: the panel
    shows the trace and says so (a link to an observation not arrived yet, or mistyped).
    ``names`` maps the timeline's observation ids to their names: the parent reads as the name
    the timeline shows (its id in the tooltip), or as its id when not there.
    """
    if observation is None:
        notice = (
            f'<p class="notice" role="note">No observation <code>{escape(short(missing, 200))}'
            "</code> in this trace: showing the trace.</p>"
            if missing
            else ""
        )
        all_tags = trace.get("tags") or []
        tags = "".join(
            chip(str(t), ListQuery(tag=str(t)).url(), " tag") for t in all_tags[:_PANEL_TAGS]
        ) + more_html(len(all_tags) - _PANEL_TAGS, "tag")
        facts = _facts(
            [
                ("Trace ID", f"<code>{escape(trace['id'])}</code>"),
                ("Timestamp", time_html(trace.get("timestamp")) if trace.get("timestamp") else ""),
                ("Environment", escape(short(str(trace.get("environment") or ""), 60))),
                ("Release", escape(short(str(trace.get("release") or ""), 100))),
                ("Version", escape(short(str(trace.get("version") or ""), 100))),
                ("Public", "yes" if trace.get("public") else ""),
                ("Tags", tags),
            ]
        )
        raw = raw_url("traces", trace["id"])
        return (
            f'{notice}<div class="detail-head">{badge("TRACE").replace("t-other", "t-trace")}'
            f"<h2>{name_html(trace.get('name'), _untitled(has_event=has_event))}</h2></div>"
            f"{facts}"
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
            ("Start", time_html(start)),
            ("End", time_html(end) if end else '<span class="muted">not ended</span>'),
            ("Duration", _duration_fact(span_ms(start, end))),
            (
                "Time to first token",
                duration(span_ms(start, observation.get("completionStartTime"))),
            ),
            ("Model", escape(short(str(observation.get("model") or ""), 200))),
            ("Prompt", escape(short(str(prompt or ""), 200))),
            ("Version", escape(short(str(observation.get("version") or ""), 100))),
            ("Environment", escape(short(str(observation.get("environment") or ""), 60))),
            ("Parent", _observation_link(trace["id"], parent, names or {})),
        ]
    )
    metrics = _details_table("Usage", observation.get("usageDetails"), False) + _details_table(
        "Cost", observation.get("costDetails"), True
    )
    raw = raw_url("observations", observation["id"])
    given = [s for s in scores if s.get("observationId") == observation["id"]]
    return (
        f'<div class="detail-head">{badge(observation.get("type"))}'
        f"<h2>{name_html(observation.get('name'))}</h2>{level_badge(observation.get('level'))}</div>"
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
    *,
    has_event: bool = True,
    missing: str | None = None,
) -> str:
    """The body of a trace page, with ``observation`` (or the trace) in the detail panel.

    ``missing``: see :func:`detail_html`.

    ``has_event`` is False when no trace event arrived (only observations or scores name the
    trace): the page then says so where the name would be.
    """
    untitled = _untitled(has_event=has_event)
    rows = timeline.rows
    costs = [r["totalCost"] for r in rows if isinstance(r.get("totalCost"), (int, float))]
    tokens = [r["totalTokens"] for r in rows if isinstance(r.get("totalTokens"), (int, float))]
    starts = [r["startTime"] for r in rows if r.get("startTime")]
    ends = [r.get("endTime") or r["startTime"] for r in rows if r.get("startTime")]
    latency = (
        span_ms(min(starts, key=timestamp_ms), max(ends, key=timestamp_ms)) if starts else None
    )
    user, session = trace.get("userId"), trace.get("sessionId")
    facts = _facts(
        [
            ("Time (UTC)", time_html(trace.get("timestamp")) if trace.get("timestamp") else ""),
            ("Latency", duration(latency)),
            ("Observations", f"{timeline.total:,}"),
            ("Tokens", number(sum(tokens)) if tokens else ""),
            ("Cost", cost(sum(costs)) if costs else ""),
            ("User", chip(user, ListQuery(user=str(user)).url())),
            ("Session", chip(session, ListQuery(session=str(session)).url())),
        ]
    )
    head = (
        '<nav class="crumbs"><a href="/">Traces</a><span>/</span>'
        f"{name_html(trace.get('name'), untitled)}</nav>"
        f'<section class="card trace-head"><div class="title-row"><h1>'
        f"{name_html(trace.get('name'), untitled)}</h1>"
        f'<code class="id">{escape(trace["id"])}</code></div>{facts}</section>'
    )
    names = {r["id"]: r.get("name") for r in rows if isinstance(r.get("id"), str)}
    score_card = (
        f'<section class="card"><div class="card-head"><h2>Scores</h2>'
        f'<span class="muted">{len(scores):,}</span></div>'
        f'<div class="table-wrap">{_scores_table(scores, trace["id"], targets=True, names=names)}'
        "</div></section>"
        if scores
        else ""
    )
    selected = observation["id"] if observation is not None else None
    return (
        f'{head}{score_card}<div class="split">{_timeline(trace, timeline, selected, untitled)}'
        f'<section class="card detail" id="detail" aria-live="polite">'
        + detail_html(trace, observation, scores, has_event=has_event, missing=missing, names=names)
        + "</section></div>"
    )
