"""HTTP for the delivery worker: one aiohttp session, exceptions mapped at one boundary.

The transport is the one a real network needs: ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY``
honoured unless an explicit proxy is given, TLS verified by default (``ssl=`` takes a context
for a private CA, or ``False``, which the client warns about once when built), and the user's
extra headers on every request.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import ssl as _ssl
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Mapping

import aiohttp
import yarl

__all__ = ["MAX_REPLY_BYTES", "WRITE_PIECE_BYTES", "HttpClient", "HttpError", "Response"]

logger = logging.getLogger("langfuse_async")

#: The most of a reply that is read. A 207 lists one entry per failed event; a full 3.5 MB
#: batch of the smallest events (~150 bytes each, ~23,000 of them) refused with the server's
#: validation details (up to ~1 KB each) needs about 23 MB. A longer reply (a runaway proxy
#: page) is cut here and marked incomplete, never taken for a complete answer.
MAX_REPLY_BYTES = 32 << 20

#: Bodies larger than this are written a piece at a time when the caller paces the write. A
#: socket write copies the whole body into the kernel (and over TLS encrypts it) inside the
#: call: one write of a 2 MB batch held the event loop for 1.5-2 ms on loopback, more on a busy
#: machine, and a 3.5 MB batch over TLS longer still.
WRITE_PIECE_BYTES = 256 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class Response:
    """An HTTP reply.

    Attributes:
        status: The HTTP status.
        headers: The headers, names in lower case.
        body: The body, at most :data:`MAX_REPLY_BYTES` of it.
        complete: False when the body was longer than the limit and was cut.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes
    complete: bool = True


class HttpError(Exception):
    """No complete HTTP reply: connection refused or dropped, DNS or TLS failure, or timeout.

    Attributes:
        timeout: The request timed out.
        maybe_sent: The request may have reached the server (it was sent, or sending had
            begun, when it failed): its events may have been stored.
        final: Retrying cannot help (the server's certificate was refused).
    """

    def __init__(
        self, message: str, *, timeout: bool = False, maybe_sent: bool = True, final: bool = False
    ) -> None:
        super().__init__(message)
        self.timeout = timeout
        self.maybe_sent = maybe_sent
        self.final = final


class HttpClient:
    """Sends requests on a session bound to the loop it was first used on.

    The session is created lazily inside the running loop (aiohttp sessions belong to one loop)
    and closed by :meth:`aclose`; a client used on a later loop gets a new session. Redirects
    are never followed: aiohttp would turn a redirected POST into a GET without the body, and
    the GET's answer would then pass for the batch's.
    """

    def __init__(
        self,
        *,
        public_key: str,
        secret_key: str,
        timeout: float,
        ssl: _ssl.SSLContext | bool = True,
        proxy: str | None = None,
        trust_env: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        token = base64.b64encode(f"{public_key}:{secret_key}".encode()).decode("ascii")
        self._authorization = "Basic " + token
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._ssl = ssl
        self._proxy = proxy
        self._trust_env = trust_env
        self._headers = dict(headers or {})
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._proxies: dict[tuple[str, str], tuple[yarl.URL | None, Mapping[str, str] | None]] = {}

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
                connector=aiohttp.TCPConnector(limit=8, ssl=self._ssl),
                auto_decompress=True,
                # Proxies are chosen by _proxy_for: aiohttp's trust_env would also read
                # ~/.netrc through the loop's default executor on every request, which
                # refuses work at interpreter exit (the exit flush).
                trust_env=False,
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
        turn: Callable[[], float] | None = None,
    ) -> Response:
        """Send one request and read the whole reply.

        With ``turn`` (how long the write may hold the loop at a time, in seconds), a body
        larger than :data:`WRITE_PIECE_BYTES` is written in pieces, and other tasks run
        whenever the pieces written since they last did took that long.

        Raises:
            HttpError: No reply was received (network failure or timeout).
        """
        all_headers = dict(self._headers)
        all_headers.update(headers or {})
        if authenticated:
            all_headers["Authorization"] = self._authorization
        data: bytes | AsyncIterator[memoryview] | None = body
        if turn is not None and body is not None and len(body) > WRITE_PIECE_BYTES:
            # Its length given, so the pieces go out as one plain body, not chunked encoding.
            all_headers["Content-Length"] = str(len(body))
            data = _paced_pieces(body, turn)
        session = await self._get_session()
        proxy, proxy_headers = self._proxy_for(url)
        try:
            async with session.request(
                method,
                url,
                data=data,
                headers=all_headers,
                allow_redirects=False,
                proxy=proxy,
                proxy_headers=proxy_headers,
            ) as resp:
                data, complete = await _read_capped(resp.content, MAX_REPLY_BYTES)
                return Response(
                    status=resp.status,
                    headers={k.lower(): v for k, v in resp.headers.items()},
                    body=data,
                    complete=complete,
                )
        except aiohttp.ClientConnectorCertificateError as exc:
            # Retrying cannot fix a certificate: final, and said once, with its cause.
            raise HttpError(_tls_message(exc), maybe_sent=False, final=True) from exc
        except aiohttp.ClientConnectorError as exc:
            # No connection was made (refused, DNS, unreachable): nothing was sent.
            raise HttpError(f"{type(exc).__name__}: {exc}", maybe_sent=False) from exc
        except aiohttp.ConnectionTimeoutError as exc:
            raise HttpError("connecting timed out", timeout=True, maybe_sent=False) from exc
        except asyncio.TimeoutError as exc:
            raise HttpError("request timed out", timeout=True) from exc
        except aiohttp.ClientError as exc:
            raise HttpError(f"{type(exc).__name__}: {exc}") from exc
        except OSError as exc:
            raise HttpError(f"{type(exc).__name__}: {exc}") from exc

    def _proxy_for(self, url: str) -> tuple[yarl.URL | None, Mapping[str, str] | None]:
        """The proxy for ``url``: the explicit one, else ``HTTP(S)_PROXY`` unless ``NO_PROXY``."""
        target = yarl.URL(url)
        key = (target.scheme, target.host or "")
        found = self._proxies.get(key)
        if found is None:
            found = _choose_proxy(self._proxy, self._trust_env, target)
            self._proxies[key] = found
        return found

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


async def _paced_pieces(body: bytes, turn: Callable[[], float]) -> AsyncIterator[memoryview]:
    """``body`` in pieces of :data:`WRITE_PIECE_BYTES`, other tasks running once per ``turn``.

    Each piece is written (into the socket) between two yields of this generator, so the time
    measured since the last pause is the time the writes held the loop.
    """
    view = memoryview(body)
    turn_end = time.perf_counter() + turn()
    for start in range(0, len(view), WRITE_PIECE_BYTES):
        if start and time.perf_counter() >= turn_end:
            await asyncio.sleep(0)
            turn_end = time.perf_counter() + turn()
        yield view[start : start + WRITE_PIECE_BYTES]


async def _read_capped(stream: aiohttp.StreamReader, limit: int) -> tuple[bytes, bool]:
    """Read a body to its end, keeping at most ``limit`` bytes; say whether it was all of it.

    ``StreamReader.read(n)`` returns what has arrived so far, not ``n`` bytes: one call would
    cut a reply that comes in several pieces.
    """
    parts: list[bytes] = []
    size = 0
    while size < limit:
        part = await stream.read(limit - size)
        if not part:
            return b"".join(parts), True
        parts.append(part)
        size += len(part)
    complete = stream.at_eof() or not await stream.read(1)
    return b"".join(parts), complete


def _tls_message(exc: aiohttp.ClientError) -> str:
    cause = getattr(exc, "certificate_error", None) or exc.__cause__ or exc
    reason = getattr(cause, "verify_message", None) or getattr(cause, "reason", None) or cause
    return (
        f"TLS certificate verification failed: {reason}; for a server with a private CA pass "
        "ssl=ssl.create_default_context(cafile=...)"
    )


def _choose_proxy(
    explicit: str | None, trust_env: bool, target: yarl.URL
) -> tuple[yarl.URL | None, Mapping[str, str] | None]:
    """The proxy for ``target``, and its credentials taken out of the URL as a header.

    An explicit proxy is used for every request. Otherwise, with ``trust_env``, the
    environment decides as for the official SDK (httpx) and ``requests``: ``HTTPS_PROXY`` or
    ``HTTP_PROXY`` by scheme (``ALL_PROXY`` as a fallback), unless ``NO_PROXY`` names the host.
    """
    if explicit is not None:
        chosen: str | None = explicit
    elif trust_env:
        proxies = urllib.request.getproxies_environment()
        if _bypassed(target.host or "", proxies.get("no", "")):
            return None, None
        chosen = proxies.get(target.scheme) or proxies.get("all")
    else:
        chosen = None
    if not chosen:
        return None, None
    proxy = yarl.URL(chosen)
    if proxy.user is None:
        return proxy, None
    token = base64.b64encode(f"{proxy.user}:{proxy.password or ''}".encode()).decode("ascii")
    return proxy.with_user(None), {"Proxy-Authorization": "Basic " + token}


def _bypassed(host: str, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` names ``host``: ``*``, the host, or a domain it is under."""
    host = host.lower().rstrip(".")
    for entry in no_proxy.split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        if not entry.startswith("[") and entry.count(":") == 1:
            entry = entry.split(":", 1)[0]  # host:port; the port is not told apart
        entry = entry.strip("[]").lstrip(".").rstrip(".")
        if host == entry or host.endswith("." + entry):
            return True
    return False
