"""Which route traces and observations take: probe the server, decide from its answers.

The decision itself (:func:`choose_route`) is pure; :func:`probe_route` asks the server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Literal

from .._records import Record, ScoreRecord
from .http import HttpClient, HttpError

__all__ = ["Route", "choose_route", "destination", "parse_health_version", "probe_route"]

logger = logging.getLogger("langfuse_async")

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


def destination(record: Record, route: Route | None) -> Route:
    """The route ``record`` takes: scores always go to the ingestion route."""
    if isinstance(record, ScoreRecord):
        return "ingestion"
    return route or "ingestion"


async def probe_route(http: HttpClient, base_url: str) -> tuple[Route, str]:
    """Ask the server which route to take; return it and why, for the log.

    Two unauthenticated GETs, each bounded by the HTTP timeout itself. No cancel scope around
    them: one expiring together with aiohttp's own timeout can leak its cancellation into the
    calling task and end it. Inconclusive answers give the ingestion route: a rejection "not
    accepted" switches to OTLP later.
    """

    async def get(path: str) -> tuple[int | None, bytes]:
        try:
            resp = await http.request("GET", base_url + path, authenticated=False)
        except HttpError:
            return None, b""
        return resp.status, resp.body

    (hs, hb), (ts, _) = await asyncio.gather(
        get("/api/public/health"), get("/api/public/traces?limit=1")
    )
    logger.debug(
        "route probes: GET /api/public/health -> %s %r; GET /api/public/traces -> %s",
        hs if hs is not None else "no answer",
        hb[:200],
        ts if ts is not None else "no answer",
    )
    route = choose_route(health_status=hs, health_body=hb, traces_probe_status=ts)
    if route is not None:
        return route, _describe_probes(hs, hb, ts)
    return "ingestion", "the probes were inconclusive; switching if refused"


def _describe_probes(
    health_status: int | None, health_body: bytes, traces_status: int | None
) -> str:
    version = parse_health_version(health_body) if health_status == 200 else None
    health = f"health says {version[0]}.{version[1]}" if version else f"health {health_status}"
    return f"{health}; /api/public/traces answered {traces_status}"
