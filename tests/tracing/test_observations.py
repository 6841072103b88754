"""Observation handles: updates, ending, children, trace attributes, and their helpers."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import gc
import logging
import threading
from typing import Any

import msgspec
import pytest

from langfuse_async import _log
from langfuse_async._records import RECORD_OVERHEAD_BYTES, ObservationRecord, TraceAttributes
from langfuse_async._tracing.coerce import describe_exception, to_ns
from langfuse_async._tracing.noop import NOOP_OBSERVATION, NOOP_OBSERVATIONS
from langfuse_async._tracing.observations import LangfuseTool, start
from langfuse_async._tracing.traces import merge_trace_attributes
from tests.support.recording import RecordingTracer, decode


def _raw(value: Any) -> msgspec.Raw:
    return msgspec.Raw(msgspec.json.encode(value))


# --------------------------------------------------------------------------- update / end


def test_update_returns_the_handle_and_later_values_win(tracer: RecordingTracer) -> None:
    obs = tracer.start_observation(name="first", input="a")
    assert obs.update(name="second", input="b", version="1") is obs
    obs.update(version="2")
    obs.end()
    rec = tracer.by_name("second")
    assert decode(rec.input) == "b" and rec.version == "2"


def test_metadata_mappings_merge_per_key(tracer: RecordingTracer) -> None:
    obs = tracer.start_observation(name="x", metadata={"a": 1, "b": 1})
    obs.update(metadata={"b": 2, "c": 3})
    obs.end()
    assert decode(tracer.by_name("x").metadata) == {"a": 1, "b": 2, "c": 3}
    other = tracer.start_observation(name="y", metadata={"a": 1})
    other.update(metadata=["not", "a", "mapping"])
    other.end()
    assert decode(tracer.by_name("y").metadata) == ["not", "a", "mapping"]


def test_update_after_end_is_ignored(
    tracer: RecordingTracer, caplog: pytest.LogCaptureFixture
) -> None:

    _log._logged.discard("update.ended")  # logged once per process: start afresh
    obs = tracer.start_observation(name="x")
    obs.end()
    with caplog.at_level(logging.DEBUG, logger="langfuse_async"):
        obs.update(output="late")
    assert tracer.by_name("x").output is None
    assert any("after it ended" in r.getMessage() for r in caplog.records)


def test_payloads_are_released_when_the_observation_ends(tracer: RecordingTracer) -> None:
    obs = tracer.start_observation(name="x", input="i" * 1000, metadata={"k": "v"})
    obs.update(output="o")
    obs.end()
    assert obs._input is None and obs._output is None and obs._extra is None
    assert decode(tracer.by_name("x").input) == "i" * 1000  # the record keeps them


def test_size_counts_payload_bytes(tracer: RecordingTracer) -> None:
    obs = tracer.start_observation(name="x", input="12345678")  # 10 bytes encoded
    obs.update(output=[1, 2])  # 5 bytes
    obs.end()
    assert tracer.by_name("x").size == RECORD_OVERHEAD_BYTES + 15 + len("x")


def test_size_counts_every_string_a_record_holds(tracer: RecordingTracer) -> None:
    # 200 KB names, models and status messages used memory the bound did not see.
    big = "n" * 200_000
    obs = tracer.start_observation(name=big, as_type="generation")
    obs.update(model=big, version=big, status_message=big, prompt_name=big, prompt_version=1)
    obs.update_trace(user_id=big, tags=[big])
    obs.end()
    rec = tracer.by_name(big)
    assert rec.trace is not None
    held = [rec.name, rec.model, rec.version, rec.status_message, rec.prompt_name]
    held += [rec.trace.user_id, *(rec.trace.tags or ())]
    assert rec.size >= sum(len(text or "") for text in held) >= 5 * 200_000


def test_invalid_level_and_prompt_version_are_ignored(
    tracer: RecordingTracer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="langfuse_async"):
        obs = tracer.start_observation(name="g", as_type="generation")
        obs.update(level="FATAL", prompt_name="p", prompt_version="3")  # type: ignore[arg-type]
        obs.update(completion_start_time="yesterday")  # type: ignore[arg-type]
        obs.end()
    rec = tracer.by_name("g")
    assert rec.level is None and rec.prompt_version is None and rec.completion_start_ns is None
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "level" in messages and "prompt_version" in messages
    assert "completion_start_time" in messages


def test_prompt_objects_are_linked_unless_fallback(tracer: RecordingTracer) -> None:
    class Prompt:
        def __init__(self, name: str, version: int, is_fallback: bool) -> None:
            self.name, self.version, self.is_fallback = name, version, is_fallback

    a = tracer.start_observation(name="a", as_type="generation", prompt=Prompt("qa", 4, False))
    b = tracer.start_observation(name="b", as_type="generation", prompt=Prompt("qa", 4, True))
    a.end()
    b.end()
    assert (tracer.by_name("a").prompt_name, tracer.by_name("a").prompt_version) == ("qa", 4)
    assert tracer.by_name("b").prompt_name is None


def test_hostile_field_values_never_raise(tracer: RecordingTracer) -> None:
    class Hostile:
        def __str__(self) -> str:
            raise RuntimeError("no str")

        @property
        def name(self) -> str:
            raise RuntimeError("no name")

    obs = tracer.start_observation(name=Hostile())  # type: ignore[arg-type]
    obs.update(level=["not", "hashable"])  # type: ignore[arg-type]
    obs.update(prompt=Hostile(), version=Hostile())  # type: ignore[arg-type]
    obs.update_trace(user_id=Hostile(), tags=[Hostile()])  # type: ignore[arg-type, list-item]
    obs.score(name="s", value=1, comment=Hostile())  # type: ignore[arg-type]
    obs.end()
    (rec,) = tracer.observations
    assert rec.name == "<Hostile>"
    assert rec.trace is not None and rec.trace.user_id == "<Hostile>"
    assert tracer.scores[0].comment == "<Hostile>"


def test_an_update_with_one_bad_field_keeps_the_others(tracer: RecordingTracer) -> None:
    obs = tracer.start_observation(name="x", as_type="generation")
    obs.update(level=["ERROR"], status_message="kept", model="m")  # type: ignore[arg-type]
    obs.end()
    rec = tracer.by_name("x")
    assert rec.level is None
    assert (rec.status_message, rec.model) == ("kept", "m")


def test_str_enum_values_become_plain_strings(tracer: RecordingTracer) -> None:
    class Level(str, enum.Enum):
        WARNING = "WARNING"

    class Kind(str, enum.Enum):
        TOOL = "tool"

    obs = tracer.start_observation(name="x", as_type=Kind.TOOL)  # type: ignore[arg-type]
    obs.update(level=Level.WARNING)  # type: ignore[arg-type]
    obs.end()
    rec = tracer.by_name("x")
    assert (rec.as_type, rec.level) == ("tool", "WARNING")
    assert type(rec.as_type) is str and type(rec.level) is str


class _NoOffset(dt.tzinfo):
    """A tzinfo that knows no offset: Python treats such datetimes as naive."""

    def utcoffset(self, when: dt.datetime | None) -> dt.timedelta | None:
        return None

    def dst(self, when: dt.datetime | None) -> dt.timedelta | None:
        return None


class _BrokenZone(dt.tzinfo):
    def utcoffset(self, when: dt.datetime | None) -> dt.timedelta | None:
        raise RuntimeError("zone database unavailable")

    def dst(self, when: dt.datetime | None) -> dt.timedelta | None:
        return None


@pytest.mark.parametrize(
    "end_time",
    [
        dt.datetime(2026, 1, 1, tzinfo=_BrokenZone()),
        10**30,  # no wire format holds it (the OTLP timestamp is 64 bits)
        -5,
        dt.datetime(1900, 1, 1, tzinfo=dt.timezone.utc),
        dt.datetime.min,
    ],
    ids=["raising-tzinfo", "huge-int", "negative-int", "before-1970", "min"],
)
def test_an_end_time_that_cannot_be_used_is_ignored(tracer: RecordingTracer, end_time: Any) -> None:
    obs = tracer.start_observation(name="x")
    assert obs.end(end_time) is obs  # never raises into the caller
    rec = tracer.by_name("x")
    assert rec.start_ns <= rec.end_ns <= rec.timestamp_ns  # the observation's own end


def test_a_tzinfo_without_offset_is_local_time(tracer: RecordingTracer) -> None:
    local = dt.datetime(2026, 8, 22, 12, 0, 0)
    assert to_ns(local.replace(tzinfo=_NoOffset()), "t") == to_ns(local, "t")
    obs = tracer.start_observation(name="g", as_type="generation")
    obs.update(completion_start_time=local.replace(tzinfo=_NoOffset()))
    obs.end(local.replace(tzinfo=_NoOffset()))
    rec = tracer.by_name("g")
    assert rec.completion_start_ns == rec.end_ns == int(local.timestamp()) * 1_000_000_000


def test_status_message_is_bounded(tracer: RecordingTracer) -> None:
    obs = tracer.start_observation(name="x", status_message="m" * 50_000)
    obs.end()
    status = tracer.by_name("x").status_message
    assert status is not None and len(status) == 10_000


def test_ending_from_another_thread(tracer: RecordingTracer) -> None:
    obs = tracer.start_observation(name="x")
    t = threading.Thread(target=obs.end)
    t.start()
    t.join()
    obs.end()
    assert len(tracer.observations) == 1


def test_timestamps_are_ordered_and_from_one_clock(tracer: RecordingTracer) -> None:
    obs = tracer.start_observation(name="x")
    obs.end()
    rec = tracer.by_name("x")
    assert rec.start_ns <= rec.end_ns <= rec.timestamp_ns
    assert abs(rec.end_ns - dt.datetime.now().timestamp() * 1e9) < 60e9


# --------------------------------------------------------------------------- children


@pytest.mark.anyio
async def test_children_of_a_handle(tracer: RecordingTracer) -> None:
    root = tracer.start_observation(name="root")
    async with root.start_as_current_observation(name="current", as_type="agent") as current:
        assert tracer.get_current_observation_id() == current.id
        event = current.create_event(name="event", output={"x": 1})
    assert tracer.get_current_observation_id() is None
    side = root.start_observation(name="side", as_type="embedding", model="e")
    side.end()
    root.end()
    assert tracer.by_name("current").parent_id == root.id
    assert tracer.by_name("event").parent_id == current.id == event.parent_id
    assert tracer.by_name("side").model == "e"
    assert {r.trace_id for r in tracer.observations} == {root.trace_id}


def test_handle_end_on_exit(tracer: RecordingTracer) -> None:
    root = tracer.start_observation(name="root")
    with root.start_as_current_observation(name="open", end_on_exit=False) as child:
        pass
    assert [r.name for r in tracer.observations] == []
    child.end()
    root.end()
    assert [r.name for r in tracer.observations] == ["open", "root"]


# --------------------------------------------------------------------------- trace attributes


def test_update_trace_from_a_handle_outside_its_context(tracer: RecordingTracer) -> None:
    root = tracer.start_observation(name="root")
    early = root.start_observation(name="early")
    early.end()
    root.update_trace(user_id="u-1", tags="single", release="r1", version="v1")
    late = root.start_observation(name="late")
    late.end()
    root.end()
    assert tracer.traces == []  # the root was open: its record carries the update
    attrs = tracer.by_name("root").trace
    assert attrs is not None
    assert attrs.tags == ("single",) and attrs.release == "r1"
    assert tracer.by_name("early").trace is None  # ended before the update
    assert tracer.by_name("late").trace == attrs
    root.update_trace(user_id="u-2")  # after the root ended: an event of its own
    (update,) = tracer.traces
    assert update.trace_id == root.trace_id and update.attributes.user_id == "u-2"
    assert update.size > RECORD_OVERHEAD_BYTES


def test_an_update_after_the_root_ended_says_whether_a_span_of_its_trace_is_open(
    tracer: RecordingTracer,
) -> None:
    # On the OTLP route only a span that ends later can carry such an update: the record
    # says whether one may (an observation of the trace still open), for the worker to wait.
    root = tracer.start_observation(name="root")
    background = root.start_observation(name="background")
    grandchild = background.start_observation(name="grandchild")
    root.end()
    background.update_trace(user_id="from-open-child")  # itself open: its span carries it
    grandchild.end()
    root.update_trace(session_id="from-ended-root")  # the root ended, background still open
    background.end()
    root.update_trace(tags=["nothing-open"])  # every observation of the trace ended
    other = tracer.start_observation(name="other-trace")  # open, but of another trace
    background.update_trace(release="ended-handle")
    other.end()
    assert [t.span_open for t in tracer.traces] == [True, True, False, False]
    assert tracer.traces[0].attributes.user_id == "from-open-child"
    assert tracer.traces[3].attributes.release == "ended-handle"


def test_empty_trace_update_sends_nothing(tracer: RecordingTracer) -> None:
    with tracer.start_as_current_span(name="x"):
        tracer.update_current_trace()
    assert tracer.traces == []


def test_trace_fields_are_coerced_to_strings(tracer: RecordingTracer) -> None:
    with tracer.start_as_current_span(name="x"):
        tracer.update_current_trace(user_id=42, session_id=7, tags=[1, 2, 1])  # type: ignore[arg-type, list-item]
    attrs = tracer.by_name("x").trace
    assert attrs is not None
    assert (attrs.user_id, attrs.session_id, attrs.tags) == ("42", "7", ("1", "2"))


def test_merge_trace_attributes() -> None:
    first = TraceAttributes(name="a", tags=("x", "y"), metadata={"k": _raw(1)}, public=False)
    second = TraceAttributes(user_id="u", tags=("y", "z"), metadata={"j": _raw(2)}, public=True)
    merged = merge_trace_attributes(first, second)
    assert merged.name == "a" and merged.user_id == "u" and merged.public is True
    assert merged.tags == ("x", "y", "z")
    assert decode(merged.metadata) == {"k": 1, "j": 2}
    assert merge_trace_attributes(None, second) is second
    blob = merge_trace_attributes(first, TraceAttributes(metadata=_raw([1])))
    assert decode(blob.metadata) == [1]


def test_merged_trace_attributes_stay_bounded() -> None:
    merged = TraceAttributes()
    for i in range(500):
        update = TraceAttributes(tags=(f"t{i}",), metadata={f"k{i}": _raw(i)})
        merged = merge_trace_attributes(merged, update)
    assert merged.tags is not None and len(merged.tags) == 200
    assert isinstance(merged.metadata, dict) and len(merged.metadata) == 200


# --------------------------------------------------------------------------- helpers


def test_to_ns() -> None:
    aware = dt.datetime(2026, 8, 22, 10, 0, 0, 350_000, tzinfo=dt.timezone.utc)
    assert to_ns(aware, "t") == 1_787_392_800_350_000_000
    plus_two = aware.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert to_ns(plus_two, "t") == to_ns(aware, "t")
    naive_local = dt.datetime(2026, 8, 22, 12, 0, 0)
    assert to_ns(naive_local, "t") == int(naive_local.timestamp()) * 1_000_000_000
    assert to_ns(123, "t") == 123
    assert to_ns(True, "t") is None
    assert to_ns(1.5, "t") is None
    assert to_ns(0, "t") == 0
    assert to_ns(253_402_300_799_999_999_000, "t") == 253_402_300_799_999_999_000
    assert to_ns(253_402_300_800_000_000_000, "t") is None
    assert to_ns(-1, "t") is None


def test_describe_exception() -> None:
    assert describe_exception(asyncio.CancelledError()) == ("WARNING", "cancelled")
    assert describe_exception(KeyError("k")) == ("ERROR", "KeyError: 'k'")
    assert describe_exception(ValueError()) == ("ERROR", "ValueError")

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError

    assert describe_exception(Unprintable()) == ("ERROR", "Unprintable")
    level, message = describe_exception(ValueError("x" * 50_000))
    assert level == "ERROR" and len(message) <= 10_003


def test_noop_handle_does_nothing(tracer: RecordingTracer) -> None:
    with tracer.start_as_current_span(name="outer") as outer:
        with NOOP_OBSERVATION as noop:
            assert tracer.get_current_observation_id() == outer.id
            noop.update(output=1).end()
            assert noop.create_event(name="e") is NOOP_OBSERVATIONS["event"]
            assert noop.start_as_current_observation(name="c") is NOOP_OBSERVATION
            tool = noop.start_observation(name="t", as_type="tool")
            assert isinstance(tool, LangfuseTool) and tool is NOOP_OBSERVATIONS["tool"]
            noop.score_trace(name="s", value=1)
    assert len(tracer.records) == 1 and tracer.by_name("outer").id == outer.id
    assert NOOP_OBSERVATION.trace_id == "0" * 32 and "disabled" in repr(NOOP_OBSERVATION)


@pytest.mark.anyio
async def test_noop_handle_in_async_with_is_never_current(tracer: RecordingTracer) -> None:
    async with tracer.start_as_current_span(name="outer") as outer:
        async with NOOP_OBSERVATION as noop:
            assert noop is NOOP_OBSERVATION
            assert tracer.get_current_observation_id() == outer.id
        assert tracer.get_current_observation_id() == outer.id
    assert tracer.get_current_observation_id() is None
    assert [r.name for r in tracer.records] == ["outer"]


def test_usage_and_cost_the_server_would_drop_warn_once(
    caplog: pytest.LogCaptureFixture,
) -> None:

    _log._logged.clear()
    tracer = RecordingTracer()
    with caplog.at_level(logging.WARNING, logger="langfuse_async"):
        for _ in range(2):
            with tracer.start_as_current_generation(name="g") as g:
                g.update(
                    usage_details={"input": 1.5, "output": 3, "prompt_tokens_details": {}},
                    cost_details={"total": "0.1"},
                )
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "usage_details['input'] = 1.5" in messages[0]
    assert "cost_details['total'] = '0.1'" in messages[1]
    assert len(tracer.records) == 2  # still sent as given


@pytest.mark.parametrize("option", ["usage_details", "cost_details"])
def test_usage_or_cost_that_is_not_a_mapping_is_left_out(
    option: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The server refuses a whole generation whose usage or cost is not an object (a 400):
    # the observation goes without it, said once.
    _log._logged.clear()
    tracer = RecordingTracer()
    with caplog.at_level(logging.WARNING, logger="langfuse_async"):
        with tracer.start_as_current_generation(name="g", model="m") as g:
            g.update(**{option: [1, 2]})
    record = tracer.by_name("g")
    assert getattr(record, option) is None and record.model == "m"
    assert [m for m in caplog.messages if "left out" in m] == [
        f"{option} must be a mapping of names to numbers; got list, which is left out (the "
        "server refuses the whole observation for it)"
    ]


def test_numpy_usage_and_cost_numbers_do_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    # numpy scalars are sent as plain JSON numbers, which the server keeps: no warning.
    np = pytest.importorskip("numpy")

    _log._logged.clear()
    tracer = RecordingTracer()
    with caplog.at_level(logging.WARNING, logger="langfuse_async"):
        with tracer.start_as_current_generation(name="g") as g:
            g.update(
                usage_details={"input": np.int64(3), "output": np.uint8(2)},
                cost_details={"total": np.float32(0.5), "input": np.float64(0.25)},
            )
    assert [r.getMessage() for r in caplog.records] == []
    assert decode(tracer.by_name("g").usage_details) == {"input": 3, "output": 2}


# --------------------------------------------------------------------------- the Recorder seam


class _BareRecorder:
    """A Recorder with no tracer behind it: plain JSON, no cap, records in a list."""

    def __init__(self, *, sample_bound: int | None = None) -> None:
        self.sample_bound = sample_bound
        self.capture_io = True
        self.max_payload = 1_000_000
        self.mask = None
        self.records: list[Any] = []
        self.sampled_out = 0

    def encode(self, value: object) -> msgspec.Raw:
        return _raw(value)

    def encode_plain(self, value: object) -> msgspec.Raw:
        return _raw(value)

    def encode_metadata(self, value: object) -> Any:
        return {k: _raw(v) for k, v in value.items()} if isinstance(value, dict) else _raw(value)

    def emit(self, record: Any) -> None:
        self.records.append(record)

    def count_sampled_out(self) -> None:
        self.sampled_out += 1


def test_a_handle_needs_only_a_recorder() -> None:
    recorder = _BareRecorder()
    obs = start(recorder, None, None, "root", "generation")
    obs.update(input={"q": 1}, usage_details={"input": 3}, metadata={"k": "v"})
    obs.update_trace(user_id="u")
    obs.score(name="quality", value=1.0)
    child = obs.start_observation(name="child")
    child.end()
    obs.end()
    score, child_record, root_record = recorder.records
    assert score.observation_id == obs.id
    assert child_record.parent_id == obs.id and root_record.name == "root"
    assert decode(root_record.input) == {"q": 1} and decode(root_record.usage_details) == {
        "input": 3
    }
    assert root_record.trace is not None and root_record.trace.user_id == "u"


def test_a_sampled_out_handle_tells_its_recorder() -> None:
    recorder = _BareRecorder(sample_bound=0)  # no trace id falls below 0: every trace out
    obs = start(recorder, None, None, "root", "span")
    obs.update(input="never encoded")
    obs.end()
    assert recorder.records == [] and recorder.sampled_out == 1


def test_what_ending_hands_over_is_a_record_the_cycle_collector_does_not_track() -> None:
    # Queued by the thousand: tracked objects would bring on full collections (loop stalls).
    recorder = _BareRecorder()
    obs = start(recorder, None, None, "root", "span")
    obs.update(input={"q": 1}, output="a", metadata={"k": "v"}, level="WARNING")
    obs.end()
    (record,) = recorder.records
    assert isinstance(record, ObservationRecord) and record.id == obs.id
    assert not gc.is_tracked(record)
    assert record.trace is None or not gc.is_tracked(record.trace)
    # The handle no longer holds the payloads the record took.
    assert obs._input is None and obs._output is None and obs._extra is None


def test_the_trace_attributes_on_a_record_are_those_when_it_ended() -> None:
    recorder = _BareRecorder()
    root = start(recorder, None, None, "root", "span")
    child = start(recorder, root, None, "child", "span")
    root.update_trace(user_id="before")
    child.end()
    root.update_trace(user_id="after")
    root.end()
    by_name = {r.name: r for r in recorder.records if isinstance(r, ObservationRecord)}
    assert by_name["child"].trace is not None and by_name["child"].trace.user_id == "before"
    assert by_name["root"].trace is not None and by_name["root"].trace.user_id == "after"


def test_an_observation_whose_extra_fields_cannot_be_recorded_is_still_sent(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langfuse_async import _log

    monkeypatch.setattr(_log, "_logged", set())  # its one WARNING, whatever ran before
    recorder = _BareRecorder()
    obs = start(recorder, None, None, "root", "span")
    obs.update(input="q")
    obs._extra = {"no_such_field": 1}  # what a bug in a field's coercion could leave behind
    with caplog.at_level(logging.WARNING, logger="langfuse_async"):
        obs.end()
    (record,) = recorder.records
    assert isinstance(record, ObservationRecord)
    assert record.id == obs.id and bytes(record.input or b"") == b'"q"'
    assert "sent without them" in caplog.text


def test_a_zero_random_draw_never_makes_an_all_zero_id(
    tracer: RecordingTracer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # All zeros is not a valid OpenTelemetry trace or span id: the server and OTel refuse it.
    from langfuse_async._tracing import ids

    monkeypatch.setattr(ids, "_getrandbits", lambda bits: 0)
    root = tracer.start_observation(name="root")
    child = root.start_observation(name="child")
    assert root.trace_id == "0" * 31 + "1" and root.id == "0" * 15 + "1"
    assert child.id == "0" * 15 + "1"
    child.end()
    root.end()
