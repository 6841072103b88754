"""OTLP trace updates are settled by every span carrying them: delivered once any is delivered,
reported once (as themselves) only when none was and none can be any more.

Pure tests of :func:`settle_rides` and the :class:`Riders` book first, then the real pipeline
against a loopback server that refuses some of the OTLP requests.
"""

from __future__ import annotations

import collections
from typing import Any

import msgspec
import pytest
from aiohttp import web

from langfuse_async._delivery.batching import Plan
from langfuse_async._delivery.inflight import InFlight, Item
from langfuse_async._delivery.ledger import event_error
from langfuse_async._delivery.riders import (
    CARRIERS_FAILED_MESSAGE,
    Ride,
    Riders,
    settle_rides,
)
from langfuse_async._outcomes import EventError
from langfuse_async._records import ObservationRecord, TraceRecord
from tests.support import factories
from tests.support.fake_langfuse import OTLP, FakeLangfuse
from tests.support.pipelines import balanced, make_pipeline

# --------------------------------------------------------------------------- pure decisions


def _spans(update: TraceRecord, n: int) -> list[Item]:
    return [
        Item(i + 1, factories.observation(trace_id=update.trace_id), span=b"{}") for i in range(n)
    ]


def _refused(span: Item, *, possibly: bool = False) -> tuple[Item, EventError]:
    message = "Invalid OTLP trace export"
    error = event_error(span.record, "rejected", message, status=400, possibly_delivered=possibly)
    return span, error


def _ride(rider: Item, spans: list[Item]) -> tuple[Ride, dict[int, list[Ride]]]:
    ride = Ride(rider, {id(span): span for span in spans})
    return ride, {id(span): [ride] for span in spans}


def test_an_update_on_several_spans_of_one_request_is_delivered_once() -> None:
    rider = Item(9, factories.trace(user_id="u"))
    spans = _spans(rider.record, 3)
    _, carrying = _ride(rider, spans)
    out = settle_rides(carrying, spans, [])
    assert list(out.delivered) == [rider] and (out.failed, out.waiting) == ((), ())


@pytest.mark.parametrize("refused_first", [True, False])
def test_one_carrier_refused_and_another_delivered_deliver_the_update(refused_first: bool) -> None:
    rider = Item(9, factories.trace(user_id="u"))
    refused, delivered = _spans(rider.record, 2)
    ride, carrying = _ride(rider, [refused, delivered])
    if refused_first:
        # Another span still carries it: nothing is decided yet (it was reported with the
        # first span refused before).
        out = settle_rides(carrying, [], [_refused(refused)])
        assert (out.delivered, out.failed, out.waiting) == ([], [], [])
        del ride.carriers[id(refused)], carrying[id(refused)]
        assert list(settle_rides(carrying, [delivered], []).delivered) == [rider]
    else:
        assert list(settle_rides(carrying, [delivered], []).delivered) == [rider]
    # Both in one outcome (a sender with per-span results): delivered, not failed.
    _, carrying = _ride(rider, [refused, delivered])
    out = settle_rides(carrying, [delivered], [_refused(refused)])
    assert (list(out.delivered), list(out.failed)) == ([rider], [])


def test_an_update_fails_once_as_itself_when_every_span_carrying_it_failed() -> None:
    rider = Item(9, factories.trace(user_id="u"))
    spans = _spans(rider.record, 2)
    _, carrying = _ride(rider, spans)
    out = settle_rides(carrying, [], [_refused(spans[0], possibly=True), _refused(spans[1])])
    [(item, error)] = out.failed
    record = rider.record
    assert item is rider and out.delivered == [] and out.waiting == []
    assert (error.event_id, error.event_type, error.body_id, error.trace_id) == (
        record.event_id,
        "trace-create",
        record.trace_id,
        record.trace_id,
    )
    assert (error.reason, error.status, error.possibly_delivered) == ("rejected", 400, True)
    assert error.message.startswith(CARRIERS_FAILED_MESSAGE)
    assert spans[1].record.body_id in error.message  # the last one that failed


def test_an_update_a_later_span_may_carry_waits_for_it_when_its_carriers_failed() -> None:
    update = msgspec.structs.replace(factories.trace(user_id="u"), span_open=True)
    rider = Item(9, update)
    [span] = _spans(update, 1)
    _, carrying = _ride(rider, [span])
    out = settle_rides(carrying, [], [_refused(span)])
    assert out.failed == [] and [item for item, _ in out.waiting] == [rider]
    # Not when it sets the trace's output: only the root carries that, and it has gone.
    output = msgspec.structs.replace(update, attributes=factories.trace(output=1).attributes)
    rider = Item(10, output)
    _, carrying = _ride(rider, [span])
    out = settle_rides(carrying, [], [_refused(span)])
    assert [item for item, _ in out.failed] == [rider] and out.waiting == []


def _book() -> tuple[InFlight, Riders]:
    inflight = InFlight(
        max_count=1_000, max_bytes=1_000_000, max_retries=3, backoff_base=0.1, backoff_max=1.0
    )
    return inflight, Riders(inflight, max_queue_size=1_000, max_queue_bytes=1_000_000)


def test_the_book_keeps_an_update_riding_through_its_carriers_retries_and_plans() -> None:
    inflight, riders = _book()
    update = msgspec.structs.replace(factories.trace(user_id="u"), span_open=True)
    rider = Item(9, update)
    first, later = _spans(update, 2)
    inflight.hold([rider, first, later])
    riders.place(Plan(carried=[(rider, [first])]))
    assert riders.carriers(rider) == [first] and inflight.holding == 0
    # The carrier is retried: the update is still riding, and its next request re-sends it.
    out = riders.settle([], [], [first])
    assert (out.delivered, out.failed, out.waiting) == ((), (), ())
    assert (rider.attempts, riders.resent([first]), riders.resent([later])) == (1, 1, 0)
    # A later plan: no span of it carries the update, which still rides on `first`.
    assert riders.place(Plan(held=[rider])).failed == [] and inflight.holding == 0
    # Another span carries it: it rides on both; `first` refused, it waits for `later`.
    riders.place(Plan(carried=[(rider, [later])]))
    assert riders.carriers(rider) == [first, later]
    out = riders.settle([], [_refused(first)])
    assert (out.delivered, out.failed, out.waiting) == ([], [], [])
    assert riders.carriers(rider) == [later]
    out = riders.settle([later], [])
    assert list(out.delivered) == [rider] and len(riders) == 0 and riders.ids() == set()


def test_a_cycle_places_again_only_the_updates_of_traces_it_has_spans_of() -> None:
    inflight, riders = _book()
    mine = Item(9, factories.trace(user_id="u"))
    other = Item(10, factories.trace(user_id="v"))
    [carrier] = _spans(mine.record, 1)
    inflight.hold([mine, other])
    riders.place(Plan(carried=[(mine, [carrier])], held=[other]))
    [later] = _spans(mine.record, 1)
    unrelated = Item(11, factories.observation(), span=b"{}")
    assert riders.offer([unrelated]) == []
    assert riders.offer([unrelated, later, mine]) == [mine]  # updates themselves carry nothing
    assert riders.items() == [mine, other]
    riders.settle([carrier], [])
    assert riders.offer([later]) == [] and riders.items() == [other]


def test_an_update_whose_carriers_failed_is_parked_and_reported_once_at_close() -> None:
    inflight, riders = _book()
    update = msgspec.structs.replace(factories.trace(user_id="u"), span_open=True)
    rider = Item(9, update)
    [span] = _spans(update, 1)
    inflight.hold([rider, span])
    riders.place(Plan(carried=[(rider, [span])]))
    out = riders.settle([], [_refused(span)])
    assert (out.failed, [item for item, _ in out.waiting]) == ([], [rider])
    assert inflight.holding == 1 and rider.held  # a flush does not wait for it now
    [(item, error)] = riders.give_up()
    assert item is rider and error.event_id == update.event_id and error.status == 400
    assert error.message.startswith(CARRIERS_FAILED_MESSAGE)
    assert error.message.endswith("before the client closed")
    assert riders.give_up() == [] and inflight.holding == 0 and not rider.held


def test_an_update_riding_on_a_request_that_may_have_been_stored_is_marked_when_put_back() -> None:
    _, riders = _book()
    rider = Item(9, factories.trace(user_id="u"))
    [span] = _spans(rider.record, 1)
    riders.place(Plan(carried=[(rider, [span])]))
    span.maybe_sent = True  # its request was cut off mid-flight
    riders.clear()
    assert rider.maybe_sent and len(riders) == 0


def test_the_count_of_updates_waiting_for_a_span_cannot_drift_from_them() -> None:
    # It was a copy the book set by hand: an update released by another path stayed counted,
    # and a closing flush waited for it for ever.
    inflight, _ = _book()
    waiting = [Item(i, factories.trace(user_id="u")) for i in range(3)]
    inflight.hold(waiting)
    inflight.park(waiting[0])
    inflight.park(waiting[1])
    inflight.park(Item(7, factories.trace(user_id="u")))  # not held: not parked either
    assert (inflight.holding, inflight.parked_bytes) == (2, 2 * waiting[0].size)
    inflight.release(waiting[0])
    assert (inflight.holding, waiting[0].held) == (1, False)
    inflight.release_all(waiting[1:])
    assert (inflight.holding, inflight.parked_bytes, waiting[1].held) == (0, 0, False)
    inflight.hold(waiting)
    inflight.park(waiting[2])
    assert inflight.oldest() == 0  # the parked one is not waited for
    inflight.clear()
    assert (inflight.holding, inflight.parked_bytes, waiting[2].held) == (0, 0, False)


# --------------------------------------------------------------------------- end to end


def _span_ids(parsed: Any) -> set[str]:
    return {
        span["spanId"]
        for rs in parsed["resourceSpans"]
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
    }


def _refuse(*refused: ObservationRecord, retry_once: ObservationRecord | None = None) -> Any:
    """Refuse (400) every OTLP request holding a span of ``refused``; answer 503 once to the
    first holding ``retry_once``; accept the rest."""
    ids = {span.id for span in refused}
    busy = [] if retry_once is None else [retry_once.id]

    def reply(parsed: Any) -> web.StreamResponse:
        sent = _span_ids(parsed)
        if busy and busy[0] in sent:
            busy.clear()
            return web.json_response({"message": "busy"}, status=503)
        if sent & ids:
            return web.json_response({"error": "Invalid OTLP trace export"}, status=400)
        return web.json_response({})

    return reply


def _children(update: TraceRecord, n: int) -> list[ObservationRecord]:
    # Each large enough to go in a request of its own (max_batch_bytes=10_000).
    return [
        factories.observation(trace_id=update.trace_id, input="x" * 6_000, name=f"c{i}")
        for i in range(n)
    ]


def _pipeline(server: FakeLangfuse, errors: list[EventError]) -> Any:
    return make_pipeline(
        server.url,
        transport="otlp",
        on_error=errors.append,
        max_batch_bytes=10_000,
        max_event_bytes=9_000,
        max_retries=2,
    )


@pytest.mark.anyio
@pytest.mark.parametrize("refused_first", [True, False])
async def test_an_update_on_spans_in_two_requests_is_delivered_when_one_is(
    refused_first: bool,
) -> None:
    errors: list[EventError] = []
    async with FakeLangfuse(mode="v4") as server:
        p = _pipeline(server, errors)
        update = factories.trace(user_id="u-2")
        first, second = _children(update, 2)
        refused = first if refused_first else second
        server.reply_with(OTLP, _refuse(refused), times=10)
        for record in (update, first, second):
            p.emit(record)
        result = await p.flush(timeout=10)
        posts = [r for r in server.posts() if r.path == OTLP]
        assert [_span_ids(r.json) for r in posts] == [{first.id}, {second.id}]
        # One report, the refused span's; the update counted delivered with the other.
        assert [(e.event_id, e.reason) for e in errors] == [(refused.event_id, "rejected")]
        assert (result.completed, result.pending, result.delivered, result.failed) == (
            True,
            0,
            2,
            1,
        )
        await p.shutdown()
        s = p.statistics()
        assert (s.delivered, s.failed) == (2, 1) and balanced(p)


@pytest.mark.anyio
async def test_an_update_all_of_whose_spans_are_refused_is_reported_once_as_itself() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse(mode="v4") as server:
        p = _pipeline(server, errors)
        update = factories.trace(user_id="u-3")
        first, second = _children(update, 2)
        server.reply_with(OTLP, _refuse(first, second), times=10)
        for record in (update, first, second):
            p.emit(record)
        result = await p.flush(timeout=10)
        assert (result.completed, result.delivered, result.failed) == (True, 0, 3)
        counts = collections.Counter(e.event_id for e in errors)
        assert counts == {first.event_id: 1, second.event_id: 1, update.event_id: 1}
        [report] = [e for e in errors if e.event_id == update.event_id]
        assert (report.event_type, report.reason, report.status) == (
            "trace-create",
            "rejected",
            400,
        )
        assert report.message.startswith(CARRIERS_FAILED_MESSAGE) and second.id in report.message
        await p.shutdown()
        assert len(errors) == 3 and balanced(p)


@pytest.mark.anyio
async def test_an_update_whose_carrier_is_retried_is_delivered_with_it_once() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse(mode="v4") as server:
        p = _pipeline(server, errors)
        update = factories.trace(user_id="u-4")
        first, second = _children(update, 2)
        # `first` answered 503 once then delivered; `second` refused for good.
        server.reply_with(OTLP, _refuse(second, retry_once=first), times=10)
        for record in (update, first, second):
            p.emit(record)
        result = await p.flush(timeout=10)
        assert [(e.event_id, e.reason) for e in errors] == [(second.event_id, "rejected")]
        assert (result.completed, result.delivered, result.failed) == (True, 2, 1)
        s = p.statistics()
        assert s.retries == 2  # the span and the update riding on it, sent again once
        await p.shutdown()
        assert balanced(p) and p.statistics().delivered == 2


@pytest.mark.anyio
async def test_an_update_is_delivered_by_a_later_span_after_its_first_carrier_was_refused() -> None:
    # Made after the root ended while two children were open: the first child's span is
    # refused for good, the second's (cycles later) delivered: the update is delivered.
    errors: list[EventError] = []
    async with FakeLangfuse(mode="v4") as server:
        p = _pipeline(server, errors)
        root = factories.observation(parent_id=None)
        p.emit(root)
        assert (await p.flush(timeout=10)).completed
        update = msgspec.structs.replace(
            factories.trace(trace_id=root.trace_id, session_id="s-9"), span_open=True
        )
        p.emit(update)
        assert (await p.flush(timeout=10)).pending == 1
        first = factories.observation(trace_id=root.trace_id, parent_id=root.id)
        server.reply_with(OTLP, _refuse(first))
        p.emit(first)
        waited = await p.flush(timeout=10)
        assert (waited.completed, waited.pending, waited.failed) == (False, 1, 1)
        assert [e.event_id for e in errors] == [first.event_id]
        second = factories.observation(trace_id=root.trace_id, parent_id=root.id)
        p.emit(second)
        done = await p.flush(timeout=10)
        assert (done.completed, done.pending, done.delivered, done.failed) == (True, 0, 2, 0)
        await p.shutdown()
        assert [e.event_id for e in errors] == [first.event_id]  # never the update
        s = p.statistics()
        assert (s.delivered, s.failed) == (3, 1) and balanced(p)


@pytest.mark.anyio
async def test_an_update_riding_when_shutdown_gives_up_is_reported_once_as_itself() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse(mode="v4") as server:
        p = _pipeline(server, errors)
        update = factories.trace(user_id="u-5")
        [carrier] = _children(update, 1)
        release = server.hold(OTLP)  # the request never comes back in time
        p.emit(update)
        p.emit(carrier)
        await server.wait_for(lambda: any(r.path == OTLP for r in server.posts()))
        result = await p.shutdown(timeout=0.5)
        release.set()
        assert (result.completed, result.failed) == (False, 2)
        counts = collections.Counter((e.event_id, e.reason) for e in errors)
        assert counts == {(carrier.event_id, "shutdown"): 1, (update.event_id, "shutdown"): 1}
        # Its span's request may have reached the server: the update's report says so too.
        assert all(e.possibly_delivered for e in errors)
        assert balanced(p)
