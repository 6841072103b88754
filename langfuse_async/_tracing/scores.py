"""Scores: checking what a score is given, and its record.

A score refers to exactly one of a trace (optionally one of its observations), a session or a
dataset run, and its value must fit its data type. The checks are the server's: an invalid score
would be refused there one event at a time, long after the call, so it is refused here at once,
logged once, and never raised.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any, Literal

from .._clock import now_ns
from .._log import log_once, logger
from .._records import RECORD_OVERHEAD_BYTES, ScoreRecord
from .coerce import plain, safe_str, to_ns
from .ids import new_event_id, new_observation_id
from .sampling import is_sampled

if TYPE_CHECKING:
    from .recorder import Recorder

__all__ = ["ScoreDataType", "score_record"]

ScoreDataType = Literal["NUMERIC", "BOOLEAN", "CATEGORICAL", "TEXT", "CORRECTION"]
"""How a score's value is interpreted."""

_SCORE_DATA_TYPES = frozenset({"NUMERIC", "BOOLEAN", "CATEGORICAL", "TEXT", "CORRECTION"})
_MAX_ID_LENGTH = 800  # the server's idSchema limit
_MAX_TEXT_SCORE = 500  # TEXT_SCORE_MAX_LENGTH on the server


def _js_length(text: str) -> int:
    """The length JavaScript gives ``text``: UTF-16 code units, what the server's limits count."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _valid_ref(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= _MAX_ID_LENGTH


def _score_value(value: object, data_type: str | None) -> tuple[float | str | None, str]:
    """Check a score value against its data type; return ``(value, "")`` or ``(None, why)``."""
    if isinstance(value, (int, float)):  # bool included: True/False are BOOLEAN 1/0
        number = float(value)
        if not math.isfinite(number):
            return None, "value must be a finite number"
        if data_type in ("NUMERIC", None):
            return number, ""
        if data_type == "BOOLEAN":
            if number in (0.0, 1.0):
                return number, ""
            return None, "a BOOLEAN score's value must be 0 or 1"
        return None, f"a {data_type} score's value must be a string"
    if isinstance(value, str):
        if data_type == "TEXT" and not 0 < _js_length(value) <= _MAX_TEXT_SCORE:
            return None, (
                f"a TEXT score's value must be 1 to {_MAX_TEXT_SCORE} characters"
                " (as the server counts them: two for an emoji)"
            )
        if data_type in (None, "CATEGORICAL", "TEXT", "CORRECTION"):
            return value, ""
        return None, f"a {data_type} score's value must be a number"
    return None, f"value must be a number or a string, not {type(value).__name__}"


def score_record(
    recorder: Recorder,
    name: str,
    value: float | str,
    trace_id: str | None,
    observation_id: str | None,
    session_id: str | None,
    data_type: str | None,
    comment: str | None,
    metadata: Any,
    score_id: str | None,
    *,
    config_id: str | None = None,
    dataset_run_id: str | None = None,
    timestamp: object = None,
    environment: str | None = None,
) -> ScoreRecord | None:
    """Return the record of a valid score, or None when it is invalid (logged) or sampled out.

    The annotations are what callers should pass; the checks assume nothing and never raise.
    """
    problem = ""
    checked: float | str | None = None
    try:
        # Strings are made plain (a str enum member, a subclass with odd methods) before
        # anything else looks at them.
        name = plain(name)
        trace_id = plain(trace_id)
        observation_id = plain(observation_id)
        session_id = plain(session_id)
        score_id = plain(score_id)
        config_id = plain(config_id)
        dataset_run_id = plain(dataset_run_id)
        data_type = plain(data_type)
        value = plain(value)
        if not isinstance(name, str) or not name:
            problem = "name must be a non-empty string"
        elif data_type is not None and (
            not isinstance(data_type, str) or data_type not in _SCORE_DATA_TYPES
        ):
            problem = "data_type must be NUMERIC, BOOLEAN, CATEGORICAL, TEXT or CORRECTION"
        elif sum(r is not None for r in (trace_id, session_id, dataset_run_id)) != 1:
            problem = "give exactly one of trace_id, session_id and dataset_run_id"
        elif observation_id is not None and trace_id is None:
            problem = "observation_id needs trace_id"
        elif config_id is not None and data_type == "CORRECTION":
            problem = "a CORRECTION score cannot have a config_id"
        elif not all(
            _valid_ref(r)
            for r in (trace_id, observation_id, session_id, dataset_run_id, config_id)
            if r is not None
        ):
            problem = f"ids must be non-empty strings of at most {_MAX_ID_LENGTH} characters"
        elif score_id is not None and not (_valid_ref(score_id) and "\r" not in score_id):
            # The server's id rule (idSchema) also refuses a carriage return: the id becomes a
            # storage key.
            problem = (
                f"score_id must be a non-empty string of at most {_MAX_ID_LENGTH} characters, "
                "without a carriage return"
            )
        else:
            checked, problem = _score_value(value, data_type)
    except Exception:
        # The values are the caller's objects (a number too large for a float, a type
        # whose conversion raises); the score is refused, never the caller's code.
        problem = "the value or an argument could not be read"
    if problem or checked is None:
        log_once(
            logging.WARNING,
            "score.invalid",
            "score %r not recorded: %s",
            name if type(name) is str else f"<{type(name).__name__}>",
            problem,
            variant=(name if type(name) is str else "") + "\x00" + problem,
        )
        return None
    bound = recorder.sample_bound
    if bound is not None and trace_id is not None and not is_sampled(trace_id, bound):
        return None
    try:
        meta = None if metadata is None else recorder.encode_metadata(metadata)
        text = None if comment is None else safe_str(comment)
        size = RECORD_OVERHEAD_BYTES + len(name) + len(text or "")
        if isinstance(checked, str):
            size += len(checked)
        if isinstance(meta, dict):
            size += sum(len(k) + len(v) + 4 for k, v in meta.items())
        elif meta is not None:
            size += len(meta)
        when = None if timestamp is None else to_ns(timestamp, "timestamp")
        return ScoreRecord(
            event_id=new_event_id(),
            timestamp_ns=now_ns() if when is None else when,
            id=score_id if score_id is not None else new_observation_id(),
            name=name,
            value=checked,
            size=size,
            trace_id=trace_id,
            observation_id=observation_id,
            session_id=session_id,
            data_type=data_type,
            comment=text,
            metadata=meta,
            config_id=config_id,
            dataset_run_id=dataset_run_id,
            environment=environment,
        )
    except Exception:
        logger.warning("could not record score %r", name, exc_info=True)
        return None
