"""The collector's web view over plain HTTP: pages, private JSON endpoints, escaping, access."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import aiohttp
import pytest

from langfuse_async._collector import Collector, _server, _web
from langfuse_async._collector._web import access_problem
from langfuse_async._collector._web_page import ListQuery, parse_list_query, visible_text
from tests.collector.webview_data import (
    AUTH,
    agent_run,
    event,
    ingest,
    simple_trace,
    spaced_traces,
    span,
)

pytestmark = pytest.mark.anyio

HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


def names_in(html: str) -> list[str]:
    """The trace names of a list page, in order."""
    rows = re.findall(r'<tr class="trace-row".*?</tr>', html, re.S)
    return [unescape(re.search(r'<td class="name">.*?>([^<]*)</span>', r, re.S)[1]) for r in rows]


def seeded() -> list[dict[str, Any]]:
    events = agent_run()
    for i, name in enumerate(["checkout", "search", "checkout", "search", "checkout"]):
        events += simple_trace(
            f"t-{i}",
            name,
            -60 * (i + 1),
            userId=f"u-{i % 2}",
            sessionId=f"s-{i % 3}",
            tags=["beta"] if i % 2 else ["stable"],
        )
    return events


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    async with Collector() as c:
        await ingest(c.url, seeded())
        yield c


async def get(url: str, **headers: str) -> tuple[int, str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, headers=headers, allow_redirects=False) as response,
    ):
        return response.status, await response.text(), response.headers


async def test_the_list_shows_traces_newest_first(collector: Collector) -> None:
    status, html, headers = await get(collector.url + "/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert names_in(html) == [
        "chat-request",
        "checkout",
        "search",
        "checkout",
        "search",
        "checkout",
    ]
    assert "Showing <b>1\u20136</b> of <b>6</b> traces" in html
    # The agent run's row sums its observations: count, latency, cost, an error, its scores.
    row = re.search(r'data-trace-id="trace-agent".*?</tr>', html, re.S)[0]
    assert ">8<" in row and "1.84 s" in row and "$0.00022488" in row and "ERROR" in row
    assert "helpfulness <b>0.9</b>" in row and "grounded <b>True</b>" in row


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("name=checkout", ["checkout"] * 3),
        ("user=u-1", ["search", "search"]),
        ("session=s-0", ["checkout", "search"]),
        ("tag=beta", ["search", "search"]),
        ("tag=rag&user=u-ada", ["chat-request"]),
        ("name=nothing-has-this", []),
    ],
)
async def test_filters_narrow_the_list(
    collector: Collector, query: str, expected: list[str]
) -> None:
    status, html, _ = await get(f"{collector.url}/?{query}")
    assert status == 200
    assert names_in(html) == expected
    if not expected:
        assert 'No traces with name <q class="filter-value">nothing-has-this</q>.' in html


async def test_paging_walks_the_list(collector: Collector) -> None:
    _, first, _ = await get(collector.url + "/?limit=4")
    _, second, _ = await get(collector.url + "/?limit=4&page=2")
    assert names_in(first) == ["chat-request", "checkout", "search", "checkout"]
    assert names_in(second) == ["search", "checkout"]
    assert 'rel="next" href="/?page=2&amp;limit=4"' in first
    assert 'rel="prev" href="/?limit=4"' in second and 'rel="next"' not in second
    assert "Page 2 of 2" in second


async def test_the_trace_page_draws_the_tree_on_one_time_axis(collector: Collector) -> None:
    status, html, _ = await get(collector.url + "/_ui/traces/trace-agent")
    assert status == 200
    rows = re.findall(r'<li class="row[^"]*" data-observation-id="([^"]*)"', html)
    # Depth-first by start time: the trace, the agent, then its children with the retriever's
    # embedding under the retriever.
    assert rows == [
        "",
        "trace-agent-agent",
        "trace-agent-guard",
        "trace-agent-search",
        "trace-agent-embed",
        "trace-agent-cache",
        "trace-agent-llm",
        "trace-agent-tool",
        "trace-agent-llm2",
    ]
    depth = dict(re.findall(r'data-observation-id="([^"]*)".*?style="--d:(\d+)"', html, re.S))
    assert depth["trace-agent-agent"] == "1" and depth["trace-agent-embed"] == "3"
    bars = dict(
        re.findall(
            r'data-observation-id="([^"]*)".*?class="bar [^"]*" style="left:([\d.]+)%', html, re.S
        )
    )
    assert float(bars["trace-agent-search"]) < float(bars["trace-agent-llm"])
    assert float(bars["trace-agent-llm2"]) > 80
    assert "1.06 s" in html and "256 ms" in html  # durations next to the bars
    assert "ToolError: the weather service timed out" in html  # status message on the row
    # The trace's own details, and its scores with what they score.
    assert "u-ada" in html and "session-42" in html and "$0.00022488" in html
    assert "helpfulness" in html and "friendly" in html and "cites doc-17" in html
    # A score's target reads as the observation's name (as in the timeline), its id on hover.
    scores = html[html.index('<table class="scores">') :]
    scores = scores[: scores.index("</table>")]
    assert 'title="trace-agent-llm2">llm</a>' in scores
    assert ">trace-agent-llm2</a>" not in scores
    assert "Input" in html and "Lisbon in August" not in html  # only the trace's own JSON


async def test_selecting_an_observation_shows_its_details(collector: Collector) -> None:
    url = collector.url + "/_ui/traces/trace-agent?observation=trace-agent-llm"
    _, html, _ = await get(url)
    detail = html[html.index('id="detail"') :]
    assert "gpt-4o-mini" in detail and "282 ms" in detail  # model, time to first token
    assert ">412<" in detail and ">508<" in detail and "$0.0001194" in detail
    assert "temperature" in detail  # model parameters
    assert "You are a helpful travel assistant" in detail
    # The fragment the page's script swaps in is the same panel.
    _, fragment, _ = await get(
        collector.url + "/_ui/traces/trace-agent/detail?observation=trace-agent-tool"
    )
    assert fragment.startswith('<div class="detail-head">')
    assert "ERROR" in fragment and "timed out after 120 ms" in fragment
    # Its parent is linked by the name the timeline shows, its id in the tooltip.
    assert (
        '<a href="/_ui/traces/trace-agent?observation=trace-agent-agent#detail"'
        ' title="trace-agent-agent">answer-question</a>'
    ) in fragment


async def test_an_observation_of_another_trace_is_not_shown(collector: Collector) -> None:
    for path in ("/_ui/traces/t-0", "/_ui/traces/t-0/detail"):
        _, html, _ = await get(collector.url + path + "?observation=trace-agent-llm")
        assert "gpt-4o-mini" not in html
        # The panel says the link named something else, and shows the trace.
        assert "No observation <code>trace-agent-llm</code> in this trace" in html
        assert "Trace ID" in html
    _, html, _ = await get(collector.url + "/_ui/traces/t-0")
    assert "No observation" not in html


async def test_json_is_collapsible_and_typed(collector: Collector) -> None:
    _, html, _ = await get(collector.url + "/_ui/traces/trace-agent?observation=trace-agent-llm")
    # Two levels open, deeper ones closed; every node says what it holds.
    assert '<details class="j-node" open><summary><span class="j-p">[</span>' in html
    assert '<span class="j-key">tool_calls</span>' in html
    assert re.search(r'<details class="j-node"><summary><span class="j-key">0</span>', html)
    assert '<span class="j-count">1 key</span>' in html
    assert '<span class="j-num">0.2</span>' in html


async def test_hostile_values_are_escaped_everywhere() -> None:
    hostile_id = 'id"><b>x</b>'
    events = [
        event(
            "trace-create",
            {
                "id": hostile_id,
                "name": HOSTILE,
                "userId": HOSTILE,
                "sessionId": HOSTILE,
                "tags": [HOSTILE],
                "input": {HOSTILE: HOSTILE},
                "metadata": {"html": "</details></div><script>x()</script>"},
            },
        ),
        span(
            "span-create",
            hostile_id,
            "o-" + hostile_id,
            HOSTILE,
            0,
            10,
            level="ERROR",
            statusMessage=HOSTILE,
            model=HOSTILE,
            input=[HOSTILE],
        ),
        event(
            "score-create",
            {
                "id": "s1",
                "traceId": hostile_id,
                "name": HOSTILE,
                "value": HOSTILE,
                "comment": HOSTILE,
            },
        ),
    ]
    async with Collector() as c:
        await ingest(c.url, events)
        page = f"{c.url}/_ui/traces/{quote(hostile_id, safe='')}"
        pages = [
            (await get(c.url + "/"))[1],
            (await get(f"{c.url}/?name={quote(HOSTILE)}"))[1],
            (await get(page))[1],
            (await get(f"{page}?observation={quote('o-' + hostile_id)}"))[1],
        ]
    for html in pages:
        assert "<script>window" not in html and "<img" not in html and "<b>x" not in html
        assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert "</details></div><script>" not in pages[2]
    assert "&lt;/details&gt;&lt;/div&gt;&lt;script&gt;x()" in pages[2]


async def test_huge_values_are_cut_and_the_page_says_so() -> None:
    big_string = "x" * 2_000_000
    big_list = [{"i": i, "text": f"item {i}"} for i in range(20_000)]
    events = [
        event(
            "trace-create", {"id": "big", "name": "big", "input": big_string, "output": big_list}
        ),
    ]
    async with Collector() as c:
        await ingest(c.url, events)
        _, html, _ = await get(c.url + "/_ui/traces/big")
        status, raw, _ = await get(c.url + "/_ui/api/traces/big")
    assert len(html) < 400_000
    assert html.count("Large value") == 2
    assert "1,996,000 more characters" in html
    assert "more not shown" in html
    assert 'href="/_ui/api/traces/big"' in html  # the whole value, one click away
    assert status == 200 and len(raw) > 2_000_000


async def test_a_trace_with_many_observations_shows_the_first_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_web, "MAX_TIMELINE_ROWS", 3)
    events = [event("trace-create", {"id": "many", "name": "many"})]
    events += [
        span("span-create", "many", f"o{i}", f"step {i}", i * 10, i * 10 + 5) for i in range(5)
    ]
    async with Collector() as c:
        await ingest(c.url, events)
        _, html, _ = await get(c.url + "/_ui/traces/many")
    assert "This trace has 5 observations; the timeline shows the first 3" in html
    assert "step 2" in html and "step 3" not in html


async def test_parents_in_a_cycle_are_still_shown() -> None:
    events = [
        event("trace-create", {"id": "loop", "name": "loop"}),
        span("span-create", "loop", "a", "first", 0, 10, parent="b"),
        span("span-create", "loop", "b", "second", 5, 10, parent="a"),
        span("span-create", "loop", "c", "self", 6, 10, parent="c"),
    ]
    async with Collector() as c:
        await ingest(c.url, events)
        _, html, _ = await get(c.url + "/_ui/traces/loop")
    assert re.findall(r'data-observation-id="([^"]*)"', html) == ["", "a", "b", "c"]


async def test_observations_without_a_trace_event_are_listed() -> None:
    async with Collector() as c:
        await ingest(c.url, [span("span-create", "orphan", "o1", "lonely", 0, 10)])
        _, listing, _ = await get(c.url + "/")
        status, page, _ = await get(c.url + "/_ui/traces/orphan")
    assert "(no trace event)" in listing and 'href="/_ui/traces/orphan"' in listing
    assert status == 200 and "lonely" in page


async def test_the_view_works_in_v4_mode(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    async with Collector(db_path=db) as c:
        await ingest(c.url, seeded())
    async with Collector(db_path=db, mode="v4") as c:
        read, _, _ = await get(c.url + "/api/public/traces", **AUTH)
        _, listing, _ = await get(c.url + "/")
        status, page, _ = await get(c.url + "/_ui/traces/trace-agent")
        api_status, api, _ = await get(c.url + "/_ui/api/traces?user=u-ada")
    assert read == 404  # the public read API is gone, as on a v4 server
    assert "chat-request" in names_in(listing) and "4.16.0" in listing
    assert status == 200 and "answer-question" in page
    assert api_status == 200 and '"id":"trace-agent"' in api.replace(" ", "")


async def test_private_json_endpoints(collector: Collector) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(collector.url + "/_ui/api/traces?name=checkout&limit=2") as r:
            listing = await r.json()
        async with http.get(collector.url + "/_ui/api/traces/trace-agent") as r:
            trace = await r.json()
        async with http.get(collector.url + "/_ui/api/observations/trace-agent-llm") as r:
            observation = await r.json()
        async with http.get(collector.url + "/_ui/api/traces/nope") as r:
            missing = r.status
    assert [t["id"] for t in listing["data"]] == ["t-0", "t-2"]
    assert listing["meta"] == {"page": 1, "limit": 2, "totalItems": 3, "totalPages": 2}
    assert len(trace["observations"]) == 8 and len(trace["scores"]) == 3
    assert trace["input"]["locale"] == "en-GB"
    assert observation["usageDetails"] == {"input": 412, "output": 96, "total": 508}
    assert missing == 404


async def test_the_view_is_not_recorded_as_api_traffic(collector: Collector) -> None:
    before = len(collector.requests)
    for path in ("/", "/_ui/traces/trace-agent", "/_ui/static/app.css", "/_ui/api/traces"):
        status, _, _ = await get(collector.url + path)
        assert status == 200, path
    assert len(collector.requests) == before


async def test_assets_and_security_headers(collector: Collector) -> None:
    for name, kind in (
        ("app.css", "text/css"),
        ("app.js", "text/javascript"),
        ("favicon.svg", "image/svg+xml"),
    ):
        status, body, headers = await get(f"{collector.url}/_ui/static/{name}")
        assert status == 200 and body and headers["Content-Type"].startswith(kind)
    status, _, _ = await get(collector.url + "/_ui/static/../_web.py")
    assert status == 404
    _, html, headers = await get(collector.url + "/")
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in html and "style=" not in html.split("<main>")[0]


async def test_unknown_pages_and_methods(collector: Collector) -> None:
    status, html, _ = await get(collector.url + "/_ui/traces/nope")
    assert status == 404 and "No trace with id" in html
    status, _, _ = await get(collector.url + "/_ui/nothing")
    assert status == 404
    async with aiohttp.ClientSession() as http:
        async with http.post(collector.url + "/_ui/traces/trace-agent") as r:
            assert r.status == 405
        async with http.post(collector.url + "/") as r:  # still the API's answer, as before
            assert r.status == 404 and "This page could not be found" in await r.text()


async def test_the_servers_trace_links_lead_to_the_trace_page(collector: Collector) -> None:
    status, _, headers = await get(collector.url + "/project/local-project/traces/trace-agent")
    assert status == 302 and headers["Location"] == "/_ui/traces/trace-agent"


async def test_a_foreign_host_name_is_refused(collector: Collector) -> None:
    # A page on another site that rebinds its name to 127.0.0.1 must not read the traces.
    status, body, _ = await get(collector.url + "/", Host="attacker.example:3000")
    assert status == 403 and "loopback" in body
    for host in ("localhost:3000", "127.0.0.1", "[::1]:80"):
        status, _, _ = await get(collector.url + "/", Host=host)
        assert status == 200, host


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("loopback", "host", "authorization", "expected"),
    [
        (True, "127.0.0.1:3000", None, None),
        (True, "localhost", None, None),
        (True, "[::1]:3000", None, None),
        (True, "evil.example", None, "host"),
        (True, None, None, "host"),
        (False, "10.0.0.5:3000", None, "login"),
        (False, "10.0.0.5:3000", basic("pk", "wrong"), "login"),
        (False, "10.0.0.5:3000", basic("other", "sk"), "login"),
        (False, "10.0.0.5:3000", "Basic !!!", "login"),
        (False, "10.0.0.5:3000", basic("pk", "sk"), None),
    ],
)
def test_access_rules(
    loopback: bool, host: str | None, authorization: str | None, expected: str | None
) -> None:
    problem = access_problem(
        loopback=loopback,
        host_header=host,
        authorization=authorization,
        public_key="pk",
        secret_key="sk",
    )
    assert problem == expected


async def test_bound_off_loopback_the_view_asks_for_the_keys(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # As if bound to a LAN address (the test binds loopback): the view wants the project keys.
    monkeypatch.setattr(_server, "is_loopback", lambda host: False)
    async with Collector(allow_remote=True) as c:
        status, _, headers = await get(c.url + "/")
        assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
        status, _, _ = await get(c.url + "/", Authorization=basic("pk-lf-local", "sk-lf-local"))
        assert status == 200
    assert "reachable from other machines" in caplog.text


@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)]
)
def test_without_chromium_browser_tests_skip_except_in_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    from tests.support import browser

    monkeypatch.setattr(browser, "chromium_path", lambda: None)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="chromium is not installed"), browser.headless_chromium():
        pass


async def test_the_list_follows_new_data() -> None:
    # Orphans and filter suggestions are kept between requests until something is written.
    async with Collector() as c:
        await ingest(c.url, [span("span-create", "late", "o1", "early-span", 0, 10)])
        _, before, _ = await get(c.url + "/")
        await ingest(
            c.url, [event("trace-create", {"id": "late", "name": "arrived", "userId": "u-9"})]
        )
        _, after, _ = await get(c.url + "/")
    assert "(no trace event)" in before and "arrived" not in before
    assert names_in(after) == ["arrived"] and "(no trace event)" not in after
    assert '<option value="u-9">' in after and '<option value="u-9">' not in before


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("beta", ["t-beta"]),
        ("be", ["t-be"]),  # a tag inside another tag's text is not that tag
        ('be"ta', ["t-quote"]),
        ("back\\slash", ["t-backslash"]),
        ("naïve", ["t-accent"]),
        ("a,b", ["t-comma"]),
        ("", []),
        ("missing", []),
    ],
)
def test_the_tag_filter_matches_whole_tags_whatever_their_characters(
    tag: str, expected: list[str]
) -> None:
    from langfuse_async._collector._store import PendingEvent, Store

    tags = {
        "t-beta": ["beta", "x"],
        "t-be": ["be"],
        "t-quote": ['be"ta'],
        "t-backslash": ["back\\slash"],
        "t-accent": ["naïve", "beta-2"],
        "t-comma": ["a,b"],
    }
    store = Store(":memory:")
    store.apply(
        PendingEvent(
            {
                "id": f"e-{trace_id}",
                "type": "trace-create",
                "timestamp": "2026-08-22T10:00:00.000Z",
                "body": {"id": trace_id, "tags": trace_tags},
            }
        )
        for trace_id, trace_tags in tags.items()
    )
    rows, total = store.web_trace_rows(tag=tag)
    assert [row["id"] for row in rows] == expected
    assert total == len(expected)
    assert all(tag in row["tags"] for row in rows)


# --- found using the view in a browser -------------------------------------------------------


async def test_an_empty_collector_says_how_to_send_it_traces() -> None:
    # The demo's default is its own embedded collector: only --remote sends here, and with
    # the keys this collector accepts, not the defaults.
    async with Collector(public_key="pk-lf-mine", secret_key="sk-lf-mine") as c:
        status, html, _ = await get(c.url + "/")
        url = c.url
    assert status == 200 and "No traces yet" in html
    assert f"LANGFUSE_BASE_URL={url}" in html
    assert "LANGFUSE_PUBLIC_KEY=pk-lf-mine" in html
    # A chosen secret is never written into the page (as the serve banner never prints it).
    assert "sk-lf-mine" not in html and "LANGFUSE_SECRET_KEY=&lt;your --secret-key&gt;" in html
    assert "langfuse-async demo --remote" in html and "--local" not in html
    async with Collector() as c:
        status, html, _ = await get(c.url + "/")
    assert "LANGFUSE_SECRET_KEY=sk-lf-local" in html


@pytest.mark.parametrize(("query", "pages"), [("limit=4&page=9", 2), ("tag=beta&page=3", 1)])
async def test_a_page_past_the_end_links_to_the_last_one(
    collector: Collector, query: str, pages: int
) -> None:
    _, html, _ = await get(f"{collector.url}/?{query}")
    assert "is past the end" in html and "No traces match" not in html
    last = re.search(r'<a href="([^"]*)">Go to the last page</a>', html)
    assert last is not None
    _, page, _ = await get(collector.url + unescape(last[1]))
    assert f"Page {pages} of {pages}" in page and names_in(page)


async def test_the_header_counts_the_traces_the_list_shows() -> None:
    async with Collector() as c:
        await ingest(c.url, [span("span-create", "orphan", "o1", "no-trace-event", 0, 10)])
        _, html, _ = await get(c.url + "/")
    assert "of <b>1</b> trace," in html
    assert '<span class="stat"><b>1</b> trace</span>' in html


def test_durations_and_the_axis_read_in_units_people_count_in() -> None:
    from langfuse_async._collector._web_page import duration
    from langfuse_async._collector._web_trace import _axis

    assert [duration(ms) for ms in (250, 1_840, 125_000, 5 * 3_600_000 + 61_000)] == [
        "250 ms",
        "1.84 s",
        "2 min 05 s",
        "5 h 01 min",
    ]
    assert duration(403 * 86_400_000 + 7_200_000) == "403 d 02 h"
    assert duration(-200) == "\u2212200 ms"

    def ticks(span: float) -> list[str]:
        return re.findall(r'class="tick"[^>]*>([^<]*)<', _axis(span))

    assert ticks(1_840) == ["0 ms", "500 ms", "1 s", "1.5 s"]
    assert ticks(3_600_000) == ["0 min", "15 min", "30 min", "45 min", "60 min"]
    assert ticks(5 * 3_600_000) == ["0 h", "2 h", "4 h"]
    assert ticks(403 * 86_400_000) == ["0 d", "200 d", "400 d"]
    assert ticks(0.7) == ["0 ms", "0.2 ms", "0.4 ms", "0.6 ms"]


async def test_odd_times_and_tiny_costs_are_shown_as_they_are() -> None:
    day = 86_400_000
    events = [
        event("trace-create", {"id": "odd", "name": "odd"}),
        span("span-create", "odd", "backwards", "backwards", 300, 100),
        span("span-create", "odd", "last-year", "last-year", -400 * day, -400 * day + 20),
        span(
            "generation-create",
            "odd",
            "cheap",
            "cheap",
            0,
            10,
            usageDetails={"input": 10**15},
            costDetails={"total": 1.2e-12, "input": 1e20},
        ),
    ]
    async with Collector() as c:
        await ingest(c.url, events)
        _, page, _ = await get(c.url + "/_ui/traces/odd")
        _, backwards, _ = await get(c.url + "/_ui/traces/odd/detail?observation=backwards")
        _, cheap, _ = await get(c.url + "/_ui/traces/odd/detail?observation=cheap")
        _, listed, _ = await get(c.url + "/")
    assert "e+" not in re.sub(r"<[^>]*>", "", page.split('class="axis"')[1].split("</div>")[0])
    assert "400 d 00 h" in page  # the trace's latency, not "576000 min 00 s"
    bar = re.search(r'data-observation-id="backwards".*?</li>', page, re.S)
    assert bar is not None and "\u2212200 ms" in bar[0] and "ends before it starts" in bar[0]
    assert "\u2212200 ms" in backwards and "ends before it starts" in backwards
    assert "$0.0000000000012" in cheap and "$1e+20" in cheap and "1,000,000,000,000,000" in cheap
    assert "$0.0000000000012" in page and "$0.0000000000012" in listed


async def test_a_long_user_chip_filters_by_the_whole_id() -> None:
    user, session = "u" * 1_000, "s" * 3_000
    events = [event("trace-create", {"id": "t", "name": "t", "userId": user, "sessionId": session})]
    async with Collector() as c:
        await ingest(c.url, events)
        _, listed, _ = await get(c.url + "/")
        _, page, _ = await get(c.url + "/_ui/traces/t")
        links = re.findall(r'<a class="chip" href="([^"]*)"', listed + page)
        found = [names_in((await get(c.url + unescape(link)))[1]) for link in links]
    # The user chips (list and trace page) find the trace; the session is too long to link.
    assert found == [["t"], ["t"]]
    assert listed.count('title="too long to filter by"') == 1
    assert page.count('title="too long to filter by"') == 1


async def test_a_small_deep_value_is_not_called_large() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(40):
        node["n"] = node = {}
    async with Collector() as c:
        await ingest(c.url, [event("trace-create", {"id": "deep", "name": "deep", "input": deep})])
        _, html, _ = await get(c.url + "/_ui/traces/deep")
    assert "Deep value" in html and "Large value" not in html


async def test_invisible_characters_in_json_are_shown_as_escapes() -> None:
    value = {"bin": "\x00\x01\x7f\x9f", "rtl": "\u202eabc", "text": "line 1\nline\t2"}
    async with Collector() as c:
        await ingest(c.url, [event("trace-create", {"id": "bin", "name": "bin", "input": value})])
        _, html, _ = await get(c.url + "/_ui/traces/bin")
    shown = unescape(re.sub(r"<[^>]*>", "", html.split('class="json"')[1]))
    assert "\\u0000\\u0001\\u007f\\u009f" in shown and "\\u202eabc" in shown
    assert "line 1\nline\t2" in shown  # laid out, not escaped
    assert not re.search("[\x00\x01\x7f\x9f\u202e]", html)


async def test_a_row_says_when_it_shows_only_some_tags_and_scores() -> None:
    events = [
        event("trace-create", {"id": "t", "name": "t", "tags": [f"tag-{i}" for i in range(11)]})
    ]
    events += [
        event("score-create", {"id": f"s{i}", "traceId": "t", "name": f"s{i}", "value": i})
        for i in range(6)
    ]
    async with Collector() as c:
        await ingest(c.url, events)
        _, html, _ = await get(c.url + "/")
    assert 'title="3 more tags">+3<' in html and 'title="2 more scores">+2<' in html


async def test_the_trace_panel_says_when_it_shows_only_some_tags() -> None:
    tags = [f"tag-{i}" for i in range(53)]
    async with Collector() as c:
        await ingest(c.url, [event("trace-create", {"id": "t", "name": "t", "tags": tags})])
        _, html, _ = await get(c.url + "/_ui/traces/t")
    # 50 chips, then how many more (it dropped them without a word).
    assert 'title="3 more tags">+3<' in html


async def test_a_trace_without_a_name_is_unnamed_and_one_without_an_event_says_so() -> None:
    events = [
        event("trace-create", {"id": "nameless"}),
        span("span-create", "orphan", "o1", "only-span", 0, 10),
    ]
    async with Collector() as c:
        await ingest(c.url, events)
        _, nameless, _ = await get(c.url + "/_ui/traces/nameless")
        _, orphan, _ = await get(c.url + "/_ui/traces/orphan")
        _, fragment, _ = await get(c.url + "/_ui/traces/orphan/detail")
    assert "(unnamed)" in nameless and "(no trace event)" not in nameless
    assert "0 observations" in nameless and "1 observation \u00b7" in orphan
    assert "(unnamed)" not in orphan and "(trace)" not in orphan
    assert orphan.count("(no trace event)") == 4  # crumbs, heading, timeline, panel
    assert "(no trace event)" in fragment


# --- filters match values exactly, white space included --------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ListQuery()),
        ({"name": " checkout "}, ListQuery(name=" checkout ")),
        ({"name": "", "user": "", "session": "", "tag": ""}, ListQuery()),
        ({"name": "  "}, ListQuery(name="  ")),  # spaces alone are a value, as in the API
        ({"userId": "u-1 ", "sessionId": "\ts"}, ListQuery(user="u-1 ", session="\ts")),
        ({"user": "", "userId": "u-2"}, ListQuery(user="u-2")),
        ({"user": "u-1", "userId": "u-2"}, ListQuery(user="u-1")),
        ({"tag": " beta"}, ListQuery(tag=" beta")),
        ({"page": "3", "limit": "10"}, ListQuery(page=3, limit=10)),
        ({"page": "0", "limit": "100000"}, ListQuery(page=1, limit=200)),
        ({"page": "two", "limit": ""}, ListQuery()),
    ],
)
def test_the_list_query_keeps_filter_values_as_given(
    params: dict[str, str], expected: ListQuery
) -> None:
    assert parse_list_query(params) == expected


@pytest.mark.parametrize(
    "query",
    [
        ListQuery(name=" checkout", user="u-1 ", tag="\tbeta\n", page=4, limit=10),
        ListQuery(name="  ", session="a&b=c d"),
        ListQuery(),
    ],
)
def test_a_list_url_reads_back_as_the_same_query(query: ListQuery) -> None:
    url = query.url()
    assert parse_list_query(dict(parse_qsl(urlsplit(url).query))) == query


def test_the_query_without_white_space_at_its_ends() -> None:
    assert ListQuery(name="checkout", tag="beta").trimmed() is None
    assert ListQuery(name=" checkout", user="u-1", page=3, limit=10).trimmed() == ListQuery(
        name="checkout", user="u-1", limit=10
    )
    assert ListQuery(name="  ", tag=" beta ").trimmed() == ListQuery(tag="beta")
    assert ListQuery(name="  ").trimmed() == ListQuery()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("checkout", "checkout"),
        ("a b", "a b"),
        (
            " checkout",
            '<span class="ws" title="leading white space: &#x27; &#x27;"> </span>checkout',
        ),
        ("u-1\t", 'u-1<span class="ws" title="trailing white space: &#x27;\\t&#x27;">\t</span>'),
        ("  ", '<span class="ws" title="only white space: &#x27;  &#x27;">  </span>'),
        ("<b> ", '&lt;b&gt;<span class="ws" title="trailing white space: &#x27; &#x27;"> </span>'),
        ("x\n", 'x<span class="ws" title="trailing white space: &#x27;\\n&#x27;"> </span>'),
    ],
)
def test_white_space_at_the_ends_of_a_value_is_marked(text: str, expected: str) -> None:
    assert visible_text(text) == expected


async def test_filters_find_values_with_white_space_exactly() -> None:
    async with Collector() as c:
        await ingest(c.url, spaced_traces())
        for query, expected in [
            ("name=%20checkout", ["spaced-1"]),
            ("name=checkout", ["spaced-0"]),
            ("name=checkout%09", ["spaced-2"]),
            ("name=%20%20", ["spaced-3"]),
            ("user=u-1", ["spaced-0", "spaced-2"]),
            ("userId=u-1%20", ["spaced-1"]),
            ("session=%09", ["spaced-3"]),
            ("tag=%20beta%20", ["spaced-1"]),
            ("tag=%20", ["spaced-3"]),
            ("user=first%0Asecond", ["spaced-4"]),
            ("name=&user=&tag=", ["spaced-0", "spaced-1", "spaced-2", "spaced-3", "spaced-4"]),
        ]:
            _, html, _ = await get(f"{c.url}/?{query}")
            shown = re.findall(r'<tr class="trace-row" data-trace-id="([^"]+)"', html)
            assert shown == expected, query
            _, body, _ = await get(f"{c.url}/_ui/api/traces?{query}")
            assert [row["id"] for row in json.loads(body)["data"]] == expected, query
        # Nothing matches " checkout ": the page offers what matches without the spaces.
        _, html, _ = await get(f"{c.url}/?name=%20checkout%20&tag=beta")
        assert 'href="/?name=checkout&amp;tag=beta">1 trace matches</a>' in html
