"""A collector on its own event loop in a thread, for tests whose code runs its own loops."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from langfuse_async.testing import Collector

T = TypeVar("T")


class ThreadedCollector:
    """``with ThreadedCollector() as c:`` runs a :class:`Collector` until the block ends."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._collector: Collector | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._stop = asyncio.Event()
            async with Collector(**self._options) as collector:
                self._collector = collector
                self._ready.set()
                await self._stop.wait()

        self._loop.run_until_complete(main())

    def __enter__(self) -> ThreadedCollector:
        self._thread.start()
        assert self._ready.wait(10), "the collector did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self._loop.close()

    @property
    def collector(self) -> Collector:
        assert self._collector is not None
        return self._collector

    def env(self, **overrides: str) -> dict[str, str]:
        """The ``LANGFUSE_*`` variables that point a client at this collector."""
        c = self.collector
        return {
            "LANGFUSE_BASE_URL": c.url,
            "LANGFUSE_PUBLIC_KEY": c.public_key,
            "LANGFUSE_SECRET_KEY": c.secret_key,
            **overrides,
        }

    def query(self, fn: Callable[[Collector], Awaitable[T]]) -> T:
        """Run ``fn(collector)`` on the collector's loop and return its result."""
        future = asyncio.run_coroutine_threadsafe(fn(self.collector), self._loop)
        return future.result(10)
