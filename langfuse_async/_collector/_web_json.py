"""Collapsible JSON for the web view: any JSON value as nested ``<details>``, escaped and capped.

Every string that reaches the page goes through :func:`html.escape`. A value is shown within a
budget (entries, characters, depth); what does not fit is cut, and the page says so and links
to the full value.
"""

from __future__ import annotations

import dataclasses
import json
import re
from html import escape
from typing import Any, Final

__all__ = ["JsonLimits", "render_json", "short"]


@dataclasses.dataclass(frozen=True)
class JsonLimits:
    """How much of one JSON value a page shows.

    Attributes:
        nodes: Most entries (object members, array items and scalars) shown.
        chars: Most characters of strings shown in all.
        string_chars: Most characters of one string shown.
        depth: Deepest level shown as a tree; deeper values are shown as cut JSON text.
        open_depth: Levels expanded when the page opens.
    """

    nodes: int = 1_000
    chars: int = 50_000
    string_chars: int = 4_000
    depth: int = 24
    open_depth: int = 2


DEFAULT_LIMITS: Final = JsonLimits()


def short(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, ending with an ellipsis when cut (not escaped)."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "\u2026"


#: Characters a string shows as JSON escapes: controls (but newline and tab, which the view
#: lays out) and the bidirectional overrides and isolates, which would reorder what follows.
_INVISIBLE: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _visible(text: str) -> str:
    """``text`` escaped for HTML, with invisible characters shown as ``\\uXXXX``."""
    return _INVISIBLE.sub(
        lambda match: f'<span class="j-esc">\\u{ord(match[0]):04x}</span>', escape(text)
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


class _Renderer:
    def __init__(self, limits: JsonLimits) -> None:
        self.limits = limits
        self.nodes = 0
        self.chars = 0
        self.cut = False
        self.too_deep = False  # a level past the limit was shown as cut text
        self.out: list[str] = []

    def scalar(self, value: Any) -> str:
        if value is None:
            return '<span class="j-null">null</span>'
        if isinstance(value, bool):
            return f'<span class="j-bool">{"true" if value else "false"}</span>'
        if isinstance(value, (int, float)):
            return f'<span class="j-num">{escape(_dumps(value))}</span>'
        text = value if isinstance(value, str) else str(value)
        room = min(self.limits.string_chars, max(self.limits.chars - self.chars, 0))
        shown = text[:room]
        self.chars += len(shown)
        more = ""
        if len(shown) < len(text):
            self.cut = True
            more = f'<span class="j-more">\u2026 {len(text) - len(shown):,} more characters</span>'
        return f'<span class="j-str">"{_visible(shown)}"</span>{more}'

    def key(self, key: str | None) -> str:
        if key is None:
            return ""
        return f'<span class="j-key">{_visible(short(key, 200))}</span><span class="j-p">: </span>'

    def value(self, value: Any, key: str | None, depth: int) -> None:
        self.nodes += 1
        if not isinstance(value, (dict, list)) or not value:
            if isinstance(value, dict):
                shown = '<span class="j-p">{}</span>'
            elif isinstance(value, list):
                shown = '<span class="j-p">[]</span>'
            else:
                shown = self.scalar(value)
            self.out.append(f'<div class="j-row">{self.key(key)}{shown}</div>')
            return
        if depth >= self.limits.depth:
            self.cut = self.too_deep = True
            text = _dumps(value)
            self.out.append(
                f'<div class="j-row">{self.key(key)}<span class="j-deep">'
                f"{_visible(short(text, 300))}</span></div>"
            )
            return
        is_dict = isinstance(value, dict)
        count = f"{len(value):,} {'key' if is_dict else 'item'}{'s' if len(value) != 1 else ''}"
        opening, closing = ("{", "}") if is_dict else ("[", "]")
        is_open = " open" if depth < self.limits.open_depth else ""
        self.out.append(
            f'<details class="j-node"{is_open}><summary>{self.key(key)}'
            f'<span class="j-p">{opening}</span><span class="j-count">{count}</span>'
            f'<span class="j-p j-close">{closing}</span></summary><div class="j-children">'
        )
        items = value.items() if isinstance(value, dict) else enumerate(value)
        done = 0
        for child_key, child in items:
            if self.nodes >= self.limits.nodes or self.chars >= self.limits.chars:
                self.cut = True
                break
            self.value(child, str(child_key), depth + 1)
            done += 1
        if done < len(value):
            self.out.append(
                f'<div class="j-row j-more">\u2026 {len(value) - done:,} more not shown</div>'
            )
        self.out.append(f'</div><div class="j-p j-end">{closing}</div></details>')


def render_json(
    value: Any, *, raw_url: str | None = None, limits: JsonLimits = DEFAULT_LIMITS
) -> str:
    """Render a JSON value as an HTML tree of collapsible nodes.

    Args:
        value: Any decoded JSON value.
        raw_url: Where the whole value can be read as JSON; linked when the value is cut.
        limits: How much to show.

    Returns:
        HTML with every piece of the value escaped.
    """
    renderer = _Renderer(limits)
    renderer.value(value, None, 0)
    body = "".join(renderer.out)
    if not renderer.cut:
        return f'<div class="json">{body}</div>'
    size = len(_dumps(value).encode())
    # Cut only for its depth, a small value is not "large": say what was cut.
    kind = "Large value" if size > limits.chars or not renderer.too_deep else "Deep value"
    link = (
        f' <a href="{escape(raw_url)}" target="_blank" rel="noopener">Open the full value as '
        "JSON</a>."
        if raw_url
        else ""
    )
    notice = (
        f'<p class="notice" role="note">{kind} ({size:,} bytes): this page shows at most '
        f"{limits.nodes:,} entries, {limits.chars:,} characters of text ({limits.string_chars:,} "
        f"per string) and {limits.depth} levels.{link}</p>"
    )
    return f'{notice}<div class="json">{body}</div>'
