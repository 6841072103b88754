"""The write routes: ingestion batches, OTLP trace exports and single scores.

Each route checks things in the server's order: for the ingestion route the body size and JSON
syntax come first (Next.js parses the body before any Langfuse code runs), then the method, the
credentials and the batch shape, and only then each event.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import pickle
import time
import uuid
from typing import Any, Final

from aiohttp import web

from ._http import (
    FORBIDDEN,
    INGESTION_BODY_LIMIT,
    OTLP_BODY_LIMIT,
    PROJECT_ID,
    AppState,
    json_reply,
    now_iso,
    text_reply,
)
from ._otlp_checks import (
    Answer,
)
from ._otlp_prepare import (
    check_otlp,
    prepare_export,
    prepare_export_pickled,
    prepare_protobuf,
    prepare_protobuf_pickled,
)
from ._request import BadBody, authenticate, next_body
from ._store import PendingEvent, PreparedWrite, Store, prepare_write
from ._store_async import write_pickled
from ._validate import (
    UPDATE_TYPES,
    Issue,
    ValidationFailure,
    is_datetime,
    timestamp_ms,
    validate_event,
    validate_score_body,
)

__all__ = ["ingestion", "otlp", "scores"]

logger = logging.getLogger("langfuse_async")


_EVENTS_ONLY_REMEDIATION: Final = (
    "Upgrade the client or integration to a v4-compatible SDK or OTLP ingestion path. "
    "As a temporary migration bridge, set LANGFUSE_MIGRATION_V4_WRITE_MODE=dual on both the web "
    "and worker services and redeploy. "
    "Docs: https://langfuse.com/self-hosting/upgrade/upgrade-guides/upgrade-v3-to-v4"
)

_EVENTS_ONLY_ALLOWED: Final = frozenset({"score-create", "sdk-log"})


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


@dataclasses.dataclass
class _Checked:
    """A batch's events sorted out: kept in processing order, or answered with an error."""

    accepted: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    rejected: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: The accepted events ready to store (encoded, merged), prepared where they were checked:
    #: pickled already for a store in a process of its own (see :func:`write_pickled`).
    prepared: PreparedWrite | bytes | None = None


def _check_batch(batch: list[Any], level: str, mode: str, pickled: bool = False) -> _Checked:
    """Validate a batch's events and prepare the accepted ones for storing (pure: off the loop).

    With ``pickled``, what is prepared comes pickled, for a store in a process of its own.
    """
    checked = _Checked()
    if mode == "v4":
        kept_batch = []
        for event in batch:
            event_type = event.get("type") if isinstance(event, dict) else None
            if isinstance(event_type, str) and event_type in _EVENTS_ONLY_ALLOWED:
                kept_batch.append(event)
                continue
            shown = event_type if isinstance(event_type, str) else "unknown"
            checked.rejected.append(
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
    scope_errors: list[dict[str, Any]] = []
    for raw in batch:
        try:
            event = validate_event(raw)
        except ValidationFailure as failure:
            checked.errors.append(
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
        checked.accepted.append(event)
    checked.errors += scope_errors
    # The server answers in processing order: every non-update event, then the updates, each
    # group by envelope time (a stable sort, so equal times keep the request order).
    checked.accepted.sort(key=lambda e: (e["type"] in UPDATE_TYPES, timestamp_ms(e["timestamp"])))
    prepared = prepare_write(PendingEvent(event) for event in checked.accepted)
    checked.prepared = pickle.dumps(prepared, pickle.HIGHEST_PROTOCOL) if pickled else prepared
    return checked


async def ingestion(request: web.Request, body: bytes, size: int, state: AppState) -> web.Response:
    if size > INGESTION_BODY_LIMIT:
        return text_reply(413, "Body exceeded 4.5mb limit")
    try:
        # Parsing (and below, validating) a batch of up to 4.5 MB runs off the event loop.
        parsed = await state.work.run(lambda: next_body(request, body))
    except BadBody as bad:
        return text_reply(400, bad.text)
    if request.method != "POST":
        return json_reply(405, {"error": "MethodNotAllowedError", "message": "Method not allowed"})
    level, message = authenticate(request.headers.get("Authorization"), state)
    if level is None:
        return json_reply(401, {"error": "UnauthorizedError", "message": message})
    problems = _batch_errors(parsed)
    if problems:
        return json_reply(400, {"message": "Invalid request data", "errors": problems})
    batch: list[Any] = parsed["batch"]
    checked = await state.work.run_pure(
        _check_batch, batch, level, state.mode, state.store.in_process
    )
    processing_errors: list[dict[str, Any]] = []
    stored: list[dict[str, Any]] = []
    for event in checked.accepted:
        scripted = state.faults._event_error(event["id"], event["type"])
        if scripted is not None:
            processing_errors.append(scripted)
        else:
            stored.append(event)
    prepared = checked.prepared
    if prepared is not None and len(stored) == len(checked.accepted):
        # The usual case: what was prepared off the loop is what is stored.
        if isinstance(prepared, bytes):
            await state.store.run(write_pickled, prepared)
        else:
            await state.store.run(Store.write, prepared)
    else:
        # Scripted event errors took some out: prepare the rest (the same code, fewer events).
        await state.store.run(Store.apply, [PendingEvent(event) for event in stored])
    await state.on_accepted([event["id"] for event in stored])
    logger.info(
        "collector: ingestion batch of %d: %d accepted, %d errors",
        len(parsed["batch"]),
        len(stored),
        len(checked.errors) + len(processing_errors) + len(checked.rejected),
    )
    return json_reply(
        207,
        {
            "successes": [{"id": event["id"], "status": 201} for event in stored],
            "errors": checked.errors + processing_errors + checked.rejected,
        },
    )


def _langfuse_header(request: web.Request, name: str) -> str | None:
    # The server reads these headers with hyphens or, failing that, with underscores.
    value = request.headers.get(name)
    return value if value is not None else request.headers.get(name.replace("-", "_"))


def _otlp_job(public_key: str, request: web.Request) -> dict[str, Any]:
    # The server answers with the queued BullMQ job; clients treat it as opaque.
    job_id = str(uuid.uuid4())
    now_ms = int(time.time() * 1000)
    return {
        "name": "OtelIngestionJob",
        "data": {
            "id": job_id,
            "timestamp": now_iso(),
            "name": "OtelIngestionJob",
            "payload": {
                "data": {"fileKey": f"{job_id}.json", "publicKey": public_key},
                "authCheck": {
                    "validKey": True,
                    "scope": {"projectId": PROJECT_ID, "accessLevel": "project"},
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


async def otlp(request: web.Request, body: bytes, size: int, state: AppState) -> web.Response:
    if size > OTLP_BODY_LIMIT:
        # No limit on the real server: this one only bounds the collector's memory.
        return json_reply(413, {"error": f"Request body exceeds {OTLP_BODY_LIMIT} bytes"})
    if request.method != "POST":
        return json_reply(405, {"message": "Method not allowed", "error": "MethodNotAllowedError"})
    level, message = authenticate(request.headers.get("Authorization"), state)
    if level is None:
        return json_reply(401, {"message": message})
    if level != "project":
        return json_reply(403, {"message": FORBIDDEN})
    gzipped = "gzip" in request.headers.get("Content-Encoding", "")
    content_type = request.headers.get("Content-Type", "").lower()
    version = _langfuse_header(request, "x-langfuse-ingestion-version")
    mode = state.mode
    # A store in a process of its own is sent what the worker prepared as the worker pickled
    # it: this process only passes the bytes on, instead of unpickling and pickling it again.
    pickled = state.store.in_process
    converting: concurrent.futures.Future[Any]
    try:
        inflated, checked_keys = await state.work.run(
            lambda: check_otlp(body, gzipped, content_type, version)
        )
        if checked_keys is None:
            # OTLP/JSON: checked where it is converted (parsing it is most of the work).
            prepared, keys = await state.work.run_pure(
                prepare_export_pickled if pickled else prepare_export,
                *(inflated, False, content_type, version, mode),
            )
            converting = concurrent.futures.Future()
            converting.set_result(prepared)
        else:
            # Protobuf, checked whole already: its answer cannot change any more, so it is
            # given now, and the export converted while the exporter sends its next.
            keys = checked_keys
            converting = await state.work.start_pure(
                prepare_protobuf_pickled if pickled else prepare_protobuf, inflated, mode
            )
    except Answer as answer:
        return json_reply(answer.status, answer.body)
    # Answered once the write is queued, not run: the server too answers an export before
    # its worker stores it, and every read queues behind this write on the store's thread
    # (which waits for the conversion), so it sees the spans.
    write = write_pickled if pickled else Store.write
    await state.store.queue(write, f"an OTLP export of {len(keys)} span(s)", converting)
    await state.on_accepted(keys)
    logger.info("collector: OTLP export of %d span(s) accepted", len(keys))
    return json_reply(200, _otlp_job(state.public_key, request))


def _score_event(kept: dict[str, Any], sent: object) -> dict[str, Any]:
    """Wrap a checked score body in a ``score-create`` envelope, as the route does."""
    kept["id"] = kept.get("id") or str(uuid.uuid4())
    timestamp = sent.get("timestamp") if isinstance(sent, dict) else None
    # The score's own timestamp (the 5.x SDK sends one) dates it; otherwise the arrival time.
    when = timestamp if isinstance(timestamp, str) and is_datetime(timestamp) else now_iso()
    return {"id": str(uuid.uuid4()), "type": "score-create", "timestamp": when, "body": kept}


async def scores(request: web.Request, body: bytes, size: int, state: AppState) -> web.Response:
    """``POST /api/public/scores``: one score object (200 with its id) or an array of them.

    An array is what the 5.x SDK sends: 202 ``{"message": "Accepted"}`` when every score was
    kept, else 207 with the counts and one message per rejected score.
    """
    if size > INGESTION_BODY_LIMIT:
        return text_reply(413, "Body exceeded 4.5mb limit")
    try:
        parsed = next_body(request, body)
    except BadBody as bad:
        return text_reply(400, bad.text)
    if request.method != "POST":
        return json_reply(405, {"message": "Method not allowed", "error": "MethodNotAllowedError"})
    level, message = authenticate(request.headers.get("Authorization"), state)
    if level is None:
        return json_reply(401, {"message": message})
    if isinstance(parsed, list):
        return await _score_batch(parsed, state)
    issues: list[Issue] = []
    kept = validate_score_body(parsed, [], issues)
    if issues:
        return json_reply(400, {"message": "Invalid request data", "error": issues})
    event = _score_event(kept, parsed)
    await state.store.run(Store.apply, [PendingEvent(event)])
    await state.on_accepted([event["id"]])
    return json_reply(200, {"id": kept["id"]})


async def _score_batch(items: list[Any], state: AppState) -> web.Response:
    events: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        issues: list[Issue] = []
        kept = validate_score_body(item, [index], issues)
        if issues:
            shown = item.get("id") if isinstance(item, dict) else None
            label = f"score {shown!r}" if isinstance(shown, str) else f"score at index {index}"
            problems = "; ".join(
                f"{'.'.join(str(p) for p in issue['path'][1:]) or 'score'}: {issue['message']}"
                for issue in issues
            )
            errors.append({"message": f"{label}: {problems}"})
            continue
        events.append(_score_event(kept, item))
    if events:
        await state.store.run(Store.apply, [PendingEvent(event) for event in events])
        await state.on_accepted([event["id"] for event in events])
    if errors:
        logger.warning(
            "collector: a score batch of %d: %d rejected (%s)",
            len(items),
            len(errors),
            errors[0]["message"],
        )
        return json_reply(207, {"accepted": len(events), "rejected": len(errors), "errors": errors})
    return json_reply(202, {"message": "Accepted"})
