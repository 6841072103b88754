"""``langfuse-async traces`` filters, JSON and verbose output; ``serve`` refusing a foreign file."""

from __future__ import annotations

import io
import json
import sqlite3
from typing import Any

import pytest

from langfuse_async._cli import main
from langfuse_async._collector._store import PendingEvent, Store
from tests.support.openapi import check, load_spec


def event(envelope_id: str, event_type: str, body: dict[str, Any], second: int) -> PendingEvent:
    return PendingEvent(
        {
            "id": envelope_id,
            "type": event_type,
            "timestamp": f"2026-08-22T10:00:{second:02d}.000Z",
            "body": body,
        }
    )


@pytest.fixture
def db(tmp_path) -> str:
    path = tmp_path / "c.db"
    store = Store(path)
    store.apply(
        [
            event("1", "trace-create", {"id": "t1", "name": "chat", "userId": "u1"}, 1),
            event("2", "trace-create", {"id": "t2", "name": "search", "sessionId": "s9"}, 2),
            event(
                "3",
                "span-create",
                {
                    "id": "o1",
                    "traceId": "t1",
                    "name": "handle",
                    "input": {"question": "why?"},
                    "output": "x" * 400,
                    "startTime": "2026-08-22T10:00:01Z",
                    "endTime": "2026-08-22T10:00:02Z",
                },
                1,
            ),
            event(
                "4",
                "span-create",
                {"id": "o2", "traceId": "orphan", "name": "lonely"},
                3,
            ),
        ]
    )
    store.close()
    return str(path)


def traces(capsys, *args: str) -> str:
    assert main(["traces", *args]) == 0
    return capsys.readouterr().out


def test_filters_pick_traces(db, capsys):
    assert "trace t1" in traces(capsys, "--db", db, "--user", "u1")
    assert "trace t2" not in traces(capsys, "--db", db, "--user", "u1")
    by_session = traces(capsys, "--db", db, "--session", "s9")
    assert "trace t2" in by_session and "trace t1" not in by_session
    assert "trace t2" in traces(capsys, "--db", db, "--name", "search")
    assert "trace t1" in traces(capsys, "--db", db, "--trace-id", "t1")
    # A trace only its observations name can still be asked for by id.
    assert "lonely" in traces(capsys, "--db", db, "--trace-id", "orphan")
    assert traces(capsys, "--db", db, "--user", "nobody").strip() == "No traces match."
    unfiltered = traces(capsys, "--db", db)
    assert all(f"trace {t}" in unfiltered for t in ("t1", "t2", "orphan"))


def test_verbose_shows_input_and_output_cut_short(db, capsys):
    out = traces(capsys, "--db", db, "--trace-id", "t1", "--verbose")
    assert 'input: {"question": "why?"}' in out
    assert "output: " + "x" * 300 + "... (100 more characters; --json shows all)" in out
    assert "input:" not in traces(capsys, "--db", db, "--trace-id", "t1")


def test_json_is_the_apis_trace_with_full_details(db, capsys):
    out = traces(capsys, "--db", db, "--json", "--user", "u1")
    [trace] = json.loads(out)
    check(load_spec(), "TraceWithFullDetails", trace)
    assert trace["id"] == "t1" and trace["observations"][0]["output"] == "x" * 400
    assert json.loads(traces(capsys, "--db", db, "--json", "--name", "none")) == []


def test_json_and_verbose_do_not_mix(db, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["traces", "--db", db, "--json", "--verbose"])
    assert exit_info.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


def test_serve_refuses_another_applications_database(tmp_path, capsys):
    foreign = tmp_path / "app.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    before = foreign.read_bytes()
    assert main(["serve", "--db", str(foreign), "--port", "0"]) == 2
    assert "not a langfuse-async database" in capsys.readouterr().err
    assert foreign.read_bytes() == before


def test_a_huge_limit_is_all_traces_not_a_crash(db, capsys):
    out = traces(capsys, "--db", db, "--limit", str(10**20))
    assert "trace t1" in out and "trace t2" in out


@pytest.mark.parametrize("form", [[], ["--verbose"], ["--json"]])
def test_an_output_that_cannot_encode_a_name_escapes_it(tmp_path, monkeypatch, form):
    # A pipe or file on a non-UTF-8 locale (cp1252 on Windows): printing raised
    # UnicodeEncodeError with a traceback.
    path = tmp_path / "u.db"
    store = Store(path)
    store.apply([event("1", "trace-create", {"id": "t1", "name": "caf\u00e9 \u4e2d"}, 1)])
    store.close()
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii", newline="\n")
    monkeypatch.setattr("sys.stdout", out)
    assert main(["traces", "--db", str(path), *form]) == 0
    out.flush()
    text = raw.getvalue().decode("ascii")
    if form == ["--json"]:
        [trace] = json.loads(text)
        assert trace["name"] == "caf\u00e9 \u4e2d"
    else:
        assert "caf\\xe9 \\u4e2d" in text


@pytest.mark.parametrize("option", ["--name", "--user", "--session", "--trace-id"])
def test_a_filter_that_is_not_utf8_is_refused_not_a_traceback(db, capsys, option):
    # A byte the locale cannot decode reaches argv as a lone surrogate, which SQLite refused
    # with a UnicodeEncodeError.
    assert main(["traces", "--db", db, option, "\udcff"]) == 2
    assert f"{option} is not valid UTF-8" in capsys.readouterr().err
