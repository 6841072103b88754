"""The sanitizing walk: any Python value to plain JSON-able data, never raising.

The slow, safe path of :mod:`.payload`: cycles, depth, hostile objects (raising ``__repr__``,
iteration or attributes), and every type msgspec does not know are turned into plain values
here, one handler per type, decided once per type.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import itertools
import math
import pathlib
import re
import sys
import types
import uuid
from collections.abc import (
    Callable,
    ItemsView,
    Iterable,
    KeysView,
    Mapping,
    Sequence,
    Set,
    ValuesView,
)
from typing import Any

import msgspec

#: Containers nested deeper than this many levels are replaced by :data:`DEPTH_MARKER`.
MAX_DEPTH = 64

#: Replaces a container that is nested deeper than :data:`MAX_DEPTH` levels.
DEPTH_MARKER = f"<nested deeper than {MAX_DEPTH} levels>"

#: Replaces a container that contains itself (only true cycles; shared references are fine).
CYCLE_MARKER = "<circular reference>"

#: Prefix of bytes that are not readable text: a data URI, so any tool can decode it.
BYTES_BASE64_PREFIX = "data:application/octet-stream;base64,"

#: numpy arrays with more elements than this become a short shape/dtype placeholder.
MAX_ARRAY_ELEMENTS = 100_000

# Collections that are not builtin containers (user Mappings/Sequences, deques, views) may be
# lazy or enormous; only this many items are taken.
_MAX_FOREIGN_ITEMS = 100_000
_MORE_ITEMS_MARKER = "<more items not shown>"

# Stands in for a dataclass/attrs/Struct field whose attribute could not be read.
_UNREADABLE_MARKER = "<unreadable attribute>"

# Exception messages and names are user-controlled text of any size.
_MAX_TEXT = 2_000
_MAX_NAME = 200

# JavaScript reads integers beyond 64 bits as lossy floats (or Infinity) and Python's json
# refuses more than 4300 digits, so such integers travel as strings.
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1

# C0 controls (but tab, newline, CR) and DEL: decoded bytes containing them are binary data.
_BINARY_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Scalars the encoder writes exactly as the walk would (a non-finite float is null either way).
_PLAIN_SCALARS: frozenset[type] = frozenset({str, float, bool, type(None)})
_is_int = int.__instancecheck__  # a C-level predicate for filter()
# Lists and tuples longer than this (embeddings, rows) have their items' types gathered by
# map(type) in C; a dict that wide is rare, and its keys need checking too.
_WIDE = 32


# --------------------------------------------------------------------------------------------
# Sanitizing walk: returns only str, int (64-bit), finite float, bool, None, list, dict[str, ...]
# and msgspec.Raw holding valid JSON.

_Handler = Callable[[Any, int, "set[int]"], Any]

# How to convert each type met so far. Which branch a value takes depends only on its type, so
# deciding once per type keeps dozens of isinstance checks (several of them on ABCs) off every
# later value. Bounded: classes made at runtime would otherwise pile up.
_handlers: dict[type, _Handler] = {}
_MAX_CACHED_TYPES = 1024


def _walk(obj: Any, depth: int, active: set[int]) -> Any:
    t = type(obj)
    if t is str:
        return _clean_str(obj)
    if t is int:
        return _clean_int(obj)
    if t is float:
        return obj if math.isfinite(obj) else None
    if t is bool or obj is None:
        return obj
    try:
        if t is dict:
            return _walk_dict(obj, depth, active)
        if t is list or t is tuple:
            return _walk_array(obj, depth, active)
        handler = _handlers.get(t)
        if handler is None:
            handler = _classify(t)
            if len(_handlers) >= _MAX_CACHED_TYPES:
                _handlers.clear()
            _handlers[t] = handler
        return handler(obj, depth, active)
    except Exception:
        # Any user code we touched (a property, __iter__, model_dump, __str__) may raise; the
        # value is then described by its type alone.
        return _placeholder(obj)


def _container(convert: _Handler) -> _Handler:
    """Wrap the conversion of a value that holds others with the depth and cycle guards."""

    def guarded(obj: Any, depth: int, active: set[int]) -> Any:
        if depth >= MAX_DEPTH:
            return DEPTH_MARKER
        oid = id(obj)
        if oid in active:
            return CYCLE_MARKER
        active.add(oid)
        try:
            return convert(obj, depth, active)
        finally:
            active.discard(oid)

    return guarded


def _dict_items(obj: Any, depth: int, active: set[int]) -> dict[str, Any]:
    return _walk_pairs(obj.items(), depth, active)


def _array_items(obj: Any, depth: int, active: set[int]) -> list[Any]:
    child = depth + 1
    return [_walk(v, child, active) for v in obj]


_walk_dict = _container(_dict_items)
_walk_array = _container(_array_items)


def _classify(t: type) -> _Handler:
    """Choose the conversion for instances of ``t`` (subclass checks only: no instance code)."""
    if issubclass(t, enum.Enum):
        return _enum_value
    if issubclass(t, str):
        return _str_subclass
    if issubclass(t, int):
        return _int_subclass
    if issubclass(t, float):
        return _float_subclass
    if issubclass(t, bytes | bytearray | memoryview):
        return _leaf(_bytes_text)
    if issubclass(t, datetime.date | datetime.time):
        return _leaf(_isoformat)
    if issubclass(t, datetime.timedelta):
        return _leaf(datetime.timedelta.total_seconds)
    if issubclass(t, uuid.UUID):
        return _leaf(uuid.UUID.__str__)
    if issubclass(t, decimal.Decimal):
        return _leaf(decimal.Decimal.__str__)
    if issubclass(t, pathlib.PurePath):
        return _leaf(_path_text)
    if issubclass(t, BaseException):
        return _leaf(_exception_text)
    if issubclass(t, complex):
        return _leaf(complex.__repr__)
    if issubclass(t, range):
        return _leaf(range.__repr__)
    if issubclass(t, msgspec.Raw):
        return _leaf(_checked_raw)
    if issubclass(t, type):
        return _leaf(_class_text)
    if issubclass(t, types.FunctionType | types.MethodType | types.BuiltinFunctionType):
        return _leaf(_function_text)
    if issubclass(t, types.ModuleType):
        return _leaf(_module_text)
    if issubclass(t, Mapping):
        return _container(_mapping_items)
    if issubclass(t, tuple) and _is_str_tuple(getattr(t, "_fields", None)):
        # A namedtuple reads better as an object of its fields.
        return _container(_fields_converter(tuple(getattr(t, "_fields", ()))))
    if issubclass(t, list | tuple):
        return _container(_array_items)
    if issubclass(t, KeysView | ItemsView | ValuesView | Sequence):
        # Dict views keep the dict's order, which means something; only true sets are sorted.
        return _container(_sequence_items)
    if issubclass(t, Set):
        return _container(_set_items)
    names = _field_names(t)
    if names is not None:
        return _container(_fields_converter(names))
    return _classify_optional_library(t)


def _classify_optional_library(t: type) -> _Handler:
    """pydantic and numpy types, recognised only when those modules are already imported.

    An instance of their classes exists only once its module is imported, so a type classified
    before the import cannot belong to them and the cached answer stays right.
    """
    for module_name in ("pydantic.main", "pydantic.v1.main"):
        module = sys.modules.get(module_name)
        base = getattr(module, "BaseModel", None) if module is not None else None
        if isinstance(base, type) and issubclass(t, base):
            if hasattr(base, "model_dump_json"):
                return _container(_pydantic_v2)
            return _container(_pydantic_v1)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        if issubclass(t, numpy.ndarray):
            return _container(_numpy_array)
        if issubclass(t, numpy.generic):
            return _numpy_scalar
    return _leaf(_placeholder)


def _leaf(convert: Callable[[Any], Any]) -> _Handler:
    def handler(obj: Any, depth: int, active: set[int]) -> Any:
        return convert(obj)

    return handler


def _enum_value(obj: Any, depth: int, active: set[int]) -> Any:
    return _walk(obj.value, depth, active)


def _str_subclass(obj: Any, depth: int, active: set[int]) -> Any:
    return _clean_str(str.__str__(obj))


def _int_subclass(obj: Any, depth: int, active: set[int]) -> Any:
    return _clean_int(int.__int__(obj))


def _float_subclass(obj: Any, depth: int, active: set[int]) -> Any:
    value = float.__float__(obj)
    return value if math.isfinite(value) else None


def _numpy_scalar(obj: Any, depth: int, active: set[int]) -> Any:
    return _walk(obj.item(), depth, active)


def _mapping_items(obj: Any, depth: int, active: set[int]) -> dict[str, Any]:
    return _walk_pairs(itertools.islice(obj.items(), _MAX_FOREIGN_ITEMS), depth, active)


def _set_items(obj: Any, depth: int, active: set[int]) -> list[Any]:
    return _sequence_items(_ordered(obj), depth, active)


def _sequence_items(items: Iterable[Any], depth: int, active: set[int]) -> list[Any]:
    taken = list(itertools.islice(items, _MAX_FOREIGN_ITEMS + 1))
    more = len(taken) > _MAX_FOREIGN_ITEMS
    child = depth + 1
    out = [_walk(v, child, active) for v in taken[:_MAX_FOREIGN_ITEMS]]
    if more:
        out.append(_MORE_ITEMS_MARKER)
    return out


def _fields_converter(names: tuple[str, ...]) -> _Handler:
    keyed = tuple((name, _clean_str(name)) for name in names)

    def convert(obj: Any, depth: int, active: set[int]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        child = depth + 1
        for name, key in keyed:
            try:
                value = getattr(obj, name)
            except Exception:
                value = _UNREADABLE_MARKER
            out[key] = _walk(value, child, active)
        return out

    return convert


def _pydantic_v2(obj: Any, depth: int, active: set[int]) -> Any:
    try:
        text = obj.model_dump_json(warnings=False)
        if isinstance(text, str):
            data = text.encode("utf-8")
            # A model configured with ser_json_inf_nan="constants" writes NaN/Infinity, which is
            # not JSON; any text that merely mentions them takes the slower path, harmlessly.
            if b"NaN" not in data and b"Infinity" not in data:
                return msgspec.Raw(data)
    except Exception:
        pass
    try:
        dumped = obj.model_dump(warnings=False)
    except Exception:
        # pydantic refuses cycles ("Circular reference detected"); our walk marks them instead.
        return _fields_converter(_str_tuple(type(obj).model_fields))(obj, depth, active)
    return _walk(dumped, depth, active)


def _pydantic_v1(obj: Any, depth: int, active: set[int]) -> Any:
    try:
        dumped = obj.dict()
    except Exception:
        return _fields_converter(_str_tuple(type(obj).__fields__))(obj, depth, active)
    return _walk(dumped, depth, active)


def _str_tuple(names: Iterable[Any]) -> tuple[str, ...]:
    return tuple(name for name in names if type(name) is str)


def _numpy_array(arr: Any, depth: int, active: set[int]) -> Any:
    if arr.size > MAX_ARRAY_ELEMENTS:
        shape = _clip(str(tuple(arr.shape)), _MAX_NAME)
        dtype = _clip(str(arr.dtype), _MAX_NAME)  # structured dtypes can be long
        return f"<{_clip(_type_name(arr), _MAX_NAME)} shape={shape} dtype={dtype}>"
    items = arr.tolist()
    # Numeric arrays give nested lists of Python bool/int/float within 64 bits, which the
    # encoder writes as the walk would (NaN included); anything else is walked.
    if arr.dtype.kind in "biuf" and depth + arr.ndim <= MAX_DEPTH:
        return items
    return _walk(items, depth, active)


def _walk_pairs(pairs: Iterable[tuple[Any, Any]], depth: int, active: set[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    child = depth + 1
    for key, value in pairs:
        out[key if type(key) is str and key.isascii() else _key_text(key, child, active)] = _walk(
            value, child, active
        )
    return out


def _ordered(items: Iterable[Any]) -> list[Any]:
    values = list(itertools.islice(items, _MAX_FOREIGN_ITEMS + 1))
    # Sorting gives sets a stable order across runs, but only for builtin types, whose
    # comparisons cannot run user code.
    if all(type(v) is str for v in values):
        values.sort()
    elif all(type(v) is int or type(v) is float for v in values):
        values.sort()
    return values


def _key_text(key: Any, depth: int, active: set[int]) -> str:
    if type(key) is str:
        return _clean_str(key)
    converted = _walk(key, depth, active)
    if type(converted) is str:
        return converted
    try:
        return msgspec.json.encode(converted).decode("utf-8")
    except Exception:
        return _placeholder(key)


def _is_str_tuple(value: object) -> bool:
    return type(value) is tuple and all(type(v) is str for v in value)


def _field_names(t: type) -> tuple[str, ...] | None:
    """Field names of a dataclass, attrs class or msgspec Struct; ``None`` for other types."""
    if dataclasses.is_dataclass(t):
        return tuple(f.name for f in dataclasses.fields(t))
    if issubclass(t, msgspec.Struct):
        return tuple(t.__struct_fields__)
    attrs = getattr(t, "__attrs_attrs__", None)
    if attrs is not None:
        return tuple(str(a.name) for a in attrs)
    return None


# --------------------------------------------------------------------------------------------
# Leaves


def _clean_str(s: str) -> str:
    """``s`` with every lone surrogate replaced by U+FFFD, so it encodes as valid UTF-8."""
    if s.isascii():
        return s
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        # Round-trip through UTF-16: paired surrogates become the character they spell, lone
        # ones become U+FFFD.
        return s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _clean_int(value: int) -> int | str:
    if _INT_MIN <= value <= _INT_MAX:
        return value
    try:
        return str(value)
    except ValueError:
        # More digits than sys.get_int_max_str_digits() allows.
        return f"<int of {value.bit_length()} bits>"


def _bytes_text(value: bytes | bytearray | memoryview) -> str:
    data = value.tobytes() if isinstance(value, memoryview) else bytes(value)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if _BINARY_CHARS.search(text) is None:
            return text
    return BYTES_BASE64_PREFIX + base64.b64encode(data).decode("ascii")


def _exception_text(exc: BaseException) -> str:
    name = _clip(_type_name(exc), _MAX_NAME)
    try:
        message = str(exc)
        if not isinstance(message, str):
            message = ""
    except Exception:
        message = "<unprintable message>"
    message = _clip(_clean_str(message), _MAX_TEXT)
    return f"{name}: {message}" if message else name


def _isoformat(value: datetime.date | datetime.time) -> str:
    return _clean_str(value.isoformat())


def _path_text(path: pathlib.PurePath) -> str:
    # File names may hold surrogate escapes for undecodable bytes.
    return _clean_str(pathlib.PurePath.__str__(path))


def _class_text(cls: type) -> str:
    return f"<class {_clip(_qualname(cls), _MAX_NAME)}>"


def _function_text(func: object) -> str:
    return f"<function {_clip(_qualname(func), _MAX_NAME)}>"


def _module_text(module: types.ModuleType) -> str:
    return f"<module {_clip(_qualname(module), _MAX_NAME)}>"


def _checked_raw(raw: msgspec.Raw) -> msgspec.Raw | str:
    # A Raw is spliced verbatim, so only well-formed JSON may pass.
    try:
        msgspec.json.decode(raw)
    except Exception:
        return _placeholder(raw)
    return raw


def _placeholder(obj: object) -> str:
    return f"<{_clip(_type_name(obj), _MAX_NAME)} object>"


def _type_name(obj: object) -> str:
    return _qualname(type(obj))


def _qualname(obj: object) -> str:
    # Either attribute may be a property on a metaclass that raises or returns a non-str.
    for attribute in ("__qualname__", "__name__"):
        try:
            name = getattr(obj, attribute, None)
        except Exception:
            continue
        if isinstance(name, str):
            return _clean_str(name)
    return "unknown"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
