"""OTLP protobuf exports read straight from the parsed message, without ``MessageToDict``.

The result has the OTLP/JSON shape the converter reads (hex ids, integer nanoseconds, integer
enums, fields at their default left out, as proto3 JSON leaves them out), except that every
``attributes`` list arrives already decoded as :class:`._otlp.PlainAttributes`: the converter
would otherwise build a wrapper per value only to unwrap it again. Values decode as the
server's ``convertValueToPlainJavascript`` decodes the JSON form.

The optional ``opentelemetry-proto`` package parses the bytes (its upb backend is C).
"""

from __future__ import annotations

import importlib
import json
import math
from typing import Any

from ._otlp import PlainAttributes, ProtobufUnavailable, js_stringify

__all__ = ["decode_protobuf", "parse_protobuf", "plain_attributes", "resource_spans_of"]

_request_type: Any = None


def _load() -> tuple[Any, Any]:
    global _request_type
    try:
        # Imported by name: the optional dependency ships without type information.
        message: Any = importlib.import_module("google.protobuf.message")
        if _request_type is None:
            trace_service: Any = importlib.import_module(
                "opentelemetry.proto.collector.trace.v1.trace_service_pb2"
            )
            _request_type = trace_service.ExportTraceServiceRequest
    except ImportError as exc:
        raise ProtobufUnavailable(str(exc)) from exc
    return message, _request_type


def _double(number: float) -> float | str:
    # proto3 JSON writes non-finite doubles as strings, which the converter keeps as text.
    if math.isfinite(number):
        return number
    if math.isnan(number):
        return "NaN"
    return "Infinity" if number > 0 else "-Infinity"


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        return _double(value.double_value)
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind is None:
        return "{}"  # an empty AnyValue is `{}` in JSON, which the server stringifies
    # kvlist and bytes values: the server stringifies their JSON form.
    json_format: Any = importlib.import_module("google.protobuf.json_format")
    return js_stringify(json.loads(json_format.MessageToJson(value)))


def plain_attributes(items: Any) -> PlainAttributes:
    """A repeated ``KeyValue`` field decoded to plain values."""
    result = PlainAttributes()
    for item in items:
        value = item.value
        # Most attributes are non-empty strings: read inline, without asking for the kind.
        text = value.string_value
        if text or value.WhichOneof("value") == "string_value":
            result[item.key] = text
        else:
            result[item.key] = _value(value)
    return result


def _span(span: Any) -> dict[str, Any]:
    decoded: dict[str, Any] = {"attributes": plain_attributes(span.attributes)}
    if span.name:
        decoded["name"] = span.name
    if span.trace_id:
        decoded["traceId"] = span.trace_id.hex()
    if span.span_id:
        decoded["spanId"] = span.span_id.hex()
    if span.parent_span_id:
        decoded["parentSpanId"] = span.parent_span_id.hex()
    if span.start_time_unix_nano:
        decoded["startTimeUnixNano"] = span.start_time_unix_nano
    if span.end_time_unix_nano:
        decoded["endTimeUnixNano"] = span.end_time_unix_nano
    if span.HasField("status"):
        status: dict[str, Any] = {}
        if span.status.code:
            status["code"] = span.status.code
        if span.status.message:
            status["message"] = span.status.message
        decoded["status"] = status
    if span.events:
        decoded["events"] = [
            {
                "name": event.name or None,
                "timeUnixNano": event.time_unix_nano,
                "attributes": plain_attributes(event.attributes),
            }
            for event in span.events
        ]
    return decoded


def parse_protobuf(data: bytes) -> Any:
    """Parse the bytes of an ``ExportTraceServiceRequest`` (the message, read lazily).

    Raises:
        ProtobufUnavailable: ``opentelemetry-proto`` is not installed.
        ValueError: The bytes are not a valid export.
    """
    message, request_type = _load()
    request = request_type()
    try:
        request.ParseFromString(data)
    except message.DecodeError as exc:
        raise ValueError(str(exc)) from exc
    return request


def resource_spans_of(request: Any) -> list[Any]:
    """A parsed export in the converter's ``resourceSpans`` shape."""
    resource_spans: list[Any] = []
    for resource_entry in request.resource_spans:
        scopes = []
        for scope_entry in resource_entry.scope_spans:
            scope = scope_entry.scope
            scopes.append(
                {
                    "scope": {
                        "name": scope.name or None,
                        "version": scope.version or None,
                        "attributes": plain_attributes(scope.attributes),
                    },
                    "spans": [_span(span) for span in scope_entry.spans],
                }
            )
        resource_spans.append(
            {
                "resource": {"attributes": plain_attributes(resource_entry.resource.attributes)},
                "scopeSpans": scopes,
            }
        )
    return resource_spans


def decode_protobuf(data: bytes) -> list[Any]:
    """Decode an ``ExportTraceServiceRequest`` into the converter's ``resourceSpans`` shape.

    Raises:
        ProtobufUnavailable: ``opentelemetry-proto`` is not installed.
        ValueError: The bytes are not a valid export.
    """
    return resource_spans_of(parse_protobuf(data))
