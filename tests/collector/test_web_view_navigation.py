"""The web view used as a person uses it, in a real headless browser: exact filters, Back and
Forward through the observations selected on a trace page, shared and reloaded selections, the
keyboard, and a trace with hundreds of observations.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from tests.collector.webview_browser import box, start
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
    assert len(ids(page)) == 9


def test_a_value_with_a_line_break_survives_the_form(page: Page, url: str) -> None:
    page.goto(url + "/")
    page.locator('tr[data-trace-id="spaced-4"] a.chip').first.click()
    page.wait_for_url(re.compile(r"user=first%0Asecond$"))
    assert ids(page) == ["spaced-4"]
    # The field shows the user without its line break (it cannot hold one)...
    assert page.get_by_label("User").input_value() == "firstsecond"
    page.get_by_label("Tag").fill("gamma")
    page.get_by_label("Tag").press("Enter")
    page.wait_for_url(re.compile(r"tag=gamma"))
    # ...and sends it with it, left as it was.
    assert ids(page) == ["spaced-4"]
    assert "user=first%0Asecond" in page.url


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


# --- Back, Forward, reload and shared links ---------------------------------------------------


def test_back_steps_through_the_selections_then_to_the_list_as_it_was(page: Page, url: str) -> None:
    listing = url + "/?name=chat-request&limit=1&page=2"
    page.goto(listing)
    assert ids(page) == ["run-1"]
    page.locator('tr[data-trace-id="run-1"] td.name a').click()
    page.wait_for_url(re.compile(r"/_ui/traces/run-1$"))
    page.evaluate("window.__samePage = true")  # gone if the trace page reloads
    select(page, "run-1-llm")
    assert page.url.endswith("/_ui/traces/run-1?observation=run-1-llm")
    select(page, "run-1-tool")
    panel_shows(page, "weather")

    page.go_back()
    panel_shows(page, "llm")
    assert selected(page) == "run-1-llm"
    assert page.url.endswith("?observation=run-1-llm")
    page.go_back()
    panel_shows(page, "TRACE")
    assert selected(page) == ""
    assert page.url.endswith("/_ui/traces/run-1")
    assert page.evaluate("window.__samePage") is True  # no reload on the way

    page.go_back()  # the list, with its filter and page
    assert page.url == listing
    assert ids(page) == ["run-1"]
    assert page.get_by_label("Name").input_value() == "chat-request"
    assert "Page 2 of 3" in page.locator("nav.pager").inner_text()

    page.go_forward()
    page.wait_for_url(re.compile(r"/_ui/traces/run-1$"))
    page.go_forward()
    panel_shows(page, "llm")
    assert selected(page) == "run-1-llm"
    page.go_forward()
    panel_shows(page, "weather")
    assert selected(page) == "run-1-tool"


def test_a_reload_or_a_shared_link_shows_the_same_selection(page: Page, url: str) -> None:
    page.goto(url + "/_ui/traces/run-0")
    select(page, "run-0-tool")
    page.reload()
    assert selected(page) == "run-0-tool"
    assert "timed out after 120 ms" in page.locator("#detail").inner_text()
    assert page.title().startswith("weather \u00b7 chat-request")  # the history menu says which

    page.goto(url + "/_ui/traces/run-0?observation=no-such-span")
    assert "No observation no-such-span in this trace" in page.locator("#detail").inner_text()
    assert selected(page) == ""


def test_a_run_of_arrow_keys_is_one_step_back(page: Page, url: str) -> None:
    page.goto(url + "/_ui/traces/run-0")
    select(page, "run-0-search")
    for _ in range(3):
        page.keyboard.press("ArrowDown")
    panel_shows(page, "llm")
    assert selected(page) == "run-0-llm"
    # The row the keys reached has the focus, and a ring that shows it.
    focused = "document.activeElement.closest('li')?.dataset.observationId"
    assert page.evaluate(focused) == "run-0-llm"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.go_back()
    panel_shows(page, "vector-search")
    assert selected(page) == "run-0-search"
    page.go_forward()
    panel_shows(page, "llm")
    assert selected(page) == "run-0-llm"


def test_links_to_an_observation_in_the_panel_select_it_in_place(page: Page, url: str) -> None:
    page.goto(url + "/_ui/traces/run-0?observation=run-0-embed")
    page.evaluate("window.__samePage = true")
    page.locator("#detail dd a", has_text="vector-search").click()  # its parent, by name
    panel_shows(page, "vector-search")
    assert selected(page) == "run-0-search"
    page.locator("table.scores a", has_text="llm").click()  # a score's target
    page.locator('li.row.selected[data-observation-id="run-0-llm2"]').wait_for()
    page.go_back()
    panel_shows(page, "vector-search")
    assert page.evaluate("window.__samePage") is True


def test_the_traces_link_returns_to_the_list_as_it_was_left(page: Page, url: str) -> None:
    listing = url + "/?name=chat-request&limit=1&page=3"
    page.goto(listing)
    page.locator('tr[data-trace-id="run-0"] td.name a').click()
    page.wait_for_url(re.compile(r"/_ui/traces/run-0$"))
    select(page, "run-0-llm")
    page.locator(".crumbs").get_by_role("link", name="Traces").click()
    page.wait_for_url(listing)
    assert ids(page) == ["run-0"]


# --- keyboard and a trace with hundreds of observations ---------------------------------------


def test_tab_leaves_the_timeline_and_the_arrows_scroll_the_panel(page: Page, url: str) -> None:
    page.set_viewport_size({"width": 1400, "height": 600})  # the panel scrolls on its own
    page.goto(url + "/_ui/traces/run-0")
    select(page, "run-0-llm")
    page.keyboard.press("Tab")  # past the other rows, into the panel
    assert page.evaluate("document.activeElement.closest('#detail') !== null")
    page.keyboard.press("ArrowDown")  # scrolls the panel (smoothly); the selection stays
    page.wait_for_function("() => document.getElementById('detail').scrollTop > 0")
    assert selected(page) == "run-0-llm"
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.closest('li')?.dataset.observationId") == (
        "run-0-llm"
    )


def test_a_shared_link_deep_in_a_long_trace_shows_its_row(page: Page, url: str) -> None:
    page.goto(url + "/_ui/traces/wide?observation=wide-250")
    row = page.locator('li.row.selected[data-observation-id="wide-250"]')
    found = row.bounding_box()
    assert found is not None and 0 <= found["y"] and found["y"] + found["height"] <= 900
    assert page.locator("#detail h2").inner_text() == "step-250"
    assert page.locator(".timeline li.row").count() == 302
    # The axis stays in sight, just under the page's header.
    header, axis = box(page, "header.top"), box(page, ".timeline .axis")
    assert abs(axis["y"] - header["height"]) <= 1
    page.keyboard.press("ArrowUp")
    panel_shows(page, "step-249")
    assert selected(page) == "wide-249"
    # With the focus on a row, End and Home go to the last row and the first.
    page.keyboard.press("End")
    panel_shows(page, "step-299")
    assert selected(page) == "wide-299"
    assert box(page, 'li[data-observation-id="wide-299"]')["y"] < 900
    page.keyboard.press("Home")
    panel_shows(page, "TRACE")
    assert selected(page) == ""


def box_width(page: Page, selector: str) -> float:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, selector
    return found["width"]


@pytest.mark.parametrize("width", [400])
def test_a_phone_sized_window_shows_every_column_of_the_scores(page: Page, url: str) -> None:
    page.goto(url + "/_ui/traces/run-0")
    wrap = page.locator("table.scores").locator("xpath=..")
    assert wrap.evaluate("node => node.scrollWidth - node.clientWidth") <= 0
    grounded = page.locator("table.scores tr", has_text="grounded")
    for text in ("True", "BOOLEAN", "cites doc-17", "API"):
        assert grounded.get_by_text(text, exact=True).is_visible(), text
    target = grounded.get_by_role("link", name="llm")
    found = target.bounding_box()
    assert found is not None and found["x"] + found["width"] <= 400
    target.click()
    page.locator('li.row.selected[data-observation-id="run-0-llm2"]').wait_for()
