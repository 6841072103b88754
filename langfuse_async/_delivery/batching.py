"""Cutting a run of encoded events into request bodies that respect a byte and a count limit.

Pure functions over sizes; the caller owns the events and the encoding. Sizes are exact encoded
lengths and the overhead is exact (see ``_ingestion.batch_overhead``), so a body is never larger
than planned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["body_size", "cut_batches", "split_in_half"]


def cut_batches(
    sizes: Sequence[int],
    *,
    max_bytes: int,
    max_count: int,
    overhead: Callable[[int], int],
) -> list[range]:
    """Split items, in order, into consecutive batches that fit the limits.

    Greedy: each batch takes items while its body, ``sum(sizes) + overhead(n)``, stays within
    ``max_bytes`` and it holds at most ``max_count`` items.

    An item too large to fit even alone is never dropped and never joined with others: it comes
    back as a batch of its own, whose body exceeds ``max_bytes``. The caller finds it with
    :func:`body_size` (``body_size(sizes, r, overhead) > max_bytes``) and reports it; every
    other batch is within the limit.

    Args:
        sizes: The encoded size of each item, in bytes.
        max_bytes: The largest request body allowed, in bytes.
        max_count: The most items per batch (at least 1).
        overhead: The body bytes beyond the items' own bytes, for ``n`` items (brackets,
            separators, metadata), e.g. ``functools.partial(batch_overhead, ctx=ctx)``.

    Returns:
        Consecutive ranges of indexes into ``sizes`` that together cover every index once.

    Raises:
        ValueError: If ``max_count`` is less than 1.
    """
    if max_count < 1:
        raise ValueError("max_count must be at least 1")
    batches: list[range] = []
    start = 0
    total = 0
    for index, size in enumerate(sizes):
        count = index - start
        if count and (count >= max_count or total + size + overhead(count + 1) > max_bytes):
            batches.append(range(start, index))
            start = index
            total = 0
        total += size
    if start < len(sizes):
        batches.append(range(start, len(sizes)))
    return batches


def body_size(sizes: Sequence[int], batch: range, overhead: Callable[[int], int]) -> int:
    """Return the request body size of one batch returned by :func:`cut_batches`.

    Args:
        sizes: The sizes given to :func:`cut_batches`.
        batch: One of its ranges.
        overhead: The same overhead function.
    """
    return sum(sizes[index] for index in batch) + overhead(len(batch))


def split_in_half(r: range) -> tuple[range, range]:
    """Split a batch in two for a retry after ``413 Payload Too Large``.

    The first half gets the smaller share when the length is odd, so both halves are non-empty.

    Args:
        r: A batch of at least two items.

    Returns:
        ``(first, second)``: consecutive ranges that together are ``r``.

    Raises:
        ValueError: If ``r`` has fewer than two items; a single event that draws a 413 cannot
            be split and has to be reported instead.
    """
    if len(r) < 2:
        raise ValueError("a batch of fewer than two items cannot be split")
    middle = len(r) // 2
    return r[:middle], r[middle:]
