"""OpenTelemetry bridge: spans of any OpenTelemetry instrumentation become observations.

Add :class:`LangfuseSpanProcessor` to a ``TracerProvider`` (or let
:func:`setup_tracer_provider` make one): every span it exports becomes an observation with the
span's ids, parent and times, mapped the way the Langfuse server maps OTLP spans (type, model,
usage, input and output from ``gen_ai.*``, OpenInference and ``langfuse.*`` attributes), and is
delivered by this library's pipeline on whichever route the client uses.

Context flows both ways while a processor exists:

* an OpenTelemetry span started inside an observation (``@observe``, a ``with`` block) is
  that observation's child in the same trace;
* an observation started inside an active OpenTelemetry span is that span's child in the same
  trace.

By default only Langfuse's spans, spans with ``gen_ai.*`` attributes and spans of known LLM
instrumentations are exported (``should_export_span`` changes that); children of a span that is
not exported hang below its nearest exported ancestor. ``mask_otel_spans`` patches attributes
before they are read, with the official SDK's signature; the client's ``mask`` also applies to
input, output and metadata.

Needs the ``opentelemetry`` extra: ``pip install "langfuse-async[opentelemetry]"``.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

try:
    from opentelemetry import trace as trace_api
    from opentelemetry.context import Context
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
    from opentelemetry.trace import (
        SpanContext,
        StatusCode,
        format_span_id,
        format_trace_id,
    )
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "langfuse_async.opentelemetry needs the OpenTelemetry SDK: "
        'pip install "langfuse-async[opentelemetry]"'
    ) from exc

from ._clock import now_ns
from ._integrations.otel_export import (
    KNOWN_LLM_INSTRUMENTATION_SCOPE_PREFIXES,
    MaskOtelSpansFunction,
    MaskOtelSpansParams,
    MaskOtelSpansResult,
    OtelSpanData,
    OtelSpanIdentifier,
    OtelSpanPatch,
    is_default_export_span,
    is_genai_span,
    is_known_llm_instrumentor,
    is_langfuse_span,
    masked,
)
from ._integrations.otel_mapping import MappedSpan, map_span
from ._log import log_once
from ._tracing.joins import set_external_parent
from ._tracing.observations import Observation, current_observation, start
from ._tracing.registry import get_client
from ._tracing.tracer import Tracer

__all__ = [
    "KNOWN_LLM_INSTRUMENTATION_SCOPE_PREFIXES",
    "LangfuseSpanProcessor",
    "MaskOtelSpansFunction",
    "MaskOtelSpansParams",
    "MaskOtelSpansResult",
    "OtelSpanData",
    "OtelSpanIdentifier",
    "OtelSpanPatch",
    "is_default_export_span",
    "is_genai_span",
    "is_known_llm_instrumentor",
    "is_langfuse_span",
    "setup_tracer_provider",
]

# ----------------------------------------------------------------------------- context


@dataclass(frozen=True)
class _Anchor:
    """Where a span hangs in Langfuse: its trace, the parent id, and whether we deliver it."""

    trace_id: str
    parent_id: str | None
    ours: bool
    """The parent is delivered by this library (an observation or an exported span)."""


@dataclass(frozen=True)
class _Started:
    start_ns: int
    """When the span started, on this package's clock (to compare with observations)."""
    exported: bool
    """Whether it is expected to be exported (the filter, as the span started)."""
    anchor: _Anchor
    """Where the span hangs; its children hang below it if exported, else below this."""


# Spans started (and not yet ended) under a bridge processor, by span id. Shared by all
# processors: the context hook of observations consults it.
_open: OrderedDict[int, _Started] = OrderedDict()
# At most this many: a span dropped without end() (the SDK frees it) is forgotten once this many
# newer ones started; ending it later still records it, placed as it is.
_OPEN_REMEMBERED = 100_000
_open_lock = threading.Lock()
# Remembered briefly after they end, so a child started after its parent ended still finds
# where to hang (fire-and-forget tasks).
_ENDED_REMEMBERED = 10_000
_ended: OrderedDict[int, _Started] = OrderedDict()


# How many processors are active: the context hook is installed while there is one.
_processors = [0]


def _lookup(span_id: int) -> _Started | None:
    found = _open.get(span_id)
    return found if found is not None else _ended.get(span_id)


def _external_parent(parent: Observation | None) -> tuple[str, str, bool] | None:
    """The context hook: an OpenTelemetry span current and newer than ``parent`` wins."""
    try:
        if parent is not None and parent is not current_observation():
            return None  # a parent chosen explicitly (``handle.start_observation``) stays
        ctx = trace_api.get_current_span().get_span_context()
        if not ctx.is_valid:
            return None
        started = _lookup(ctx.span_id)
        if parent is not None and (started is None or started.start_ns <= parent.start_ns):
            return None  # the observation was entered inside the span: it is the parent
        trace_id = format_trace_id(ctx.trace_id)
        if started is None:
            return trace_id, format_span_id(ctx.span_id), True
        if started.exported:
            return trace_id, format_span_id(ctx.span_id), False
        anchor = started.anchor
        if parent is not None and anchor.parent_id == parent.id:
            return None  # below undelivered spans inside ``parent``: keep the parent
        if anchor.parent_id is None:
            # No delivered span above: the local root of the span's trace.
            return trace_id, format_span_id(ctx.span_id), True
        # Below the nearest delivered ancestor of the undelivered span.
        return anchor.trace_id, anchor.parent_id, not anchor.ours
    except Exception:
        return None


def _anchor(span: ReadableSpan, obs: Observation | None) -> _Anchor:
    """Where a span hangs, moving it below ``obs`` (the current observation) when newer.

    The observation is the parent when it started after the span's OpenTelemetry parent, or
    when the span has no parent. A parent this bridge did not see start (another service's,
    extracted from headers) yields only to an observation of the same trace: one that joined
    it. A span in another trace was linked there on purpose.
    """
    ctx = span.get_span_context()
    assert ctx is not None
    parent_ctx = span.parent
    parent_started = _lookup(parent_ctx.span_id) if parent_ctx is not None else None
    if obs is not None and isinstance(span, Span):
        if parent_ctx is None or (
            parent_started.start_ns < obs.start_ns
            if parent_started is not None
            else format_trace_id(parent_ctx.trace_id) == obs.trace_id
        ):
            _reparent(span, obs)
            return _Anchor(obs.trace_id, obs.id, True)
    trace_id = format_trace_id(ctx.trace_id)
    if parent_ctx is None:
        return _Anchor(trace_id, None, False)
    if parent_started is None:
        return _Anchor(trace_id, format_span_id(parent_ctx.span_id), False)
    if parent_started.exported:
        return _Anchor(trace_id, format_span_id(parent_ctx.span_id), True)
    return parent_started.anchor


def _reparent(span: Span, obs: Observation) -> None:
    """Make ``span`` a child of ``obs`` in OpenTelemetry too (its context, its parent).

    The SDK decided the span's trace and parent before the processor saw it; its context
    holds no other state, so both are replaced before anyone reads them (children, exporters
    and propagators all read ``get_span_context()``).
    """
    old = span.get_span_context()
    trace_id = int(obs.trace_id, 16)
    span._context = SpanContext(
        trace_id,
        old.span_id,
        is_remote=False,
        trace_flags=old.trace_flags,
        trace_state=old.trace_state,
    )
    span._parent = SpanContext(
        trace_id, int(obs.id, 16), is_remote=False, trace_flags=old.trace_flags
    )


# ----------------------------------------------------------------------------- recording


def _record(client: Tracer, span: ReadableSpan, anchor: _Anchor, mapped: MappedSpan) -> None:
    """Record one ended span as an observation with the span's ids and times.

    The one place that reaches into the tracer: the public API starts observations now, with
    new ids; this one needs the span's.
    """
    ctx = span.get_span_context()
    assert ctx is not None
    trace_context = {"trace_id": anchor.trace_id}
    if anchor.parent_id is not None:
        trace_context["parent_span_id"] = anchor.parent_id
    obs = start(client._recorder, None, trace_context, mapped.name, mapped.as_type)
    if not obs._recording:
        obs.end()  # sampled out or disabled: counted as such, nothing recorded
        return
    obs.id = format_span_id(ctx.span_id)
    obs.start_ns = span.start_time or now_ns()
    if anchor.ours and obs._extra is not None:
        obs._extra.pop("remote_parent", None)  # its parent is delivered too
    obs.update(**mapped.fields)
    if mapped.trace:
        obs.update_trace(**mapped.trace)
    obs.end(span.end_time or now_ns())


def _status(span: ReadableSpan) -> tuple[bool, str | None]:
    """Whether the span failed, and why (its status, else its exception event)."""
    status = span.status
    if status.status_code is not StatusCode.ERROR:
        return False, None
    if status.description:
        return True, status.description
    for event in span.events:
        if event.name == "exception" and event.attributes:
            message = event.attributes.get("exception.message")
            kind = event.attributes.get("exception.type")
            if message or kind:
                return True, str(message or kind)
    return True, None


class LangfuseSpanProcessor(SpanProcessor):
    """Turns the spans of a ``TracerProvider`` into observations of a Langfuse client.

    Spans are recorded when they end, into the client ``get_client()`` returns (or the one
    built with ``public_key``), which delivers them with its own batching and retries: await
    the client's ``flush()`` to send them. ``force_flush`` and ``shutdown`` do nothing, since
    nothing is held here.
    """

    def __init__(
        self,
        *,
        public_key: str | None = None,
        should_export_span: Callable[[ReadableSpan], bool] | None = None,
        mask_otel_spans: MaskOtelSpansFunction | None = None,
    ) -> None:
        """Create a processor; it also links OpenTelemetry's context with observations.

        Args:
            public_key: Record into the client built with this public key (default: the one
                ``get_client()`` returns).
            should_export_span: Which spans become observations (default
                :func:`is_default_export_span`). A filter that raises drops the span.
            mask_otel_spans: Patches span attributes before they are read (the official
                SDK's ``mask_otel_spans`` signature). A mask that raises drops the span.
        """
        self._public_key = public_key
        self._should_export = should_export_span or is_default_export_span
        self._mask = mask_otel_spans
        self._active = True
        with _open_lock:
            _processors[0] += 1
            set_external_parent(_external_parent)

    def _client(self) -> Tracer:
        return get_client(public_key=self._public_key)

    def _wanted(self, span: ReadableSpan) -> bool:
        try:
            return bool(self._should_export(span))
        except Exception:
            log_once(
                logging.WARNING,
                "otel.filter",
                "should_export_span raised; the span %r is not exported",
                span.name,
                exc_info=True,
            )
            return False

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Place the span (below the current observation if newer than its parent)."""
        try:
            anchor = _anchor(span, current_observation())
            started = _Started(now_ns(), self._wanted(span), anchor)
            with _open_lock:
                _open[span.get_span_context().span_id] = started
                if len(_open) > _OPEN_REMEMBERED:
                    _open.popitem(last=False)
        except Exception:
            log_once(logging.WARNING, "otel.start", "could not place a span", exc_info=True)

    def on_end(self, span: ReadableSpan) -> None:
        """Record the span as an observation if it is exported."""
        ctx = span.get_span_context()
        if ctx is None:
            return
        with _open_lock:
            started = _open.pop(ctx.span_id, None)
            if started is not None:
                _ended[ctx.span_id] = started
                if len(_ended) > _ENDED_REMEMBERED:
                    _ended.popitem(last=False)
        try:
            if not self._wanted(span):
                return
            # A span that started before this processor existed is placed as it is.
            anchor = started.anchor if started is not None else _anchor(span, None)
            attributes = dict(span.attributes or {})
            if self._mask is not None:
                try:
                    attributes = masked(self._mask, span, attributes)
                except Exception:
                    log_once(
                        logging.WARNING,
                        "otel.mask",
                        "mask_otel_spans raised; the span %r is not exported",
                        span.name,
                        exc_info=True,
                    )
                    return
            is_error, message = _status(span)
            scope = span.instrumentation_scope
            mapped = map_span(
                name=span.name,
                attributes=attributes,
                is_error=is_error,
                status_message=message,
                scope_name=scope.name if scope else None,
                scope_version=(scope.version or None) if scope else None,
                scope_attributes=(scope.attributes or {}) if scope else None,
                resource=span.resource.attributes,
                events=[(event.name, event.attributes or {}) for event in span.events],
                start_ns=span.start_time,
            )
            _record(self._client(), span, anchor, mapped)
        except Exception:
            log_once(logging.WARNING, "otel.end", "could not record a span", exc_info=True)

    def shutdown(self) -> None:
        """Stop linking observations with OpenTelemetry's context (once no processor is left).

        Spans were handed to the client as they ended; nothing else is held.
        """
        with _open_lock:
            if self._active:
                self._active = False
                _processors[0] -= 1
                if _processors[0] == 0:
                    set_external_parent(None)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered here; ``await`` the client's ``flush()`` to deliver."""
        return True


#: The processor added to each provider by this package, per public key (see
#: :func:`_attach_processor`).
_attached: weakref.WeakKeyDictionary[Any, dict[str | None, LangfuseSpanProcessor]] = (
    weakref.WeakKeyDictionary()
)
_attach_lock = threading.Lock()


def _attach_processor(
    provider: Any,
    *,
    public_key: str | None,
    should_export_span: Callable[[ReadableSpan], bool] | None,
    mask_otel_spans: MaskOtelSpansFunction | None,
) -> LangfuseSpanProcessor:
    """Add a :class:`LangfuseSpanProcessor` to ``provider``, once per public key.

    A service that builds its client again with the same provider (on a reload, or per test)
    must not add a second processor: each would record every span, so each observation would
    be sent twice. The processor already there takes the newest options instead (it records
    into the newest client of its key anyway, as ``get_client`` returns that one).
    """
    with _attach_lock:
        try:
            by_key = _attached.setdefault(provider, {})
        except TypeError:  # a provider that takes no weak reference: added each time
            by_key = {}
        existing = by_key.get(public_key)
        if existing is not None and existing._active:
            existing._should_export = should_export_span or is_default_export_span
            existing._mask = mask_otel_spans
            return existing
        processor = LangfuseSpanProcessor(
            public_key=public_key,
            should_export_span=should_export_span,
            mask_otel_spans=mask_otel_spans,
        )
        provider.add_span_processor(processor)
        by_key[public_key] = processor
        return processor


def setup_tracer_provider(
    *,
    public_key: str | None = None,
    should_export_span: Callable[[ReadableSpan], bool] | None = None,
    mask_otel_spans: MaskOtelSpansFunction | None = None,
    resource: Resource | None = None,
    set_global: bool = True,
) -> TracerProvider:
    """Return a ``TracerProvider`` whose spans become observations.

    When the global provider already is an SDK ``TracerProvider``, the processor is added to it
    and it is returned (instrumentations already bound to it keep working); otherwise a new one
    is made and, with ``set_global``, installed as the global provider.

    Args:
        public_key: Record into the client built with this public key.
        should_export_span: Which spans become observations (see
            :class:`LangfuseSpanProcessor`).
        mask_otel_spans: Patches span attributes before they are read.
        resource: The resource of a new provider.
        set_global: Install a new provider as OpenTelemetry's global one.

    Returns:
        The provider.
    """
    current = trace_api.get_tracer_provider()
    provider = (
        current
        if set_global and isinstance(current, TracerProvider)
        else (TracerProvider(resource=resource) if resource else TracerProvider())
    )
    _attach_processor(
        provider,
        public_key=public_key,
        should_export_span=should_export_span,
        mask_otel_spans=mask_otel_spans,
    )
    if provider is current:
        return provider
    if set_global:
        trace_api.set_tracer_provider(provider)
    return provider


# Show the public path in reprs and tracebacks, not the private module the names live in.
for _public in (
    MaskOtelSpansParams,
    MaskOtelSpansResult,
    OtelSpanData,
    OtelSpanIdentifier,
    OtelSpanPatch,
    is_default_export_span,
    is_genai_span,
    is_known_llm_instrumentor,
    is_langfuse_span,
):
    _public.__module__ = __name__
del _public
