"""``langfuse-async demo`` runs the workload through the embedded collector and shows it."""

from __future__ import annotations

import pytest

from langfuse_async import _demo


@pytest.mark.parametrize("mode", ["v3", "v4"])
def test_demo_delivers_everything_and_prints_the_trees(
    mode: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (
        "LANGFUSE_PUBLIC_KEY",
        "LANGFUSE_SECRET_KEY",
        "LANGFUSE_BASE_URL",
        "LANGFUSE_HOST",
    ):
        monkeypatch.delenv(name, raising=False)
    assert _demo.main(["--mode", mode]) == 0
    out = capsys.readouterr().out
    assert out.count("chat-turn") == 4
    assert "GENERATION llm" in out and "model=gpt-4o-mini" in out
    assert "TOOL weather" in out and "ERROR: ToolError: no weather station on Mars" in out
    assert "score helpfulness" in out
    expected = "transport=otlp" if mode == "v4" else "transport=ingestion"
    assert expected in out
    assert "failed=0 dropped=0 pending=0" in out
