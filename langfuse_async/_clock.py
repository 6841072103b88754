"""One clock for every timestamp the package records.

Wall time is read once and then advanced with the monotonic ``perf_counter_ns``, so the start
and end of an observation stay correct relative to each other even when the system clock is
stepped (NTP, a VM resume) while it runs.
"""

from __future__ import annotations

import time

__all__ = ["EPOCH_OFFSET_NS", "format_ns", "now_ns", "perf_counter_ns"]

_WALL_ANCHOR_NS = time.time_ns()
_PERF_ANCHOR_NS = time.perf_counter_ns()
_perf_counter_ns = time.perf_counter_ns

#: ``now_ns() == EPOCH_OFFSET_NS + perf_counter_ns()``: the per-call hot path adds the two itself
#: rather than pay for a call to :func:`now_ns`.
EPOCH_OFFSET_NS = _WALL_ANCHOR_NS - _PERF_ANCHOR_NS
perf_counter_ns = time.perf_counter_ns


def now_ns() -> int:
    """Return the current time in nanoseconds since the Unix epoch, from the monotonic clock."""
    return _WALL_ANCHOR_NS + (_perf_counter_ns() - _PERF_ANCHOR_NS)


def _second_prefix(seconds: int) -> str:
    t = time.gmtime(seconds)
    return "%04d-%02d-%02dT%02d:%02d:%02d." % (  # noqa: UP031 - fastest here
        t.tm_year,
        t.tm_mon,
        t.tm_mday,
        t.tm_hour,
        t.tm_min,
        t.tm_sec,
    )


# The last second formatted: the digits that name it (the first ten of a 19-digit ``str(ns)``)
# and its text. The worker formats several timestamps per event, nearly all within the same
# second. One tuple, read and replaced whole, so threads never see a torn pair.
_last_second: tuple[str, str] = ("", "")

#: Epoch nanoseconds written with 19 digits (2001-09-09 to 2286-11-20): the first ten digits
#: are the second, the next six the microseconds.
_NINETEEN_DIGITS_FROM = 10**18
_NINETEEN_DIGITS_UNTIL = 10**19


def format_ns(ns: int) -> str:
    """Format epoch nanoseconds as UTC ISO-8601 with microseconds and ``Z``.

    The real server rejects timestamps without a zone, so the ``Z`` is not optional. The text of
    the second is computed once per second (``time.gmtime`` is most of the cost) and the
    microseconds are appended: sliced from the decimal digits, cheaper than dividing.
    """
    global _last_second
    digits = str(ns)
    cached = _last_second
    # Only 19-digit texts are cached, so a shorter or negative one never matches.
    if cached[0] == digits[:10] and len(digits) == 19:
        return f"{cached[1]}{digits[10:16]}Z"
    seconds, rest = divmod(ns, 1_000_000_000)
    prefix = _second_prefix(seconds)
    if _NINETEEN_DIGITS_FROM <= ns < _NINETEEN_DIGITS_UNTIL:
        _last_second = (digits[:10], prefix)
    return f"{prefix}{rest // 1000:06d}Z"
