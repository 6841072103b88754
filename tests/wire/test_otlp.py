"""The OTLP/HTTP JSON wire format: golden spans, the research checklist, and round trips."""

from __future__ import annotations

import gzip
import json
import os
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from langfuse_async._records import (
    GENERATION_LIKE_TYPES,
    OBSERVATION_TYPES,
    ObservationRecord,
    TraceAttributes,
)
from langfuse_async._wire import otlp as _otlp
from langfuse_async._wire.context import WireContext
from langfuse_async._wire.otlp import (
    SCOPE_NAME,
    build_request,
    encode_span,
    gzip_body,
    otlp_headers,
    request_overhead,
)
from langfuse_async._wire.text import repair
from tests.support.otlp_decode import decode_request, decode_span, unjson

GOLDEN = Path(__file__).parent.parent / "golden"
# Set to 1 to rewrite the golden files from the current encoder (then review the diff).
UPDATE_GOLDEN = os.environ.get("LANGFUSE_ASYNC_UPDATE_GOLDEN") == "1"

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
ROOT_ID = "00f067aa0ba902b7"
CHILD_ID = "b7ad6b7169203331"
T0 = 1_787_392_800_000_000_000  # 2026-08-22T10:00:00Z

# sdk_version pinned so the golden files survive version bumps.
CTX = WireContext(
    public_key="pk-lf-1234",
    environment="production",
    release="2026.08.22",
    sdk_version="0.1.0",
)

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
DECIMAL = re.compile(r"^[0-9]+$")

GENERATION_KEYS = {
    "langfuse.observation.model.name",
    "langfuse.observation.model.parameters",
    "langfuse.observation.usage_details",
    "langfuse.observation.cost_details",
    "langfuse.observation.completion_start_time",
    "langfuse.observation.prompt.name",
    "langfuse.observation.prompt.version",
}
TRACE_KEYS = {
    "langfuse.trace.name",
    "user.id",
    "session.id",
    "langfuse.trace.tags",
    "langfuse.trace.metadata.tenant",
}


def raw(value: Any) -> msgspec.Raw:
    return msgspec.Raw(msgspec.json.encode(value))


def trace_attrs(**overrides: Any) -> TraceAttributes:
    fields: dict[str, Any] = {
        "name": "chat-turn",
        "user_id": "user-42",
        "session_id": "sess-7",
        "tags": ("beta", "chat"),
        "metadata": {"tenant": raw("acme")},
    }
    fields.update(overrides)
    return TraceAttributes(**fields)


def record(**overrides: Any) -> ObservationRecord:
    fields: dict[str, Any] = {
        "event_id": "e" * 32,
        "timestamp_ns": T0 + 2_000_000_000,
        "id": CHILD_ID,
        "trace_id": TRACE_ID,
        "parent_id": ROOT_ID,
        "as_type": "span",
        "name": "step",
        "start_ns": T0 + 100_000_000,
        "end_ns": T0 + 1_100_000_000,
        "size": 0,
    }
    fields.update(overrides)
    return ObservationRecord(**fields)


def typed_record(as_type: str) -> ObservationRecord:
    """A child observation of ``as_type`` whose record carries every generation field."""
    start = T0 + 100_000_000
    return record(
        as_type=as_type,
        name=f"{as_type}-step",
        start_ns=start,
        end_ns=start if as_type == "event" else T0 + 1_100_000_000,
        input=raw([{"role": "user", "content": "What is 2+2?"}]),
        output=raw("The answer is 4."),
        metadata={"route": raw("/chat"), "attempt": raw(1)},
        version="1.2.0",
        model="gpt-4o-mini",
        model_parameters=raw({"temperature": 0.2, "max_tokens": 256}),
        usage_details=raw({"input": 12, "output": 3, "total": 15}),
        cost_details=raw({"input": 1.8e-06, "output": 1.8e-06, "total": 3.6e-06}),
        completion_start_ns=T0 + 350_000_000,
        prompt_name="qa-prompt",
        prompt_version=3,
        trace=trace_attrs(),
    )


def span_json(rec: ObservationRecord, ctx: WireContext = CTX) -> dict[str, Any]:
    span: dict[str, Any] = json.loads(encode_span(rec, ctx))
    return span


def attrs_of(span: dict[str, Any]) -> dict[str, Any]:
    return {item["key"]: item["value"] for item in span["attributes"]}


def check_golden(name: str, data: Any) -> None:
    path = GOLDEN / f"otlp_{name}.json"
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if UPDATE_GOLDEN:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path.name}"
    assert json.loads(path.read_text(encoding="utf-8")) == data


# --- golden files ----------------------------------------------------------------------------


@pytest.mark.parametrize("as_type", sorted(OBSERVATION_TYPES))
def test_golden_span_per_observation_type(as_type: str) -> None:
    check_golden(as_type, span_json(typed_record(as_type)))


def test_golden_root_span_with_trace_attributes_and_trace_io() -> None:
    rec = record(
        id=ROOT_ID,
        parent_id=None,
        name="handle-request",
        start_ns=T0,
        end_ns=T0 + 1_250_000_000,
        output=raw({"answer": "4"}),
        metadata={"route": raw("/chat")},
        trace=trace_attrs(
            version="v2-agent",
            release="2026.08.23",
            public=True,
            input=raw({"question": "What is 2+2?"}),
            output=raw({"answer": "four"}),
        ),
    )
    span = span_json(rec)
    check_golden("root_trace", span)
    attrs = attrs_of(span)
    assert "parentSpanId" not in span
    assert attrs["langfuse.internal.is_app_root"] == {"boolValue": True}
    # The root had no input: the trace's becomes its own, which v4 reads as the trace input.
    assert attrs["langfuse.observation.input"] == {"stringValue": '{"question":"What is 2+2?"}'}
    assert "langfuse.trace.input" not in attrs
    # It had an output of its own: the trace's differs, so only legacy servers get it.
    assert attrs["langfuse.observation.output"] == {"stringValue": '{"answer":"4"}'}
    assert attrs["langfuse.trace.output"] == {"stringValue": '{"answer":"four"}'}
    # The trace's release and version win over the client's.
    assert attrs["langfuse.release"] == {"stringValue": "2026.08.23"}
    assert attrs["langfuse.version"] == {"stringValue": "v2-agent"}
    assert attrs["langfuse.trace.public"] == {"boolValue": True}


def test_golden_error_span() -> None:
    rec = record(level="ERROR", status_message="TimeoutError: upstream took 30s")
    span = span_json(rec)
    check_golden("error", span)
    assert span["status"] == {"code": 2, "message": "TimeoutError: upstream took 30s"}
    assert attrs_of(span)["langfuse.observation.level"] == {"stringValue": "ERROR"}


def test_golden_metadata_every_value_kind() -> None:
    rec = record(
        metadata={
            "text": raw("plain"),
            "quoted": raw('say "hi"\n'),
            "unicode": raw("héllo ✓"),
            "int": raw(7),
            "negative": raw(-3),
            "zero": raw(0),
            "true": raw(True),
            "false": raw(False),
            "float": raw(0.25),
            "none": raw(None),
            "dict": raw({"cache": False, "n": [1, 2]}),
            "list": raw(["a", 1]),
            "empty_dict": raw({}),
            "big_int": raw(2**60),
            "dotted.key": raw("kept as one key"),
        }
    )
    span = span_json(rec)
    check_golden("metadata_kinds", span)
    attrs = attrs_of(span)
    prefix = "langfuse.observation.metadata."
    assert attrs[prefix + "text"] == {"stringValue": "plain"}
    assert attrs[prefix + "quoted"] == {"stringValue": 'say "hi"\n'}
    assert attrs[prefix + "unicode"] == {"stringValue": "héllo ✓"}
    assert attrs[prefix + "int"] == {"intValue": 7}
    assert attrs[prefix + "negative"] == {"intValue": -3}
    assert attrs[prefix + "zero"] == {"intValue": 0}
    assert attrs[prefix + "true"] == {"boolValue": True}
    assert attrs[prefix + "false"] == {"boolValue": False}
    assert prefix + "none" not in attrs  # the Python SDK drops None values
    # Past 2**53 a JSON number loses digits in the server's JSON.parse.
    assert attrs[prefix + "big_int"] == {"stringValue": str(2**60)}
    assert attrs[prefix + "dotted.key"] == {"stringValue": "kept as one key"}
    # The server takes a per-key value as it is (a JSON text would read back as a string)
    # and parses the whole-metadata attribute: objects, arrays and fractions travel there.
    for key in ("float", "dict", "list", "empty_dict"):
        assert prefix + key not in attrs
    assert json.loads(attrs["langfuse.observation.metadata"]["stringValue"]) == {
        "float": 0.25,
        "dict": {"cache": False, "n": [1, 2]},
        "list": ["a", 1],
        "empty_dict": {},
    }


def test_golden_non_dict_metadata() -> None:
    span = span_json(record(metadata=raw([1, 2])))
    check_golden("metadata_non_dict", span)
    attrs = attrs_of(span)
    assert attrs["langfuse.observation.metadata"] == {"stringValue": "[1,2]"}
    assert not any(k.startswith("langfuse.observation.metadata.") for k in attrs)
    # A string is sent as itself, as the SDK's _serialize does.
    attrs = attrs_of(span_json(record(metadata=raw("note"))))
    assert attrs["langfuse.observation.metadata"] == {"stringValue": "note"}
    attrs = attrs_of(span_json(record(metadata=raw(None))))
    assert "langfuse.observation.metadata" not in attrs


def test_golden_string_versus_object_input() -> None:
    rec = record(input=raw('He said "hi"'), output=raw({"role": "assistant", "content": "4"}))
    span = span_json(rec)
    check_golden("io_str_vs_object", span)
    attrs = attrs_of(span)
    assert attrs["langfuse.observation.input"] == {"stringValue": 'He said "hi"'}
    assert attrs["langfuse.observation.output"] == {
        "stringValue": '{"role":"assistant","content":"4"}'
    }


def three_records() -> list[ObservationRecord]:
    """A root span with trace I/O, a generation and an event under it."""
    root = record(
        id=ROOT_ID,
        parent_id=None,
        name="handle-request",
        start_ns=T0,
        end_ns=T0 + 1_250_000_000,
        input=raw({"question": "What is 2+2?"}),
        output=raw({"answer": "4"}),
        trace=trace_attrs(input=raw({"question": "What is 2+2?"})),
    )
    event = record(
        id="e457b5a2e4d86bd1",
        as_type="event",
        name="cache-miss",
        start_ns=T0 + 1_200_000_000,
        end_ns=T0 + 1_200_000_000,
        input=raw({"key": "q:2+2"}),
        level="WARNING",
        status_message="cache backend slow",
        trace=trace_attrs(),
    )
    return [root, typed_record("generation"), event]


def three_span_request() -> bytes:
    return build_request([encode_span(rec, CTX) for rec in three_records()], CTX)


def test_golden_full_request() -> None:
    body = three_span_request()
    document = json.loads(body)
    check_golden("request", document)
    (resource_spans,) = document["resourceSpans"]
    resource = attrs_of(resource_spans["resource"])
    assert resource == {
        "service.name": {"stringValue": "unknown_service"},
        "telemetry.sdk.language": {"stringValue": "python"},
        "telemetry.sdk.name": {"stringValue": "langfuse-async"},
        "telemetry.sdk.version": {"stringValue": "0.1.0"},
        "langfuse.environment": {"stringValue": "production"},
        "langfuse.release": {"stringValue": "2026.08.22"},
    }
    (scope_spans,) = resource_spans["scopeSpans"]
    assert scope_spans["scope"] == {
        "name": SCOPE_NAME,
        "version": "0.1.0",
        "attributes": [{"key": "public_key", "value": {"stringValue": "pk-lf-1234"}}],
    }
    assert [s["name"] for s in scope_spans["spans"]] == [
        "handle-request",
        "generation-step",
        "cache-miss",
    ]


# --- research checklist (otlp-mapping.md §7), point by point -------------------------------


def walk_values(value: dict[str, Any]) -> list[tuple[str, Any]]:
    (kind, inner), *_ = value.items()
    if kind == "arrayValue":
        return [pair for item in inner["values"] for pair in walk_values(item)]
    return [(kind, inner)]


def test_checklist_1_protocol_encoding() -> None:
    document = json.loads(three_span_request())
    assert set(document) == {"resourceSpans"}
    (resource_spans,) = document["resourceSpans"]
    assert set(resource_spans) == {"resource", "scopeSpans"}
    (scope_spans,) = resource_spans["scopeSpans"]
    assert set(scope_spans) == {"scope", "spans"}
    allowed = {
        "traceId",
        "spanId",
        "parentSpanId",
        "name",
        "kind",
        "startTimeUnixNano",
        "endTimeUnixNano",
        "attributes",
        "status",
    }
    int_values = 0
    for span in scope_spans["spans"]:
        assert set(span) <= allowed
        assert HEX32.match(span["traceId"])
        assert HEX16.match(span["spanId"])
        if "parentSpanId" in span:
            assert HEX16.match(span["parentSpanId"])
        for key in ("startTimeUnixNano", "endTimeUnixNano"):
            assert isinstance(span[key], str) and DECIMAL.match(span[key])
        assert span["kind"] == 1 and type(span["kind"]) is int
        assert isinstance(span["attributes"], list)
        for item in span["attributes"]:
            assert set(item) == {"key", "value"}
            for kind, inner in walk_values(item["value"]):
                assert kind in {"stringValue", "intValue", "boolValue", "doubleValue"}
                if kind == "intValue":
                    int_values += 1
                    assert type(inner) is int  # a JSON number, not "7"
        assert span["status"] == {} or type(span["status"]["code"]) is int
    assert int_values > 0


def test_checklist_1_error_status_code_is_an_integer() -> None:
    status = span_json(record(level="ERROR"))["status"]
    assert status == {"code": 2}
    assert type(status["code"]) is int


def test_checklist_2_general_keys_on_every_span_and_root_marker() -> None:
    document = json.loads(three_span_request())
    resource = attrs_of(document["resourceSpans"][0]["resource"])
    assert resource["langfuse.environment"] == {"stringValue": "production"}
    assert resource["langfuse.release"] == {"stringValue": "2026.08.22"}
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    for span in spans:
        attrs = attrs_of(span)
        assert "langfuse.observation.type" in attrs
        assert attrs["langfuse.environment"] == {"stringValue": "production"}
        assert attrs["langfuse.release"] == {"stringValue": "2026.08.22"}
        is_root = "parentSpanId" not in span
        assert ("langfuse.internal.is_app_root" in attrs) is is_root
    assert sum("parentSpanId" not in span for span in spans) == 1


def test_checklist_2_no_environment_or_release_when_unset() -> None:
    ctx = WireContext(public_key="pk", sdk_version="0.1.0")
    attrs = attrs_of(span_json(record(), ctx))
    assert "langfuse.environment" not in attrs and "langfuse.release" not in attrs
    resource = attrs_of(json.loads(build_request([], ctx))["resourceSpans"][0]["resource"])
    assert "langfuse.environment" not in resource and "langfuse.release" not in resource


def test_checklist_3_sdk_encoding_of_values() -> None:
    attrs = attrs_of(span_json(typed_record("generation")))
    # I/O: a string raw, anything else JSON text.
    assert attrs["langfuse.observation.output"] == {"stringValue": "The answer is 4."}
    assert json.loads(attrs["langfuse.observation.input"]["stringValue"]) == [
        {"role": "user", "content": "What is 2+2?"}
    ]
    # Metadata flattened one level, native int.
    assert attrs["langfuse.observation.metadata.attempt"] == {"intValue": 1}
    # Usage, cost, model parameters: JSON object strings; usage values integers.
    usage = json.loads(attrs["langfuse.observation.usage_details"]["stringValue"])
    assert usage == {"input": 12, "output": 3, "total": 15}
    assert all(type(v) is int for v in usage.values())
    cost = json.loads(attrs["langfuse.observation.cost_details"]["stringValue"])
    assert cost == {"input": 1.8e-06, "output": 1.8e-06, "total": 3.6e-06}
    params = json.loads(attrs["langfuse.observation.model.parameters"]["stringValue"])
    assert params == {"temperature": 0.2, "max_tokens": 256}
    # Completion start: JSON-quoted ISO with microseconds and Z.
    completion = attrs["langfuse.observation.completion_start_time"]["stringValue"]
    assert completion == '"2026-08-22T10:00:00.350000Z"'
    # Prompt version: an integer.
    assert attrs["langfuse.observation.prompt.name"] == {"stringValue": "qa-prompt"}
    assert attrs["langfuse.observation.prompt.version"] == {"intValue": 3}


@pytest.mark.parametrize(
    ("given_level", "sent"),
    [
        ("DEBUG", "DEBUG"),
        ("DEFAULT", "DEFAULT"),
        ("WARNING", "WARNING"),
        ("ERROR", "ERROR"),
        ("warning", "WARNING"),
        ("INFO", "DEFAULT"),
        ("warn", "WARNING"),
        ("CRITICAL", "ERROR"),
        ("verbose", None),
    ],
)
def test_checklist_3_levels_upper_case_and_valid(given_level: str, sent: str | None) -> None:
    span = span_json(record(level=given_level))
    level = attrs_of(span).get("langfuse.observation.level")
    # v3 drops the whole observation for a level outside the four, so none other is sent.
    assert level == (None if sent is None else {"stringValue": sent})
    assert (span["status"] != {}) is (sent == "ERROR")


def test_checklist_4_trace_keys_repeated_on_every_span() -> None:
    spans = json.loads(three_span_request())["resourceSpans"][0]["scopeSpans"][0]["spans"]
    for span in spans:
        attrs = attrs_of(span)
        assert TRACE_KEYS <= set(attrs)
        assert attrs["langfuse.trace.tags"] == {
            "arrayValue": {"values": [{"stringValue": "beta"}, {"stringValue": "chat"}]}
        }
        assert attrs["langfuse.trace.metadata.tenant"] == {"stringValue": "acme"}
        # Trace I/O travels only on the root.
        if "parentSpanId" in span:
            assert "langfuse.trace.input" not in attrs and "langfuse.trace.output" not in attrs


def test_checklist_4_trace_metadata_strings_per_key_other_values_in_one_object() -> None:
    # Strings go one per key, as the SDKs send them; any other value in the object the
    # server parses (per key it would stay a string: 3 read back as "3").
    trace = TraceAttributes(
        metadata={"n": raw(3), "b": raw(True), "d": raw({"a": 1}), "s": raw("x"), "z": raw(None)}
    )
    attrs = attrs_of(span_json(record(trace=trace)))
    prefix = "langfuse.trace.metadata."
    assert attrs[prefix + "s"] == {"stringValue": "x"}
    assert not {prefix + key for key in "nbdz"} & attrs.keys()
    assert json.loads(attrs["langfuse.trace.metadata"]["stringValue"]) == {
        "n": 3,
        "b": True,
        "d": {"a": 1},
    }
    blob = attrs_of(span_json(record(trace=TraceAttributes(metadata=raw(["a"])))))
    assert blob["langfuse.trace.metadata"] == {"stringValue": '["a"]'}


def test_checklist_4_trace_version_is_the_fallback_for_langfuse_version() -> None:
    trace = TraceAttributes(version="trace-v")
    assert attrs_of(span_json(record(trace=trace)))["langfuse.version"] == {
        "stringValue": "trace-v"
    }
    own = attrs_of(span_json(record(trace=trace, version="obs-v")))
    assert own["langfuse.version"] == {"stringValue": "obs-v"}


def test_checklist_5_headers() -> None:
    headers = otlp_headers(CTX)
    assert headers == {
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        "x-langfuse-sdk-name": "langfuse-async",
        "x-langfuse-sdk-version": "0.1.0",
        "x-langfuse-public-key": "pk-lf-1234",
        "x-langfuse-ingestion-version": "4",
    }
    assert "Authorization" not in headers
    assert "Content-Encoding" not in otlp_headers(CTX, gzip=False)
    # Servers answer a version that is not an integer <= 4 with a 400 for the whole request.
    assert int(headers["x-langfuse-ingestion-version"]) <= 4
    headers["x-extra"] = "1"  # a fresh dict each call: callers may add to it
    assert "x-extra" not in otlp_headers(CTX)


# --- pitfalls ------------------------------------------------------------------------------


def python_sdk_v330_override_fires(span: dict[str, Any], scope: dict[str, Any]) -> bool:
    """The server's first type rule (otlp-mapping §2.8), as a predicate."""
    attrs = attrs_of(span)
    if scope.get("name") != "langfuse-sdk":
        return False
    if attrs.get("langfuse.observation.type") != {"stringValue": "span"}:
        return False
    version = scope.get("version")
    old = version is None or tuple(int(p) for p in version.split(".")[:2]) <= (3, 3)
    return old and bool(GENERATION_KEYS & set(attrs))


@pytest.mark.parametrize("as_type", ["span", "event"])
def test_no_generation_keys_on_span_or_event(as_type: str) -> None:
    span = span_json(typed_record(as_type))
    assert not GENERATION_KEYS & set(attrs_of(span))
    scope = json.loads(build_request([], CTX))["resourceSpans"][0]["scopeSpans"][0]["scope"]
    assert not python_sdk_v330_override_fires(span, scope)
    # Even with the generation keys, the scope name alone keeps the override off.
    assert not python_sdk_v330_override_fires(span_json(typed_record("generation")), scope)


@pytest.mark.parametrize("as_type", sorted(GENERATION_LIKE_TYPES))
def test_generation_keys_on_generation_like_types(as_type: str) -> None:
    assert GENERATION_KEYS <= set(attrs_of(span_json(typed_record(as_type))))


def test_scope_name_avoids_the_attribute_dump_and_the_override() -> None:
    assert SCOPE_NAME.startswith("langfuse-sdk")
    assert SCOPE_NAME != "langfuse-sdk"


def test_scope_public_key_is_the_context_key() -> None:
    # Some server versions discard a langfuse-sdk* batch whose scope key differs from the auth key.
    ctx = WireContext(public_key="pk-lf-other", sdk_version="9.9.9")
    scope = json.loads(build_request([], ctx))["resourceSpans"][0]["scopeSpans"][0]["scope"]
    assert scope["attributes"] == [{"key": "public_key", "value": {"stringValue": "pk-lf-other"}}]
    assert scope["version"] == "9.9.9"


def test_prompt_name_without_version_is_not_sent() -> None:
    # A v3 server drops the whole generation for a prompt name without an integer version.
    attrs = attrs_of(span_json(record(as_type="generation", prompt_name="qa-prompt")))
    assert "langfuse.observation.prompt.name" not in attrs
    assert "langfuse.observation.prompt.version" not in attrs


@pytest.mark.parametrize(
    "prompt_name, prompt_version",
    [
        ("qa-prompt", 0),  # the server's refine reads version 0 as unset: a name alone
        ("qa-prompt", 2**60),  # beyond JavaScript's safe integers: no exact int there
        ("qa-prompt", -(2**60)),
        ("", 3),  # an empty name is unset too: a version alone
    ],
)
def test_a_prompt_the_server_reads_as_half_set_is_not_sent(
    prompt_name: str, prompt_version: int
) -> None:
    # The legacy schema refines on truthiness (both set or neither) with an integer version;
    # a half-set pair makes a v3 server drop the whole generation, without a word to the client.
    rec = record(as_type="generation", prompt_name=prompt_name, prompt_version=prompt_version)
    attrs = attrs_of(span_json(rec))
    assert "langfuse.observation.prompt.name" not in attrs
    assert "langfuse.observation.prompt.version" not in attrs


@pytest.mark.parametrize("name", ["r" * 1500, "\U0001f600" * 600])
def test_a_long_root_span_name_gives_the_trace_a_name_the_server_takes(name: str) -> None:
    # The server names the trace after the root span when no trace name is set, and a trace
    # name over 1000 (JavaScript) characters fails the legacy path's trace-create.
    attrs = attrs_of(span_json(record(parent_id=None, name=name)))
    trace_name = attrs["langfuse.trace.name"]["stringValue"]
    assert name.startswith(trace_name)
    assert len(trace_name.encode("utf-16-le")) // 2 == 1000
    assert "langfuse.trace.name" not in attrs_of(span_json(record(parent_id=None)))
    assert "langfuse.trace.name" not in attrs_of(span_json(record(name=name)))  # a child


def test_a_trace_name_is_cut_to_the_servers_count() -> None:
    trace = trace_attrs(name="\U0001f600" * 1000)  # 2000 characters to the server
    attrs = attrs_of(span_json(record(trace=trace)))
    assert attrs["langfuse.trace.name"] == {"stringValue": "\U0001f600" * 500}


def test_public_false_is_not_sent() -> None:
    attrs = attrs_of(span_json(record(trace=TraceAttributes(public=False))))
    assert "langfuse.trace.public" not in attrs


def test_root_with_equal_trace_io_sends_it_once() -> None:
    same = raw({"q": 1})
    rec = record(parent_id=None, input=same, trace=TraceAttributes(input=raw({"q": 1})))
    attrs = attrs_of(span_json(rec))
    assert attrs["langfuse.observation.input"] == {"stringValue": '{"q":1}'}
    assert "langfuse.trace.input" not in attrs


def test_trace_io_never_on_a_child() -> None:
    rec = record(trace=TraceAttributes(input=raw("in"), output=raw("out")))
    attrs = attrs_of(span_json(rec))
    assert not {"langfuse.trace.input", "langfuse.trace.output"} & set(attrs)
    assert not {"langfuse.observation.input", "langfuse.observation.output"} & set(attrs)


def test_null_payloads_are_omitted() -> None:
    rec = record(as_type="generation", input=raw(None), output=raw(None), usage_details=raw(None))
    attrs = attrs_of(span_json(rec))
    assert not {
        "langfuse.observation.input",
        "langfuse.observation.output",
        "langfuse.observation.usage_details",
    } & set(attrs)


def test_awkward_strings_stay_valid_json() -> None:
    name = 'quote " backslash \\ newline \n tab \t nul \x00 emoji 🦜'
    rec = record(
        name=name,
        input=raw(name),
        metadata={name: raw(name)},
        status_message=name,
        trace=TraceAttributes(name=name, tags=(name,), metadata={name: raw(name)}),
    )
    span = span_json(rec)
    assert span["name"] == name
    attrs = attrs_of(span)
    assert attrs["langfuse.observation.input"] == {"stringValue": name}
    assert attrs["langfuse.observation.metadata." + name] == {"stringValue": name}
    assert attrs["langfuse.trace.metadata." + name] == {"stringValue": name}
    assert attrs["langfuse.trace.tags"]["arrayValue"]["values"] == [{"stringValue": name}]


# --- ids, timestamps, lengths, gzip --------------------------------------------------------


def test_ids_and_timestamps_format() -> None:
    rec = record(start_ns=T0 + 1, end_ns=T0 + 999_999_999)
    span = span_json(rec)
    assert span["traceId"] == TRACE_ID and span["spanId"] == CHILD_ID
    assert span["parentSpanId"] == ROOT_ID
    # Nanoseconds survive exactly as decimal strings (no float rounding).
    assert span["startTimeUnixNano"] == "1787392800000000001"
    assert span["endTimeUnixNano"] == "1787392800999999999"
    root = span_json(record(parent_id=None))
    assert "parentSpanId" not in root
    event = span_json(typed_record("event"))
    assert event["startTimeUnixNano"] == event["endTimeUnixNano"]


def test_encoded_span_is_compact_utf8() -> None:
    data = encode_span(record(name="é"), CTX)
    assert isinstance(data, bytes)
    assert "é".encode() in data
    assert b"\n" not in data and b": " not in data


contexts = st.builds(
    WireContext,
    public_key=st.text(max_size=20),
    environment=st.none() | st.text(max_size=10),
    release=st.none() | st.text(max_size=10),
    sdk_name=st.text(min_size=1, max_size=10),
    sdk_version=st.text(min_size=1, max_size=10),
)


@given(spans=st.lists(st.binary(max_size=50), max_size=8), ctx=contexts)
def test_request_overhead_is_exact_for_any_spans(spans: list[bytes], ctx: WireContext) -> None:
    body = build_request(spans, ctx)
    assert len(body) == sum(map(len, spans)) + request_overhead(len(spans), ctx)


@given(ctx=contexts, count=st.integers(min_value=0, max_value=5))
def test_request_with_real_spans_parses_and_matches_overhead(ctx: WireContext, count: int) -> None:
    spans = [encode_span(typed_record("generation"), ctx) for _ in range(count)]
    body = build_request(spans, ctx)
    assert len(body) == sum(map(len, spans)) + request_overhead(count, ctx)
    document = json.loads(body)
    assert len(document["resourceSpans"][0]["scopeSpans"][0]["spans"]) == count


def test_request_overhead_grows_by_one_separator_per_span() -> None:
    base = request_overhead(1, CTX)
    assert request_overhead(0, CTX) == base
    assert request_overhead(5, CTX) == base + 4


def test_gzip_body_round_trips_and_is_deterministic() -> None:
    body = three_span_request()
    packed = gzip_body(body)
    assert packed[:2] == b"\x1f\x8b"
    assert gzip.decompress(packed) == body
    assert gzip_body(body) == packed
    assert len(packed) < len(body)
    assert 1 <= _otlp.GZIP_LEVEL <= 6


# --- round trip: request -> observations ---------------------------------------------------


def _value(payload: msgspec.Raw | None) -> Any:
    return None if payload is None else msgspec.json.decode(payload)


def _metadata_view(metadata: Any) -> Any:
    if metadata is None:
        return None
    if isinstance(metadata, dict):
        view = {k: _value(v) for k, v in metadata.items() if _value(v) is not None}
        return view or None
    return _value(metadata)


def expected_observation(rec: ObservationRecord, ctx: WireContext) -> dict[str, Any]:
    """What the request must tell the server about ``rec``, by the documented rules."""
    trace = rec.trace or TraceAttributes()
    is_root = rec.parent_id is None
    generation = rec.as_type in GENERATION_LIKE_TYPES
    own_input, own_output = _value(rec.input), _value(rec.output)
    trace_input = _value(trace.input) if is_root else None
    trace_output = _value(trace.output) if is_root else None
    prompt = generation and rec.prompt_name and rec.prompt_version is not None
    completion = rec.completion_start_ns if generation else None
    return {
        "id": rec.id,
        "trace_id": rec.trace_id,
        "parent_id": rec.parent_id,
        "name": rec.name,
        "start_ns": rec.start_ns,
        "end_ns": rec.end_ns,
        "as_type": rec.as_type,
        "environment": ctx.environment or None,
        "release": trace.release or ctx.release or None,
        "is_app_root": is_root,
        "version": rec.version or trace.version or None,
        # v4 takes the trace's I/O from the root's own: the trace's fills in when it has none.
        "input": own_input if own_input is not None else trace_input,
        "output": own_output if own_output is not None else trace_output,
        "metadata": _metadata_view(rec.metadata),
        "level": rec.level,
        "status_message": rec.status_message or None,
        "model": (rec.model or None) if generation else None,
        "model_parameters": _value(rec.model_parameters) if generation else None,
        "usage_details": _value(rec.usage_details) if generation else None,
        "cost_details": _value(rec.cost_details) if generation else None,
        "completion_start_ns": None if completion is None else completion // 1000 * 1000,
        "prompt_name": rec.prompt_name if prompt else None,
        "prompt_version": rec.prompt_version if prompt else None,
        "status": (
            {"code": 2, **({"message": rec.status_message} if rec.status_message else {})}
            if rec.level == "ERROR"
            else {}
        ),
        "trace": {
            "name": trace.name or None,
            "user_id": trace.user_id or None,
            "session_id": trace.session_id or None,
            "tags": trace.tags or None,
            "public": True if trace.public else None,
            "metadata": _metadata_view(trace.metadata),
            # A legacy server: the trace's own value first, else the root observation's.
            "input": trace_input if trace_input is not None else (own_input if is_root else None),
            "output": (
                trace_output if trace_output is not None else (own_output if is_root else None)
            ),
        },
    }


def test_round_trip_of_the_golden_request() -> None:
    observations = decode_request(gzip_body(three_span_request()))
    assert [o["as_type"] for o in observations] == ["span", "generation", "event"]
    root, generation, event = observations
    assert root["trace"]["input"] == {"question": "What is 2+2?"}
    assert generation["usage_details"] == {"input": 12, "output": 3, "total": 15}
    assert generation["completion_start_ns"] == T0 + 350_000_000
    assert generation["prompt_version"] == 3
    assert event["level"] == "WARNING" and event["status"] == {}
    assert observations == [expected_observation(rec, CTX) for rec in three_records()]


@pytest.mark.parametrize("as_type", sorted(OBSERVATION_TYPES))
def test_round_trip_every_type(as_type: str) -> None:
    rec = typed_record(as_type)
    (obs,) = decode_request(build_request([encode_span(rec, CTX)], CTX))
    assert obs == expected_observation(rec, CTX)


def _unambiguous(text: str) -> bool:
    """A string the SDK encoding keeps apart from a non-string value (see ``unjson``)."""
    return bool(unjson(text) == text)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12).filter(_unambiguous)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
keys = st.text(max_size=8)
metadata = (
    st.none()
    | st.dictionaries(keys, json_values.map(raw), max_size=5)
    | json_values.filter(lambda v: not isinstance(v, dict)).map(raw)
)
hex16 = st.integers(min_value=1, max_value=2**64 - 1).map(lambda n: f"{n:016x}")
hex32 = st.integers(min_value=1, max_value=2**128 - 1).map(lambda n: f"{n:032x}")
nanos = st.integers(min_value=0, max_value=4_000_000_000_000_000_000)
short_text = st.text(max_size=10)
payloads = st.none() | json_values.map(raw)

trace_attributes = st.none() | st.builds(
    TraceAttributes,
    name=st.none() | short_text,
    user_id=st.none() | short_text,
    session_id=st.none() | short_text,
    version=st.none() | short_text,
    release=st.none() | short_text,
    input=payloads,
    output=payloads,
    metadata=metadata,
    tags=st.none() | st.lists(short_text, max_size=3).map(tuple),
    public=st.none() | st.booleans(),
)


@st.composite
def records(draw: st.DrawFn) -> ObservationRecord:
    as_type = draw(st.sampled_from(sorted(OBSERVATION_TYPES)))
    start = draw(nanos)
    end = start if as_type == "event" else start + draw(st.integers(0, 10**12))
    return ObservationRecord(
        event_id="e" * 32,
        timestamp_ns=end,
        id=draw(hex16),
        trace_id=draw(hex32),
        parent_id=draw(st.none() | hex16),
        as_type=as_type,
        name=draw(short_text),
        start_ns=start,
        end_ns=end,
        size=0,
        input=draw(payloads),
        output=draw(payloads),
        metadata=draw(metadata),
        level=draw(st.none() | st.sampled_from(["DEBUG", "DEFAULT", "WARNING", "ERROR"])),
        status_message=draw(st.none() | short_text),
        version=draw(st.none() | short_text),
        model=draw(st.none() | short_text),
        model_parameters=draw(st.none() | st.dictionaries(keys, json_values).map(raw)),
        usage_details=draw(
            st.none() | st.dictionaries(keys, st.integers(0, 10**9), min_size=1).map(raw)
        ),
        cost_details=draw(
            st.none()
            | st.dictionaries(keys, st.floats(0, 100, allow_nan=False), min_size=1).map(raw)
        ),
        completion_start_ns=draw(st.none() | nanos),
        prompt_name=draw(st.none() | short_text),
        prompt_version=draw(st.none() | st.integers(1, 1000)),
        trace=draw(trace_attributes),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(records(), min_size=1, max_size=4), ctx=contexts)
def test_round_trip_reproduces_the_records(
    batch: list[ObservationRecord], ctx: WireContext
) -> None:
    spans = [encode_span(rec, ctx) for rec in batch]
    body = gzip_body(build_request(spans, ctx))
    observations = decode_request(body)
    assert observations == [expected_observation(rec, ctx) for rec in batch]


def test_decoder_rejects_what_the_server_would_misread() -> None:
    # The helper must be strict, or the round trip would prove nothing.
    span = span_json(record())
    span["attributes"].append({"key": "x", "value": {"intValue": "7"}})
    with pytest.raises(AssertionError):
        decode_span(span)
    span = span_json(record())
    span["attributes"].append({"key": "unknown.key", "value": {"stringValue": "v"}})
    with pytest.raises(AssertionError):
        decode_span(span)


def test_module_depends_on_msgspec_only() -> None:
    import ast

    tree = ast.parse(Path(_otlp.__file__).read_text(encoding="utf-8"))
    imported = {
        (node.module or "").split(".")[0] if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert not imported & {"opentelemetry", "google", "protobuf", "json"}
    assert "msgspec" in imported


class _SpanObject(msgspec.Struct):
    """A span's own fields as sent, its attributes and status kept as their bytes."""

    traceId: str  # the wire's names
    spanId: str
    name: str
    kind: int
    startTimeUnixNano: str
    endTimeUnixNano: str
    attributes: msgspec.Raw
    status: msgspec.Raw
    parentSpanId: str | None = None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rec=records(), name=st.text(), remote=st.booleans(), ctx=contexts)
def test_the_span_object_is_written_as_msgspec_writes_its_fields(
    rec: ObservationRecord, name: str, remote: bool, ctx: WireContext
) -> None:
    # The span around its attributes is formatted directly (faster than encoding a dict):
    # the same bytes as msgspec's encoding of the dict, in the same key order, for any name.
    remote = remote and rec.parent_id is not None
    rec = msgspec.structs.replace(rec, name=name, remote_parent=remote)
    encoded = encode_span(rec, ctx)
    span = msgspec.json.decode(encoded, type=_SpanObject)
    fields: dict[str, object] = {"traceId": span.traceId, "spanId": span.spanId}
    if rec.parent_id is not None:
        fields["parentSpanId"] = rec.parent_id
    fields.update(
        name=span.name,
        kind=1,
        startTimeUnixNano=str(rec.start_ns),
        endTimeUnixNano=str(rec.end_ns),
        attributes=span.attributes,
        status=span.status,
    )
    assert encoded == msgspec.json.encode(fields)
    assert (span.traceId, span.spanId, span.parentSpanId) == (rec.trace_id, rec.id, rec.parent_id)
    assert span.name == repair(name)  # a lone surrogate repaired, as anywhere else


def test_a_span_whose_times_are_not_plain_integers_is_written_as_before() -> None:
    # A bool is an int to the formatter but not to msgspec: such a record (not one the tracer
    # makes) keeps the text the dict encoding gives it.
    rec = record(start_ns=True, end_ns=T0)
    span = json.loads(encode_span(rec, CTX))
    assert (span["startTimeUnixNano"], span["endTimeUnixNano"]) == ("True", str(T0))


def test_repeating_attributes_are_encoded_once_yet_always_their_own_value() -> None:
    # Environment, release, version and level are cached by key and value: a span never gets
    # another one's value, and the cache stays small (short values only, cleared when full).
    versions = [f"v{i}" for i in range(300)] + ["long-" * 100]
    for _ in range(2):
        for version in versions:
            span = span_json(record(version=version, environment=version[:10], level="ERROR"))
            attributes = {a["key"]: a["value"] for a in span["attributes"]}
            assert attributes["langfuse.version"] == {"stringValue": version}
            assert attributes["langfuse.environment"] == {"stringValue": version[:10]}
            assert attributes["langfuse.observation.level"] == {"stringValue": "ERROR"}
    known = _otlp._known_attributes
    assert len(known) <= _otlp._KNOWN_ATTRIBUTES
    assert all(len(value) <= _otlp._KNOWN_VALUE_CHARS for _, value in known)


@given(st.lists(st.binary(min_size=1, max_size=40), max_size=12))
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
def test_a_request_is_the_envelope_around_the_spans_joined_by_commas(spans: list[bytes]) -> None:
    # build_request splices the spans in one join (one copy of a body of megabytes): the bytes
    # must be exactly the envelope's head, the spans with a comma between each, and its tail.
    body = build_request(spans, CTX)
    empty = build_request([], CTX)
    head, tail = empty[: empty.index(b'"spans":[') + 9], empty[empty.index(b'"spans":[') + 9 :]
    assert body == head + b",".join(spans) + tail
    assert len(body) == sum(map(len, spans)) + request_overhead(len(spans), CTX)
