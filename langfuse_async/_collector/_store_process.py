"""The store in a process of its own, called in order from one thread of the server's process.

``langfuse-async serve`` runs its collector this way: the store's work (SQLite, and above all
the merging of entity documents, Python that holds the GIL) then no longer shares the event
loop's GIL. On a busy machine a GIL holder descheduled by the OS stalls every other thread of
its process for a timeslice: with the store in the loop's process, the health route waited
for it now and then.

The protocol is one request, one reply, over a pipe: a pickled ``(function, args, kwargs)``
runs as ``function(store, *args, **kwargs)`` in the store's process, and its pickled result or
exception comes back. Only one thread of the server calls (the store's proxy thread, see
:class:`._store_async.AsyncStore`), so calls run in the order they came, as on the store's thread.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, Final, Protocol, TypeVar

__all__ = ["StoreProcess", "StoreProcessGone", "StoreTraceback", "process_id"]

T = TypeVar("T")

#: Seconds a closing store process has to end once its database is closed.
_JOIN_TIMEOUT: Final = 10.0

_CLOSE: Final = b""
#: Arguments of at least this many bytes (an export's prepared rows) go out of band: written
#: from their own buffer after the call, not copied into its pickle. The copy held the GIL on
#: the store's thread for about a millisecond an export; descheduled meanwhile on a busy
#: machine, that thread stalled the event loop for a scheduler's timeslice.
_OUT_OF_BAND: Final = 64 * 1024


def _out_of_band(args: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(
        pickle.PickleBuffer(arg) if type(arg) is bytes and len(arg) >= _OUT_OF_BAND else arg
        for arg in args
    )


class StoreProcessGone(RuntimeError):
    """The store's process ended while the collector still needed it."""


class StoreTraceback(Exception):
    """The traceback of an exception raised in the store's process (set as its cause)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return self.text


class _Closable(Protocol):
    """What the process needs of the store it opens: its calls' first argument."""

    def close(self) -> None: ...


def process_id(store: object) -> int:
    """The id of the process a store runs in (what tests check)."""
    return os.getpid()


def _failure(exc: BaseException) -> bytes:
    text = "".join(traceback.format_exception(exc))
    try:
        data = pickle.dumps((False, exc, text), pickle.HIGHEST_PROTOCOL)
        pickle.loads(data)  # an exception that cannot come back is replaced
    except Exception:
        replaced = RuntimeError(f"{type(exc).__name__}: {exc}")
        data = pickle.dumps((False, replaced, text), pickle.HIGHEST_PROTOCOL)
    return data


def _serve(
    conn: Connection,
    open_store: Callable[[str], _Closable],
    path: str,
    warm_up: Callable[[], object] | None,
) -> None:
    # The server's process decides when this one ends: Ctrl+C, sent to the whole process
    # group, must not stop a write half-way while the server closes in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        store = open_store(path)
    except BaseException as exc:
        conn.send_bytes(_failure(exc))
        return
    try:
        if warm_up is not None:
            warm_up()
        conn.send_bytes(pickle.dumps((True, os.getpid()), pickle.HIGHEST_PROTOCOL))
        while True:
            try:
                message = conn.recv_bytes()
            except EOFError:  # the server's process is gone: nothing will call again
                return
            if message == _CLOSE:
                return
            # A call: how many out-of-band buffers follow it, then its pickle (the server's own).
            buffers = [conn.recv_bytes() for _ in range(message[0])]
            try:
                fn, args, kwargs = pickle.loads(memoryview(message)[1:], buffers=buffers)
                data = pickle.dumps((True, fn(store, *args, **kwargs)), pickle.HIGHEST_PROTOCOL)
            except BaseException as exc:
                data = _failure(exc)
            conn.send_bytes(data)
    finally:
        store.close()
        with contextlib.suppress(OSError):
            conn.send_bytes(_CLOSE)  # closed: the server may go on


class StoreProcess:
    """A store (:class:`._store.Store`) in a spawned process, called from one thread.

    Args:
        open_store: A module-level callable (the store's class) that opens the store given
            ``path``, in the process.
        path: The database path (``":memory:"`` keeps it in the store process's memory).
        warm_up: A module-level function run in the process once the database is open:
            what imports the modules of the functions it will be called with. Otherwise
            the first call of each imports them (the first read, a few tenths of a second).
    """

    def __init__(
        self,
        open_store: Callable[[str], _Closable],
        path: str,
        *,
        warm_up: Callable[[], object] | None = None,
    ) -> None:
        self._open_store = open_store
        self._path = path
        self._warm_up = warm_up
        self._conn: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self.pid: int | None = None

    def start(self) -> None:
        """Spawn the process and open the database there (blocks until it is open).

        Raises:
            Exception: What opening the database raised (e.g. :class:`sqlite3.Error`).
        """
        # spawn: a fork of a process running threads (the loop's, the work's) is unsafe.
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(theirs, self._open_store, self._path, self._warm_up),
            name="langfuse-collector-store",
            daemon=True,  # never outlives the server, even one that did not close it
        )
        try:
            process.start()
        finally:
            theirs.close()  # only the child holds it now: its end closing is an EOF here
        self._conn, self._process = ours, process
        try:
            self.pid = self._reply()
        except BaseException:
            self.close()
            raise

    def _reply(self) -> Any:
        conn = self._conn
        if conn is None:
            raise StoreProcessGone("the collector's store process is closed")
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            raise self._gone() from None
        reply = pickle.loads(data)  # the store process's own reply
        if reply[0]:
            return reply[1]
        _, exc, text = reply
        exc.__cause__ = StoreTraceback(text)
        raise exc

    def _gone(self) -> StoreProcessGone:
        process = self._process
        if process is not None:
            process.join(_JOIN_TIMEOUT)
        code = None if process is None else process.exitcode
        return StoreProcessGone(f"the collector's store process ended (exit code {code})")

    def call(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        """Run ``fn(store, *args, **kwargs)`` in the store's process and return its result.

        ``fn`` must be a module-level function (or a method of :class:`Store`), its arguments
        and result picklable. What it raises is raised here, its traceback as its cause.
        """
        conn = self._conn
        if conn is None:
            raise StoreProcessGone("the collector's store process is closed")
        buffers: list[pickle.PickleBuffer] = []
        message = pickle.dumps((fn, _out_of_band(args), kwargs), 5, buffer_callback=buffers.append)
        try:
            conn.send_bytes(bytes((len(buffers),)) + message)
            for buffer in buffers:
                conn.send_bytes(buffer.raw())
        except OSError:
            raise self._gone() from None
        result: T = self._reply()
        return result

    def close(self) -> None:
        """Close the database and wait for the process to end."""
        conn, process = self._conn, self._process
        self._conn = None
        if conn is not None:
            with contextlib.suppress(OSError, EOFError):
                conn.send_bytes(_CLOSE)
                # Its answer says the database is closed (or the process is gone).
                while conn.recv_bytes() != _CLOSE:
                    pass
            conn.close()
        if process is not None:
            process.join(_JOIN_TIMEOUT)
            if process.exitcode is None:
                process.kill()
                process.join()
            process.close()
            self._process = None
