"""Trace attributes: building one update from ``update_trace`` arguments, merging updates, records.

The attributes of a trace are set piecemeal (any observation of the trace may call
``update_trace``). Each update is sent as it is (the server merges them), and the merged result is
kept on the trace's local root so that every observation ending afterwards carries a snapshot
(OTLP copies it onto each span). Merging is bounded: the snapshot rides on every later record.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from .._clock import now_ns
from .._log import log_once
from .._records import RECORD_OVERHEAD_BYTES, Metadata, TraceAttributes, TraceRecord
from .coerce import safe_str
from .ids import new_event_id

if TYPE_CHECKING:
    from .recorder import Recorder

__all__ = [
    "merge_metadata",
    "merge_trace_attributes",
    "attributes_size",
    "metadata_size",
    "payload_size",
    "trace_record",
    "trace_update",
]

_MAX_TRACE_NAME = 1_000  # the server rejects longer trace names, losing the whole update
_MAX_TRACE_TAGS = 200
_MAX_TRACE_METADATA_KEYS = 200


#: Guards merges of trace attributes. They are rare (one per update_trace call) and may come
#: from threads; one lock for all traces keeps the per-trace state to one attribute on the root.
#: Read it as ``traces.trace_lock``: a forked child gets a new one.
trace_lock = threading.Lock()


def _new_trace_lock_in_child() -> None:
    # A fork copies a lock held by another thread as held, and that thread does not exist in
    # the child: without a new lock the child's first trace update would wait for ever.
    global trace_lock
    trace_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_trace_lock_in_child)


def payload_size(value: msgspec.Raw | None) -> int:
    """The bytes an encoded payload adds to a record's estimated size."""
    return 0 if value is None else len(value)


def metadata_size(value: Metadata | None) -> int:
    """The bytes recorded metadata adds to a record's estimated size (keys and quotes too)."""
    if value is None:
        return 0
    if isinstance(value, dict):
        return sum(len(k) + len(v) + 4 for k, v in value.items())
    return len(value)


def merge_metadata(
    old: Metadata | None, new: Metadata | None, max_keys: int | None = None
) -> Metadata | None:
    """Merge at the top level, as the server does for traces and OTLP does for attributes."""
    if new is None:
        return old
    if isinstance(old, dict) and isinstance(new, dict):
        merged = dict(old)
        for key, value in new.items():
            if max_keys is not None and key not in merged and len(merged) >= max_keys:
                log_once(
                    logging.WARNING,
                    "trace.metadata_keys",
                    "trace metadata holds at most %d keys; further keys are not copied onto "
                    "later observations",
                    max_keys,
                )
                break
            merged[key] = value
        return merged
    return new


def merge_trace_attributes(old: TraceAttributes | None, new: TraceAttributes) -> TraceAttributes:
    """Return the attributes of a trace after the update ``new`` (later values win).

    Tags are unioned in first-seen order and metadata merged per top-level key, both bounded,
    because the snapshot rides on every later observation of the trace.
    """
    if old is None:
        return new
    tags = old.tags
    if new.tags is not None:
        seen = list(old.tags or ())
        for tag in new.tags:
            if tag not in seen:
                if len(seen) >= _MAX_TRACE_TAGS:
                    break
                seen.append(tag)
        tags = tuple(seen)
    return TraceAttributes(
        name=new.name if new.name is not None else old.name,
        user_id=new.user_id if new.user_id is not None else old.user_id,
        session_id=new.session_id if new.session_id is not None else old.session_id,
        version=new.version if new.version is not None else old.version,
        release=new.release if new.release is not None else old.release,
        input=new.input if new.input is not None else old.input,
        output=new.output if new.output is not None else old.output,
        metadata=merge_metadata(old.metadata, new.metadata, _MAX_TRACE_METADATA_KEYS),
        tags=tags,
        public=new.public if new.public is not None else old.public,
    )


_EMPTY = TraceAttributes()


def trace_update(
    recorder: Recorder,
    *,
    name: Any,
    user_id: Any,
    session_id: Any,
    version: Any,
    release: Any,
    input: Any,
    output: Any,
    metadata: Any,
    tags: Sequence[str] | str | None,
    public: Any,
) -> TraceAttributes | None:
    """Return the attributes one ``update_trace`` call sets, or None when it sets none.

    Strings are made plain, payloads masked, encoded and capped by ``recorder``, tags
    deduplicated in order (a lone string is one tag) and the name cut to what the server takes.
    Raises what the caller's objects raise; the handle logs it.
    """
    tag_tuple: tuple[str, ...] | None = None
    if tags is not None:
        if isinstance(tags, str):
            tags = [tags]
        tag_tuple = tuple(dict.fromkeys(safe_str(t) for t in tags))
    attrs = TraceAttributes(
        name=None if name is None else safe_str(name)[:_MAX_TRACE_NAME],
        user_id=None if user_id is None else safe_str(user_id),
        session_id=None if session_id is None else safe_str(session_id),
        version=None if version is None else safe_str(version),
        release=None if release is None else safe_str(release),
        input=None if input is None else recorder.encode(input),
        output=None if output is None else recorder.encode(output),
        metadata=None if metadata is None else recorder.encode_metadata(metadata),
        tags=tag_tuple,
        public=None if public is None else bool(public),
    )
    return None if attrs == _EMPTY else attrs


def attributes_size(attrs: TraceAttributes) -> int:
    """The bytes trace attributes hold: strings, tags, payloads."""
    return (
        sum(
            len(s)
            for s in (attrs.name, attrs.user_id, attrs.session_id, attrs.version, attrs.release)
            if s is not None
        )
        + payload_size(attrs.input)
        + payload_size(attrs.output)
        + metadata_size(attrs.metadata)
        + sum(len(t) + 3 for t in attrs.tags or ())
    )


def trace_record(trace_id: str, attrs: TraceAttributes, *, span_open: bool = False) -> TraceRecord:
    """Return the ``trace-create`` record of one update, with its estimated size.

    ``span_open``: an observation of the trace other than its (ended) root is still open, so
    a span that ends later carries the update on the OTLP route (see
    :attr:`~langfuse_async._records.TraceRecord.span_open`).
    """
    size = RECORD_OVERHEAD_BYTES + attributes_size(attrs)
    return TraceRecord(
        event_id=new_event_id(),
        timestamp_ns=now_ns(),
        trace_id=trace_id,
        attributes=attrs,
        size=size,
        span_open=span_open,
    )
