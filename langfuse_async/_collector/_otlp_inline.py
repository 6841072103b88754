"""The official SDKs' span attributes, read inline by the OTLP fast path.

A span that carries no other attribute needs none of the converter's fallback keys: each
field is its one attribute's value, read here by the converter's rules.
"""

from __future__ import annotations

from typing import Any, Final

from ._otlp import (
    _GENERATION_KEYS,
    _environment,
    _io,
    _js_string,
    _tags,
    _trace_metadata,
    _version_at_most,
    encodes_metadata,
)

__all__ = [
    "EMPTY",
    "OBSERVATION_METADATA",
    "SIMPLE_KEYS",
    "TRACE_PART_KEYS",
    "Scope",
    "metadata_keys",
    "trace_fields",
]

OBSERVATION_METADATA: Final = "langfuse.observation.metadata."
#: The attributes of the official SDKs' spans that are read inline: with no other attribute
#: (observation metadata keys aside), none of the converter's fallback keys is present, so
#: each field is that one attribute's value.
SIMPLE_KEYS: Final = frozenset(
    {
        "langfuse.observation.type",
        "langfuse.observation.input",
        "langfuse.observation.output",
        "langfuse.observation.metadata",
        "langfuse.observation.level",
        "langfuse.observation.status_message",
        *_GENERATION_KEYS,
        "langfuse.version",
        "langfuse.release",
        "langfuse.environment",
        "langfuse.trace.name",
        "langfuse.trace.tags",
        "langfuse.trace.public",
        "langfuse.trace.input",
        "langfuse.trace.output",
        "langfuse.internal.as_root",
        "langfuse.internal.is_app_root",
        "user.id",
        "session.id",
    }
)
#: Observation metadata keys the converter also reads as trace fields.
_TRACE_METADATA_KEYS: Final = frozenset(
    f"{OBSERVATION_METADATA}langfuse_{name}" for name in ("user_id", "session_id", "tags")
)
#: The attributes :meth:`_Export.trace_fields` reads (besides the environment and version).
TRACE_PART_KEYS: Final = (
    "langfuse.trace.name",
    "user.id",
    "session.id",
    "langfuse.trace.tags",
    "langfuse.trace.public",
    "langfuse.release",
    "langfuse.trace.input",
    "langfuse.trace.output",
)
#: What ``_first`` takes for no value.
EMPTY: Final[tuple[Any, ...]] = (None, "", [], {})


def metadata_keys(attrs: dict[str, Any]) -> list[str] | None:
    """The observation metadata keys of a span read inline, or None when it is not one."""
    found: list[str] = []
    if attrs.keys() <= SIMPLE_KEYS:
        return found
    for key in attrs:
        if key in SIMPLE_KEYS:
            continue
        if (
            key.startswith(OBSERVATION_METADATA)
            and len(key) > len(OBSERVATION_METADATA)
            and key not in _TRACE_METADATA_KEYS
        ):
            found.append(key)
            continue
        return None
    return found


class Scope:
    """What every span of one scope entry shares: its resource, scope and their readings."""

    def __init__(self, resource: dict[str, Any], scope: dict[str, Any]) -> None:
        self.resource = resource
        self.scope = scope
        name = scope["name"]
        self.inline = isinstance(name, str) and name.startswith("langfuse-sdk")
        self.encoded = encodes_metadata(scope)
        # Old Python SDKs' generations marked as spans: the converter's helper decides those.
        self.corrected = (
            name == "langfuse-sdk"
            and resource.get("telemetry.sdk.language") == "python"
            and _version_at_most(scope["version"], (3, 3))
        )
        self.environment = _environment({}, resource)
        self.version = resource.get("service.version")
        self.release = resource.get("langfuse.release")
        self.trace_metadata = _trace_metadata(resource)


def trace_fields(
    attrs: dict[str, Any], context: Scope, environment: Any, version: Any, mode: str
) -> dict[str, Any]:
    """The converter's ``trace_fields`` for a span :func:`metadata_keys` reads inline."""
    fields: dict[str, Any] = {}
    name = attrs.get("langfuse.trace.name")
    if name:
        fields["name"] = name
    user_id = attrs.get("user.id")
    if user_id not in EMPTY:
        fields["userId"] = _js_string(user_id)
    session_id = attrs.get("session.id")
    if session_id not in EMPTY:
        fields["sessionId"] = _js_string(session_id)
    tags = attrs.get("langfuse.trace.tags")
    if tags is not None:
        tags = _tags(None if tags in EMPTY else tags)
        if tags:
            fields["tags"] = tags
    public = attrs.get("langfuse.trace.public")
    if public not in EMPTY:
        fields["public"] = public in (True, "true")
    release = attrs.get("langfuse.release") or context.release
    if release:
        fields["release"] = release
    if version:
        fields["version"] = version
    if environment is not None:
        fields["environment"] = environment
    if context.trace_metadata:
        fields["metadata"] = dict(context.trace_metadata)
    if mode == "v3":
        for key, field in (
            ("langfuse.trace.input", "input"),
            ("langfuse.trace.output", "output"),
        ):
            if attrs.get(key) is not None:
                fields[field] = _io(attrs[key])
    return fields
