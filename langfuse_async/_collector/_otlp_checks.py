"""The checks of an OTLP export that decide the route's answer before anything is stored."""

from __future__ import annotations

import contextlib
import re
from typing import Any, Final

from ._otlp import ProtobufUnavailable, check_export
from ._otlp_proto import parse_protobuf, resource_spans_of

__all__ = [
    "PROTOBUF_MISSING",
    "Answer",
    "check_protobuf",
    "check_version",
    "empty_export",
    "parsed_protobuf",
    "warm_up",
]


PROTOBUF_MISSING: Final = (
    "OTLP protobuf needs the optional 'opentelemetry-proto' package on the collector "
    "(pip install 'langfuse-async[protobuf]'); send OTLP/JSON (application/json) otherwise."
)


class Answer(Exception):
    """An answer decided while preparing an export off the loop (a refusal, or 200 ``{}``)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status, body)  # both in args: it may come back from a worker process
        self.status = status
        self.body = body


_PARSE_INT_RE: Final = re.compile(r"[+-]?[0-9]+")


def _parse_int(text: str) -> int | None:
    """JavaScript's ``parseInt(text, 10)``: leading digits after blanks, None for NaN."""
    match = _PARSE_INT_RE.match(text.lstrip())
    return int(match.group()) if match else None


def empty_export(resource_spans: object) -> bool:
    # `!resourceSpans || resourceSpans.length === 0` in the server.
    if isinstance(resource_spans, (dict, list)):
        return resource_spans == []
    return resource_spans is None or resource_spans in (False, 0, "")


def check_version(version: str | None) -> None:
    if version:
        parsed_version = _parse_int(version)
        if parsed_version is None or parsed_version > 4:
            raise Answer(
                400,
                {
                    "error": f'Unsupported x-langfuse-ingestion-version: "{version}". '
                    'Maximum supported: "4".'
                },
            )


def parsed_protobuf(body: bytes) -> Any:
    """Parse a protobuf export, or raise the answer the server gives when it cannot.

    Raises:
        Answer: 415 without the optional protobuf package, 400 for bytes that do not parse.
    """
    try:
        return parse_protobuf(body)
    except ProtobufUnavailable:
        raise Answer(415, {"error": PROTOBUF_MISSING}) from None
    except ValueError:
        raise Answer(400, {"error": "Failed to parse OTel Protobuf Trace"}) from None


def check_protobuf(body: bytes, version: str | None) -> list[str]:
    """Check a protobuf export whole, as the general path does: the key of each span.

    Cheap (the message is read lazily, and only its ids here), so the server runs it on its
    work thread and answers the export at once, its conversion left to
    :func:`._otlp_prepare.prepare_protobuf`.

    Raises:
        Answer: The export is answered without storing anything.
    """
    message = parsed_protobuf(body)
    if not message.resource_spans:
        raise Answer(200, {})
    keys: list[str] = []
    for resource_entry in message.resource_spans:
        for scope_entry in resource_entry.scope_spans:
            for span in scope_entry.spans:
                trace_id: bytes = span.trace_id
                span_id: bytes = span.span_id
                if not (trace_id and span_id):
                    # Missing ids are the only refusal a protobuf export can earn: the
                    # general check words it.
                    problem = check_export(resource_spans_of(message))
                    if problem is not None:
                        raise Answer(400, {"error": problem})
                keys.append(f"otlp:{trace_id.hex()}:{span_id.hex()}")
    check_version(version)
    return keys


def warm_up() -> bool:
    """Import what reading protobuf exports needs (when it is installed), ahead of the first."""
    with contextlib.suppress(ProtobufUnavailable):
        parse_protobuf(b"")
    return True
