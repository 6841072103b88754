"""Shared fixtures: async tests run on asyncio through the anyio plugin; tracer test doubles."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from langfuse_async._tracing import registry

if TYPE_CHECKING:
    from tests.support.recording import RecordingTracer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def isolated_registry() -> Iterator[None]:
    """Forget the clients ``get_client()`` knows for the test, and restore them after."""
    state = registry._reset_for_tests()
    try:
        yield
    finally:
        registry._restore_for_tests(state)


@pytest.fixture
def tracer(isolated_registry: None) -> RecordingTracer:
    """A client whose delivery side is a list of records (see ``tests/support/recording.py``)."""
    from tests.support.recording import RecordingTracer

    return RecordingTracer()
