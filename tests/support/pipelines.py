"""A delivery pipeline aimed at a test server, and the balance every delivery test checks."""

from __future__ import annotations

from typing import Any

from langfuse_async._config import resolve_config
from langfuse_async._delivery.pipeline import Pipeline


def make_pipeline(url: str, *, on_error: Any = None, **options: Any) -> Pipeline:
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
    return Pipeline(resolve_config(**args, environ={}), on_error)


def balanced(p: Pipeline) -> bool:
    s = p.statistics()
    return s.pending == 0 and s.enqueued == s.delivered + s.failed + s.dropped
