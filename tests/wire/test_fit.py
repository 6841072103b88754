"""Truncation to ``max_event_bytes``: truncating by the payloads' lengths first changes nothing.

``fit_with`` truncates while the payloads alone exceed the limit before it encodes anything.
That is only a shortcut: each property here checks that the record and bytes it returns are
exactly those of the plain policy, which encodes the whole event again after every truncation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings, strategies as st

from langfuse_async._records import (
    RECORD_OVERHEAD_BYTES,
    ObservationRecord,
    Record,
    TraceAttributes,
    TraceRecord,
)
from langfuse_async._wire import ingestion, otlp
from langfuse_async._wire.context import WireContext
from langfuse_async._wire.fit import _smaller, fit_with, payload_floor

CTX = WireContext(public_key="pk-lf-test", environment=None, release=None)


def reference_fit(
    record: Record,
    encode: Callable[[Record], bytes],
    limit: int,
    *,
    trace_snapshot: bool = False,
    trace_first: bool = False,
) -> tuple[Record, bytes] | None:
    """The policy without the shortcut: encode, and encode again after every truncation."""
    encoded = encode(record)
    while len(encoded) > limit:
        smaller = _smaller(record, trace_snapshot, trace_first)
        if smaller is None:
            return None
        record = smaller
        encoded = encode(record)
    return record, encoded


# Payloads of every shape a wire format writes differently: strings (spliced whole into OTLP),
# objects and arrays (JSON text there), escapes, numbers, booleans, null, non-ASCII text.
_TEXT = st.text(alphabet=st.sampled_from('ab "\\\n\u00e9\u4e2d'), max_size=400)
_VALUES: st.SearchStrategy[Any] = st.one_of(
    _TEXT,
    st.none(),
    st.booleans(),
    st.integers(-(2**60), 2**60),
    st.lists(_TEXT, max_size=4),
    st.dictionaries(st.sampled_from("xyz"), _TEXT, max_size=3),
)


def _raw(value: Any) -> msgspec.Raw:
    return msgspec.Raw(msgspec.json.encode(value))


def _sized(record: ObservationRecord) -> ObservationRecord:
    # As recorded: the record counts every payload byte it holds.
    return msgspec.structs.replace(record, size=RECORD_OVERHEAD_BYTES + payload_floor(record))


@st.composite
def observations(draw: st.DrawFn) -> ObservationRecord:
    metadata: Any = None
    kind = draw(st.sampled_from(["none", "dict", "blob"]))
    if kind == "dict":
        metadata = {
            key: _raw(value)
            for key, value in draw(
                st.dictionaries(st.sampled_from("abc"), _VALUES, max_size=3)
            ).items()
        }
    elif kind == "blob":
        metadata = _raw(draw(_VALUES))
    trace = None
    if draw(st.booleans()):
        trace = TraceAttributes(
            name="t",
            input=_raw(draw(_VALUES)),
            output=_raw(draw(_VALUES)),
            metadata={"m": _raw(draw(_VALUES))},
        )
    # Built here, not by the factories: their ids come from the random module.
    record = ObservationRecord(
        event_id="e" * 32,
        timestamp_ns=1_700_000_000_000_000_000,
        id="a" * 16,
        trace_id="b" * 32,
        parent_id=draw(st.sampled_from([None, "a1b2c3d4e5f60718"])),
        as_type=draw(st.sampled_from(["span", "generation", "event"])),
        name="work",
        start_ns=1_699_999_999_000_000_000,
        end_ns=1_700_000_000_000_000_000,
        size=0,
        input=_raw(draw(_VALUES)),
        output=_raw(draw(_VALUES)),
        metadata=metadata,
        trace=trace,
    )
    return _sized(record)


_LIMITS = st.integers(200, 2_500)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=observations(), limit=_LIMITS)
def test_ingestion_fit_equals_the_policy_without_the_shortcut(
    record: ObservationRecord, limit: int
) -> None:
    def encode(r: Record) -> bytes:
        return ingestion.encode_event(r, CTX)

    assert fit_with(record, encode, limit) == reference_fit(record, encode, limit)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=observations(), limit=_LIMITS)
def test_otlp_fit_equals_the_policy_without_the_shortcut(
    record: ObservationRecord, limit: int
) -> None:
    def encode(r: Record) -> bytes:
        return otlp.encode_span(r, CTX)  # type: ignore[arg-type]

    first = not record.is_local_root
    assert otlp.fit_span(record, CTX, limit) == reference_fit(
        record, encode, limit, trace_snapshot=True, trace_first=first
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.tuples(_VALUES, _VALUES, _VALUES),
    limit=_LIMITS,
)
def test_trace_record_fit_equals_the_policy_without_the_shortcut(
    values: tuple[Any, Any, Any], limit: int
) -> None:
    record = TraceRecord(
        event_id="e" * 32,
        timestamp_ns=1_700_000_000_000_000_000,
        trace_id="b" * 32,
        attributes=TraceAttributes(
            input=_raw(values[0]), output=_raw(values[1]), metadata={"k": _raw(values[2])}
        ),
        size=0,
    )

    def encode(r: Record) -> bytes:
        return ingestion.encode_event(r, CTX)

    assert fit_with(record, encode, limit) == reference_fit(record, encode, limit)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=observations())
def test_the_floor_never_exceeds_an_encoding(record: ObservationRecord) -> None:
    floor = payload_floor(record)
    assert floor <= len(ingestion.encode_event(record, CTX))
    assert floor <= len(otlp.encode_span(record, CTX))
