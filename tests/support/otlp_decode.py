"""Read an OTLP/JSON request back into observations, the way the Langfuse server reads it.

A test helper, independent of ``langfuse_async._wire.otlp``: it knows only the wire contract
(attribute keys, value wrappers, the legacy trace I/O fallback), so a round trip through it checks
the encoder against the contract rather than against itself.
"""

from __future__ import annotations

import datetime
import gzip
import json
from typing import Any

__all__ = ["attribute_map", "decode_request", "decode_span", "parse_iso_ns", "unjson"]

_OBS_METADATA = "langfuse.observation.metadata"
_TRACE_METADATA = "langfuse.trace.metadata"
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def unjson(text: Any) -> Any:
    """Undo the SDK's ``_serialize``: JSON text of a non-string becomes the value again.

    A string that does not parse (or parses to a string) was sent as itself. A string that
    happens to be the JSON text of a number, object or list cannot be told apart from that
    value: the official SDKs share this ambiguity, so test data avoid such strings.
    """
    if not isinstance(text, str):
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return text if isinstance(value, str) else value


def parse_iso_ns(text: str) -> int:
    """Parse ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` into epoch nanoseconds."""
    moment = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    delta = moment.replace(tzinfo=datetime.timezone.utc) - _EPOCH
    return (delta // datetime.timedelta(microseconds=1)) * 1000


def _plain(value: dict[str, Any]) -> Any:
    """Convert one OTLP AnyValue; fail on anything the encoder must never produce."""
    assert len(value) == 1, value
    (kind, inner), *_ = value.items()
    if kind == "stringValue":
        assert isinstance(inner, str)
        return inner
    if kind == "intValue":
        # A JSON number: servers before v3.179 turn an integer sent as a string into NaN.
        assert isinstance(inner, int) and not isinstance(inner, bool), value
        return inner
    if kind == "boolValue":
        assert isinstance(inner, bool)
        return inner
    if kind == "doubleValue":
        assert isinstance(inner, float)
        return inner
    if kind == "arrayValue":
        return [_plain(item) for item in inner["values"]]
    raise AssertionError(f"unexpected OTLP value wrapper {kind!r}")


def attribute_map(attributes: list[dict[str, Any]]) -> dict[str, Any]:
    """Turn ``[{key, value}]`` into a dict, asserting the shape and unique keys."""
    assert isinstance(attributes, list)
    out: dict[str, Any] = {}
    for item in attributes:
        assert set(item) == {"key", "value"}, item
        assert item["key"] not in out, f"duplicate attribute {item['key']!r}"
        out[item["key"]] = _plain(item["value"])
    return out


def _metadata(attrs: dict[str, Any], prefix: str, *, native: bool) -> Any:
    blob = attrs.pop(prefix, None)
    flat = {key: attrs.pop(key) for key in [k for k in attrs if k.startswith(prefix + ".")]}
    if not native:
        assert all(isinstance(v, str) for v in flat.values()), flat
    keys = {key[len(prefix) + 1 :]: unjson(value) for key, value in flat.items()}
    if blob is not None:
        # The server spreads the blob's object first, then the flattened keys.
        whole = unjson(blob)
        if not keys:
            return whole
        assert isinstance(whole, dict), "flattened keys beside a blob that is no object"
        assert not whole.keys() & keys.keys(), "a metadata key sent twice"
        return {**whole, **keys}
    return keys or None


def decode_span(span: dict[str, Any], resource: dict[str, Any] | None = None) -> dict[str, Any]:
    """Decode one span into an observation dict (keys follow ``ObservationRecord``).

    Every attribute must be consumed: an unknown key fails the decode.
    """
    resource = resource or {}
    attrs = attribute_map(span["attributes"])
    is_root = "parentSpanId" not in span
    obs: dict[str, Any] = {
        "id": span["spanId"],
        "trace_id": span["traceId"],
        "parent_id": span.get("parentSpanId"),
        "name": span["name"],
        "start_ns": int(span["startTimeUnixNano"]),
        "end_ns": int(span["endTimeUnixNano"]),
        "as_type": attrs.pop("langfuse.observation.type"),
        "environment": attrs.pop("langfuse.environment", None)
        or resource.get("langfuse.environment"),
        "release": attrs.pop("langfuse.release", None) or resource.get("langfuse.release"),
        "is_app_root": attrs.pop("langfuse.internal.is_app_root", False),
        "version": attrs.pop("langfuse.version", None),
        "input": unjson(attrs.pop("langfuse.observation.input", None)),
        "output": unjson(attrs.pop("langfuse.observation.output", None)),
        "metadata": _metadata(attrs, _OBS_METADATA, native=True),
        "level": attrs.pop("langfuse.observation.level", None),
        "status_message": attrs.pop("langfuse.observation.status_message", None),
        "model": attrs.pop("langfuse.observation.model.name", None),
        "model_parameters": _json_object(attrs.pop("langfuse.observation.model.parameters", None)),
        "usage_details": _json_object(attrs.pop("langfuse.observation.usage_details", None)),
        "cost_details": _json_object(attrs.pop("langfuse.observation.cost_details", None)),
        "completion_start_ns": None,
        "prompt_name": attrs.pop("langfuse.observation.prompt.name", None),
        "prompt_version": attrs.pop("langfuse.observation.prompt.version", None),
        "status": span["status"],
    }
    completion = attrs.pop("langfuse.observation.completion_start_time", None)
    if completion is not None:
        obs["completion_start_ns"] = parse_iso_ns(json.loads(completion))
    tags = attrs.pop("langfuse.trace.tags", None)
    trace_input = unjson(attrs.pop("langfuse.trace.input", None))
    trace_output = unjson(attrs.pop("langfuse.trace.output", None))
    obs["trace"] = {
        "name": attrs.pop("langfuse.trace.name", None),
        "user_id": attrs.pop("user.id", None),
        "session_id": attrs.pop("session.id", None),
        "tags": None if tags is None else tuple(tags),
        "public": attrs.pop("langfuse.trace.public", None),
        "metadata": _metadata(attrs, _TRACE_METADATA, native=False),
        # The trace I/O a legacy (v3) server derives: ``langfuse.trace.*`` first, then the root
        # observation's own. A v4 server reads only the root observation's input and output.
        "input": trace_input if trace_input is not None else (obs["input"] if is_root else None),
        "output": (
            trace_output if trace_output is not None else (obs["output"] if is_root else None)
        ),
    }
    assert not attrs, f"unexpected attributes {sorted(attrs)}"
    return obs


def _json_object(text: Any) -> Any:
    if text is None:
        return None
    assert isinstance(text, str)
    return json.loads(text)


def decode_request(body: bytes) -> list[dict[str, Any]]:
    """Decode a whole request body (gzip or plain) into observation dicts, in span order."""
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    document = json.loads(body)
    observations = []
    for resource_spans in document["resourceSpans"]:
        resource = attribute_map(resource_spans["resource"]["attributes"])
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                observations.append(decode_span(span, resource))
    return observations
