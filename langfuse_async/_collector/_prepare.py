"""A request's events made ready to store: encoded, and their entities merged (pure).

The server runs :func:`prepare_write` where it validates (in a worker process under
``serve``), so the store's thread only writes. An entity written by one event keeps that
event's input, output and metadata in its document only: the event row leaves them out and
names them under :data:`FROM_DOC`, so a span's payload is stored once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, Final

from ._merge import merge_events
from ._sqlite import ROW_OF, dumps
from ._validate import UPDATE_TYPES, entity_of, timestamp_ms

__all__ = [
    "FROM_DOC",
    "TABLE_OF",
    "PendingEvent",
    "PreparedRow",
    "PreparedWrite",
    "complete_event",
    "prepare_write",
]

#: The table of each entity.
TABLE_OF: Final = {"trace": "traces", "observation": "observations", "score": "scores"}


@dataclasses.dataclass(frozen=True)
class PendingEvent:
    """A validated event ready to be stored.

    Attributes:
        event: The kept event: ``{"id", "type", "timestamp", "body"}``.
        shallow: Store it only when its entity has no event yet (the OTLP converter's
            placeholder trace, which must never overwrite a real one).
    """

    event: dict[str, Any]
    shallow: bool = False

    @property
    def entity(self) -> str:
        """The entity type the event writes."""
        return entity_of(self.event["type"])

    @property
    def body_id(self) -> str | None:
        """The entity id, or None when the body has none (then nothing is stored)."""
        body_id = self.event["body"].get("id")
        return body_id if isinstance(body_id, str) and body_id else None


#: One event row as prepared: entity, body id, envelope id, type, envelope time (epoch ms),
#: whether it is an update, whether it is shallow, the event as JSON, and whether that JSON
#: leaves out what the entity's document holds (see :data:`FROM_DOC`).
PreparedRow = tuple[str, str, str, str, float, int, bool, str, bool]

#: The envelope key of a stored event that leaves out body fields its entity's document holds
#: as they are (the input, output and metadata of an entity written by one event: the bulk of
#: an OTLP span, which would otherwise be stored twice). It lists the fields left out. Such a
#: row stays valid while the entity has that one event: when another arrives, the row is
#: completed from the document before the document is merged again.
FROM_DOC: Final = "fromDoc"
#: The body fields a stored event may leave to its entity's document.
_SHARED_FIELDS: Final = ("input", "output", "metadata")


@dataclasses.dataclass(frozen=True)
class PreparedWrite:
    """A request's events made ready to store: the costly work done, off the store's thread.

    Built by :func:`prepare_write` (pure, picklable: a worker process builds it), written by
    :meth:`Store.write`. Every entity's document is merged here from this request's events
    alone, which is exactly what the store writes for an entity that had no event before;
    for one that had, the store merges it again from all its stored events.

    Attributes:
        rows: One per event with a body id, in arrival order.
        docs: Per ``(entity, body id)``: its table row (id, read columns, JSON document)
            merged from ``rows`` alone.
    """

    rows: list[PreparedRow]
    docs: dict[tuple[str, str], tuple[Any, ...]]


def _leave_to_doc(event: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any] | None:
    """The event without the body fields ``doc`` holds as they are, or None if there are none.

    A document merged from one event holds that event's input, output and metadata as the
    very same objects (the merge copies references), so identity tells exactly what it holds.
    """
    body = event["body"]
    compact: dict[str, Any] | None = None
    shared = []
    for key in _SHARED_FIELDS:
        value = body.get(key)
        if value is not None and doc.get(key) is value:
            if compact is None:
                compact = dict(body)
            del compact[key]
            shared.append(key)
    if compact is None:
        return None
    return {**event, "body": compact, FROM_DOC: shared}


def complete_event(event: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    """The event with the fields it left to ``doc`` (see :data:`FROM_DOC`) put back."""
    shared = event.pop(FROM_DOC)
    event["body"].update((key, doc[key]) for key in shared if key in doc)
    return event


def prepare_write(pending: Iterable[PendingEvent]) -> PreparedWrite:
    """Encode events and merge the entities they write, as if none existed yet (pure).

    Events without a body id are left out, as the server skips them. An entity written by one
    event here has that event stored without what its document holds (:data:`FROM_DOC`).
    """
    items: list[tuple[tuple[str, str], dict[str, Any], float, int, bool]] = []
    # Repeated envelope ids (a retried event within a request) replace the earlier copy but
    # keep its place in the processing order, as the store's upsert does.
    kept: dict[tuple[str, str, str], tuple[tuple[float, int, int], dict[str, Any]]] = {}
    rows_of: dict[tuple[str, str], int] = {}
    for item in pending:
        body_id = item.body_id
        if body_id is None:
            continue
        event = item.event
        if item.shallow:
            event = {**event, "placeholder": True}
        entity_key = (entity_of(event["type"]), body_id)
        ts_ms = timestamp_ms(event["timestamp"])
        is_update = 1 if event["type"] in UPDATE_TYPES else 0
        items.append((entity_key, event, ts_ms, is_update, item.shallow))
        rows_of[entity_key] = rows_of.get(entity_key, 0) + 1
        key = (*entity_key, event["id"])
        earlier = kept.get(key)
        seq = earlier[0][2] if earlier is not None else len(kept)
        kept[key] = ((ts_ms, is_update, seq), event)
    by_entity: dict[tuple[str, str], list[tuple[tuple[float, int, int], dict[str, Any]]]] = {}
    for (entity, body_id, _), entry in kept.items():
        by_entity.setdefault((entity, body_id), []).append(entry)
    docs: dict[tuple[str, str], tuple[Any, ...]] = {}
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for entity_key, entries in by_entity.items():
        if len(entries) > 1:
            entries.sort(key=lambda entry: entry[0])
        entity = entity_key[0]
        doc = merge_events(entity, entity_key[1], [event for _, event in entries])
        merged[entity_key] = doc
        docs[entity_key] = ROW_OF[TABLE_OF[entity]](doc)
    rows: list[PreparedRow] = []
    for entity_key, event, ts_ms, is_update, shallow in items:
        compact = None
        if not shallow and rows_of[entity_key] == 1:
            compact = _leave_to_doc(event, merged[entity_key])
        rows.append(
            (
                *entity_key,
                event["id"],
                event["type"],
                ts_ms,
                is_update,
                shallow,
                dumps(event if compact is None else compact),
                compact is not None,
            )
        )
    return PreparedWrite(rows, docs)
