"""A headless Chromium for the web view's tests: Debian's ``chromium`` driven by Playwright.

Playwright's own browser builds are never downloaded: the system's ``chromium`` is launched.
Without it (or without the ``playwright`` package) the browser tests skip with the reason,
except under CI (``CI`` set), where a missing browser fails them: CI must run them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """The system Chromium, or None."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def in_ci() -> bool:
    """Whether the ``CI`` variable says this is a CI run."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"{reason}; CI must run the browser tests (.ci/run installs chromium)")
    pytest.skip(f"{reason}: the web view's browser tests need it")


@contextmanager
def headless_chromium() -> Iterator[Browser]:
    """Launch the system Chromium headless for the duration of the block (or skip/fail)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the 'playwright' package is not installed (pip install -e '.[test]')")
        raise  # unreachable: skip and fail raise
    path = chromium_path()
    if path is None:
        _unavailable("chromium is not installed (apt-get install chromium)")
        raise AssertionError("unreachable")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
