"""One clock for every timestamp the package records.

Wall time is read once and then advanced with the monotonic ``perf_counter_ns``, so the start
and end of an observation stay correct relative to each other even when the system clock is
stepped (NTP, a VM resume) while it runs.
"""

from __future__ import annotations

import time

__all__ = ["format_ns", "now_ns"]

_WALL_ANCHOR_NS = time.time_ns()
_PERF_ANCHOR_NS = time.perf_counter_ns()
_perf_counter_ns = time.perf_counter_ns


def now_ns() -> int:
    """Return the current time in nanoseconds since the Unix epoch, from the monotonic clock."""
    return _WALL_ANCHOR_NS + (_perf_counter_ns() - _PERF_ANCHOR_NS)


def format_ns(ns: int) -> str:
    """Format epoch nanoseconds as UTC ISO-8601 with microseconds and ``Z``.

    The real server rejects timestamps without a zone, so the ``Z`` is not optional.
    """
    seconds, rest = divmod(ns, 1_000_000_000)
    t = time.gmtime(seconds)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031 - fastest here
        t.tm_year,
        t.tm_mon,
        t.tm_mday,
        t.tm_hour,
        t.tm_min,
        t.tm_sec,
        rest // 1000,
    )
