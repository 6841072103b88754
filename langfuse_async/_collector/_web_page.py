"""The web view's shared pieces: URLs, value formatting, badges and the page layout.

Pure functions from stored values to HTML. Every value that came from a client goes through
:func:`html.escape` (or :func:`urllib.parse.quote` inside a URL, then escaped) before it reaches
a page; long values are cut.
"""

from __future__ import annotations

import dataclasses
import decimal
import math
import re
from collections.abc import Mapping
from html import escape
from typing import Any, Final
from urllib.parse import quote, urlencode

from ._validate import timestamp_ms
from ._web_json import short

__all__ = [
    "FILTERS",
    "FILTER_CHARS",
    "MAX_LIMIT",
    "ListQuery",
    "badge",
    "chip",
    "cost",
    "duration",
    "layout",
    "level_badge",
    "more_html",
    "name_html",
    "not_found_page",
    "number",
    "parse_list_query",
    "plural",
    "raw_url",
    "score_value",
    "span_ms",
    "time_html",
    "trace_url",
    "type_class",
    "visible_text",
]

_NAME_CHARS: Final = 200
#: Longest user, session or tag a chip links to as a filter (the list reads one character
#: more, to know a value was cut: a link to a cut value would match nothing).
FILTER_CHARS: Final = 2_000
#: Longest filter link a chip makes (the server refuses request lines over 8 KB).
_MAX_URL: Final = 6_000
#: Most traces to a page of the list, and the default.
MAX_LIMIT: Final = 200
_DEFAULT_LIMIT: Final = 50
_LEADING_SPACE: Final = re.compile(r"^\s+")
_TRAILING_SPACE: Final = re.compile(r"\s+$")
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


def raw_url(kind: str, entity_id: str) -> str:
    """The private JSON endpoint of one trace or observation (not escaped)."""
    return f"/_ui/api/{kind}/{quote(entity_id, safe='')}"


# --- formatting ------------------------------------------------------------------------------


def duration(ms: float | None) -> str:
    """A duration for people: ``123 ms``, ``1.23 s``, ``2 min 03 s``, ``5 h 07 min``, ``3 d 04 h``.

    Empty when unknown; a negative one (an end before its start) reads ``-123 ms``.
    """
    if ms is None or not math.isfinite(ms):
        return ""
    if ms < 0:
        return "\u2212" + duration(-ms)
    if ms < 1_000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    seconds = round(ms / 1000)
    for unit, smaller, name, small_name in (
        (86_400, 3_600, "d", "h"),
        (3_600, 60, "h", "min"),
        (60, 1, "min", "s"),
    ):
        if seconds >= unit:
            whole, rest = divmod(seconds, unit)
            return f"{whole:,} {name} {rest // smaller:02d} {small_name}"
    return f"{seconds} s"  # unreachable: 60 s and more have a unit above


def span_ms(start: str | None, end: str | None) -> float | None:
    """Milliseconds from ``start`` to ``end`` (ISO timestamps), or None when one is missing."""
    if not start or not end:
        return None
    return timestamp_ms(end) - timestamp_ms(start)


def number(value: Any) -> str:
    """A number in fixed notation (thousands separators for integers), never rounded to 0.

    Floats show ten decimals at most (sums of costs carry float noise beyond), and three
    significant digits below that (a cost of ``1.2e-12`` reads ``0.0000000000012``, not 0);
    magnitudes of 10^15 and more, where fixed notation is a wall of digits, read ``1e+20``.
    """
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if not math.isfinite(value) or abs(value) >= 1e15:
            return f"{value:g}" if math.isfinite(value) else str(value)
        # Fixed notation: costs such as 0.0000036 read badly as 3.6e-06.
        fixed = f"{value:.10f}".rstrip("0").rstrip(".")
        if fixed.strip("-0.") or value == 0:
            return fixed if fixed != "-0" else "0"
        return format(decimal.Decimal(f"{value:.3g}"), "f")
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def plural(count: int, noun: str) -> str:
    """``1 trace``, ``2,000 traces``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def cost(value: Any) -> str:
    """A cost in USD (``$0.0000618``); empty when it is not a number."""
    return f"${number(float(value))}" if isinstance(value, (int, float)) else ""


def time_html(iso: str | None) -> str:
    """A ``<time>`` element for an ISO timestamp, shown in UTC."""
    if not iso:
        return '<span class="muted">\u2014</span>'
    shown = iso.replace("T", " ").removesuffix("Z")
    return f'<time datetime="{escape(iso)}" title="{escape(iso)}">{escape(shown)}</time>'


def type_class(kind: str | None) -> str:
    """The CSS class that colours an observation type (``t-other`` for unknown ones)."""
    lowered = (kind or "span").lower()
    return f"t-{lowered}" if lowered in _KNOWN_TYPES else "t-other"


def badge(kind: str | None) -> str:
    """An observation type as a coloured badge."""
    return f'<span class="badge {type_class(kind)}">{escape(short(kind or "SPAN", 20))}</span>'


def level_badge(level: str | None) -> str:
    """A level other than ``DEFAULT`` as a badge; empty for ``DEFAULT``."""
    if not level or level == "DEFAULT":
        return ""
    css = {"ERROR": "lv-error", "WARNING": "lv-warning", "DEBUG": "lv-debug"}.get(level, "")
    return f'<span class="level {css}">{escape(short(level, 20))}</span>'


def more_html(hidden: int, noun: str) -> str:
    """``+3``, saying only some of a trace's tags or scores are shown; empty if all are."""
    if hidden <= 0:
        return ""
    plural = "s" if hidden > 1 else ""
    return f'<span class="more" title="{hidden:,} more {noun}{plural}">+{hidden:,}</span>'


def visible_text(text: str) -> str:
    """``text`` escaped, its leading and trailing white space marked so a reader sees it.

    Filters match values exactly, so ``" checkout"`` and ``"checkout"`` are two names: the
    spaces at either end (or a value of spaces alone) are kept as they are (so a copy takes
    them) inside a ``ws`` span that the stylesheet shades, and named in its tooltip.
    """
    lead = _LEADING_SPACE.search(text)
    if lead is None:
        return _trailing(text)
    if lead.end() == len(text):
        return _space_html(text, "only white space")
    return _space_html(lead[0], "leading white space") + _trailing(text[lead.end() :])


def _trailing(text: str) -> str:
    trail = _TRAILING_SPACE.search(text)
    if trail is None:
        return escape(text)
    return escape(text[: trail.start()]) + _space_html(trail[0], "trailing white space")


def _space_html(space: str, where: str) -> str:
    shown = space.replace("\n", " ").replace("\r", " ")  # a line break would break the row
    return f'<span class="ws" title="{where}: {escape(repr(space))}">{escape(shown)}</span>'


def chip(value: Any, url: str, css: str = "") -> str:
    """A user, session or tag chip, linked to ``url`` (the list filtered by it) when it can be."""
    if not isinstance(value, str) or not value:
        return ""
    text = visible_text(short(value, 40))
    if len(value) > FILTER_CHARS or len(url) > _MAX_URL:
        return f'<span class="chip{css}" title="too long to filter by">{text}</span>'
    return f'<a class="chip{css}" href="{escape(url)}">{text}</a>'


def name_html(name: Any, fallback: str = "(unnamed)") -> str:
    """A name, cut to 200 characters (whole in its tooltip), or ``fallback`` when missing."""
    if not isinstance(name, str) or not name:
        return f'<span class="muted">{fallback}</span>'
    title = escape(short(name, 1000))
    return f'<span class="nm" title="{title}">{visible_text(short(name, _NAME_CHARS))}</span>'


def score_value(doc: Mapping[str, Any], limit: int = 500) -> str:
    """A score's value as HTML: ``True``/``False`` for booleans, the string (cut) or the number."""
    value = doc.get("value")
    if doc.get("dataType") == "BOOLEAN" and isinstance(value, (int, float)):
        return "True" if value == 1 else "False"
    if isinstance(value, str):
        return escape(short(value, limit))
    return escape(number(value)) if value is not None else ""


# --- layout ----------------------------------------------------------------------------------


def layout(title: str, body: str, *, version: str, mode: str, counts: Mapping[str, int]) -> str:
    """A whole page around ``body`` (already HTML); ``title`` is plain text."""
    stats = " ".join(
        f'<span class="stat"><b>{counts.get(key, 0):,}</b> '
        f"{key if counts.get(key, 0) != 1 else key[:-1]}</span>"
        for key in ("traces", "observations", "scores")
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


#: The list's filters: (field of :class:`ListQuery`, URL parameter, what a page calls it).
FILTERS: Final = (
    ("name", "name", "name"),
    ("user", "user", "user"),
    ("session", "session", "session"),
    ("tag", "tag", "tag"),
)


@dataclasses.dataclass(frozen=True)
class ListQuery:
    """The trace list's filters and page, from the URL (``?name=&user=&session=&tag=&page=``).

    A filter is None when not set; a set one is matched exactly, white space included.
    """

    name: str | None = None
    user: str | None = None
    session: str | None = None
    tag: str | None = None
    page: int = 1
    limit: int = _DEFAULT_LIMIT

    def url(self, **changes: Any) -> str:
        """The list's URL with some fields changed (not escaped)."""
        query = dataclasses.replace(self, **changes)
        params = {key: value for key, value in query.filters() if value}
        if query.page != 1:
            params["page"] = str(query.page)
        if query.limit != _DEFAULT_LIMIT:
            params["limit"] = str(query.limit)
        return "/?" + urlencode(params) if params else "/"

    def filters(self) -> list[tuple[str, str | None]]:
        """``(URL parameter, value)`` of each filter, set or not, in the form's order."""
        return [(param, getattr(self, field)) for field, param, _ in FILTERS]

    @property
    def filtered(self) -> bool:
        """Whether any filter is set."""
        return any(value is not None for _, value in self.filters())

    def trimmed(self) -> ListQuery | None:
        """The same query with white space cut from each filter's ends; None if none had any.

        A filter left empty by the cut is dropped. The list offers it when nothing matches
        (a value pasted with a space, say), rather than trimming every filter silently.
        """
        values = [getattr(self, field) for field, _, _ in FILTERS]
        if all(value is None or value == value.strip() for value in values):
            return None
        name, user, session, tag = (value.strip() or None if value else None for value in values)
        return ListQuery(name=name, user=user, session=session, tag=tag, limit=self.limit)


def _positive(text: str | None, default: int, upper: int) -> int:
    try:
        value = int(text) if text else default
    except ValueError:
        return default
    return min(max(value, 1), upper)


def parse_list_query(params: Mapping[str, str]) -> ListQuery:
    """The trace list's query from a URL's parameters.

    Filter values are kept exactly as given, white space included: like the public API's
    ``name``, ``userId``, ``sessionId`` and ``tags`` (the real server matches them with ``=``),
    so a name with a leading space is found, and only it. An empty value sets no filter (what
    an empty field of the form submits); ``userId`` and ``sessionId`` are read when ``user``
    and ``session`` are not set. A page or limit that is not a number falls back to its default.
    """

    def text(*keys: str) -> str | None:
        return next((params[key] for key in keys if params.get(key)), None)

    return ListQuery(
        name=text("name"),
        user=text("user", "userId"),
        session=text("session", "sessionId"),
        tag=text("tag"),
        page=_positive(params.get("page"), 1, 1_000_000),
        limit=_positive(params.get("limit"), _DEFAULT_LIMIT, MAX_LIMIT),
    )
