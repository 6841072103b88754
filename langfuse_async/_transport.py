"""HTTP for the delivery worker: one aiohttp session, exceptions mapped at one boundary."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from collections.abc import Mapping

import aiohttp

__all__ = ["HttpClient", "Response", "TransportError"]

#: Replies from Langfuse are small; a runaway proxy page must not fill memory.
_MAX_REPLY_BYTES = 1 << 20


@dataclasses.dataclass(frozen=True, slots=True)
class Response:
    """A complete HTTP reply."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class TransportError(Exception):
    """No HTTP reply: connection refused or dropped, DNS failure, or timeout. Retryable."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


class HttpClient:
    """Sends requests on a session bound to the loop it was first used on.

    The session is created lazily inside the running loop (aiohttp sessions belong to one loop)
    and closed by :meth:`aclose`; a client used on a later loop gets a new session.
    """

    def __init__(self, *, public_key: str, secret_key: str, timeout: float) -> None:
        token = base64.b64encode(f"{public_key}:{secret_key}".encode()).decode("ascii")
        self._authorization = "Basic " + token
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"<HttpClient open={self._session is not None and not self._session.closed}>"

    def _get_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
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
            TransportError: No reply was received (network failure or timeout).
        """
        all_headers = dict(headers or {})
        if authenticated:
            all_headers["Authorization"] = self._authorization
        session = self._get_session()
        try:
            async with session.request(method, url, data=body, headers=all_headers) as resp:
                data = await resp.content.read(_MAX_REPLY_BYTES)
                return Response(
                    status=resp.status,
                    headers={k.lower(): v for k, v in resp.headers.items()},
                    body=data,
                )
        except asyncio.TimeoutError as exc:
            raise TransportError("request timed out", timeout=True) from exc
        except aiohttp.ClientError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        except OSError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        """Close the session, if one is open on the running loop."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            try:
                await session.close()
            except Exception:  # closing must never fail shutdown
                pass
