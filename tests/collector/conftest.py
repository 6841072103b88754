"""Fixtures shared by the collector's tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from langfuse_async._collector._store import Store
from tests.collector.webview_browser import TIMEOUT_MS
from tests.support.browser import headless_chromium

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


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


# --- the web view's browser tests -------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium() as launched:
        yield launched


@pytest.fixture
def width() -> int:
    """The window's width (a test narrows it by parametrizing this)."""
    return 1400


@pytest.fixture
def page(browser: Browser, width: int) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": width, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    # Script errors and refused resources (a CSP violation is a console error) fail the test.
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    opened.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )
    opened.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
    yield opened
    # What happened while the test looked; closing the context aborts loads still under way.
    seen = list(problems)
    context.close()
    assert not seen
