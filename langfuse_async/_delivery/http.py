"""HTTP for the delivery worker: one aiohttp session, exceptions mapped at one boundary."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from collections.abc import Mapping

import aiohttp

__all__ = ["HttpClient", "HttpError", "Response"]

#: Replies from Langfuse are small; a runaway proxy page must not fill memory.
_MAX_REPLY_BYTES = 1 << 20


@dataclasses.dataclass(frozen=True, slots=True)
class Response:
    """A complete HTTP reply."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class HttpError(Exception):
    """No HTTP reply: connection refused or dropped, DNS failure, or timeout. Retryable."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


class HttpClient:
    """Sends requests on a session bound to the loop it was first used on.

    The session is created lazily inside the running loop (aiohttp sessions belong to one loop)
    and closed by :meth:`aclose`; a client used on a later loop gets a new session. Redirects
    are never followed: aiohttp would turn a redirected POST into a GET without the body, and
    the GET's answer would then pass for the batch's.
    """

    def __init__(self, *, public_key: str, secret_key: str, timeout: float) -> None:
        token = base64.b64encode(f"{public_key}:{secret_key}".encode()).decode("ascii")
        self._authorization = "Basic " + token
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"<HttpClient open={self._session is not None and not self._session.closed}>"

    async def _get_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            old, old_loop = self._session, self._loop
            if old is not None and not old.closed and old_loop is not None and old_loop.is_closed():
                # Its loop was closed under it: closing it now touches no loop, and spares the
                # "Unclosed client session" warning when it is collected.
                await _close_quietly(old)
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=8),
                auto_decompress=True,
            )
            self._loop = loop
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        authenticated: bool = True,
    ) -> Response:
        """Send one request and read the whole reply.

        Raises:
            HttpError: No reply was received (network failure or timeout).
        """
        all_headers = dict(headers or {})
        if authenticated:
            all_headers["Authorization"] = self._authorization
        session = await self._get_session()
        try:
            async with session.request(
                method, url, data=body, headers=all_headers, allow_redirects=False
            ) as resp:
                data = await _read_capped(resp.content, _MAX_REPLY_BYTES)
                return Response(
                    status=resp.status,
                    headers={k.lower(): v for k, v in resp.headers.items()},
                    body=data,
                )
        except asyncio.TimeoutError as exc:
            raise HttpError("request timed out", timeout=True) from exc
        except aiohttp.ClientError as exc:
            raise HttpError(f"{type(exc).__name__}: {exc}") from exc
        except OSError as exc:
            raise HttpError(f"{type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        """Close the session, on the loop it belongs to."""
        session, loop = self._session, self._loop
        self._session = None
        if session is None or session.closed:
            return
        if loop is None or loop is asyncio.get_running_loop() or loop.is_closed():
            await _close_quietly(session)
        elif loop.is_running():
            # Its connections belong to that loop: let it close them.
            asyncio.run_coroutine_threadsafe(_close_quietly(session), loop)


async def _close_quietly(session: aiohttp.ClientSession) -> None:
    try:
        await session.close()
    except Exception:  # closing must never fail shutdown
        pass


async def _read_capped(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """Read a body to its end, keeping at most ``limit`` bytes.

    ``StreamReader.read(n)`` returns what has arrived so far, not ``n`` bytes: one call would
    cut a reply that comes in several pieces.
    """
    parts: list[bytes] = []
    size = 0
    while size < limit:
        part = await stream.read(limit - size)
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)
