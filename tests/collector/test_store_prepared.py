"""Writes prepared off the store's thread store exactly what a merge of every stored event gives.

The OTLP route builds a request's rows and documents in a worker (:func:`prepare_write`), as if
no entity existed; the store keeps those documents only for entities that are new and merges
the others again from all their stored events. Both must end as a full rebuild would.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from langfuse_async._collector._merge import merge_events
from langfuse_async._collector._otlp_prepare import prepare_export
from langfuse_async._collector._sqlite import COLUMNS, ROW_OF, loads
from langfuse_async._collector._store import (
    FROM_DOC,
    PendingEvent,
    PreparedWrite,
    Store,
    prepare_write,
)
from langfuse_async._collector._validate import validate_event

from .test_collector_otlp import EVENT, GEN, ROOT, TRACE, example, export, span

OTHER_TRACE = "0af7651916cd43dd8448eb211c80319c"
ORPHAN_TRACE = "11111111111111111111111111111111"
TABLES = {"trace": "traces", "observation": "observations", "score": "scores"}


@pytest.fixture(autouse=True)
def _stores_closed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every store a test opens (Python 3.13 warns about a connection left open)."""
    opened: list[Store] = []
    real_init = Store.__init__

    def init(self: Store, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        opened.append(self)

    monkeypatch.setattr(Store, "__init__", init)
    yield
    for store in opened:
        store.close()


def otlp(body: dict[str, Any]) -> PreparedWrite:
    prepared, _ = prepare_export(json.dumps(body).encode(), False, "application/json", None, "v3")
    return prepared


def later_spans() -> dict[str, Any]:
    """Spans joining the example's trace, a continued trace, an orphan, and odd metadata."""
    return export(
        span(
            "c0ffee0000000001",
            "tool-call",
            {
                "langfuse.observation.type": "tool",
                "langfuse.observation.metadata.flags": '{"a": [1, 2], "b": {"c": null}}',
                "langfuse.observation.metadata.ok": True,
                "langfuse.observation.metadata.n": 7,
                "langfuse.observation.metadata.ratio": 0.25,
                "langfuse.trace.tags": ["late"],
                "langfuse.trace.metadata.step": "two",
            },
            parent=ROOT,
            start_ms=300,
            end_ms=400,
            status={"code": 2, "message": "tool failed"},
        ),
        span(
            "c0ffee0000000002",
            "continued",
            {
                "langfuse.observation.type": "agent",
                "langfuse.internal.as_root": True,
                "langfuse.trace.name": "continued-trace",
                "gen_ai.usage.input_tokens": 5,
                "gen_ai.usage.cost": 0.5,
            },
            parent="feedfacefeedface",  # a remote parent
            trace_id=OTHER_TRACE,
            end_ms=20,
        ),
        span(
            "c0ffee0000000003",
            "orphan-child",
            {"langfuse.observation.type": "span", "langfuse.observation.input": "[1, 2]"},
            parent="0123456789abcdef",
            trace_id=ORPHAN_TRACE,
            start_ms=5,
            end_ms=6,
        ),
    )


def ingestion_batch(step: int) -> list[PendingEvent]:
    """Ingestion events: creates, updates (some in the same request), a retried envelope."""
    stamp = f"2026-08-22T10:00:0{step}.000Z"
    raw = [
        {
            "id": f"gen-create-{step}",
            "type": "generation-create",
            "timestamp": stamp,
            "body": {
                "id": "gen-i",
                "traceId": TRACE,
                "name": f"gen-{step}",
                "startTime": stamp,
                "model": "gpt",
                "usage": {"input": 3 + step, "output": 4, "inputCost": 0.1, "outputCost": 0.2},
                "metadata": {"step": step, "nested": {f"k{step}": True}},
            },
        },
        {
            "id": f"gen-update-{step}",
            "type": "generation-update",
            "timestamp": stamp,
            "body": {"id": "gen-i", "traceId": TRACE, "endTime": stamp, "output": {"s": step}},
        },
        {
            "id": "retried",
            "type": "event-create",
            "timestamp": stamp,
            "body": {"id": f"ev-{step}", "traceId": TRACE, "level": "ERROR"},
        },
        {
            "id": f"trace-update-{step}",
            "type": "trace-create",
            "timestamp": stamp,
            "body": {"id": TRACE, "tags": [f"t{step}"], "metadata": "plain text"},
        },
        {
            "id": f"score-{step}",
            "type": "score-create",
            "timestamp": stamp,
            "body": {"id": "score-1", "traceId": TRACE, "name": "q", "value": step / 2},
        },
    ]
    events = [PendingEvent(validate_event(event)) for event in raw]
    # The same envelope twice in one request: the later copy wins, in the earlier's place.
    again = dict(events[2].event, body={**events[2].event["body"], "name": "again"})
    return [*events, PendingEvent(again)]


def requests() -> list[PreparedWrite]:
    return [
        otlp(later_spans()),  # children before their root: the trace is created by parts
        otlp(example()),
        prepare_write(ingestion_batch(1)),
        otlp(example()),  # resent: every span replaces itself, no placeholder overwrites
        prepare_write(ingestion_batch(2)),
        otlp(later_spans()),
    ]


def table_rows(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    conn = store._conn
    return {
        table: conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
        for table in ("events", "traces", "observations", "scores")
    }


def rebuilt(store: Store) -> dict[str, dict[str, tuple[Any, ...]]]:
    """Every entity merged afresh from all its stored events: the reference."""
    grouped: dict[tuple[str, str], list[tuple[tuple[float, int, int], dict[str, Any]]]] = {}
    for entity, body_id, ts, is_update, seq, event in store.stored_events():
        grouped.setdefault((entity, body_id), []).append(((ts, is_update, seq), event))
    result: dict[str, dict[str, tuple[Any, ...]]] = {table: {} for table in TABLES.values()}
    for (entity, body_id), entries in grouped.items():
        entries.sort(key=lambda entry: entry[0])
        doc = merge_events(entity, body_id, [event for _, event in entries])
        result[TABLES[entity]][body_id] = ROW_OF[TABLES[entity]](doc)
    return result


def stored(store: Store) -> dict[str, dict[str, tuple[Any, ...]]]:
    result = {}
    for table in TABLES.values():
        names = ", ".join(["id", *COLUMNS[table], "doc"])
        rows = store._conn.execute(f"SELECT {names} FROM {table}").fetchall()
        result[table] = {row[0]: tuple(row) for row in rows}
    return result


def test_prepared_writes_store_what_a_full_rebuild_gives() -> None:
    store = Store(":memory:")
    for prepared in requests():
        store.write(pickle.loads(pickle.dumps(prepared)))  # as it comes back from a worker
        assert stored(store) == rebuilt(store)
    docs = {key: json.loads(row[-1]) for key, row in stored(store)["observations"].items()}
    # The cases the requests were built to cover did arrive.
    assert docs[GEN]["usageDetails"] == {"input": 12, "output": 3, "total": 15}
    assert docs["c0ffee0000000001"]["level"] == "ERROR"
    assert docs["c0ffee0000000002"]["parentObservationId"] == "feedfacefeedface"
    assert docs["gen-i"]["costDetails"] == {
        "input": 0.1,
        "output": 0.2,
        "total": 0.30000000000000004,
    }
    assert docs["ev-1"]["name"] == "again"
    assert EVENT in docs
    traces = {key: json.loads(row[-1]) for key, row in stored(store)["traces"].items()}
    assert traces[TRACE]["tags"] == ["beta", "chat", "late", "t1", "t2"]
    assert traces[OTHER_TRACE]["name"] == "continued-trace"
    assert set(traces[ORPHAN_TRACE]) >= {"id", "timestamp"}  # the placeholder


def test_apply_and_a_prepared_write_store_the_same_rows() -> None:
    by_apply, by_write = Store(":memory:"), Store(":memory:")
    batches = [ingestion_batch(1), ingestion_batch(2), ingestion_batch(1)]
    for batch in batches:
        by_apply.apply(batch)
        by_write.write(pickle.loads(pickle.dumps(prepare_write(batch))))
    assert table_rows(by_apply) == table_rows(by_write)
    assert table_rows(by_apply)["observations"]


@pytest.mark.parametrize("shallow_first", [True, False])
def test_a_placeholder_never_overwrites_a_stored_trace(shallow_first: bool) -> None:
    store = Store(":memory:")
    real = {
        "id": "real",
        "type": "trace-create",
        "timestamp": "2026-08-22T10:00:00.000Z",
        "body": {"id": "t", "name": "real"},
    }
    placeholder = {
        "id": "placeholder",
        "type": "trace-create",
        "timestamp": "2026-08-22T09:00:00.000Z",
        "body": {"id": "t", "name": "stand-in", "environment": "x"},
    }
    order = [PendingEvent(placeholder, shallow=True), PendingEvent(real)]
    if not shallow_first:
        order.reverse()
    for item in order:
        store.write(prepare_write([item]))
    [(doc,)] = store._conn.execute("SELECT doc FROM traces").fetchall()
    # First the placeholder only fills in what nothing said; once the trace exists it is
    # not stored at all.
    expected_env = "x" if shallow_first else "default"
    assert json.loads(doc)["name"] == "real"
    assert json.loads(doc)["environment"] == expected_env
    assert stored(store) == rebuilt(store)


def test_events_without_a_body_id_are_left_out() -> None:
    # Validation requires a body id on most types; the store still skips a blank one.
    event = {"id": "e", "type": "span-create", "timestamp": "2026-08-22T10:00:00.000Z", "body": {}}
    prepared = prepare_write([PendingEvent(event)])
    assert prepared.rows == [] and prepared.docs == {}
    store = Store(":memory:")
    assert store.write(prepared) == 0
    assert store._conn.execute("SELECT COUNT(*) FROM events").fetchone() == (0,)


def compact_rows(store: Store) -> dict[tuple[str, str], int]:
    """Per entity: how many of its stored events leave fields to its document."""
    counts: dict[tuple[str, str], int] = {}
    for entity, body_id, text in store._conn.execute("SELECT entity, body_id, event FROM events"):
        if FROM_DOC in loads(text):
            counts[(entity, body_id)] = counts.get((entity, body_id), 0) + 1
    return counts


def test_a_span_is_stored_once_and_completed_when_its_entity_merges_again() -> None:
    store = Store(":memory:")
    store.write(otlp(example()))
    compact = compact_rows(store)
    # Every span's input, output and metadata are in its document only.
    assert ("observation", ROOT) in compact and ("trace", TRACE) in compact
    [(text,)] = store._conn.execute(
        "SELECT event FROM events WHERE entity = 'observation' AND body_id = ?", (ROOT,)
    ).fetchall()
    event = loads(text)
    assert "metadata" not in event["body"] and "metadata" in event[FROM_DOC]
    first = stored(store)
    store.write(otlp(example()))  # re-sent: every entity now has two events
    assert compact_rows(store) == {}  # the earlier rows were completed before the merge
    assert stored(store) == rebuilt(store)
    # Merging the same spans twice gives the same documents.
    assert stored(store)["observations"] == first["observations"]


def test_a_request_with_several_events_of_one_entity_stores_them_whole() -> None:
    prepared = prepare_write(ingestion_batch(1))
    per_entity: dict[tuple[str, str], int] = {}
    for row in prepared.rows:
        per_entity[(row[0], row[1])] = per_entity.get((row[0], row[1]), 0) + 1
    for row in prepared.rows:
        if per_entity[(row[0], row[1])] > 1:
            assert row[-1] is False and FROM_DOC not in loads(row[-2])
    assert any(count > 1 for count in per_entity.values())


def test_a_changed_span_resent_alone_merges_its_own_payload() -> None:
    # The second export's event is prepared as the span's only one; the store knows better
    # (the span had an event) and keeps it whole, so its new output wins the merge.
    store = Store(":memory:")
    for output in ("first", "second"):
        attrs = {"langfuse.observation.type": "span", "langfuse.observation.output": output}
        store.write(otlp(export(span(ROOT, "root", attrs))))
    [(doc,)] = store._conn.execute("SELECT doc FROM observations WHERE id = ?", (ROOT,)).fetchall()
    assert json.loads(doc)["output"] == "second"
    assert compact_rows(store) == {}
    assert stored(store) == rebuilt(store)


def _update(step: int, body_id: str, kind: str, **body: Any) -> PendingEvent:
    return PendingEvent(
        validate_event(
            {
                "id": f"{kind}-{step}-{body_id}",
                "type": kind,
                "timestamp": f"2026-08-22T10:00:{step:02d}.000Z",
                "body": {"id": body_id, "traceId": TRACE, **body},
            }
        )
    )


def _requests_of_every_kind(step: int) -> list[Callable[[], PreparedWrite]]:
    """Requests that touch the same entities: spans (re-sent, changed), updates, scores."""

    def changed_root() -> PreparedWrite:
        out = f"out-{step % 3}"
        attrs = {
            "langfuse.observation.type": "span",
            "langfuse.observation.output": out,
            "langfuse.observation.metadata.k": out,
            "langfuse.trace.input": out,
        }
        return otlp(export(span(ROOT, "root", attrs)))

    def one(event: PendingEvent) -> Callable[[], PreparedWrite]:
        return lambda: prepare_write([event])

    score = {"name": "q", "value": step, "observationId": ROOT}
    return [
        lambda: otlp(example()),
        lambda: otlp(later_spans()),
        changed_root,
        one(_update(step, ROOT, "span-update", output={"u": step}, metadata={"m": step})),
        one(_update(step, ROOT, "span-update", metadata={"x": {"y": step}})),
        one(_update(step, GEN, "generation-update", output="g", model="m")),
        one(_update(step, TRACE, "trace-create", input={"t": step}, metadata={"a": 1})),
        one(_update(step, f"score-{step % 3}", "score-create", **score)),
        one(_update(step, EVENT, "event-create", input="e")),
        lambda: prepare_write(ingestion_batch(step % 9 + 1)),
    ]


def test_compact_rows_read_back_exactly_as_rows_kept_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import random

    from langfuse_async._collector import _otlp, _prepare

    # Exports are dated by their arrival where a span says nothing: one clock for both stores.
    monkeypatch.setattr(_otlp.time, "time", lambda: 1_787_000_000.0)
    compacting = _prepare._leave_to_doc
    for seed in range(60):
        rng = random.Random(seed)
        kinds = [rng.randrange(10) for _ in range(rng.randrange(1, 9))]
        compact, whole = Store(":memory:"), Store(":memory:")
        for step, kind in enumerate(kinds, 1):
            compact.write(_requests_of_every_kind(step)[kind]())
            monkeypatch.setattr(_prepare, "_leave_to_doc", lambda event, doc: None)
            whole.write(_requests_of_every_kind(step)[kind]())
            monkeypatch.setattr(_prepare, "_leave_to_doc", compacting)
            assert stored(compact) == stored(whole), (seed, kinds[:step])
