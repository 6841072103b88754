"""The ingestion wire format: envelopes, golden bytes, batch bodies, truncation, 207 replies."""

from __future__ import annotations

import copy
import json
import os
import pathlib
from typing import Any

import jsonschema  # type: ignore[import-untyped,unused-ignore]
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from langfuse_async._records import (
    GENERATION_LIKE_TYPES,
    OBSERVATION_TYPES,
    TRUNCATED_MARKER,
    ObservationRecord,
    Record,
    ScoreRecord,
    TraceAttributes,
    TraceRecord,
)
from langfuse_async._wire.context import WireContext
from langfuse_async._wire.ingestion import (
    IngestionFailure,
    IngestionReply,
    IngestionSuccess,
    UnencodableEventError,
    batch_overhead,
    build_body,
    encode_event,
    encode_root,
    fit_event,
    is_not_accepted_error,
    parse_response,
    root_trace,
)
from tests.support.server_rules import CLIENT_TIMESTAMP_RE, check_body, check_event

DATA = pathlib.Path(__file__).parent.parent / "data"
GOLDEN_PATH = DATA / "golden_events.json"
SCHEMA: dict[str, Any] = json.loads(
    (DATA / "ingestion-request.schema.json").read_text(encoding="utf-8")
)

# Fixed instants: 2026-01-01T00:00:00Z plus offsets, so the golden bytes never move.
T0 = 1_767_225_600_000_000_000
MS = 1_000_000
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
ROOT_ID = "b7ad6b7169203331"
CHILD_ID = "00f067aa0ba902b7"

CTX = WireContext(
    public_key="pk-lf-test",
    environment="staging",
    release="ctx-release",
    sdk_name="langfuse-async",
    sdk_version="9.9.9",
)
BARE_CTX = WireContext(public_key="pk-lf-test", sdk_version="9.9.9")
_NULL_RAW = msgspec.Raw(b"null")


def raw(value: object) -> msgspec.Raw:
    return msgspec.Raw(msgspec.json.encode(value))


def observation(as_type: str, **overrides: Any) -> ObservationRecord:
    """A fully populated observation of ``as_type`` (generation fields included for all)."""
    fields: dict[str, Any] = dict(
        event_id="e" * 31 + str(sorted(OBSERVATION_TYPES).index(as_type)),
        timestamp_ns=T0 + 2_000 * MS,
        id=CHILD_ID,
        trace_id=TRACE_ID,
        parent_id=ROOT_ID,
        as_type=as_type,
        name=f"my-{as_type}",
        start_ns=T0 + 1_000 * MS,
        end_ns=T0 + 1_000 * MS if as_type == "event" else T0 + 1_500 * MS + 123_456,
        size=900,
        input=raw({"messages": [{"role": "user", "content": "héllo"}]}),
        output=raw("done"),
        metadata={"k": raw(1), "nested": raw({"a": [True, None]})},
        level="WARNING",
        status_message="slow",
        version="v2",
        model="gpt-4o",
        model_parameters=raw({"temperature": 0.2, "max_tokens": 256}),
        usage_details=raw({"input": 10, "output": 20, "total": 30}),
        cost_details=raw({"input": 0.001, "output": 0.002}),
        completion_start_ns=T0 + 1_200 * MS,
        prompt_name="summarize",
        prompt_version=3,
        trace=TraceAttributes(name="ignored-here"),
    )
    fields.update(overrides)
    return ObservationRecord(**fields)


def minimal_span() -> ObservationRecord:
    return ObservationRecord(
        event_id="f" * 32,
        timestamp_ns=T0,
        id=ROOT_ID,
        trace_id=TRACE_ID,
        parent_id=None,
        as_type="span",
        name="root",
        start_ns=T0,
        end_ns=T0 + 1,
        size=400,
    )


def trace(**overrides: Any) -> TraceRecord:
    attributes: dict[str, Any] = dict(
        name="checkout",
        user_id="user-1",
        session_id="session-1",
        version="1.2.3",
        release="attr-release",
        input=raw({"cart": [1, 2]}),
        output=raw({"ok": True}),
        metadata={"region": raw("eu")},
        tags=("b", "a"),
        public=False,
    )
    attributes.update(overrides)
    return TraceRecord(
        event_id="a" * 32,
        timestamp_ns=T0 + 3_000 * MS,
        trace_id=TRACE_ID,
        attributes=TraceAttributes(**attributes),
        size=600,
    )


_SCORE_TYPES = [None, "NUMERIC", "BOOLEAN", "CATEGORICAL", "TEXT", "CORRECTION"]


def score(data_type: str | None, value: float | str, **overrides: Any) -> ScoreRecord:
    fields: dict[str, Any] = dict(
        event_id="c" * 30 + f"{_SCORE_TYPES.index(data_type):02d}",
        timestamp_ns=T0 + 4_000 * MS,
        id="5c0e5c0e5c0e5c0e",
        name="quality",
        value=value,
        size=420,
        trace_id=TRACE_ID,
        observation_id=CHILD_ID,
        data_type=data_type,
        comment="looks right",
        metadata=raw({"judge": "human"}),
    )
    fields.update(overrides)
    return ScoreRecord(**fields)


def _cases() -> dict[str, tuple[Record, WireContext]]:
    cases: dict[str, tuple[Record, WireContext]] = {}
    for as_type in sorted(OBSERVATION_TYPES):
        cases[f"{as_type}-create"] = (observation(as_type), CTX)
    cases["span-minimal"] = (minimal_span(), BARE_CTX)
    cases["trace-create"] = (trace(), CTX)
    cases["trace-minimal"] = (
        TraceRecord(
            event_id="d" * 32,
            timestamp_ns=T0,
            trace_id=TRACE_ID,
            attributes=TraceAttributes(),
            size=1,
        ),
        BARE_CTX,
    )
    cases["score-numeric"] = (score("NUMERIC", 0.75), CTX)
    cases["score-boolean"] = (score("BOOLEAN", 1.0), CTX)
    cases["score-categorical"] = (score("CATEGORICAL", "good"), CTX)
    cases["score-text"] = (score("TEXT", "The answer cites its sources."), CTX)
    cases["score-correction"] = (score("CORRECTION", "The corrected output"), CTX)
    cases["score-untyped-session"] = (
        score(None, 3.0, trace_id=None, observation_id=None, session_id="session-1", comment=None),
        BARE_CTX,
    )
    return cases


CASES = _cases()


def decode(data: bytes | str) -> Any:
    return json.loads(data)


# --------------------------------------------------------------------------------------------
# Golden bytes


def _load_golden() -> dict[str, Any]:
    if os.environ.get("UPDATE_GOLDEN"):
        golden = {name: decode(encode_event(rec, ctx)) for name, (rec, ctx) in CASES.items()}
        text = json.dumps(golden, indent=2, ensure_ascii=False) + "\n"
        GOLDEN_PATH.write_text(text, encoding="utf-8")
    result: dict[str, Any] = json.loads(GOLDEN_PATH.read_text(encoding="utf-8"))
    return result


GOLDEN = _load_golden()


def test_golden_file_covers_every_case() -> None:
    assert set(GOLDEN) == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_encoding_matches_golden_bytes(name: str) -> None:
    record, ctx = CASES[name]
    # Key order is part of the contract, so compare bytes, not just decoded values.
    expected = json.dumps(GOLDEN[name], separators=(",", ":"), ensure_ascii=False).encode()
    assert encode_event(record, ctx) == expected


@pytest.mark.parametrize("name", sorted(CASES))
def test_envelope_shape_and_timestamps(name: str) -> None:
    record, ctx = CASES[name]
    event = decode(encode_event(record, ctx))
    assert list(event) == ["id", "timestamp", "type", "body"]
    assert event["id"] == record.event_id
    assert event["type"] == record.event_type
    assert event["body"]["id"] == record.body_id
    for key in ("startTime", "endTime", "completionStartTime"):
        if key in event["body"]:
            assert CLIENT_TIMESTAMP_RE.match(event["body"][key])
    assert CLIENT_TIMESTAMP_RE.match(event["timestamp"])
    # Absent means omitted: no top-level body field is ever null.
    assert None not in event["body"].values()


def test_observation_body_fields() -> None:
    event = decode(encode_event(observation("generation"), CTX))
    body = event["body"]
    assert event["timestamp"] == "2026-01-01T00:00:02.000000Z"
    assert body["startTime"] == "2026-01-01T00:00:01.000000Z"
    assert body["endTime"] == "2026-01-01T00:00:01.500123Z"
    assert body["completionStartTime"] == "2026-01-01T00:00:01.200000Z"
    assert body["parentObservationId"] == ROOT_ID
    assert body["traceId"] == TRACE_ID
    assert body["environment"] == "staging"
    assert body["promptName"] == "summarize" and body["promptVersion"] == 3
    assert body["usageDetails"] == {"input": 10, "output": 20, "total": 30}
    # The trace snapshot is for OTLP; the ingestion body has no place for it.
    assert "ignored-here" not in json.dumps(event)


def test_event_type_has_no_end_time() -> None:
    body = decode(encode_event(observation("event"), CTX))["body"]
    assert "endTime" not in body
    assert body["startTime"] == "2026-01-01T00:00:01.000000Z"


@pytest.mark.parametrize("as_type", ["span", "event"])
def test_span_and_event_carry_no_generation_fields(as_type: str) -> None:
    body = decode(encode_event(observation(as_type), CTX))["body"]
    generation_only = {
        "model",
        "modelParameters",
        "usageDetails",
        "costDetails",
        "completionStartTime",
        "promptName",
        "promptVersion",
    }
    assert not generation_only & set(body)


@pytest.mark.parametrize("as_type", sorted(GENERATION_LIKE_TYPES))
def test_generation_like_types_carry_generation_fields(as_type: str) -> None:
    body = decode(encode_event(observation(as_type), CTX))["body"]
    assert body["model"] == "gpt-4o"
    assert body["modelParameters"] == {"temperature": 0.2, "max_tokens": 256}
    assert body["costDetails"] == {"input": 0.001, "output": 0.002}


@pytest.mark.parametrize(
    ("prompt_name", "prompt_version", "expected"),
    [
        ("p", 2, {"promptName": "p", "promptVersion": 2}),
        ("p", None, {}),
        (None, 2, {}),
        ("p", 0, {}),  # the server's refine treats version 0 as unset
        ("", 2, {}),
        ("p", 2**60, {}),  # not representable exactly by the server
    ],
)
def test_prompt_name_and_version_are_sent_together_or_not_at_all(
    prompt_name: str | None, prompt_version: int | None, expected: dict[str, Any]
) -> None:
    record = observation("generation", prompt_name=prompt_name, prompt_version=prompt_version)
    body = decode(encode_event(record, CTX))["body"]
    assert {k: body[k] for k in ("promptName", "promptVersion") if k in body} == expected


def test_unset_fields_are_omitted() -> None:
    event = decode(encode_event(minimal_span(), BARE_CTX))
    assert event["body"] == {
        "id": ROOT_ID,
        "traceId": TRACE_ID,
        "name": "root",
        "startTime": "2026-01-01T00:00:00.000000Z",
        "endTime": "2026-01-01T00:00:00.000000Z",
    }


def test_payloads_are_spliced_byte_for_byte() -> None:
    odd = b'{ "a" :  [1,   2.50, "\\u00e9"] }'
    record = observation("span", input=msgspec.Raw(odd), metadata=msgspec.Raw(b"[ 1 ]"))
    encoded = encode_event(record, CTX)
    assert b'"input":' + odd in encoded
    assert b'"metadata":[ 1 ]' in encoded


def test_null_metadata_is_omitted() -> None:
    body = decode(encode_event(observation("span", metadata=_NULL_RAW), CTX))["body"]
    assert "metadata" not in body
    trace_body = decode(encode_event(trace(metadata=_NULL_RAW), CTX))["body"]
    assert "metadata" not in trace_body


def test_trace_release_prefers_attributes_then_context() -> None:
    assert decode(encode_event(trace(), CTX))["body"]["release"] == "attr-release"
    assert decode(encode_event(trace(release=None), CTX))["body"]["release"] == "ctx-release"
    assert "release" not in decode(encode_event(trace(release=None), BARE_CTX))["body"]


def test_trace_body_keeps_false_and_has_no_timestamp() -> None:
    body = decode(encode_event(trace(), CTX))["body"]
    assert body["public"] is False
    assert body["tags"] == ["b", "a"]
    assert "timestamp" not in body
    assert body["id"] == TRACE_ID


def test_score_data_type_is_omitted_when_unset() -> None:
    encoded = encode_event(score(None, 2.5), CTX)
    assert b"dataType" not in encoded
    assert decode(encoded)["body"]["value"] == 2.5


def test_boolean_score_value_is_sent_as_a_number() -> None:
    body = decode(encode_event(score("BOOLEAN", True), CTX))["body"]
    assert body["value"] == 1 and body["value"] is not True


def test_lone_surrogates_are_replaced_not_raised() -> None:
    record = observation(
        "span", name="bad\ud800name", metadata={"key\udfff": raw(1)}, status_message="\udc80"
    )
    encoded = encode_event(record, CTX)
    body = decode(encoded.decode("utf-8"))["body"]
    assert body["name"] == "bad\ufffdname"
    assert body["metadata"] == {"key\ufffd": 1}
    assert body["statusMessage"] == "\ufffd"
    tr = trace(tags=("ok", "x\ud83d"), user_id="\ud800")
    trace_body = decode(encode_event(tr, CTX))["body"]
    assert trace_body["tags"] == ["ok", "x\ufffd"]
    assert trace_body["userId"] == "\ufffd"


def test_context_strings_with_surrogates_are_repaired_too() -> None:
    ctx = WireContext(public_key="pk\ud800", environment="env\ud800")
    body = decode(encode_event(minimal_span(), ctx))["body"]
    assert body["environment"] == "env\ufffd"
    assert decode(build_body([], ctx))["metadata"]["public_key"] == "pk\ufffd"


def test_records_that_break_their_types_raise_a_documented_error() -> None:
    record = observation("span", input=object())
    with pytest.raises(UnencodableEventError, match="span-create"):
        encode_event(record, CTX)


def test_absurd_timestamps_still_encode_as_four_digit_years() -> None:
    record = msgspec.structs.replace(minimal_span(), start_ns=-5, end_ns=10**40)
    body = decode(encode_event(record, BARE_CTX))["body"]
    assert body["startTime"] == "1970-01-01T00:00:00.000000Z"
    assert body["endTime"] == "9999-12-31T23:59:59.999999Z"


# --------------------------------------------------------------------------------------------
# Conformance: published schema and server rules


def _relaxed_schema() -> dict[str, Any]:
    """The published schema with two OpenAPI ``oneOf`` unions read as ``anyOf``.

    In JSON Schema an integer is also a number, so ``MapValue`` (integer | number | ...) would
    refuse ``max_tokens: 256``, and an OpenAI usage object also matches the free-form
    ``UsageDetails`` record. OpenAPI generators (and the server) treat these unions as
    "any of"; every other ``oneOf`` is kept strict.
    """
    schema: dict[str, Any] = copy.deepcopy(SCHEMA)
    for name in ("MapValue", "UsageDetails"):
        schema["$defs"][name] = {"anyOf": schema["$defs"][name].pop("oneOf")}
    return schema


RELAXED = _relaxed_schema()
FORMAT_CHECKER = jsonschema.Draft202012Validator.FORMAT_CHECKER
REQUEST_VALIDATOR = jsonschema.Draft202012Validator(RELAXED, format_checker=FORMAT_CHECKER)
STRICT_REQUEST_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=FORMAT_CHECKER)
PUBLISHED_TYPES = {
    "trace-create",
    "score-create",
    "span-create",
    "generation-create",
    "event-create",
}


def _generation_body_validator(event_type: str) -> jsonschema.Draft202012Validator:
    # These types are missing from the published spec; the server parses them with the
    # generation body, so that is the schema they must meet.
    schema = {
        "$defs": RELAXED["$defs"],
        "allOf": [{"$ref": "#/$defs/CreateGenerationEvent"}],
        "properties": {"type": {"const": event_type}},
        "required": ["type"],
    }
    return jsonschema.Draft202012Validator(schema, format_checker=FORMAT_CHECKER)


def assert_schema_valid(event: dict[str, Any]) -> None:
    if event["type"] in PUBLISHED_TYPES:
        REQUEST_VALIDATOR.validate({"batch": [event]})
    else:
        _generation_body_validator(event["type"]).validate(event)


def test_every_record_kind_is_covered() -> None:
    types = {record.event_type for record, _ in CASES.values()}
    assert types == {t + "-create" for t in OBSERVATION_TYPES} | {"trace-create", "score-create"}
    data_types = {r.data_type for r, _ in CASES.values() if isinstance(r, ScoreRecord)}
    assert data_types == {"NUMERIC", "BOOLEAN", "CATEGORICAL", "TEXT", "CORRECTION", None}


@pytest.mark.parametrize("name", sorted(CASES))
def test_event_conforms_to_schema_and_server_rules(name: str) -> None:
    record, ctx = CASES[name]
    event = decode(encode_event(record, ctx))
    assert_schema_valid(event)
    assert check_event(event) == []


def test_whole_body_conforms() -> None:
    events = [encode_event(record, ctx) for record, ctx in CASES.values()]
    body = decode(build_body(events, CTX))
    assert check_body(body) == []
    assert len({event["id"] for event in body["batch"]}) == len(events)
    published = [e for e in body["batch"] if e["type"] in PUBLISHED_TYPES]
    REQUEST_VALIDATOR.validate({"batch": published, "metadata": body["metadata"]})


def test_published_schema_lacks_the_newer_observation_types() -> None:
    # Guards the reason for the generation-body fallback above.
    event = decode(encode_event(observation("agent"), CTX))
    assert not REQUEST_VALIDATOR.is_valid({"batch": [event]})
    assert _generation_body_validator("agent-create").is_valid(event)


def test_published_schema_is_relaxed_only_where_needed() -> None:
    event = decode(encode_event(observation("generation"), CTX))
    assert not STRICT_REQUEST_VALIDATOR.is_valid({"batch": [event]})
    event["body"]["modelParameters"] = {"temperature": 0.2}
    assert STRICT_REQUEST_VALIDATOR.is_valid({"batch": [event]})


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda e: e.update(timestamp="2026-01-01T00:00:00"), "timestamp"),
        (lambda e: e.update(timestamp="2026-01-01T00:00:00+0000"), "timestamp"),
        (lambda e: e.update(id="x" * 801), "id: length"),
        (lambda e: e["body"].pop("id"), "body.id: missing"),
        (lambda e: e["body"].update(dataType=None), "dataType: must be omitted"),
        (lambda e: e["body"].update(sessionId="s"), "exactly one of"),
        (lambda e: e["body"].pop("traceId"), "exactly one of"),
        (lambda e: e["body"].update(traceId=None, sessionId="s"), "observationId: requires"),
    ],
)
def test_server_rules_catch_broken_scores(mutate: Any, fragment: str) -> None:
    event = decode(encode_event(score("NUMERIC", 1.0), CTX))
    assert check_event(event) == []
    mutate(event)
    assert any(fragment in problem for problem in check_event(event))


@pytest.mark.parametrize(
    ("data_type", "value", "ok"),
    [
        ("BOOLEAN", 0, True),
        ("BOOLEAN", 1.0, True),
        ("BOOLEAN", 0.5, False),
        ("BOOLEAN", True, False),
        ("TEXT", "", False),
        ("TEXT", "x" * 500, True),
        ("TEXT", "x" * 501, False),
        ("NUMERIC", "1", False),
        ("CATEGORICAL", 1, False),
        ("CORRECTION", "fixed", True),
        (None, "free", True),
        (None, None, False),
    ],
)
def test_server_rules_check_score_values(data_type: str | None, value: Any, ok: bool) -> None:
    event = decode(encode_event(score(data_type, 0.0), CTX))
    event["body"]["value"] = value
    assert (check_event(event) == []) is ok


@pytest.mark.parametrize(
    ("patch", "fragment"),
    [
        ({"promptVersion": None}, "promptName/promptVersion"),
        ({"promptName": None}, "promptName/promptVersion"),
        ({"usageDetails": {"input": 1.5}}, "usageDetails.input"),
        ({"usageDetails": {"input": -1}}, "usageDetails.input"),
        ({"costDetails": {"input": "x"}}, "costDetails.input"),
        ({"startTime": "2026-01-01 00:00:00Z"}, "startTime"),
        ({"level": "INFO"}, "level"),
        ({"traceId": ""}, "traceId"),
    ],
)
def test_server_rules_catch_broken_generations(patch: dict[str, Any], fragment: str) -> None:
    event = decode(encode_event(observation("generation"), CTX))
    event["body"].update(patch)
    assert any(fragment in problem for problem in check_event(event))


def test_server_rules_catch_broken_traces() -> None:
    event = decode(encode_event(trace(), CTX))
    event["body"]["name"] = "n" * 1001
    event["body"]["metadata"] = None
    problems = check_event(event)
    assert any("name" in p for p in problems) and any("metadata" in p for p in problems)


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


@pytest.mark.parametrize(
    "name",
    ["r" * 1500, "\U0001f600" * 600, "a" + "\U0001f600" * 500],  # 1500, 1200, 1001 UTF-16 units
)
def test_a_long_root_name_is_cut_to_what_a_trace_name_may_be(name: str) -> None:
    # An observation's name has no limit, a trace's has 1000 (JavaScript) characters: a root
    # named longer would lose the trace-create it brings (a per-event 400).
    record = observation("span", parent_id=None, trace=None, name=name)
    encoded, _, trace_encoded = encode_root(record, CTX)
    assert trace_encoded is not None
    trace_event = decode(trace_encoded)
    assert check_event(trace_event) == []
    trace_name = trace_event["body"]["name"]
    assert name.startswith(trace_name) and 999 <= _utf16_units(trace_name) <= 1000
    assert decode(encoded)["body"]["name"] == name  # the observation keeps its own name
    assert trace_encoded == encode_event(root_trace(record), CTX)


@pytest.mark.parametrize("trace_attributes", [None, TraceAttributes(name="named")])
def test_a_roots_trace_create_carries_its_version_and_metadata(
    trace_attributes: TraceAttributes | None,
) -> None:
    # The server gives an OTLP root span's trace the span's version and metadata: the
    # ingestion route's trace-create must too, or the same code stores a different trace.
    record = observation("span", parent_id=None, trace=trace_attributes)
    _, _, trace_encoded = encode_root(record, CTX)
    assert trace_encoded is not None
    body = decode(trace_encoded)["body"]
    assert body["version"] == "v2"
    assert body["metadata"] == {"k": 1, "nested": {"a": [True, None]}}
    assert trace_encoded == encode_event(root_trace(record), CTX)


def test_a_roots_metadata_keys_win_over_the_traces_and_its_version_over_the_traces() -> None:
    trace_attributes = TraceAttributes(
        version="trace-v", metadata={"k": raw("trace"), "tenant": raw("acme")}
    )
    record = observation("span", parent_id=None, trace=trace_attributes)
    body = decode(encode_event(root_trace(record), CTX))["body"]
    assert body["metadata"] == {"k": 1, "tenant": "acme", "nested": {"a": [True, None]}}
    assert body["version"] == "v2"
    # Without its own, the root leaves the trace's; metadata that is no mapping gives no keys.
    bare = observation("span", parent_id=None, trace=trace_attributes, version=None)
    bare = msgspec.structs.replace(bare, metadata=raw(["a", "list"]))
    body = decode(encode_event(root_trace(bare), CTX))["body"]
    assert (body["version"], body["metadata"]) == ("trace-v", {"k": "trace", "tenant": "acme"})


def test_a_trace_name_cut_by_characters_is_cut_to_the_servers_count_too() -> None:
    # 1000 code points of emoji are 2000 characters to the server.
    event = decode(encode_event(trace(name="\U0001f600" * 1000), CTX))
    assert check_event(event) == []
    assert event["body"]["name"] == "\U0001f600" * 500


def test_model_parameters_the_server_cannot_take_are_sent_as_their_json_text() -> None:
    # The server takes string, number, boolean, string-list and string-map values; any other
    # value (a list of tool objects, a timeout tuple, a nested response format) failed the
    # whole generation with a per-event 400. They go as their JSON text, as the OTLP route's
    # server stores them.
    params = {
        "temperature": 0.2,
        "stream": False,
        "stop": ["\n", "END"],
        "logit_bias": {"50256": "-100"},
        "seed": None,
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "request_timeout": [5, 30.5],
        "response_format": {"type": "json_schema", "json_schema": {"strict": True}},
    }
    record = observation("generation", model_parameters=raw(params))
    event = decode(encode_event(record, CTX))
    assert check_event(event) == []
    assert event["body"]["modelParameters"] == {
        "temperature": 0.2,
        "stream": False,
        "stop": ["\n", "END"],
        "logit_bias": {"50256": "-100"},
        "seed": None,
        "tools": '[{"type":"function","function":{"name":"f"}}]',
        "request_timeout": "[5,30.5]",
        "response_format": '{"type":"json_schema","json_schema":{"strict":true}}',
    }


@pytest.mark.parametrize("value", [[1, 2], 15, "tokens", True])
def test_model_parameters_that_are_not_an_object_are_left_out(value: Any) -> None:
    # The server's schema for them is an object: anything else failed the whole generation.
    event = decode(encode_event(observation("generation", model_parameters=raw(value)), CTX))
    assert check_event(event) == []
    assert "modelParameters" not in event["body"]
    assert event["body"]["model"] == "gpt-4o"  # the rest of the generation is sent


_any_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=_any_json)
def test_any_model_parameters_meet_the_server_rules(params: Any) -> None:
    event = decode(encode_event(observation("generation", model_parameters=raw(params)), CTX))
    assert check_event(event) == []


# Property: whatever a producer puts in a record, the event encodes and meets the server rules.

_json_leaf = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
_json = st.recursive(
    _json_leaf | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=30)  # with surrogates


@st.composite
def _records(draw: st.DrawFn) -> Record:
    kind = draw(st.sampled_from(["observation", "trace", "score"]))
    payload = st.none() | _json.map(raw)
    metadata = st.none() | _json.map(raw) | st.dictionaries(_any_text, _json.map(raw), max_size=3)
    if kind == "observation":
        as_type = draw(st.sampled_from(sorted(OBSERVATION_TYPES)))
        start = draw(st.integers(0, 2**62))
        return observation(
            as_type,
            name=draw(_any_text),
            start_ns=start,
            end_ns=start + draw(st.integers(0, 10**12)),
            input=draw(payload),
            output=draw(payload),
            metadata=draw(metadata),
            status_message=draw(st.none() | _any_text),
            prompt_name=draw(st.none() | _any_text),
            prompt_version=draw(st.none() | st.integers(-(2**70), 2**70)),
            usage_details=draw(
                st.none() | st.dictionaries(st.text(max_size=5), st.integers(0, 10**9)).map(raw)
            ),
        )
    if kind == "trace":
        return trace(
            name=draw(st.none() | _any_text),
            user_id=draw(st.none() | _any_text),
            input=draw(payload),
            metadata=draw(metadata),
            tags=draw(st.none() | st.lists(_any_text, max_size=3).map(tuple)),
            public=draw(st.none() | st.booleans()),
        )
    choices: list[tuple[str | None, float | str]] = [
        ("NUMERIC", 0.5),
        ("BOOLEAN", 0.0),
        ("CATEGORICAL", "a"),
        ("TEXT", "t"),
        ("CORRECTION", "c"),
        (None, 7.0),
    ]
    data_type, value = draw(st.sampled_from(choices))
    return score(
        data_type, value, name=draw(_any_text.filter(bool)), comment=draw(st.none() | _any_text)
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=_records())
def test_any_record_encodes_to_a_valid_event(record: Record) -> None:
    encoded = encode_event(record, CTX)
    event = decode(encoded.decode("utf-8"))
    assert check_event(event) == []
    assert_schema_valid(event)


@st.composite
def _roots(draw: st.DrawFn) -> ObservationRecord:
    as_type = draw(st.sampled_from(sorted(OBSERVATION_TYPES)))
    start = draw(st.sampled_from([0, T0, 10**18 - 1, 10**19 - 1]) | st.integers(-(2**40), 2**70))
    end = draw(st.sampled_from([start, start + 1_000, start + 10**9]) | st.integers(0, 2**64))
    stamp = draw(st.sampled_from([end, start, end + 1]) | st.integers(0, 2**64))
    payload = st.none() | _json.map(raw)
    metadata = st.none() | _json.map(raw) | st.dictionaries(_any_text, _json.map(raw), max_size=3)
    trace_attributes = st.none() | st.builds(
        TraceAttributes,
        name=st.none() | _any_text,
        user_id=st.none() | _any_text,
        release=st.none() | _any_text,
        input=payload,
        output=payload,
        metadata=metadata,
        tags=st.none() | st.lists(_any_text, max_size=2).map(tuple),
        public=st.none() | st.booleans(),
    )
    remote = draw(st.booleans())
    return observation(
        as_type,
        parent_id=ROOT_ID if remote else None,
        remote_parent=remote,
        name=draw(_any_text),
        start_ns=start,
        end_ns=end,
        timestamp_ns=stamp,
        input=draw(payload),
        output=draw(payload),
        metadata=draw(metadata),
        environment=draw(st.none() | st.sampled_from(["", "production"]) | _any_text),
        trace=draw(trace_attributes),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=_roots(), ctx=st.sampled_from([CTX, BARE_CTX]))
def test_a_root_and_its_trace_create_encoded_together_are_the_bytes_of_each_alone(
    record: ObservationRecord, ctx: WireContext
) -> None:
    # encode_root shares the instants of the two envelopes; nothing else may differ.
    encoded, trace, trace_encoded = encode_root(record, ctx)
    assert encoded == encode_event(record, ctx)
    assert trace == root_trace(record)
    assert trace_encoded == encode_event(root_trace(record), ctx)


def test_a_root_whose_trace_cannot_be_encoded_is_encoded_alone() -> None:
    # The trace-create's failure is its own (reported on its own), never the root's.
    broken = TraceAttributes(metadata={"unencodable": [object()]})  # type: ignore[dict-item]
    record = observation("span", parent_id=None, trace=broken)
    encoded, trace, trace_encoded = encode_root(record, CTX)
    assert encoded == encode_event(record, CTX)
    assert trace_encoded is None and trace == root_trace(record)
    with pytest.raises(UnencodableEventError):
        encode_event(trace, CTX)


# --------------------------------------------------------------------------------------------
# Batch bodies


def _tiny_events(n: int) -> list[bytes]:
    return [b'{"i":%d}' % i for i in range(n)]


@pytest.mark.parametrize("n", [0, 1, 2, 9, 10, 11, 99, 100, 101, 1234])
def test_body_length_is_exactly_events_plus_overhead(n: int) -> None:
    events = _tiny_events(n)
    body = build_body(events, CTX)
    assert len(body) == sum(map(len, events)) + batch_overhead(n, CTX)
    decoded = decode(body)
    assert decoded["batch"] == [{"i": i} for i in range(n)]
    assert decoded["metadata"] == {
        "batch_size": n,
        "sdk_name": "langfuse-async",
        "sdk_version": "9.9.9",
        "public_key": "pk-lf-test",
    }


def test_body_layout_bytes() -> None:
    assert build_body([b"{}", b"[]"], CTX) == (
        b'{"batch":[{},[]],"metadata":{"batch_size":2,"sdk_name":"langfuse-async",'
        b'"sdk_version":"9.9.9","public_key":"pk-lf-test"}}'
    )


@given(
    public_key=st.text(max_size=20),
    sizes=st.lists(st.integers(0, 30), max_size=30),
)
def test_overhead_is_exact_for_any_public_key(public_key: str, sizes: list[int]) -> None:
    ctx = WireContext(public_key=public_key, sdk_version="1")
    events = [b"[" + b"0," * size + b"0]" for size in sizes]
    body = build_body(events, ctx)
    assert len(body) == sum(map(len, events)) + batch_overhead(len(events), ctx)
    assert decode(body)["metadata"]["public_key"] == public_key


def test_batch_overhead_rejects_negative_counts() -> None:
    with pytest.raises(ValueError, match="negative"):
        batch_overhead(-1, CTX)


# --------------------------------------------------------------------------------------------
# Oversize events


def _big(n: int) -> msgspec.Raw:
    return raw("x" * n)


def _marker() -> str:
    return TRUNCATED_MARKER


def test_fit_event_returns_the_record_unchanged_when_it_fits() -> None:
    record = observation("span")
    fitted = fit_event(record, CTX, 10_000)
    assert fitted is not None
    assert fitted[0] is record
    assert fitted[1] == encode_event(record, CTX)


def test_fit_event_truncates_only_the_largest_field_when_that_suffices() -> None:
    record = observation("generation", input=_big(5_000), output=_big(3_000), metadata=raw("m"))
    fitted = fit_event(record, CTX, 4_500)
    assert fitted is not None
    new, encoded = fitted
    body = decode(encoded)["body"]
    assert len(encoded) <= 4_500
    assert body["input"] == _marker()
    assert body["output"] == "x" * 3_000
    assert body["metadata"] == "m"
    assert encoded == encode_event(new, CTX)
    assert new.size < record.size
    assert new.event_id == record.event_id


def test_fit_event_truncates_fields_largest_first_until_it_fits() -> None:
    record = observation(
        "span",
        input=_big(2_000),
        output=_big(3_000),
        metadata={"a": _big(1_000), "b": _big(1_500)},
    )
    fitted = fit_event(record, CTX, 1_200)
    assert fitted is not None
    body = decode(fitted[1])["body"]
    assert body["input"] == body["output"] == body["metadata"] == _marker()
    assert len(fitted[1]) <= 1_200

    # Just enough room for the input: output (3000) and metadata (~2500) go, input stays.
    fitted = fit_event(record, CTX, 2_900)
    assert fitted is not None
    body = decode(fitted[1])["body"]
    assert body["output"] == body["metadata"] == _marker()
    assert body["input"] == "x" * 2_000


def test_fit_event_truncates_trace_attributes() -> None:
    record = trace(input=_big(10_000), output=raw(1), metadata=None)
    fitted = fit_event(record, CTX, 2_000)
    assert fitted is not None
    new, encoded = fitted
    assert isinstance(new, TraceRecord)
    assert decode(encoded)["body"]["input"] == _marker()
    assert decode(encoded)["body"]["output"] == 1
    assert new.attributes.name == "checkout"


def test_fit_event_truncates_score_metadata() -> None:
    record = score("NUMERIC", 1.0, metadata={"blob": _big(10_000)})
    fitted = fit_event(record, CTX, 2_000)
    assert fitted is not None
    assert decode(fitted[1])["body"]["metadata"] == _marker()


def test_fit_event_gives_up_when_nothing_is_left_to_truncate() -> None:
    record = observation("span", name="n" * 5_000, input=_big(5_000))
    assert fit_event(record, CTX, 4_000) is None
    assert fit_event(minimal_span(), BARE_CTX, 50) is None


# --------------------------------------------------------------------------------------------
# 207 replies


def test_parse_response_reads_the_server_shape() -> None:
    body = json.dumps(
        {
            "successes": [{"id": "b", "status": 201}, {"id": "a", "status": 201}],
            "errors": [
                {
                    "id": "c",
                    "status": 400,
                    "message": "Invalid request data",
                    "error": '[{"code": "invalid_type"}]',
                },
                {"id": "d", "status": 500, "error": {"error": "Internal Server Error"}},
                {"id": "e", "status": 401, "message": "Authentication error", "error": None},
            ],
            "_deprecation": {"message": "use OTLP"},
        }
    ).encode()
    reply = parse_response(body)
    assert reply == IngestionReply(
        successes=(IngestionSuccess("b", 201), IngestionSuccess("a", 201)),
        errors=(
            IngestionFailure("c", 400, "Invalid request data", '[{"code": "invalid_type"}]'),
            IngestionFailure("d", 500, None, {"error": "Internal Server Error"}),
            IngestionFailure("e", 401, "Authentication error", None),
        ),
    )


def test_parse_response_is_tolerant_of_odd_entries() -> None:
    body = json.dumps(
        {
            "successes": [{"id": "a"}, {"status": 201}, "junk", {"id": 5, "status": 201}],
            "errors": [
                {"id": "b", "status": "429", "message": ["not", "a", "string"], "error": [1]},
                {"id": "c"},
                {"id": "d", "status": 400.0},
            ],
        }
    ).encode()
    reply = parse_response(body)
    assert reply is not None
    assert reply.successes == (IngestionSuccess("a", 201),)
    assert reply.errors == (
        IngestionFailure("b", 429, None, [1]),
        IngestionFailure("c", None, None, None),
        IngestionFailure("d", 400, None, None),
    )


def test_parse_response_accepts_a_missing_list() -> None:
    reply = parse_response(b'{"successes":[{"id":"a","status":201}]}')
    assert reply == IngestionReply((IngestionSuccess("a", 201),), ())


@pytest.mark.parametrize(
    "body",
    [
        b"Invalid JSON",
        b"Body exceeded 4.5mb limit",
        b"",
        b"\xff\xfe",
        b"[]",
        b"null",
        b"{}",
        b'{"message":"Rate limit exceeded","code":"rate_limited"}',
        b'{"successes":"nope","errors":[]}',
        b'{"successes":[],"errors":{"id":"a"}}',
    ],
)
def test_parse_response_returns_none_for_other_shapes(body: bytes) -> None:
    assert parse_response(body) is None


_NOT_ACCEPTED = (
    'Event type "span-create" is not accepted by /api/public/ingestion when '
    "LANGFUSE_MIGRATION_V4_WRITE_MODE is events_only. Use the OpenTelemetry endpoint."
)


def test_recognises_the_v4_events_only_refusal() -> None:
    body = json.dumps(
        {
            "successes": [],
            "errors": [
                {
                    "id": "a",
                    "status": 400,
                    "message": "Event type not accepted",
                    "error": _NOT_ACCEPTED,
                },
                {"id": "b", "status": 400, "message": "Invalid request data", "error": "[]"},
            ],
        }
    ).encode()
    reply = parse_response(body)
    assert reply is not None
    assert [is_not_accepted_error(e) for e in reply.errors] == [True, False]


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (IngestionFailure("a", 400, None, _NOT_ACCEPTED), True),
        (IngestionFailure("a", 400, "event type not accepted ", None), True),
        (IngestionFailure("a", 500, "Event type not accepted", _NOT_ACCEPTED), False),
        (IngestionFailure("a", None, "Event type not accepted", None), False),
        (IngestionFailure("a", 400, "Invalid request data", {"detail": _NOT_ACCEPTED}), False),
    ],
)
def test_not_accepted_detection_edges(failure: IngestionFailure, expected: bool) -> None:
    assert is_not_accepted_error(failure) is expected


def test_a_dataset_run_score_with_a_config_conforms() -> None:
    from tests.support.factories import score

    record = score(trace_id=None, dataset_run_id="run-1", config_id="cfg-1")
    event = decode(encode_event(record, CTX))
    assert event["body"]["datasetRunId"] == "run-1" and event["body"]["configId"] == "cfg-1"
    assert "traceId" not in event["body"]
    assert_schema_valid(event)
    assert check_event(event) == []
