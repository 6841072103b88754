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
