"""Identifiers: trace ids (32 hex), observation ids (16 hex) and envelope ids.

Trace and observation ids are valid OpenTelemetry ids (lowercase hex, never all zeros), so the
same ids work on the ingestion route, on the OTLP route and for linking with OTel-traced services.
"""

from __future__ import annotations

import hashlib
import random

__all__ = [
    "create_trace_id",
    "is_observation_id",
    "is_trace_id",
    "new_event_id",
    "new_observation_id",
    "new_trace_id",
    "observation_id_from_seed",
]

# random.getrandbits is several times faster than uuid4 or os.urandom, and the random module
# reseeds itself in a forked child, so two processes never share a sequence.
_getrandbits = random.getrandbits
_HEX = frozenset("0123456789abcdef")


def new_trace_id() -> str:
    """Return a fresh random trace id: 32 lowercase hex characters."""
    # to_bytes().hex() is twice as fast as %-formatting a large int.
    return (_getrandbits(128) or 1).to_bytes(16, "big").hex()


def new_observation_id() -> str:
    """Return a fresh random observation id: 16 lowercase hex characters."""
    return (_getrandbits(64) or 1).to_bytes(8, "big").hex()


def new_event_id() -> str:
    """Return a fresh envelope id (32 hex, the form the official SDKs use for envelopes)."""
    return _getrandbits(128).to_bytes(16, "big").hex()


def create_trace_id(seed: str | None = None) -> str:
    """Return a trace id, random or derived from ``seed``.

    With a seed the id is the first 16 bytes of SHA-256 of the seed, as in the official Python
    SDK, so both compute the same id for the same seed.
    """
    if seed is None:
        return new_trace_id()
    digest = hashlib.sha256(seed.encode("utf-8")).digest()[:16].hex()
    return digest if digest.strip("0") else "0" * 31 + "1"


def observation_id_from_seed(seed: str) -> str:
    """Return the deterministic observation id for ``seed`` (first 8 bytes of SHA-256)."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()[:8].hex()
    return digest if digest.strip("0") else "0" * 15 + "1"


def is_trace_id(value: object) -> bool:
    """Tell whether ``value`` is a valid trace id (32 lowercase hex, not all zeros)."""
    return isinstance(value, str) and len(value) == 32 and set(value) <= _HEX and value != "0" * 32


def is_observation_id(value: object) -> bool:
    """Tell whether ``value`` is a valid observation id (16 lowercase hex, not all zeros)."""
    return isinstance(value, str) and len(value) == 16 and set(value) <= _HEX and value != "0" * 16
