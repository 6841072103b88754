"""Trace sampling that agrees with OpenTelemetry's ``TraceIdRatioBased`` sampler.

The decision is a pure function of the trace id: its lower 64 bits, read as an unsigned
integer, are compared with ``round(rate * 2**64)``. Every process (and every other SDK using the
OpenTelemetry ratio sampler with the same rate) therefore keeps or drops the same traces, and all
observations and scores of one trace share a single fate.
"""

from __future__ import annotations

__all__ = ["TRACE_ID_LIMIT", "bound_for_rate", "is_sampled"]

#: The largest value of the lower 64 bits of a trace id.
TRACE_ID_LIMIT = (1 << 64) - 1


def bound_for_rate(rate: float) -> int:
    """Return the exclusive upper bound a trace id's lower 64 bits must stay under.

    Args:
        rate: The fraction of traces to keep, between 0.0 and 1.0.

    Returns:
        ``round(rate * 2**64)``: 0 keeps nothing and ``2**64`` keeps everything.
    """
    return round(rate * (TRACE_ID_LIMIT + 1))


def is_sampled(trace_id: str, bound: int) -> bool:
    """Tell whether the trace ``trace_id`` is kept under ``bound``.

    Args:
        trace_id: A trace id; only its last 16 hex digits (the lower 64 bits) matter.
        bound: The value from :func:`bound_for_rate`.

    Returns:
        True when the trace is recorded. A trace id that is not hexadecimal (possible only for
        ids a user chose for the ingestion route) is always kept: there is nothing to agree on.
    """
    if bound > TRACE_ID_LIMIT:
        return True
    try:
        low = int(trace_id[-16:], 16)
    except ValueError:
        return True
    return low < bound
