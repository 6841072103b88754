"""What every route handler shares: the app state, the server's fixed answers, and replies."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import json
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from aiohttp import web

from ._faults import Faults
from ._model import RecordedRequest
from ._store_async import AsyncStore

T = TypeVar("T")

__all__ = [
    "BAD_CREDENTIALS",
    "BAD_HEADER",
    "FORBIDDEN",
    "INGESTION_BODY_LIMIT",
    "MAX_STARTED",
    "NOT_FOUND_PAGE",
    "OTHER_BODY_LIMIT",
    "OTLP_BODY_LIMIT",
    "PROJECT_ID",
    "SERVER_VERSIONS",
    "WORK_NICENESS",
    "AppState",
    "Work",
    "dumps",
    "json_reply",
    "now_iso",
    "text_reply",
]


#: Next.js ``bodyParser.sizeLimit: "4.5mb"``.
INGESTION_BODY_LIMIT: Final = 4_718_592

#: The OTLP route has no limit on the real server; this only protects the collector's memory
#: (the official SDKs export at most 512 spans a request). It bounds the inflated body too.
OTLP_BODY_LIMIT: Final = 64 * 1024 * 1024
#: Every other route (reads, health, unknown paths) takes no body worth keeping.
OTHER_BODY_LIMIT: Final = 1024 * 1024

#: The versions the health route reports, by mode.
SERVER_VERSIONS: Final = {"v3": "3.225.4", "v4": "4.16.0"}

PROJECT_ID: Final = "local-project"

BAD_HEADER: Final = "Invalid authorization header. Confirm that you've configured the correct host."

BAD_CREDENTIALS: Final = "Invalid credentials. Confirm that you've configured the correct host."

FORBIDDEN: Final = "Access denied - insufficient permissions for this endpoint"

NOT_FOUND_PAGE: Final = (
    "<!DOCTYPE html><html><head><title>404: This page could not be found.</title></head>"
    "<body><h1>404</h1><h2>This page could not be found.</h2></body></html>"
)


def dumps(value: Any) -> str:
    # JSON.stringify's output: compact, non-ASCII kept.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def json_reply(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, dumps=dumps, headers=headers)


def text_reply(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain")


def now_iso() -> str:
    now = time.time()
    whole = int(now)
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        + f".{int((now - whole) * 1000):03d}Z"
    )


def _ready() -> bool:
    # Run once in a new work process, so that its imports happen before the first request.
    return True


#: Calls started by :meth:`Work.start_pure` and not ended, at most: one running, one waiting
#: (so the next is ready when one ends, and bursts of requests are paced, not piled up).
MAX_STARTED: Final = 2

#: How much lower than the server's own the work processes' CPU priority is (Unix ``nice``).
WORK_NICENESS: Final = 5


def _start_work_process() -> None:
    # Ctrl+C in a terminal reaches the whole process group: the server stops its work
    # processes itself, in order, rather than each printing a KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A work process's parsing is bulk work: when the machine's cores are busy, the scheduler
    # should run the event loop (health checks, small requests) before it, not take turns.
    # Only this process is lowered, never a thread sharing the loop's GIL (a descheduled GIL
    # holder would stall the loop instead).
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(WORK_NICENESS)
    # The server ended without stopping it (kill -9, the OOM killer): the pool's queues are
    # shared, so no end-of-file tells this process; the parent's sentinel does.
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(
            target=_exit_with, args=(parent.sentinel,), name="parent-watch", daemon=True
        ).start()


def _exit_with(sentinel: int) -> None:
    """Block until the process behind ``sentinel`` ends, then end this one at once."""
    multiprocessing.connection.wait([sentinel])
    os._exit(0)  # nothing to save: the work of a server that is gone


class Work:
    """Where the CPU work of requests runs (parsing, inflating, converting, validating).

    Kept off the event loop so that health checks and other requests are answered while a
    large batch is processed. By default one thread (the work holds the GIL, so more threads
    would not help). With ``processes`` > 0, :meth:`run_pure` work goes to that many worker
    processes instead: it then runs beside the event loop and the store rather than taking
    turns with them, which is what ``langfuse-async serve`` does.

    Args:
        processes: Worker processes for :meth:`run_pure` (0: the work thread).
    """

    def __init__(self, *, processes: int = 0) -> None:
        self._thread = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="langfuse-collector-work"
        )
        self._processes: concurrent.futures.ProcessPoolExecutor | None = None
        self._started_slots = asyncio.Semaphore(MAX_STARTED)
        if processes > 0:
            # spawn: a fork of a process running threads (the loop's, the store's) is unsafe.
            self._processes = concurrent.futures.ProcessPoolExecutor(
                max_workers=processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_work_process,
            )

    async def start(self, warm_up: Callable[[], object] = _ready) -> None:
        """Start the worker processes, if any, and wait until they can take work.

        Args:
            warm_up: A module-level function that imports what the work needs. With worker
                processes it runs in them and on the work thread before the first request:
                imports (a tenth of a second for protobuf) would otherwise take turns with
                the event loop, on its first use, for the GIL.
        """
        if self._processes is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._processes, warm_up)
            await loop.run_in_executor(self._thread, warm_up)

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` on the work thread and return its result (or raise its exception)."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn)

    async def run_pure(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in a worker process if there are any, else on the work thread.

        ``fn`` must be a module-level function, and its arguments and result picklable.
        """
        executor = self._processes if self._processes is not None else self._thread
        return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)

    async def start_pure(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        """Start ``fn(*args)`` where :meth:`run_pure` runs it, without waiting for it to end.

        At most :data:`MAX_STARTED` calls run or wait to run at a time: past that, this
        waits for one to end first (the caller's client waits for its answer meanwhile).

        Returns:
            Its future, which any thread may wait on.
        """
        await self._started_slots.acquire()
        executor = self._processes if self._processes is not None else self._thread
        loop = asyncio.get_running_loop()
        try:
            future = executor.submit(fn, *args)
        except BaseException:
            self._started_slots.release()
            raise

        def done(_: concurrent.futures.Future[T]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing waits
                loop.call_soon_threadsafe(self._started_slots.release)

        future.add_done_callback(done)
        return future

    def close(self) -> None:
        """Stop the thread and the processes once the work in hand is done."""
        self._thread.shutdown(wait=False)
        if self._processes is not None:
            self._processes.shutdown(wait=False, cancel_futures=True)


@dataclasses.dataclass
class AppState:
    """What the handlers share with the :class:`Collector` that owns them."""

    store: AsyncStore
    faults: Faults
    public_key: str
    secret_key: str = dataclasses.field(repr=False)
    mode: str
    on_request: Callable[[RecordedRequest], Awaitable[None]]
    on_accepted: Callable[[list[str]], Awaitable[None]]
    work: Work = dataclasses.field(default_factory=Work)
