"""The README's quick start runs as written against the local collector."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support.threaded_collector import ThreadedCollector

ROOT = Path(__file__).resolve().parent.parent.parent


def quick_start() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Quick start") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_readme_commands_are_the_ones_ci_runs() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    test_command = 'python -m pip install -e ".[test]" && python -m pytest'
    assert test_command in text.split("## Quick start")[0]
    assert test_command in ci
    assert "python -m pip install . && langfuse-async demo" in text.split("## Quick start")[0]


def test_the_quick_start_runs_against_the_local_collector() -> None:
    with ThreadedCollector() as server:
        proc = subprocess.run(
            [sys.executable, "-c", quick_start()],
            env={**os.environ, **server.env()},
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert proc.returncode == 0, proc.stderr
        assert "all delivered: True" in proc.stdout
        assert "not delivered" not in proc.stdout
        assert "pending=0" in proc.stdout
        traces = server.query(lambda c: c.traces())
    [trace] = traces
    assert trace.user_id == "u-1"  # type: ignore[attr-defined]


def test_the_quick_start_does_not_say_delivered_when_every_event_failed() -> None:
    with ThreadedCollector() as server:
        proc = subprocess.run(
            [sys.executable, "-c", quick_start()],
            env={**os.environ, **server.env(LANGFUSE_SECRET_KEY="sk-lf-wrong")},
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert proc.returncode == 0, proc.stderr
    assert "not delivered:" in proc.stdout  # on_error saw every event fail
    assert "all delivered: False" in proc.stdout
