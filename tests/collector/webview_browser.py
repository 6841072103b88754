"""Helpers of the web view's browser tests (their fixtures are in ``conftest.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.collector.webview_data import ingest
from tests.support.threaded_collector import ThreadedCollector

if TYPE_CHECKING:
    from playwright.sync_api import Page

TIMEOUT_MS = 15_000  # only to catch a hang


def start(events: list[dict[str, Any]], **options: Any) -> ThreadedCollector:
    """A collector on a thread of its own, holding ``events`` (the caller exits it)."""
    threaded = ThreadedCollector(**options).__enter__()
    if events:
        threaded.query(lambda c: ingest(c.url, events))
    return threaded


def listed(page: Page) -> list[str]:
    """The trace names the list shows, in order."""
    return page.locator("tr.trace-row td.name .nm").all_inner_texts()


def box(page: Page, selector: str) -> dict[str, float]:
    """Where the first element ``selector`` finds is drawn."""
    found = page.locator(selector).first.bounding_box()
    assert found is not None, selector
    return found
