"""The Langfuse client itself: construction, no-op mode, repr, lifecycle."""

from __future__ import annotations

import asyncio
import logging

import anyio
import pytest

from langfuse_async import FlushResult, Langfuse, observe
from langfuse_async.testing import Collector

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "LANGFUSE_PUBLIC_KEY",
        "LANGFUSE_SECRET_KEY",
        "LANGFUSE_BASE_URL",
        "LANGFUSE_HOST",
        "LANGFUSE_TRACING_ENABLED",
    ):
        monkeypatch.delenv(name, raising=False)


async def test_missing_keys_warn_once_and_make_every_call_a_no_op(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="langfuse_async"):
        langfuse = Langfuse()
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    tasks_before = len(asyncio.all_tasks())
    async with langfuse.start_as_current_observation(name="x") as obs:
        obs.update(output=1)
        langfuse.create_score(name="s", value=1.0, trace_id=obs.trace_id)
    assert len(asyncio.all_tasks()) == tasks_before  # nothing was started
    assert await langfuse.flush() == FlushResult(completed=True, pending=0)
    assert langfuse.statistics().enqueued == 0
    assert langfuse.statistics().transport == "disabled"
    assert (await langfuse.shutdown()).completed


async def test_enabled_false_starts_nothing_even_with_keys() -> None:
    langfuse = Langfuse("pk", "sk", "http://127.0.0.1:9", enabled=False)

    @observe()
    async def f() -> int:
        return 1

    assert await f() == 1
    assert langfuse._pipeline is None
    assert langfuse.statistics().enqueued == 0


def test_repr_shows_the_public_key_but_never_the_secret() -> None:
    langfuse = Langfuse("pk-lf-visible", "sk-lf-secret-value", "http://127.0.0.1:9")
    text = repr(langfuse)
    assert "pk-lf-visible" in text and "sk-lf-secret-value" not in text
    assert "sk-lf-secret-value" not in repr(langfuse._config)


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"flush_at": 0}, "flush_at"),
        ({"max_batch_bytes": 5_000_000}, "max_batch_bytes"),
        ({"queue_full": "block"}, "queue_full"),
        ({"on_error": "print"}, "on_error"),
    ],
)
def test_bad_configuration_is_a_value_error_at_construction(options: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        Langfuse("pk", "sk", "http://127.0.0.1:9", **options)


def test_debug_turns_on_debug_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    log = logging.getLogger("langfuse_async")
    monkeypatch.setattr(log, "level", log.level)
    monkeypatch.setattr(log, "handlers", list(log.handlers))
    Langfuse("pk", "sk", "http://127.0.0.1:9", debug=True)
    assert log.level == logging.DEBUG


async def test_async_with_flushes_and_shuts_down_and_later_events_are_reported() -> None:
    errors = []
    async with Collector() as collector:
        async with Langfuse(
            collector.public_key,
            collector.secret_key,
            collector.url,
            on_error=errors.append,
            flush_interval=3600,
        ) as langfuse:
            with langfuse.start_as_current_observation(name="inside"):
                pass
        # __aexit__ flushed (no waiting for the interval) and shut down.
        assert langfuse.statistics().delivered == 2  # the span and its trace-create
        assert [o.name for o in await collector.observations()] == ["inside"]
        langfuse.start_observation(name="after").end()
        await anyio.wait_all_tasks_blocked()  # the report task has run
        assert [(e.event_type, e.reason) for e in errors] == [("span-create", "shutdown")]
        s = langfuse.statistics()
        assert s.enqueued == s.delivered + s.dropped == 3  # with the root's trace-create


async def test_on_error_runs_outside_the_trace_that_happened_to_start_the_worker() -> None:
    seen: list[str | None] = []
    async with Collector() as collector:
        langfuse = Langfuse(
            collector.public_key,
            collector.secret_key,
            collector.url,
            on_error=lambda err: seen.append(langfuse.get_current_trace_id()),
            max_queue_size=1,
            flush_interval=3600,
            transport="ingestion",
        )
        with langfuse.start_as_current_observation(name="request") as span:
            langfuse.create_event(name="kept")  # the worker starts here, inside the span
            langfuse.create_event(name="dropped")  # the queue is full: reported
            assert langfuse.get_current_trace_id() == span.trace_id
        await langfuse.shutdown(timeout=10)
        # A callback that traces its own work must not land in that request's trace.
        assert seen and seen == [None] * len(seen)


async def test_shutdown_without_a_timeout_uses_shutdown_timeout() -> None:
    errors = []
    async with Collector() as collector:
        gate = collector.faults.delay(route="ingestion")
        langfuse = Langfuse(
            collector.public_key,
            collector.secret_key,
            collector.url,
            transport="ingestion",
            on_error=errors.append,
            shutdown_timeout=0.3,
        )
        async with langfuse:  # leaving it is bounded although the server never answers
            langfuse.start_observation(name="stuck").end()
        assert [e.reason for e in errors] == ["shutdown"]
        assert "shutdown() timed out" in errors[0].message
        gate.release()


def test_shutdown_timeout_is_validated() -> None:
    with pytest.raises(ValueError, match="shutdown_timeout"):
        Langfuse("pk", "sk", "http://127.0.0.1:9", shutdown_timeout=-1)
    assert (
        Langfuse("pk", "sk", "http://127.0.0.1:9", shutdown_timeout=None)._config.shutdown_timeout
        is None
    )


# Every keyword of the official 5.2 ``Langfuse.__init__``, with a value code written for it
# might pass; the ones that cannot apply here raise TypeError saying what to use instead.
OFFICIAL_ACCEPTED = {
    "public_key": "pk",
    "secret_key": "sk",
    "base_url": "http://127.0.0.1:9",
    "host": "http://127.0.0.1:9",
    "timeout": 10,
    "debug": False,
    "tracing_enabled": True,
    "flush_at": 50,
    "flush_interval": 2.5,
    "environment": "staging",
    "release": "v1.2",
    "media_upload_thread_count": 2,
    "sample_rate": 0.5,
    "mask": lambda *, data, **kwargs: data,
    "additional_headers": {"X-Gateway-Key": "g-123"},
    "otel_compression": "gzip",
}
OFFICIAL_REFUSED = ["httpx_client", "id_generator", "span_exporter", "skills"]


def test_every_official_keyword_is_accepted_or_refused_with_advice() -> None:
    langfuse = Langfuse(**OFFICIAL_ACCEPTED)
    c = langfuse._config
    assert (c.base_url, c.timeout, c.flush_at, c.flush_interval) == (
        "http://127.0.0.1:9",
        10,
        50,
        2.5,
    )
    assert (c.environment, c.release, c.sample_rate, c.enabled) == ("staging", "v1.2", 0.5, True)
    assert c.mask is OFFICIAL_ACCEPTED["mask"]
    assert dict(c.additional_headers) == {"X-Gateway-Key": "g-123"}
    for name in OFFICIAL_REFUSED:
        with pytest.raises(TypeError, match=rf"^Langfuse\(\) does not accept {name}=: \w"):
            Langfuse("pk", "sk", "http://127.0.0.1:9", **{name: object()})
        Langfuse("pk", "sk", "http://127.0.0.1:9", **{name: None})  # None is harmless


def test_otel_options_need_a_tracer_provider_with_span_processors() -> None:
    # Without a provider they would choose and mask nothing: refused, saying why.
    with pytest.raises(TypeError, match=r"should_export_span= and mask_otel_spans= with tracer"):
        Langfuse("pk", "sk", "http://127.0.0.1:9", should_export_span=lambda span: True)
    with pytest.raises(TypeError, match=r"with tracer_provider="):
        Langfuse("pk", "sk", "http://127.0.0.1:9", mask_otel_spans=lambda **kwargs: {})
    with pytest.raises(TypeError, match=r"tracer_provider must be an OpenTelemetry SDK"):
        Langfuse("pk", "sk", "http://127.0.0.1:9", tracer_provider=object())


def test_refused_keywords_say_what_to_use_instead() -> None:
    with pytest.raises(TypeError, match=r"httpx_client=.*timeout=.*additional_headers=.*ssl="):
        Langfuse(httpx_client=object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"span_exporter=.*transport="):
        Langfuse(span_exporter=object())  # type: ignore[arg-type]


def test_tracing_enabled_false_makes_a_no_op_client() -> None:
    langfuse = Langfuse("pk", "sk", "http://127.0.0.1:9", tracing_enabled=False)
    assert langfuse._pipeline is None
    assert "disabled" in repr(langfuse)


def test_ssl_false_logs_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="langfuse_async"):
        Langfuse("pk", "sk", "https://langfuse.internal", ssl=False)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "ssl=False" in warnings[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="langfuse_async"):
        Langfuse("pk", "sk", "https://langfuse.internal")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_repr_never_shows_header_values_or_proxy_credentials() -> None:
    langfuse = Langfuse(
        "pk",
        "sk-secret",
        "http://127.0.0.1:9",
        additional_headers={"X-Gateway-Key": "g-secret"},
        proxy="http://user:p-secret@proxy:3128",
    )
    for text in (repr(langfuse), repr(langfuse._config)):
        assert "secret" not in text


def test_keys_from_a_secrets_file_are_stripped() -> None:
    langfuse = Langfuse("pk-lf-1\n", "sk-lf-2\n", "http://127.0.0.1:9")
    assert (langfuse._config.public_key, langfuse._config.secret_key) == ("pk-lf-1", "sk-lf-2")
    with pytest.raises(ValueError, match="secret_key"):
        Langfuse("pk", "sk-lf\n-2", "http://127.0.0.1:9")


async def test_host_keyword_delivers_like_base_url() -> None:
    async with Collector() as collector:
        async with Langfuse(
            public_key=collector.public_key, secret_key=collector.secret_key, host=collector.url
        ) as langfuse:
            langfuse.start_observation(name="via-host").end()
        assert [o.name for o in await collector.observations()] == ["via-host"]
