"""A parsed OTLP protobuf export straight to the rows the store writes, in one pass per span.

The general path turns an export into OTLP/JSON-shaped dicts, converts those into ingestion
events, validates each, then merges and encodes them (:func:`._prepare.prepare_write`). Here
each span is read from the message once and becomes its stored event row and its document
directly, by the converter's own rules (its helpers, on the same values), with only the checks
that can fail for what it built. The attributes the official SDKs set are read inline; a span
with others goes through the converter's helpers, and a span or trace body that is not plainly
valid through validation itself.

Whatever this path is not sure to store exactly as the general path (a missing or long id, a
span id seen twice, an event validation refuses, no span at all) makes :func:`prepare_fast`
return None, and the general path takes the whole export.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Final

from ._fast_rows import (
    Rows,
    normalized_environment,
    observation_rows,
    plain_generation_fields,
    plain_trace_body,
    span_rows,
    trace_rows,
)
from ._otlp import (
    _GENERATION_BODY_TYPES,
    _KNOWN_TYPES,
    _NAME_KEYS,
    _NAME_KEYSET,
    _TRACE_UPDATE_KEYS,
    _combine_trace_bodies,
    _Converter,
    _envelope_ids,
    _environment,
    _first,
    _generation_fields,
    _io,
    _js_string,
    _json_object,
    _level,
    _metadata,
    _metadata_value,
    _observation_type,
    _span_events,
    span_io,
)
from ._otlp_inline import (
    OBSERVATION_METADATA,
    TRACE_PART_KEYS,
    Scope,
    metadata_keys,
    trace_fields,
)
from ._otlp_proto import plain_attributes
from ._prepare import PreparedRow, PreparedWrite
from ._validate import (
    LEVELS,
    ValidationFailure,
    format_epoch_ms,
    timestamp_ms,
    validate_event,
)

__all__ = ["prepare_fast"]

logger = logging.getLogger("langfuse_async")

_LEVEL_SET: Final = frozenset(LEVELS)
_ERROR_STATUS: Final = {"code": 2}
_NO_STATUS: Final[dict[str, Any]] = {}
#: The most a hex id may be: validation takes ids of up to 800 characters.
_MAX_ID_BYTES: Final = 400


class _Unsupported(Exception):
    """The export holds something this path does not handle: the general path takes it."""


def _time(nanos: int | None, now: str) -> str:
    return now if nanos is None else format_epoch_ms(nanos // 1_000_000)


class _Export:
    """One export's rows, built span by span in the converter's order."""

    def __init__(self, mode: str, now_ms: float, new_id: Callable[[], str]) -> None:
        self.mode = mode
        # The converter keeps the traces' parts and draws the envelope ids, as it does on the
        # general path, so both number and merge them alike.
        self.converter = _Converter(mode, now_ms, new_id)
        self.now = self.converter.now
        self.ts_ms = timestamp_ms(self.now)
        #: In event order: an observation's row and document row, or a trace id and the
        #: envelope id of its trace-create (built once every span is read).
        self.slots: list[tuple[PreparedRow, tuple[Any, ...]] | tuple[str, str, str]] = []
        self.span_ids: set[str] = set()
        #: Per trace, what its last part folded in was read from (None: a root's, or one
        #: read by the converter's helpers), see :meth:`span`.
        self.last_parts: dict[str, tuple[Any, ...] | None] = {}
        self.keys: list[str] = []

    def run(self, request: Any) -> tuple[PreparedWrite, list[str]]:
        for resource_entry in request.resource_spans:
            resource = plain_attributes(resource_entry.resource.attributes)
            for scope_entry in resource_entry.scope_spans:
                raw_scope = scope_entry.scope
                scope = Scope(
                    resource,
                    {
                        "name": raw_scope.name or None,
                        "version": raw_scope.version or None,
                        "attributes": plain_attributes(raw_scope.attributes),
                    },
                )
                for span in scope_entry.spans:
                    self.span(span, scope)
        if not self.keys:
            raise _Unsupported("no spans")
        return self.finish(), self.keys

    def span(self, span: Any, context: Scope) -> None:
        trace_bytes: bytes = span.trace_id
        span_bytes: bytes = span.span_id
        if not (0 < len(trace_bytes) <= _MAX_ID_BYTES and 0 < len(span_bytes) <= _MAX_ID_BYTES):
            raise _Unsupported("an id is missing or too long")
        trace_id = trace_bytes.hex()
        span_id = span_bytes.hex()
        if span_id in self.span_ids:
            raise _Unsupported("a span id seen twice")
        self.span_ids.add(span_id)
        self.keys.append(f"otlp:{trace_id}:{span_id}")
        converter = self.converter
        mode = self.mode
        resource = context.resource
        attrs = plain_attributes(span.attributes)
        parent = span.parent_span_id.hex() or None
        is_root = (
            parent is None
            or _js_string(attrs.get("langfuse.internal.as_root")) == "true"
            or (mode == "v4" and attrs.get("langfuse.internal.is_app_root") in (True, "true"))
        )
        start_ns: int | None = span.start_time_unix_nano or None
        end_ns: int | None = span.end_time_unix_nano or None
        start_ns = start_ns if start_ns is not None else end_ns
        end_ns = end_ns if end_ns is not None else start_ns
        start = _time(start_ns, self.now)
        end = _time(end_ns, self.now)
        status = span.status
        inline_keys = metadata_keys(attrs) if context.inline else None
        kind: str | None = None
        if inline_keys is not None:
            # Only the official SDKs' attributes: each field is its one attribute.
            declared = attrs.get("langfuse.observation.type")
            if type(declared) is str and not context.corrected:
                kind = _KNOWN_TYPES.get(declared.lower())
            environment = attrs.get("langfuse.environment")
            if environment in (None, ""):
                environment = context.environment
            version = attrs.get("langfuse.version") or context.version
            own_in = attrs.get("langfuse.observation.input")
            own_out = attrs.get("langfuse.observation.output")
            if own_in is None and own_out is None and span.events:
                # No input or output of its own: the server reads GenAI message events next.
                observation_input, observation_output = span_io(
                    attrs,
                    [(event.name, plain_attributes(event.attributes)) for event in span.events],
                    context.scope["name"],
                )
            else:
                # Its own, even empty: the server keeps any value but null.
                observation_input, observation_output = _io(own_in), _io(own_out)
            metadata: dict[str, Any] = {}
            whole = _json_object(attrs.get("langfuse.observation.metadata"))
            if whole:
                metadata.update(whole)
            for key in inline_keys:
                metadata[key[len(OBSERVATION_METADATA) :]] = _metadata_value(
                    attrs[key], context.encoded
                )
            metadata["resourceAttributes"] = resource
            metadata["scope"] = context.scope
            name = span.name or None
        else:
            environment = _environment(attrs, resource)
            version = attrs.get("langfuse.version") or context.version
            observation_input, observation_output = span_io(
                attrs,
                [(event.name, plain_attributes(event.attributes)) for event in span.events],
                context.scope["name"],
            )
            metadata = _metadata(attrs, resource, context.scope)
            name = (
                None if attrs.keys().isdisjoint(_NAME_KEYSET) else _first(attrs, _NAME_KEYS)
            ) or (span.name or None)
        if kind is None:
            kind = _observation_type(
                attrs, resource, context.scope["name"], context.scope["version"]
            )
        if span.events:
            events = _span_events(
                [
                    {
                        "name": event.name or None,
                        "timeUnixNano": event.time_unix_nano,
                        "attributes": plain_attributes(event.attributes),
                    }
                    for event in span.events
                ]
            )
            if events:
                # The collector keeps span events under metadata "events" (see _otlp).
                metadata["events"] = events
        level = _level(attrs, _ERROR_STATUS if status.code == 2 else _NO_STATUS, mode)
        status_message = attrs.get("langfuse.observation.status_message") or status.message or None
        envelope_id = converter.new_id()
        plain = (
            type(level) is str
            and level in _LEVEL_SET
            and (status_message is None or type(status_message) is str)
            and (version is None or type(version) is str)
            and (name is None or type(name) is str)
        )
        generation = kind in _GENERATION_BODY_TYPES
        if plain and not generation:
            # Plainly valid: validation would keep it as it is, its environment normalised.
            self.slots.append(
                span_rows(
                    (span_id, trace_id, parent, name, start, end),
                    (observation_input, observation_output, metadata),
                    (level, status_message, version, environment),
                    kind,
                    (envelope_id, self.now, self.ts_ms),
                )
            )
        else:
            body: dict[str, Any] = {"id": span_id, "traceId": trace_id}
            fields: tuple[tuple[str, Any], ...] = (
                ("parentObservationId", parent),
                ("name", name),
                ("startTime", start),
                ("input", observation_input),
                ("output", observation_output),
                ("metadata", metadata),
                ("level", level),
                ("statusMessage", status_message),
                ("version", version),
                ("environment", environment),
            )
            for key, field in fields:
                if field is not None:
                    body[key] = field
            if kind != "EVENT":
                body["endTime"] = end
            if generation:
                _generation_fields(body, attrs, kind, context.scope["name"])
            event = {
                "id": envelope_id,
                "type": f"{kind.lower()}-create",
                "timestamp": self.now,
                "body": body,
            }
            if plain and plain_generation_fields(body):
                body["environment"] = normalized_environment(environment)
            else:
                event = self.validated(event)
            self.slots.append(observation_rows(event, kind, self.ts_ms))

        converter.first_seen.setdefault(trace_id, (start, environment))
        # Trace-level attributes may sit on any span.
        signature: tuple[Any, ...] | None = None
        if inline_keys is not None:
            if not is_root:
                if attrs.keys().isdisjoint(_TRACE_UPDATE_KEYS):
                    return
                # A trace's spans mostly repeat its attributes: folding in the same part as
                # the last one folded into this trace changes nothing, so it is skipped.
                signature = (context, environment, version, *map(attrs.get, TRACE_PART_KEYS))
                if self.last_parts.get(trace_id) == signature:
                    return
            trace_body = trace_fields(attrs, context, environment, version, mode)
        else:
            if not is_root and not converter.has_trace_keys(attrs):
                return
            trace_body = converter.trace_fields(attrs, resource, context.encoded, environment)
        if is_root:
            trace_body.setdefault("name", name)  # the root observation's (see _otlp)
            trace_metadata = dict(trace_body.get("metadata") or {})
            trace_metadata.update(metadata)
            trace_body["metadata"] = trace_metadata
            if parent is None or mode == "v3":
                trace_body.setdefault("input", observation_input)
                trace_body.setdefault("output", observation_output)
            trace_body["timestamp"] = start
        trace_body["id"] = trace_id
        trace_body = {key: value for key, value in trace_body.items() if value is not None}
        earlier = converter.trace_bodies.get(trace_id)
        if earlier is None:
            converter.trace_bodies[trace_id] = trace_body
            self.slots.append(("trace", trace_id, converter.new_id()))
        else:
            _combine_trace_bodies(earlier, trace_body)
        self.last_parts[trace_id] = signature

    @staticmethod
    def validated(event: dict[str, Any]) -> dict[str, Any]:
        try:
            return validate_event(event)
        except ValidationFailure:
            # The general path drops (and logs) such an event: it decides.
            raise _Unsupported("an event validation refuses") from None

    def finish(self) -> PreparedWrite:
        converter = self.converter
        rows: list[PreparedRow] = []
        docs: dict[tuple[str, str], tuple[Any, ...]] = {}
        for slot in self.slots:
            if len(slot) == 3:
                _, trace_id, envelope_id = slot
                row, doc_row = self.trace_rows(
                    converter.trace_bodies[trace_id], envelope_id, placeholder=False
                )
            else:
                row, doc_row = slot
            rows.append(row)
            docs[(row[0], row[1])] = doc_row
        # A trace no span described gets a placeholder, after every span (as the converter).
        for trace_id, (start, environment) in converter.first_seen.items():
            if trace_id not in converter.trace_bodies:
                body = {"id": trace_id, "timestamp": start}
                if environment is not None:
                    body["environment"] = environment
                row, doc_row = self.trace_rows(body, converter.new_id(), placeholder=True)
                rows.append(row)
                docs[(row[0], row[1])] = doc_row
        return PreparedWrite(rows, docs)

    def trace_rows(self, body: dict[str, Any], envelope_id: str, *, placeholder: bool) -> Rows:
        event: dict[str, Any] = {
            "id": envelope_id,
            "type": "trace-create",
            "timestamp": self.now,
            "body": body,
        }
        if plain_trace_body(body):
            kept = dict(body)
            kept["environment"] = normalized_environment(body.get("environment"))
            event["body"] = kept
        else:
            event = self.validated(event)
        if placeholder:
            event["placeholder"] = True
        return trace_rows(event, self.ts_ms, placeholder)


def prepare_fast(
    request: Any,
    *,
    mode: str,
    now_ms: float | None = None,
    new_id: Callable[[], str] | None = None,
) -> tuple[PreparedWrite, list[str]] | None:
    """Prepare a parsed export for the store exactly as the general path would, or None.

    Args:
        request: A parsed ``ExportTraceServiceRequest`` (:func:`._otlp_proto.parse_protobuf`).
        mode: ``"v3"`` or ``"v4"``, as for :func:`._otlp.convert_export`.
        now_ms: The envelope time in epoch milliseconds (defaults to now).
        new_id: Envelope id factory (defaults to the converter's).

    Returns:
        What the general path would store for this export and the accepted event key of each
        span; None when this path steps aside (the general path then takes the export, and
        gives every answer that refuses it).
    """
    export = _Export(
        mode, time.time() * 1000 if now_ms is None else now_ms, new_id or _envelope_ids()
    )
    try:
        return export.run(request)
    except _Unsupported:
        return None
    except Exception:  # never worse than the general path: it takes what failed here
        logger.debug("collector: the OTLP fast path stepped aside", exc_info=True)
        return None
