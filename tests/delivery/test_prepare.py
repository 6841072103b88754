"""``prepare``: an item's bytes for its route, truncated to fit, a truncated event counted once."""

from __future__ import annotations

import json

import msgspec

from langfuse_async._delivery.inflight import Item
from langfuse_async._delivery.prepare import READY, TRUNCATED, Prepared, prepare, prepare_items
from langfuse_async._delivery.routing import destination
from langfuse_async._records import TRUNCATED_MARKER, Record
from langfuse_async._wire import ingestion as _ingestion, otlp as _otlp
from langfuse_async._wire.context import WireContext
from tests.support import factories

CTX = WireContext(public_key="pk-test", environment="test")
LIMIT = 10_000


def test_an_event_that_fits_gets_its_envelope_once() -> None:
    item = Item(1, factories.observation(input={"q": 1}))
    record = item.record
    assert prepare(item, "ingestion", CTX, LIMIT) is READY
    assert item.ingestion == _ingestion.encode_event(record, CTX)
    assert item.record is record and item.span is None
    encoded = item.ingestion
    assert prepare(item, "ingestion", CTX, LIMIT) is READY  # a retry: not encoded again
    assert item.ingestion is encoded


def test_a_root_observation_brings_its_trace_create_as_an_event_of_its_own() -> None:
    item = Item(1, factories.observation(parent_id=None, name="root", input="x" * 20_000))
    prepared = prepare(item, "ingestion", CTX, 8_000)
    companion = prepared.companion
    assert companion is not None and prepared.truncated
    assert companion.event_type == "trace-create" and companion.start_ns == item.record.start_ns
    assert (companion.event_id, companion.body_id) == (
        item.record.event_id + "-trace",
        item.record.trace_id,
    )
    # It is truncated on its own, from the root's whole input.
    trace_item = Item(1, companion, derived=True)
    assert prepare(trace_item, "ingestion", CTX, 8_000) is TRUNCATED
    assert trace_item.ingestion is not None
    trace = json.loads(trace_item.ingestion)
    assert trace["type"] == "trace-create" and trace["body"]["name"] == "root"
    assert trace["body"]["input"] == TRUNCATED_MARKER
    # A retry of the root brings no second one.
    assert prepare(item, "ingestion", CTX, 8_000) is READY


def test_a_large_event_is_truncated_and_counted_once_across_routes() -> None:
    item = Item(1, factories.observation(input="x" * 20_000, output=["a"] * 3_000))
    size = item.size
    assert prepare(item, "ingestion", CTX, 8_000) is TRUNCATED
    assert item.ingestion is not None and len(item.ingestion) <= 8_000
    assert json.loads(item.ingestion)["body"]["input"] == TRUNCATED_MARKER
    assert item.size == size  # the bounds count what was taken
    # Rerouted: truncated again for the other route, still one truncated event.
    assert prepare(item, "otlp", CTX, 8_000) is READY
    assert item.span is not None and len(item.span) <= 8_000
    assert item.truncated


def test_a_span_that_fits_is_encoded_for_the_otlp_route() -> None:
    item = Item(1, factories.observation())
    record = item.record
    assert prepare(item, "otlp", CTX, LIMIT) is READY
    assert item.span == _otlp.encode_span(record, CTX)
    assert item.ingestion is None


def test_an_event_too_large_even_truncated_is_refused_as_oversize() -> None:
    item = Item(1, factories.observation(name="n" * 5_000))
    prepared = prepare(item, "ingestion", CTX, 1_000)
    assert (prepared.refused, prepared.message) == ("oversize", "event larger than 1000 bytes")
    assert item.ingestion is None and not item.truncated
    prepared = prepare(Item(2, factories.observation(name="n" * 5_000)), "otlp", CTX, 1_000)
    assert prepared.refused == "oversize"


def test_an_unencodable_record_is_refused_as_unserializable() -> None:
    broken = msgspec.structs.replace(factories.observation(), metadata={"k": object()})
    prepared = prepare(Item(1, broken), "ingestion", CTX, LIMIT)
    assert prepared.refused == "unserializable"
    assert prepared.message.startswith("could not encode event:")


def test_trace_updates_and_scores_on_the_otlp_route() -> None:
    # A trace update rides on spans: no bytes of its own on the OTLP route.
    update = Item(1, factories.trace(name="t"))
    assert prepare(update, "otlp", CTX, LIMIT) is READY
    assert (update.span, update.ingestion) == (None, None)
    # Scores always take the ingestion route.
    score = factories.score()
    assert destination(score, "otlp") == "ingestion"
    assert destination(update.record, "otlp") == "otlp"
    assert destination(update.record, None) == "ingestion"


def _mixed_records() -> list[Record]:
    return [
        factories.observation(parent_id=None, name="root", input={"q": 1}),
        factories.observation(input="child"),
        factories.score(),
        factories.trace(user_id="u"),
        factories.observation(parent_id=None, name="big root", input="x" * 20_000),
        factories.observation(name="n" * 5_000),  # too large even truncated
        msgspec.structs.replace(factories.observation(), metadata={"k": object()}),
        factories.observation(parent_id=None, trace_id="t" * 32, remote_parent=True),
    ]


def _items(records: list[Record]) -> list[Item]:
    return [Item(seq, record) for seq, record in enumerate(records, start=1)]


def _wire_bytes(item: Item) -> int:
    return len(item.ingestion or b"") + len(item.span or b"")


def test_prepare_items_does_what_prepare_does_item_by_item() -> None:
    for route in ("ingestion", "otlp", None):
        records = _mixed_records()
        items = _items(records)
        out = Prepared()
        assert prepare_items(items, 0, route, CTX, 4_000, float("inf"), out) == len(items)
        # The same items prepared one by one, each companion right behind its root.
        expected: dict[str, list[tuple[str, bytes | None, bytes | None]]] = {
            "ingestion": [],
            "otlp": [],
        }
        refused, truncated, companions = [], [], []
        todo = _items(records)
        while todo:
            item = todo.pop(0)
            dest = destination(item.record, route)
            prepared = prepare(item, dest, CTX, 4_000)
            if prepared.refused is not None:
                refused.append((item.record.event_id, prepared.refused, prepared.message))
                continue
            if prepared.truncated:
                truncated.append(item.record.event_id)
            if prepared.companion is not None:
                companions.append(prepared.companion)
                todo.insert(0, Item(item.seq, prepared.companion, derived=True))
            expected[dest].append((item.record.event_id, item.ingestion, item.span))
        for dest, got in (("ingestion", out.ingestion), ("otlp", out.otlp)):
            assert [(i.record.event_id, i.ingestion, i.span) for i in got] == expected[dest]
        assert [(i.record.event_id, r, m) for i, r, m in out.refused] == refused
        assert [i.record.event_id for i in out.truncated] == truncated
        assert [i.record.event_id for i in out.held] == [c.event_id for c in companions]
        assert all(i.derived and i.size == i.taken_size + _wire_bytes(i) for i in out.held)
        prepared_items = out.ingestion + out.otlp
        # Every item's size is what it was taken as plus its wire bytes; charged adds those.
        assert all(i.size == i.taken_size + _wire_bytes(i) for i in prepared_items)
        assert out.charged == sum(_wire_bytes(i) for i in prepared_items)
        if route != "otlp":
            assert len(companions) == 3  # the roots', the remote child's included


def test_a_trace_create_encoded_with_its_root_is_the_one_prepared_alone() -> None:
    items = [Item(1, factories.observation(parent_id=None, name="root", input={"q": 1}))]
    out = Prepared()
    prepare_items(items, 0, "ingestion", CTX, LIMIT, float("inf"), out)
    _root, companion = out.ingestion
    assert companion.ingestion is not None and companion.record.event_id.endswith("-trace")
    alone = Item(1, companion.record, derived=True)
    assert prepare(alone, "ingestion", CTX, LIMIT) is READY
    assert alone.ingestion == companion.ingestion


def test_prepare_items_stops_at_the_deadline_after_one_item_and_its_companion() -> None:
    items = _items(_mixed_records())
    out = Prepared()
    assert prepare_items(items, 0, "ingestion", CTX, 4_000, float("-inf"), out) == 1
    assert [i.record.event_type for i in out.ingestion] == ["span-create", "trace-create"]
    assert prepare_items(items, 1, "ingestion", CTX, 4_000, float("-inf"), out) == 2
    assert len(out.ingestion) == 3
