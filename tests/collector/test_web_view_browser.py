"""The web view in a real headless browser (Debian's chromium through Playwright).

The tests look at what a user sees: rows, bars, text, and what a click changes. They skip on a
machine without chromium, and fail there under CI (see ``tests/support/browser.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.collector.webview_data import (
    agent_run,
    awkward_traces,
    event,
    ingest,
    simple_trace,
    span,
)
from tests.support.browser import headless_chromium
from tests.support.threaded_collector import ThreadedCollector

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
TIMEOUT_MS = 15_000  # only to catch a hang


def seeded() -> list[dict[str, Any]]:
    events = agent_run()
    for i, name in enumerate(["checkout", "search", "checkout", "search", "checkout"]):
        events += simple_trace(
            f"t-{i}", name, -60 * (i + 1), userId=f"u-{i % 2}", tags=["beta"] if i % 2 else []
        )
    return events


def start(events: list[dict[str, Any]], **options: Any) -> ThreadedCollector:
    threaded = ThreadedCollector(**options).__enter__()
    if events:
        threaded.query(lambda c: ingest(c.url, events))
    return threaded


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    threaded = start(seeded())
    try:
        yield threaded.collector.url
    finally:
        threaded.__exit__(None, None, None)


@pytest.fixture(scope="module")
def awkward_url() -> Iterator[str]:
    threaded = start(awkward_traces() + agent_run())
    try:
        yield threaded.collector.url
    finally:
        threaded.__exit__(None, None, None)


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


def listed(page: Page) -> list[str]:
    return page.locator("tr.trace-row td.name .nm").all_inner_texts()


def test_the_list_shows_the_traces_newest_first(page: Page, url: str) -> None:
    page.goto(url + "/")
    assert page.locator("h1").inner_text() == "Traces"
    assert listed(page) == ["chat-request", "checkout", "search", "checkout", "search", "checkout"]
    row = page.locator('tr[data-trace-id="trace-agent"]')
    assert "1.84 s" in row.inner_text() and "helpfulness 0.9" in row.inner_text()


def test_filters_narrow_the_list_and_clear_resets_it(page: Page, url: str) -> None:
    page.goto(url + "/")
    page.get_by_label("User").fill("u-1")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"user=u-1"))
    assert listed(page) == ["search", "search"]
    assert page.get_by_label("User").input_value() == "u-1"

    page.goto(url + "/")
    page.get_by_label("Name").fill("checkout")
    page.get_by_label("Name").press("Enter")
    page.wait_for_url(re.compile(r"name=checkout"))
    assert listed(page) == ["checkout"] * 3

    page.goto(url + "/")
    page.locator("a.chip.tag", has_text="beta").first.click()
    page.wait_for_url(re.compile(r"tag=beta"))
    assert listed(page) == ["search", "search"]
    page.get_by_role("link", name="Clear").click()
    page.wait_for_url(url + "/")
    assert len(listed(page)) == 6


def test_paging(page: Page, url: str) -> None:
    page.goto(url + "/?limit=4")
    assert listed(page) == ["chat-request", "checkout", "search", "checkout"]
    page.get_by_role("link", name="Older").click()
    page.wait_for_url(re.compile(r"page=2"))
    assert listed(page) == ["search", "checkout"]
    assert "Page 2 of 2" in page.locator("nav.pager").inner_text()
    page.get_by_role("link", name="Newer").click()
    page.wait_for_url(re.compile(r"limit=4$"))
    assert listed(page)[0] == "chat-request"


def test_a_trace_shows_its_tree_as_bars_and_its_json_expands(page: Page, url: str) -> None:
    page.goto(url + "/")
    page.get_by_role("link", name="chat-request").click()
    page.wait_for_url(re.compile(r"/_ui/traces/trace-agent$"))
    rows = page.locator(".timeline li.row")
    assert rows.count() == 9
    labels = page.locator(".timeline li.row .label .nm").all_inner_texts()
    assert labels == [
        "chat-request",
        "answer-question",
        "input-guardrail",
        "vector-search",
        "embed-query",
        "cache-miss",
        "llm",
        "weather",
        "llm",
    ]

    def bar(observation_id: str) -> dict[str, float]:
        box = page.locator(f'li[data-observation-id="{observation_id}"] .bar').bounding_box()
        assert box is not None
        return box

    # One shared axis: later observations start further right; a longer one is wider.
    search, llm, tool = bar("trace-agent-search"), bar("trace-agent-llm"), bar("trace-agent-tool")
    assert search["x"] < llm["x"] < tool["x"]
    assert llm["width"] > 3 * tool["width"] > 0
    whole = bar("")
    assert (
        whole["x"] <= search["x"] and tool["x"] + tool["width"] <= whole["x"] + whole["width"] + 1
    )
    # Nesting: the embedding under the retriever is indented further.
    indent = page.locator('li[data-observation-id="trace-agent-embed"] .badge').bounding_box()
    parent = page.locator('li[data-observation-id="trace-agent-search"] .badge').bounding_box()
    assert indent is not None and parent is not None and indent["x"] > parent["x"]
    assert "256 ms" in page.locator('li[data-observation-id="trace-agent-search"]').inner_text()
    # The trace's scores and facts.
    assert "helpfulness" in page.locator("table.scores").inner_text()
    assert "u-ada" in page.locator(".trace-head").inner_text()

    # A click on the failing tool shows its level and status message in the detail panel.
    detail = page.locator("#detail")
    page.locator('li[data-observation-id="trace-agent-tool"] a').click()
    detail.get_by_text("timed out after 120 ms").wait_for()
    assert "ERROR" in detail.locator(".detail-head").inner_text()
    assert "observation=trace-agent-tool" in page.url
    assert "selected" in (
        page.locator('li[data-observation-id="trace-agent-tool"]').get_attribute("class") or ""
    )

    # The generation: model, usage and cost, and JSON whose deeper levels open on a click.
    page.locator('li[data-observation-id="trace-agent-llm"] a').click()
    detail.get_by_text("gpt-4o-mini").wait_for()
    assert "508" in detail.locator("table.kv").first.inner_text()
    assert "$0.0001194" in detail.inner_text()
    hidden = detail.get_by_text('"weather"')
    assert not hidden.is_visible()
    detail.locator("details.j-node:not([open]) > summary", has_text="1 key").first.click()
    assert hidden.is_visible()
    # And whole sections fold away.
    detail.locator("details.section > summary", has_text="Input").click()
    assert not detail.get_by_text("You are a helpful travel assistant").is_visible()


def test_the_keyboard_moves_through_the_timeline(page: Page, url: str) -> None:
    page.goto(url + "/_ui/traces/trace-agent")
    page.keyboard.press("ArrowDown")
    page.locator("#detail").get_by_text("trace-agent-agent").wait_for()
    page.keyboard.press("ArrowDown")
    page.locator("#detail").get_by_text("input-guardrail").wait_for()
    assert "observation=trace-agent-guard" in page.url


def test_hostile_names_are_shown_as_text(page: Page) -> None:
    events = [
        event(
            "trace-create", {"id": "evil", "name": HOSTILE, "userId": HOSTILE, "tags": [HOSTILE]}
        ),
        span("span-create", "evil", "evil-span", HOSTILE, 0, 10, input={HOSTILE: HOSTILE}),
    ]
    threaded = start(events)
    try:
        page.goto(threaded.collector.url + "/")
        assert listed(page) == [HOSTILE]
        page.locator("tr.trace-row td.name a").click()
        page.locator('li[data-observation-id="evil-span"] a').click()
        page.locator("#detail .j-key", has_text="<script>").first.wait_for()
        assert page.locator("#detail h2").inner_text() == HOSTILE
        assert page.evaluate("window.__pwned") is None
        assert page.locator("img").count() == 0
    finally:
        threaded.__exit__(None, None, None)


def test_huge_values_say_they_are_cut(page: Page) -> None:
    events = [event("trace-create", {"id": "big", "name": "big", "input": "y" * 300_000})]
    threaded = start(events)
    try:
        page.goto(threaded.collector.url + "/_ui/traces/big")
        notice = page.locator(".notice", has_text="Large value")
        assert notice.is_visible()
        assert "296,000 more characters" in page.locator("#detail").inner_text()
    finally:
        threaded.__exit__(None, None, None)


def test_the_view_works_in_v4_mode(page: Page, tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    start(seeded(), db_path=db).__exit__(None, None, None)
    threaded = start([], db_path=db, mode="v4")
    try:
        base = threaded.collector.url
        assert page.request.get(base + "/api/public/traces").status == 404
        page.goto(base + "/")
        assert "v4" in page.locator("header .pill").inner_text()
        assert listed(page)[0] == "chat-request"
        page.get_by_role("link", name="chat-request").click()
        page.wait_for_url(re.compile(r"/_ui/traces/trace-agent$"))
        assert page.locator(".timeline li.row").count() == 9
    finally:
        threaded.__exit__(None, None, None)


def test_the_readme_screenshot_can_be_remade(browser: Browser, tmp_path: Path) -> None:
    from tests.support.web_view_screenshot import render

    output = tmp_path / "web-view.png"
    render(browser, output, width=800, height=600)
    assert output.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_live_brings_new_traces_without_a_reload(page: Page) -> None:
    threaded = start(simple_trace("first", "first-trace", 0))
    try:
        page.goto(threaded.collector.url + "/")
        page.get_by_label("Live").check()
        page.evaluate("window.__samePage = true")  # gone if the page reloads
        page.get_by_label("Name").fill("typing")  # the filters stay as typed
        threaded.query(lambda c: ingest(c.url, simple_trace("second", "second-trace", 60)))
        page.locator("tr.trace-row", has_text="second-trace").wait_for()
        assert listed(page) == ["second-trace", "first-trace"]
        assert page.evaluate("window.__samePage") is True
        assert page.get_by_label("Name").input_value() == "typing"
        assert "2 traces" in page.locator("header .stats").inner_text()
    finally:
        threaded.__exit__(None, None, None)


# --- found using the view in a browser -------------------------------------------------------


def box(page: Page, selector: str) -> dict[str, float]:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, selector
    return found


def test_deep_nesting_keeps_every_name_readable(page: Page, awkward_url: str) -> None:
    page.goto(awkward_url + "/_ui/traces/deep")
    names = page.locator(".timeline li.row .label .nm")
    assert names.count() == 51
    # Each name keeps room for a few characters, down to the 50th level.
    widths = names.evaluate_all("nodes => nodes.map(node => node.getBoundingClientRect().width)")
    assert min(widths) > 30
    indents = [box(page, f'li[data-observation-id="deep-{i}"] .badge')["x"] for i in (0, 5, 49)]
    assert indents[0] < indents[1] < indents[2]
    # Rows off screen are left for the browser to lay out when scrolled to (a page has 1,000).
    assert (
        names.first.evaluate("node => getComputedStyle(node.closest('li')).contentVisibility")
        == "auto"
    )


def test_long_text_stays_inside_the_page(page: Page, awkward_url: str) -> None:
    page.goto(awkward_url + "/")
    # A short name is not broken mid-word to make room for the other columns.
    short = box(page, 'tr[data-trace-id="short"] td.name .nm')
    assert short["height"] < 30
    page.goto(awkward_url + "/_ui/traces/long")
    # The breadcrumb's link keeps its word beside a 1,000-character name.
    assert box(page, ".crumbs > a")["height"] < 30
    # A long text score wraps in its cell: the scores table is no wider than its card.
    overflow = page.locator("table.scores").evaluate(
        "table => table.parentElement.scrollWidth - table.parentElement.clientWidth"
    )
    assert overflow <= 0
    assert page.locator("table.scores").get_by_text("a long verdict").is_visible()


def test_a_right_to_left_override_in_a_name_stays_in_the_name(page: Page, awkward_url: str) -> None:
    page.goto(awkward_url + "/")
    name = box(page, 'tr[data-trace-id="rtl"] td.name .nm')
    error = box(page, 'tr[data-trace-id="rtl"] td.name .level')
    assert error["x"] >= name["x"] + name["width"]


@pytest.mark.parametrize("width", [400])
def test_a_phone_sized_window_shows_whole_names(page: Page, awkward_url: str) -> None:
    page.goto(awkward_url + "/")
    # The list turns into one card per trace, no wider than the screen.
    wrap = page.locator(".table-wrap")
    assert wrap.evaluate("node => node.scrollWidth - node.clientWidth") <= 0
    assert box(page, 'tr[data-trace-id="trace-agent"] td.name')["width"] > 300
    latency = page.locator('tr[data-trace-id="trace-agent"] td.num', has_text="1.84 s")
    assert "latency" in latency.evaluate("node => getComputedStyle(node, '::before').content")
    # Each timeline row puts its bar under its name, so names are not cut to a letter.
    page.goto(awkward_url + "/_ui/traces/trace-agent")
    for name in page.locator(".timeline li.row .label .nm").all():
        assert name.evaluate("node => node.scrollWidth <= node.clientWidth"), name.inner_text()
    llm = page.locator('li[data-observation-id="trace-agent-llm"]')
    assert box(page, '[data-observation-id="trace-agent-llm"] .bar')["width"] > 100
    assert llm.locator(".bar").bounding_box()["y"] > llm.locator(".nm").bounding_box()["y"]  # type: ignore[index]
    assert page.evaluate("document.documentElement.scrollWidth") <= 400


def test_the_keyboard_focus_follows_the_selection(page: Page, awkward_url: str) -> None:
    page.goto(awkward_url + "/_ui/traces/trace-agent")
    page.keyboard.press("ArrowDown")
    page.locator("#detail").get_by_text("trace-agent-agent").wait_for()
    focused = page.evaluate("document.activeElement.closest('li')?.dataset.observationId")
    assert focused == "trace-agent-agent"
    # With a modifier the arrows keep their usual meaning (selecting text, scrolling).
    page.keyboard.press("Shift+ArrowDown")
    page.keyboard.press("Enter")  # the focused row, as a link, is the one opened
    page.wait_for_url(re.compile(r"observation=trace-agent-agent"))
    assert "selected" in (
        page.locator('li[data-observation-id="trace-agent-agent"]').get_attribute("class") or ""
    )


def test_a_new_detail_panel_opens_at_its_head(page: Page, awkward_url: str) -> None:
    page.set_viewport_size({"width": 1400, "height": 600})  # the panel scrolls on its own
    page.goto(awkward_url + "/_ui/traces/trace-agent?observation=trace-agent-llm")
    detail = page.locator("#detail")
    detail.evaluate("node => { node.scrollTop = node.scrollHeight; }")
    assert detail.evaluate("node => node.scrollTop") > 0
    page.locator('li[data-observation-id="trace-agent-llm2"] a').click()
    page.locator('li.selected[data-observation-id="trace-agent-llm2"]').wait_for()
    # The row is marked at once and its panel arrives after: on a busy machine, later.
    detail.get_by_text("trace-agent-llm2").wait_for()
    assert detail.evaluate("node => node.scrollTop") == 0


def test_a_held_arrow_key_moves_on_before_the_panels_arrive(page: Page, awkward_url: str) -> None:
    page.goto(awkward_url + "/_ui/traces/trace-agent")
    held: list[Any] = []
    page.route("**/detail?*", lambda route: held.append(route))  # the panels stay on their way
    for _ in range(5):
        page.keyboard.press("ArrowDown")
    selected = page.locator("li.row.selected")
    assert selected.get_attribute("data-observation-id") == "trace-agent-cache"
    assert "observation=trace-agent-cache" in page.url
    held[-1].continue_()  # the others were aborted by the next key
    page.locator("#detail .detail-head", has_text="cache-miss").wait_for()
    assert "loading" not in (page.locator("#detail").get_attribute("class") or "")
