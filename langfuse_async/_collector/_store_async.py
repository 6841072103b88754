"""The store awaited from the event loop: its one thread, and under ``serve`` its own process.

Every call, read or write, runs on one thread, in the order it came: writes from concurrent
requests never interleave, and a read sees every write queued before it. That thread owns the
SQLite connection, or (with worker processes, what ``serve`` runs) calls the store's process
(:mod:`._store_process`), so that the store's work never holds the event loop's GIL.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import os
import pickle
from collections.abc import Callable
from typing import Any, Concatenate, Final, ParamSpec, TypeVar, overload

from ._store import Store
from ._store_process import StoreProcess

__all__ = ["MAX_QUEUED_WRITES", "AsyncStore", "write_pickled"]

T = TypeVar("T")
A = TypeVar("A")
P = ParamSpec("P")

logger = logging.getLogger("langfuse_async")

#: Writes queued on the store's thread at most, not yet run (see :meth:`AsyncStore.queue`).
MAX_QUEUED_WRITES: Final = 4


def write_pickled(store: Store, data: bytes) -> int:
    """Write a pickled :class:`._prepare.PreparedWrite` (see :meth:`Store.write`).

    With the store in a process of its own, a worker process pickles what it prepared: the
    server's process then only passes the bytes on to the store's, instead of unpickling them
    to pickle them again while its event loop waits for the GIL.
    """
    return store.write(pickle.loads(data))  # our own worker process's bytes


class AsyncStore:
    """A :class:`Store` on its own thread, awaited from the event loop.

    Every call, read or write, runs on the one thread that owns the connection, so writes from
    concurrent requests are serialised there and never interleave. With ``process``, the
    store itself lives in a process of its own (:class:`._store_process.StoreProcess`) and
    the thread only calls it, in the same order: the store's work then never takes turns with
    the event loop for this process's GIL. Calls must then be picklable: a module-level
    function (or a :class:`Store` method) and picklable arguments and results.

    Args:
        path: The database path, or ``":memory:"``.
        process: Keep the store in a process of its own.
        warm_up: With ``process``, a module-level function that imports, in the store's
            process, the modules of the functions it will run (see :class:`StoreProcess`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        process: bool = False,
        warm_up: Callable[[], object] | None = None,
    ) -> None:
        self._path = os.fspath(path)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="langfuse-collector-db"
        )
        self._store: Store | None = None
        self._process: StoreProcess | None = (
            StoreProcess(Store, self._path, warm_up=warm_up) if process else None
        )
        self._open = False
        self._queue_slots = asyncio.Semaphore(MAX_QUEUED_WRITES)

    @property
    def in_process(self) -> bool:
        """Whether the store lives in a process of its own (calls are then pickled)."""
        return self._process is not None

    async def open(self) -> None:
        """Open the database on the store thread (in the store's process, if it has one)."""
        process = self._process
        if process is not None:
            await self._run_raw(process.start)
        else:
            self._store = await self._run_raw(lambda: Store(self._path))
        self._open = True

    async def close(self) -> None:
        """Close the database and stop the thread (and the store's process)."""
        store, process = self._store, self._process
        self._store = None
        self._open = False
        if store is not None:
            await self._run_raw(store.close)
        if process is not None:
            # After whatever the thread still runs (an open, queued writes); harmless when
            # the process never started or is closed already.
            await self._run_raw(process.close)
        self._executor.shutdown(wait=True)

    async def _run_raw(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn)

    def _call(
        self,
        store: Store | None,
        fn: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> T:
        # On the store's thread. The store was taken when the call came: a close that came
        # after it closes the store after it too, on this thread.
        if store is not None:
            return fn(store, *args, **kwargs)
        assert self._process is not None
        return self._process.call(fn, args, kwargs)

    def _open_store(self) -> Store | None:
        if not self._open:
            raise RuntimeError("the collector's store is not open")
        return self._store

    async def run(
        self, fn: Callable[Concatenate[Store, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn(store, *args, **kwargs)`` on the store thread and return its result."""
        store = self._open_store()
        return await self._run_raw(functools.partial(self._call, store, fn, args, kwargs))

    @overload
    async def queue(self, fn: Callable[[Store], object], what: str) -> None: ...

    @overload
    async def queue(
        self,
        fn: Callable[[Store, A], object],
        what: str,
        argument: concurrent.futures.Future[A],
    ) -> None: ...

    async def queue(
        self,
        fn: Callable[..., object],
        what: str,
        argument: concurrent.futures.Future[Any] | None = None,
    ) -> None:
        """Queue ``fn(store)`` on the store thread without waiting for it to run.

        With ``argument``, the thread waits for that future (a conversion in a worker
        process, say) and runs ``fn(store, its result)``.

        The thread runs calls in the order they came, so whatever is run or queued after this
        returns (every read) sees what ``fn`` wrote. At most :data:`MAX_QUEUED_WRITES` calls
        wait at a time: past that, this waits for a slot (the client waits for its answer).
        A failure (the future's included) is logged, naming ``what`` was written.
        """
        store = self._open_store()
        await self._queue_slots.acquire()
        loop = asyncio.get_running_loop()

        def job() -> object:
            args = () if argument is None else (argument.result(),)
            return self._call(store, fn, args, {})

        def done(future: concurrent.futures.Future[object]) -> None:
            exc = None if future.cancelled() else future.exception()
            if exc is not None:
                logger.error("collector: storing %s failed", what, exc_info=exc)
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing waits
                loop.call_soon_threadsafe(self._queue_slots.release)

        try:
            future = self._executor.submit(job)
        except BaseException:
            self._queue_slots.release()
            raise
        future.add_done_callback(done)
