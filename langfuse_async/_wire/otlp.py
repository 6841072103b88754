"""One wire format, OTLP/HTTP JSON, end to end: records as spans, request bodies, headers.

Spans go to ``/api/public/otel/v1/traces``. Pure functions, no I/O: the sender calls
:func:`encode_span` once per record, cuts batches with :func:`request_overhead` and sends
:func:`build_request` (through :func:`gzip_body`) with :func:`otlp_headers` plus its own
``Authorization``.

The attribute mapping follows the official Langfuse SDKs, so the server renders these spans
exactly like theirs (see ``otlp-mapping.md`` in the research notes):

* one attribute per fact, ``[{"key": ..., "value": {"stringValue" | "intValue" | ...}}]``;
  ``intValue`` is a JSON number, ids are lowercase hex and timestamps decimal strings;
* user payloads follow the Python SDK's ``_serialize``: a JSON string is sent as the string
  itself, anything else as its JSON text; metadata is flattened one level
  (``langfuse.observation.metadata.<key>``) with str/int/bool values kept native, the other
  values in one JSON object (``langfuse.observation.metadata``) that the server parses;
* trace-level attributes are repeated on every span, as ``propagate_attributes`` does, because
  a v4 server derives user, session, tags and filters from every row;
* generation keys (model, usage, cost, prompt, completion start) appear only on generation-like
  types, never on ``span`` or ``event`` observations.

Trace input and output (a decision the research left open): the legacy path (v3 servers, and v4
in ``legacy`` mode) reads ``langfuse.trace.input``/``output`` from the root span, while the v4
``events_only`` path never reads them and takes the trace's input and output from the root
span's own ``langfuse.observation.input``/``output``. So on the root span a trace value is sent
as the observation's value when the root has none of its own (both paths then agree), and as
``langfuse.trace.input``/``output`` only when the root has a different value of its own (the
legacy path shows the trace value, v4 shows the root's). Non-root spans never carry trace I/O.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import msgspec

from .._clock import format_ns
from .._records import (
    GENERATION_LIKE_TYPES,
    OBSERVATION_TYPES,
    Metadata,
    ObservationRecord,
    TraceAttributes,
)
from .context import WireContext
from .fit import fit_with
from .text import cut_js, repair_struct

__all__ = [
    "GZIP_LEVEL",
    "HEADERS_OTLP",
    "INGESTION_VERSION",
    "OTLP_TRACES_PATH",
    "SCOPE_NAME",
    "SERVICE_NAME",
    "build_request",
    "encode_span",
    "fit_span",
    "gzip_body",
    "otlp_headers",
    "request_overhead",
]

#: Where OTLP/HTTP traces go, relative to the base URL.
OTLP_TRACES_PATH = "/api/public/otel/v1/traces"

#: ``x-langfuse-ingestion-version``: v4 servers (and v3 >= 3.154) write the batch straight to the
#: events table. It must parse as an integer no greater than 4, or the whole request gets a 400.
INGESTION_VERSION = "4"

#: Instrumentation scope name. It must start with ``langfuse-sdk``: any other name makes the
#: server copy every span attribute into ``metadata.attributes`` as a stringified dump. It must not
#: be exactly ``langfuse-sdk``: with that name, ``telemetry.sdk.language=python`` and a scope
#: version <= 3.3 (ours is 0.x), the server's ``PythonSDKv330Override`` turns a ``span``-typed
#: observation that carries any generation key into a GENERATION. Caveat of the prefix: the worker
#: of some server versions discards the whole batch when the scope's ``public_key`` attribute
#: differs from the public key that authenticated the request, so it is always ``ctx.public_key``.
SCOPE_NAME = "langfuse-sdk-async"

#: The OpenTelemetry default when no service is configured; shown in ``resourceAttributes``.
SERVICE_NAME = "unknown_service"

#: zlib level for request bodies. Level 1 compresses typical span JSON about 5x at roughly
#: 5 ms per MB, against about 7x at 18 ms per MB for level 6 (measured on CPython 3.11); the
#: body is compressed on the event loop, so speed wins over the last bytes of ratio.
GZIP_LEVEL = 1

#: The client-independent headers of an OTLP request (no auth, no SDK identity); read-only,
#: :func:`otlp_headers` returns a fresh dict with them and the client's own.
HEADERS_OTLP: Mapping[str, str] = MappingProxyType(
    {
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        "x-langfuse-ingestion-version": INGESTION_VERSION,
    }
)

_encode = msgspec.json.Encoder().encode

# Integers beyond JavaScript's safe range would silently lose digits in the server's JSON.parse,
# so they travel as their decimal text instead of an intValue.
_MAX_SAFE_INT = 2**53 - 1

_LEVELS = frozenset({"DEBUG", "DEFAULT", "WARNING", "ERROR"})
# v3 servers pass the level through unchecked, and any value outside the four above makes the
# observation fail validation and vanish; v4 accepts these aliases itself, v3 does not.
_LEVEL_ALIASES = {
    "INFO": "DEFAULT",
    "WARN": "WARNING",
    "FATAL": "ERROR",
    "CRITICAL": "ERROR",
    "TRACE": "DEBUG",
}

_STATUS_UNSET = b"{}"
_TRUE = b'{"boolValue":true}'


def _key(name: str) -> bytes:
    """Return the ``{"key":name,"value":`` prefix of an attribute."""
    return b'{"key":' + _encode(name) + b',"value":'


# Attribute key prefixes, encoded once at import.
_K_TYPE = _key("langfuse.observation.type")
_K_ENVIRONMENT = _key("langfuse.environment")
_K_RELEASE = _key("langfuse.release")
_K_VERSION = _key("langfuse.version")
_K_APP_ROOT = _key("langfuse.internal.is_app_root")
_K_AS_ROOT = _key("langfuse.internal.as_root")
_K_TRACE_NAME = _key("langfuse.trace.name")
_K_USER_ID = _key("user.id")
_K_SESSION_ID = _key("session.id")
_K_TAGS = _key("langfuse.trace.tags")
_K_PUBLIC = _key("langfuse.trace.public")
_K_TRACE_METADATA = _key("langfuse.trace.metadata")
_K_TRACE_INPUT = _key("langfuse.trace.input")
_K_TRACE_OUTPUT = _key("langfuse.trace.output")
_K_INPUT = _key("langfuse.observation.input")
_K_OUTPUT = _key("langfuse.observation.output")
_K_METADATA = _key("langfuse.observation.metadata")
_K_LEVEL = _key("langfuse.observation.level")
_K_STATUS_MESSAGE = _key("langfuse.observation.status_message")
_K_MODEL = _key("langfuse.observation.model.name")
_K_MODEL_PARAMETERS = _key("langfuse.observation.model.parameters")
_K_USAGE = _key("langfuse.observation.usage_details")
_K_COST = _key("langfuse.observation.cost_details")
_K_COMPLETION_START = _key("langfuse.observation.completion_start_time")
_K_PROMPT_NAME = _key("langfuse.observation.prompt.name")
_K_PROMPT_VERSION = _key("langfuse.observation.prompt.version")
_APP_ROOT = _K_APP_ROOT + _TRUE + b"}"
_AS_ROOT = _K_AS_ROOT + _TRUE + b"}"

# The server refuses a longer trace name on the legacy path (the trace-create it derives fails
# validation and is dropped); without ``langfuse.trace.name`` it names the trace after the root.
_MAX_TRACE_NAME = 1000

_OBSERVATION_METADATA_PREFIX = "langfuse.observation.metadata."
_TRACE_METADATA_PREFIX = "langfuse.trace.metadata."


def _string(value: str) -> bytes:
    return b'{"stringValue":' + _encode(value) + b"}"


def _json_text(raw: bytes) -> bytes:
    """Return a stringValue holding ``raw`` as text (the server stores it as received)."""
    return _string(raw.decode("utf-8", "replace"))


def _serialized(raw: msgspec.Raw) -> bytes | None:
    """Encode a payload the way the Python SDK's ``_serialize`` does, or None to omit it.

    A JSON string travels as the string itself; the encoded literal is already a valid JSON
    string, so it is spliced in without decoding. ``null`` is omitted, as ``None`` is there.
    """
    text = bytes(raw).strip()
    if not text or text == b"null":
        return None
    if text[:1] == b'"':
        return b'{"stringValue":' + text + b"}"
    return _json_text(text)


def _metadata_value(raw: msgspec.Raw) -> bytes | None:
    """Encode one top-level metadata value of its own: str, int and bool native.

    An integer past JavaScript's safe range travels as its text (the server's ``JSON.parse``
    would lose digits). None for null (the official SDKs skip a ``None`` value) and for the
    values the caller sends in one object (objects, arrays, fractions).
    """
    text = bytes(raw).strip()
    if not text or text == b"null":
        return None
    first = text[:1]
    if first == b'"':
        return b'{"stringValue":' + text + b"}"
    if text == b"true" or text == b"false":
        return b'{"boolValue":' + text + b"}"
    if (first == b"-" or first.isdigit()) and not any(c in text for c in b".eE"):
        try:
            number = int(text)
        except ValueError:  # not valid JSON; sent as text
            return _json_text(text)
        if -_MAX_SAFE_INT <= number <= _MAX_SAFE_INT:
            return b'{"intValue":%d}' % number
        return _json_text(text)
    return None


def _is_null(raw: msgspec.Raw) -> bool:
    text = bytes(raw).strip()
    return not text or text == b"null"


def _metadata(prefix: str, blob_key: bytes, metadata: Metadata, out: list[bytes]) -> None:
    """Append metadata attributes: str/int/bool values one per key, the others in one object.

    The server reads ``<prefix><key>`` attributes as they are (a JSON text would stay a
    string: ``{"b": [1, 2]}`` read back as ``'{"b":[1,2]}'``), and parses the blob attribute
    (``langfuse.observation.metadata``) as a JSON object whose keys it spreads first. So a
    nested, float or other non-native value travels in that object and reads back as the
    value itself, as on the ingestion route. A metadata value that is no mapping is the blob.
    """
    if isinstance(metadata, dict):
        nested: dict[str, msgspec.Raw] | None = None
        for name, raw in metadata.items():
            value = _metadata_value(raw)
            if value is not None:
                out.append(_key(prefix + name) + value + b"}")
            elif not _is_null(raw):
                if nested is None:
                    nested = {}
                nested[name] = raw
        if nested is not None:
            out.append(blob_key + _json_text(_encode(nested)) + b"}")
    else:
        value = _serialized(metadata)
        if value is not None:
            out.append(blob_key + value + b"}")


def _trace_metadata(metadata: Metadata, out: list[bytes]) -> None:
    """Append trace metadata: strings one per key, as the SDKs send them; the rest as above."""
    if not isinstance(metadata, dict):
        blob = _serialized(metadata)
        if blob is not None:
            out.append(_K_TRACE_METADATA + blob + b"}")
        return
    nested: dict[str, msgspec.Raw] | None = None
    for name, raw in metadata.items():
        text = bytes(raw).strip()
        if text[:1] == b'"':
            out.append(_key(_TRACE_METADATA_PREFIX + name) + b'{"stringValue":' + text + b"}}")
        elif text and text != b"null":
            if nested is None:
                nested = {}
            nested[name] = raw
    if nested is not None:
        out.append(_K_TRACE_METADATA + _json_text(_encode(nested)) + b"}")


def _level(level: str | None) -> str | None:
    if level is None or level in _LEVELS:
        return level
    upper = level.strip().upper()
    upper = _LEVEL_ALIASES.get(upper, upper)
    return upper if upper in _LEVELS else None


def _trace_attributes(trace: TraceAttributes, out: list[bytes]) -> None:
    name = trace.name
    if name:
        if len(name) > _MAX_TRACE_NAME // 2:  # cut_js's own test, inline: this runs per span
            name = cut_js(name, _MAX_TRACE_NAME)
        out.append(_K_TRACE_NAME + _string(name) + b"}")
    if trace.user_id:
        out.append(_K_USER_ID + _string(trace.user_id) + b"}")
    if trace.session_id:
        out.append(_K_SESSION_ID + _string(trace.session_id) + b"}")
    if trace.tags:
        values = b",".join(_string(tag) for tag in trace.tags)
        out.append(_K_TAGS + b'{"arrayValue":{"values":[' + values + b"]}}}")
    # Only ``true`` is ever sent, as the SDKs do: on the legacy path a later-starting span that
    # carried an older ``false`` would overwrite the trace's newer ``true``.
    if trace.public:
        out.append(_K_PUBLIC + _TRUE + b"}")
    if trace.metadata is not None:
        _trace_metadata(trace.metadata, out)


def _root_io(
    own: msgspec.Raw | None, trace_value: msgspec.Raw | None, trace_key: bytes, out: list[bytes]
) -> msgspec.Raw | None:
    """Resolve the root span's input or output against the trace's (see the module docstring).

    Returns the observation value to send; appends ``langfuse.trace.*`` when it must differ.
    """
    if trace_value is None:
        return own
    trace_json = _serialized(trace_value)
    if trace_json is None:
        return own
    if own is None or _serialized(own) is None:
        return trace_value
    if bytes(own) != bytes(trace_value):
        out.append(trace_key + trace_json + b"}")
    return own


def encode_span(record: ObservationRecord, ctx: WireContext) -> bytes:
    """Encode one finished observation as an OTLP/JSON span object.

    A string with a lone surrogate (name, model, status message, a trace attribute, a tag...)
    is repaired (U+FFFD), never a reason to lose the span: the fast path runs first, and the
    record is repaired only when it fails.

    Args:
        record: The observation, with its snapshot of trace attributes.
        ctx: Client-level facts: environment and release go on every span.

    Returns:
        The UTF-8 JSON of one element of ``scopeSpans[].spans``, ready for
        :func:`build_request`.
    """
    try:
        return _encode_span(record, ctx)
    except (msgspec.EncodeError, UnicodeEncodeError):
        return _encode_span(repair_struct(record), ctx)


# The attributes that repeat from span to span (the environment, the release, the version,
# the level), by key and value: each is encoded once. Bounded: short values only, cleared when
# full; a cache, not state.
_known_attributes: dict[tuple[bytes, str], bytes] = {}
_KNOWN_ATTRIBUTES = 256
_KNOWN_VALUE_CHARS = 128


def _string_attribute(key: bytes, value: str) -> bytes:
    """Return the attribute ``key`` with the string ``value``, encoded once per short pair."""
    known = _known_attributes.get((key, value))
    if known is None:
        known = key + _string(value) + b"}"  # raises for a lone surrogate: nothing cached
        if len(value) <= _KNOWN_VALUE_CHARS:
            if len(_known_attributes) >= _KNOWN_ATTRIBUTES:
                _known_attributes.clear()
            _known_attributes[(key, value)] = known
    return known


#: The type attribute of each observation type.
_TYPE_ATTRIBUTES = {as_type: _K_TYPE + _string(as_type) + b"}" for as_type in OBSERVATION_TYPES}


# The span object around its attributes (the keys in the order the official SDKs send them).
# ``kind`` is INTERNAL, as every official SDK span; times are decimal strings.
_SPAN = (
    b'{"traceId":%b,"spanId":%b%b,"name":%b,"kind":1,"startTimeUnixNano":"%d",'
    b'"endTimeUnixNano":"%d","attributes":[%b],"status":%b}'
)
_PARENT = b',"parentSpanId":%b'


def _encode_span(record: ObservationRecord, ctx: WireContext) -> bytes:
    trace = record.trace
    remote_parent = record.remote_parent
    is_root = record.parent_id is None or remote_parent
    as_type = record.as_type
    type_attribute = _TYPE_ATTRIBUTES.get(as_type)
    if type_attribute is None:
        type_attribute = _string_attribute(_K_TYPE, as_type)
    attributes: list[bytes] = [type_attribute]

    environment = record.environment or ctx.environment
    if environment:
        attributes.append(_string_attribute(_K_ENVIRONMENT, environment))
    release = ctx.release if trace is None else trace.release or ctx.release
    if release:
        attributes.append(_string_attribute(_K_RELEASE, release))
    if is_root:
        attributes.append(_APP_ROOT)
    if remote_parent:
        # Continuing another service's trace: the parent span id is not ours, so tell the
        # server to treat this span as the root of what it builds (as the official SDK does).
        attributes.append(_AS_ROOT)
    input_raw, output_raw = record.input, record.output
    if trace is None:
        version = record.version
    else:
        _trace_attributes(trace, attributes)
        version = record.version or trace.version
    if version:
        attributes.append(_string_attribute(_K_VERSION, version))
    if is_root and len(record.name) > _MAX_TRACE_NAME // 2 and (trace is None or not trace.name):
        # The trace is named after this span: a name too long for a trace is sent cut as the
        # trace's name (the span keeps its own).
        trace_name = cut_js(record.name, _MAX_TRACE_NAME)
        if trace_name != record.name:
            attributes.append(_K_TRACE_NAME + _string(trace_name) + b"}")
    if is_root and trace is not None:
        input_raw = _root_io(input_raw, trace.input, _K_TRACE_INPUT, attributes)
        output_raw = _root_io(output_raw, trace.output, _K_TRACE_OUTPUT, attributes)
    # _payload_attribute, inline for the input and the output: two calls per span saved.
    if input_raw is not None:
        text = bytes(input_raw).strip()
        if text and text != b"null":
            if text[0] != 0x22:  # not a JSON string: its JSON text as a string
                text = _encode(text.decode("utf-8", "replace"))
            attributes.append(b'%b{"stringValue":%b}}' % (_K_INPUT, text))
    if output_raw is not None:
        text = bytes(output_raw).strip()
        if text and text != b"null":
            if text[0] != 0x22:
                text = _encode(text.decode("utf-8", "replace"))
            attributes.append(b'%b{"stringValue":%b}}' % (_K_OUTPUT, text))

    if record.metadata is not None:
        _metadata(_OBSERVATION_METADATA_PREFIX, _K_METADATA, record.metadata, attributes)

    level = record.level
    if level is not None:
        level = _level(level)
        if level is not None:
            attributes.append(_string_attribute(_K_LEVEL, level))
    status_message = record.status_message
    if status_message:
        attributes.append(_K_STATUS_MESSAGE + _string(status_message) + b"}")

    if record.as_type in GENERATION_LIKE_TYPES:
        _generation_attributes(record, attributes)

    if level == "ERROR":
        status: dict[str, object] = {"code": 2}
        if status_message:
            status["message"] = status_message
        status_json = _encode(status)
    else:
        status_json = _STATUS_UNSET

    parent_id = record.parent_id  # a remote parent too: as_root says where the root is
    start_ns, end_ns = record.start_ns, record.end_ns
    if type(start_ns) is not int or type(end_ns) is not int:  # a bool: as the dict writes it
        # Not what a record holds; written as the general encoder writes any value.
        return _encode_span_dict(record, attributes, status_json)
    return _SPAN % (
        _encode(record.trace_id),
        _encode(record.id),
        b"" if parent_id is None else _PARENT % _encode(parent_id),
        _encode(record.name),
        start_ns,
        end_ns,
        b",".join(attributes),
        status_json,
    )


def _encode_span_dict(record: ObservationRecord, attributes: list[bytes], status: bytes) -> bytes:
    span: dict[str, object] = {"traceId": record.trace_id, "spanId": record.id}
    if record.parent_id is not None:
        span["parentSpanId"] = record.parent_id
    span["name"] = record.name
    span["kind"] = 1
    span["startTimeUnixNano"] = str(record.start_ns)
    span["endTimeUnixNano"] = str(record.end_ns)
    span["attributes"] = msgspec.Raw(b"[" + b",".join(attributes) + b"]")
    span["status"] = msgspec.Raw(status)
    return _encode(span)


def fit_span(
    record: ObservationRecord, ctx: WireContext, max_event_bytes: int
) -> tuple[ObservationRecord, bytes] | None:
    """Encode a span, truncating its largest payloads until it fits ``max_event_bytes``.

    A span carries a copy of its trace's attributes, so their input, output and metadata are
    truncated too: last on a root span, first on a child (whose copy is repeated on the root
    and should go before the child's own data). See :func:`~._wire.fit.fit_with`.

    Args:
        record: The observation to encode.
        ctx: Client-level facts copied into the span.
        max_event_bytes: The largest encoded span allowed.

    Returns:
        ``(record, encoded)``, where ``record`` is the original when it fit at once, or
        ``None`` when even the fully truncated span is too large (report it as "oversize").
    """
    fitted = fit_with(
        record,
        lambda r: encode_span(r, ctx),  # type: ignore[arg-type]
        max_event_bytes,
        trace_snapshot=True,
        trace_first=not record.is_local_root,
    )
    if fitted is None:
        return None
    return fitted[0], fitted[1]  # type: ignore[return-value]


def _generation_attributes(record: ObservationRecord, out: list[bytes]) -> None:
    if record.model:
        out.append(_K_MODEL + _string(record.model) + b"}")
    for key, raw in (
        (_K_MODEL_PARAMETERS, record.model_parameters),
        (_K_USAGE, record.usage_details),
        (_K_COST, record.cost_details),
    ):
        if raw is not None:
            value = _serialized(raw)
            if value is not None:
                out.append(key + value + b"}")
    if record.completion_start_ns is not None:
        # JSON-quoted, as the Python SDK sends it: the only form servers before v3.114 parse.
        quoted = _encode(format_ns(record.completion_start_ns)).decode()
        out.append(_K_COMPLETION_START + _string(quoted) + b"}")
    # The legacy schema needs both, with an integer version, and refines on truthiness: a name
    # alone, a string version or version 0 (read as unset) makes the server drop the whole
    # observation, and a version beyond JavaScript's safe integers is no exact integer there.
    # So a prompt the server would read as half set is not sent at all (as on the ingestion
    # route).
    version = record.prompt_version
    if (
        record.prompt_name
        and version
        and isinstance(version, int)
        and not isinstance(version, bool)
        and -_MAX_SAFE_INT <= version <= _MAX_SAFE_INT
    ):
        out.append(_K_PROMPT_NAME + _string(record.prompt_name) + b"}")
        out.append(_K_PROMPT_VERSION + b'{"intValue":%d}}' % version)


@functools.lru_cache(maxsize=16)
def _envelope(ctx: WireContext) -> tuple[bytes, bytes]:
    """Return the request bytes before and after the comma-joined spans for ``ctx``."""
    resource = [
        _key("service.name") + _string(SERVICE_NAME) + b"}",
        _key("telemetry.sdk.language") + _string("python") + b"}",
        _key("telemetry.sdk.name") + _string(ctx.sdk_name) + b"}",
        _key("telemetry.sdk.version") + _string(ctx.sdk_version) + b"}",
    ]
    # Also on the resource: the server falls back to it for spans without their own.
    if ctx.environment:
        resource.append(_K_ENVIRONMENT + _string(ctx.environment) + b"}")
    if ctx.release:
        resource.append(_K_RELEASE + _string(ctx.release) + b"}")
    scope_attributes = _key("public_key") + _string(ctx.public_key) + b"}"
    head = (
        b'{"resourceSpans":[{"resource":{"attributes":['
        + b",".join(resource)
        + b']},"scopeSpans":[{"scope":{"name":'
        + _encode(SCOPE_NAME)
        + b',"version":'
        + _encode(ctx.sdk_version)
        + b',"attributes":['
        + scope_attributes
        + b']},"spans":['
    )
    return head, b"]}]}]}"


def build_request(spans: Sequence[bytes], ctx: WireContext) -> bytes:
    """Join encoded spans into one ``ExportTraceServiceRequest`` JSON body.

    Args:
        spans: Outputs of :func:`encode_span`.
        ctx: Client-level facts for the resource and the instrumentation scope.

    Returns:
        The uncompressed request body; its length is exactly
        ``sum(map(len, spans)) + request_overhead(len(spans), ctx)``.
    """
    head, tail = _envelope(ctx)
    # One join over the pieces with the separators between them: a body of megabytes is
    # copied once. Joining the spans and then adding the envelope made two more buffers of
    # that size, and the allocator handed each back to the system and faulted it in again:
    # 1.2 ms for a 1 MB body instead of 0.04 ms.
    n = len(spans)
    parts = [b","] * (2 * n + 1) if n else [b"", b""]
    parts[0] = head
    parts[1 : 2 * n : 2] = spans
    parts[-1] = tail
    return b"".join(parts)


def request_overhead(count: int, ctx: WireContext) -> int:
    """Return the bytes :func:`build_request` adds around ``count`` spans.

    Args:
        count: How many spans the request holds.
        ctx: The same context passed to :func:`build_request`.

    Returns:
        The envelope size plus one separator between consecutive spans.
    """
    head, tail = _envelope(ctx)
    return len(head) + len(tail) + max(count - 1, 0)


def otlp_headers(ctx: WireContext, *, gzip: bool = True) -> dict[str, str]:
    """Return the non-auth headers of an OTLP request.

    Args:
        ctx: Supplies the SDK identity and the public key.
        gzip: Whether the body is compressed with :func:`gzip_body`; when False, the
            ``Content-Encoding`` header is left out.

    Returns:
        A new dict; the sender adds ``Authorization`` itself.
    """
    headers = dict(HEADERS_OTLP)
    if not gzip:
        del headers["Content-Encoding"]
    headers["x-langfuse-sdk-name"] = ctx.sdk_name
    headers["x-langfuse-sdk-version"] = ctx.sdk_version
    headers["x-langfuse-public-key"] = ctx.public_key
    return headers


def gzip_body(body: bytes) -> bytes:
    """Compress a request body as gzip at :data:`GZIP_LEVEL`.

    The header's modification time is zero, so equal bodies compress to equal bytes.

    Args:
        body: The output of :func:`build_request`.

    Returns:
        A gzip member the server inflates when ``Content-Encoding: gzip`` is set.
    """
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: gzip container
    return compressor.compress(body) + compressor.flush()
