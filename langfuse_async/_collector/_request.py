"""Reading a request the way the server does: the body, the credentials, JSON and form text.

Next.js parses an API route's body before any Langfuse code runs, so its answers (``Invalid
JSON``, ``Invalid body``) come from here; so do the server's 401 messages for credentials.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import math
import re
import zlib
from typing import Any, Final
from urllib.parse import parse_qsl

import msgspec
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ._http import BAD_CREDENTIALS, BAD_HEADER, AppState

__all__ = [
    "MAX_JSON_DEPTH",
    "BadBody",
    "BodyTooLarge",
    "inflate_gzip",
    "authenticate",
    "next_body",
    "parse_json",
    "read_body",
]

logger = logging.getLogger("langfuse_async")


def authenticate(header: str | None, state: AppState) -> tuple[str | None, str]:
    """Return ``(access level, "")`` or ``(None, the server's 401 message)``."""
    if not header:
        return None, "No authorization header"
    if header.startswith("Basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return None, BAD_HEADER
        public_key, _, secret_key = decoded.partition(":")
        if not public_key or not secret_key:
            return None, BAD_HEADER
        if not hmac.compare_digest(secret_key.encode(), state.secret_key.encode()):
            return None, BAD_CREDENTIALS
        if public_key != state.public_key:
            # The server finds the key by its secret; a mismatched public key is only logged.
            logger.warning("collector: public key %r does not match the secret key", public_key)
        return "project", ""
    if header.startswith("Bearer "):
        if hmac.compare_digest(header[7:].strip().encode(), state.public_key.encode()):
            return "scores", ""
        return None, BAD_CREDENTIALS
    return None, "Invalid authorization header"


async def read_body(request: web.Request, limit: int) -> tuple[bytes, int, bool]:
    """Read the body; past ``limit`` keep draining it (so the client reads the answer) unkept.

    Returns:
        The body (empty past the limit), its size so far, and whether it arrived whole: False
        when the client went away or broke the framing mid-body.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            chunk = await request.content.readany()
        except (OSError, HttpProcessingError):
            return (b"".join(chunks) if size <= limit else b""), size, False
        if not chunk:
            break
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif chunks:
            chunks.clear()
    return (b"".join(chunks) if size <= limit else b""), size, True


#: JSON nested deeper than this is refused as unparseable. The server has no such limit, but
#: Python's recursion limit does; this keeps every later step (storing, merging, answering
#: reads) far from it, whatever the interpreter version.
MAX_JSON_DEPTH: Final = 500


def _too_deep(value: object) -> bool:
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Any
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


_LONE_SURROGATE_RE: Final = re.compile("[\ud800-\udfff]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_with_lone_surrogates(text: str) -> Any:
    """Parse JSON holding escapes of lone UTF-16 surrogates, which JSON.parse accepts.

    JavaScript's JSON.stringify writes half of a split emoji as ``"\\ud83d"``; the server
    parses it and the UTF-8 text it stores has U+FFFD there. msgspec refuses such escapes,
    so this slower path does what the server ends up with.
    """
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON the collector can keep: {exc}") from exc

    def clean(item: Any) -> Any:
        if isinstance(item, str):
            return _LONE_SURROGATE_RE.sub("\ufffd", item)
        if isinstance(item, list):
            return [clean(child) for child in item]
        if isinstance(item, dict):
            return {clean(key): clean(child) for key, child in item.items()}
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError("a number outside the float range")
        return item

    try:
        return clean(value)
    except RecursionError as exc:
        raise ValueError(f"not JSON the collector can keep: {exc}") from exc


def parse_json(text: str) -> Any:
    """Decode JSON text, refusing what the collector cannot safely keep.

    Raises:
        ValueError: The text is not JSON, is nested deeper than :data:`MAX_JSON_DEPTH`, or
            holds a number outside the float range.
    """
    try:
        value = msgspec.json.decode(text)
    except (msgspec.DecodeError, RecursionError) as exc:
        if "\\u" not in text:
            raise ValueError(f"not JSON the collector can keep: {exc}") from exc
        value = _parse_with_lone_surrogates(text)
    # Counting brackets is cheap and rules out deep nesting for almost every real body.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _too_deep(value):
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


class BadBody(Exception):
    """Next.js's body parser refused the body; ``text`` is its plain-text 400 answer."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _form(text: str) -> dict[str, Any]:
    # Node's querystring.decode: blank values kept, a repeated key becomes an array.
    result: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        if key not in result:
            result[key] = value
        elif isinstance(result[key], list):
            result[key].append(value)
        else:
            result[key] = [result[key], value]
    return result


def next_body(request: web.Request, body: bytes) -> Any:
    """Parse a body the way Next.js's API body parser does.

    Raises:
        BadBody: With ``Invalid body`` for an unknown charset, ``Invalid JSON`` for a JSON
            content type whose text does not parse.
    """
    mime = request.content_type.lower() if "Content-Type" in request.headers else "text/plain"
    try:
        # Undecodable bytes become U+FFFD and a byte order mark is dropped, as iconv-lite does.
        text = body.decode(request.charset or "utf-8", "replace").removeprefix("\ufeff")
    except LookupError:
        raise BadBody("Invalid body") from None
    if mime in ("application/json", "application/ld+json"):
        if not text:
            return {}
        try:
            return parse_json(text)
        except ValueError:
            raise BadBody("Invalid JSON") from None
    if mime == "application/x-www-form-urlencoded":
        return _form(text)
    return text


class BodyTooLarge(Exception):
    """A compressed body inflates past the route's limit."""


_GZIP_MAGIC: Final = b"\x1f\x8b"
_INFLATE_STEP: Final = 1 << 20


def inflate_gzip(data: bytes, limit: int) -> bytes:
    """Gunzip ``data`` (one or more members), refusing output past ``limit`` bytes.

    The output is produced a step at a time, so a gzip bomb costs at most ``limit`` bytes
    and the time to inflate them, never its full expansion.

    Raises:
        ValueError: Not a complete gzip stream (empty, truncated, corrupt).
        BodyTooLarge: The inflated body would exceed ``limit`` bytes.
    """
    if not data:
        raise ValueError("an empty body is not a gzip stream")
    out = bytearray()
    rest = data
    while rest:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pending = rest
        try:
            while True:
                chunk = inflater.decompress(pending, _INFLATE_STEP)
                out += chunk
                if len(out) > limit:
                    raise BodyTooLarge(f"more than {limit} bytes once inflated")
                pending = inflater.unconsumed_tail
                if inflater.eof or (not pending and not chunk):
                    break
        except zlib.error as exc:
            raise ValueError(str(exc)) from exc
        if not inflater.eof:
            raise ValueError("a truncated gzip stream")
        rest = inflater.unused_data
        if rest and not rest.startswith(_GZIP_MAGIC):
            if rest.strip(b"\x00"):
                raise ValueError("trailing bytes after the gzip stream")
            break  # gzip pads with zeros; the standard library ignores them too
    return bytes(out)
