"""Payload encoding: every supported type, hostile objects, masking, metadata and size caps."""

from __future__ import annotations

import asyncio
import base64
import collections
import dataclasses
import datetime
import decimal
import enum
import gc
import json
import logging
import math
import pathlib
import subprocess
import sys
import textwrap
import types
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from langfuse_async._records import TRUNCATED_MARKER
from langfuse_async._tracing import payload as _payload
from langfuse_async._tracing.payload import (
    BYTES_BASE64_PREFIX,
    CYCLE_MARKER,
    DEPTH_MARKER,
    MASK_FAILED_MARKER,
    MAX_ARRAY_ELEMENTS,
    MAX_DEPTH,
    apply_mask,
    cap_payload,
    encode_metadata,
    encode_payload,
    fields_encoder,
)


def decoded(raw: msgspec.Raw) -> Any:
    """The JSON value of ``raw``, insisting on strict UTF-8 and standard JSON (no NaN)."""
    assert isinstance(raw, msgspec.Raw)
    text = bytes(raw).decode("utf-8")

    def reject_constant(name: str) -> Any:
        raise AssertionError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=reject_constant)


def roundtrip(value: object) -> Any:
    return decoded(encode_payload(value))


def nested_depth(value: Any) -> int:
    depth = 0
    while isinstance(value, list) and value:
        depth += 1
        value = value[0]
    return depth


# --------------------------------------------------------------------------------------------
# Plain JSON


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -(2**63),
        2**64 - 1,
        1.5,
        "",
        "héllo wörld \U0001f600",
        [],
        {},
        {"q": "what is 2+2?", "n": 3, "ok": True, "x": None, "f": 0.25},
        {"messages": [{"role": "user", "content": "hi"}] * 3, "nested": {"a": [1, [2, [3]]]}},
    ],
)
def test_plain_json_round_trips_exactly(value: object) -> None:
    assert roundtrip(value) == value


def test_tuples_become_arrays() -> None:
    assert roundtrip((1, ("a", None))) == [1, ["a", None]]


def test_later_mutation_does_not_change_the_encoded_payload() -> None:
    inner = [1, 2]
    obj = {"k": "v"}
    value: dict[str, Any] = {"list": inner, "text": "a", "obj": obj}
    raw = encode_payload(value)
    inner.append(3)
    obj["k"] = "changed"
    value["text"] = "changed"
    value["new"] = 1
    assert decoded(raw) == {"list": [1, 2], "text": "a", "obj": {"k": "v"}}


def test_shared_references_are_not_mistaken_for_cycles() -> None:
    shared = {"a": 1}
    assert roundtrip([shared, shared, {"x": shared}]) == [{"a": 1}, {"a": 1}, {"x": {"a": 1}}]
    shared_bytes = [b"x"]
    assert roundtrip([shared_bytes, shared_bytes]) == [["x"], ["x"]]


# --------------------------------------------------------------------------------------------
# Numbers


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_become_null_on_both_paths(value: float) -> None:
    assert roundtrip(value) == None  # noqa: E711
    assert roundtrip({"f": value}) == {"f": None}
    # bytes force the sanitizing walk; NaN must come out the same way there.
    assert roundtrip({"f": value, "b": b"x"}) == {"f": None, "b": "x"}


def test_integers_outside_64_bits_become_strings() -> None:
    assert roundtrip(2**64) == str(2**64)
    assert roundtrip(-(2**63) - 1) == str(-(2**63) - 1)
    assert roundtrip({"big": 10**30, "ok": 2**63}) == {"big": str(10**30), "ok": 2**63}


def test_integer_too_long_for_str_becomes_a_placeholder() -> None:
    huge = 10**5000  # beyond sys.get_int_max_str_digits() (4300 by default)
    out = roundtrip({"n": huge})
    assert out == {"n": f"<int of {huge.bit_length()} bits>"}


def test_decimal_keeps_every_digit_and_complex_is_text() -> None:
    assert roundtrip(decimal.Decimal("1.100000000000000000001")) == "1.100000000000000000001"
    assert roundtrip(decimal.Decimal("NaN")) == "NaN"
    assert roundtrip(1 + 2j) == "(1+2j)"


# --------------------------------------------------------------------------------------------
# Text and bytes


def test_lone_surrogates_are_replaced_and_pairs_are_joined() -> None:
    assert roundtrip("a\ud800b") == "a\ufffdb"
    assert roundtrip("\udfff") == "\ufffd"
    assert roundtrip("\ud83d\ude00") == "\U0001f600"  # a pair spelled as two code points
    assert roundtrip({"k\udc80": ["x\ud800"]}) == {"k\ufffd": ["x\ufffd"]}


def test_bytes_that_are_text_stay_readable() -> None:
    assert roundtrip(b"hello\nworld\t!") == "hello\nworld\t!"
    assert roundtrip(bytearray("héllo", "utf-8")) == "héllo"
    assert roundtrip(memoryview(b"view")) == "view"


@pytest.mark.parametrize("data", [b"\xff\xfe\x00", b"\x00\x01\x02", bytes(range(256))])
def test_binary_bytes_become_a_base64_data_uri(data: bytes) -> None:
    out = roundtrip(data)
    assert out.startswith(BYTES_BASE64_PREFIX)
    assert base64.b64decode(out[len(BYTES_BASE64_PREFIX) :]) == data


def test_bytes_inside_containers_use_the_same_rules() -> None:
    assert roundtrip({"text": b"abc", "bin": [b"\xff"]}) == {
        "text": "abc",
        "bin": [BYTES_BASE64_PREFIX + "/w=="],
    }


# --------------------------------------------------------------------------------------------
# Standard library types


class Color(enum.Enum):
    RED = "red"
    BOX = (1, b"x")


class Level(enum.IntEnum):
    HIGH = 3


class Mode(str, enum.Enum):
    FAST = "fast"


class Point(NamedTuple):
    x: int
    y: int


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Color.RED, "red"),
        (Color.BOX, [1, "x"]),
        (Level.HIGH, 3),
        (Mode.FAST, "fast"),
        (datetime.datetime(2024, 5, 6, 7, 8, 9, 123456), "2024-05-06T07:08:09.123456"),
        (
            datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc),
            "2024-05-06T07:08:09+00:00",
        ),
        (
            datetime.datetime(2024, 5, 6, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
            "2024-05-06T00:00:00+02:00",
        ),
        (datetime.date(2024, 5, 6), "2024-05-06"),
        (datetime.time(7, 8, 9), "07:08:09"),
        (datetime.timedelta(minutes=1, milliseconds=500), 60.5),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (pathlib.PurePosixPath("/tmp/a b.txt"), "/tmp/a b.txt"),
        ({3, 1, 2}, [1, 2, 3]),
        (frozenset({"b", "a"}), ["a", "b"]),
        (Point(1, 2), {"x": 1, "y": 2}),
        (collections.deque([1, b"x"]), [1, "x"]),
        (collections.OrderedDict(b=1, a=2), {"b": 1, "a": 2}),
        (collections.defaultdict(list, {"a": [1]}), {"a": [1]}),
        (types.MappingProxyType({"a": 1}), {"a": 1}),
        ({"b": 1, "a": 2}.keys(), ["b", "a"]),  # the dict's order, not sorted
        ({"a": 1}.values(), [1]),
        ({"a": 1}.items(), [["a", 1]]),
        (range(3), "range(0, 3)"),
        (ValueError("boom"), "ValueError: boom"),
        (KeyError("k"), "KeyError: 'k'"),
        (RuntimeError(), "RuntimeError"),
        (int, "<class int>"),
        (len, "<function len>"),
        (test_tuples_become_arrays, "<function test_tuples_become_arrays>"),
        (json, "<module json>"),
        (object(), "<object object>"),
    ],
    ids=lambda v: type(v).__name__,
)
def test_standard_types(value: object, expected: object) -> None:
    assert roundtrip(value) == expected


def test_path_with_undecodable_bytes_is_still_valid_json() -> None:
    path = pathlib.PurePosixPath(b"/tmp/\xff.txt".decode("utf-8", "surrogateescape"))
    assert roundtrip(path) == "/tmp/\ufffd.txt"


def test_mixed_sets_keep_their_iteration_order_without_comparing() -> None:
    class Incomparable:
        def __lt__(self, other: object) -> bool:
            raise AssertionError("must not be compared")

        def __hash__(self) -> int:
            return 1

    out = roundtrip({Incomparable(), 1})
    assert len(out) == 2
    assert 1 in out
    assert any(isinstance(v, str) and v.endswith("Incomparable object>") for v in out)


def test_non_string_keys_are_stringified() -> None:
    value = {
        1: "int",
        2.5: "float",
        None: "none",
        (1, "a"): "tuple",
        Color.RED: "enum",
        uuid.UUID(int=2): "uuid",
        datetime.date(2024, 1, 2): "date",
        b"k": "bytes",
    }
    assert roundtrip({True: "t", False: "f"}) == {"true": "t", "false": "f"}
    assert roundtrip(value) == {
        "1": "int",
        "2.5": "float",
        "null": "none",
        '[1,"a"]': "tuple",
        "red": "enum",
        "00000000-0000-0000-0000-000000000002": "uuid",
        "2024-01-02": "date",
        "k": "bytes",
    }


def test_exception_text_is_bounded_and_never_fails() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert roundtrip(Unprintable()).endswith("Unprintable: <unprintable message>")
    long = roundtrip(ValueError("x" * 100_000))
    assert long.startswith("ValueError: xxx")
    assert len(long) < 3_000


# --------------------------------------------------------------------------------------------
# Records: dataclasses, namedtuples, Structs, attrs, pydantic


@dataclasses.dataclass
class Message:
    role: str
    content: str
    attachments: list[bytes] = dataclasses.field(default_factory=list)
    sent: datetime.datetime | None = None


@dataclasses.dataclass
class Node:
    name: str
    children: list[Node] = dataclasses.field(default_factory=list)
    parent: Node | None = None


class Envelope(msgspec.Struct):
    kind: str
    body: bytes


def test_dataclass_becomes_an_object_of_its_fields() -> None:
    msg = Message("user", "hi", [b"img"], datetime.datetime(2024, 1, 1))
    assert roundtrip(msg) == {
        "role": "user",
        "content": "hi",
        "attachments": ["img"],
        "sent": "2024-01-01T00:00:00",
    }
    assert roundtrip([msg, {"m": msg}])[1]["m"]["role"] == "user"


def test_dataclass_cycle_is_marked() -> None:
    root = Node("root")
    child = Node("child", parent=root)
    root.children.append(child)
    assert roundtrip(root) == {
        "name": "root",
        "children": [{"name": "child", "children": [], "parent": CYCLE_MARKER}],
        "parent": None,
    }


def test_dataclass_with_unreadable_field() -> None:
    msg = Message("user", "hi")
    del msg.content
    assert roundtrip(msg)["content"] == "<unreadable attribute>"
    assert roundtrip(msg)["role"] == "user"


def test_msgspec_struct_uses_the_same_rules_for_bytes() -> None:
    assert roundtrip(Envelope("k", b"\xff")) == {"kind": "k", "body": BYTES_BASE64_PREFIX + "/w=="}


def test_valid_raw_json_is_spliced_and_invalid_raw_is_refused() -> None:
    assert roundtrip({"pre": msgspec.Raw(b'{"a":[1,2]}')}) == {"pre": {"a": [1, 2]}}
    assert roundtrip(msgspec.Raw(b"{not json")) == "<Raw object>"


def test_attrs_class_becomes_an_object() -> None:
    attr = pytest.importorskip("attr")

    @attr.s(auto_attribs=True)
    class Item:
        name: str
        blob: bytes

    assert roundtrip(Item("a", b"b")) == {"name": "a", "blob": "b"}


def test_pydantic_v2_model() -> None:
    pydantic = pytest.importorskip("pydantic", minversion="2")

    class Usage(pydantic.BaseModel):
        input: int
        output: int

    class Completion(pydantic.BaseModel):
        id: str
        created: datetime.datetime
        usage: Usage
        choices: list[str]
        score: float = math.nan

    completion = Completion(
        id="c-1",
        created=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
        usage=Usage(input=3, output=4),
        choices=["hi"],
    )
    out = roundtrip(completion)
    assert out["id"] == "c-1"
    assert out["usage"] == {"input": 3, "output": 4}
    assert out["choices"] == ["hi"]
    assert out["score"] is None
    assert (
        datetime.datetime.fromisoformat(out["created"].replace("Z", "+00:00")) == completion.created
    )
    assert roundtrip({"inner": [completion]})["inner"][0]["id"] == "c-1"


def test_pydantic_v2_model_that_pydantic_cannot_serialize() -> None:
    pydantic = pytest.importorskip("pydantic", minversion="2")

    class Loose(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
        path: Any = None
        raw: bytes = b""
        f: float = 0.0

    class Opaque:
        pass

    # Not valid UTF-8 and an arbitrary object: pydantic's JSON mode refuses both.
    out = roundtrip(Loose(path=Opaque(), raw=b"\xff"))
    assert out["path"].endswith("Opaque object>")
    assert out["raw"] == BYTES_BASE64_PREFIX + "/w=="

    class Constants(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(ser_json_inf_nan="constants")
        f: float

    # pydantic would write a bare NaN token, which is not JSON.
    assert roundtrip(Constants(f=math.inf)) == {"f": None}


def test_pydantic_v2_model_with_a_cycle() -> None:
    pydantic = pytest.importorskip("pydantic", minversion="2")

    class Loop(pydantic.BaseModel):
        other: Any = None

    loop = Loop()
    loop.other = loop
    assert CYCLE_MARKER in json.dumps(roundtrip(loop))


def test_pydantic_v1_model() -> None:
    pytest.importorskip("pydantic", minversion="2")
    from pydantic import v1

    class Old(v1.BaseModel):
        name: str
        blob: bytes
        when: datetime.date

    assert roundtrip(Old(name="x", blob=b"\xff", when=datetime.date(2024, 1, 1))) == {
        "name": "x",
        "blob": BYTES_BASE64_PREFIX + "/w==",
        "when": "2024-01-01",
    }


# --------------------------------------------------------------------------------------------
# numpy


def test_numpy_scalars_and_arrays() -> None:
    np = pytest.importorskip("numpy")
    assert roundtrip(np.int64(7)) == 7
    assert roundtrip(np.float32(1.5)) == 1.5
    assert roundtrip(np.float64("nan")) is None
    assert roundtrip(np.bool_(True)) is True
    assert roundtrip(np.str_("s")) == "s"
    assert roundtrip(np.arange(6).reshape(2, 3)) == [[0, 1, 2], [3, 4, 5]]
    assert roundtrip(np.array([1.0, np.nan, np.inf])) == [1.0, None, None]
    assert roundtrip(np.array(["a", "b"])) == ["a", "b"]
    assert roundtrip(np.array([b"\xff"], dtype=object)) == [BYTES_BASE64_PREFIX + "/w=="]
    assert roundtrip({"emb": np.zeros(3, dtype=np.float32)}) == {"emb": [0.0, 0.0, 0.0]}


def test_huge_numpy_array_becomes_a_shape_placeholder() -> None:
    np = pytest.importorskip("numpy")
    arr = np.zeros((MAX_ARRAY_ELEMENTS + 1,), dtype=np.float32)
    assert roundtrip(arr) == f"<ndarray shape=({MAX_ARRAY_ELEMENTS + 1},) dtype=float32>"


def test_numpy_object_array_containing_itself() -> None:
    np = pytest.importorskip("numpy")
    arr = np.empty(2, dtype=object)
    arr[0] = 1
    arr[1] = arr
    assert roundtrip(arr) == [1, CYCLE_MARKER]


def test_optional_libraries_are_not_imported() -> None:
    code = textwrap.dedent(
        """
        import sys, dataclasses
        from langfuse_async._tracing.payload import encode_payload
        @dataclasses.dataclass
        class D:
            x: object
        class Other:
            pass
        for value in (D(Other()), Other(), {b"k": {1, 2}}, [b"\\xff"]):
            encode_payload(value)
        loaded = sorted(m for m in ("pydantic", "numpy") if m in sys.modules)
        assert not loaded, loaded
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------------------------
# Lazy values are never consumed


def test_generators_and_iterators_are_not_consumed() -> None:
    def numbers() -> Iterator[int]:
        yield 1
        yield 2

    gen = numbers()
    it = iter([1, 2])
    assert roundtrip({"gen": gen, "it": it}) == {
        "gen": "<generator object>",
        "it": "<list_iterator object>",
    }
    assert list(gen) == [1, 2]
    assert list(it) == [1, 2]


def test_coroutines_and_async_generators_are_not_run() -> None:
    started = []

    async def work() -> int:
        started.append(True)
        return 1

    async def stream() -> Any:
        started.append(True)
        yield 1

    coro = work()
    agen = stream()
    try:
        assert roundtrip([coro, agen]) == ["<coroutine object>", "<async_generator object>"]
        assert started == []
    finally:
        coro.close()
    assert asyncio.run(agen.__anext__()) == 1  # still at its start


# --------------------------------------------------------------------------------------------
# Cycles and depth


def test_cyclic_dict_and_list_are_marked() -> None:
    d: dict[str, Any] = {"name": "d"}
    d["self"] = d
    lst: list[Any] = [1]
    lst.append(lst)
    assert roundtrip(d) == {"name": "d", "self": CYCLE_MARKER}
    assert roundtrip(lst) == [1, CYCLE_MARKER]
    mutual_a: dict[str, Any] = {}
    mutual_b: dict[str, Any] = {"a": mutual_a}
    mutual_a["b"] = mutual_b
    assert roundtrip(mutual_a) == {"b": {"a": CYCLE_MARKER}}


def test_very_deep_nesting_is_cut_at_the_documented_depth() -> None:
    deep: list[Any] = []
    for _ in range(10_000):
        deep = [deep]
    out = roundtrip(deep)
    assert nested_depth(out) == MAX_DEPTH
    inner = out
    for _ in range(MAX_DEPTH):
        inner = inner[0]
    assert inner == DEPTH_MARKER

    deep_dict: dict[str, Any] = {}
    for _ in range(10_000):
        deep_dict = {"k": deep_dict}
    assert DEPTH_MARKER in bytes(encode_payload(deep_dict)).decode()


def test_nesting_within_the_limit_is_kept_whole_on_both_paths() -> None:
    def build(leaf: list[Any], levels: int = MAX_DEPTH) -> list[Any]:
        value = leaf
        for _ in range(levels - 1):
            value = [value]
        return value

    assert roundtrip(build(["leaf"])) == build(["leaf"])  # fast path
    assert roundtrip(build(["leaf", b"x"])) == build(["leaf", "x"])  # walk
    assert roundtrip(build(["leaf"], MAX_DEPTH + 1)) == build([DEPTH_MARKER])
    assert roundtrip(build(["leaf", b"x"], MAX_DEPTH + 1)) == build([DEPTH_MARKER])


def test_deep_value_on_an_already_deep_stack_still_encodes() -> None:
    deep: list[Any] = []
    for _ in range(MAX_DEPTH):
        deep = [deep, b"x"]

    def recurse(n: int) -> msgspec.Raw:
        if n == 0:
            return encode_payload(deep)
        return recurse(n - 1)

    frames = 0
    frame = sys._getframe()
    while frame is not None:
        frames += 1
        frame = frame.f_back  # type: ignore[assignment]
    # Leave only a few dozen frames: parts of the value degrade, the JSON stays valid.
    out = decoded(recurse(sys.getrecursionlimit() - frames - 40))
    assert out is not None


# --------------------------------------------------------------------------------------------
# Hostile objects


class Hostile:
    """Everything that can run user code raises."""

    def __repr__(self) -> str:
        raise RuntimeError("repr")

    def __str__(self) -> str:
        raise RuntimeError("str")

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"getattr {name}")

    def __iter__(self) -> Iterator[Any]:
        raise RuntimeError("iter")

    def __len__(self) -> int:
        raise RuntimeError("len")


class HostileMapping(Mapping[str, Any]):
    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("getitem")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("iter")

    def __len__(self) -> int:
        raise RuntimeError("len")


class HugeRepr:
    def __repr__(self) -> str:
        return "x" * 10_000_000


class HostileMeta(type):
    def __getattribute__(cls, name: str) -> Any:
        if name == "__qualname__":
            raise RuntimeError("qualname")
        return super().__getattribute__(name)


class HostileName(metaclass=HostileMeta):
    pass


@dataclasses.dataclass
class HostileField:
    ok: int
    bad: Any


def test_hostile_objects_become_placeholders() -> None:
    assert roundtrip(Hostile()) == "<Hostile object>"
    assert roundtrip(HostileMapping()) == "<HostileMapping object>"
    assert roundtrip(HugeRepr()) == "<HugeRepr object>"
    assert roundtrip(HostileName()) == "<HostileName object>"
    assert roundtrip(HostileField(1, Hostile())) == {"ok": 1, "bad": "<Hostile object>"}
    assert roundtrip({"h": [Hostile(), 1]}) == {"h": ["<Hostile object>", 1]}


def test_hostile_objects_as_keys() -> None:
    class HashableHostile(Hostile):
        def __hash__(self) -> int:
            return 0

    out = roundtrip({HashableHostile(): 1})
    assert out == {"<test_hostile_objects_as_keys.<locals>.HashableHostile object>": 1}


def test_mock_objects_are_not_walked() -> None:
    from unittest import mock

    assert roundtrip(mock.MagicMock()) == "<MagicMock object>"
    assert roundtrip(mock.Mock()) == "<Mock object>"


def test_placeholder_names_are_bounded() -> None:
    cls = type("N" * 10_000, (), {})
    assert len(roundtrip(cls())) < 300


def test_dict_mutated_while_encoding_does_not_raise() -> None:
    target: dict[str, Any] = {}

    @dataclasses.dataclass
    class Mutates:
        first: int

        def __getattribute__(self, name: str) -> Any:
            if name == "first":
                target[f"added-{len(target)}"] = 1
            return object.__getattribute__(self, name)

    target["a"] = Mutates(1)
    target["b"] = b"x"
    # "dictionary changed size during iteration" is contained to that dict.
    assert roundtrip({"outer": target, "ok": 1}) == {"outer": "<dict object>", "ok": 1}


# --------------------------------------------------------------------------------------------
# Property: never raises, always valid JSON; plain values round-trip on both paths


SURROGATE_TEXT = st.sampled_from(["\ud800", "a\udfff", "\ud83d\ude00", "\udc80\udc80"])
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=8) | SURROGATE_TEXT

LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
    st.binary(max_size=8),
    st.datetimes(timezones=st.none() | st.just(datetime.timezone.utc)),
    st.dates(),
    st.uuids(),
    st.decimals(allow_nan=True),
    st.sampled_from([Color.RED, Level.HIGH, ValueError("e"), pathlib.PurePath("/p")]),
    st.builds(Hostile),  # builds: hypothesis would call repr() on a sampled instance
    st.frozensets(st.integers(), max_size=3),
)
KEYS = st.one_of(TEXT, st.integers(), st.none(), st.booleans(), st.tuples(st.integers()))

ANYTHING = st.recursive(
    LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(KEYS, children, max_size=4),
        st.builds(Message, role=TEXT, content=TEXT, attachments=st.lists(st.binary(), max_size=2)),
    ),
    max_leaves=20,
)

PLAIN_JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**64 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=8),
    ),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ANYTHING)
def test_property_never_raises_and_is_always_valid_json(value: object) -> None:
    decoded(encode_payload(value))
    meta = encode_metadata(value)
    if isinstance(meta, dict):
        for key, raw in meta.items():
            key.encode("utf-8")
            decoded(raw)
    elif meta is not None:
        decoded(meta)


@settings(max_examples=150, deadline=None)
@given(PLAIN_JSON)
def test_property_plain_json_round_trips_and_both_paths_agree(value: object) -> None:
    raw = encode_payload(value)
    assert decoded(raw) == value
    walked = msgspec.Raw(_payload._encode(_payload._walk(value, 0, set())))
    assert bytes(walked) == bytes(raw)


# --------------------------------------------------------------------------------------------
# Metadata


def test_metadata_none_and_mapping_split_per_key() -> None:
    assert encode_metadata(None) is None
    meta = encode_metadata({"a": {"x": 1}, 2: [b"y"], None: "n"})
    assert isinstance(meta, dict)
    assert set(meta) == {"a", "2", "null"}
    assert all(isinstance(v, msgspec.Raw) for v in meta.values())
    assert decoded(meta["a"]) == {"x": 1}
    assert decoded(meta["2"]) == ["y"]
    assert decoded(meta["null"]) == "n"


def test_metadata_non_mapping_is_one_blob() -> None:
    meta = encode_metadata([1, "two"])
    assert isinstance(meta, msgspec.Raw)
    assert decoded(meta) == [1, "two"]
    text = encode_metadata("note")
    assert isinstance(text, msgspec.Raw)
    assert decoded(text) == "note"


def test_metadata_mapping_types_and_cleaned_keys() -> None:
    meta = encode_metadata(collections.OrderedDict([("k\ud800", 1)]))
    assert isinstance(meta, dict)
    assert list(meta) == ["k\ufffd"]
    proxy = encode_metadata(types.MappingProxyType({"a": 1}))
    assert isinstance(proxy, dict)
    assert decoded(proxy["a"]) == 1


def test_metadata_value_that_refers_back_to_the_metadata() -> None:
    meta_in: dict[str, Any] = {"a": 1}
    meta_in["self"] = {"again": meta_in}
    meta = encode_metadata(meta_in)
    assert isinstance(meta, dict)
    assert decoded(meta["self"]) == {"again": {"a": 1, "self": CYCLE_MARKER}}


def test_hostile_metadata_mapping_becomes_one_placeholder() -> None:
    meta = encode_metadata(HostileMapping())
    assert isinstance(meta, msgspec.Raw)
    assert decoded(meta) == "<HostileMapping object>"


def test_metadata_is_a_snapshot() -> None:
    inner = {"x": 1}
    meta = encode_metadata({"inner": inner})
    inner["x"] = 2
    assert isinstance(meta, dict)
    assert decoded(meta["inner"]) == {"x": 1}


# --------------------------------------------------------------------------------------------
# Masking


@pytest.fixture
def fresh_mask_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_payload, "_mask_warned", False)


def test_no_mask_returns_the_same_object() -> None:
    value = {"a": 1}
    assert apply_mask(None, value) is value


def test_mask_result_is_used() -> None:
    def redact(data: Any) -> Any:
        return {k: "***" if k == "password" else v for k, v in data.items()}

    assert apply_mask(redact, {"user": "u", "password": "p"}) == {"user": "u", "password": "***"}


@pytest.mark.usefixtures("fresh_mask_warning")
def test_failing_mask_replaces_the_value_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    def broken(data: Any) -> Any:
        raise KeyError(f"cannot mask {data['secret']}")

    caplog.set_level(logging.DEBUG, logger="langfuse_async")
    for _ in range(3):
        assert apply_mask(broken, {"secret": "hunter2"}) == MASK_FAILED_MARKER
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].name == "langfuse_async"
    assert "KeyError" in warnings[0].getMessage()
    # The mask exists to hide data: neither the value nor the error's text may be logged.
    assert "hunter2" not in caplog.text
    assert decoded(encode_payload(apply_mask(broken, {"secret": "s"}))) == MASK_FAILED_MARKER


@pytest.mark.usefixtures("fresh_mask_warning")
def test_mask_cancellation_is_not_swallowed() -> None:
    def cancelled(data: Any) -> Any:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        apply_mask(cancelled, "x")


@pytest.mark.usefixtures("fresh_mask_warning")
def test_an_async_mask_is_refused_and_its_coroutine_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def redact(data: Any) -> Any:
        return "redacted"

    caplog.set_level(logging.WARNING, logger="langfuse_async")
    # pytest turns warnings into errors: a coroutine left unawaited would fail here.
    assert apply_mask(redact, {"secret": "hunter2"}) == MASK_FAILED_MARKER
    gc.collect()
    (warning,) = [r for r in caplog.records if "mask" in r.getMessage()]
    assert "coroutine" in warning.getMessage() and "hunter2" not in caplog.text


def test_mask_returning_unencodable_values_still_encodes() -> None:
    assert roundtrip(apply_mask(lambda data: {"obj": Hostile()}, "x")) == {
        "obj": "<Hostile object>"
    }


# --------------------------------------------------------------------------------------------
# Size cap


def test_cap_payload() -> None:
    raw = encode_payload("x" * 100)
    assert len(raw) == 102
    assert cap_payload(raw, 102) is raw
    assert cap_payload(raw, 1_000) is raw
    capped = cap_payload(raw, 101)
    assert decoded(capped) == TRUNCATED_MARKER
    assert decoded(cap_payload(encode_payload({"big": list(range(1000))}), 10)) == TRUNCATED_MARKER


# --------------------------------------------------------------------------------------------
# The fast path (msgspec in one call, its hook for types it does not know) and the walk agree


def walked(value: object) -> bytes:
    """What the sanitizing walk alone writes for ``value``: the reference for the fast path."""
    try:
        return bytes(_payload._encode(_payload._walk(value, 0, set())))
    except Exception:
        return bytes(_payload._encode(_payload._placeholder(value)))


def takes_fast_path(value: object) -> bool:
    return type(value) is str or _payload._is_plain(value, 0)


def nest(value: Any, levels: int) -> Any:
    for _ in range(levels):
        value = [value]
    return value


def cyclic_dict() -> dict[str, Any]:
    d: dict[str, Any] = {"a": 1}
    d["self"] = d
    return d


def cyclic_list() -> list[Any]:
    lst: list[Any] = [1]
    lst.append([lst])
    return lst


def function_for_payload() -> None:
    pass


FAST_CASES: dict[str, Any] = {
    "str": "what is 2+2?",
    "observe arguments": {"question": "what is 2+2?", "top_k": 3},
    "nested plain": {"a": [1, 2.5, None, True, {"b": ("c", -(2**63), 2**64 - 1)}]},
    "NaN and infinities": {"nan": math.nan, "inf": [math.inf, -math.inf]},
    "exception, function, class, module, path": {
        "error": ValueError("boom"),
        "fn": function_for_payload,
        "builtin": len,
        "cls": dict,
        "module": math,
        "path": pathlib.PurePosixPath("/tmp/x"),
        "complex": 1 + 2j,
        "range": range(3),
    },
    "objects whose repr and iteration raise": {"h": [Hostile(), 1], "huge": HugeRepr()},
    "metaclass that raises": [HostileName()],
    "nesting at the limit": nest("leaf", MAX_DEPTH),
    "wide list of floats": [i / 7 for i in range(200)],
    "wide list of mixed plain values": [1, "a", None, 2.5, True, [1], {"k": "v"}] * 10,
    "wide dict": {f"k{i}": [i, str(i), i / 3] for i in range(50)},
    "wide list with objects for the hook": [ValueError("e"), Hostile(), 1] * 20,
}

SLOW_CASES: dict[str, Any] = {
    "cyclic dict": cyclic_dict(),
    "cyclic list": cyclic_list(),
    "nested one level too deep": nest("leaf", MAX_DEPTH + 1),
    "very deep": nest([], 5_000),
    "huge int": {"n": 2**64},
    "huge negative int": [-(2**63) - 1],
    "int too long for str": [10**5000],
    "bytes": {"blob": b"raw text", "bin": b"\xff\x00"},
    "bytearray and memoryview": [bytearray(b"x"), memoryview(b"y")],
    "datetime with a timezone": [datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)],
    "time and timedelta": {"t": datetime.time(1, 2), "d": datetime.timedelta(seconds=90)},
    "set": {"tags": {"b", "a", "c"}},
    "namedtuple": [Point(1, 2)],
    "dataclass": {"m": Message("user", "hi")},
    "msgspec Struct": [Envelope(kind="k", body=b"x")],
    "raw JSON": [msgspec.Raw(b"[1,2]"), msgspec.Raw(b"{not json")],
    "enum": {"color": Color.RED, "level": Level.HIGH, "mode": Mode.FAST},
    "str subclass": [Mode.FAST, type("S", (str,), {})("s")],
    "dict subclass": collections.OrderedDict(a=1),
    "non-str keys": {1: "a", None: "b", False: "c", (1, 2): "d", 1.5: "e", math.nan: "f"},
    "uuid and decimal": [uuid.UUID(int=1), decimal.Decimal("1.10")],
    "wide list with one huge int": [*range(100), 2**70],
    "wide list with one bytes": [*range(100), b"x"],
    "wide dict with an int key": {**{f"k{i}": i for i in range(40)}, 7: "x"},
    "mutating dataclass": {"m": HostileField(1, Hostile())},
}


@pytest.mark.parametrize("value", FAST_CASES.values(), ids=FAST_CASES.keys())
def test_fast_path_takes_plain_values_and_hook_types_and_agrees_with_the_walk(
    value: object,
) -> None:
    assert takes_fast_path(value)
    assert bytes(encode_payload(value)) == walked(value)


@pytest.mark.parametrize("value", SLOW_CASES.values(), ids=SLOW_CASES.keys())
def test_values_msgspec_would_write_its_own_way_take_the_walk(value: object) -> None:
    assert not takes_fast_path(value)
    assert bytes(encode_payload(value)) == walked(value)


def test_a_lone_surrogate_fails_the_fast_path_and_the_walk_repairs_it() -> None:
    value = {"text": "a\ud800b"}
    assert takes_fast_path(value)  # the scan does not read text; msgspec refuses it
    assert bytes(encode_payload(value)) == walked(value)
    assert roundtrip(value) == {"text": "a\ufffdb"}
    assert roundtrip("\udfff") == "\ufffd"


def test_pydantic_models_go_through_the_hook_unless_too_deep_or_unwritable() -> None:
    pydantic = pytest.importorskip("pydantic", minversion="2")

    class Usage(pydantic.BaseModel):
        input: int
        created: datetime.datetime

    class Loose(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
        other: Any = None

    class Constants(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(ser_json_inf_nan="constants")
        f: float

    usage = Usage(input=3, created=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    loop = Loose()
    loop.other = loop
    shallow = {"usage": usage, "list": [usage]}
    assert takes_fast_path(shallow)
    assert bytes(encode_payload(shallow)) == walked(shallow)
    deep = nest(usage, MAX_DEPTH // 2 + 1)
    assert not takes_fast_path(deep)
    assert bytes(encode_payload(deep)) == walked(deep)
    # pydantic refuses the cycle and writes NaN as a bare token: the hook gives up, the walk
    # writes what it always wrote.
    for value in ({"loop": loop}, {"c": Constants(f=math.nan)}, {"o": Loose(other=object())}):
        assert takes_fast_path(value)
        assert bytes(encode_payload(value)) == walked(value)


def test_numpy_values_go_through_the_hook_or_the_walk_with_the_same_result() -> None:
    np = pytest.importorskip("numpy")
    object_array = np.empty(2, dtype=object)
    object_array[0] = 1
    object_array[1] = object_array
    values = [
        {"score": np.float32(0.5), "n": np.int64(3), "flag": np.bool_(True)},
        {"nan": np.float64("nan"), "big": np.uint64(2**64 - 1)},
        {"emb": np.arange(6, dtype=np.float32).reshape(2, 3)},
        {"huge": np.zeros(MAX_ARRAY_ELEMENTS + 1, dtype=np.int8)},
        {"objects": object_array},
        {"complex": np.array([1 + 2j]), "scalar": np.complex64(1j)},
        {"text": np.array(["a", "b"]), "bytes": np.bytes_(b"\xff")},
        {"when": np.datetime64("2024-01-01T00:00:00", "ns")},
        {"many dims": np.zeros((1,) * 40)},
        nest(np.zeros((1,) * 20), MAX_DEPTH // 2 + 1),
    ]
    for value in values:
        assert bytes(encode_payload(value)) == walked(value), value
    assert takes_fast_path(values[0]) and takes_fast_path(values[2])


def test_the_hook_cache_forgets_types_past_its_bound() -> None:
    classes = [type(f"Throwaway{i}", (), {}) for i in range(_payload._MAX_CACHED_TYPES + 5)]
    for cls in classes:
        assert roundtrip([cls()]) == [f"<Throwaway{classes.index(cls)} object>"]
    assert len(_payload._hook_kinds) <= _payload._MAX_CACHED_TYPES


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ANYTHING)
def test_property_encoding_equals_the_walk_for_anything(value: object) -> None:
    assert bytes(encode_payload(value)) == walked(value)


# --- fields_encoder: @observe's arguments without a dict --------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        ("q",),
        ("what is 2+2?", 3),
        (1.5, True, None),
        (-(2**63), 2**64 - 1),
        ("é ✓ \u2028", float("nan")),
    ],
)
def test_fields_encoder_writes_what_the_dict_would(values: tuple[object, ...]) -> None:
    names = ("a", "b", "c")
    encode = fields_encoder(names)
    raw = encode(values)
    assert raw is not None
    assert bytes(raw) == bytes(encode_payload(dict(zip(names, values, strict=False))))


@pytest.mark.parametrize(
    "values",
    [
        ([1, 2],),  # a container: the walk decides
        ("ok", {"k": 1}),
        (2**64,),  # beyond 64 bits the walk writes it differently
        ("\ud800",),  # a lone surrogate: the walk repairs it
        (True, b"bytes"),
    ],
)
def test_fields_encoder_leaves_anything_but_scalars_to_the_walk(
    values: tuple[object, ...],
) -> None:
    assert fields_encoder(("a", "b"))(values) is None


def test_fields_encoder_keeps_non_identifier_and_keyword_names() -> None:
    encode = fields_encoder(("class", "_x", "naïve"))
    assert json.loads(bytes(encode((1, 2, 3)) or b"")) == {"class": 1, "_x": 2, "naïve": 3}
