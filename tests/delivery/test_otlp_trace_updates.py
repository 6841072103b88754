"""OTLP trace updates made after their root was sent: held for a span of their trace, or reported.

On the OTLP route a trace update has no span of its own: it rides on a span of its trace that
ends after it. Once the root has gone, only an observation that was open when the update was
made can carry it (``TraceRecord.span_open``); the worker holds the update until that span
is sent, and reports it once if the client closes first.
"""

from __future__ import annotations

import collections
import os
import random
from typing import Any

import anyio
import msgspec
import pytest

from langfuse_async._delivery.batching import UNCARRIED_MESSAGE, Plan
from langfuse_async._delivery.inflight import InFlight, Item
from langfuse_async._delivery.pipeline import Pipeline
from langfuse_async._delivery.riders import CARRIERS_FAILED_MESSAGE, HELD_FULL_MESSAGE, Riders
from langfuse_async._outcomes import EventError
from langfuse_async._records import ObservationRecord, TraceRecord
from langfuse_async.testing import Collector
from tests.support import factories
from tests.support.fake_langfuse import INGESTION, OTLP, FakeLangfuse
from tests.support.pipelines import balanced, make_pipeline

pytestmark = pytest.mark.anyio


def _update(trace_id: str, **attributes: Any) -> TraceRecord:
    """An update made after the root ended, while another observation of the trace was open."""
    return msgspec.structs.replace(factories.trace(trace_id=trace_id, **attributes), span_open=True)


def _child(root: ObservationRecord, update: TraceRecord) -> ObservationRecord:
    """The open observation, ended after ``update``: its span carries the trace's attributes."""
    return factories.observation(trace_id=root.trace_id, parent_id=root.id, trace=update.attributes)


async def _root_sent(p: Pipeline) -> ObservationRecord:
    root = factories.observation(parent_id=None, name="root")
    p.emit(root)
    assert (await p.flush(timeout=10)).completed
    return root


async def test_an_update_is_delivered_with_the_span_that_carries_it_cycles_later() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse(mode="v4") as server:
        p = make_pipeline(server.url, transport="otlp", on_error=errors.append)
        root = await _root_sent(p)
        update = _update(root.trace_id, user_id="u-late")
        p.emit(update)
        # A flush does not wait for the span (it may end hours later), and says it is pending.
        waited = await p.flush(timeout=10)
        assert (waited.completed, waited.pending, waited.failed) == (False, 1, 0)
        p.emit(factories.observation())  # a cycle with spans of another trace only
        assert (await p.flush(timeout=10)).pending == 1
        s = p.statistics()
        assert (s.delivered, s.failed, s.pending) == (2, 0, 1) and errors == []
        child = _child(root, update)
        p.emit(child)
        done = await p.flush(timeout=10)
        assert (done.completed, done.pending, done.delivered) == (True, 0, 2)
        [carrier] = [span for span in server.spans() if span["spanId"] == child.id]
        assert {"key": "user.id", "value": {"stringValue": "u-late"}} in carrier["attributes"]
        await p.shutdown()
        assert errors == [] and balanced(p) and p.statistics().delivered == 4


async def test_an_update_shares_the_outcome_of_its_carrier_and_ids_stay_stable() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse(mode="v4") as server:
        p = make_pipeline(server.url, transport="otlp", on_error=errors.append)
        root = await _root_sent(p)
        update = _update(root.trace_id, session_id="s-1")
        p.emit(update)
        await p.flush(timeout=10)
        server.reply(OTLP, 503, {"message": "busy"})  # the carrier's first attempt fails
        child = _child(root, update)
        p.emit(child)
        assert (await p.flush(timeout=10)).completed
        carried = [r for r in server.posts() if r.path == OTLP][1:]
        assert len(carried) == 2  # the failure and its retry: the same span, the same id
        assert [
            [span["spanId"] for span in post.json["resourceSpans"][0]["scopeSpans"][0]["spans"]]
            for post in carried
        ] == [[child.id], [child.id]]
        s = p.statistics()
        assert errors == [] and (s.delivered, s.retries) == (3, 2)  # retried together
        # When the carrier is refused, the update waits for a later span of its trace (one
        # that was open may still end): a flush says it is pending, not failed.
        update2 = _update(root.trace_id, tags=["t"])
        p.emit(update2)
        await p.flush(timeout=10)
        server.reply(OTLP, 400, {"error": "Invalid OTLP trace export"})
        refused = _child(root, update2)
        p.emit(refused)
        waited = await p.flush(timeout=10)
        assert (waited.completed, waited.pending, waited.failed) == (False, 1, 1)
        assert [(e.event_id, e.reason) for e in errors] == [(refused.event_id, "rejected")]
        # None comes: at shutdown it is reported once, as itself, with its carrier's refusal.
        result = await p.shutdown(timeout=10)
        assert (result.completed, result.pending, result.failed) == (True, 0, 1)
        assert [(e.event_id, e.event_type, e.reason, e.status) for e in errors[1:]] == [
            (update2.event_id, "trace-create", "rejected", 400)
        ]
        message = errors[1].message
        assert message.startswith(CARRIERS_FAILED_MESSAGE) and refused.id in message
        assert "Invalid OTLP trace export" in message and message.endswith("client closed")
        assert balanced(p)


async def test_an_update_no_span_ever_carries_is_reported_once_at_shutdown() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse(mode="v4") as server:
        p = make_pipeline(server.url, transport="otlp", on_error=errors.append)
        root = await _root_sent(p)
        update = _update(root.trace_id, user_id="u-never")
        p.emit(update)
        assert (await p.flush(timeout=10)).pending == 1
        assert errors == []
        result = await p.shutdown(timeout=10)
        # Reported, not abandoned as timed out: shutdown completes and says it failed.
        assert (result.completed, result.pending, result.failed) == (True, 0, 1)
        assert [(e.event_id, e.reason, e.message) for e in errors] == [
            (update.event_id, "rejected", UNCARRIED_MESSAGE)
        ]
        await p.shutdown(timeout=10)
        assert (await p.flush(timeout=10)).completed
        assert len(errors) == 1 and balanced(p)
        assert p.statistics().dropped_by_reason == {"rejected": 1}
        assert len(server.spans()) == 1  # the root: the update was never sent as anything


async def test_the_updates_held_stay_within_a_tenth_of_the_bounds() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse(mode="v4") as server:
        # A tenth of max_queue_size=30: three updates held at most, the oldest reported.
        p = make_pipeline(server.url, transport="otlp", on_error=errors.append, max_queue_size=30)
        root = await _root_sent(p)
        updates = [_update(root.trace_id, user_id=f"u-{i}") for i in range(5)]
        for update in updates:
            p.emit(update)
        assert (await p.flush(timeout=10)).pending == 3
        assert [(e.event_id, e.reason, e.message) for e in errors] == [
            (u.event_id, "queue_full", HELD_FULL_MESSAGE) for u in updates[:2]
        ]
        worker = p._worker
        assert worker.inflight.holding == 3 and len(worker.inflight) == 3
        assert worker.inflight.bytes == sum(u.size for u in updates[2:])  # counted in the bounds
        p.emit(_child(root, updates[-1]))
        assert (await p.flush(timeout=10)).completed
        await p.shutdown()
        assert len(errors) == 2 and balanced(p) and worker.inflight.holding == 0


async def test_the_ingestion_route_sends_such_an_update_as_an_event_of_its_own() -> None:
    errors: list[EventError] = []
    async with FakeLangfuse(mode="v3") as server:
        p = make_pipeline(server.url, transport="ingestion", on_error=errors.append)
        root = await _root_sent(p)
        update = _update(root.trace_id, user_id="u-late")
        p.emit(update)
        assert (await p.flush(timeout=10)).completed  # nothing is held on this route
        [event] = [e for e in server.events() if e["id"] == update.event_id]
        assert event["type"] == "trace-create" and event["body"]["userId"] == "u-late"
        assert "span_open" not in str(event) and "spanOpen" not in str(event)
        assert all(r.path == INGESTION for r in server.posts())
        await p.shutdown()
        assert errors == [] and balanced(p)


def test_the_waiting_updates_stay_within_a_tenth_of_the_byte_bound() -> None:
    inflight = InFlight(
        max_count=1_000, max_bytes=10_000, max_retries=1, backoff_base=0.1, backoff_max=1.0
    )
    riders = Riders(inflight, max_queue_size=1_000, max_queue_bytes=10_000)
    items = [Item(seq, factories.trace(user_id="u")) for seq in range(5)]
    inflight.hold(items)
    assert items[0].size == 400  # RECORD_OVERHEAD_BYTES each: two fit in 1,000 bytes
    assert riders.place(Plan(held=items[:2])).failed == []
    placed = riders.place(Plan(held=items[2:]))
    assert [(item, e.reason, e.message) for item, e in placed.failed] == [
        (item, "queue_full", HELD_FULL_MESSAGE)
        for item in items[:3]  # the oldest go first
    ]
    assert (len(riders), inflight.parked_bytes, inflight.holding) == (2, 800, 2)
    assert [item.held for item in items] == [False, False, False, True, True]
    for item in items[:3]:
        inflight.release(item)  # reported by the worker
    assert [item for item, _ in riders.give_up()] == items[3:]
    assert (len(riders), inflight.parked_bytes, inflight.holding) == (0, 0, 0)
    assert not any(item.held for item in items)
    # One update may always wait, whatever its size: it cannot be split.
    big = Item(9, msgspec.structs.replace(factories.trace(user_id="u"), size=50_000))
    inflight.hold([big])
    assert riders.place(Plan(held=[big])).failed == [] and inflight.parked_bytes == 50_000


_FIXED = os.environ.get("LANGFUSE_CHAOS_SEED")
SEEDS = [int(_FIXED)] if _FIXED else [random.randrange(1 << 32) for _ in range(2)]


@pytest.mark.parametrize("seed", SEEDS)
async def test_chaos_updates_share_their_carriers_fate_and_the_ledger_balances(seed: int) -> None:
    # Roots sent, then updates made while a child was open; the children end (or never do)
    # cycles later, through random faults on the OTLP route. Each update is delivered or
    # reported with the span that carried it, or reported once at shutdown when none did.
    rng = random.Random(seed)
    reports: list[EventError] = []
    try:
        async with Collector(mode="v4") as collector:
            p = make_pipeline(
                collector.url,
                public_key=collector.public_key,
                secret_key=collector.secret_key,
                transport="otlp",
                on_error=reports.append,
                max_retries=rng.randint(0, 3),
                timeout=0.5,
                flush_at=rng.choice([2, 5, 100]),
            )
            with_child: set[str] = set()  # the traces a child span was sent for
            with anyio.fail_after(50):  # a hang is a failure, not a slow test
                roots = [factories.observation(parent_id=None) for _ in range(rng.randint(2, 6))]
                for root in roots:
                    p.emit(root)
                await p.flush(timeout=5)
                pending: list[tuple[ObservationRecord, TraceRecord]] = []
                for root in roots:
                    for _ in range(rng.randint(0, 2)):
                        update = _update(root.trace_id, user_id=f"u-{rng.random()}")
                        p.emit(update)
                        pending.append((root, update))
                for _ in range(rng.randint(1, 3)):
                    kind = rng.choice(["server_error", "rate_limit", "drop", "too_large", "400"])
                    faults = collector.faults
                    if kind == "server_error":
                        faults.server_error(route="otlp", times=rng.randint(1, 3))
                    elif kind == "rate_limit":
                        faults.rate_limit(retry_after=0, route="otlp", times=rng.randint(1, 2))
                    elif kind == "drop":
                        faults.drop_connection(route="otlp", times=rng.randint(1, 2))
                    elif kind == "too_large":
                        faults.payload_too_large(route="otlp")
                    else:
                        faults.respond(400, {"error": "Invalid OTLP trace export"}, route="otlp")
                    await p.flush(timeout=rng.choice([0.01, 5.0]))
                    rng.shuffle(pending)
                    for root, update in pending[: rng.randint(0, len(pending))]:
                        p.emit(_child(root, update))
                        with_child.add(root.trace_id)
                result = await p.shutdown(timeout=30)
                collector.faults.clear()
        assert result.completed, result
        counts = collections.Counter(e.event_id for e in reports)
        assert [i for i, n in counts.items() if n > 1] == [], "an event was reported twice"
        by_id = {e.event_id: e for e in reports}
        for root, update in pending:
            # Every child here ended after every update of its trace: the first one sent
            # carries them all, and they share its outcome.
            error = by_id.get(update.event_id)
            if root.trace_id not in with_child:
                assert error is not None and error.message == UNCARRIED_MESSAGE
            elif error is not None:
                assert error.message != UNCARRIED_MESSAGE
                assert any(
                    e.trace_id == root.trace_id and e.event_type == "span-create" for e in reports
                ), "an update was reported while the span that carried it was delivered"
        s = p.statistics()
        assert s.pending == 0 and s.enqueued == s.delivered + s.failed + s.dropped
        assert s.failed + s.dropped == len(reports)
    except BaseException as exc:
        raise AssertionError(f"chaos seed {seed} (LANGFUSE_CHAOS_SEED={seed})") from exc
