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
def test_demo_remote_sends_to_the_server_langfuse_names_and_says_how_it_went(
    good_keys: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with ThreadedCollector() as server:
        url = server.collector.url
        env = server.env(**({} if good_keys else {"LANGFUSE_SECRET_KEY": "sk-wrong"}))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        code = _demo.main(["--remote"])
        counts = [len(server.query(lambda c: c.traces()))]
    out = capsys.readouterr().out
    assert f"sending to {url}" in out
    if good_keys:
        assert code == 0 and counts == [4]
        assert "the traces are in your Langfuse project" in out
    else:
        assert code == 1 and counts == [0]
        assert "some events were not delivered" in out


def test_demo_never_sends_to_the_server_langfuse_names_without_remote(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with ThreadedCollector() as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        assert _demo.main(["--mode", "v3"]) == 0
        assert server.collector.requests == ()
    out = capsys.readouterr().out
    assert "LANGFUSE_* is set but ignored: pass --remote" in out
    assert "embedded collector (v3) listening on" in out
    assert out.count("chat-turn") == 4


def test_demo_remote_needs_keys(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LANGFUSE_PUBLIC_KEY", raising=False)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk")
    assert _demo.main(["--remote"]) == 2
    assert capsys.readouterr().err == "error: --remote needs LANGFUSE_PUBLIC_KEY to be set\n"


def test_demo_remote_with_a_base_url_without_scheme_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", "pk")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk")
    monkeypatch.setenv("LANGFUSE_BASE_URL", "langfuse.internal:3000")
    assert _demo.main(["--remote"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: base_url (from LANGFUSE_BASE_URL) must start with https://")


@pytest.mark.parametrize("limit", ["0", "-3", "many"])
def test_demo_limit_must_be_a_positive_number(
    limit: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        _demo.main(["--limit", limit])
    assert exc.value.code == 2
    assert "argument --limit" in capsys.readouterr().err


def test_demo_remote_and_local_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _demo.main(["--remote", "--local"])
    assert exc.value.code == 2
