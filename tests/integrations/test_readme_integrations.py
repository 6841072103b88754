"""The README's integration examples run as written against the collector and a fake OpenAI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_openai import FakeOpenAI
from tests.support.threaded_collector import ThreadedCollector

ROOT = Path(__file__).resolve().parent.parent.parent


def example(section: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    part = text[text.index(f"### {section} (") :]
    match = re.search(r"```python\n(.*?)```", part, re.S)
    assert match is not None
    return match.group(1)


def run(section: str) -> tuple[str, list[Any]]:
    with ThreadedCollector() as server, FakeOpenAI.threaded() as openai_server:
        env = {
            **os.environ,
            **server.env(),
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": openai_server.base_url,
        }
        proc = subprocess.run(
            [sys.executable, "-c", example(section)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert proc.returncode == 0, proc.stderr
        assert "flushed: True" in proc.stdout
        observations = server.query(lambda c: c.observations())
    return proc.stdout, observations


@pytest.mark.parametrize(
    ("section", "printed", "expected"),
    [
        (
            "OpenAI",
            "Hello world",
            {("answer", "SPAN"), ("answer", "GENERATION"), ("stream_answer", "SPAN")},
        ),
        (
            "LangChain",
            "Paris is sunny today",
            {("weather", "CHAIN"), ("GenericFakeChatModel", "GENERATION")},
        ),
        ("OpenTelemetry", "steps for a trip", {("invoke_agent", "AGENT"), ("plan", "SPAN")}),
    ],
)
def test_readme_example_runs(section: str, printed: str, expected: set[tuple[str, str]]) -> None:
    stdout, observations = run(section)
    assert printed in stdout
    assert expected <= {(o.name, o.type) for o in observations}, observations
    generations = [o for o in observations if o.type == "GENERATION"]
    assert generations
    if section != "LangChain":  # the fake chat model has no model name
        assert all(g.model for g in generations)
