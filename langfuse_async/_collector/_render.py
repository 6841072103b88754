"""The terminal view of stored traces: one indented tree per trace, or JSON.

Each trace shows its name, id, time, duration and trace attributes; below it the observations
nest by parent with their type, name, duration, level and (for generations) model, usage and
cost; scores hang under what they score. Verbose output adds each one's input and output.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ._store import Store
from ._validate import timestamp_ms
from ._views import observation_view, score_view, trace_view

__all__ = ["TraceFilter", "render_store", "render_trace", "store_json"]

#: Verbose output cuts each input/output at this many characters (``--json`` shows all).
IO_PREVIEW_CHARS = 300


@dataclasses.dataclass(frozen=True)
class TraceFilter:
    """Which traces to show: each set field must match exactly.

    Attributes:
        name: The trace name.
        user_id: The user id.
        session_id: The session id.
        trace_id: One trace id.
    """

    name: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    trace_id: str | None = None

    @property
    def is_empty(self) -> bool:
        """No field is set."""
        return not (self.name or self.user_id or self.session_id or self.trace_id)


_UNICODE = ("├─ ", "└─ ", "│  ", "   ")
_ASCII = ("|- ", "`- ", "|  ", "   ")


def _duration(start: str | None, end: str | None) -> str | None:
    if not start or not end:
        return None
    ms = timestamp_ms(end) - timestamp_ms(start)
    return f"{ms:.0f}ms" if ms < 1000 else f"{ms / 1000:.2f}s"


def _number(value: Any) -> str:
    if isinstance(value, float):
        # Fixed notation: costs such as 0.0000036 read badly as 3.6e-06.
        return f"{value:.10f}".rstrip("0").rstrip(".") or "0"
    return str(value)


def _observation_line(doc: Mapping[str, Any]) -> str:
    parts = [f"{doc.get('type') or 'SPAN'} {doc.get('name') or '(unnamed)'}"]
    duration = _duration(doc.get("startTime"), doc.get("endTime"))
    if duration:
        parts.append(duration)
    level = doc.get("level") or "DEFAULT"
    if level != "DEFAULT":
        message = doc.get("statusMessage")
        parts.append(f"{level}: {message}" if message else level)
    if doc.get("model"):
        parts.append(f"model={doc['model']}")
    usage = doc.get("usageDetails") or {}
    if usage:
        parts.append("usage " + " ".join(f"{k}={_number(v)}" for k, v in usage.items()))
    cost = doc.get("costDetails") or {}
    if cost.get("total") is not None:
        parts.append(f"cost=${_number(cost['total'])}")
    return "  ".join(parts)


def _score_line(doc: Mapping[str, Any]) -> str:
    line = f"score {doc.get('name')} = {_number(doc.get('value'))}"
    if doc.get("dataType") not in (None, "NUMERIC"):
        line += f" ({doc['dataType']})"
    if doc.get("comment"):
        line += f"  # {doc['comment']}"
    return line


def _trace_line(trace: Mapping[str, Any], observations: Sequence[Mapping[str, Any]]) -> str:
    parts = [trace.get("name") or "(unnamed trace)", f"trace {trace['id']}"]
    if trace.get("timestamp"):
        parts.append(str(trace["timestamp"]))
    starts = [o["startTime"] for o in observations if o.get("startTime")]
    ends = [o.get("endTime") or o["startTime"] for o in observations if o.get("startTime")]
    if starts:
        duration = _duration(min(starts, key=timestamp_ms), max(ends, key=timestamp_ms))
        if duration:
            parts.append(duration)
    for key, label in (("userId", "user"), ("sessionId", "session"), ("release", "release")):
        if trace.get(key):
            parts.append(f"{label}={trace[key]}")
    if trace.get("tags"):
        parts.append("tags=" + ",".join(trace["tags"]))
    if trace.get("environment") not in (None, "default"):
        parts.append(f"env={trace['environment']}")
    return "  ".join(parts)


def _preview(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if len(text) <= IO_PREVIEW_CHARS:
        return text
    hidden = len(text) - IO_PREVIEW_CHARS
    return f"{text[:IO_PREVIEW_CHARS]}... ({hidden} more characters; --json shows all)"


def _io_lines(doc: Mapping[str, Any]) -> list[str]:
    return [
        f"{key}: {_preview(doc[key])}" for key in ("input", "output") if doc.get(key) is not None
    ]


def render_trace(
    trace: Mapping[str, Any],
    observations: Sequence[Mapping[str, Any]],
    scores: Sequence[Mapping[str, Any]],
    *,
    ascii_only: bool = False,
    verbose: bool = False,
) -> list[str]:
    """Render one trace and everything under it as lines of text.

    Args:
        trace: The trace document (a placeholder ``{"id": ...}`` when no trace event arrived).
        observations: The trace's observation documents.
        scores: The trace's score documents.
        ascii_only: Draw the tree with ASCII instead of box-drawing characters.
        verbose: Show the input and output of the trace and of each observation.
    """
    branch, last, pipe, blank = _ASCII if ascii_only else _UNICODE
    ids = {o["id"] for o in observations}
    children: dict[str | None, list[Mapping[str, Any]]] = {}
    for doc in sorted(observations, key=lambda o: timestamp_ms(o.get("startTime") or "")):
        parent = doc.get("parentObservationId")
        children.setdefault(parent if parent in ids else None, []).append(doc)
    scores_of: dict[str | None, list[Mapping[str, Any]]] = {}
    for score in scores:
        target = score.get("observationId")
        scores_of.setdefault(target if target in ids else None, []).append(score)

    lines = [_trace_line(trace, observations)]
    if verbose:
        lines.extend(pipe + line for line in _io_lines(trace))

    def walk(parent: str | None, prefix: str) -> None:
        items: list[tuple[str, Mapping[str, Any]]] = [
            ("observation", doc) for doc in children.get(parent, [])
        ]
        items += [("score", doc) for doc in scores_of.get(parent, [])]
        for index, (kind, doc) in enumerate(items):
            is_last = index == len(items) - 1
            connector = last if is_last else branch
            if kind == "score":
                lines.append(prefix + connector + _score_line(doc))
                continue
            lines.append(prefix + connector + _observation_line(doc))
            inner = prefix + (blank if is_last else pipe)
            if verbose:
                has_children = bool(children.get(doc["id"]) or scores_of.get(doc["id"]))
                lines.extend(
                    inner + (pipe if has_children else blank) + line for line in _io_lines(doc)
                )
            walk(doc["id"], inner)

    walk(None, "")
    return lines


def _selected(store: Store, limit: int, where: TraceFilter) -> list[dict[str, Any]]:
    traces: list[dict[str, Any]] = store.traces(
        trace_id=where.trace_id,
        name=where.name,
        user_id=where.user_id,
        session_id=where.session_id,
        limit=limit,
    )
    if len(traces) < limit and (where.is_empty or (where.trace_id and not traces)):
        # Traces named only by their observations (no trace event arrived) have no name,
        # user or session: they can match no filter but the trace id.
        orphans = store.orphan_trace_ids()
        if where.trace_id:
            orphans = [trace_id for trace_id in orphans if trace_id == where.trace_id]
        traces += [{"id": trace_id, "name": "(no trace event)"} for trace_id in orphans]
    return traces[:limit]


def render_store(
    store: Store,
    *,
    limit: int = 10,
    ascii_only: bool = False,
    where: TraceFilter = TraceFilter(),
    verbose: bool = False,
) -> str:
    """Render the ``limit`` most recent traces of a database that match ``where``, newest first.

    Traces named only by their observations (no trace event arrived) are shown too, after the
    others, with a placeholder header.
    """
    traces = _selected(store, limit, where)
    if not traces:
        return "No traces yet." if where.is_empty else "No traces match."
    blocks = []
    for trace in traces:
        observations = store.observations(trace_id=trace["id"])
        scores = store.scores(trace_id=trace["id"])
        lines = render_trace(trace, observations, scores, ascii_only=ascii_only, verbose=verbose)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def store_json(
    store: Store, *, limit: int = 10, where: TraceFilter = TraceFilter(), ascii_only: bool = False
) -> str:
    """The matching traces as a JSON array, each in the API's ``TraceWithFullDetails`` shape.

    ``ascii_only`` writes every other character as a JSON escape (for an output that cannot
    encode them).
    """
    traces = _selected(store, limit, where)
    summaries = store.trace_summaries([trace["id"] for trace in traces])
    result = []
    for trace in traces:
        view = trace_view(trace, summaries[trace["id"]])
        view["observations"] = [
            observation_view(o) for o in store.observations(trace_id=trace["id"])
        ]
        view["scores"] = [score_view(s) for s in store.scores(trace_id=trace["id"])]
        result.append(view)
    return json.dumps(result, indent=2, ensure_ascii=ascii_only)
