"""Properties of the whole pipeline, on both routes, for any mix of event sizes."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from langfuse_async._outcomes import EventError
from tests.support import factories
from tests.support.fake_langfuse import INGESTION, OTLP, FakeLangfuse
from tests.support.pipelines import balanced, make_pipeline

MAX_BATCH = 40_000
MAX_EVENT = 12_000

sizes = st.lists(st.integers(min_value=0, max_value=3 * MAX_EVENT), min_size=1, max_size=12)


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


@pytest.mark.parametrize("transport", ["ingestion", "otlp"])
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payloads=sizes, trace_metadata=st.integers(min_value=0, max_value=2_000))
def test_any_mix_of_sizes_is_delivered_once_or_reported_oversize(
    transport: str, payloads: list[int], trace_metadata: int
) -> None:
    async def scenario() -> None:
        errors: list[EventError] = []
        async with FakeLangfuse(mode="v4" if transport == "otlp" else "v3") as server:
            p = make_pipeline(
                server.url,
                transport=transport,
                max_batch_bytes=MAX_BATCH,
                max_event_bytes=MAX_EVENT,
                on_error=errors.append,
            )
            snap = factories.trace(metadata={"m": factories.raw("t" * trace_metadata)}).attributes
            records = [
                factories.observation(input="x" * n, output="y" * (n // 3), trace=snap)
                for n in payloads
            ]
            for r in records:
                p.emit(r)
            assert (await p.flush(timeout=30)).completed
            await p.shutdown(timeout=30)
            path = OTLP if transport == "otlp" else INGESTION
            posts = [r for r in server.posts() if r.path == path]
            # Every request within the limit (for OTLP the server has already gunzipped the
            # body, so this is the pre-gzip size the limit applies to).
            assert all(len(r.body) <= MAX_BATCH for r in posts)
            sent = (
                [s["spanId"] for s in server.spans()]
                if transport == "otlp"
                else [e["body"]["id"] for e in server.events()]
            )
            assert len(sent) == len(set(sent))  # each at most once
            reported = {e.event_id for e in errors}
            assert {e.reason for e in errors} <= {"oversize"}
            for r in records:  # each delivered, or reported oversize: never silently lost
                assert (r.id in sent) != (r.event_id in reported)
            # Only events that cannot fit even fully truncated are dropped; ours always can.
            assert not errors
            assert balanced(p)

    run(scenario())
