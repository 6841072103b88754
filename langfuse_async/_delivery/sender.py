"""One request for one batch, on either route, turned into an outcome per event.

A :class:`Sender` decides nothing about timing and never changes an item: it reports which
events were delivered, which may be retried (with what the server said, and its
``Retry-After``), and which failed for good. :mod:`.settle` decides what follows; the worker
schedules. :class:`HttpSender` is the one that talks to Langfuse.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import json
import logging
import re
import time
import weakref
import zlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from .._outcomes import Reason
from .._records import ScoreRecord
from .._wire import ingestion as _ingestion, otlp as _otlp
from .._wire.context import WireContext
from . import retry as _retry
from .http import MAX_REPLY_BYTES, HttpClient, HttpError, Response
from .inflight import Item
from .pacing import SLICE_SECONDS
from .routing import Route

__all__ = [
    "Failure",
    "HttpSender",
    "Retry",
    "SendOutcome",
    "Sender",
    "send_ingestion",
    "send_otlp",
]

logger = logging.getLogger("langfuse_async")

INGESTION_PATH = _ingestion.INGESTION_PATH
OTLP_PATH = _otlp.OTLP_TRACES_PATH


@dataclasses.dataclass(frozen=True, slots=True)
class Failure:
    """An event refused for good by this request."""

    item: Item
    reason: Reason
    status: int | None
    message: str
    error: Any = None


@dataclasses.dataclass(frozen=True, slots=True)
class Retry:
    """An event this request did not deliver, that may succeed when sent again."""

    item: Item
    status: int | None
    """The HTTP status that said so; None when there was no reply."""
    message: str
    error: Any = None


@dataclasses.dataclass
class SendOutcome:
    """What became of each event of one request."""

    delivered: Sequence[Item] = dataclasses.field(default_factory=list)
    retry: list[Retry] = dataclasses.field(default_factory=list)
    failed: list[Failure] = dataclasses.field(default_factory=list)
    not_accepted: list[Item] = dataclasses.field(default_factory=list)
    """Events a v4 server refused on the ingestion route because of their type (re-route them)."""
    whole_request: bool = False
    """True when the retries stem from a whole-request failure (pause everything)."""
    retry_after: float | None = None
    split: bool = False
    """413 for a batch of several events: send it again in halves."""
    unauthorized: bool = False
    suspended: str | None = None
    """The server's message when it refused the request because the project's ingestion is
    suspended (Langfuse Cloud's 403 past a usage threshold): not a key problem."""
    redirect: str | None = None
    """The ``Location`` of a 3xx reply (never followed), for the one warning."""
    status: int | None = None
    """The HTTP status of the reply; None when there was none (network failure, timeout)."""
    failure: str | None = None
    """Why there was no reply, for the debug log."""
    not_found: int | None = None
    """404 or 405 for the whole request: most likely a wrong base URL (one warning)."""
    possibly_delivered: bool = False
    """The request was sent and no complete answer came back: the server may have stored its
    events (a timeout after sending, the connection lost mid-reply, a reply that cannot be
    read)."""
    tls: str | None = None
    """Why the server's TLS certificate was refused (final; one warning)."""
    bytes_sent: int = 0


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>|<h1[^>]*>(.*?)</h1>", re.I | re.S)
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def summarize_html(text: str) -> str:
    """One line for an HTML page (a proxy's or a load balancer's error page): its title.

    Such pages are kilobytes of markup; a report or a log line wants what a person would read
    first, not the page.
    """
    head = text[:65_536]
    found = _TITLE.search(head)
    words = (found.group(1) or found.group(2)) if found else head
    words = _SPACE.sub(" ", html.unescape(_TAG.sub(" ", words))).strip()
    return ("HTML page: " + words)[:200] if words else "HTML page"


#: Error replies up to this size are parsed whole for their detail; a larger one (a server or
#: proxy echoing the request) is kept as the head of its text: parsed, it would hold the loop
#: and be held by every report of the batch, tens of times its size, outside the bounds.
_DETAIL_PARSE_LIMIT = 64 * 1024
_DETAIL_TEXT = 2_000
_MESSAGE_KEY = re.compile(r'"(?:message|error)"\s*:\s*("(?:[^"\\]|\\.){0,2000}")')


def _is_html(resp: Response, text: str | None = None) -> bool:
    """Whether the reply is a web page (a proxy's, or a front end's): never Langfuse's JSON."""
    if "html" in resp.headers.get("content-type", ""):
        return True
    if text is None:
        text = resp.body[:64].decode("utf-8", "replace").strip()
    return text[:15].lower().startswith(("<!doctype html", "<html"))


def _describe(resp: Response) -> tuple[str, Any]:
    text = resp.body.decode("utf-8", "replace").strip()
    detail: Any = text
    if _is_html(resp, text):
        return summarize_html(text), text[:_DETAIL_TEXT]
    message = text[:300]
    if "json" in resp.headers.get("content-type", "") or text.startswith("{"):
        if len(text) > _DETAIL_PARSE_LIMIT:
            return _head_message(text) or message, text[:_DETAIL_TEXT]
        try:
            detail = json.loads(text)
            if isinstance(detail, dict):
                message = str(detail.get("message") or detail.get("error") or text)[:300]
        except (ValueError, RecursionError):  # not JSON, or nested deeper than parsers go
            pass
    elif len(text) > _DETAIL_TEXT:
        detail = text[:_DETAIL_TEXT]
    return message or f"HTTP {resp.status}", detail


def _head_message(text: str) -> str | None:
    """The ``message`` (or ``error``) string near the start of a JSON text too large to parse."""
    found = _MESSAGE_KEY.search(text, 0, _DETAIL_PARSE_LIMIT)
    if found is None:
        return None
    try:
        value = json.loads(found.group(1))
    except ValueError:
        return None
    return str(value)[:300] or None


def _whole_request_outcome(
    items: Sequence[Item], resp: Response | None, exc: Exception | None, parts: int = -1
) -> SendOutcome:
    """The outcome of a request whose reply (or failure) concerns all of its events alike.

    ``parts`` is how many of ``items`` have bytes of their own in the body (-1: all of them):
    an OTLP request's trace updates ride on its spans, and a request of one part cannot be
    sent in halves.
    """
    out = SendOutcome(status=None if resp is None else resp.status)
    if resp is None:
        message = str(exc) or type(exc).__name__
        out.failure = message
        if isinstance(exc, HttpError) and exc.final:
            out.tls = message
            out.failed = [Failure(item, "rejected", None, message) for item in items]
            return out
        out.whole_request = True
        out.possibly_delivered = not isinstance(exc, HttpError) or exc.maybe_sent
        out.retry = [Retry(item, None, message) for item in items]
        return out
    if not resp.complete and 200 <= resp.status <= 299:
        return _unreadable(items, resp.status, f"reply longer than {MAX_REPLY_BYTES} bytes")
    action = _retry.classify_status(resp.status)
    if action == "ok" and _is_html(resp):
        return _page_instead_of_reply(items, resp)
    message, detail = _describe(resp)
    if action == "ok":
        out.delivered = items
    elif action == "retry":
        out.whole_request = True
        out.retry = [Retry(item, resp.status, message, detail) for item in items]
        out.retry_after = _retry.parse_retry_after(resp.headers.get("retry-after"), now=time.time())
    elif action == "split":
        if (len(items) if parts < 0 else parts) > 1:
            out.split = True
        else:  # one event (with any trace updates riding on its span): nothing to split
            message = "the server refused the event as too large"
            out.failed = [Failure(item, "rejected", resp.status, message, detail) for item in items]
    elif action == "unauthorized" and _is_suspension(resp.status, message):
        # The keys are right: Langfuse Cloud suspended the project's ingestion (its usage).
        out.suspended = message
        out.failed = [Failure(item, "rejected", resp.status, message, detail) for item in items]
    elif action == "unauthorized":
        out.unauthorized = True
        out.failed = [Failure(item, "unauthorized", resp.status, message, detail) for item in items]
    elif 300 <= resp.status <= 399:
        out.redirect = resp.headers.get("location", "")
        message = (
            f"the server redirected the request to {out.redirect or '(no Location)'}; redirects "
            "are not followed (they drop the request body): set base_url to the final address"
        )
        out.failed = [Failure(item, "rejected", resp.status, message, detail) for item in items]
    else:
        if resp.status in (404, 405):
            out.not_found = resp.status
        out.failed = [Failure(item, "rejected", resp.status, message, detail) for item in items]
    return out


def _page_instead_of_reply(items: Sequence[Item], resp: Response) -> SendOutcome:
    """A success status with a web page: not what either route answers (both answer JSON).

    Most likely the base URL reaches a web front end (a single-page app, a CDN that answers
    every path with its index page) rather than Langfuse; taken for a success, every event
    would count delivered and none be stored. Retried (a proxy's page may pass), then reported.
    """
    page = summarize_html(resp.body.decode("utf-8", "replace").strip())
    return _unreadable(
        items, resp.status, f"{page}; check that base_url is the Langfuse host, not a web front end"
    )


def _is_suspension(status: int, message: str) -> bool:
    """Whether a 403 says the project's ingestion is suspended (not that the keys are wrong)."""
    return status == 403 and message.lower().startswith("ingestion suspended")


def _unreadable(items: Sequence[Item], status: int, why: str) -> SendOutcome:
    """A success status whose reply cannot be read: not a success. Retry, said possibly sent."""
    message = f"HTTP {status} with a reply that cannot be read ({why})"
    return SendOutcome(
        status=status,
        whole_request=True,
        possibly_delivered=True,
        failure=message,
        retry=[Retry(item, status, message) for item in items],
    )


def _default_turn() -> float:
    return SLICE_SECONDS


async def send_ingestion(
    http: HttpClient,
    base_url: str,
    items: Sequence[Item],
    ctx: WireContext,
    turn: Callable[[], float] = _default_turn,
) -> SendOutcome:
    """POST ``items`` (with ``item.ingestion`` encoded) to ``/api/public/ingestion``.

    ``turn`` says how long writing a large body may hold the loop at a time (see :mod:`.pacing`).
    """
    body = _ingestion.build_body([item.ingestion for item in items if item.ingestion], ctx)
    headers = {
        "Content-Type": "application/json",
        "x-langfuse-sdk-name": ctx.sdk_name,
        "x-langfuse-sdk-version": ctx.sdk_version,
        "x-langfuse-public-key": ctx.public_key,
    }
    try:
        resp = await http.request(
            "POST", base_url + INGESTION_PATH, body=body, headers=headers, turn=turn
        )
    except HttpError as exc:
        out = _whole_request_outcome(items, None, exc)
        out.bytes_sent = len(body)
        return out
    if resp.status not in (200, 201, 207) or not resp.complete:
        out = _whole_request_outcome(items, resp, None)
        out.bytes_sent = len(body)
        return out
    out = _ingestion_outcome(items, resp)
    out.bytes_sent = len(body)
    return out


def _ingestion_outcome(items: Sequence[Item], resp: Response) -> SendOutcome:
    """Read a complete 2xx reply of the ingestion route into an outcome per event."""
    try:
        reply = _ingestion.parse_response(resp.body)
    except RecursionError:  # nested deeper than the parser goes: garbage like any other
        reply = None
    if resp.status == 207:
        # The server's own answer lists every event it was sent. One that is not JSON of that
        # shape (a proxy's HTML, a cut body) or names none of ours says nothing about them.
        if reply is None:
            return _unreadable(items, 207, "not the ingestion reply's JSON")
        listed = {s.id for s in reply.successes} | {e.id for e in reply.errors}
        if not any(item.record.event_id in listed for item in items):
            return _unreadable(items, 207, "it lists none of the events sent")
    out = SendOutcome(status=resp.status)
    if reply is None:
        if _is_html(resp):
            return _page_instead_of_reply(items, resp)
        # A 200/201 that is not the 207 shape (an old server): nothing says any event failed.
        out.delivered = items
        return out
    if not reply.errors:  # the common reply: every event accepted, nothing to match
        out.delivered = items
        return out
    delivered: list[Item] = []
    out.delivered = delivered
    errors = {e.id: e for e in reply.errors}
    for item in items:
        err = errors.get(item.record.event_id)
        if err is None:
            # In `successes`, or in neither list (sdk-log): delivered either way.
            delivered.append(item)
            continue
        status = _status(err)
        if not isinstance(item.record, ScoreRecord) and _ingestion.is_not_accepted_error(err):
            out.not_accepted.append(item)
        elif status == 429 or status >= 500:
            out.retry.append(Retry(item, status, err.message or f"status {status}", err.error))
        else:
            out.failed.append(
                Failure(item, "rejected", status, err.message or f"status {status}", err.error)
            )
    return out


def _status(err: _ingestion.IngestionFailure) -> int:
    # An error entry without a status is unexplained; treat it as the server's fault.
    return err.status if err.status is not None else 500


async def send_otlp(
    http: HttpClient,
    base_url: str,
    items: Sequence[Item],
    ctx: WireContext,
    turn: Callable[[], float] = _default_turn,
    *,
    gzip: bool = True,
) -> SendOutcome:
    """POST ``items`` (with ``item.span`` encoded) as one OTLP/JSON export, gzipped.

    The route has no per-span results: a 2xx delivers every span of the request. ``turn``
    says how long compressing may hold the loop at a time (see :mod:`.pacing`). With ``gzip``
    False the body goes uncompressed (``otel_compression="none"``).
    """
    spans = [item.span for item in items if item.span]
    raw = _otlp.build_request(spans, ctx)
    if not gzip:
        body = raw
    elif len(raw) > _GZIP_INLINE:
        body = await _gzip_sliced(raw, turn)
    else:
        body = _otlp.gzip_body(raw)
    headers = _otlp.otlp_headers(ctx, gzip=gzip)
    try:
        resp = await http.request(
            "POST", base_url + OTLP_PATH, body=body, headers=headers, turn=turn
        )
    except HttpError as exc:
        out = _whole_request_outcome(items, None, exc)
    else:
        # Trace updates ride on the spans, so only spans count as parts to split.
        out = _whole_request_outcome(items, resp, None, len(spans))
    out.bytes_sent = len(body)
    return out


#: Bodies up to this size are compressed in one call (well under a millisecond).
_GZIP_INLINE = 128 * 1024
#: Bytes compressed between two looks at the clock: a small fraction of a turn.
_GZIP_CHUNK = 32 * 1024
_perf_counter = time.perf_counter


async def _gzip_sliced(raw: bytes, turn: Callable[[], float] = _default_turn) -> bytes:
    """Gzip ``raw`` on the loop, a slice at a time, yielding to other tasks between slices.

    The same bytes as :func:`~langfuse_async._wire.otlp.gzip_body`. Not a thread: handing a
    thread's result back needs the GIL, which a busy producer holds; measured, a 600 KB body
    then waited over 400 ms, the queue filled and events were dropped. Not anyio's limiter or
    the loop's default executor either: an application whose sync endpoints hold their tokens
    would stall delivery. Each turn compresses for as long as :mod:`.pacing` allows (``turn``)
    and then lets the other tasks run: measured by the clock, not by a byte count, since gzip
    runs 5-10 times faster on repetitive spans than on varied text.

    One body at a time per loop: requests in flight that each compressed a slice per loop turn
    would add their slices up into one long turn (the loop's stall), for no gain, since they
    share one core.
    """
    loop = asyncio.get_running_loop()
    gate = _GZIP_GATES.get(loop)
    if gate is None:
        gate = _GZIP_GATES[loop] = _Gate()
    gate.users += 1
    try:
        async with gate.lock:
            compressor = zlib.compressobj(_otlp.GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: gzip
            view = memoryview(raw)
            parts = []
            start, end = 0, len(view)
            turn_end = _perf_counter() + turn()
            while start < end:
                parts.append(compressor.compress(view[start : start + _GZIP_CHUNK]))
                start += _GZIP_CHUNK
                if start < end and _perf_counter() >= turn_end:
                    await asyncio.sleep(0)
                    turn_end = _perf_counter() + turn()
            parts.append(compressor.flush())
    finally:
        gate.users -= 1
        if not gate.users and _GZIP_GATES.get(loop) is gate:
            # A lock that was waited on holds its loop: kept, it would keep every loop that
            # ever compressed two bodies at once (successive asyncio.run() calls, a sync
            # program's loops) alive for good. Nothing uses it now; the next body makes one.
            del _GZIP_GATES[loop]
    return b"".join(parts)


class _Gate:
    """One compression at a time on one loop, and how many compressions use or wait for it."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


#: The gate of each loop with a compression under way or waiting (see :func:`_gzip_sliced`).
_GZIP_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Gate] = (
    weakref.WeakKeyDictionary()
)


class Sender(Protocol):
    """Sends one batch on one route; the worker's only way to the server."""

    async def send(self, batch: Sequence[Item], route: Route) -> SendOutcome:
        """POST ``batch`` on ``route`` and say what became of each event.

        It raises for nothing the server or the network does (those are outcomes) and never
        changes an item; an exception is a bug, which the worker treats as a failed attempt.

        Args:
            batch: Prepared items, their bytes for ``route`` cached on them.
            route: ``"ingestion"`` or ``"otlp"``.
        """
        ...


class HttpSender:
    """The :class:`Sender` that talks to Langfuse over HTTP."""

    def __init__(
        self,
        http: HttpClient,
        *,
        base_url: str,
        ctx: WireContext,
        turn: Callable[[], float] | None = None,
        otlp_gzip: bool = True,
    ) -> None:
        self._http = http
        self._base_url = base_url
        self._ctx = ctx
        self._turn = turn or _default_turn
        self._otlp_gzip = otlp_gzip

    def __repr__(self) -> str:
        return f"<HttpSender {self._base_url}>"

    async def send(self, batch: Sequence[Item], route: Route) -> SendOutcome:
        """POST ``batch`` to the ingestion or the OTLP route."""
        if route == "ingestion":
            return await send_ingestion(self._http, self._base_url, batch, self._ctx, self._turn)
        return await send_otlp(
            self._http, self._base_url, batch, self._ctx, self._turn, gzip=self._otlp_gzip
        )
