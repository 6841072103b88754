"""Make the README's screenshot of the web view: ``python -m tests.support.web_view_screenshot``.

Starts a collector on a free loopback port, sends it the agent run of the tests, opens the trace
page with the first generation selected in the system's headless chromium, and writes a PNG
(``docs/web-view.png`` by default).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tests.collector.webview_data import agent_run, ingest, simple_trace
from tests.support.browser import headless_chromium
from tests.support.threaded_collector import ThreadedCollector

if TYPE_CHECKING:
    from playwright.sync_api import Browser

DEFAULT_OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "web-view.png"


def render(browser: Browser, output: Path, *, width: int = 1440, height: int = 980) -> None:
    """Seed a collector and write the trace page's screenshot to ``output`` with ``browser``."""
    events = agent_run()
    for i, name in enumerate(["checkout", "search", "summarise"]):
        events += simple_trace(f"t-{i}", name, -60 * (i + 1), userId=f"u-{i}")
    with ThreadedCollector() as threaded:
        threaded.query(lambda c: ingest(c.url, events))
        page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
        try:
            page.goto(
                threaded.collector.url + "/_ui/traces/trace-agent?observation=trace-agent-llm"
            )
            output.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(output))
        finally:
            page.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=980)
    args = parser.parse_args(argv)
    with headless_chromium() as browser:
        render(browser, args.output, width=args.width, height=args.height)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
