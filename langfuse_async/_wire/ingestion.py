"""One wire format, ``POST /api/public/ingestion``, end to end: envelopes, bodies, 207 replies.

Everything here is pure (no I/O, no clock, no logging), so the worker can call it on the hot path
and the tests can pin the bytes exactly.

Encoding rules the server imposes (see the research notes on the ingestion API):

* absent fields are omitted, never sent as ``null`` (the score ``dataType`` union rejects ``null``);
* every body carries an ``id`` (the server silently drops traces and scores without one);
* timestamps are UTC ISO-8601 with microseconds and ``Z``;
* user payloads (``input``, ``output``, ``metadata`` values, ...) arrive already encoded as
  ``msgspec.Raw`` and are spliced into the output as they are, never decoded or re-encoded;
  the one exception is model parameters with a nested value the server's schema refuses,
  which is sent as its JSON text (the generation would be refused whole otherwise);
* a trace name is cut to the server's 1000 characters (a root's name is its trace's name).

A record whose strings cannot be encoded as UTF-8 (a lone surrogate from a broken decoder is the
realistic case) is not an error: each lone surrogate is replaced by U+FFFD and the event is sent.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from typing import Any

import msgspec

from .._clock import format_ns
from .._records import (
    GENERATION_LIKE_TYPES,
    OBSERVATION_TYPES,
    RECORD_OVERHEAD_BYTES,
    Metadata,
    ObservationRecord,
    Record,
    ScoreRecord,
    TraceAttributes,
    TraceRecord,
)
from .context import WireContext
from .fit import fit_with
from .text import cut_js, repair, repair_struct

__all__ = [
    "INGESTION_PATH",
    "IngestionFailure",
    "IngestionReply",
    "IngestionSuccess",
    "UnencodableEventError",
    "batch_overhead",
    "build_body",
    "encode_event",
    "encode_root",
    "fit_event",
    "is_not_accepted_error",
    "parse_response",
    "root_trace",
    "root_trace_event_id",
]

#: The route, relative to the base URL.
INGESTION_PATH = "/api/public/ingestion"


class UnencodableEventError(ValueError):
    """A record could not be encoded even after its strings were repaired.

    Only a record that breaks its own field types (for example a non-string where a string is
    declared, or a payload that is not ``msgspec.Raw``) gets here: a programming error on the
    producer side. The worker reports such an event as ``"unserializable"``.
    """


# --------------------------------------------------------------------------------------------
# Body structs. Defaults are always None and ``omit_defaults`` drops them, so an unset field is
# absent from the JSON. Never give a field a non-None default: ``omit_defaults`` would silently
# drop that value too (``public=False`` would vanish).


class _ObservationBody(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True, gc=False):
    id: str
    trace_id: str
    parent_observation_id: str | None = None
    name: str
    start_time: str
    end_time: str | None = None
    input: msgspec.Raw | None = None
    output: msgspec.Raw | None = None
    metadata: Metadata | None = None
    level: str | None = None
    status_message: str | None = None
    version: str | None = None
    environment: str | None = None


class _GenerationBody(_ObservationBody, kw_only=True):
    model: str | None = None
    model_parameters: msgspec.Raw | None = None
    usage_details: msgspec.Raw | None = None
    cost_details: msgspec.Raw | None = None
    completion_start_time: str | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None


class _TraceBody(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True, gc=False):
    id: str
    timestamp: str | None = None
    name: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    release: str | None = None
    version: str | None = None
    input: msgspec.Raw | None = None
    output: msgspec.Raw | None = None
    metadata: Metadata | None = None
    tags: tuple[str, ...] | None = None
    public: bool | None = None
    environment: str | None = None


class _ScoreBody(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True, gc=False):
    id: str
    name: str
    value: float | int | str
    trace_id: str | None = None
    observation_id: str | None = None
    session_id: str | None = None
    data_type: str | None = None
    comment: str | None = None
    metadata: Metadata | None = None
    environment: str | None = None
    config_id: str | None = None
    dataset_run_id: str | None = None


_Body = _ObservationBody | _GenerationBody | _TraceBody | _ScoreBody


class _Envelope(msgspec.Struct, gc=False):
    id: str
    timestamp: str
    type: str
    body: _Body


_encoder = msgspec.json.Encoder()
_decode = msgspec.json.decode

# The server's promptVersion is a JavaScript number; beyond this it cannot be stored exactly.
_MAX_SAFE_INT = 2**53 - 1
# A corrupt time value must neither raise (gmtime overflows) nor produce a year the server's
# ISO-8601 check refuses (five digits, or a minus sign); it is clamped to the representable span.
_MAX_TIMESTAMP_NS = 253_402_300_799_999_999_999  # 9999-12-31T23:59:59.999999999Z
_NULL = b"null"
# The server refuses a trace named longer (a per-event 400): the whole trace-create is lost. An
# observation's name has no limit, and a root's is its trace's name unless one is set.
_MAX_TRACE_NAME = 1000


def _timestamp(ns: int) -> str:
    if 0 <= ns <= _MAX_TIMESTAMP_NS:
        return format_ns(ns)
    return format_ns(0 if ns < 0 else _MAX_TIMESTAMP_NS)


def _observation_stamps(record: ObservationRecord) -> tuple[str, str, str]:
    """The texts of an observation's start, end and envelope timestamp.

    Each distinct instant is formatted once: the end is usually the envelope's timestamp (the
    record is made when the observation ends), and an ``event`` ends when it starts.
    """
    start_ns, end_ns, stamp_ns = record.start_ns, record.end_ns, record.timestamp_ns
    if 0 <= start_ns <= _MAX_TIMESTAMP_NS:  # _timestamp, inline for the common instant
        start = format_ns(start_ns)
    else:
        start = _timestamp(start_ns)
    if end_ns == start_ns:
        end = start
    elif 0 <= end_ns <= _MAX_TIMESTAMP_NS:
        end = format_ns(end_ns)
    else:
        end = _timestamp(end_ns)
    if stamp_ns == end_ns:
        return start, end, end
    return start, end, start if stamp_ns == start_ns else _timestamp(stamp_ns)


#: The envelope ``type`` of each observation type.
_EVENT_TYPES = {as_type: as_type + "-create" for as_type in OBSERVATION_TYPES}


def _metadata(value: Metadata | None) -> Metadata | None:
    # A JSON null at the root of metadata says nothing and trace metadata must not be null.
    # Length first: bytes() copies, and metadata can be megabytes.
    if isinstance(value, msgspec.Raw) and len(value) == len(_NULL) and bytes(value) == _NULL:
        return None
    return value


def _prompt_pair(name: str | None, version: int | None) -> tuple[str | None, int | None]:
    # The server refines on truthiness: both set, or both absent. A lone half (or version 0,
    # which counts as absent) would fail the whole event, so both are dropped instead.
    if (
        name
        and version
        and not isinstance(version, bool)
        and -_MAX_SAFE_INT <= version <= _MAX_SAFE_INT
    ):
        return name, version
    return None, None


# Read on the payload's buffer, never copied. msgspec writes JSON compactly: an object's text
# starts with its brace, and one with no other brace or bracket holds only scalar values.
_flat_object = re.compile(rb"\{[^{\[]*").fullmatch


def _model_parameters(raw: msgspec.Raw) -> msgspec.Raw | None:
    """``modelParameters`` as the server takes them, or None to leave them out.

    The server takes an object whose values are strings, numbers, booleans, null, lists of
    strings or objects of strings; anything else (a list of tool objects, a timeout pair, a
    nested response format) fails the whole generation. Such a value is sent as its JSON text,
    as the OTLP route's server stores it; parameters that are not an object are left out.
    Called for parameters that are not a flat object (:data:`_flat_object`).
    """
    try:
        params = _decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return raw  # not JSON: nothing to improve on
    if not isinstance(params, dict):
        return None
    changed = False
    for key, value in params.items():
        if not _takes_parameter(value):
            params[key] = _encoder.encode(value).decode()
            changed = True
    return msgspec.Raw(_encoder.encode(params)) if changed else raw


def _takes_parameter(value: object) -> bool:
    """Whether the server's ``modelParameters`` union takes ``value`` as it is."""
    if value is None or isinstance(value, (str, int, float)):  # bool is an int
        return True
    if isinstance(value, list):
        return all(isinstance(item, str) for item in value)
    if isinstance(value, dict):
        return all(isinstance(item, str) for item in value.values())
    return False


def _score_value(value: float | str) -> float | int | str:
    # JSON true/false would fail the BOOLEAN rule, which wants the number 0 or 1.
    if isinstance(value, bool):
        return int(value)
    return value


def _observation_body(
    record: ObservationRecord, ctx: WireContext, start: str, end: str
) -> _ObservationBody:
    # Keyword arguments spelled out for each class: building a dict to share them costs more.
    # ``start`` and ``end`` are the texts of the record's instants (see _observation_stamps).
    as_type = record.as_type
    metadata = record.metadata
    if metadata is not None:
        metadata = _metadata(metadata)
    if as_type not in GENERATION_LIKE_TYPES:
        return _ObservationBody(
            id=record.id,
            trace_id=record.trace_id,
            parent_observation_id=record.parent_id,
            name=record.name,
            start_time=start,
            end_time=None if as_type == "event" else end,
            input=record.input,
            output=record.output,
            metadata=metadata,
            level=record.level,
            status_message=record.status_message,
            version=record.version,
            environment=record.environment or ctx.environment,
        )
    prompt_name, prompt_version = _prompt_pair(record.prompt_name, record.prompt_version)
    completion_start = record.completion_start_ns
    model_parameters = record.model_parameters
    if model_parameters is not None and _flat_object(model_parameters) is None:
        model_parameters = _model_parameters(model_parameters)
    return _GenerationBody(
        id=record.id,
        trace_id=record.trace_id,
        parent_observation_id=record.parent_id,
        name=record.name,
        start_time=start,
        end_time=end,
        input=record.input,
        output=record.output,
        metadata=metadata,
        level=record.level,
        status_message=record.status_message,
        version=record.version,
        environment=record.environment or ctx.environment,
        model=record.model,
        model_parameters=model_parameters,
        usage_details=record.usage_details,
        cost_details=record.cost_details,
        completion_start_time=None if completion_start is None else _timestamp(completion_start),
        prompt_name=prompt_name,
        prompt_version=prompt_version,
    )


def _trace_body(record: TraceRecord, ctx: WireContext, start: str | None) -> _TraceBody:
    # ``start`` is the text of ``record.start_ns`` (None when it is None).
    attrs = record.attributes
    name = attrs.name
    return _TraceBody(
        id=record.trace_id,
        timestamp=start,
        name=name if name is None else cut_js(name, _MAX_TRACE_NAME),
        user_id=attrs.user_id,
        session_id=attrs.session_id,
        release=attrs.release if attrs.release is not None else ctx.release,
        version=attrs.version,
        input=attrs.input,
        output=attrs.output,
        metadata=None if attrs.metadata is None else _metadata(attrs.metadata),
        tags=attrs.tags,
        public=attrs.public,
        environment=record.environment or ctx.environment,
    )


def _score_body(record: ScoreRecord, ctx: WireContext) -> _ScoreBody:
    return _ScoreBody(
        id=record.id,
        name=record.name,
        value=_score_value(record.value),
        trace_id=record.trace_id,
        observation_id=record.observation_id,
        session_id=record.session_id,
        data_type=record.data_type,
        comment=record.comment,
        metadata=_metadata(record.metadata),
        environment=record.environment or ctx.environment,
        config_id=record.config_id,
        dataset_run_id=record.dataset_run_id,
    )


def encode_event(record: Record, ctx: WireContext) -> bytes:
    """Encode one record as an ingestion event envelope.

    The envelope is ``{"id", "timestamp", "type", "body"}``; the body layout depends on the
    record type (observation, ``trace-create`` or ``score-create``). Unset fields are omitted.

    Args:
        record: The record to encode.
        ctx: Client-level facts (environment, release) copied into the body.

    Returns:
        The UTF-8 JSON of the envelope.

    Raises:
        UnencodableEventError: Only for a record that breaks its declared field types. Strings
            with lone surrogates are repaired (U+FFFD), never an error.
    """
    if isinstance(record, ObservationRecord):
        start, end, stamp = _observation_stamps(record)
        body: _Body = _observation_body(record, ctx, start, end)
        as_type = record.as_type
        event_type = _EVENT_TYPES.get(as_type) or as_type + "-create"
        try:  # _encode_envelope's fast path, inline: this runs for every observation
            return _encoder.encode(_Envelope(record.event_id, stamp, event_type, body))
        except Exception:
            return _encode_envelope(record, stamp, event_type, body)
    stamp = _timestamp(record.timestamp_ns)
    if isinstance(record, TraceRecord):
        start_ns = record.start_ns
        trace_start: str | None = None
        if start_ns is not None:
            trace_start = stamp if start_ns == record.timestamp_ns else _timestamp(start_ns)
        body = _trace_body(record, ctx, trace_start)
        return _encode_envelope(record, stamp, "trace-create", body)
    return _encode_envelope(record, stamp, "score-create", _score_body(record, ctx))


def encode_root(
    record: ObservationRecord, ctx: WireContext
) -> tuple[bytes, TraceRecord, bytes | None]:
    """Encode a root observation and the ``trace-create`` it brings, sharing their instants.

    The same bytes as ``encode_event(record, ctx)``, ``root_trace(record)`` and
    ``encode_event(root_trace(record), ctx)``, for less work: the trace's timestamp and
    envelope time are the root's start and envelope time, formatted once for both, and the
    common root's trace body (no trace attributes set) is built from the root's own fields.

    Args:
        record: A root observation (:attr:`~._records.ObservationRecord.is_local_root`).
        ctx: Client-level facts copied into the bodies.

    Returns:
        ``(envelope, trace, trace_envelope)``: ``trace_envelope`` is None when the trace cannot
        be encoded, which is then the trace's own failure (met when it is encoded alone).

    Raises:
        UnencodableEventError: As :func:`encode_event`, for the observation.
    """
    # The general path's steps, inline: this runs once per trace on the worker, where calls
    # are most of the cost. Anything unusual (a string to repair) takes the general path.
    start_ns, end_ns, stamp_ns = record.start_ns, record.end_ns, record.timestamp_ns
    if 0 <= start_ns <= _MAX_TIMESTAMP_NS and 0 <= end_ns <= _MAX_TIMESTAMP_NS:
        start = format_ns(start_ns)
        end = start if end_ns == start_ns else format_ns(end_ns)
        if stamp_ns == end_ns:
            stamp = end
        elif stamp_ns == start_ns:
            stamp = start
        else:
            stamp = _timestamp(stamp_ns)
    else:
        start, end, stamp = _observation_stamps(record)
    as_type = record.as_type
    event_type = _EVENT_TYPES.get(as_type) or as_type + "-create"
    trace = root_trace(record)
    try:
        encoded = _encoder.encode(
            _Envelope(
                record.event_id, stamp, event_type, _observation_body(record, ctx, start, end)
            )
        )
    except Exception:  # a string to repair (or a record that breaks its types)
        return _encode_root_in_steps(record, ctx, trace, start, end, stamp)
    if record.trace is None:
        # The common root: its trace body is its own name, version, input, output and
        # metadata (root_trace).
        name = record.name
        attributes = trace.attributes  # the root's version and metadata, as root_trace took
        body = _TraceBody(
            id=record.trace_id,
            timestamp=start,
            name=name if len(name) <= _MAX_TRACE_NAME // 2 else cut_js(name, _MAX_TRACE_NAME),
            release=ctx.release,
            version=attributes.version,
            input=record.input,
            output=record.output,
            metadata=attributes.metadata,
            environment=record.environment or ctx.environment,
        )
    else:
        body = _trace_body(trace, ctx, start)
    try:
        trace_encoded: bytes | None = _encoder.encode(
            _Envelope(trace.event_id, stamp, "trace-create", body)
        )
    except Exception:
        trace_encoded = _encode_trace_alone(trace, ctx, start, stamp)
    return encoded, trace, trace_encoded


def _encode_root_in_steps(
    record: ObservationRecord,
    ctx: WireContext,
    trace: TraceRecord,
    start: str,
    end: str,
    stamp: str,
) -> tuple[bytes, TraceRecord, bytes | None]:
    body = _observation_body(record, ctx, start, end)
    encoded = _encode_envelope(record, stamp, _event_type(record.as_type), body)
    return encoded, trace, _encode_trace_alone(trace, ctx, start, stamp)


def _encode_trace_alone(
    trace: TraceRecord, ctx: WireContext, start: str, stamp: str
) -> bytes | None:
    try:
        return _encode_envelope(trace, stamp, "trace-create", _trace_body(trace, ctx, start))
    except Exception:  # the trace's own failure: it meets it again when prepared alone
        return None


def _event_type(as_type: str) -> str:
    event_type = _EVENT_TYPES.get(as_type)
    return as_type + "-create" if event_type is None else event_type


def _encode_envelope(record: Record, stamp: str, event_type: str, body: _Body) -> bytes:
    envelope = _Envelope(id=record.event_id, timestamp=stamp, type=event_type, body=body)
    try:
        return _encoder.encode(envelope)
    except Exception:
        # The slow path runs only for broken input; the common case pays for nothing.
        pass
    repaired = _Envelope(
        id=repair(envelope.id),
        timestamp=envelope.timestamp,
        type=repair(envelope.type),
        body=repair_struct(envelope.body),
    )
    try:
        return _encoder.encode(repaired)
    except Exception as exc:
        raise UnencodableEventError(
            f"cannot encode {event_type} event {record.event_id!r}: {exc}"
        ) from exc


def _root_metadata(metadata: Metadata | None) -> dict[str, msgspec.Raw] | None:
    # What of a root observation's metadata its trace takes: the keys of a mapping (the
    # server spreads the root span's metadata object into the trace's); a value of another
    # kind has no keys to give.
    return metadata if isinstance(metadata, dict) and metadata else None


def root_trace_event_id(record: ObservationRecord) -> str:
    """The envelope id of the ``trace-create`` sent with a root observation (stable)."""
    return record.event_id + "-trace"


def root_trace(record: ObservationRecord) -> TraceRecord:
    """The ``trace-create`` a root observation brings on the ingestion route.

    The ingestion route stores no trace without a ``trace-create`` event, and the OTLP route's
    server derives the trace from the root span. To give both routes the same trace, the root
    observation travels with this event: the trace's merged attributes at the time the root
    ended, its start as the trace timestamp, the root's name, input and output for what no
    update set, the root's version (which wins, as the root span's ``langfuse.version`` does)
    and the root's metadata keys over the trace's (as the server does for a root span). The
    worker builds it, so the caller's
    hot path pays nothing for it. It is an event of its own (its own outcome, report and
    count); its envelope id is derived from the observation's, so it is stable across retries.
    Too large, it is truncated like any trace update.
    """
    snap = record.trace
    version = record.version
    # Looked at only when the root has metadata: this runs once per trace on the worker.
    root_metadata = None if record.metadata is None else _root_metadata(record.metadata)
    if snap is None:
        # The common root: no trace attributes set, the trace is named after it and has its
        # version, input, output and metadata.
        size = RECORD_OVERHEAD_BYTES + len(record.name)
        if record.input is not None:
            size += len(record.input)
        if record.output is not None:
            size += len(record.output)
        if version is None and root_metadata is None:  # the most common root: neither
            attributes = TraceAttributes(name=record.name, input=record.input, output=record.output)
        else:
            if version is not None:
                size += len(version)
            if root_metadata is not None:
                size += sum(len(key) + len(value) for key, value in root_metadata.items())
            attributes = TraceAttributes(
                name=record.name,
                version=version,
                input=record.input,
                output=record.output,
                metadata=root_metadata,
            )
        return TraceRecord(
            event_id=record.event_id + "-trace",  # root_trace_event_id, inline
            timestamp_ns=record.timestamp_ns,
            trace_id=record.trace_id,
            attributes=attributes,
            size=size,
            start_ns=record.start_ns,
            environment=record.environment,
        )
    metadata = snap.metadata
    if root_metadata is not None:
        if metadata is None:
            metadata = root_metadata
        elif isinstance(metadata, dict):
            metadata = {**metadata, **root_metadata}
    attrs = msgspec.structs.replace(
        snap,
        name=snap.name if snap.name is not None else record.name,
        version=record.version or snap.version,
        input=snap.input if snap.input is not None else record.input,
        output=snap.output if snap.output is not None else record.output,
        metadata=metadata,
    )
    size = RECORD_OVERHEAD_BYTES + sum(
        len(value) for value in (attrs.input, attrs.output) if value is not None
    )
    metadata = attrs.metadata
    if isinstance(metadata, msgspec.Raw):
        size += len(metadata)
    elif metadata is not None:
        size += sum(len(key) + len(value) for key, value in metadata.items())
    for text in (attrs.name, attrs.user_id, attrs.session_id, attrs.version, attrs.release):
        if text is not None:
            size += len(text)
    size += sum(len(tag) for tag in attrs.tags or ())
    return TraceRecord(
        event_id=root_trace_event_id(record),
        timestamp_ns=record.timestamp_ns,
        trace_id=record.trace_id,
        attributes=attrs,
        size=size,
        start_ns=record.start_ns,
        environment=record.environment,
    )


# --------------------------------------------------------------------------------------------
# Oversize events


def fit_event(
    record: Record, ctx: WireContext, max_event_bytes: int
) -> tuple[Record, bytes] | None:
    """Encode a record, truncating its largest payloads until it fits ``max_event_bytes``.

    While the encoded event is too large, the largest of ``input``, ``output`` and ``metadata``
    (of the trace attributes, for a trace record) is replaced by the JSON string
    :data:`~langfuse_async._records.TRUNCATED_MARKER`, and the record is encoded again. A field
    no larger than the marker is never replaced. The returned record's ``size`` is lowered by
    the bytes removed; the caller must keep the original if it accounted for that one.

    Args:
        record: The record to encode.
        ctx: Client-level facts copied into the body.
        max_event_bytes: The largest encoded event allowed.

    Returns:
        ``(record, encoded)``, where ``record`` is the original when it fit at once, or
        ``None`` when even the fully truncated event is too large (report it as "oversize").

    Raises:
        UnencodableEventError: As :func:`encode_event`.
    """
    return fit_with(record, lambda r: encode_event(r, ctx), max_event_bytes)


# --------------------------------------------------------------------------------------------
# Batch bodies


_BATCH_HEAD = b'{"batch":['
_BATCH_SIZE_KEY = b'],"metadata":{"batch_size":'


@functools.lru_cache(maxsize=16)
def _metadata_tail(ctx: WireContext) -> bytes:
    # Encoded once per client: the JSON escaping of these strings never changes.
    return (
        b',"sdk_name":'
        + _encoder.encode(repair(ctx.sdk_name))
        + b',"sdk_version":'
        + _encoder.encode(repair(ctx.sdk_version))
        + b',"public_key":'
        + _encoder.encode(repair(ctx.public_key))
        + b"}}"
    )


def batch_overhead(count: int, ctx: WireContext) -> int:
    """Return the bytes a batch body of ``count`` events adds to the events' own bytes.

    That is the envelope object, the separators between events and the batch ``metadata``,
    so that ``len(build_body(events, ctx)) == sum(map(len, events)) + batch_overhead(n, ctx)``.

    Args:
        count: The number of events in the batch (0 or more).
        ctx: Supplies the SDK name, version and public key of the batch metadata.

    Raises:
        ValueError: If ``count`` is negative.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    separators = count - 1 if count else 0
    return (
        len(_BATCH_HEAD)
        + separators
        + len(_BATCH_SIZE_KEY)
        + len(str(count))
        + len(_metadata_tail(ctx))
    )


def build_body(events: Sequence[bytes], ctx: WireContext) -> bytes:
    """Join encoded events into one request body.

    The body is ``{"batch":[...],"metadata":{"batch_size":n,"sdk_name":...,"sdk_version":...,
    "public_key":...}}``; the events are spliced byte for byte.

    Args:
        events: Envelopes from :func:`encode_event` or :func:`fit_event`.
        ctx: Supplies the batch metadata.

    Returns:
        The request body; its length is exactly what :func:`batch_overhead` predicts.
    """
    # One join over the pieces with the separators between them: a body of megabytes is
    # copied once, not twice (as an inner join of the events would).
    n = len(events)
    parts: list[bytes] = [b","] * (2 * n + 3) if n else [b""] * 4
    parts[0] = _BATCH_HEAD
    if n:
        parts[1 : 2 * n : 2] = events
    parts[-3] = _BATCH_SIZE_KEY  # over the separator after the last event
    parts[-2] = str(n).encode("ascii")
    parts[-1] = _metadata_tail(ctx)
    return b"".join(parts)


# --------------------------------------------------------------------------------------------
# 207 replies


class IngestionSuccess(msgspec.Struct, frozen=True):
    """One accepted event of a 207 reply.

    Attributes:
        id: The envelope id of the event.
        status: The per-event status (201 from current servers).
    """

    id: str
    status: int


class IngestionFailure(msgspec.Struct, frozen=True):
    """One refused event of a 207 reply.

    Attributes:
        id: The envelope id of the event (``"unknown"`` when the server could not read it).
        status: The per-event status, or ``None`` when the server sent none usable.
        message: The short message, when the server sent a string.
        error: The detail exactly as received: a string, an object, a list or ``None``.
    """

    id: str
    status: int | None
    message: str | None = None
    error: Any = None


class IngestionReply(msgspec.Struct, frozen=True):
    """A decoded 207 reply. The order of ``successes`` is not the order of the request.

    Attributes:
        successes: The accepted events.
        errors: The refused events.
    """

    successes: tuple[IngestionSuccess, ...]
    errors: tuple[IngestionFailure, ...]


def _status(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


class _StrictReply(msgspec.Struct):
    # The reply as current servers send it: decoded in one pass, with no Python per entry.
    successes: tuple[IngestionSuccess, ...]
    errors: tuple[IngestionFailure, ...]


_strict_reply = msgspec.json.Decoder(_StrictReply)


def parse_response(body: bytes) -> IngestionReply | None:
    """Decode the body of a 207 reply, tolerating anything a server version may add.

    Unknown keys (``_deprecation``, ...) are ignored. An entry without a string ``id`` cannot
    be matched to an event and is skipped. ``message`` is kept when it is a string, ``error``
    whatever its JSON type.

    Args:
        body: The raw response body.

    Returns:
        The reply, or ``None`` when the body is not JSON or not an object with a ``successes``
        and/or ``errors`` list.
    """
    try:
        strict = _strict_reply.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        pass  # anything unusual: the tolerant reading below decides
    else:
        return IngestionReply(strict.successes, strict.errors)
    try:
        data = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    raw_successes = data.get("successes", [])
    raw_errors = data.get("errors", [])
    if ("successes" not in data and "errors" not in data) or not (
        isinstance(raw_successes, list) and isinstance(raw_errors, list)
    ):
        return None
    successes = []
    for item in raw_successes:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            status = _status(item.get("status"))
            successes.append(IngestionSuccess(item["id"], 201 if status is None else status))
    errors = []
    for item in raw_errors:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            message = item.get("message")
            errors.append(
                IngestionFailure(
                    item["id"],
                    _status(item.get("status")),
                    message if isinstance(message, str) else None,
                    item.get("error"),
                )
            )
    return IngestionReply(tuple(successes), tuple(errors))


_NOT_ACCEPTED_MESSAGE = "event type not accepted"
_NOT_ACCEPTED_DETAIL = "is not accepted by /api/public/ingestion"


def is_not_accepted_error(error: IngestionFailure) -> bool:
    """Tell whether a per-event error is a v4 server refusing the event type on this route.

    Langfuse v4 servers in ``events_only`` mode (their default) accept only scores here and
    answer every other event with a 400 "Event type not accepted"; such events belong on the
    OTLP route instead.

    Args:
        error: One entry of :attr:`IngestionReply.errors`.
    """
    if error.status != 400:
        return False
    if error.message is not None and error.message.strip().lower() == _NOT_ACCEPTED_MESSAGE:
        return True
    return isinstance(error.error, str) and _NOT_ACCEPTED_DETAIL in error.error
