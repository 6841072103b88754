"""With-block bookkeeping: entering and leaving the blocks inside which a handle is current.

The innermost current observation lives in one ``ContextVar``
(:data:`~langfuse_async._tracing.observations.CURRENT`, declared next to the handle it holds).
Its trace (id, sampling decision and merged trace attributes) is reached through the
observation itself, so entering and leaving an observation is one ``get`` and two ``set`` calls.
This module is a leaf: it knows a handle only as a :class:`Scope`.

Leaving never uses ``ContextVar.reset``: a token is bound to the context that made it, and code
that resumes in another context (an async generator consumed by another task, a streaming
response) would fail with "token was created in a different Context". Instead the previous value
is restored with ``set``, and only when the observation being left is still the current one in
this context; if it is not, the context belongs to someone else and is left untouched.

That other context may then still name the observation as current after its block ended: a
``with`` block spanning a ``yield`` of a generator that another task finished leaves it behind
in the task that started it. Such an observation is marked as escaped, and readers skip from it
to what was current before that block was entered (:func:`live`), so the stale value is never
used as a parent. Entering it again makes it usable as a parent again.
"""

from __future__ import annotations

import asyncio
import os
import threading
from asyncio import _get_running_loop
from contextvars import ContextVar
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["Scope", "enter", "leave", "live"]

S = TypeVar("S", bound="Scope")

# Guards the list of open blocks of a handle entered by several threads at once (rare). The
# common single entry needs no lock: it is read and replaced with no call in between, which
# the GIL does not interrupt.
_entries_lock = threading.Lock()


def _new_entries_lock_in_child() -> None:
    # A lock held by another thread at fork() stays held in the child, where that thread is
    # gone: the child gets a new one.
    global _entries_lock
    _entries_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_entries_lock_in_child)

# Escaped handles chain through what was current when they were entered. A handle entered
# again inside its own block by other tasks could link such a chain into a loop; the walk is
# bounded so that a reader can never hang on it.
_MAX_SKIPS = 1_000


class Scope:
    """What the with-block bookkeeping keeps on a handle (the base of the observation handle)."""

    __slots__ = ("_entries", "_escaped", "_prev")

    _escaped: bool
    """True while a context may still name this handle as current after its block ended."""
    _prev: Self | None
    """Where readers skip to while the handle is escaped; set only with ``_escaped``."""
    _entries: tuple[object, Self | None] | list[tuple[object, Self | None]] | None
    """The ``with`` blocks inside which it is current: who entered each (a task, or a thread's
    id) and what was current before. One entry alone, a list only while several blocks are
    open at once (most handles are entered once, or never)."""


def _current_owner() -> object:
    """The task running now, or the thread's id outside any task: who entered a ``with`` block."""
    loop = _get_running_loop()
    if loop is not None:
        task = asyncio.current_task(loop)
        if task is not None:
            return task
    return threading.get_ident()


def live(obs: S | None) -> S | None:
    """Skip escaped handles (see the module docstring) to the one current before them."""
    skips = 0
    while obs is not None and obs._escaped:
        skips += 1
        if skips > _MAX_SKIPS:
            return None
        obs = obs._prev
    return obs


def enter(current: ContextVar[S | None], scope: S) -> None:
    """Make ``scope`` current in this context, remembering what to restore when it is left."""
    entry = (_current_owner(), current.get())
    # One handle may be inside several blocks at once (entered again inside its own block,
    # or by concurrent tasks), so each block keeps what it must restore.
    entries = scope._entries
    if entries is None:
        scope._entries = entry
    elif isinstance(entries, tuple):
        scope._entries = [entries, entry]
    else:
        entries.append(entry)
    scope._escaped = False
    current.set(scope)


def leave(current: ContextVar[S | None], scope: S) -> None:
    """Leave the block of ``scope`` that this task (or thread) entered last."""
    here = current.get()
    owner = _current_owner()
    entries = scope._entries
    if isinstance(entries, tuple):
        scope._entries = None
        entered_by, prev = entries
        # Restore only when this context still has us as current; otherwise the blocks
        # were left out of order and the context is someone else's now. Left in another
        # task than the one that entered (a generator resumed elsewhere), the context
        # that entered still names us.
        restored = here is scope and entered_by == owner
    elif entries:
        # Several blocks open at once: leave this task's innermost one, else the
        # innermost of all (this task did not enter any: a generator resumed elsewhere).
        # Threads may leave blocks of the same handle at once; the search and the removal
        # must see one list.
        with _entries_lock:
            index = len(entries) - 1
            while index >= 0 and entries[index][0] != owner:
                index -= 1
            prev = entries.pop(index)[1] if entries else None
        restored = index >= 0 and here is scope
    else:
        prev = None  # left without being entered
        restored = False
    if here is scope:
        current.set(prev)
    if not restored and prev is not scope:
        # The context that entered this block may still name us: readers there skip to
        # what it had before. (When that was us, an outer block is still open there.)
        scope._prev = prev
        scope._escaped = True
