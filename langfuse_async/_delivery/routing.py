"""Which route traces and observations take: a pure decision from the server's answers."""

from __future__ import annotations

import json
import re
from typing import Literal

__all__ = ["Route", "choose_route", "parse_health_version"]

Route = Literal["ingestion", "otlp"]

_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)")


def parse_health_version(body: bytes) -> tuple[int, int] | None:
    """Read ``(major, minor)`` from a ``/api/public/health`` reply, or None."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        return None
    version = data.get("version") if isinstance(data, dict) else None
    if not isinstance(version, str):
        return None
    match = _VERSION_RE.match(version.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def choose_route(
    *, health_status: int | None, health_body: bytes, traces_probe_status: int | None
) -> Route | None:
    """Decide the route from the two unauthenticated probes, or None when they say nothing.

    - ``GET /api/public/traces`` answers 404 before auth only in v4 ``events_only`` mode, where
      the ingestion route refuses traces and observations: OTLP.
    - A health version of 4 or more is a v4 server (``events_only`` by default): OTLP.
    - A v3 health version: the ingestion route takes everything, as it always did.
    - Anything else (no answer, a proxy page): undecided; the caller starts on the ingestion
      route and switches when the server rejects an event type as not accepted.

    The traces probe is trusted only when the health probe answered like Langfuse: a wrong base
    URL answers 404 to everything, which must not read as "v4 server".
    """
    version = parse_health_version(health_body) if health_status == 200 else None
    if version is None:
        return None
    if traces_probe_status == 404 or version[0] >= 4:
        return "otlp"
    return "ingestion"
