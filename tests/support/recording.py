"""A client whose sink is a list: the double every instrumentation test records into."""

from __future__ import annotations

import json
from typing import Any

from langfuse_async._config import Config, resolve_config
from langfuse_async._records import ObservationRecord, Record, ScoreRecord, TraceRecord
from langfuse_async._tracing.registry import register_client
from langfuse_async._tracing.tracer import Tracer


def make_config(**overrides: Any) -> Config:
    options: dict[str, Any] = dict(
        public_key="pk-lf-test", secret_key="sk-lf-test", base_url="http://127.0.0.1:9"
    )
    options.update(overrides)
    return resolve_config(**options, environ={})


class ListSink:
    """A sink that keeps every record in a list and counts sampled-out observations."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.sampled_out = 0
        # The list's own method, as the pipeline's: a record is appended with no frame between.
        self.emit = self.records.append

    def count_sampled_out(self) -> None:
        self.sampled_out += 1


class RecordingTracer(Tracer):
    """A client whose sink is a list, registered as the one ``get_client()`` returns."""

    def __init__(self, **overrides: Any) -> None:
        self.sink = ListSink()
        self.records = self.sink.records
        super().__init__(make_config(**overrides), self.sink)
        register_client(self)

    @property
    def sampled_out(self) -> int:
        return self.sink.sampled_out

    @property
    def observations(self) -> list[ObservationRecord]:
        return [r for r in self.records if isinstance(r, ObservationRecord)]

    @property
    def traces(self) -> list[TraceRecord]:
        return [r for r in self.records if isinstance(r, TraceRecord)]

    @property
    def scores(self) -> list[ScoreRecord]:
        return [r for r in self.records if isinstance(r, ScoreRecord)]

    def by_name(self, name: str) -> ObservationRecord:
        (found,) = [r for r in self.observations if r.name == name]
        return found


def decode(raw: Any) -> Any:
    """The JSON value of an encoded payload (or of a metadata mapping of payloads)."""
    if isinstance(raw, dict):
        return {k: json.loads(bytes(v)) for k, v in raw.items()}
    return None if raw is None else json.loads(bytes(raw))
