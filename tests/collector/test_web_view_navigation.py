"""The web view used as a person uses it, in a real headless browser: filters that match
values exactly, white space included.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from tests.collector.webview_browser import start
from tests.collector.webview_data import BASE, agent_run, spaced_traces, wide_trace

if TYPE_CHECKING:
    from playwright.sync_api import Page


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    events: list[dict[str, Any]] = spaced_traces() + wide_trace("wide", 300)
    for i in range(3):  # run-2 is the newest
        events += agent_run(f"run-{i}", BASE + timedelta(minutes=i))
    threaded = start(events)
    try:
        yield threaded.collector.url
    finally:
        threaded.__exit__(None, None, None)


def ids(page: Page) -> list[str]:
    """The ids of the traces the list shows, in order."""
    return [str(row.get_attribute("data-trace-id")) for row in page.locator("tr.trace-row").all()]


def selected(page: Page) -> str | None:
    """The observation selected in the timeline ("" for the trace itself)."""
    return page.locator(".timeline li.row.selected").get_attribute("data-observation-id")


def panel_shows(page: Page, text: str) -> None:
    """Wait until the detail panel's head reads ``text``."""
    page.locator("#detail .detail-head", has_text=text).wait_for()


def select(page: Page, observation_id: str) -> None:
    page.locator(f'li[data-observation-id="{observation_id}"] a.row-link').click()
    page.locator(f'li.row.selected[data-observation-id="{observation_id}"]').wait_for()
    page.wait_for_load_state()


# --- filters match values exactly ------------------------------------------------------------


def test_a_filter_matches_its_value_exactly_spaces_included(page: Page, url: str) -> None:
    page.goto(url + "/")
    name = page.get_by_label("Name")
    name.fill(" checkout")
    name.press("Enter")
    page.wait_for_url(re.compile(r"/\?name=\+checkout$"))
    assert ids(page) == ["spaced-1"]
    assert name.input_value() == " checkout"  # the field keeps the space it was given
    # The page shows the space, in the filter it names and in the name it found.
    assert page.locator(".summary q").inner_text() == " checkout"
    assert box_width(page, 'tr[data-trace-id="spaced-1"] td.name .ws') > 0

    name.fill("checkout")
    name.press("Enter")
    page.wait_for_url(re.compile(r"/\?name=checkout$"))
    assert ids(page) == ["spaced-0"]  # neither " checkout" nor "checkout<tab>"


def test_a_chip_filters_by_its_value_spaces_included(page: Page, url: str) -> None:
    page.goto(url + "/")
    page.locator('tr[data-trace-id="spaced-1"] a.chip', has_text="u-1").click()
    page.wait_for_url(re.compile(r"user=u-1\+$"))
    assert ids(page) == ["spaced-1"]
    assert page.get_by_label("User").input_value() == "u-1 "

    page.goto(url + "/")
    page.locator('tr[data-trace-id="spaced-0"] a.chip.tag').click()
    assert ids(page) == ["spaced-0", "spaced-2"]  # "beta", not " beta "

    # A value of white space alone is shown (shaded), and is a link like any other.
    page.goto(url + "/")
    user = page.locator('tr[data-trace-id="spaced-3"] a.chip').first
    assert box_width(page, 'tr[data-trace-id="spaced-3"] a.chip .ws') > 0
    user.click()
    page.wait_for_url(re.compile(r"user=\+$"))
    assert ids(page) == ["spaced-3"]


def test_an_empty_field_is_no_filter_and_stays_out_of_the_url(page: Page, url: str) -> None:
    page.goto(url + "/?name=chat-request&user=")
    assert ids(page) == ["run-2", "run-1", "run-0"]
    page.get_by_label("Name").fill("")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(url + "/")
    assert len(ids(page)) == 8


def test_nothing_matching_offers_the_values_without_their_spaces(page: Page, url: str) -> None:
    page.goto(url + "/")
    page.get_by_label("Name").fill("chat-request ")  # pasted with a space
    page.get_by_label("Name").press("Enter")
    page.wait_for_url(re.compile(r"name=chat-request\+$"))
    assert ids(page) == []
    assert "No traces with name" in page.locator(".no-match").inner_text()
    page.get_by_role("link", name="3 traces match").click()
    page.wait_for_url(re.compile(r"/\?name=chat-request$"))
    assert ids(page) == ["run-2", "run-1", "run-0"]

    # Spaces alone: nothing to offer but every trace.
    page.goto(url + "/?name=+++")
    assert page.locator(".no-match q").inner_text() == "   "
    assert page.locator(".trimmed").count() == 0
    assert page.get_by_role("link", name="Show all traces").is_visible()


def box_width(page: Page, selector: str) -> float:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, selector
    return found["width"]
