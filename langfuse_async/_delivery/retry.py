"""Retry policy: what an HTTP status means, how long to wait, and ``Retry-After``.

Pure functions: no sleeping and no clock. The caller passes ``now`` and a random source, so the
policy is deterministic under test.
"""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Callable
from datetime import timezone
from typing import Literal

__all__ = ["StatusClass", "backoff_delay", "classify_status", "parse_retry_after"]

#: What the sender does with a whole-request status.
StatusClass = Literal["ok", "retry", "split", "unauthorized", "reject"]

_RETRY_STATUSES = frozenset({408, 429})
_UNAUTHORIZED_STATUSES = frozenset({401, 403})
_DELTA_SECONDS_RE = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
# Beyond this exponent ``base * 2**attempt`` exceeds any sensible cap (and, far beyond, a float).
_MAX_EXPONENT = 64


def classify_status(status: int) -> StatusClass:
    """Classify the HTTP status of a whole ingestion request.

    * 2xx: ``"ok"`` (a 207 still carries per-event outcomes);
    * 408, 429 and 5xx: ``"retry"``;
    * 413: ``"split"``, the body was too large, send each half on its own;
    * 401, 403: ``"unauthorized"``, wrong keys or wrong host;
    * any other status (other 4xx, an unfollowed 3xx, 1xx, non-standard codes): ``"reject"``,
      since repeating the same request cannot change the answer.

    Args:
        status: The HTTP status code.
    """
    if 200 <= status <= 299:
        return "ok"
    if status in _RETRY_STATUSES or 500 <= status <= 599:
        return "retry"
    if status == 413:
        return "split"
    if status in _UNAUTHORIZED_STATUSES:
        return "unauthorized"
    return "reject"


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Parse a ``Retry-After`` header into seconds to wait.

    Both forms of RFC 9110 are understood: delta-seconds (a fraction is tolerated) and an
    HTTP-date, either IMF-fixdate or the obsolete RFC 850 and asctime forms. A date without a
    zone is taken as UTC, as HTTP dates always are.

    Args:
        value: The header value, or ``None`` when the header was absent.
        now: The current time, in seconds since the Unix epoch.

    Returns:
        Seconds to wait: ``0.0`` for a negative delay or a date in the past, ``None`` when the
        header is absent or unparseable.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DELTA_SECONDS_RE.fullmatch(text):
        # A very long digit string becomes inf; backoff_delay clamps it.
        return max(0.0, float(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    try:
        return max(0.0, when.timestamp() - now)
    except (OverflowError, ValueError, OSError):
        return None


def backoff_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    rng: Callable[[], float],
    retry_after: float | None = None,
    max_retry_after: float = 300.0,
) -> float:
    """Return how long to wait before the next attempt.

    Full jitter: a uniform draw from ``[0, min(cap, base * 2**attempt))``, so ``attempt=0``
    (the wait before the first retry) is at most ``base``. A server's ``Retry-After``, clamped
    to ``max_retry_after`` so a hostile or broken header cannot stall delivery for hours, is the
    minimum wait.

    Args:
        attempt: How many retries came before this one (0 for the first retry).
        base: The ceiling of the first wait, in seconds.
        cap: The largest ceiling, in seconds.
        rng: Returns a float in ``[0, 1)``, e.g. ``random.random``.
        retry_after: Seconds the server asked to wait, from :func:`parse_retry_after`.
        max_retry_after: The most a ``Retry-After`` may impose, in seconds.

    Returns:
        The delay in seconds, never negative.
    """
    exponent = min(max(attempt, 0), _MAX_EXPONENT)
    ceiling = max(0.0, min(cap, base * 2.0**exponent))
    delay = rng() * ceiling
    if retry_after is not None and not math.isnan(retry_after):
        delay = max(delay, min(max(retry_after, 0.0), max_retry_after))
    return max(0.0, delay)
