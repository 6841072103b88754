"""The collector database's schema, and the small SQL helpers its writer and reader share."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final, TypeVar

import msgspec

__all__ = [
    "APPLICATION_ID",
    "COLUMNS",
    "INDEXES",
    "SCHEMA",
    "TABLES",
    "chunks",
    "ROW_OF",
    "dumps",
    "loads",
    "marks",
]

T = TypeVar("T")

#: ``PRAGMA application_id`` of a collector database ("LFAS"): how a file is known as ours.
APPLICATION_ID: Final = 0x4C464153

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    entity TEXT NOT NULL,
    body_id TEXT NOT NULL,
    envelope_id TEXT NOT NULL,
    type TEXT NOT NULL,
    ts_ms REAL NOT NULL,
    is_update INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (entity, body_id, envelope_id)
);
CREATE TABLE IF NOT EXISTS traces (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS observations (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scores (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
"""

#: The columns reads use, by table: column -> the document field it copies. Added to older
#: collector files on open (and filled from their documents).
COLUMNS: Final[dict[str, dict[str, str]]] = {
    "traces": {
        "timestamp": "$.timestamp",
        "name": "$.name",
        "user_id": "$.userId",
        "session_id": "$.sessionId",
        "environment": "$.environment",
        "release": "$.release",
        "version": "$.version",
        "tags": "$.tags",
    },
    "observations": {
        "trace_id": "$.traceId",
        "type": "$.type",
        "name": "$.name",
        "start_time": "$.startTime",
        "end_time": "$.endTime",
        "level": "$.level",
        "parent_id": "$.parentObservationId",
        "version": "$.version",
        "environment": "$.environment",
        "total_cost": "$.costDetails.total",
    },
    "scores": {
        "trace_id": "$.traceId",
        "observation_id": "$.observationId",
        "session_id": "$.sessionId",
        "dataset_run_id": "$.datasetRunId",
        "name": "$.name",
        "timestamp": "$.timestamp",
        "source": "$.source",
        "data_type": "$.dataType",
        "environment": "$.environment",
        "config_id": "$.configId",
        "queue_id": "$.queueId",
    },
}
INDEXES = """
CREATE INDEX IF NOT EXISTS traces_by_time ON traces (timestamp);
CREATE INDEX IF NOT EXISTS traces_by_session ON traces (session_id);
CREATE INDEX IF NOT EXISTS traces_by_user ON traces (user_id);
CREATE INDEX IF NOT EXISTS observations_by_trace ON observations (trace_id);
CREATE INDEX IF NOT EXISTS observations_by_start ON observations (start_time);
CREATE INDEX IF NOT EXISTS scores_by_trace ON scores (trace_id);
CREATE INDEX IF NOT EXISTS scores_by_time ON scores (timestamp);
"""
TABLES = ("events", "traces", "observations", "scores")
# SQLite's default limit of bound parameters is 999 on old builds: stay well below it.
_CHUNK = 400
_encoder = msgspec.json.Encoder()


def dumps(value: Any) -> str:
    try:
        return _encoder.encode(value).decode()
    except (msgspec.EncodeError, UnicodeEncodeError, OverflowError):
        # A lone surrogate or an integer beyond 64 bits: the standard library copes.
        return json.dumps(value, separators=(",", ":"))


def loads(text: str) -> Any:
    return msgspec.json.decode(text)


def chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def marks(count: int) -> str:
    return ",".join("?" * count)


def _plain(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return dumps(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _row_of(columns: dict[str, str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    # Top-level fields are read in one C call (map over doc.get); the few nested ones after.
    # Columns keep their order: the top-level ones first, then each nested one at its place.
    paths = [path[2:].split(".") for path in columns.values()]
    top = [parts[0] for parts in paths if len(parts) == 1]
    nested = [(index, parts) for index, parts in enumerate(paths) if len(parts) > 1]

    def row(doc: dict[str, Any]) -> tuple[Any, ...]:
        values = [
            value if value is None or type(value) is str else _plain(value)
            for value in map(doc.get, top)
        ]
        for index, parts in nested:
            value: Any = doc
            for part in parts:
                value = value.get(part) if isinstance(value, dict) else None
            values.insert(index, _plain(value))
        return (doc["id"], *values, dumps(doc))

    return row


#: Per table: a function of a document giving its row (``id``, the columns, ``doc``).
ROW_OF: Final[dict[str, Callable[[dict[str, Any]], tuple[Any, ...]]]] = {
    table: _row_of(columns) for table, columns in COLUMNS.items()
}
