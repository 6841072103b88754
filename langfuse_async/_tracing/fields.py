"""The keyword arguments of the ``start_*`` methods, as ``TypedDict``\\ s for their overloads.

The overloads give ``start_observation(as_type="generation")`` the static type
``LangfuseGeneration`` (as the official SDK's do) while listing the other keywords once.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any, TypedDict

from .coerce import Level, TraceContext

__all__ = [
    "START_FIELDS",
    "CurrentFields",
    "ObservationFields",
    "TracerCurrentFields",
    "TracerFields",
]

#: The keywords an observation can start with, beyond its name and type (``update``'s), in the
#: order the tracer passes them around as a tuple.
START_FIELDS = (
    "input",
    "output",
    "metadata",
    "version",
    "level",
    "status_message",
    "completion_start_time",
    "model",
    "model_parameters",
    "usage_details",
    "cost_details",
    "prompt",
    "prompt_name",
    "prompt_version",
)


class ObservationFields(TypedDict, total=False):
    """The fields an observation may be started with (see ``Observation.update``)."""

    input: Any
    output: Any
    metadata: Any
    version: str | None
    level: Level | None
    status_message: str | None
    completion_start_time: _dt.datetime | int | None
    model: str | None
    model_parameters: Mapping[str, Any] | None
    usage_details: Mapping[str, int] | None
    cost_details: Mapping[str, float] | None
    prompt: Any
    prompt_name: str | None
    prompt_version: int | None


class CurrentFields(ObservationFields, total=False):
    """Those of ``start_as_current_observation`` on a handle."""

    end_on_exit: bool | None


class TracerFields(ObservationFields, total=False):
    """Those of the client's ``start_observation``."""

    trace_context: TraceContext | None


class TracerCurrentFields(TracerFields, total=False):
    """Those of the client's ``start_as_current_observation``."""

    end_on_exit: bool | None
