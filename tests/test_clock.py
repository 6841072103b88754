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


def _reference_format(ns: int) -> str:
    # The formatting before the per-second cache: gmtime for every call.
    seconds, rest = divmod(ns, 1_000_000_000)
    t = time.gmtime(seconds)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{rest // 1000:06d}Z"
    )


def test_format_ns_matches_the_uncached_formatting_across_second_boundaries() -> None:
    base = 1_787_392_799 * 10**9  # one second before a minute, hour and day boundary
    values = [base + k * 250_000_000 + offset for k in range(12) for offset in (0, 999, 999_999)]
    # Around second boundaries, in order and back and forth, so the cache is hit and missed.
    values += [base + 10**9 - 1, base + 10**9, base + 10**9 - 1, base, base + 2 * 10**9]
    values += [0, 1, 999_999_999, 1_000_000_000, 253_402_300_799_999_999_999]  # the span's ends
    values += [951_782_400 * 10**9 + 7, 951_868_800 * 10**9 - 1]  # 29 Feb 2000, a leap day
    for ns in values + values[::-1]:
        assert format_ns(ns) == _reference_format(ns), ns


def test_format_ns_never_takes_a_shorter_number_for_the_second_it_remembers() -> None:
    # The second is remembered by its first ten digits: a number with fewer digits (or a
    # negative one) that starts with the same ones is another instant altogether.
    ns = 1_787_392_800_123_456_789
    for other in (ns // 10, ns // 10**9, -(ns // 10)):
        assert format_ns(ns) == _reference_format(ns)
        assert format_ns(other) == _reference_format(other), other


def test_format_ns_is_consistent_across_threads() -> None:
    import threading

    errors: list[int] = []

    def work(offset: int) -> None:
        for k in range(2000):
            ns = (1_700_000_000 + offset * 7 + k % 3) * 10**9 + k
            if format_ns(ns) != _reference_format(ns):
                errors.append(ns)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
