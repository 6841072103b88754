"""One clock: timestamps stay consistent when the wall clock is stepped."""

from __future__ import annotations

import re
import time

import pytest

from langfuse_async._clock import format_ns, now_ns
from tests.support.recording import RecordingTracer


def test_a_wall_clock_stepped_back_mid_observation_does_not_bend_its_duration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tracer = RecordingTracer()
    with tracer.start_as_current_span(name="work"):
        real = time.time_ns
        # NTP or a VM resume sets the system clock back an hour while the span runs.
        monkeypatch.setattr(time, "time_ns", lambda: real() - 3_600 * 10**9)
        monkeypatch.setattr(time, "time", lambda: real() / 1e9 - 3_600)
    [record] = tracer.records
    assert 0 <= record.end_ns - record.start_ns < 10**9
    assert abs(record.end_ns - real()) < 60 * 10**9  # still the real time of day


def test_now_ns_is_monotonic_and_close_to_the_wall_clock() -> None:
    samples = [now_ns() for _ in range(1000)]
    assert samples == sorted(samples)
    assert abs(samples[-1] - time.time_ns()) < 5 * 10**9


def test_format_ns_is_utc_with_microseconds_and_z() -> None:
    assert format_ns(0) == "1970-01-01T00:00:00.000000Z"
    assert format_ns(1_787_392_800_123_456_789) == "2026-08-22T10:00:00.123456Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", format_ns(now_ns()))
