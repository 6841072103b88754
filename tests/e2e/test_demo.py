"""``langfuse-async demo`` runs the workload through the embedded collector and shows it."""

from __future__ import annotations

import pytest

from langfuse_async import _demo
from tests.support.threaded_collector import ThreadedCollector


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


@pytest.mark.parametrize("good_keys", [True, False])
def test_demo_with_credentials_sends_to_that_server_and_says_how_it_went(
    good_keys: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with ThreadedCollector() as server:
        url = server.collector.url
        env = server.env(**({} if good_keys else {"LANGFUSE_SECRET_KEY": "sk-wrong"}))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        code = _demo.main([])
        counts = [len(server.query(lambda c: c.traces()))]
    out = capsys.readouterr().out
    assert f"sending to {url}" in out
    if good_keys:
        assert code == 0 and counts == [4]
        assert "the traces are in your Langfuse project" in out
    else:
        assert code == 1 and counts == [0]
        assert "some events were not delivered" in out
