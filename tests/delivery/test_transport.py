"""Transport for real networks (issue 9, section 5): proxies from the environment, TLS verified
by default with an ``ssl=`` option, a certificate failure final and said once, extra headers."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import ssl
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec
import pytest
import trustme
import yarl
from aiohttp import web

from langfuse_async import Langfuse
from langfuse_async._delivery.http import (
    WRITE_PIECE_BYTES,
    HttpClient,
    HttpError,
    _bypassed,
    _choose_proxy,
)
from langfuse_async._delivery.inflight import Item
from langfuse_async._delivery.sender import HttpSender
from langfuse_async._outcomes import EventError
from langfuse_async._wire import ingestion, otlp
from langfuse_async._wire.context import WireContext
from langfuse_async._wire.ingestion import INGESTION_PATH
from tests.support import factories
from tests.support.fake_langfuse import INGESTION, FakeLangfuse
from tests.support.pipelines import balanced, make_pipeline

pytestmark = pytest.mark.anyio

CTX = WireContext(public_key="pk-test")


def _client(**options: Any) -> HttpClient:
    return HttpClient(public_key="pk-test", secret_key="sk-test", timeout=5.0, **options)


def _items(n: int = 1) -> list[Item]:
    items = []
    for seq in range(1, n + 1):
        item = Item(seq, factories.observation())
        item.ingestion = ingestion.encode_event(item.record, CTX)
        items.append(item)
    return items


# Proxies ------------------------------------------------------------------------------------


def test_no_proxy_names_hosts_domains_and_everything() -> None:
    assert _bypassed("127.0.0.1", "localhost, 127.0.0.1")
    assert _bypassed("cloud.langfuse.com", ".langfuse.com")
    assert _bypassed("cloud.langfuse.com", "langfuse.com:443")
    assert _bypassed("anything", "*")
    assert not _bypassed("notlangfuse.com", "langfuse.com")
    assert not _bypassed("cloud.langfuse.com", "")


def test_the_proxy_comes_from_the_environment_by_scheme_and_its_credentials_become_a_header(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://user:pa55@proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost")
    proxy, headers = _choose_proxy(None, True, yarl.URL("https://cloud.langfuse.com/x"))
    assert str(proxy) == "http://proxy.internal:3128"
    assert headers == {"Proxy-Authorization": "Basic dXNlcjpwYTU1"}
    assert _choose_proxy(None, True, yarl.URL("http://cloud.langfuse.com/x")) == (None, None)
    assert _choose_proxy(None, True, yarl.URL("https://localhost/x")) == (None, None)
    assert _choose_proxy(None, False, yarl.URL("https://cloud.langfuse.com/x")) == (None, None)
    explicit, _ = _choose_proxy("http://p:1", False, yarl.URL("https://localhost/x"))
    assert str(explicit) == "http://p:1"


async def test_requests_go_through_http_proxy_unless_no_proxy_names_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    async with FakeLangfuse() as proxy, FakeLangfuse() as server:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        http = _client()
        try:
            sender = HttpSender(http, base_url=server.url, ctx=CTX)
            out = await sender.send(_items(), "ingestion")
            assert len(out.delivered) == 1
            # The proxy got the request (for the server's host), the server nothing.
            assert [r.path for r in proxy.posts()] == [INGESTION_PATH]
            assert proxy.posts()[0].headers["Host"] == server.url.removeprefix("http://")
            assert server.posts() == []
        finally:
            await http.aclose()
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        http = _client()
        try:
            out = await HttpSender(http, base_url=server.url, ctx=CTX).send(_items(), "ingestion")
            assert len(out.delivered) == 1 and len(server.posts()) == 1
            assert len(proxy.posts()) == 1
        finally:
            await http.aclose()


# Extra headers ------------------------------------------------------------------------------


async def test_additional_headers_go_on_every_request_probes_included() -> None:
    async with FakeLangfuse() as server:
        http = _client(headers={"X-Team": "search", "x-tenant": "t1"})
        try:
            await http.request("GET", server.url + "/api/public/health", authenticated=False)
            await HttpSender(http, base_url=server.url, ctx=CTX).send(_items(), "ingestion")
            otlp_item = Item(9, factories.observation())
            otlp_item.span = otlp.encode_span(otlp_item.record, CTX)
            await HttpSender(http, base_url=server.url, ctx=CTX).send([otlp_item], "otlp")
        finally:
            await http.aclose()
        assert len(server.received) == 3
        for received in server.received:
            assert (received.headers["X-Team"], received.headers["x-tenant"]) == ("search", "t1")
        assert server.received[1].headers["Authorization"].startswith("Basic ")


# TLS ----------------------------------------------------------------------------------------


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def https_url(ca: trustme.CA) -> AsyncIterator[str]:
    """A loopback HTTPS server answering the ingestion route as Langfuse does."""

    async def ingest(request: web.Request) -> web.Response:
        batch = json.loads(await request.read())["batch"]
        successes = [{"id": e["id"], "status": 201} for e in batch]
        return web.json_response({"successes": successes, "errors": []}, status=207)

    app = web.Application()
    app.router.add_post(INGESTION, ingest)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _send(http: HttpClient, url: str, items: Sequence[Item]) -> Any:
    try:
        return await HttpSender(http, base_url=url, ctx=CTX).send(items, "ingestion")
    finally:
        await http.aclose()


async def test_tls_is_verified_by_default_and_a_refused_certificate_is_final(
    https_url: str,
) -> None:
    http = _client()
    with pytest.raises(HttpError) as caught:
        await http.request("POST", https_url + INGESTION, body=b"{}")
    await http.aclose()
    assert caught.value.final and not caught.value.maybe_sent
    assert "certificate verif" in str(caught.value).lower()
    out = await _send(_client(), https_url, _items(2))
    assert out.retry == [] and [f.reason for f in out.failed] == ["rejected", "rejected"]
    assert out.tls is not None and "ssl=ssl.create_default_context" in out.tls


async def test_a_private_ca_is_trusted_through_an_ssl_context(
    https_url: str, ca: trustme.CA
) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    out = await _send(_client(ssl=context), https_url, _items(2))
    assert len(out.delivered) == 2


async def test_ssl_false_sends_and_warns_once(
    https_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    errors: list[EventError] = []
    with caplog.at_level(logging.WARNING, logger="langfuse_async"):
        langfuse = Langfuse(
            public_key="pk-test",
            secret_key="sk-test",
            base_url=https_url,
            ssl=False,
            transport="ingestion",
            on_error=errors.append,
        )
        for _ in range(2):
            with langfuse.start_as_current_observation(name="over-unverified-tls"):
                pass
            assert (await langfuse.flush(timeout=10)).completed
        await langfuse.shutdown(timeout=10)
    assert errors == [] and langfuse.statistics().delivered == 4  # 2 spans, 2 trace-creates
    warnings = [r for r in caplog.records if "verification is off" in r.getMessage()]
    assert len(warnings) == 1


async def test_the_clients_transport_options_reach_every_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    async with FakeLangfuse() as proxy, FakeLangfuse() as server:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        p = make_pipeline(server.url, transport="auto", additional_headers={"X-Gateway": "k1"})
        p.emit(factories.observation())
        assert (await p.flush(timeout=10)).completed
        await p.shutdown(timeout=10)
        # The probes and the batch, all through the proxy, all with the extra header.
        assert server.received == [] and len(proxy.received) == 3
        assert {r.headers["X-Gateway"] for r in proxy.received} == {"k1"}
        p = make_pipeline(server.url, trust_env=False)
        p.emit(factories.observation())
        assert (await p.flush(timeout=10)).completed
        await p.shutdown(timeout=10)
        assert len(server.posts()) == 1 and len(proxy.received) == 3


async def test_a_certificate_failure_is_reported_once_per_event_with_one_warning(
    https_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    errors: list[EventError] = []
    p = make_pipeline(https_url, on_error=errors.append, max_retries=5)
    with caplog.at_level(logging.WARNING, logger="langfuse_async"):
        for _ in range(3):
            p.emit(factories.observation())
            assert (await p.flush(timeout=10)).completed
    await p.shutdown(timeout=10)
    assert [(e.reason, e.possibly_delivered) for e in errors] == [("rejected", False)] * 3
    assert all("TLS certificate verification failed" in e.message for e in errors)
    assert p.statistics().requests == 3 and p.statistics().retries == 0  # never retried
    tls_warnings = [r for r in caplog.records if "TLS certificate" in r.getMessage()]
    assert len(tls_warnings) == 1
    assert balanced(p)


# Large bodies are written in pieces, paced ------------------------------------------------


@pytest.fixture
async def echo_url() -> AsyncIterator[str]:
    """A loopback server answering with what it read: the body's digest, length and framing."""

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response(
            {
                "sha256": hashlib.sha256(body).hexdigest(),
                "length": request.headers.get("Content-Length"),
                "chunked": "chunked" in request.headers.get("Transfer-Encoding", ""),
            }
        )

    app = web.Application(client_max_size=16 << 20)
    app.router.add_post("/echo", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/echo"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("turn_seconds", [0.0, 60.0])
async def test_a_large_body_is_written_in_pieces_that_let_the_loop_run_once_per_turn(
    echo_url: str, turn_seconds: float
) -> None:
    # A 2 MB batch written in one call held the loop for milliseconds (the kernel copies it
    # inside the call): it goes in pieces, pausing whenever a turn's worth of writing is done.
    body = os.urandom(8 * WRITE_PIECE_BYTES + 123)
    turns: list[float] = []

    def turn() -> float:
        turns.append(turn_seconds)
        return turn_seconds

    http = _client()
    try:
        reply = await http.request("POST", echo_url, body=body, turn=turn)
    finally:
        await http.aclose()
    seen = json.loads(reply.body)
    # The whole body, as one plain body of its length (not chunked transfer encoding).
    assert seen == {
        "sha256": hashlib.sha256(body).hexdigest(),
        "length": str(len(body)),
        "chunked": False,
    }
    # A turn of 0 s pauses before every piece but the first (nine pieces); a long turn never.
    assert len(turns) == (9 if turn_seconds == 0.0 else 1)


async def test_a_body_without_pacing_or_within_one_piece_is_written_whole(
    echo_url: str,
) -> None:
    calls: list[int] = []

    def turn() -> float:
        calls.append(1)
        return 0.0

    http = _client()
    try:
        small = os.urandom(WRITE_PIECE_BYTES)
        reply = await http.request("POST", echo_url, body=small, turn=turn)
        large = os.urandom(3 * WRITE_PIECE_BYTES)
        unpaced = await http.request("POST", echo_url, body=large)
    finally:
        await http.aclose()
    assert calls == []  # never asked: one piece
    assert json.loads(reply.body)["sha256"] == hashlib.sha256(small).hexdigest()
    assert json.loads(unpaced.body)["sha256"] == hashlib.sha256(large).hexdigest()


async def test_a_large_batch_goes_out_in_paced_pieces_over_tls_too(
    https_url: str, ca: trustme.CA
) -> None:
    # Over TLS each piece is also encrypted inside the write: the pieces matter there most.
    context = ssl.create_default_context()
    ca.configure_trust(context)
    items = _items(1)
    big = "x" * 600_000
    for item in items:
        item.record = factories.observation(input=msgspec.Raw(json.dumps(big).encode()))
        item.ingestion = ingestion.encode_event(item.record, CTX)
    turns: list[int] = []

    def turn() -> float:
        turns.append(1)
        return 0.0

    http = _client(ssl=context)
    try:
        out = await HttpSender(http, base_url=https_url, ctx=CTX, turn=turn).send(
            items, "ingestion"
        )
    finally:
        await http.aclose()
    assert len(out.delivered) == 1 and out.bytes_sent > 2 * WRITE_PIECE_BYTES
    assert len(turns) >= 3  # paced: one look at the clock per piece after the first
