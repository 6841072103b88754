"""The web view's trace list: filters, one row per trace with its totals, and paging."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any, Final

from ._keys import DEFAULT_PUBLIC_KEY, DEFAULT_SECRET_KEY, shown_secret_key
from ._web_json import short
from ._web_page import (
    FILTERS,
    ListQuery,
    chip,
    cost,
    duration,
    more_html,
    name_html,
    plural,
    score_value,
    span_ms,
    time_html,
    trace_url,
    visible_text,
)

__all__ = ["list_page"]


_SUGGESTIONS: Final = {"name": "name", "user": "userId", "session": "sessionId", "tag": "tag"}


def _filter_form(query: ListQuery, suggestions: Mapping[str, Sequence[str]]) -> str:
    fields = []
    lists = []
    for key, value in query.filters():
        label, suggest = key.capitalize(), _SUGGESTIONS[key]
        fields.append(
            f'<label class="field"><span>{label}</span><input type="search" name="{key}" '
            f'list="dl-{key}" autocomplete="off" placeholder="any" '
            f'value="{escape(value or "")}"></label>'
        )
        options = "".join(f'<option value="{escape(v)}">' for v in suggestions.get(suggest, ()))
        lists.append(f'<datalist id="dl-{key}">{options}</datalist>')
    clear = '<a class="button ghost" href="/">Clear</a>' if query.filtered else ""
    if query.limit != ListQuery.limit:  # a new filter starts at page 1, at the same page size
        fields.append(f'<input type="hidden" name="limit" value="{query.limit}">')
    return (
        f'<form class="filters card" method="get" action="/" role="search">{"".join(fields)}'
        f'<div class="actions"><button type="submit">Filter</button>{clear}</div></form>'
        + "".join(lists)
    )


#: Most tags and scores a row shows (the trace page shows them all).
_TAGS: Final = 8
_SCORES: Final = 4


def _trace_row(row: Mapping[str, Any], query: ListQuery) -> str:
    url = escape(trace_url(row["id"]))
    name = name_html(row.get("name"), "(no trace event)" if row.get("orphan") else "(unnamed)")
    user_cell = chip(row.get("userId"), query.url(user=row.get("userId"), page=1))
    session_cell = chip(row.get("sessionId"), query.url(session=row.get("sessionId"), page=1))
    all_tags, all_scores = row.get("tags", []), row.get("scores", [])
    tags = "".join(
        chip(str(tag), query.url(tag=str(tag), page=1), " tag") for tag in all_tags[:_TAGS]
    ) + more_html(len(all_tags) - _TAGS, "tag")
    scores = "".join(
        f'<span class="score">{escape(short(s.get("name") or "", 30))} '
        f"<b>{score_value(s, 40)}</b></span>"
        for s in all_scores[:_SCORES]
    ) + more_html(len(all_scores) - _SCORES, "score")
    error = '<span class="level lv-error">ERROR</span>' if row.get("hasError") else ""
    count = row.get("observationCount", 0)
    return (
        f'<tr class="trace-row" data-trace-id="{escape(row["id"])}">'
        f'<td class="time"><a href="{url}">{time_html(row.get("timestamp"))}</a></td>'
        f'<td class="name"><a href="{url}">{name}</a>{error}'
        f'<div class="id">{escape(short(row["id"], 64))}</div></td>'
        f"<td>{user_cell}</td><td>{session_cell}</td><td>{tags}</td>"
        f'<td class="num" data-label="observations">{count:,}</td>'
        f'<td class="num" data-label="latency">'
        f"{duration(span_ms(row.get('startTime'), row.get('endTime')))}</td>"
        f'<td class="num" data-label="cost">{cost(row.get("totalCost"))}</td><td>{scores}</td></tr>'
    )


def described(query: ListQuery) -> str:
    """The query's filters in words, as HTML (``name <q>checkout</q> and tag <q>beta</q>``).

    Each value shows its white space at either end (the filters match it exactly).
    """
    words = {param: word for _, param, word in FILTERS}
    return " and ".join(
        f'{words[param]} <q class="filter-value">{visible_text(short(value, 200))}</q>'
        for param, value in query.filters()
        if value is not None
    )


def list_page(
    rows: Sequence[Mapping[str, Any]],
    total: int,
    query: ListQuery,
    suggestions: Mapping[str, Sequence[str]],
    *,
    base_url: str,
    public_key: str = DEFAULT_PUBLIC_KEY,
    secret_key: str = DEFAULT_SECRET_KEY,
    trimmed_total: int = 0,
) -> str:
    """The body of the trace list page (the keys are shown when there is no trace yet).

    ``trimmed_total`` is how many traces match the filters without the white space at their
    ends (:meth:`ListQuery.trimmed`), offered when none matches them as they are.
    """
    head = (
        '<div class="page-head"><h1>Traces</h1><label class="live" title="Reload the list every '
        'two seconds"><input type="checkbox" id="live"> Live</label></div>'
    )
    # The results are one element, which the page's script swaps while "Live" is on.
    parts = [head, _filter_form(query, suggestions), '<div id="results">']
    pages = max(math.ceil(total / query.limit), 1)
    if not rows:
        if total and query.page > pages:
            last = escape(query.url(page=pages))
            parts.append(
                f'<section class="card empty"><p>Page {query.page:,} is past the end: '
                f"{'these filters match' if query.filtered else 'there are'} {total:,} "
                f"traces, on {pages:,} page{'s' if pages > 1 else ''}.</p>"
                f'<p><a href="{last}">Go to the last page</a></p></section>'
            )
        elif query.filtered:
            trimmed = query.trimmed()
            offer = (
                '<p class="trimmed">Without the white space at their ends, '
                f'<a href="{escape(trimmed.url())}">{plural(trimmed_total, "trace")} '
                f"{'matches' if trimmed_total == 1 else 'match'}</a>: {described(trimmed)}.</p>"
                if trimmed is not None and trimmed.filtered and trimmed_total
                else ""
            )
            parts.append(
                '<section class="card empty"><p class="no-match">No traces with '
                f"{described(query)}.</p>{offer}"
                '<p><a href="/">Show all traces</a></p></section>'
            )
        else:
            # The demo's own default is an embedded collector: --remote sends here.
            parts.append(
                '<section class="card empty"><h2>No traces yet</h2><p>Point a client at this '
                "collector and traces appear here:</p><pre>"
                f"LANGFUSE_BASE_URL={escape(base_url)}\n"
                f"LANGFUSE_PUBLIC_KEY={escape(public_key)}\n"
                f"LANGFUSE_SECRET_KEY={escape(shown_secret_key(secret_key))}</pre>"
                "<p>or, with these variables set, run "
                "<code>langfuse-async demo --remote</code>.</p></section>"
            )
        return "".join(parts) + "</div>"
    first = (query.page - 1) * query.limit + 1
    parts.append(
        f'<p class="summary">Showing <b>{first:,}\u2013{first + len(rows) - 1:,}</b> of '
        f"<b>{total:,}</b> trace{'' if total == 1 else 's'}"
        f"{' with ' + described(query) if query.filtered else ''}, newest first</p>"
    )
    parts.append(
        '<div class="card table-wrap"><table class="traces"><thead><tr>'
        "<th>Time (UTC)</th><th>Name</th><th>User</th><th>Session</th><th>Tags</th>"
        '<th class="num">Observations</th><th class="num">Latency</th>'
        '<th class="num">Cost</th><th>Scores</th></tr></thead><tbody>'
        + "".join(_trace_row(row, query) for row in rows)
        + "</tbody></table></div>"
    )
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
    return "".join(parts) + "</div>"
