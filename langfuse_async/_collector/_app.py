"""The collector's HTTP surface: Langfuse's public routes, answered the way the server answers.

One catch-all aiohttp handler reads and records every request, applies scripted faults, then
dispatches by path. Each route checks things in the server's order: for the ingestion route the
body size and JSON syntax come first (Next.js parses the body before any Langfuse code runs),
then the method, the credentials and the batch shape, and only then each event.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import gzip
import hmac
import json
import logging
import math
import re
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable
from typing import Any, Final
from urllib.parse import parse_qsl, unquote

import msgspec
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ._faults import CannedResponse, DropConnection, Faults
from ._model import RecordedRequest
from ._otlp import ProtobufUnavailable, check_export, convert_export, decode_protobuf
from ._store import AsyncStore, PendingEvent, Store
from ._validate import (
    UPDATE_TYPES,
    Issue,
    ValidationFailure,
    timestamp_ms,
    validate_event,
    validate_score_body,
)

__all__ = [
    "INGESTION_BODY_LIMIT",
    "MAX_JSON_DEPTH",
    "SERVER_VERSIONS",
    "AppState",
    "build_app",
    "route_of",
]

logger = logging.getLogger("langfuse_async")

#: Next.js ``bodyParser.sizeLimit: "4.5mb"``.
INGESTION_BODY_LIMIT: Final = 4_718_592
#: The OTLP route has no limit on the real server; this only protects the collector's memory.
_OTHER_BODY_LIMIT: Final = 256 * 1024 * 1024
#: The versions the health route reports, by mode.
SERVER_VERSIONS: Final = {"v3": "3.225.4", "v4": "4.16.0"}
_PROJECT_ID: Final = "local-project"

_EVENTS_ONLY_READ_MESSAGE: Final = (
    "This endpoint is not available on deployments running in Langfuse v4 events_only mode. "
    "Learn more about Langfuse v4 at: https://langfuse.com/docs/v4"
)
_EVENTS_ONLY_REMEDIATION: Final = (
    "Upgrade the client or integration to a v4-compatible SDK or OTLP ingestion path. "
    "As a temporary migration bridge, set LANGFUSE_MIGRATION_V4_WRITE_MODE=dual on both the web "
    "and worker services and redeploy. "
    "Docs: https://langfuse.com/self-hosting/upgrade/upgrade-guides/upgrade-v3-to-v4"
)
_EVENTS_ONLY_ALLOWED: Final = frozenset({"score-create", "sdk-log"})
_BAD_HEADER: Final = (
    "Invalid authorization header. Confirm that you've configured the correct host."
)
_BAD_CREDENTIALS: Final = "Invalid credentials. Confirm that you've configured the correct host."
_FORBIDDEN: Final = "Access denied - insufficient permissions for this endpoint"
_NOT_FOUND_PAGE: Final = (
    "<!DOCTYPE html><html><head><title>404: This page could not be found.</title></head>"
    "<body><h1>404</h1><h2>This page could not be found.</h2></body></html>"
)
_PROTOBUF_MISSING: Final = (
    "OTLP protobuf needs the optional 'opentelemetry-proto' package on the collector "
    "(pip install 'langfuse-async[protobuf]'); send OTLP/JSON (application/json) otherwise."
)


def _dumps(value: Any) -> str:
    # JSON.stringify's output: compact, non-ASCII kept.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, dumps=_dumps, headers=headers)


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain")


def _now_iso() -> str:
    now = time.time()
    whole = int(now)
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        + f".{int((now - whole) * 1000):03d}Z"
    )


def route_of(path: str) -> str:
    """Name the route a path belongs to, as faults and recorded requests call it."""
    path = path.rstrip("/") or "/"
    if path == "/api/public/ingestion":
        return "ingestion"
    if path == "/api/public/otel/v1/traces":
        return "otlp"
    if path == "/api/public/scores":
        return "scores"
    if path in ("/api/public/health", "/api/public/ready"):
        return "health"
    if path in ("/api/public/traces", "/api/public/observations") or path.startswith(
        ("/api/public/traces/", "/api/public/observations/")
    ):
        return "read"
    return "other"


@dataclasses.dataclass
class AppState:
    """What the handlers share with the :class:`Collector` that owns them."""

    store: AsyncStore
    faults: Faults
    public_key: str
    secret_key: str = dataclasses.field(repr=False)
    mode: str
    on_request: Callable[[RecordedRequest], Awaitable[None]]
    on_accepted: Callable[[list[str]], Awaitable[None]]


# --- auth ------------------------------------------------------------------------------------


def _authenticate(header: str | None, state: AppState) -> tuple[str | None, str]:
    """Return ``(access level, "")`` or ``(None, the server's 401 message)``."""
    if not header:
        return None, "No authorization header"
    if header.startswith("Basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return None, _BAD_HEADER
        public_key, _, secret_key = decoded.partition(":")
        if not public_key or not secret_key:
            return None, _BAD_HEADER
        if not hmac.compare_digest(secret_key.encode(), state.secret_key.encode()):
            return None, _BAD_CREDENTIALS
        if public_key != state.public_key:
            # The server finds the key by its secret; a mismatched public key is only logged.
            logger.warning("collector: public key %r does not match the secret key", public_key)
        return "project", ""
    if header.startswith("Bearer "):
        if hmac.compare_digest(header[7:].strip().encode(), state.public_key.encode()):
            return "scores", ""
        return None, _BAD_CREDENTIALS
    return None, "Invalid authorization header"


# --- body parsing ----------------------------------------------------------------------------


async def _read_body(request: web.Request, limit: int) -> tuple[bytes, int, bool]:
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


def _parse_json(text: str) -> Any:
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


class _BadBody(Exception):
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


def _next_body(request: web.Request, body: bytes) -> Any:
    """Parse a body the way Next.js's API body parser does.

    Raises:
        _BadBody: With ``Invalid body`` for an unknown charset, ``Invalid JSON`` for a JSON
            content type whose text does not parse.
    """
    mime = request.content_type.lower() if "Content-Type" in request.headers else "text/plain"
    try:
        # Undecodable bytes become U+FFFD and a byte order mark is dropped, as iconv-lite does.
        text = body.decode(request.charset or "utf-8", "replace").removeprefix("\ufeff")
    except LookupError:
        raise _BadBody("Invalid body") from None
    if mime in ("application/json", "application/ld+json"):
        if not text:
            return {}
        try:
            return _parse_json(text)
        except ValueError:
            raise _BadBody("Invalid JSON") from None
    if mime == "application/x-www-form-urlencoded":
        return _form(text)
    return text


def _received(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _batch_errors(parsed: object) -> list[str]:
    if not isinstance(parsed, dict):
        return [f"Invalid input: expected object, received {_received(parsed)}"]
    if "batch" not in parsed:
        return ["Invalid input: expected array, received undefined"]
    if not isinstance(parsed["batch"], list):
        return [f"Invalid input: expected array, received {_received(parsed['batch'])}"]
    return []


def _id_of(event: object) -> str:
    if isinstance(event, dict) and isinstance(event.get("id"), str):
        return str(event["id"])
    return "unknown"


# --- handlers --------------------------------------------------------------------------------


async def _ingestion(request: web.Request, body: bytes, size: int, state: AppState) -> web.Response:
    if size > INGESTION_BODY_LIMIT:
        return _text(413, "Body exceeded 4.5mb limit")
    try:
        parsed = _next_body(request, body)
    except _BadBody as bad:
        return _text(400, bad.text)
    if request.method != "POST":
        return _json(405, {"error": "MethodNotAllowedError", "message": "Method not allowed"})
    level, message = _authenticate(request.headers.get("Authorization"), state)
    if level is None:
        return _json(401, {"error": "UnauthorizedError", "message": message})
    problems = _batch_errors(parsed)
    if problems:
        return _json(400, {"message": "Invalid request data", "errors": problems})
    batch: list[Any] = parsed["batch"]

    rejected: list[dict[str, Any]] = []
    if state.mode == "v4":
        kept_batch = []
        for event in batch:
            event_type = event.get("type") if isinstance(event, dict) else None
            if isinstance(event_type, str) and event_type in _EVENTS_ONLY_ALLOWED:
                kept_batch.append(event)
                continue
            shown = event_type if isinstance(event_type, str) else "unknown"
            rejected.append(
                {
                    "id": _id_of(event),
                    "status": 400,
                    "message": "Event type not accepted",
                    "error": f'Event type "{shown}" is not accepted by /api/public/ingestion when '
                    "LANGFUSE_MIGRATION_V4_WRITE_MODE is events_only. This endpoint only accepts "
                    f"score and log events. {_EVENTS_ONLY_REMEDIATION}",
                }
            )
        batch = kept_batch

    validation_errors: list[dict[str, Any]] = []
    scope_errors: list[dict[str, Any]] = []
    processing_errors: list[dict[str, Any]] = []
    accepted: list[dict[str, Any]] = []
    for raw in batch:
        try:
            event = validate_event(raw)
        except ValidationFailure as failure:
            validation_errors.append(
                {
                    "id": _id_of(raw),
                    "status": failure.status,
                    "message": failure.message,
                    "error": failure.error,
                }
            )
            continue
        if level == "scores" and event["type"] not in ("score-create", "sdk-log"):
            scope_errors.append(
                {
                    "id": event["id"],
                    "status": 401,
                    "message": "Authentication error",
                    "error": "Access Scope Denied",
                }
            )
            continue
        if event["type"] == "sdk-log":
            logger.debug("collector: sdk-log event %s", event["body"].get("log"))
            continue
        accepted.append(event)

    # The server answers in processing order: every non-update event, then the updates, each
    # group by envelope time (a stable sort, so equal times keep the request order).
    accepted.sort(key=lambda e: (e["type"] in UPDATE_TYPES, timestamp_ms(e["timestamp"])))
    stored: list[dict[str, Any]] = []
    for event in accepted:
        scripted = state.faults._event_error(event["id"], event["type"])
        if scripted is not None:
            processing_errors.append(scripted)
        else:
            stored.append(event)
    pending = [PendingEvent(event) for event in stored]
    await state.store.run(lambda store: store.apply(pending))
    await state.on_accepted([event["id"] for event in stored])
    logger.info(
        "collector: ingestion batch of %d: %d accepted, %d errors",
        len(parsed["batch"]),
        len(stored),
        len(validation_errors) + len(scope_errors) + len(processing_errors) + len(rejected),
    )
    return _json(
        207,
        {
            "successes": [{"id": event["id"], "status": 201} for event in stored],
            "errors": validation_errors + scope_errors + processing_errors + rejected,
        },
    )


def _langfuse_header(request: web.Request, name: str) -> str | None:
    # The server reads these headers with hyphens or, failing that, with underscores.
    value = request.headers.get(name)
    return value if value is not None else request.headers.get(name.replace("-", "_"))


_PARSE_INT_RE: Final = re.compile(r"[+-]?[0-9]+")


def _parse_int(text: str) -> int | None:
    """JavaScript's ``parseInt(text, 10)``: leading digits after blanks, None for NaN."""
    match = _PARSE_INT_RE.match(text.lstrip())
    return int(match.group()) if match else None


def _empty_export(resource_spans: object) -> bool:
    # `!resourceSpans || resourceSpans.length === 0` in the server.
    if isinstance(resource_spans, (dict, list)):
        return resource_spans == []
    return resource_spans is None or resource_spans in (False, 0, "")


def _otlp_job(public_key: str, request: web.Request) -> dict[str, Any]:
    # The server answers with the queued BullMQ job; clients treat it as opaque.
    job_id = str(uuid.uuid4())
    now_ms = int(time.time() * 1000)
    return {
        "name": "OtelIngestionJob",
        "data": {
            "id": job_id,
            "timestamp": _now_iso(),
            "name": "OtelIngestionJob",
            "payload": {
                "data": {"fileKey": f"{job_id}.json", "publicKey": public_key},
                "authCheck": {
                    "validKey": True,
                    "scope": {"projectId": _PROJECT_ID, "accessLevel": "project"},
                },
                "sdkName": _langfuse_header(request, "x-langfuse-sdk-name") or "unknown",
                "sdkVersion": _langfuse_header(request, "x-langfuse-sdk-version") or "unknown",
                "ingestionVersion": _langfuse_header(request, "x-langfuse-ingestion-version"),
            },
        },
        "opts": {"attempts": 5, "backoff": {"type": "exponential", "delay": 5000}, "delay": 0},
        "id": job_id,
        "progress": 0,
        "returnvalue": None,
        "stacktrace": None,
        "delay": 0,
        "priority": 0,
        "attemptsStarted": 0,
        "attemptsMade": 0,
        "stalledCounter": 0,
        "timestamp": now_ms,
        "queueQualifiedName": "bull:otel-ingestion-queue",
    }


async def _otlp(request: web.Request, body: bytes, state: AppState) -> web.Response:
    if request.method != "POST":
        return _json(405, {"message": "Method not allowed", "error": "MethodNotAllowedError"})
    level, message = _authenticate(request.headers.get("Authorization"), state)
    if level is None:
        return _json(401, {"message": message})
    if level != "project":
        return _json(403, {"message": _FORBIDDEN})
    # The server gunzips first and looks at the content type only then.
    if "gzip" in request.headers.get("Content-Encoding", ""):
        try:
            if not body:
                raise EOFError("an empty body is not a gzip stream")
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error):
            return _json(400, {"error": "Failed to decompress request body"})
    content_type = request.headers.get("Content-Type", "").lower()
    is_protobuf = "application/x-protobuf" in content_type
    if "application/json" not in content_type and not is_protobuf:
        return _json(400, {"error": "Invalid content type"})
    resource_spans: Any
    if is_protobuf:
        try:
            resource_spans = decode_protobuf(body)
        except ProtobufUnavailable:
            return _json(415, {"error": _PROTOBUF_MISSING})
        except ValueError:
            return _json(400, {"error": "Failed to parse OTel Protobuf Trace"})
    else:
        try:
            # Buffer.toString(): undecodable bytes become U+FFFD; a byte order mark stays.
            parsed = _parse_json(body.decode("utf-8", "replace"))
        except ValueError:
            return _json(400, {"error": "Failed to parse OTel JSON Trace"})
        if parsed is None:
            # JSON.parse("null").resourceSpans throws inside the server's try.
            return _json(400, {"error": "Failed to parse OTel JSON Trace"})
        resource_spans = parsed.get("resourceSpans") if isinstance(parsed, dict) else None
    if _empty_export(resource_spans):
        return _json(200, {})
    problem = check_export(resource_spans)
    if problem is not None:
        return _json(400, {"error": problem})
    version = _langfuse_header(request, "x-langfuse-ingestion-version")
    if version:
        parsed_version = _parse_int(version)
        if parsed_version is None or parsed_version > 4:
            return _json(
                400,
                {
                    "error": f'Unsupported x-langfuse-ingestion-version: "{version}". '
                    'Maximum supported: "4".'
                },
            )
    raw_events, spans = convert_export(resource_spans, mode=state.mode)
    pending: list[PendingEvent] = []
    for raw, shallow in raw_events:
        try:
            pending.append(PendingEvent(validate_event(raw), shallow=shallow))
        except ValidationFailure as failure:
            # The worker drops an invalid converted event and only logs it.
            logger.info(
                "collector: dropped a converted OTLP %s: %s", raw.get("type"), failure.error
            )
    await state.store.run(lambda store: store.apply(pending))
    await state.on_accepted([f"otlp:{trace_id}:{span_id}" for trace_id, span_id in spans])
    logger.info("collector: OTLP export of %d span(s) accepted", len(spans))
    return _json(200, _otlp_job(state.public_key, request))


async def _scores(request: web.Request, body: bytes, size: int, state: AppState) -> web.Response:
    if size > INGESTION_BODY_LIMIT:
        return _text(413, "Body exceeded 4.5mb limit")
    try:
        parsed = _next_body(request, body)
    except _BadBody as bad:
        return _text(400, bad.text)
    if request.method != "POST":
        return _json(405, {"message": "Method not allowed", "error": "MethodNotAllowedError"})
    level, message = _authenticate(request.headers.get("Authorization"), state)
    if level is None:
        return _json(401, {"message": message})
    issues: list[Issue] = []
    kept = validate_score_body(parsed, [], issues)
    if issues:
        return _json(400, {"message": "Invalid request data", "error": issues})
    score_id = kept.get("id") or str(uuid.uuid4())
    kept["id"] = score_id
    envelope_id = str(uuid.uuid4())
    event = {"id": envelope_id, "type": "score-create", "timestamp": _now_iso(), "body": kept}
    await state.store.run(lambda store: store.apply([PendingEvent(event)]))
    await state.on_accepted([envelope_id])
    return _json(200, {"id": score_id})


# --- reads -----------------------------------------------------------------------------------


class _BadQuery(Exception):
    def __init__(self, issue: Issue) -> None:
        super().__init__(issue["message"])
        self.issue = issue


def _positive_int(request: web.Request, name: str, default: int, maximum: int | None) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadQuery(
            {
                "expected": "number",
                "code": "invalid_type",
                "received": "NaN",
                "path": [name],
                "message": "Invalid input: expected number, received NaN",
            }
        ) from None
    if value < 1:
        raise _BadQuery(
            {
                "origin": "number",
                "code": "too_small",
                "minimum": 1,
                "inclusive": True,
                "path": [name],
                "message": "Too small: expected number to be >=1",
            }
        )
    if maximum is not None and value > maximum:
        raise _BadQuery(
            {
                "origin": "number",
                "code": "too_big",
                "maximum": maximum,
                "inclusive": True,
                "path": [name],
                "message": f"Too big: expected number to be <={maximum}",
            }
        )
    return value


def _page(items: list[Any], page: int, limit: int) -> dict[str, Any]:
    total = len(items)
    return {
        "data": items[(page - 1) * limit : page * limit],
        "meta": {
            "page": page,
            "limit": limit,
            "totalItems": total,
            "totalPages": math.ceil(total / limit) if total else 0,
        },
    }


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (timestamp_ms(end) - timestamp_ms(start)) / 1000.0


def observation_view(doc: dict[str, Any]) -> dict[str, Any]:
    """An observation document in the API's ``ObservationsView`` shape."""
    usage = doc.get("usageDetails") or {}
    cost = doc.get("costDetails") or {}
    return {
        "id": doc["id"],
        "traceId": doc.get("traceId"),
        "type": doc.get("type"),
        "name": doc.get("name"),
        "startTime": doc.get("startTime"),
        "endTime": doc.get("endTime"),
        "completionStartTime": doc.get("completionStartTime"),
        "model": doc.get("model"),
        "modelParameters": doc.get("modelParameters"),
        "input": doc.get("input"),
        "version": doc.get("version"),
        "metadata": doc.get("metadata"),
        "output": doc.get("output"),
        "usage": {
            "input": usage.get("input", 0),
            "output": usage.get("output", 0),
            "total": usage.get("total", 0),
            "unit": "TOKENS" if usage else None,
            "inputCost": cost.get("input"),
            "outputCost": cost.get("output"),
            "totalCost": cost.get("total"),
        },
        "level": doc.get("level") or "DEFAULT",
        "statusMessage": doc.get("statusMessage"),
        "parentObservationId": doc.get("parentObservationId"),
        "promptId": None,
        "usageDetails": usage,
        "costDetails": cost,
        "environment": doc.get("environment") or "default",
        "promptName": doc.get("promptName"),
        "promptVersion": doc.get("promptVersion"),
        "modelId": None,
        "inputPrice": None,
        "outputPrice": None,
        "totalPrice": None,
        "calculatedInputCost": cost.get("input"),
        "calculatedOutputCost": cost.get("output"),
        "calculatedTotalCost": cost.get("total"),
        "latency": _seconds_between(doc.get("startTime"), doc.get("endTime")),
        "timeToFirstToken": _seconds_between(doc.get("startTime"), doc.get("completionStartTime")),
        "projectId": _PROJECT_ID,
    }


def score_view(doc: dict[str, Any]) -> dict[str, Any]:
    """A score document in the API's ``ScoreV1`` shape."""
    data_type = doc.get("dataType") or "NUMERIC"
    value = doc.get("value")
    view: dict[str, Any] = {
        "id": doc["id"],
        "traceId": doc.get("traceId"),
        "name": doc.get("name"),
        "source": doc.get("source") or "API",
        "observationId": doc.get("observationId"),
        "timestamp": doc.get("timestamp"),
        "createdAt": doc.get("timestamp"),
        "updatedAt": doc.get("timestamp"),
        "authorUserId": None,
        "comment": doc.get("comment"),
        "metadata": doc.get("metadata") or {},
        "configId": doc.get("configId"),
        "queueId": doc.get("queueId"),
        "environment": doc.get("environment") or "default",
        "dataType": data_type,
    }
    if data_type == "BOOLEAN":
        view["value"] = value
        view["stringValue"] = "True" if value == 1 else "False"
    elif isinstance(value, str):
        if data_type != "TEXT":
            view["value"] = 0
        view["stringValue"] = value
    else:
        view["value"] = value
    return view


def trace_view(
    doc: dict[str, Any], observations: list[dict[str, Any]], scores: list[dict[str, Any]]
) -> dict[str, Any]:
    """A trace document with the API's derived fields (``htmlPath``, ``latency``, ``totalCost``)."""
    starts: list[str] = [o["startTime"] for o in observations if o.get("startTime")]
    ends: list[str] = [
        o.get("endTime") or o["startTime"] for o in observations if o.get("startTime")
    ]
    latency = (
        (max(timestamp_ms(e) for e in ends) - min(timestamp_ms(s) for s in starts)) / 1000.0
        if starts and ends
        else None
    )
    costs = [(o.get("costDetails") or {}).get("total") for o in observations]
    cost_values = [c for c in costs if isinstance(c, (int, float))]
    return {
        "id": doc["id"],
        "timestamp": doc.get("timestamp"),
        "name": doc.get("name"),
        "input": doc.get("input"),
        "output": doc.get("output"),
        "sessionId": doc.get("sessionId"),
        "release": doc.get("release"),
        "version": doc.get("version"),
        "userId": doc.get("userId"),
        "metadata": doc.get("metadata"),
        "tags": doc.get("tags") or [],
        "public": bool(doc.get("public")),
        "environment": doc.get("environment") or "default",
        "htmlPath": f"/project/{_PROJECT_ID}/traces/{doc['id']}",
        "latency": latency,
        "totalCost": sum(cost_values) if cost_values else None,
        "projectId": _PROJECT_ID,
        "externalId": doc.get("externalId"),
    }


def _list_traces(store: Store, request: web.Request, page: int, limit: int) -> dict[str, Any]:
    query = request.query
    docs = store.traces(
        user_id=query.get("userId") or None,
        session_id=query.get("sessionId") or None,
        name=query.get("name") or None,
    )
    tags = query.getall("tags", [])
    for key, field in (("version", "version"), ("release", "release")):
        if query.get(key):
            docs = [d for d in docs if d.get(field) == query[key]]
    environments = query.getall("environment", [])
    if environments:
        docs = [d for d in docs if (d.get("environment") or "default") in environments]
    if tags:
        docs = [d for d in docs if set(tags) <= set(d.get("tags") or [])]
    if query.get("fromTimestamp"):
        low = timestamp_ms(query["fromTimestamp"])
        docs = [d for d in docs if timestamp_ms(d.get("timestamp") or "") >= low]
    if query.get("toTimestamp"):
        high = timestamp_ms(query["toTimestamp"])
        docs = [d for d in docs if timestamp_ms(d.get("timestamp") or "") < high]
    if query.get("orderBy", "").lower() == "timestamp.asc":
        docs.reverse()
    result = _page(docs, page, limit)
    views = []
    for doc in result["data"]:
        observations = store.observations(trace_id=doc["id"])
        scores = store.scores(trace_id=doc["id"])
        view = trace_view(doc, observations, scores)
        view["observations"] = [o["id"] for o in observations]
        view["scores"] = [s["id"] for s in scores]
        views.append(view)
    result["data"] = views
    return result


def _get_trace(store: Store, trace_id: str) -> dict[str, Any] | None:
    docs = store.traces(trace_id=trace_id)
    if not docs:
        return None
    observations = store.observations(trace_id=trace_id)
    scores = store.scores(trace_id=trace_id)
    view = trace_view(docs[0], observations, scores)
    view["observations"] = [observation_view(o) for o in observations]
    view["scores"] = [score_view(s) for s in scores]
    return view


def _list_observations(store: Store, request: web.Request, page: int, limit: int) -> dict[str, Any]:
    query = request.query
    docs = store.observations(
        trace_id=query.get("traceId") or None,
        type=query.get("type") or None,
        name=query.get("name") or None,
    )
    docs.reverse()  # newest first, as the API lists them
    if query.get("userId"):
        users = {d["id"] for d in store.traces(user_id=query["userId"])}
        docs = [d for d in docs if d.get("traceId") in users]
    for key in ("level", "parentObservationId", "version"):
        if query.get(key):
            docs = [d for d in docs if d.get(key) == query[key]]
    environments = query.getall("environment", [])
    if environments:
        docs = [d for d in docs if (d.get("environment") or "default") in environments]
    if query.get("fromStartTime"):
        low = timestamp_ms(query["fromStartTime"])
        docs = [d for d in docs if timestamp_ms(d.get("startTime") or "") >= low]
    if query.get("toStartTime"):
        high = timestamp_ms(query["toStartTime"])
        docs = [d for d in docs if timestamp_ms(d.get("startTime") or "") < high]
    result = _page(docs, page, limit)
    result["data"] = [observation_view(d) for d in result["data"]]
    return result


def _read_target(request: web.Request) -> tuple[str, str | None] | None:
    """Return ``(collection, entity id or None)``, or None when no read route matches.

    Ids are one path segment, percent-decoded, as Next.js decodes a dynamic segment: an id
    may hold an encoded ``/``, and a literal extra segment is no route at all.
    """
    segments = request.raw_path.split("?", 1)[0].rstrip("/").split("/")
    if len(segments) not in (4, 5) or segments[:3] != ["", "api", "public"]:
        return None
    if segments[3] not in ("traces", "observations"):
        return None
    return segments[3], unquote(segments[4]) if len(segments) == 5 else None


async def _read(request: web.Request, state: AppState) -> web.Response:
    target = _read_target(request)
    if target is None:
        return web.Response(status=404, text=_NOT_FOUND_PAGE, content_type="text/html")
    if state.mode == "v4":
        # events_only deployments refuse these legacy reads before looking at credentials.
        return _json(404, {"message": _EVENTS_ONLY_READ_MESSAGE})
    if request.method != "GET":
        return _json(405, {"message": "Method not allowed", "error": "MethodNotAllowedError"})
    level, message = _authenticate(request.headers.get("Authorization"), state)
    if level is None:
        return _json(401, {"message": message})
    if level != "project":
        return _json(403, {"message": _FORBIDDEN})
    collection, entity_id = target
    if entity_id is None:
        try:
            page = _positive_int(request, "page", 1, None)
            limit = _positive_int(request, "limit", 50, 1000)
        except _BadQuery as bad:
            return _json(400, {"message": "Invalid request data", "error": [bad.issue]})
        if collection == "traces":
            return _json(
                200, await state.store.run(lambda s: _list_traces(s, request, page, limit))
            )
        return _json(
            200, await state.store.run(lambda s: _list_observations(s, request, page, limit))
        )
    if collection == "traces":
        view = await state.store.run(lambda s: _get_trace(s, entity_id))
        if view is None:
            return _json(
                404,
                {
                    "message": "Trace not found within authorized project",
                    "error": "LangfuseNotFoundError",
                },
            )
        return _json(200, view)
    docs = await state.store.run(lambda s: s.observations(observation_id=entity_id))
    if not docs:
        return _json(
            404,
            {
                "message": "Observation not found within authorized project",
                "error": "LangfuseNotFoundError",
            },
        )
    return _json(200, observation_view(docs[0]))


# --- dispatch --------------------------------------------------------------------------------

_CORS_HEADERS: Final = {
    "Access-Control-Allow-Methods": "GET,POST,PUT,PATCH,DELETE,OPTIONS",
    "Access-Control-Allow-Headers": "*",
}


def build_app(state: AppState) -> web.Application:
    """Create the aiohttp application serving every route of the collector."""

    async def dispatch(request: web.Request) -> web.StreamResponse:
        route = route_of(request.path)
        limit = INGESTION_BODY_LIMIT if route in ("ingestion", "scores") else _OTHER_BODY_LIMIT
        body, size, complete = await _read_body(request, limit)
        await state.on_request(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=request.query_string,
                headers={key.lower(): value for key, value in request.headers.items()},
                body=body,
                body_size=size,
                route=route,
            )
        )
        if not complete:
            # The body never arrived whole; the client is most likely gone, so this answer
            # (the server's, for a body stream error) is a formality.
            logger.info("collector: %s %s: the body was cut short", request.method, request.path)
            if route == "otlp":
                return _json(400, {"error": "Failed to read request body"})
            return _text(400, "Invalid body")
        await state.faults._hold(route)
        fault = state.faults._take_response(route)
        if isinstance(fault, DropConnection):
            transport = request.transport
            if transport is not None:
                transport.abort()
            # Nothing reaches the client: the transport is gone before anything is written.
            return web.Response(status=499)
        if isinstance(fault, CannedResponse):
            response = web.Response(status=fault.status, body=fault.body)
            for key, value in fault.headers.items():
                response.headers[key] = value
            return response
        if request.method == "OPTIONS" and route != "other":
            origin = request.headers.get("Origin", "*")
            return web.Response(
                status=204, headers={**_CORS_HEADERS, "Access-Control-Allow-Origin": origin}
            )
        try:
            if route == "ingestion":
                return await _ingestion(request, body, size, state)
            if route == "otlp":
                return await _otlp(request, body, state)
            if route == "scores":
                return await _scores(request, body, size, state)
            if route == "health":
                return _json(200, {"status": "OK", "version": SERVER_VERSIONS[state.mode]})
            if route == "read":
                return await _read(request, state)
        except Exception:
            # A bug of ours, never a client mistake: answer like the server's catch-all.
            logger.exception("collector: internal error on %s %s", request.method, request.path)
            if route == "ingestion":
                return _json(
                    500, {"message": "Invalid request data", "errors": ["Internal Server Error"]}
                )
            return _json(500, {"message": "Internal Server Error", "error": "InternalServerError"})
        return web.Response(status=404, text=_NOT_FOUND_PAGE, content_type="text/html")

    app = web.Application(client_max_size=_OTHER_BODY_LIMIT + 1)
    # Any character, newlines included: every path reaches dispatch and gets a server answer.
    app.router.add_route("*", r"/{tail:[\s\S]*}", dispatch)
    return app
