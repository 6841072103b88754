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


def _path_values(path: str) -> Any:
    parts = path[2:].split(".")
    if len(parts) == 1:
        key = parts[0]
        return lambda doc: _plain(doc.get(key))

    def nested(doc: dict[str, Any]) -> Any:
        value: Any = doc
        for part in parts:
            value = value.get(part) if isinstance(value, dict) else None
        return _plain(value)

    return nested


#: Per table: a function of a document giving its row (``id``, the columns, ``doc``).
ROW_OF: Final[dict[str, Callable[[dict[str, Any]], tuple[Any, ...]]]] = {}
for _table, _columns in COLUMNS.items():
    _getters = [_path_values(path) for path in _columns.values()]

    def _row(
        doc: dict[str, Any], getters: list[Callable[[dict[str, Any]], Any]] = _getters
    ) -> tuple[Any, ...]:
        return (doc["id"], *[get(doc) for get in getters], dumps(doc))

    ROW_OF[_table] = _row
