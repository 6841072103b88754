"""Strings the wire cannot carry, repaired: a lone surrogate (from a broken decoder) becomes U+FFFD.

Encoders try the fast path first and repair only when it fails, so well-formed records pay
nothing. Both routes repair every string of a record the same way, trace attributes included.
Strings the server limits in length are cut by the length it counts (:func:`cut_js`).
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

__all__ = ["cut_js", "repair", "repair_struct"]

_SURROGATE_RE = re.compile("[\ud800-\udfff]")

_S = TypeVar("_S", bound=msgspec.Struct)


def repair(value: Any) -> Any:
    """``value`` with every lone surrogate of its strings replaced (tuples, dict keys, structs)."""
    if isinstance(value, str):
        return _SURROGATE_RE.sub("\ufffd", value)
    if isinstance(value, tuple):
        return tuple(repair(item) for item in value)
    if isinstance(value, dict):
        return {repair(key): repair(item) for key, item in value.items()}
    if isinstance(value, msgspec.Struct):
        return repair_struct(value)
    return value


def repair_struct(struct: _S) -> _S:
    """A copy of ``struct`` with every string field repaired, nested structs included."""
    changes = {name: repair(getattr(struct, name)) for name in struct.__struct_fields__}
    return msgspec.structs.replace(struct, **changes)


def cut_js(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters as the server counts them.

    The server's limits are JavaScript string lengths: UTF-16 code units, two for a character
    beyond the Basic Multilingual Plane (most emoji). A character is never split.
    """
    if len(text) <= limit // 2:  # the common case: short enough whatever its characters
        return text
    if text.isascii():
        return text[:limit]
    units = 0
    for index, char in enumerate(text):
        units += 2 if char > "\uffff" else 1
        if units > limit:
            return text[:index]
    return text
