"""Payload encoding: user values become JSON bytes once, never raising (one job in two paths).

Every ``input``, ``output`` and ``metadata`` value goes through :func:`encode_payload`, which
returns ``msgspec.Raw`` so the record keeps a private snapshot (later mutation of the user's
objects changes nothing) and the batcher can splice the bytes without encoding them again.

Two paths, which give the same JSON for every value the fast path takes:

* **Fast path.** A scan checks that the value is made only of ``dict`` (with ``str`` keys),
  ``list``, ``tuple``, ``str``, ``bool``, ``None``, ``float`` and 64-bit ``int``, nested at
  most :data:`MAX_DEPTH` levels, plus values msgspec does not know, which its encoder hook
  converts as the walk would: exceptions, functions, classes, modules, paths, pydantic v2
  models, numpy arrays and scalars, and objects that become placeholders. Then msgspec writes
  the value in one call. Long lists are scanned by type at C speed. msgspec cannot be
  trusted with the rest without a scan: it writes bytes, datetimes, timedeltas, sets,
  namedtuples, dataclasses, Structs and integers beyond 64 bits its own way, never calling the
  hook. A failure on the way (a lone surrogate, a hook that meets a value only the walk may
  convert) sends the value to the walk.
* **Sanitizing walk.** Anything else is first converted to plain JSON values by a walk that
  never raises, then encoded.

How values come out (the walk; the fast path agrees on every value it admits):

* ``float`` NaN and infinities: ``null``, as ``JSON.stringify`` writes them.
* ``int`` outside -2**63 .. 2**64-1: a string of its digits (``"<int of N bits>"`` past
  Python's digit limit); JavaScript could not hold the number.
* ``str`` with lone surrogates: each one becomes U+FFFD (a pair spelled as two code points
  becomes the character it encodes).
* ``bytes``, ``bytearray``, ``memoryview``: the text, when it is UTF-8 without control
  characters other than tab, newline and CR; otherwise a data URI,
  ``"data:application/octet-stream;base64,..."``.
* dict keys that are not ``str``: the key's JSON text (``1`` -> ``"1"``, ``None`` ->
  ``"null"``, ``(1, 2)`` -> ``"[1,2]"``, an enum or UUID -> its string).
* ``tuple``, ``list``, ``deque``, other sequences, sets and dict views: arrays (sets of ``str``
  or of numbers are sorted, so the order is stable across runs). A namedtuple is an object of
  its fields. ``range`` is its text, ``range(0, 10)``.
* ``datetime``, ``date``, ``time``: ``isoformat()`` (naive values stay naive, aware ones carry
  their offset); ``timedelta``: total seconds, a number.
* ``UUID``, ``Decimal`` (every digit kept), ``Path``: their text. ``complex``: ``"(1+2j)"``.
* ``Enum``: its value, by these same rules.
* exceptions: ``"ValueError: boom"`` (message clipped to 2 000 characters).
* dataclasses, attrs classes, ``msgspec.Struct``: an object of their fields.
* pydantic v2 models: pydantic's own JSON (``model_dump_json``); when pydantic cannot write it
  (arbitrary objects, invalid UTF-8, NaN written as a bare token), the walked ``model_dump()``.
  pydantic v1 models: the walked ``.dict()``.
* numpy scalars and arrays: ``.item()`` and ``.tolist()``; arrays of more than 100 000
  elements become ``"<ndarray shape=(...) dtype=...>"``.
* ``msgspec.Raw``: spliced as is when it holds valid JSON.
* classes, functions, modules: ``"<class Foo>"``, ``"<function f>"``, ``"<module m>"``.
* generators, coroutines, iterators and anything else: ``"<TypeName object>"``. They are never
  iterated, awaited or ``repr()``-ed (a repr can raise, be huge, or have side effects).
* a container that contains itself: :data:`CYCLE_MARKER` in place of the repeat.
* containers nested deeper than :data:`MAX_DEPTH` (64) levels: :data:`DEPTH_MARKER`.
* a value whose conversion raised (a hostile ``__getattr__``, ``__iter__``, property):
  ``"<TypeName object>"`` in its place; the rest of the payload is kept.

pydantic and numpy are never imported here: they are recognised only when the user's program
has already imported them (``sys.modules``).
"""

from __future__ import annotations

import datetime
import decimal
import enum
import itertools
import logging
import os
import pathlib
import sys
import types
import uuid
from collections.abc import (
    Callable,
    Collection,
    ItemsView,
    KeysView,
    Mapping,
    Sequence,
    Set,
    ValuesView,
)
from typing import Any

import msgspec

from .._records import TRUNCATED_MARKER, Metadata
from .sanitize import (
    _INT_MAX,
    _INT_MIN,
    _MAX_CACHED_TYPES,
    _MAX_FOREIGN_ITEMS,
    _PLAIN_SCALARS,
    _WIDE,
    BYTES_BASE64_PREFIX,
    CYCLE_MARKER,
    DEPTH_MARKER,
    MAX_ARRAY_ELEMENTS,
    MAX_DEPTH,
    _field_names,
    _is_int,
    _key_text,
    _placeholder,
    _type_name,
    _walk,
)

__all__ = [
    "BYTES_BASE64_PREFIX",
    "CYCLE_MARKER",
    "DEPTH_MARKER",
    "MASK_FAILED_MARKER",
    "MAX_ARRAY_ELEMENTS",
    "MAX_DEPTH",
    "apply_mask",
    "cap_payload",
    "encode_metadata",
    "encode_payload",
    "fields_encoder",
]

_log = logging.getLogger("langfuse_async")

#: What replaces a field when the user's ``mask`` function raised.
MASK_FAILED_MARKER: str = "<fully masked due to failed mask function>"


def _safe_placeholder_hook(obj: Any) -> Any:
    # A safety net only: the fast path admits plain types and the walk emits plain values, so
    # the encoder should never meet a type it does not know.
    return _placeholder(obj)


#: The one encoder, reused for every payload (building one per call costs more than encoding).
_encoder = msgspec.json.Encoder(enc_hook=_safe_placeholder_hook)
_encode = _encoder.encode

_TRUNCATED_RAW = msgspec.Raw(_encode(TRUNCATED_MARKER))
#: Encodings at least this large are copied into a buffer of their exact size: msgspec's output
#: buffer keeps half again as much spare, which the queue's byte bound would not see (a copy
#: costs a fraction of the encoding).
_EXACT_FROM = 4096
_LAST_RESORT_RAW = msgspec.Raw(b'"<unserializable value>"')


# --------------------------------------------------------------------------------------------
# Public API


def encode_payload(value: object) -> msgspec.Raw:
    """Encode a user value as JSON, once; never raises.

    Args:
        value: Any object the user passed as input, output or metadata.

    Returns:
        The JSON text as ``msgspec.Raw``: always valid UTF-8 JSON that ``json.loads`` accepts.
        Values JSON cannot hold are converted as the module documentation describes.
    """
    try:
        if type(value) is str or _is_plain(value, 0):
            encoded = _fast_encode(value)
            if len(encoded) >= _EXACT_FROM:
                encoded = bytes(memoryview(encoded))
            return msgspec.Raw(encoded)
    except Exception:
        # Lone surrogates, a hook that met something it must not convert, or a dict mutated by
        # another thread: the walk below handles each of them.
        pass
    try:
        return msgspec.Raw(bytes(memoryview(_encode(_walk(value, 0, set())))))
    except Exception:
        pass
    try:
        return msgspec.Raw(_encode(_placeholder(value)))
    except Exception:
        return _LAST_RESORT_RAW


def fields_encoder(names: tuple[str, ...]) -> Callable[[tuple[Any, ...]], msgspec.Raw | None]:
    """Return a function that encodes an object of scalar values without building it.

    ``@observe`` records a call's arguments as an object keyed by parameter name. When every
    value is a scalar the encoder writes exactly as the walk would (a string, a float, a bool,
    None, an int within 64 bits), the object is encoded in one call from a struct made once
    per function: no dict is built and nothing is walked. Anything else (a container, another
    type, a lone surrogate) makes it return None, and the caller encodes the object itself
    with :func:`encode_payload`, which handles every case.

    Args:
        names: The keys, in order (parameter names: distinct).

    Returns:
        A function of the first ``n`` values (``1 <= n <= len(names)``) that returns the JSON
        object as ``msgspec.Raw``, or None.
    """
    structs: list[type[msgspec.Struct]] = [
        msgspec.defstruct(
            "_Fields",
            [(f"f{i}", object) for i in range(n)],
            rename={f"f{i}": names[i] for i in range(n)},
            gc=False,  # made and dropped at once: no cycle to collect
        )
        for n in range(1, min(len(names), _MAX_FIELDS) + 1)
    ]

    def encode(values: tuple[Any, ...]) -> msgspec.Raw | None:
        for value in values:
            t = type(value)
            if t is str or t is float or t is bool or value is None:
                continue
            if t is int and _INT_MIN <= value <= _INT_MAX:
                continue
            return None
        n = len(values)
        if n > len(structs):
            return None
        try:
            return msgspec.Raw(_fast_encode(structs[n - 1](*values)))
        except Exception:
            return None  # a lone surrogate: the walk repairs it

    return encode


#: Functions with more parameters than this have their arguments encoded as a dict.
_MAX_FIELDS = 32


def encode_metadata(value: object) -> Metadata | None:
    """Encode metadata, keeping a mapping's top-level keys apart.

    Args:
        value: The user's metadata.

    Returns:
        ``None`` for ``None``; for a mapping, a dict from each key (as text, see the module
        documentation) to its encoded value; for anything else, one encoded blob.
    """
    if value is None:
        return None
    if type(value) is dict or isinstance(value, Mapping):
        try:
            out: dict[str, msgspec.Raw] = {}
            active = {id(value)}
            for key, item in itertools.islice(value.items(), _MAX_FOREIGN_ITEMS):
                out[_key_text(key, 0, active)] = encode_payload(item)
            return out
        except Exception:
            # A hostile Mapping: fall through to one blob, which degrades to a placeholder.
            pass
    return encode_payload(value)


def apply_mask(mask: Callable[[Any], Any] | None, value: object) -> object:
    """Apply the user's ``mask`` function to a value before it is encoded; never raises.

    Args:
        mask: The client's ``mask`` option, or ``None``.
        value: The input, output or metadata value.

    Returns:
        ``value`` unchanged when ``mask`` is ``None``; ``mask(value)`` otherwise; and
        :data:`MASK_FAILED_MARKER` when the mask raised or returned a coroutine (an
        ``async def`` mask cannot be awaited here), so the unmasked value is never sent.
        The first failure in a process is logged at WARNING (type of the error only: its
        message could quote the very data the mask was meant to hide).
    """
    if mask is None:
        return value
    try:
        masked = mask(value)
    except Exception as exc:
        _warn_mask_failed("raised " + _type_name(exc))
        return MASK_FAILED_MARKER
    if type(masked) is types.CoroutineType:
        # Closed at once: left to the garbage collector it would warn "never awaited".
        masked.close()
        _warn_mask_failed("returned a coroutine (it must be a plain function, not async def)")
        return MASK_FAILED_MARKER
    return masked


def cap_payload(raw: msgspec.Raw, max_bytes: int) -> msgspec.Raw:
    """Replace an encoded payload that is too large by the encoded truncation marker.

    Args:
        raw: An encoded payload.
        max_bytes: The largest size allowed, in bytes.

    Returns:
        ``raw`` when ``len(raw) <= max_bytes``, else ``TRUNCATED_MARKER`` encoded as JSON.
    """
    if len(raw) > max_bytes:
        return _TRUNCATED_RAW
    return raw


# --------------------------------------------------------------------------------------------
# Mask failure logging: once per process (a forked child logs its own first failure).

_mask_warned = False


def _warn_mask_failed(what: str) -> None:
    global _mask_warned
    if _mask_warned:
        return
    _mask_warned = True
    try:
        _log.warning(
            "the mask function %s; the value was replaced by %r "
            "(further mask failures are not logged)",
            what,
            MASK_FAILED_MARKER,
        )
    except Exception:
        pass


def _reset_after_fork() -> None:
    global _mask_warned
    _mask_warned = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


# --------------------------------------------------------------------------------------------
# Fast path


class _NotFast(Exception):
    """Raised by the fast path's hook for a value only the walk may convert."""


# What the fast path's hook does with a type msgspec hands it (see _hook_kind).
_NOT_HOOKABLE = 0
_HOOK_LEAF = 1
_HOOK_PYDANTIC = 2
_HOOK_NDARRAY = 3
_HOOK_NUMPY_SCALAR = 4

# A pydantic model or numpy array sitting deeper than this takes the walk, which would cut it
# at MAX_DEPTH (an array's dimensions count as levels too, hence the halves).
_MAX_HOOKED_LEVEL = MAX_DEPTH // 2
_MAX_HOOKED_NDIM = MAX_DEPTH // 2

_hook_kinds: dict[type, int] = {}

# Types msgspec encodes itself, its own way (base64 bytes, RFC 3339 datetimes, unsorted sets,
# namedtuples as arrays, dataclass and Struct options...): the hook never sees them, so values
# holding them take the walk.
_MSGSPEC_NATIVE = (
    str,
    int,
    float,
    bytes,
    bytearray,
    memoryview,
    list,
    tuple,
    dict,
    set,
    frozenset,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    uuid.UUID,
    decimal.Decimal,
    enum.Enum,
    msgspec.Struct,
    msgspec.Raw,
    type(msgspec.UNSET),
)


def _hook_kind(t: type) -> int:
    """How the hook converts instances of ``t``, mirroring the walk's ``_classify`` order."""
    if issubclass(t, _MSGSPEC_NATIVE) or _field_names(t) is not None:
        return _NOT_HOOKABLE
    if issubclass(
        t,
        pathlib.PurePath
        | BaseException
        | complex
        | range
        | type
        | types.FunctionType
        | types.MethodType
        | types.BuiltinFunctionType
        | types.ModuleType,
    ):
        return _HOOK_LEAF
    if issubclass(t, Mapping | KeysView | ItemsView | ValuesView | Sequence | Set):
        return _NOT_HOOKABLE  # the walk iterates these
    for module_name in ("pydantic.main", "pydantic.v1.main"):
        module = sys.modules.get(module_name)
        base = getattr(module, "BaseModel", None) if module is not None else None
        if isinstance(base, type) and issubclass(t, base):
            return _HOOK_PYDANTIC if hasattr(base, "model_dump_json") else _NOT_HOOKABLE
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        if issubclass(t, numpy.ndarray):
            return _HOOK_NDARRAY
        if issubclass(t, numpy.generic):
            return _HOOK_NUMPY_SCALAR
    return _HOOK_LEAF  # the walk's placeholder


def _hookable(t: type, depth: int) -> bool:
    """Whether the fast path's hook may convert an instance of ``t`` found at ``depth``."""
    kind = _hook_kinds.get(t)
    if kind is None:
        kind = _hook_kind(t)
        if len(_hook_kinds) >= _MAX_CACHED_TYPES:
            _hook_kinds.clear()
        _hook_kinds[t] = kind
    if kind == _HOOK_PYDANTIC or kind == _HOOK_NDARRAY:
        return depth <= _MAX_HOOKED_LEVEL
    return kind != _NOT_HOOKABLE


def _is_plain(obj: Any, depth: int) -> bool:
    """Whether the fast path's encoder writes ``obj`` exactly as the walk would.

    Exact types only: subclasses (``IntEnum``, ``OrderedDict``, ``numpy.str_``) take the walk.
    Cycles and absurd depth end at :data:`MAX_DEPTH`, which sends them to the walk as well.
    Scalar checks are inlined in the loops because this runs for every payload.
    """
    t = type(obj)
    if t is dict:
        if depth >= MAX_DEPTH:
            return False
        for k, v in obj.items():
            if type(k) is not str:
                return False
            tv = type(v)
            if tv is str:
                continue
            if tv is int:
                if _INT_MIN <= v <= _INT_MAX:
                    continue
                return False
            if tv in _PLAIN_SCALARS:
                continue
            if not _is_plain(v, depth + 1):
                return False
        return True
    if t is list or t is tuple:
        if depth >= MAX_DEPTH:
            return False
        if len(obj) > _WIDE:
            return _are_plain(obj, depth)
        for v in obj:
            tv = type(v)
            if tv is str:
                continue
            if tv is int:
                if _INT_MIN <= v <= _INT_MAX:
                    continue
                return False
            if tv in _PLAIN_SCALARS:
                continue
            if not _is_plain(v, depth + 1):
                return False
        return True
    if t in _PLAIN_SCALARS:
        return True
    if t is int:
        return _INT_MIN <= obj <= _INT_MAX  # type: ignore[no-any-return]
    return _hookable(t, depth)


def _are_plain(items: Collection[Any], depth: int) -> bool:
    """``_is_plain`` for the items of a long list or tuple: their types are gathered in C."""
    kinds = set(map(type, items))
    if kinds <= _PLAIN_SCALARS:
        return True
    if int in kinds:
        ints = list(filter(_is_int, items))
        if min(ints) < _INT_MIN or max(ints) > _INT_MAX:
            return False
        kinds.discard(int)
    kinds -= _PLAIN_SCALARS
    if not kinds:
        return True
    child = depth + 1
    for v in items:
        if type(v) in kinds and not _is_plain(v, child):
            return False
    return True


def _fast_hook(obj: Any) -> Any:
    """Convert what msgspec does not know exactly as the walk would, or give up on the path."""
    kind = _hook_kinds.get(type(obj))
    if kind == _HOOK_LEAF:
        return _walk(obj, 0, set())  # leaf conversions depend on the value alone
    if kind == _HOOK_PYDANTIC:
        text = obj.model_dump_json(warnings=False)
        if isinstance(text, str):
            data = text.encode("utf-8")
            if b"NaN" not in data and b"Infinity" not in data:
                return msgspec.Raw(data)
    elif kind == _HOOK_NDARRAY:
        if obj.size > MAX_ARRAY_ELEMENTS:
            return _walk(obj, 0, set())  # the shape placeholder
        if obj.dtype.kind in "biuf" and obj.ndim <= _MAX_HOOKED_NDIM:
            return obj.tolist()
    elif kind == _HOOK_NUMPY_SCALAR:
        item = obj.item()
        if type(item) is float or type(item) is bool:
            return item
        if type(item) is int and _INT_MIN <= item <= _INT_MAX:
            return item
    # Also reached for dict keys msgspec cannot write (None, bool, tuple): the walk's job.
    raise _NotFast


_fast_encode = msgspec.json.Encoder(enc_hook=_fast_hook).encode
