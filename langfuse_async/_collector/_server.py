"""The :class:`Collector`: a local Langfuse-compatible server, started and stopped in-process."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import os
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Final, Literal, TypeVar

from aiohttp import web

from ._dispatch import build_app
from ._faults import Faults, Route
from ._hosts import is_loopback
from ._http import SERVER_VERSIONS, AppState, Work
from ._keys import DEFAULT_PUBLIC_KEY, DEFAULT_SECRET_KEY
from ._model import Observation, RecordedRequest, Score, Trace
from ._otlp_checks import warm_up
from ._store import Store
from ._store_async import AsyncStore
from ._web import WebView, install_web_view

__all__ = ["Collector", "Mode", "is_loopback"]

logger = logging.getLogger("langfuse_async")

Mode = Literal["v3", "v4"]
#: The request log keeps at most this many requests (the oldest go first).
MAX_LOGGED_REQUESTS: Final = 10_000
#: ... and at most this many body bytes (older bodies are dropped first).
MAX_LOGGED_BODY_BYTES: Final = 64 * 1024 * 1024

T = TypeVar("T")


async def _wait(
    condition: asyncio.Condition, predicate: Callable[[], bool], timeout: float
) -> bool:
    async def run() -> None:
        async with condition:
            await condition.wait_for(predicate)

    try:
        await asyncio.wait_for(run(), timeout)
    except asyncio.TimeoutError:
        return False
    return True


def _ready() -> bool:
    # Run in the store's process once it opened the database: unpickling it imports this
    # module, and with it every module whose functions the routes run there (reads, writes,
    # the web view), before the first request rather than on it.
    return True


class Collector:
    """A Langfuse-compatible collector running in this process, on loopback by default.

    It answers ``POST /api/public/ingestion``, ``POST /api/public/otel/v1/traces`` (JSON and
    gzip; protobuf with the ``protobuf`` extra), ``POST /api/public/scores`` (one score or an
    array), the health and probe routes and the public reads (traces, observations v1 and v2,
    scores v1 to v3, sessions, projects) with the real server's statuses and bodies, and
    stores what it accepts in SQLite. The README lists the routes and the differences.

    Example::

        async with Collector() as collector:
            ...  # point a client at collector.url
            await collector.wait_for_events(3)
            [trace] = await collector.traces()

    Args:
        db_path: The SQLite file; None keeps everything in memory.
        public_key: The project's public key.
        secret_key: The project's secret key.
        mode: ``"v3"`` (all event types accepted) or ``"v4"`` (``events_only``: only
            ``score-create``/``sdk-log`` on the ingestion route, legacy reads answer 404).
        host: The address to bind.
        port: The port to bind; 0 picks a free one (see :attr:`url`).
        allow_remote: Allow binding a non-loopback address (logs a warning).
        work_processes: Worker processes that parse, convert and validate request bodies
            (0, the default: one thread of this process). ``langfuse-async serve`` uses one,
            so that this work runs beside the event loop instead of taking turns with it.
            With any, the store (SQLite and the merging of entities) runs in a process of
            its own too, for the same reason; both end with the collector.
        track_events: Keep the id of every accepted event, for :attr:`event_count` and
            :meth:`wait_for_events` (what tests wait on). A server that runs for days
            (``langfuse-async serve``) passes False: the ids would grow its memory by about
            130 bytes an event, without bound, and nothing there reads them.

    Raises:
        ValueError: For an unknown mode, or a non-loopback host without ``allow_remote``.
    """

    def __init__(
        self,
        *,
        db_path: str | os.PathLike[str] | None = None,
        public_key: str = DEFAULT_PUBLIC_KEY,
        secret_key: str = DEFAULT_SECRET_KEY,
        mode: Mode = "v3",
        host: str = "127.0.0.1",
        port: int = 0,
        allow_remote: bool = False,
        work_processes: int = 0,
        track_events: bool = True,
    ) -> None:
        if mode not in SERVER_VERSIONS:
            raise ValueError(f"mode must be 'v3' or 'v4', not {mode!r}")
        if not public_key or not secret_key:
            raise ValueError("public_key and secret_key must be non-empty")
        if not is_loopback(host) and not allow_remote:
            raise ValueError(
                f"refusing to bind {host!r}: the collector is a development server and binds "
                "loopback only unless allow_remote=True (CLI: --allow-remote)"
            )
        self.db_path = ":memory:" if db_path is None else os.fspath(db_path)
        self.public_key = public_key
        self._secret_key = secret_key
        self.mode: Mode = mode
        self.host = host
        self._requested_port = port
        if work_processes < 0:
            raise ValueError(f"work_processes must be 0 or more, not {work_processes!r}")
        self._work_processes = work_processes
        self.faults = Faults()
        self._requests: collections.deque[RecordedRequest] = collections.deque()
        self._request_counts: collections.Counter[str] = collections.Counter()
        self._kept_body_bytes = 0
        self._oldest_body = 0  # index of the oldest request still holding its body
        self._accepted: set[str] = set()
        self._track_events = track_events
        self._changed = asyncio.Condition()
        self._store: AsyncStore | None = None
        self._work: Work | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    def __repr__(self) -> str:
        state = f"listening on {self.url}" if self._port is not None else "stopped"
        events = f" | events {len(self._accepted)}" if self._track_events else ""
        return (
            f"<Collector [{state} | mode {self.mode} | requests {self._request_counts['any']}"
            f"{events}]>"
        )

    @property
    def secret_key(self) -> str:
        """The project's secret key (kept out of the repr)."""
        return self._secret_key

    @property
    def port(self) -> int:
        """The bound port."""
        if self._port is None:
            raise RuntimeError("the collector is not running")
        return self._port

    @property
    def url(self) -> str:
        """The base URL to give a client, e.g. ``http://127.0.0.1:54321``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def version(self) -> str:
        """The server version the health route reports for this mode."""
        return SERVER_VERSIONS[self.mode]

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the database and start listening."""
        if self._runner is not None:
            raise RuntimeError("the collector is already running")
        if not is_loopback(self.host):
            logger.warning(
                "collector: binding %s, reachable from other machines; it is a development "
                "server with a single key pair, not for production use",
                self.host,
            )
        # With worker processes (what `serve` runs), the store has a process of its own too:
        # its SQLite work and merging then never hold the event loop's GIL. At the server's
        # own priority, unlike the work processes: every export's answer waits for a queue
        # slot and every read for the store (lowered, it lost a third to a half of the
        # throughput of four exporters at once whenever other processes kept the cores busy).
        store = AsyncStore(self.db_path, process=self._work_processes > 0, warm_up=_ready)
        work = Work(processes=self._work_processes)
        # Side by side: each spawns a process that imports the package (half a second).
        try:
            started = await asyncio.gather(
                store.open(), work.start(warm_up), return_exceptions=True
            )
            failures = [result for result in started if isinstance(result, BaseException)]
            if failures:
                raise failures[0]
        except BaseException:
            work.close()
            await store.close()  # stops the store's thread (and process), if they started
            raise
        state = AppState(
            work=work,
            store=store,
            faults=self.faults,
            public_key=self.public_key,
            secret_key=self._secret_key,
            mode=self.mode,
            on_request=self._record,
            on_accepted=self._accept,
        )
        # Bodies stay as sent: the ingestion route must not understand gzip, and the OTLP
        # route gunzips by itself, as the server does.
        app = build_app(state)
        loopback = is_loopback(self.host)
        view = WebView(store, self.mode, self.version, loopback, self.public_key, self._secret_key)
        install_web_view(app, view)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0, auto_decompress=False)
        try:
            await runner.setup()
            site = web.TCPSite(runner, self.host, self._requested_port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            await store.close()
            work.close()
            raise
        self._store = store
        self._work = work
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        logger.info(
            "collector: listening on %s (mode %s, db %s)", self.url, self.mode, self.db_path
        )

    async def aclose(self) -> None:
        """Stop listening (held requests are released first) and close the database."""
        self.faults.release_all()
        runner, store = self._runner, self._store
        self._runner = None
        self._port = None
        if runner is not None:
            await runner.cleanup()
        if store is not None:
            self._store = None
            await store.close()
        if self._work is not None:
            self._work.close()
            self._work = None

    async def __aenter__(self) -> Collector:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- bookkeeping used by the handlers --------------------------------------------------

    async def _record(self, request: RecordedRequest) -> None:
        async with self._changed:
            self._log(request)
            self._changed.notify_all()

    def _log(self, request: RecordedRequest) -> None:
        # The log is bounded: bodies past MAX_LOGGED_BODY_BYTES are dropped oldest first (the
        # request stays, marked), entries past MAX_LOGGED_REQUESTS go entirely. Counts stay
        # exact, so waiting for the n-th request works however long the collector runs.
        requests = self._requests
        requests.append(request)
        self._request_counts["any"] += 1
        self._request_counts[request.route] += 1
        self._kept_body_bytes += len(request.body)
        while len(requests) > MAX_LOGGED_REQUESTS:
            dropped = requests.popleft()
            self._kept_body_bytes -= len(dropped.body)
            self._oldest_body = max(self._oldest_body - 1, 0)
        while self._kept_body_bytes > MAX_LOGGED_BODY_BYTES and self._oldest_body < len(requests):
            old = requests[self._oldest_body]
            if old.body:
                self._kept_body_bytes -= len(old.body)
                requests[self._oldest_body] = dataclasses.replace(old, body=b"", body_dropped=True)
            self._oldest_body += 1

    async def _accept(self, keys: list[str]) -> None:
        if not self._track_events:
            return
        async with self._changed:
            self._accepted.update(keys)
            self._changed.notify_all()

    # --- what arrived ----------------------------------------------------------------------

    @property
    def requests(self) -> tuple[RecordedRequest, ...]:
        """The requests received so far, in arrival order.

        The log is bounded: it keeps the latest :data:`MAX_LOGGED_REQUESTS` requests, and the
        bodies of the latest ones within :data:`MAX_LOGGED_BODY_BYTES` (older ones read
        ``body=b""`` with ``body_dropped=True``).
        """
        return tuple(self._requests)

    def requests_to(self, route: Route) -> tuple[RecordedRequest, ...]:
        """The requests received on one route, in arrival order.

        Args:
            route: ``ingestion``, ``otlp``, ``scores``, ``health``, ``read``, or ``any`` for all.
        """
        return tuple(r for r in self._requests if route in ("any", r.route))

    @property
    def event_count(self) -> int:
        """Distinct events accepted: ingestion envelopes and scores answered 201, OTLP spans.

        Raises:
            RuntimeError: The collector was made with ``track_events=False``.
        """
        self._check_tracking()
        return len(self._accepted)

    def _check_tracking(self) -> None:
        if not self._track_events:
            raise RuntimeError("this collector does not track accepted events (track_events=False)")

    async def wait_for_events(self, n: int, *, timeout: float = 10.0) -> None:
        """Wait until at least ``n`` distinct events were accepted.

        A retried batch does not count twice: envelopes are counted by id, OTLP spans by
        ``(traceId, spanId)``.

        Args:
            n: How many distinct events to wait for.
            timeout: Seconds to wait at most.

        Raises:
            TimeoutError: Fewer than ``n`` arrived within ``timeout`` seconds.
            RuntimeError: The collector was made with ``track_events=False``.
        """
        self._check_tracking()
        if not await _wait(self._changed, lambda: len(self._accepted) >= n, timeout):
            raise TimeoutError(
                f"expected {n} accepted events within {timeout}s, got {len(self._accepted)}"
            )

    async def wait_for_requests(
        self, n: int, *, route: Route = "any", timeout: float = 10.0
    ) -> tuple[RecordedRequest, ...]:
        """Wait until at least ``n`` requests arrived on ``route`` and return them all.

        Args:
            n: How many requests to wait for.
            route: Which route's requests count (see :meth:`requests_to`).
            timeout: Seconds to wait at most.

        Raises:
            TimeoutError: Fewer than ``n`` arrived within ``timeout`` seconds.
            RuntimeError: The collector was made with ``track_events=False``.
        """
        self._check_tracking()
        if not await _wait(self._changed, lambda: self._request_counts[route] >= n, timeout):
            raise TimeoutError(
                f"expected {n} requests on route {route!r} within {timeout}s, "
                f"got {self._request_counts[route]}"
            )
        return self.requests_to(route)

    async def _query(self, fn: Callable[[AsyncStore], Awaitable[T]]) -> T:
        if self._store is None:
            raise RuntimeError("the collector is not running")
        return await fn(self._store)

    async def traces(
        self,
        *,
        name: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
    ) -> list[Trace]:
        """Stored traces matching the filters, newest first.

        Args:
            name: Only traces with this name.
            user_id: Only traces of this user.
            session_id: Only traces of this session.
        """
        docs = await self._query(
            lambda s: s.run(Store.traces, name=name, user_id=user_id, session_id=session_id)
        )
        return [Trace.from_doc(doc) for doc in docs]

    async def trace(self, trace_id: str) -> Trace | None:
        """One stored trace, or None.

        Args:
            trace_id: The trace's id.
        """
        docs = await self._query(lambda s: s.run(Store.traces, trace_id=trace_id))
        return Trace.from_doc(docs[0]) if docs else None

    async def observations(
        self,
        *,
        trace_id: str | None = None,
        type: str | None = None,
        name: str | None = None,
    ) -> list[Observation]:
        """Stored observations matching the filters, by start time.

        Args:
            trace_id: Only observations of this trace.
            type: Only this type, in the server's spelling (``SPAN``, ``GENERATION``...).
            name: Only observations with this name.
        """
        docs = await self._query(
            lambda s: s.run(Store.observations, trace_id=trace_id, type=type, name=name)
        )
        return [Observation.from_doc(doc) for doc in docs]

    async def scores(
        self,
        *,
        trace_id: str | None = None,
        name: str | None = None,
        observation_id: str | None = None,
    ) -> list[Score]:
        """Stored scores matching the filters, by timestamp.

        Args:
            trace_id: Only scores of this trace.
            name: Only scores with this name.
            observation_id: Only scores of this observation.
        """
        docs = await self._query(
            lambda s: s.run(
                Store.scores, trace_id=trace_id, name=name, observation_id=observation_id
            )
        )
        return [Score.from_doc(doc) for doc in docs]
