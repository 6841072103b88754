"""Scripted failures: what reliability tests make the collector do instead of answering normally.

Faults are per route (``ingestion``, ``otlp``, ``scores``, ``health``, ``read``, or ``any``) and
consumed in the order they were scripted. A request first waits at any matching
:class:`Gate` (a delay the test releases), then takes the first matching response fault (a
canned status/body/headers, or a dropped connection); with none left it is handled normally.
Per-event faults turn chosen events of an otherwise normal 207 into errors.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any, Literal

__all__ = ["CannedResponse", "DropConnection", "EventFault", "Faults", "Gate", "Route"]

Route = Literal["ingestion", "otlp", "scores", "health", "read", "any"]
_ROUTES = frozenset({"ingestion", "otlp", "scores", "health", "read", "any"})
#: What ``route="any"`` covers: the routes that take events. The health and read routes (which
#: clients probe before sending) are faulted only when named, so a scripted fault reaches the
#: request it was meant for.
_WRITE_ROUTES = frozenset({"ingestion", "otlp", "scores"})


def _covers(scripted: str, route: str) -> bool:
    return scripted == route or (scripted == "any" and route in _WRITE_ROUTES)


def _check_route(route: str) -> None:
    if route not in _ROUTES:
        raise ValueError(f"unknown route {route!r}; expected one of {sorted(_ROUTES)}")


def _check_times(times: int | None) -> None:
    if times is not None and times < 1:
        raise ValueError("times must be a positive integer or None (always)")


@dataclasses.dataclass
class _Counted:
    route: str
    remaining: int | None

    def matches(self, route: str) -> bool:
        return _covers(self.route, route) and (self.remaining is None or self.remaining > 0)

    def consume(self) -> None:
        if self.remaining is not None:
            self.remaining -= 1


@dataclasses.dataclass
class CannedResponse(_Counted):
    """A fault that answers with a fixed status, body and headers."""

    status: int = 500
    body: bytes = b""
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class DropConnection(_Counted):
    """A fault that closes the connection without sending a response."""


class Gate:
    """Holds matching requests until the test calls :meth:`release`.

    Attributes:
        route: The route whose requests are held.
        held: How many requests have arrived at the gate so far.
    """

    def __init__(self, route: str, times: int | None) -> None:
        self.route = route
        self._remaining = times
        self._open = asyncio.Event()
        self._arrived = asyncio.Condition()
        self.held = 0

    def _matches(self, route: str) -> bool:
        return _covers(self.route, route) and (self._remaining is None or self._remaining > 0)

    def release(self) -> None:
        """Let every held request (and any later one taken by this gate) proceed."""
        self._open.set()

    @property
    def released(self) -> bool:
        """Whether :meth:`release` was called."""
        return self._open.is_set()

    async def wait_held(self, n: int = 1) -> None:
        """Wait until ``n`` requests have arrived at the gate."""
        async with self._arrived:
            await self._arrived.wait_for(lambda: self.held >= n)

    async def _hold(self) -> None:
        if self._remaining is not None:
            self._remaining -= 1
        async with self._arrived:
            self.held += 1
            self._arrived.notify_all()
        await self._open.wait()


@dataclasses.dataclass
class EventFault:
    """Per-event errors inside a 207 for chosen envelope ids or event types.

    Attributes:
        ids: Envelope ids to fail.
        types: Event types to fail.
        status: The per-event status.
        message: The ``message`` field, or None to omit it (as the server does for 500).
        error: The ``error`` field.
        times: How many times each matching envelope id fails; None for always.
    """

    ids: frozenset[str]
    types: frozenset[str]
    status: int
    message: str | None
    error: Any
    times: int | None
    counts: dict[str, int] = dataclasses.field(default_factory=dict)

    def take(self, envelope_id: str, event_type: str) -> dict[str, Any] | None:
        if envelope_id not in self.ids and event_type not in self.types:
            return None
        used = self.counts.get(envelope_id, 0)
        if self.times is not None and used >= self.times:
            return None
        self.counts[envelope_id] = used + 1
        entry: dict[str, Any] = {"id": envelope_id, "status": self.status}
        if self.message is not None:
            entry["message"] = self.message
        entry["error"] = self.error
        return entry


def _js_date_string(epoch: float) -> str:
    # The server's X-RateLimit-Reset is JavaScript's Date.toString(), not a number.
    t = time.gmtime(epoch)
    return time.strftime("%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", t)


class Faults:
    """The failure script of one collector: everything here is consumed by later requests.

    All methods return immediately; ``times`` counts requests (or, for :meth:`fail_events`,
    occurrences per envelope id) and ``None`` means every matching request from now on.
    ``route="any"`` (the default) means any route that takes events (ingestion, OTLP, scores);
    the health and read routes, which clients probe before sending, are faulted only when
    named (``route="health"``, ``route="read"``).
    """

    def __init__(self) -> None:
        self._responses: list[CannedResponse | DropConnection] = []
        self._gates: list[Gate] = []
        self._event_faults: list[EventFault] = []

    # --- scripting -------------------------------------------------------------------------

    def respond(
        self,
        status: int,
        body: bytes | str | Mapping[str, Any] | list[Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        route: Route = "any",
        times: int | None = 1,
    ) -> CannedResponse:
        """Answer the next ``times`` requests on ``route`` with ``status`` instead of normally.

        Args:
            status: The HTTP status.
            body: Bytes as-is, a string as ``text/plain``, a mapping or list as JSON.
            headers: Extra response headers (a ``Content-Type`` here wins).
            route: Which route's requests to answer.
            times: How many requests; None for all of them.

        Returns:
            The fault, whose ``remaining`` shows how many answers are left.
        """
        _check_route(route)
        _check_times(times)
        all_headers: dict[str, str] = {}
        if isinstance(body, (bytes, bytearray)):
            data = bytes(body)
        elif isinstance(body, str):
            data = body.encode("utf-8")
            all_headers["Content-Type"] = "text/plain; charset=utf-8"
        elif body is None:
            data = b""
        else:
            data = json.dumps(body, separators=(",", ":")).encode("utf-8")
            all_headers["Content-Type"] = "application/json; charset=utf-8"
        all_headers.update(headers or {})
        fault = CannedResponse(route, times, status, data, all_headers)
        self._responses.append(fault)
        return fault

    def rate_limit(
        self, *, retry_after: int = 1, route: Route = "any", times: int | None = 1
    ) -> CannedResponse:
        """Answer 429 like Langfuse Cloud's rate limiter, with ``Retry-After`` in seconds.

        Args:
            retry_after: The ``Retry-After`` seconds (0 lets a client retry at once).
            route: Which route's requests (``"any"``: the routes that take events).
            times: How many requests; None for all of them.
        """
        reset = time.time() + retry_after
        reset_iso = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(reset))
        return self.respond(
            429,
            {
                "message": "Rate limit exceeded",
                "code": "rate_limited",
                "details": {
                    "retryAfterSeconds": retry_after,
                    "limit": 1000,
                    "remaining": 0,
                    "resetAt": reset_iso,
                },
            },
            headers={
                "Retry-After": str(retry_after),
                "X-RateLimit-Limit": "1000",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": _js_date_string(reset),
            },
            route=route,
            times=times,
        )

    def server_error(
        self, *, status: int = 500, route: Route = "any", times: int | None = 1
    ) -> CannedResponse:
        """Answer a 5xx with the body the server sends when its blob storage fails.

        Args:
            status: The 5xx status.
            route: Which route's requests (``"any"``: the routes that take events).
            times: How many requests; None for all of them.
        """
        return self.respond(
            status,
            {
                "message": "Invalid request data",
                "errors": ["Failed to upload events to blob storage, aborting event processing"],
            },
            route=route,
            times=times,
        )

    def unauthorized(self, *, route: Route = "any", times: int | None = 1) -> CannedResponse:
        """Answer 401 as for wrong keys.

        Args:
            route: Which route's requests (``"any"``: the routes that take events).
            times: How many requests; None for all of them.
        """
        body: dict[str, str] = {
            "message": "Invalid credentials. Confirm that you've configured the correct host."
        }
        if route != "otlp":
            body = {"error": "UnauthorizedError", **body}
        return self.respond(401, body, route=route, times=times)

    def payload_too_large(self, *, route: Route = "any", times: int | None = 1) -> CannedResponse:
        """Answer the server's plain-text 413.

        Args:
            route: Which route's requests (``"any"``: the routes that take events).
            times: How many requests; None for all of them.
        """
        return self.respond(413, "Body exceeded 4.5mb limit", route=route, times=times)

    def drop_connection(self, *, route: Route = "any", times: int | None = 1) -> DropConnection:
        """Close the connection of the next ``times`` requests without answering.

        Args:
            route: Which route's requests (``"any"``: the routes that take events).
            times: How many requests; None for all of them.
        """
        _check_route(route)
        _check_times(times)
        fault = DropConnection(route, times)
        self._responses.append(fault)
        return fault

    def delay(self, *, route: Route = "any", times: int | None = 1) -> Gate:
        """Hold the next ``times`` requests on ``route`` until the returned gate is released.

        Held requests are then handled normally (or by a response fault). Closing the
        collector releases every gate.

        Args:
            route: Which route's requests (``"any"``: the routes that take events).
            times: How many requests; None for all of them.

        Returns:
            The gate: ``await gate.wait_held()`` to know a request is held, ``gate.release()``.
        """
        _check_route(route)
        _check_times(times)
        gate = Gate(route, times)
        self._gates.append(gate)
        return gate

    def fail_events(
        self,
        *,
        ids: Iterable[str] = (),
        types: Iterable[str] = (),
        status: int = 400,
        message: str | None = "Invalid request data",
        error: Any = "Scripted failure",
        times: int | None = None,
    ) -> EventFault:
        """Report chosen events as errors inside an otherwise normal 207 (and not store them).

        Args:
            ids: Envelope ids to fail.
            types: Event types to fail, e.g. ``{"generation-create"}``.
            status: The per-event status, e.g. 400 (final) or 500 (retryable).
            message: The entry's ``message``; None omits it, as the server does for 500s.
            error: The entry's ``error``.
            times: How many times each matching envelope id fails; None for always.
        """
        _check_times(times)
        fault = EventFault(frozenset(ids), frozenset(types), status, message, error, times)
        self._event_faults.append(fault)
        return fault

    def clear(self) -> None:
        """Forget every scripted fault and release every gate."""
        self.release_all()
        self._responses.clear()
        self._gates.clear()
        self._event_faults.clear()

    def release_all(self) -> None:
        """Release every gate (held requests proceed)."""
        for gate in self._gates:
            gate.release()

    # --- used by the server ----------------------------------------------------------------

    def _gate_for(self, route: str) -> Gate | None:
        """Take the first gate matching ``route``, if any."""
        for gate in self._gates:
            if gate._matches(route):
                return gate
        return None

    async def _hold(self, route: str) -> None:
        """Wait at the first matching gate, if there is one."""
        gate = self._gate_for(route)
        if gate is not None:
            await gate._hold()

    def _take_response(self, route: str) -> CannedResponse | DropConnection | None:
        """Consume the first response fault matching ``route``, if any."""
        for fault in self._responses:
            if fault.matches(route):
                fault.consume()
                return fault
        return None

    def _event_error(self, envelope_id: str, event_type: str) -> dict[str, Any] | None:
        """The scripted error entry for one event, or None to process it normally."""
        for fault in self._event_faults:
            entry = fault.take(envelope_id, event_type)
            if entry is not None:
                return entry
        return None
