"""The worker through its ``Sender`` seam: scripted outcomes, no server, no monkeypatching."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from langfuse_async._delivery.inflight import Item
from langfuse_async._delivery.routing import Route
from langfuse_async._delivery.sender import Failure, Retry, SendOutcome
from langfuse_async._outcomes import EventError
from tests.support import factories
from tests.support.pipelines import ScriptedSender, balanced, make_pipeline

pytestmark = pytest.mark.anyio

#: Never contacted: every request goes to the scripted sender.
NOWHERE = "http://127.0.0.1:9"


async def test_a_413_sends_the_halves_in_order_until_each_fits() -> None:
    async def too_large_above_two(batch: Sequence[Item], route: Route) -> SendOutcome:
        if len(batch) > 2:
            return SendOutcome(split=True, status=413)
        return SendOutcome(delivered=list(batch), status=200)

    async with ScriptedSender(too_large_above_two) as sender:
        p = make_pipeline(NOWHERE, sender=sender, flush_at=10)
        records = [factories.observation() for _ in range(5)]
        for r in records:
            p.emit(r)
        assert (await p.flush(timeout=10)).completed
        ids = [r.event_id for r in records]
        assert sender.requests == [
            ("ingestion", ids),
            ("ingestion", ids[:2]),
            ("ingestion", ids[2:]),
            ("ingestion", ids[2:3]),
            ("ingestion", ids[3:]),
        ]
        await p.shutdown()
        s = p.statistics()
        assert (s.delivered, s.requests, s.retries) == (5, 5, 0) and balanced(p)


async def test_retries_keep_the_envelope_ids_then_report_the_last_error() -> None:
    errors: list[EventError] = []

    async def busy(batch: Sequence[Item], route: Route) -> SendOutcome:
        return SendOutcome(
            retry=[Retry(item, 503, f"busy {item.attempts}") for item in batch], status=207
        )

    async with ScriptedSender(busy) as sender:
        p = make_pipeline(NOWHERE, on_error=errors.append, sender=sender, max_retries=2)
        record = factories.observation()
        p.emit(record)
        assert (await p.flush(timeout=10)).completed
        assert sender.requests == [("ingestion", [record.event_id])] * 3
        ((error),) = errors
        assert (error.event_id, error.reason, error.status) == (
            record.event_id,
            "retries_exhausted",
            503,
        )
        assert error.message == "gave up after 3 attempts: busy 2"
        await p.shutdown()
        s = p.statistics()
        assert (s.delivered, s.failed, s.retries, s.requests) == (0, 1, 2, 3) and balanced(p)


async def test_refused_and_delivered_events_of_one_request_are_settled_apart() -> None:
    errors: list[EventError] = []
    bad = factories.observation(name="bad")

    async def one_refused(batch: Sequence[Item], route: Route) -> SendOutcome:
        refused = [item for item in batch if item.record.event_id == bad.event_id]
        return SendOutcome(
            delivered=[item for item in batch if item not in refused],
            failed=[Failure(item, "rejected", 400, "Invalid request data") for item in refused],
            status=207,
        )

    async with ScriptedSender(one_refused) as sender:
        p = make_pipeline(NOWHERE, on_error=errors.append, sender=sender)
        p.emit(factories.observation())
        p.emit(bad)
        p.emit(factories.observation())
        result = await p.flush(timeout=10)
        assert result.completed and (result.delivered, result.failed) == (2, 1)
        assert [(e.event_id, e.reason, e.status) for e in errors] == [
            (bad.event_id, "rejected", 400)
        ]
        assert len(sender.requests) == 1
        await p.shutdown()
        assert balanced(p)


async def test_events_refused_by_type_go_again_as_spans_with_the_same_ids() -> None:
    async def v4_server(batch: Sequence[Item], route: Route) -> SendOutcome:
        if route == "ingestion":
            return SendOutcome(not_accepted=list(batch), status=207)
        return SendOutcome(delivered=list(batch), status=200)

    async with ScriptedSender(v4_server) as sender:
        p = make_pipeline(NOWHERE, sender=sender, transport="auto")
        p._worker.route = "ingestion"  # as after inconclusive probes
        record = factories.observation()
        p.emit(record)
        assert (await p.flush(timeout=10)).completed
        assert sender.requests == [
            ("ingestion", [record.event_id]),
            ("otlp", [record.event_id]),
        ]
        await p.shutdown()
        s = p.statistics()
        assert (s.delivered, s.transport) == (1, "otlp") and balanced(p)
