"""The composition root: the ``Langfuse`` client joins the producer and the consumer sides.

It builds the :class:`~langfuse_async._config.Config`, the delivery
:class:`~langfuse_async._delivery.pipeline.Pipeline` and the tracer, and joins them: the tracer
emits into the pipeline through the :class:`~langfuse_async._records.Sink` protocol.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from ssl import SSLContext
from types import TracebackType
from typing import Any, Literal, cast

import msgspec

from ._config import (
    DEFAULT_BACKOFF_BASE,
    DEFAULT_BACKOFF_MAX,
    DEFAULT_EXIT_TIMEOUT,
    DEFAULT_MAX_CONCURRENT_REQUESTS,
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_QUEUE_BYTES,
    DEFAULT_MAX_QUEUE_SIZE,
    DEFAULT_SHUTDOWN_TIMEOUT,
    MAX_BATCH_BYTES_LIMIT,
    Config,
    QueueFull,
    TransportMode,
    refuse_unsupported,
    resolve_config,
)
from ._delivery.pipeline import Pipeline
from ._delivery.runtime import in_running_asyncio_loop
from ._outcomes import EventError, FlushResult, Statistics
from ._records import Sink
from ._tracing import (
    NULL_SINK,
    Tracer,
    client_closed,
    get_client as _get_client,
    register_client,
    set_client_factory,
)

__all__ = ["Langfuse", "get_client"]

logger = logging.getLogger("langfuse_async")


class Langfuse(Tracer):
    """An asyncio-native Langfuse client.

    Events (observations, trace updates, scores) are recorded without blocking or raising, queued
    in memory, and sent by a background task on the running event loop (or, where none runs, on
    a background thread with a loop of its own: sync code, threads, trio): batches under
    ``max_batch_bytes``, retried with backoff, each event ending delivered or reported once to
    ``on_error``. Use it as ``async with Langfuse() as langfuse:`` or call :meth:`shutdown`
    (:meth:`shutdown_sync` from sync code).

    Args:
        public_key: Project public key; default ``LANGFUSE_PUBLIC_KEY``. Surrounding whitespace
            is stripped (a key read from a file often ends with a newline); whitespace or a
            control character inside it is a ``ValueError``.
        secret_key: Project secret key; default ``LANGFUSE_SECRET_KEY``; stripped the same way.
            Never logged, never in a repr.
        base_url: Server URL, ``http://`` or ``https://``, optionally with a path prefix; no
            credentials, query or fragment. Default ``LANGFUSE_BASE_URL``, then ``host``, then
            ``LANGFUSE_HOST``, then ``https://cloud.langfuse.com`` (the official SDK's order).
        host: The official SDK's older name for ``base_url`` (deprecated there too).
        flush_at: Send when this many events wait (``LANGFUSE_FLUSH_AT``, default 100). A
            backlog is cut into requests by bytes (up to ``max_batch_bytes``), not by count.
        flush_interval: Send when the oldest event has waited this many seconds
            (``LANGFUSE_FLUSH_INTERVAL``, default 1.0).
        max_batch_bytes: Largest request body in bytes (at most 3,500,000, the server's documented
            limit).
        max_concurrent_requests: Most requests in flight at once (default 4, at most 64); their
            outcomes are settled in the order they were sent.
        max_event_bytes: Largest single event; larger ones have their biggest payload truncated,
            then are dropped as ``"oversize"``.
        max_queue_size: Most events waiting in the queue; beyond it ``queue_full`` applies.
            The worker holds at most as many again while it sends and retries.
        max_queue_bytes: Most estimated bytes waiting in the queue (default 64 MiB); the same
            bound applies to what the worker holds.
        queue_full: ``"drop_new"`` (refuse the new event) or ``"drop_oldest"`` (evict the oldest).
        max_retries: Re-sends after a retryable failure (``LANGFUSE_MAX_RETRIES``, default 3).
        timeout: Seconds per HTTP request (``LANGFUSE_TIMEOUT``, default 5).
        on_error: Called once, from a background task, for every event that will not be
            delivered; sync or async; its exceptions are logged and ignored. A sync callback
            runs on the event loop (keep it quick); an async one may take up to ``timeout``
            seconds per report without holding up sending. Events it produces that are
            dropped on the spot are counted, not reported back to it.
        tracing_enabled: False makes every call a cheap no-op (``LANGFUSE_TRACING_ENABLED``).
            An explicit value wins over the variable.
        enabled: The same option under this library's earlier name; pass one of the two.
        debug: Log at DEBUG level (``LANGFUSE_DEBUG``).
        transport: ``"auto"`` (default), ``"ingestion"`` or ``"otlp"`` (``LANGFUSE_TRANSPORT``):
            the route for traces and observations; scores always use the ingestion route.
        sample_rate: Fraction of traces kept, 0..1 (``LANGFUSE_SAMPLE_RATE``).
        environment: Tracing environment (``LANGFUSE_TRACING_ENVIRONMENT``).
        release: Release of your application (``LANGFUSE_RELEASE``, then the commit variable
            of a CI or hosting platform such as ``GITHUB_SHA``, as the official SDK does).
        mask: Applied to input, output and metadata before they are encoded:
            ``mask(*, data, **kwargs)`` as in the official SDK, or a function of one value.
        additional_headers: Extra HTTP headers sent on every request (a gateway's API key, a
            tenant id...). Names must be valid and may not be ones the client sets itself
            (``Authorization``, ``Content-Type``...); values are never logged.
        ssl: TLS verification for https: True (default) uses the system's CAs; an
            ``ssl.SSLContext`` (e.g. ``ssl.create_default_context(cafile="ca.pem")``) for a
            private CA; False turns verification off and logs one WARNING.
        proxy: An explicit ``http://[user:password@]host:port`` proxy for every request.
        trust_env: Without ``proxy``, honour ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` as
            the official SDK does (default True).
        media_upload_thread_count: Accepted for code written for the official SDK; this client
            uploads no media, so it has no effect.
        otel_compression: ``"gzip"`` (the default) or ``"none"``: how OTLP request bodies
            are sent. Without it, ``LANGFUSE_OTEL_COMPRESSION``, then
            ``OTEL_EXPORTER_OTLP_TRACES_COMPRESSION`` and ``OTEL_EXPORTER_OTLP_COMPRESSION``
            (a value other than gzip or none there is passed over), then gzip. ``"none"``
            is for a server older than 3.30, which does not inflate OTLP bodies, or a proxy
            that mangles gzip.
        backoff_base: First retry delay ceiling in seconds (full jitter, doubling).
        backoff_max: Largest retry delay in seconds (``Retry-After`` may ask for more).
        exit_timeout: Seconds the interpreter-exit hook may spend sending what is left.
        shutdown_timeout: What :meth:`shutdown` allows when called without a timeout, and so
            what leaving ``async with`` allows (default 30 s); None waits until done.
        tracer_provider: An OpenTelemetry SDK ``TracerProvider``: as in the official SDK, the
            client adds its span processor to it
            (:class:`langfuse_async.opentelemetry.LangfuseSpanProcessor`, which needs the
            ``opentelemetry`` extra), so the spans of instrumentations bound to it become
            observations of this client. This client records nothing through OpenTelemetry
            itself: a provider passed only to keep Langfuse apart from another tool's is
            left with nothing to do but that.
        should_export_span: With ``tracer_provider``: which of its spans become observations
            (default: Langfuse's, ``gen_ai.*`` ones and known LLM instrumentations').
        mask_otel_spans: With ``tracer_provider``: patches its spans' attributes before they
            are read (the official signature).
        httpx_client: Not supported (this client has its own HTTP session): use ``timeout``,
            ``additional_headers``, ``ssl`` and ``proxy``. So are ``span_exporter``,
            ``id_generator`` and ``skills``: each raises a ``TypeError`` saying what to use
            instead.

    Raises:
        ValueError: An option, or the environment variable it came from, is invalid.
        TypeError: An official SDK keyword that cannot apply here was given a value.
    """

    def __init__(
        self,
        public_key: str | None = None,
        secret_key: str | None = None,
        base_url: str | None = None,
        *,
        host: str | None = None,
        flush_at: int | None = None,
        flush_interval: float | None = None,
        max_batch_bytes: int = MAX_BATCH_BYTES_LIMIT,
        max_concurrent_requests: int = DEFAULT_MAX_CONCURRENT_REQUESTS,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE,
        max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES,
        queue_full: QueueFull = "drop_new",
        max_retries: int | None = None,
        timeout: float | None = None,
        on_error: Callable[[EventError], Any] | None = None,
        tracing_enabled: bool | None = None,
        enabled: bool | None = None,
        debug: bool | None = None,
        transport: TransportMode | None = None,
        sample_rate: float | None = None,
        environment: str | None = None,
        release: str | None = None,
        mask: Callable[..., Any] | None = None,
        additional_headers: Mapping[str, str] | None = None,
        ssl: SSLContext | bool | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        media_upload_thread_count: int | None = None,
        otel_compression: Literal["gzip", "none"] | None = None,
        backoff_base: float = DEFAULT_BACKOFF_BASE,
        backoff_max: float = DEFAULT_BACKOFF_MAX,
        exit_timeout: float = DEFAULT_EXIT_TIMEOUT,
        shutdown_timeout: float | None = DEFAULT_SHUTDOWN_TIMEOUT,
        tracer_provider: Any = None,
        should_export_span: Callable[[Any], bool] | None = None,
        mask_otel_spans: Callable[..., Any] | None = None,
        httpx_client: None = None,
        span_exporter: None = None,
        id_generator: None = None,
        skills: None = None,
    ) -> None:
        refuse_unsupported(
            httpx_client=httpx_client,
            span_exporter=span_exporter,
            id_generator=id_generator,
            skills=skills,
        )
        if tracer_provider is None and (
            should_export_span is not None or mask_otel_spans is not None
        ):
            raise TypeError(
                "Langfuse() takes should_export_span= and mask_otel_spans= with tracer_provider=: "
                "they choose and mask the spans of that OpenTelemetry provider (this client "
                "records nothing through OpenTelemetry by itself)"
            )
        if tracer_provider is not None and not callable(
            getattr(tracer_provider, "add_span_processor", None)
        ):
            raise TypeError(
                "tracer_provider must be an OpenTelemetry SDK TracerProvider "
                "(opentelemetry.sdk.trace.TracerProvider), with add_span_processor()"
            )
        if on_error is not None and not callable(on_error):
            raise ValueError("on_error must be a callable taking an EventError")
        self._config: Config = resolve_config(
            public_key=public_key,
            secret_key=secret_key,
            base_url=base_url,
            host=host,
            flush_at=flush_at,
            flush_interval=flush_interval,
            max_batch_bytes=max_batch_bytes,
            max_concurrent_requests=max_concurrent_requests,
            max_event_bytes=max_event_bytes,
            max_queue_size=max_queue_size,
            max_queue_bytes=max_queue_bytes,
            queue_full=queue_full,
            max_retries=max_retries,
            timeout=timeout,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            exit_timeout=exit_timeout,
            shutdown_timeout=shutdown_timeout,
            enabled=enabled,
            tracing_enabled=tracing_enabled,
            debug=debug,
            transport=transport,
            sample_rate=sample_rate,
            environment=environment,
            release=release,
            mask=mask,
            additional_headers=additional_headers,
            ssl=ssl,
            proxy=proxy,
            trust_env=trust_env,
            media_upload_thread_count=media_upload_thread_count,
            otel_compression=otel_compression,
        )
        if self._config.ssl is False:
            logger.warning(
                "TLS certificate verification is off (ssl=False): anyone on the path to %s "
                "can read and change what is sent; pass an ssl.SSLContext that trusts your "
                "server's CA instead",
                self._config.base_url,
            )
        if self._config.debug:
            _enable_debug_logging()
        self._pipeline: Pipeline | None = None
        sink: Sink = NULL_SINK
        if self._config.enabled:
            self._pipeline = Pipeline(self._config, on_error)
            self._pipeline.before_close = self._end_open_observations
            self._pipeline.has_open = self._has_open_observations
            sink = _PipelineSink(self._pipeline)
        elif self._config.disabled_reason == "missing keys":
            logger.warning(
                "Langfuse client built without a public/secret key (LANGFUSE_PUBLIC_KEY, "
                "LANGFUSE_SECRET_KEY): it records nothing; a client built later with keys "
                "takes over get_client() and @observe"
            )
        super().__init__(self._config, sink)
        self._project_id: str | None = None
        register_client(self)
        if tracer_provider is not None and self._config.enabled:
            # As the official client: its span processor on the provider given, so the spans
            # of instrumentations bound to that provider become observations of this client.
            # Once per provider and key: a client built again must not record spans twice.
            from .opentelemetry import _attach_processor

            _attach_processor(
                tracer_provider,
                public_key=self._config.public_key,
                should_export_span=should_export_span,
                mask_otel_spans=mask_otel_spans,
            )

    def __repr__(self) -> str:
        state = (
            "disabled"
            if self._pipeline is None
            else ("closed" if self._pipeline.closed else "open")
        )
        return (
            f"<Langfuse {state} base_url={self._config.base_url!r} "
            f"public_key={self._config.public_key!r} transport={self._config.transport!r}>"
        )

    async def flush(self, timeout: float | None = None) -> FlushResult:
        """Send every event enqueued before this call and wait for its outcome.

        Works under asyncio and under trio (or any library anyio supports), where the wait
        goes through the client's background delivery thread.

        Args:
            timeout: Seconds to wait at most; None waits until done.

        Returns:
            Whether every such event reached a final outcome, and how many are still pending.
        """
        if self._pipeline is None:
            return FlushResult(completed=True, pending=0)
        if not in_running_asyncio_loop():
            return await self._pipeline.flush_elsewhere(timeout)
        return await self._pipeline.flush(timeout)

    def flush_sync(self, timeout: float | None = None) -> FlushResult:
        """Blocking :meth:`flush`, for code without an event loop (a script, a Celery task).

        The official SDK's ``langfuse.flush()``. Delivery runs on the client's background
        thread; this call waits for it.

        Args:
            timeout: Seconds to wait at most; None waits until done.

        Returns:
            As :meth:`flush`.

        Raises:
            RuntimeError: Called from a thread that runs an asyncio event loop, which it would
                block: use ``await langfuse.flush()`` there.
        """
        if self._pipeline is None:
            return FlushResult(completed=True, pending=0)
        _refuse_on_loop("flush_sync", "flush")
        return self._pipeline.flush_sync(timeout)

    async def shutdown(self, timeout: float | None = None) -> FlushResult:
        """Flush, stop the worker and close the HTTP session. Idempotent.

        Events still pending when the timeout runs out, and events produced afterwards, are
        reported to ``on_error`` with reason ``"shutdown"``. Handing those last reports to a
        slow async ``on_error`` may take up to a second beyond the timeout. Cancelling the
        caller stops its wait, not the shutdown, which finishes in the background.

        Args:
            timeout: Seconds to allow; None uses the client's ``shutdown_timeout`` (30 s by
                default, itself None for no bound).

        Returns:
            Whether every event settled, and how many were given up on (``pending``).
        """
        if self._pipeline is None:
            return FlushResult(completed=True, pending=0)
        if timeout is None:
            timeout = self._config.shutdown_timeout
        if not in_running_asyncio_loop():
            result = await self._pipeline.shutdown_elsewhere(timeout)
        else:
            result = await self._pipeline.shutdown(timeout)
        client_closed(self)
        return result

    def shutdown_sync(self, timeout: float | None = None) -> FlushResult:
        """Blocking :meth:`shutdown`, for code without an event loop (the official ``shutdown()``).

        Stops the client's background delivery thread. Idempotent.

        Args:
            timeout: Seconds to allow; None uses the client's ``shutdown_timeout``.

        Returns:
            As :meth:`shutdown`.

        Raises:
            RuntimeError: Called from a thread that runs an asyncio event loop, which it would
                block: use ``await langfuse.shutdown()`` there.
        """
        if self._pipeline is None:
            return FlushResult(completed=True, pending=0)
        _refuse_on_loop("shutdown_sync", "shutdown")
        if timeout is None:
            timeout = self._config.shutdown_timeout
        result = self._pipeline.shutdown_sync(timeout)
        client_closed(self)
        return result

    async def auth_check(self) -> bool:
        """Check the keys against the server (``GET /api/public/projects``), as 5.x does.

        Meant for start-up and diagnostics, not for every request.

        Returns:
            True when the server accepts the keys and names a project; False otherwise
            (rejected keys, no reply, a disabled client), with the reason logged at WARNING.
        """
        return await self._project() is not None

    async def get_trace_url(self, *, trace_id: str | None = None) -> str | None:
        """Return the URL of a trace in the Langfuse UI, as the official SDK builds it.

        ``{base_url}/project/{project_id}/traces/{trace_id}``; the project id is asked of the
        server once (``GET /api/public/projects``). The embedded collector's web view serves
        the same path.

        Args:
            trace_id: The trace; the current one when omitted.

        Returns:
            The URL, or None without a trace id or when the project is unknown (logged).
        """
        trace_id = trace_id or self.get_current_trace_id()
        if not trace_id:
            return None
        project_id = await self._project()
        if project_id is None:
            return None
        return f"{self._config.base_url.rstrip('/')}/project/{project_id}/traces/{trace_id}"

    async def _project(self) -> str | None:
        """The id of the keys' project, asked of the server once; None (logged) if unknown."""
        if self._project_id is not None:
            return self._project_id
        if self._pipeline is None:
            logger.warning("auth check: the client is disabled (%s)", self._config.disabled_reason)
            return None
        reply = await self._pipeline.api_get("/api/public/projects")
        if reply is None:
            logger.warning("auth check failed: no reply from %s", self._config.base_url)
            return None
        status, body = reply
        if status in (401, 403):
            logger.warning("auth check failed: the server rejected the keys (HTTP %d)", status)
            return None
        if status != 200:
            logger.warning("auth check failed: HTTP %d from %s", status, self._config.base_url)
            return None
        try:
            data = msgspec.json.decode(body, type=_Projects).data
        except msgspec.DecodeError:
            logger.warning("auth check failed: the server's reply is not a project list")
            return None
        if not data:
            logger.warning("auth check failed: no project found for the keys")
            return None
        self._project_id = data[0].id
        return self._project_id

    def statistics(self) -> Statistics:
        """Return a frozen snapshot of the client's counters."""
        if self._pipeline is None:
            return Statistics(transport="disabled")
        return self._pipeline.statistics()

    async def __aenter__(self) -> Langfuse:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()


class _Project(msgspec.Struct):
    id: str


class _Projects(msgspec.Struct):
    data: list[_Project]


class _PipelineSink:
    """The delivery pipeline as the tracer's :class:`~langfuse_async._records.Sink`."""

    __slots__ = ("_pipeline", "emit")

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        # The pipeline's own bound method: a record reaches the queue with no frame in between.
        self.emit = pipeline.emit

    def count_sampled_out(self) -> None:
        # Looked up per call: a forked child rebuilds the pipeline's ledger.
        self._pipeline._ledger.count_sampled_out()


def _refuse_on_loop(name: str, instead: str) -> None:
    if in_running_asyncio_loop():
        raise RuntimeError(
            f"{name}() would block the running event loop; use `await langfuse.{instead}()`"
        )


def _enable_debug_logging() -> None:
    log = logging.getLogger("langfuse_async")
    log.setLevel(logging.DEBUG)
    # A handler of our own only where the application configured none: with one, our records
    # already reach it, and a second handler would print every line twice.
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        log.addHandler(handler)


def _disabled_client() -> Langfuse:
    # Built from no environment at all, so that it cannot fail on the variables that just did.
    client = Langfuse.__new__(Langfuse)
    client._pipeline = None
    Tracer.__init__(client, resolve_config(enabled=False, environ={}), NULL_SINK)
    return client


def get_client(*, public_key: str | None = None) -> Langfuse:
    """Return the client built last, or build one from the ``LANGFUSE_*`` environment.

    Never raises: when no client exists and none can be built (no keys, an invalid variable),
    it returns a disabled client whose every call is a no-op, and logs why once.

    Args:
        public_key: Return the client built last with this public key instead.
    """
    return cast(Langfuse, _get_client(public_key=public_key))


set_client_factory(Langfuse, disabled=_disabled_client)
