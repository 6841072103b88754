"""Fixtures shared by the collector's tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from langfuse_async._collector._store import Store


@pytest.fixture(autouse=True)
def _close_every_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close each store a test made on its own thread, once it ended.

    Python 3.13 warns (ResourceWarning) about an SQLite connection left to the garbage
    collector, and the suite turns warnings into errors: in whichever later test the collection
    happens to run. Closing twice is harmless. A store made on another thread (a collector's)
    belongs to that thread, which closes it.
    """
    made: list[Store] = []
    original = Store.__init__
    here = threading.get_ident()

    def init(self: Store, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if threading.get_ident() == here:
            made.append(self)

    monkeypatch.setattr(Store, "__init__", init)
    yield
    for store in made:
        store.close()
