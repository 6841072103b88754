"""The ``langfuse-async`` command: serve, traces, demo dispatch, and refusing remote binds."""

from __future__ import annotations

import signal
import subprocess
import sys
import types

import aiohttp
import anyio
import pytest

from langfuse_async._cli import main
from langfuse_async._collector._store import PendingEvent, Store


def _event(envelope_id: str, event_type: str, body: dict, second: int = 0) -> PendingEvent:
    return PendingEvent(
        {
            "id": envelope_id,
            "type": event_type,
            "timestamp": f"2026-08-22T10:00:{second:02d}.000Z",
            "body": body,
        }
    )


def test_traces_prints_an_indented_tree(tmp_path, capsys):
    db = tmp_path / "t.db"
    store = Store(db)
    store.apply(
        [
            _event(
                "1",
                "trace-create",
                {"id": "t1", "name": "chat-turn", "userId": "u1", "tags": ["b"]},
            ),
            _event(
                "2",
                "span-create",
                {
                    "id": "root",
                    "traceId": "t1",
                    "name": "handle",
                    "startTime": "2026-08-22T10:00:00Z",
                    "endTime": "2026-08-22T10:00:01.25Z",
                },
            ),
            _event(
                "3",
                "generation-create",
                {
                    "id": "gen",
                    "traceId": "t1",
                    "parentObservationId": "root",
                    "name": "llm",
                    "model": "gpt-4o-mini",
                    "startTime": "2026-08-22T10:00:00.1Z",
                    "endTime": "2026-08-22T10:00:00.6Z",
                    "usageDetails": {"input": 12, "output": 3},
                    "costDetails": {"total": 0.0000036},
                },
            ),
            _event(
                "4",
                "span-create",
                {
                    "id": "tool",
                    "traceId": "t1",
                    "parentObservationId": "root",
                    "name": "search",
                    "level": "ERROR",
                    "statusMessage": "timeout",
                    "startTime": "2026-08-22T10:00:00.7Z",
                },
            ),
            _event(
                "5",
                "score-create",
                {
                    "id": "s",
                    "traceId": "t1",
                    "observationId": "gen",
                    "name": "quality",
                    "value": 0.9,
                },
            ),
            _event("6", "span-create", {"id": "lonely", "traceId": "t2", "name": "orphan"}),
        ]
    )
    store.close()
    assert main(["traces", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("chat-turn  trace t1  2026-08-22T10:00:00.000Z")
    assert "user=u1" in lines[0] and "tags=b" in lines[0]
    body = "\n".join(lines[1:])
    assert "SPAN handle  1.25s" in body
    assert "GENERATION llm  500ms  model=gpt-4o-mini  usage input=12 output=3 total=15" in body
    assert "cost=$0.0000036" in body
    assert "SPAN search" in body and "ERROR: timeout" in body
    assert "score quality = 0.9" in body
    # Children are indented under their parent, the score under the generation it scores.
    generation_line = next(line for line in lines if "GENERATION llm" in line)
    score_line = next(line for line in lines if "score quality" in line)
    assert len(score_line) - len(score_line.lstrip("│├└─ |`")) > len(generation_line) - len(
        generation_line.lstrip("│├└─ |`")
    )
    assert "(no trace event)  trace t2" in out

    assert main(["traces", "--db", str(db), "--limit", "1"]) == 0
    assert "t2" not in capsys.readouterr().out


def test_traces_errors(tmp_path, capsys):
    assert main(["traces", "--db", str(tmp_path / "missing.db")]) == 1
    assert "no database" in capsys.readouterr().err
    Store(tmp_path / "empty.db").close()
    assert main(["traces", "--db", str(tmp_path / "empty.db")]) == 0
    assert capsys.readouterr().out.strip() == "No traces yet."
    assert main(["traces", "--db", str(tmp_path / "empty.db"), "--limit", "0"]) == 2


def test_serve_refuses_a_non_loopback_host(tmp_path, capsys):
    assert main(["serve", "--host", "0.0.0.0", "--port", "0", "--db", str(tmp_path / "x.db")]) == 2
    assert "--allow-remote" in capsys.readouterr().err


def test_demo_is_delegated_lazily(monkeypatch):
    calls: list[list[str]] = []
    fake = types.ModuleType("langfuse_async._demo")
    fake.main = lambda argv: calls.append(list(argv)) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "langfuse_async._demo", fake)
    assert main(["demo", "--fast"]) == 0
    assert calls == [["--fast"]]


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        main(["serve", "--mode", "v9"])


@pytest.mark.anyio
async def test_serve_runs_until_interrupted(tmp_path):
    db = tmp_path / "served.db"
    command = [
        sys.executable, "-m", "langfuse_async._cli", "serve",
        "--port", "0", "--db", str(db), "--mode", "v4",
    ]  # fmt: skip
    process = await anyio.open_process(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None
        buffer = b""
        with anyio.fail_after(20):
            while b"\n" not in buffer:
                buffer += await process.stdout.receive()
        first = buffer.split(b"\n")[0].decode()
        assert first.startswith("langfuse-async collector listening on http://127.0.0.1:")
        url = first.split()[4]
        async with aiohttp.ClientSession() as http, http.get(url + "/api/public/health") as r:
            assert (r.status, await r.json()) == (200, {"status": "OK", "version": "4.16.0"})
        process.send_signal(signal.SIGINT)
        with anyio.fail_after(20):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await process.aclose()
    assert db.exists()
