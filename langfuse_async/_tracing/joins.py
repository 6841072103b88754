"""Where other modules join a handle: an external parent, propagated attributes, decorating.

Both hooks are None until something installs them (the OpenTelemetry bridge, the first
``propagate_attributes`` block), so starting an observation pays one read each until then.
Handles are typed ``Any`` here: this module sits below the handle's module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .sampling import is_sampled

__all__ = [
    "adopt_external_parent",
    "as_decorator",
    "external_parent",
    "propagation_hook",
    "set_as_decorator",
    "set_external_parent",
    "set_propagation_hook",
]


#: Supplies the parent of a new observation from another tracer's context (the OpenTelemetry
#: bridge sets it): called with the parent the observation would get (the current one, or
#: None), it returns ``(trace_id, parent_span_id, remote)`` to hang the observation below that
#: span instead, or None to keep the parent. ``remote`` marks the span as not delivered by this
#: package (the observation is then the local root). Must be cheap and never raise.
external_parent: Callable[[Any], tuple[str, str, bool] | None] | None = None


def set_external_parent(
    hook: Callable[[Any], tuple[str, str, bool] | None] | None,
) -> None:
    """Install (or with None remove) the :data:`external_parent` hook."""
    global external_parent
    external_parent = hook


#: Applies the attributes propagated in this context to an observation just started (set by
#: :mod:`.propagation` the first time a block is entered: until then starting pays nothing).
propagation_hook: Callable[[Any], None] | None = None


def set_propagation_hook(hook: Callable[[Any], None] | None) -> None:
    """Install (or with None remove) the :data:`propagation_hook`."""
    global propagation_hook
    propagation_hook = hook


#: Wraps a function so that each call runs in an observation like a given handle (a handle used
#: as a decorator); installed by :mod:`.as_decorator`, which sits above the handle's module.
as_decorator: Callable[[Any, Any], Any] | None = None


def set_as_decorator(hook: Callable[[Any, Any], Any] | None) -> None:
    """Install (or with None remove) the :data:`as_decorator` hook."""
    global as_decorator
    as_decorator = hook


def adopt_external_parent(obs: Any, parent: Any) -> None:
    """Hang ``obs`` below a span of another tracer when the hook says it is the innermost parent.

    The hook (:data:`external_parent`, set by the OpenTelemetry bridge) returns
    ``(trace_id, parent_span_id, remote)`` or None.
    """
    hook = external_parent
    try:
        found = hook(parent) if hook is not None else None
    except Exception:
        found = None  # the hook promises not to raise; a bug there must not reach the user
    if found is None:
        return
    obs.trace_id, obs.parent_id, remote = found
    obs._root = None
    bound = obs._recorder.sample_bound
    obs._recording = bound is None or is_sampled(obs.trace_id, bound)
    if remote:
        obs._extra = {"remote_parent": True}
