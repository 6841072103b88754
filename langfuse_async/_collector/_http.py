"""What every route handler shares: the app state, the server's fixed answers, and replies."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from aiohttp import web

from ._faults import Faults
from ._model import RecordedRequest
from ._store import AsyncStore

T = TypeVar("T")

__all__ = [
    "BAD_CREDENTIALS",
    "BAD_HEADER",
    "FORBIDDEN",
    "INGESTION_BODY_LIMIT",
    "NOT_FOUND_PAGE",
    "OTHER_BODY_LIMIT",
    "OTLP_BODY_LIMIT",
    "PROJECT_ID",
    "SERVER_VERSIONS",
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


class Work:
    """One thread for the CPU work of requests (parsing, inflating, converting, validating).

    Kept off the event loop so that health checks and other requests are answered while a
    large batch is processed; one thread, because the work holds the GIL anyway.
    """

    def __init__(self) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="langfuse-collector-work"
        )

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` on the work thread and return its result (or raise its exception)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def close(self) -> None:
        """Stop the thread once the work in hand is done."""
        self._executor.shutdown(wait=False)


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
