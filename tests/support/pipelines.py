"""A delivery pipeline aimed at a test server, the balance every delivery test checks, and
senders that script what a request does (the worker's seam: no monkeypatching)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any

from langfuse_async._config import resolve_config
from langfuse_async._delivery.http import HttpClient
from langfuse_async._delivery.inflight import Item
from langfuse_async._delivery.pipeline import Pipeline
from langfuse_async._delivery.routing import Route
from langfuse_async._delivery.sender import HttpSender, SendOutcome
from langfuse_async._wire.context import WireContext


def make_pipeline(
    url: str, *, on_error: Any = None, sender: Any = None, **options: Any
) -> Pipeline:
    args: dict[str, Any] = dict(
        public_key="pk-test",
        secret_key="sk-test",
        base_url=url,
        flush_interval=0.05,
        backoff_base=0.001,
        backoff_max=0.01,
        transport="ingestion",
    )
    args.update(options)
    return Pipeline(resolve_config(**args, environ={}), on_error, sender=sender)


def balanced(p: Pipeline) -> bool:
    s = p.statistics()
    return s.pending == 0 and s.enqueued == s.delivered + s.failed + s.dropped


Script = Callable[[Sequence[Item], Route], Awaitable[SendOutcome | None]]


class ScriptedSender:
    """A ``Sender`` whose async ``script`` decides each request: an outcome, a raise, or None.

    None sends the batch for real to ``url`` (when given), so a test scripts only the requests
    it is about. Use as ``async with``: the real sender's session is closed at the end.
    """

    def __init__(self, script: Script, *, url: str | None = None) -> None:
        self._script = script
        self._http = HttpClient(public_key="pk-test", secret_key="sk-test", timeout=5.0)
        self._real = (
            None
            if url is None
            else HttpSender(self._http, base_url=url, ctx=WireContext(public_key="pk-test"))
        )
        self.requests: list[tuple[Route, list[str]]] = []
        """Each request: its route and the envelope ids of its events, in order."""

    async def send(self, batch: Sequence[Item], route: Route) -> SendOutcome:
        self.requests.append((route, [item.record.event_id for item in batch]))
        scripted = await self._script(batch, route)
        if scripted is not None:
            return scripted
        if self._real is None:
            raise AssertionError("request not scripted and no server to send it to")
        return await self._real.send(batch, route)

    async def __aenter__(self) -> ScriptedSender:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._http.aclose()
