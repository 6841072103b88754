"""What the collector hands to tests: plain frozen values for stored entities and requests."""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["Observation", "RecordedRequest", "Score", "Trace"]


@dataclasses.dataclass(frozen=True)
class Trace:
    """A trace as stored after merging every event about it.

    Attributes:
        id: The trace id.
        timestamp: ISO timestamp of the trace.
        name: The trace name.
        user_id: The user id.
        session_id: The session id.
        release: The release.
        version: The version.
        input: The decoded input (any JSON value).
        output: The decoded output.
        metadata: Metadata, deep-merged across events.
        tags: Tags, unioned and sorted across events.
        public: Whether the trace is public.
        environment: The normalised environment.
    """

    id: str
    timestamp: str
    name: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    release: str | None = None
    version: str | None = None
    input: Any = None
    output: Any = None
    metadata: Any = None
    tags: tuple[str, ...] = ()
    public: bool = False
    environment: str = "default"

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Trace:
        """Build from the stored document (API field names)."""
        return cls(
            id=doc["id"],
            timestamp=doc.get("timestamp") or "",
            name=doc.get("name"),
            user_id=doc.get("userId"),
            session_id=doc.get("sessionId"),
            release=doc.get("release"),
            version=doc.get("version"),
            input=doc.get("input"),
            output=doc.get("output"),
            metadata=doc.get("metadata"),
            tags=tuple(doc.get("tags") or ()),
            public=bool(doc.get("public")),
            environment=doc.get("environment") or "default",
        )


@dataclasses.dataclass(frozen=True)
class Observation:
    """An observation (span, generation, event, agent, tool, ...) as stored after merging.

    Attributes:
        id: The observation id.
        trace_id: The trace it belongs to.
        type: ``SPAN``, ``GENERATION``, ``EVENT``, ``AGENT``, ``TOOL``, ...
        name: The name.
        start_time: ISO start time.
        end_time: ISO end time, or None while open.
        completion_start_time: ISO time of the first completion token (generations).
        parent_observation_id: The parent observation, or None for a top-level one.
        level: ``DEBUG``, ``DEFAULT``, ``WARNING`` or ``ERROR``.
        status_message: The status message.
        version: The version.
        model: The model name (generations).
        model_parameters: The model parameters.
        input: The decoded input.
        output: The decoded output.
        metadata: Metadata, deep-merged across events.
        usage_details: Usage counts by kind (``input``, ``output``, ``total``, ...).
        cost_details: Costs in USD by kind.
        prompt_name: The linked prompt's name.
        prompt_version: The linked prompt's version.
        environment: The normalised environment.
    """

    id: str
    trace_id: str | None
    type: str
    name: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    completion_start_time: str | None = None
    parent_observation_id: str | None = None
    level: str = "DEFAULT"
    status_message: str | None = None
    version: str | None = None
    model: str | None = None
    model_parameters: Any = None
    input: Any = None
    output: Any = None
    metadata: Any = None
    usage_details: Mapping[str, int] = dataclasses.field(default_factory=dict)
    cost_details: Mapping[str, float] = dataclasses.field(default_factory=dict)
    prompt_name: str | None = None
    prompt_version: int | None = None
    environment: str = "default"

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Observation:
        """Build from the stored document (API field names)."""
        return cls(
            id=doc["id"],
            trace_id=doc.get("traceId"),
            type=doc.get("type") or "SPAN",
            name=doc.get("name"),
            start_time=doc.get("startTime"),
            end_time=doc.get("endTime"),
            completion_start_time=doc.get("completionStartTime"),
            parent_observation_id=doc.get("parentObservationId"),
            level=doc.get("level") or "DEFAULT",
            status_message=doc.get("statusMessage"),
            version=doc.get("version"),
            model=doc.get("model"),
            model_parameters=doc.get("modelParameters"),
            input=doc.get("input"),
            output=doc.get("output"),
            metadata=doc.get("metadata"),
            usage_details=dict(doc.get("usageDetails") or {}),
            cost_details=dict(doc.get("costDetails") or {}),
            prompt_name=doc.get("promptName"),
            prompt_version=doc.get("promptVersion"),
            environment=doc.get("environment") or "default",
        )


@dataclasses.dataclass(frozen=True)
class Score:
    """A score as stored.

    Attributes:
        id: The score id.
        name: The score name.
        value: The value as sent: a number, or a string for categorical/text/correction scores.
        data_type: ``NUMERIC``, ``BOOLEAN``, ``CATEGORICAL``, ``TEXT`` or ``CORRECTION``
            (inferred from the value when the sender omitted it).
        trace_id: The scored trace.
        observation_id: The scored observation.
        session_id: The scored session.
        dataset_run_id: The scored dataset run.
        comment: The comment.
        metadata: The metadata.
        config_id: The score config id.
        environment: The normalised environment.
        source: ``API``, ``EVAL`` or ``ANNOTATION``.
        timestamp: ISO timestamp (the envelope timestamp of the latest event).
    """

    id: str
    name: str
    value: float | str | None
    data_type: str
    trace_id: str | None = None
    observation_id: str | None = None
    session_id: str | None = None
    dataset_run_id: str | None = None
    comment: str | None = None
    metadata: Any = None
    config_id: str | None = None
    environment: str = "default"
    source: str = "API"
    timestamp: str = ""

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Score:
        """Build from the stored document (API field names)."""
        return cls(
            id=doc["id"],
            name=doc.get("name") or "",
            value=doc.get("value"),
            data_type=doc.get("dataType") or "NUMERIC",
            trace_id=doc.get("traceId"),
            observation_id=doc.get("observationId"),
            session_id=doc.get("sessionId"),
            dataset_run_id=doc.get("datasetRunId"),
            comment=doc.get("comment"),
            metadata=doc.get("metadata"),
            config_id=doc.get("configId"),
            environment=doc.get("environment") or "default",
            source=doc.get("source") or "API",
            timestamp=doc.get("timestamp") or "",
        )


_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request the collector received, exactly as it arrived.

    Attributes:
        method: The HTTP method.
        path: The URL path, e.g. ``/api/public/ingestion``.
        query: The raw query string.
        headers: Header names in lower case mapped to their (last) value.
        body: The raw body bytes (still compressed when the sender compressed them). Empty for
            a body over its route's size limit, which is drained without being kept; only
            the bytes that arrived when the client went away mid-body (answered 400
            ``Invalid body``).
        body_size: The body's size in bytes as received.
        route: The collector's name for the route: ``ingestion``, ``otlp``, ``scores``,
            ``health``, ``read`` or ``other``.
        body_dropped: The body was dropped from the collector's bounded request log (``body``
            is then empty; ``body_size`` still says how large it was).
    """

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    body_size: int
    route: str
    body_dropped: bool = False

    def __repr__(self) -> str:
        # The Authorization header is base64 of "public:secret": never in a repr, which ends up
        # in assertion messages and logs.
        headers = {
            k: ("<redacted>" if k in _SECRET_HEADERS else v) for k, v in self.headers.items()
        }
        return (
            f"RecordedRequest(method={self.method!r}, path={self.path!r}, query={self.query!r}, "
            f"headers={headers!r}, body_size={self.body_size}, route={self.route!r})"
        )

    def json(self) -> Any:
        """Decode the body as JSON, gunzipping it first when it was sent gzip-encoded."""
        data = self.body
        if "gzip" in self.headers.get("content-encoding", "").lower():
            data = gzip.decompress(data)
        return json.loads(data)
