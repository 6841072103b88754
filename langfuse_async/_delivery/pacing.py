"""How long the delivery side may hold the event loop in one turn (a pure decision).

The worker encodes, plans and settles, and a request compresses its body, in turns: after
each, the other tasks of the loop run. A producer that yields to the loop now and then gets a
turn between two of ours; if ours were always short, such a producer could outrun delivery
until the queue's bounds drop events. So turns grow as the queue fills, up to two and a half
times the slice at a quarter full: the loop still answers within a few milliseconds (a 1 ms
timer is late by about two turns at worst), and a backlog drains instead of overflowing.
"""

from __future__ import annotations

__all__ = ["SLICE_SECONDS", "turn_seconds"]

#: The turn of an idle or lightly loaded delivery side.
SLICE_SECONDS = 0.001

#: The longest turn, reached when the queue is a quarter full.
MAX_TURN_SECONDS = 2.5 * SLICE_SECONDS


def turn_seconds(fill: float) -> float:
    """Return how long one turn may last when the queue is ``fill`` full (0.0 to 1.0).

    ``fill`` is the larger of the queue's count and byte fill ratios.
    """
    return min(MAX_TURN_SECONDS, SLICE_SECONDS * (1.0 + 6.0 * max(0.0, fill)))
