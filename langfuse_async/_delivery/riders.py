"""OTLP trace updates waiting for a span of their trace to carry them, within a share of the bounds.

On the OTLP route a trace update has no span of its own: it rides on a span of its trace that
ends after it (see :func:`.batching.plan_otlp`). One made after the trace's root was sent,
while another observation of the trace was open (``TraceRecord.span_open``), waits here for that
observation's span, which may come many cycles later. The worker places the waiting updates
again with every cycle's spans, and reports them when the client closes with no span to come.

They stay held by :class:`~.inflight.InFlight` (they count against the queue's bounds like every
event taken) and are marked :attr:`~.inflight.Item.held`, so that a flush does not wait for
them: the span may end hours later.
"""

from __future__ import annotations

from collections.abc import KeysView, Sequence

from .inflight import InFlight, Item

__all__ = ["HELD_FULL_MESSAGE", "HELD_SHARE", "Riders"]

#: The share of the bounds (``max_queue_size``, ``max_queue_bytes``) the waiting updates may
#: hold at most: the rest stays for the events that bring their spans, which could not be
#: taken from the queue otherwise.
HELD_SHARE = 10

HELD_FULL_MESSAGE = (
    "dropped while waiting for a span of its trace to carry it over OTLP: more trace updates "
    "waited for spans than a tenth of max_queue_size or max_queue_bytes allows"
)


def _seq_of(item: Item) -> int:
    return item.seq


class Riders:
    """The waiting updates, by ``id()``; at most a share of the bounds.

    Args:
        inflight: Holds them (and counts them); told how many wait (:attr:`InFlight.holding`).
        max_queue_size: The configured count bound.
        max_queue_bytes: The configured byte bound.
    """

    def __init__(self, inflight: InFlight, *, max_queue_size: int, max_queue_bytes: int) -> None:
        self._inflight = inflight
        self._items: dict[int, Item] = {}
        self._bytes = 0
        self._max_count = max(1, max_queue_size // HELD_SHARE)
        self._max_bytes = max_queue_bytes // HELD_SHARE

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    @property
    def bytes(self) -> int:
        """What the waiting updates count against the byte bound."""
        return self._bytes

    def ids(self) -> KeysView[int]:
        """The ``id()`` of each waiting update."""
        return self._items.keys()

    def hold(self, items: Sequence[Item]) -> list[Item]:
        """Have ``items`` wait; return the oldest ones past the share of the bounds.

        The caller reports those returned (one update always may wait, whatever its size).
        """
        waiting = self._items
        for item in items:
            if id(item) not in waiting:
                item.held = True
                waiting[id(item)] = item
                self._bytes += item.size
        evicted: list[Item] = []
        if len(waiting) > self._max_count or self._bytes > self._max_bytes:
            for item in sorted(waiting.values(), key=_seq_of):
                if len(waiting) <= 1 or (
                    len(waiting) <= self._max_count and self._bytes <= self._max_bytes
                ):
                    break
                self._forget(item)
                evicted.append(item)
        self._inflight.holding = len(waiting)
        return evicted

    def release(self) -> list[Item]:
        """Stop holding every waiting update and return them, oldest first."""
        items = sorted(self._items.values(), key=_seq_of)
        for item in items:
            item.held = False
        self._items.clear()
        self._bytes = 0
        self._inflight.holding = 0
        return items

    def _forget(self, item: Item) -> None:
        if self._items.pop(id(item), None) is not None:
            item.held = False
            self._bytes -= item.size
