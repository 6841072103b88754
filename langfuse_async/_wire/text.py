"""Strings the wire cannot carry, repaired: a lone surrogate (from a broken decoder) becomes U+FFFD.

Encoders try the fast path first and repair only when it fails, so well-formed records pay
nothing. Both routes repair every string of a record the same way, trace attributes included.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

__all__ = ["repair", "repair_struct"]

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
