"""Trace sampling: agreement with OpenTelemetry's ratio sampler; whole traces kept or dropped."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from langfuse_async._tracing.observe import observe
from langfuse_async._tracing.sampling import bound_for_rate, is_sampled
from tests.support.recording import RecordingTracer

pytestmark = pytest.mark.usefixtures("isolated_registry")


def _trace_id(upper: int, lower: int) -> str:
    return f"{upper:016x}{lower:016x}"


def test_bounds_are_rate_times_two_to_the_64() -> None:
    assert bound_for_rate(0.0) == 0
    assert bound_for_rate(1.0) == 18_446_744_073_709_551_616
    assert bound_for_rate(0.5) == 9_223_372_036_854_775_808
    # OpenTelemetry Python multiplies in floating point: 0.1 * 2**64 is the double nearest to
    # 1844674407370955161.6, which is 0x1999999999999A00 (53 significant bits)
    assert bound_for_rate(0.1) == 0x1999999999999A00


@pytest.mark.parametrize(
    ("lower", "rate", "expected"),
    [
        (0x0000000000000000, 0.0, False),
        (0x0000000000000000, 0.000001, True),
        (0x7FFFFFFFFFFFFFFF, 0.5, True),
        (0x8000000000000000, 0.5, False),
        (0x19999999999999FF, 0.1, True),  # just below the bound
        (0x1999999999999A00, 0.1, False),  # equal to the bound
        (0xFFFFFFFFFFFFFFFF, 0.999999, False),
        (0xFFFFFFFFFFFFFFFF, 1.0, True),
    ],
)
def test_decisions_for_fixed_trace_ids(lower: int, rate: float, expected: bool) -> None:
    bound = bound_for_rate(rate)
    for upper in (0x1, 0xFFFFFFFFFFFFFFFF, 0x0123456789ABCDEF):  # only the lower half counts
        assert is_sampled(_trace_id(upper, lower), bound) is expected


# Decisions of opentelemetry-sdk 1.x TraceIdRatioBased(0.3) (bound 5534023222112865280) for
# these ids, recorded by running it, so the agreement is checked without the dependency.
OTEL_DECISIONS_AT_0_3 = {
    "1343eabb67f67dd61d468624ba9cd080": True,
    "70859ec79438e1972d8af8c8356371e9": True,
    "fe605775395ace43ce59adc88a6da205": False,
    "c018d0ef67ada722867c9953985ea673": False,
    "72d4c821623e004f356ad47d9cbfe826": True,
    "c39b22fd8f7ffcf5c21c2c27fde1f922": False,
    "31cfe0b610590aa207fbcb25411f101b": True,
    "e68b17d543ff70fdb6c9016e373e858c": False,
    "54df0acb109adf321d8e61f0d902dbe9": True,
    "7f96add9f8ce97c863a923d7d00888ec": False,
}


def test_agrees_with_recorded_opentelemetry_decisions() -> None:
    assert bound_for_rate(0.3) == 5_534_023_222_112_865_280
    for trace_id, decision in OTEL_DECISIONS_AT_0_3.items():
        assert is_sampled(trace_id, bound_for_rate(0.3)) is decision


def test_agrees_with_opentelemetry_when_installed() -> None:
    sampling = pytest.importorskip("opentelemetry.sdk.trace.sampling")
    for rate in (0.0, 0.01, 0.25, 0.5, 0.9, 1.0):
        sampler = sampling.TraceIdRatioBased(rate)
        for seed in range(200):
            trace_id = RecordingTracer.create_trace_id(seed=str(seed))
            decision = sampler.should_sample(None, int(trace_id, 16), "span").decision
            assert is_sampled(trace_id, bound_for_rate(rate)) is decision.is_sampled()


def test_ids_that_are_not_hex_are_kept() -> None:
    assert is_sampled("my-own-trace-id", 0)


@given(
    st.integers(min_value=0, max_value=2**128 - 1),
    st.floats(min_value=0.0, max_value=1.0),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_a_higher_rate_keeps_every_trace_a_lower_one_keeps(
    value: int, low: float, high: float
) -> None:
    low, high = min(low, high), max(low, high)
    trace_id = f"{value:032x}"
    if is_sampled(trace_id, bound_for_rate(low)):
        assert is_sampled(trace_id, bound_for_rate(high))


def test_whole_traces_are_kept_or_dropped_together() -> None:
    tracer = RecordingTracer(sample_rate=0.5)
    kept: set[str] = set()
    dropped: set[str] = set()
    for seed in range(200):
        trace_id = tracer.create_trace_id(seed=f"trace-{seed}")
        # expected independently: lower 64 bits below 2**63
        (kept if int(trace_id[16:], 16) < 2**63 else dropped).add(trace_id)
        with tracer.start_as_current_span(name="root", trace_context={"trace_id": trace_id}):
            with tracer.start_as_current_span(name="child") as child:
                child.create_event(name="event")
                tracer.update_current_trace(user_id="u")
                tracer.score_current_span(name="s", value=1)
            tracer.create_score(name="by-id", value=1, trace_id=trace_id)
    assert kept and dropped  # the seeds give both outcomes
    assert {r.trace_id for r in tracer.observations} == kept
    # The updates travel with each kept root (no trace event while the root is open).
    assert {r.trace_id for r in tracer.observations if r.trace is not None} == kept
    assert tracer.traces == []
    assert {r.trace_id for r in tracer.scores} == kept
    assert len(tracer.observations) == 3 * len(kept)
    assert len(tracer.scores) == 2 * len(kept)
    assert tracer.sampled_out == 3 * len(dropped)


def test_sampled_out_handles_still_have_ids_and_context() -> None:
    tracer = RecordingTracer(sample_rate=0.0)
    with tracer.start_as_current_span(name="root") as root:
        assert tracer.get_current_trace_id() == root.trace_id
        with tracer.start_as_current_span(name="child") as child:
            assert child.trace_id == root.trace_id and child.id != root.id
    assert tracer.records == [] and tracer.sampled_out == 2


def test_scores_for_sessions_are_not_sampled() -> None:
    tracer = RecordingTracer(sample_rate=0.0)
    tracer.create_score(name="session", value=1, session_id="s-1")
    tracer.create_score(name="trace", value=1, trace_id=_trace_id(1, 0))
    assert [s.name for s in tracer.scores] == ["session"]


def test_random_traces_are_sampled_at_about_the_rate() -> None:
    tracer = RecordingTracer(sample_rate=0.25)

    @observe
    def work() -> None:
        pass

    for _ in range(4000):
        work()
    kept = len(tracer.observations)
    assert kept + tracer.sampled_out == 4000
    assert 700 < kept < 1300  # 1000 expected; the bounds are more than 8 standard deviations
