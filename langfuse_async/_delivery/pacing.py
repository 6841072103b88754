"""How long the delivery side may hold the event loop in one turn (a pure decision).

The worker encodes, plans and settles, and a request compresses its body, in turns: after
each, the other tasks of the loop run. A producer that yields to the loop now and then gets a
turn between two of ours; if ours were always short, such a producer could outrun delivery
until the queue's bounds drop events. So turns grow as the queue fills, from half a
millisecond to twice that at a quarter full: a 1 ms timer is late by about two turns of the
loop, ours and the program's, and a backlog drains instead of overflowing.
"""

from __future__ import annotations

__all__ = ["SLICE_SECONDS", "turn_seconds"]

#: The turn of an idle or lightly loaded delivery side.
SLICE_SECONDS = 0.0005

#: The longest turn, reached when the queue is a quarter full. (1 ms and 2.5 ms before the worker
#: cost 40% less per event: shorter turns now keep pace with a producer that yields every 100
#: calls, and a 1 ms timer is late by 4-5 ms at the 99th percentile instead of 6-7.)
MAX_TURN_SECONDS = 2 * SLICE_SECONDS


def turn_seconds(fill: float) -> float:
    """Return how long one turn may last when the queue is ``fill`` full (0.0 to 1.0).

    ``fill`` is the larger of the queue's count and byte fill ratios.
    """
    return min(MAX_TURN_SECONDS, SLICE_SECONDS * (1.0 + 4.0 * max(0.0, fill)))
