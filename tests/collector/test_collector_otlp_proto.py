"""Protobuf exports read straight from the message convert exactly as their proto3 JSON form."""

from __future__ import annotations

import base64
import itertools
import math
from typing import Any

import pytest

from langfuse_async._collector._otlp import check_export, convert_export
from langfuse_async._collector._otlp_proto import decode_protobuf

trace_service = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
json_format = pytest.importorskip("google.protobuf.json_format")
common = pytest.importorskip("opentelemetry.proto.common.v1.common_pb2")


def via_json(data: bytes) -> list[Any]:
    """The reference reading: proto3 JSON (what the server parses), ids base64 -> hex."""
    request = trace_service.ExportTraceServiceRequest()
    request.ParseFromString(data)
    decoded = json_format.MessageToDict(request, use_integers_for_enums=True)
    resource_spans: list[Any] = decoded.get("resourceSpans", [])
    for resource in resource_spans:
        for scope in resource.get("scopeSpans", []):
            for span in scope.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return resource_spans


def converted(resource_spans: list[Any]) -> Any:
    ids = (f"e{i}" for i in itertools.count())
    return convert_export(resource_spans, mode="v3", now_ms=1.7e12, new_id=lambda: next(ids))


def kv(key: str, **value: Any) -> Any:
    return common.KeyValue(key=key, value=common.AnyValue(**value))


def sample_export() -> bytes:
    request = trace_service.ExportTraceServiceRequest()
    resource = request.resource_spans.add()
    resource.resource.attributes.extend([kv("service.name", string_value="svc")])
    scope = resource.scope_spans.add()
    scope.scope.name = "langfuse-sdk"
    scope.scope.version = "5.2.0"
    root = scope.spans.add(
        trace_id=bytes(range(16)),
        span_id=bytes(range(8)),
        name="root",
        start_time_unix_nano=1_700_000_000_000_000_000,
        end_time_unix_nano=1_700_000_000_500_000_000,
    )
    root.attributes.extend(
        [
            kv("langfuse.observation.type", string_value="generation"),
            kv("langfuse.observation.metadata.n", string_value="2"),
            kv("langfuse.observation.model.name", string_value="gpt"),
            kv("count", int_value=3),
            kv("ratio", double_value=0.5),
            kv("nan", double_value=math.nan),
            kv("flag", bool_value=True),
            kv("list", array_value=common.ArrayValue(values=[common.AnyValue(int_value=1)])),
            kv(
                "kv",
                kvlist_value=common.KeyValueList(values=[kv("a", string_value="b")]),
            ),
            kv("raw", bytes_value=b"\x00\x01"),
            common.KeyValue(key="empty"),
            kv("user.id", string_value="u1"),
        ]
    )
    root.status.code = 2
    root.status.message = "failed"
    root.events.add(name="exception", time_unix_nano=1_700_000_000_100_000_000).attributes.extend(
        [kv("exception.message", string_value="boom")]
    )
    child = scope.spans.add(
        trace_id=bytes(range(16)), span_id=bytes(range(8, 16)), parent_span_id=bytes(range(8))
    )
    child.attributes.extend([kv("langfuse.observation.type", string_value="event")])
    unnamed = request.resource_spans.add().scope_spans.add()
    unnamed.spans.add(trace_id=bytes(16 * [7]), span_id=bytes(8 * [7]))
    return bytes(request.SerializeToString())


def test_direct_decoding_converts_like_proto3_json():
    data = sample_export()
    direct = decode_protobuf(data)
    assert check_export(direct) is None
    assert converted(direct) == converted(via_json(data))


def test_missing_ids_are_reported_like_the_json_form():
    request = trace_service.ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.add(name="no ids")
    data = bytes(request.SerializeToString())
    message = check_export(decode_protobuf(data))
    assert message is not None and "traceId:absent" in message
    assert message == check_export(via_json(data))


def test_garbage_is_a_value_error():
    with pytest.raises(ValueError):
        decode_protobuf(b"\xff\xff\xff")
