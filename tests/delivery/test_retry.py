"""Retry policy: status classes, Retry-After parsing, jittered backoff."""

from __future__ import annotations

import email.utils
import math

import pytest
from hypothesis import given, strategies as st

from langfuse_async._delivery.retry import backoff_delay, classify_status, parse_retry_after

# 2026-08-22T08:21:47Z
NOW = 1_787_386_907.0


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, "ok"),
        (201, "ok"),
        (207, "ok"),
        (299, "ok"),
        (408, "retry"),
        (429, "retry"),
        (500, "retry"),
        (502, "retry"),
        (503, "retry"),
        (504, "retry"),
        (599, "retry"),
        (413, "split"),
        (401, "unauthorized"),
        (403, "unauthorized"),
        (400, "reject"),
        (404, "reject"),
        (405, "reject"),
        (409, "reject"),
        (422, "reject"),
        (301, "reject"),
        (304, "reject"),
        (100, "reject"),
        (600, "reject"),
    ],
)
def test_classify_status(status: int, expected: str) -> None:
    assert classify_status(status) == expected


# --------------------------------------------------------------------------------------------
# Retry-After


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 5 ", 5.0),
        ("0", 0.0),
        ("007", 7.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("+4", 4.0),
    ],
)
def test_retry_after_delta_seconds(value: str, expected: float) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_retry_after_imf_fixdate_in_the_future() -> None:
    header = email.utils.formatdate(NOW + 30, usegmt=True)
    assert header.endswith("GMT")
    assert parse_retry_after(header, now=NOW) == pytest.approx(30.0)


@pytest.mark.parametrize(
    "header",
    [
        "Sat, 22 Aug 2026 08:22:17 GMT",  # IMF-fixdate
        "Saturday, 22-Aug-26 08:22:17 GMT",  # obsolete RFC 850
        "Sat Aug 22 08:22:17 2026",  # obsolete asctime, no zone: UTC
        "Sat, 22 Aug 2026 10:22:17 +0200",  # numeric zone
    ],
)
def test_retry_after_http_date_forms(header: str) -> None:
    assert parse_retry_after(header, now=NOW) == pytest.approx(30.0)


def test_retry_after_date_in_the_past_means_no_wait() -> None:
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now=NOW) == 0.0


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "soon",
        "1e3",
        "nan",
        "inf",
        "12 seconds",
        "Sat, 32 Aug 2026 08:22:17 GMT",
    ],
)
def test_retry_after_garbage_is_none(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


@given(st.text(max_size=40))
def test_retry_after_never_raises(value: str) -> None:
    result = parse_retry_after(value, now=NOW)
    assert result is None or result >= 0.0


# --------------------------------------------------------------------------------------------
# Backoff


def _top(attempt: int, **kwargs: float) -> float:
    return backoff_delay(attempt, base=0.5, cap=30.0, rng=lambda: 1.0, **kwargs)


def test_backoff_ceiling_doubles_from_base_and_stops_at_cap() -> None:
    assert [_top(n) for n in range(8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_backoff_is_full_jitter() -> None:
    draws = iter([0.0, 0.25, 0.999])
    delays = [backoff_delay(3, base=0.5, cap=30.0, rng=lambda: next(draws)) for _ in range(3)]
    assert delays == [0.0, 1.0, pytest.approx(3.996)]


def test_backoff_survives_huge_and_negative_attempts() -> None:
    assert _top(10_000) == 30.0
    assert _top(-3) == 0.5


def test_retry_after_is_the_minimum_wait() -> None:
    assert backoff_delay(0, base=0.5, cap=30.0, rng=lambda: 0.5, retry_after=7.0) == 7.0
    # A longer jittered wait wins over a shorter Retry-After.
    assert _top(5, retry_after=2.0) == 16.0


def test_retry_after_is_clamped() -> None:
    assert _top(0, retry_after=10_000.0) == 300.0
    assert _top(0, retry_after=10_000.0, max_retry_after=60.0) == 60.0
    assert _top(0, retry_after=math.inf) == 300.0
    assert _top(0, retry_after=-5.0) == 0.5
    assert _top(0, retry_after=math.nan) == 0.5


@given(
    attempt=st.integers(-5, 200),
    base=st.floats(0.0, 10.0),
    cap=st.floats(0.0, 100.0),
    draw=st.floats(0.0, 1.0, exclude_max=True),
    retry_after=st.none() | st.floats(allow_nan=False),
)
def test_backoff_bounds(
    attempt: int, base: float, cap: float, draw: float, retry_after: float | None
) -> None:
    delay = backoff_delay(attempt, base=base, cap=cap, rng=lambda: draw, retry_after=retry_after)
    floor = 0.0 if retry_after is None else min(max(retry_after, 0.0), 300.0)
    ceiling = min(cap, base * 2.0 ** min(max(attempt, 0), 64))
    assert floor <= delay <= max(floor, ceiling)
