"""The client's instrumentation methods (``Tracer``), through a test double that keeps records."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import json
import logging
from typing import Any

import msgspec
import pytest

from langfuse_async import _log
from langfuse_async._records import (
    RECORD_OVERHEAD_BYTES,
    TRUNCATED_MARKER,
)
from langfuse_async._tracing.noop import NOOP_OBSERVATION, NOOP_OBSERVATIONS
from langfuse_async._tracing.observations import LangfuseGeneration, Observation
from langfuse_async._tracing.tracer import Tracer
from tests.support.recording import RecordingTracer, decode

# --------------------------------------------------------------------------- observations


def test_with_block_makes_the_observation_current_and_records_it_once(
    tracer: RecordingTracer,
) -> None:
    assert tracer.get_current_observation_id() is None
    with tracer.start_as_current_observation(name="outer", input={"q": 1}) as outer:
        assert tracer.get_current_observation_id() == outer.id
        assert tracer.get_current_trace_id() == outer.trace_id
        with tracer.start_as_current_observation(name="inner", as_type="tool") as inner:
            assert tracer.get_current_observation_id() == inner.id
        assert tracer.get_current_observation_id() == outer.id
        assert tracer.records == [tracer.by_name("inner")]
    assert tracer.get_current_observation_id() is None

    rec_outer, rec_inner = tracer.by_name("outer"), tracer.by_name("inner")
    assert len(tracer.records) == 2
    assert rec_outer.parent_id is None and rec_outer.as_type == "span"
    assert rec_inner.parent_id == outer.id and rec_inner.as_type == "tool"
    assert rec_inner.trace_id == rec_outer.trace_id == outer.trace_id
    assert decode(rec_outer.input) == {"q": 1}
    assert len(outer.id) == 16 and len(outer.trace_id) == 32
    assert rec_outer.start_ns <= rec_inner.start_ns <= rec_inner.end_ns <= rec_outer.end_ns
    assert rec_outer.event_id != rec_inner.event_id and len(rec_outer.event_id) == 32


@pytest.mark.anyio
async def test_async_with_works_like_with(tracer: RecordingTracer) -> None:
    async with tracer.start_as_current_observation(name="a", as_type="agent") as a:
        assert tracer.get_current_observation_id() == a.id
        await asyncio.sleep(0)
        async with tracer.start_as_current_span(name="b") as b:
            assert tracer.get_current_observation_id() == b.id
    assert tracer.get_current_observation_id() is None
    assert tracer.by_name("b").parent_id == a.id
    assert tracer.by_name("a").as_type == "agent"


def test_start_observation_is_not_current_and_records_on_end(tracer: RecordingTracer) -> None:
    with tracer.start_as_current_span(name="parent") as parent:
        child = tracer.start_observation(name="child", as_type="generation", model="m")
        assert tracer.get_current_observation_id() == parent.id
        assert tracer.records == []
        grandchild = child.start_observation(name="grandchild")
        child.end()
    grandchild.end()
    assert tracer.by_name("child").parent_id == parent.id
    assert tracer.by_name("child").model == "m"
    assert tracer.by_name("grandchild").parent_id == child.id


def test_ending_twice_records_once(tracer: RecordingTracer) -> None:
    obs = tracer.start_observation(name="x")
    obs.end()
    obs.end()
    with obs:
        pass
    assert len(tracer.records) == 1


def test_end_time_is_taken_from_the_argument(tracer: RecordingTracer) -> None:
    obs = tracer.start_observation(name="x")
    obs.end(end_time=obs.start_ns + 1_500)
    assert tracer.records[0].end_ns - tracer.records[0].start_ns == 1_500  # type: ignore[union-attr]


def test_end_on_exit_false_leaves_the_observation_open(tracer: RecordingTracer) -> None:
    with tracer.start_as_current_observation(name="x", end_on_exit=False) as obs:
        pass
    assert tracer.records == []
    assert tracer.get_current_observation_id() is None
    obs.end()
    assert tracer.by_name("x").id == obs.id


def test_end_on_exit_none_means_the_default(tracer: RecordingTracer) -> None:
    # Wrappers written for the official SDK forward its default, None, explicitly.
    with tracer.start_as_current_span(name="span", end_on_exit=None) as span:
        with span.start_as_current_observation(name="child", end_on_exit=None):
            pass
    with tracer.start_as_current_generation(name="gen", end_on_exit=None):
        pass
    assert {r.name for r in tracer.observations} == {"span", "child", "gen"}


def test_generation_fields(tracer: RecordingTracer) -> None:
    first_token = dt.datetime(2026, 1, 2, 3, 4, 5, 678_901, tzinfo=dt.timezone.utc)
    with tracer.start_as_current_generation(
        name="llm",
        model="gpt-4o-mini",
        model_parameters={"temperature": 0.2},
        input=[{"role": "user", "content": "hi"}],
        prompt_name="qa",
        prompt_version=3,
    ):
        tracer.update_current_generation(
            usage_details={"input": 12, "output": 3},
            cost_details={"total": 0.0004},
            completion_start_time=first_token,
            output="hello",
            metadata={"k": "v"},
            version="v2",
        )
    rec = tracer.by_name("llm")
    assert rec.as_type == "generation"
    assert rec.model == "gpt-4o-mini"
    assert decode(rec.model_parameters) == {"temperature": 0.2}
    assert decode(rec.usage_details) == {"input": 12, "output": 3}
    assert decode(rec.cost_details) == {"total": 0.0004}
    assert rec.completion_start_ns == 1_767_323_045_678_901_000
    assert (rec.prompt_name, rec.prompt_version) == ("qa", 3)
    assert decode(rec.output) == "hello"
    assert decode(rec.metadata) == {"k": "v"}
    assert rec.version == "v2"
    payload = len(bytes(rec.input or b"")) + len(bytes(rec.output or b""))
    assert rec.size > RECORD_OVERHEAD_BYTES + payload


def test_span_records_drop_generation_fields(tracer: RecordingTracer) -> None:
    with tracer.start_as_current_span(name="s"):
        tracer.update_current_generation(model="m", usage_details={"input": 1}, level="WARNING")
    rec = tracer.by_name("s")
    assert rec.model is None and rec.usage_details is None
    assert rec.level == "WARNING"


def test_create_event_is_an_instant_child(tracer: RecordingTracer) -> None:
    with tracer.start_as_current_span(name="s") as span:
        event = tracer.create_event(name="e", input={"a": 1}, level="DEBUG")
        assert tracer.get_current_observation_id() == span.id
    rec = tracer.by_name("e")
    assert rec.id == event.id and rec.parent_id == span.id
    assert rec.as_type == "event" and rec.start_ns == rec.end_ns
    assert rec.level == "DEBUG" and decode(rec.input) == {"a": 1}


def test_trace_context_attaches_to_a_given_trace(tracer: RecordingTracer) -> None:
    trace_id = tracer.create_trace_id(seed="request-42")
    with tracer.start_as_current_observation(
        name="remote", trace_context={"trace_id": trace_id, "parent_span_id": "00f067aa0ba902b7"}
    ) as obs:
        with tracer.start_as_current_span(name="child"):
            pass
    assert obs.trace_id == trace_id
    assert tracer.by_name("remote").parent_id == "00f067aa0ba902b7"
    assert tracer.by_name("child").trace_id == trace_id
    assert tracer.by_name("child").parent_id == obs.id


def test_invalid_trace_context_starts_a_new_trace(
    tracer: RecordingTracer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="langfuse_async"):
        obs = tracer.start_observation(name="x", trace_context={"trace_id": "not-hex"})
    obs.end()
    assert len(obs.trace_id) == 32 and obs.trace_id != "not-hex"
    assert tracer.by_name("x").parent_id is None


def test_create_trace_id_matches_the_official_sdk_derivation(tracer: RecordingTracer) -> None:
    expected = hashlib.sha256(b"my-seed").digest()[:16].hex()
    assert tracer.create_trace_id(seed="my-seed") == expected
    assert Tracer.create_trace_id("my-seed") == expected
    random_id = tracer.create_trace_id()
    assert len(random_id) == 32 and int(random_id, 16) > 0
    assert random_id != tracer.create_trace_id()


def test_uppercase_trace_context_ids_are_accepted(tracer: RecordingTracer) -> None:
    # OpenTelemetry (and so the official SDK) reads the ids as hex numbers.
    obs = tracer.start_observation(
        name="x", trace_context={"trace_id": "AB" * 16, "parent_span_id": "CD" * 8}
    )
    obs.end()
    rec = tracer.by_name("x")
    assert (rec.trace_id, rec.parent_id) == ("ab" * 16, "cd" * 8)


def test_create_trace_id_accepts_any_seed(tracer: RecordingTracer) -> None:
    assert tracer.create_trace_id(seed=123) == tracer.create_trace_id(seed="123")  # type: ignore[arg-type]
    lone = tracer.create_trace_id(seed="\ud800")
    assert len(lone) == 32 and lone == tracer.create_trace_id(seed="\ud800")


def test_invalid_as_type_falls_back_to_span(
    tracer: RecordingTracer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="langfuse_async"):
        tracer.start_observation(name="x", as_type="bogus").end()  # type: ignore[arg-type]
    assert tracer.by_name("x").as_type == "span"


def test_unhashable_or_missing_as_type_never_raises(tracer: RecordingTracer) -> None:
    tracer.start_observation(name="x", as_type=["tool"]).end()  # type: ignore[arg-type]
    tracer.start_observation(name="y", as_type=None).end()  # type: ignore[arg-type]
    assert tracer.by_name("x").as_type == "span" and tracer.by_name("y").as_type == "span"


class _RaisingBool:
    def __bool__(self) -> bool:
        raise ValueError("the truth value is ambiguous")


class _RaisingMapping(dict):  # type: ignore[type-arg]
    def get(self, key: Any, default: Any = None) -> Any:
        raise RuntimeError("no get")


@pytest.mark.parametrize(
    "trace_context",
    [
        {"trace_id": "a" * 32, "parent_span_id": _RaisingBool()},
        _RaisingMapping(trace_id="a" * 32),
    ],
    ids=["parent-with-raising-bool", "raising-mapping"],
)
def test_a_hostile_trace_context_starts_a_new_trace(
    tracer: RecordingTracer, trace_context: Any
) -> None:
    obs = tracer.start_observation(name="x", trace_context=trace_context)
    obs.end()
    rec = tracer.by_name("x")
    assert rec.parent_id is None and rec.trace_id != "a" * 32


# --------------------------------------------------------------------------- errors


def test_exception_in_with_block_is_recorded_and_propagates(tracer: RecordingTracer) -> None:
    error = ValueError("bad input")
    with pytest.raises(ValueError) as info:
        with tracer.start_as_current_span(name="s"):
            raise error
    assert info.value is error
    rec = tracer.by_name("s")
    assert rec.level == "ERROR" and rec.status_message == "ValueError: bad input"
    assert tracer.get_current_observation_id() is None


@pytest.mark.anyio
async def test_cancellation_is_recorded_as_warning_and_restores_context(
    tracer: RecordingTracer,
) -> None:
    started = asyncio.Event()

    async def work() -> None:
        async with tracer.start_as_current_span(name="cancelled"):
            started.set()
            await asyncio.Event().wait()

    with tracer.start_as_current_span(name="outer") as outer:
        task = asyncio.create_task(work())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert tracer.get_current_observation_id() == outer.id
    rec = tracer.by_name("cancelled")
    assert rec.level == "WARNING" and rec.status_message == "cancelled"
    assert rec.parent_id == outer.id


# --------------------------------------------------------------------------- current


def test_update_current_span_and_trace(tracer: RecordingTracer) -> None:
    with tracer.start_as_current_span(name="root"):
        tracer.update_current_span(output={"answer": 4}, level="WARNING", status_message="slow")
        tracer.update_current_trace(
            name="chat", user_id="u-1", session_id="s-9", tags=["chat"], metadata={"a": 1}
        )
        with tracer.start_as_current_span(name="child"):
            tracer.update_current_trace(tags=["beta", "chat"], metadata={"b": 2}, public=True)
    # While the root is open, no trace event: every observation ending later carries the
    # merged attributes, the root among them (its trace-create is the trace's one).
    assert tracer.traces == []
    merged = tracer.by_name("root").trace
    assert merged is not None
    assert (merged.name, merged.user_id, merged.session_id) == ("chat", "u-1", "s-9")
    assert merged.tags == ("chat", "beta") and merged.public is True
    assert decode(merged.metadata) == {"a": 1, "b": 2}
    assert tracer.by_name("child").trace == merged
    rec = tracer.by_name("root")
    assert decode(rec.output) == {"answer": 4}
    assert (rec.level, rec.status_message) == ("WARNING", "slow")


def test_trace_name_is_cut_to_the_server_limit(tracer: RecordingTracer) -> None:
    with tracer.start_as_current_span(name="root"):
        tracer.update_current_trace(name="n" * 5000)
    attrs = tracer.by_name("root").trace
    assert attrs is not None and attrs.name == "n" * 1000


def test_updates_outside_any_observation_do_nothing(
    tracer: RecordingTracer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="langfuse_async"):
        tracer.update_current_trace(user_id="u")
        tracer.update_current_span(output=1)
        tracer.update_current_generation(model="m")
        tracer.score_current_span(name="s", value=1)
        tracer.score_current_trace(name="s", value=1)
    assert tracer.records == []
    assert tracer.get_current_trace_id() is None
    assert any("outside any observation" in r.getMessage() for r in caplog.records)
    assert all(r.levelno == logging.DEBUG for r in caplog.records)


def test_an_update_outside_any_observation_is_logged_once(
    tracer: RecordingTracer, caplog: pytest.LogCaptureFixture
) -> None:
    _log._logged.discard("no_current.update_current_span")
    with caplog.at_level(logging.DEBUG, logger="langfuse_async"):
        for _ in range(5):
            tracer.update_current_span(output=1)
    logged = [r for r in caplog.records if "update_current_span()" in r.getMessage()]
    assert [r.levelno for r in logged] == [logging.DEBUG]


# --------------------------------------------------------------------------- payloads


def test_payloads_are_snapshotted_when_given(tracer: RecordingTracer) -> None:
    data = {"items": [1, 2]}
    with tracer.start_as_current_span(name="s", input=data) as span:
        span.update(metadata=data)
        data["items"].append(3)
    rec = tracer.by_name("s")
    assert decode(rec.input) == {"items": [1, 2]}
    assert decode(rec.metadata) == {"items": [1, 2]}


def test_mask_is_applied_to_input_output_and_metadata(isolated_registry: None) -> None:
    seen: list[Any] = []

    def mask(value: Any) -> Any:
        seen.append(value)
        return "***"

    tracer = RecordingTracer(mask=mask)
    with tracer.start_as_current_span(name="s", input="secret-in", metadata={"k": "v"}) as span:
        span.update(output="secret-out")
        tracer.update_current_trace(input="trace-in")
    rec = tracer.by_name("s")
    assert decode(rec.input) == decode(rec.output) == "***"
    assert decode(rec.metadata) == "***"
    attrs = rec.trace
    assert attrs is not None and decode(attrs.input) == "***"
    assert "secret-in" in seen and "secret-out" in seen


def test_a_failing_mask_replaces_the_field_never_leaks_it(isolated_registry: None) -> None:
    def mask(value: Any) -> Any:
        raise RuntimeError("mask broke")

    tracer = RecordingTracer(mask=mask)
    with tracer.start_as_current_span(name="s", input={"password": "hunter2"}) as span:
        span.update(output="hunter2", metadata={"password": "hunter2"})
    rec = tracer.by_name("s")
    for raw in (rec.input, rec.output, rec.metadata):
        text = bytes(raw).decode() if isinstance(raw, msgspec.Raw) else json.dumps(decode(raw))
        assert "hunter2" not in text
        assert "mask" in text


class _Exploding:
    def __repr__(self) -> str:
        raise RuntimeError("repr")

    def __str__(self) -> str:
        raise RuntimeError("str")


@dataclasses.dataclass
class _Point:
    x: int
    y: int


def test_hostile_payloads_never_raise(tracer: RecordingTracer) -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    deep: Any = []
    for _ in range(10_000):
        deep = [deep]
    values = [cyclic, deep, _Exploding(), {1: object()}, {"set": {1, 2}}, b"\xff\x00", _Point(1, 2)]
    for i, value in enumerate(values):
        with tracer.start_as_current_span(name=f"s{i}", input=value, metadata=value) as span:
            span.update(output=value)
            tracer.update_current_trace(input=value, metadata=value)
    assert len(tracer.observations) == len(values)
    for rec in tracer.observations:
        decode(rec.input)  # valid JSON, whatever it says


def test_oversized_payload_is_replaced_by_the_marker(isolated_registry: None) -> None:
    tracer = RecordingTracer(max_event_bytes=10_000)
    with tracer.start_as_current_span(name="s", input="x" * 50_000) as span:
        span.update(output="small")
    rec = tracer.by_name("s")
    assert decode(rec.input) == TRUNCATED_MARKER
    assert decode(rec.output) == "small"
    assert rec.size < 10_000


# --------------------------------------------------------------------------- scores


def test_create_score_records_a_valid_score(tracer: RecordingTracer) -> None:
    trace_id = tracer.create_trace_id()
    tracer.create_score(name="quality", value=1, trace_id=trace_id, comment="good")
    tracer.create_score(
        name="label", value="ok", session_id="s-1", data_type="CATEGORICAL", metadata={"m": 1}
    )
    tracer.create_score(name="flag", value=True, trace_id=trace_id, data_type="BOOLEAN")
    tracer.create_score(
        name="n", value=0.5, trace_id=trace_id, observation_id="a" * 16, score_id="my-id"
    )
    quality, label, flag, obs_score = tracer.scores
    assert quality.value == 1.0 and isinstance(quality.value, float)
    assert quality.trace_id == trace_id and quality.comment == "good"
    assert len(quality.id) == 16 and int(quality.id, 16) >= 0
    assert quality.data_type is None
    assert label.session_id == "s-1" and label.trace_id is None and label.value == "ok"
    assert decode(label.metadata) == {"m": 1}
    assert flag.value == 1.0 and flag.data_type == "BOOLEAN"
    assert obs_score.id == "my-id" and obs_score.observation_id == "a" * 16
    assert all(s.size >= RECORD_OVERHEAD_BYTES for s in tracer.scores)


class _BadNumber(int):
    def __float__(self) -> float:
        raise RuntimeError("no float")


class _BadStr(str):
    def __len__(self) -> int:
        raise RuntimeError("no len")

    def __bool__(self) -> bool:
        raise RuntimeError("no bool")


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(name="", value=1, trace_id="t"),
        dict(name="x", value=1),
        dict(name="x", value=1, trace_id="t", session_id="s"),
        dict(name="x", value=1, session_id="s", observation_id="o"),
        dict(name="x", value="text", trace_id="t", data_type="NUMERIC"),
        dict(name="x", value=2, trace_id="t", data_type="BOOLEAN"),
        dict(name="x", value=1, trace_id="t", data_type="CATEGORICAL"),
        dict(name="x", value="", trace_id="t", data_type="TEXT"),
        dict(name="x", value="y" * 501, trace_id="t", data_type="TEXT"),
        # 300 characters to Python, 600 UTF-16 units to the server's zod check: refused there.
        dict(name="x", value="\U0001f600" * 300, trace_id="t", data_type="TEXT"),
        dict(name="x", value=float("nan"), trace_id="t"),
        dict(name="x", value=[1], trace_id="t"),
        dict(name="x", value=1, trace_id="t", data_type="PERCENT"),
        dict(name="x", value=1, trace_id=""),
        dict(name="x", value=1, trace_id="t", score_id=""),
        dict(name="x", value=1, trace_id="t", score_id="my\rid"),  # the server's idSchema
        dict(name="x", value=1, trace_id="t", data_type=["NUMERIC"]),  # unhashable
        dict(name="x", value=10**400, trace_id="t"),  # too large for a float
        dict(name="x", value=_BadNumber(1), trace_id="t"),
    ],
)
def test_invalid_scores_are_logged_and_not_recorded(
    tracer: RecordingTracer, caplog: pytest.LogCaptureFixture, kwargs: dict[str, Any]
) -> None:
    with caplog.at_level(logging.DEBUG, logger="langfuse_async"):
        tracer.create_score(**kwargs)
    assert tracer.records == []
    assert any("not recorded" in r.getMessage() for r in caplog.records)


def test_a_text_score_at_the_servers_limit_is_recorded(tracer: RecordingTracer) -> None:
    # 500 UTF-16 units, as the server counts: 250 emoji, or 500 letters.
    tracer.create_score(name="x", value="\U0001f600" * 250, trace_id="t", data_type="TEXT")
    tracer.create_score(name="x", value="\u00e9" * 500, trace_id="t", data_type="TEXT")
    assert [len(score.value) for score in tracer.scores] == [250, 500]


def test_score_strings_whose_methods_raise_are_read_as_plain_text(
    tracer: RecordingTracer,
) -> None:
    tracer.create_score(
        name=_BadStr("x"), value=_BadStr("v"), trace_id=_BadStr("t"), comment=_BadStr("c")
    )
    (score,) = tracer.scores
    assert (score.name, score.value, score.trace_id, score.comment) == ("x", "v", "t", "c")
    assert type(score.name) is str and type(score.trace_id) is str
    assert type(score.value) is str and type(score.comment) is str


def test_invalid_score_warns_once_then_debug(
    tracer: RecordingTracer, caplog: pytest.LogCaptureFixture
) -> None:
    _log._logged.discard("score.invalid")
    with caplog.at_level(logging.DEBUG, logger="langfuse_async"):
        for _ in range(3):
            tracer.create_score(name="", value=1, trace_id="t")
    levels = [r.levelno for r in caplog.records if "not recorded" in r.getMessage()]
    assert levels == [logging.WARNING, logging.DEBUG, logging.DEBUG]


def test_score_current_span_and_trace(tracer: RecordingTracer) -> None:
    with tracer.start_as_current_span(name="root") as root:
        tracer.score_current_trace(name="t", value=0.1)
        with tracer.start_as_current_span(name="child") as child:
            tracer.score_current_span(name="s", value=0.2, comment="c")
            child.score(name="h", value="fine", data_type="TEXT")
            child.score_trace(name="ht", value=0)
    t, s, h, ht = tracer.scores
    assert (t.trace_id, t.observation_id) == (root.trace_id, None)
    assert (s.trace_id, s.observation_id, s.comment) == (root.trace_id, child.id, "c")
    assert (h.observation_id, h.value) == (child.id, "fine")
    assert (ht.trace_id, ht.observation_id) == (root.trace_id, None)


# --------------------------------------------------------------------------- disabled


@pytest.mark.anyio
async def test_disabled_client_is_a_cheap_no_op(isolated_registry: None) -> None:
    tracer = RecordingTracer(enabled=False)
    with tracer.start_as_current_observation(name="x") as obs:
        assert obs is NOOP_OBSERVATION
        assert tracer.get_current_observation_id() is None
        obs.update(output=1)
        obs.update_trace(user_id="u")
        obs.score(name="s", value=1)
        assert obs.start_observation(name="c") is NOOP_OBSERVATION
        tracer.update_current_trace(user_id="u")
    async with tracer.start_as_current_generation(name="g") as gen:
        assert gen is NOOP_OBSERVATIONS["generation"]
        assert isinstance(gen, LangfuseGeneration)  # 5.x isinstance checks hold disabled too
        assert gen.start_as_current_observation(name="c") is NOOP_OBSERVATION
    assert tracer.create_event(name="e") is NOOP_OBSERVATIONS["event"]
    tracer.create_score(name="s", value=1, trace_id="t")
    assert tracer.start_observation(name="y").end() is NOOP_OBSERVATION
    assert tracer.records == [] and tracer.sampled_out == 0


def test_missing_keys_disable_the_client(isolated_registry: None) -> None:
    tracer = RecordingTracer(public_key=None, secret_key=None)
    assert tracer.start_observation(name="x") is NOOP_OBSERVATION


def test_observation_handle_is_an_observation(tracer: RecordingTracer) -> None:
    obs = tracer.start_observation(name="x")
    assert isinstance(obs, Observation)
    assert "x" in repr(obs) and "open" in repr(obs)
    obs.end()
    assert "ended" in repr(obs)


def test_each_distinct_mistake_warns_once(
    tracer: RecordingTracer, caplog: pytest.LogCaptureFixture
) -> None:
    _log._logged.clear()
    with caplog.at_level(logging.DEBUG, logger="langfuse_async"):
        for _ in range(3):
            tracer.create_score(name="a", value=1.0)  # no trace or session
            tracer.create_score(name="b", value=2, trace_id="t" * 32, data_type="BOOLEAN")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "'a'" in warnings[0] and "'b'" in warnings[1] and "BOOLEAN" in warnings[1]
    assert tracer.records == []


def test_start_span_and_start_generation_are_the_official_shorthands(
    tracer: RecordingTracer,
) -> None:
    with tracer.start_as_current_span(name="parent") as parent:
        span = tracer.start_span(name="s", input={"a": 1})
        generation = tracer.start_generation(name="g", model="m", usage_details={"input": 2})
        assert tracer.get_current_observation_id() == parent.id  # neither became current
        generation.end()
        span.end()
    s, g = tracer.by_name("s"), tracer.by_name("g")
    assert (s.as_type, s.parent_id) == ("span", parent.id)
    assert (g.as_type, g.model, g.parent_id) == ("generation", "m", parent.id)


def test_scores_of_dataset_runs_and_with_a_config(tracer: RecordingTracer) -> None:
    tracer.create_score(name="accuracy", value=0.8, dataset_run_id="run-1", config_id="cfg-1")
    [score] = tracer.records
    assert (score.dataset_run_id, score.config_id, score.trace_id) == ("run-1", "cfg-1", None)
    tracer.records.clear()
    tracer.create_score(name="a", value=1.0, trace_id="ab" * 16, dataset_run_id="run-1")
    tracer.create_score(name="b", value="x", session_id="s", data_type="CORRECTION", config_id="c")
    assert tracer.records == []  # both refused: two targets; a config on a correction


def test_a_repeated_mistake_with_new_values_is_one_problem(
    tracer: RecordingTracer, caplog: pytest.LogCaptureFixture
) -> None:
    # Ids and values differ on every call of a loop; the mistake is the same one, so it must
    # warn once (and a DEBUG-level message must be logged once), not once per value.
    _log._logged.clear()
    with caplog.at_level(logging.DEBUG, logger="langfuse_async"):
        for i in range(5):
            with tracer.start_as_current_span(
                name="s", trace_context={"trace_id": f"not-a-trace-id-{i}"}
            ):
                pass
            obs = tracer.start_observation(name="o")
            obs.end()
            obs.update(output=i)  # after it ended: ignored, DEBUG once
            with tracer.start_as_current_generation(name="g") as g:
                g.update(usage_details={"input": -i - 1})
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "after it ended" in m]) == 1
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([m for m in warned if "trace_context must be" in m]) == 1
    assert len([m for m in warned if "usage_details['input']" in m]) == 1
