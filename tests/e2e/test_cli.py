"""The ``langfuse-async`` command: serve, traces, demo dispatch, and refusing remote binds."""

from __future__ import annotations

import os
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


def _spawned_children(pid: int) -> list[int]:
    """The processes ``pid`` spawned with multiprocessing (its work and store processes)."""
    found = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat") as stat, open(f"/proc/{name}/cmdline", "rb") as cmd:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
                if parent == pid and b"spawn_main" in cmd.read():
                    found.append(int(name))
        except (OSError, ValueError):
            continue
    return found


def _running(pid: int) -> bool:
    # A zombie has ended (the container's first process may be slow to reap it).
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.anyio
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_serve_runs_until_interrupted(tmp_path, signum):
    db = tmp_path / "served.db"
    command = [
        sys.executable, "-m", "langfuse_async._cli", "serve",
        "--port", "0", "--db", str(db), "--mode", "v4",
    ]  # fmt: skip
    # A session of its own: Ctrl+C in a terminal signals the whole group, as done below.
    process = await anyio.open_process(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        assert process.stdout is not None
        buffer = b""
        with anyio.fail_after(20):
            while b"Ctrl+C" not in buffer:
                buffer += await process.stdout.receive()
        first = buffer.split(b"\n")[0].decode()
        assert first.startswith("langfuse-async collector listening on http://127.0.0.1:")
        url = first.split()[4]
        assert f"web view: {url}/" in buffer.decode()
        async with aiohttp.ClientSession() as http, http.get(url + "/api/public/health") as r:
            assert (r.status, await r.json()) == (200, {"status": "OK", "version": "4.16.0"})
        async with aiohttp.ClientSession() as http, http.get(url + "/") as r:
            assert r.status == 200 and "<h1>Traces</h1>" in await r.text()  # v4 mode too
        # Garbage framing is answered 400 and logged as one line, not a traceback.
        port = int(url.rsplit(":", 1)[1])
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            await stream.send(
                b"POST /api/public/ingestion HTTP/1.1\r\nHost: x\r\n"
                b"Transfer-Encoding: chunked\r\n\r\nZZ\r\n"
            )
            with anyio.fail_after(20):
                assert (await stream.receive()).startswith(b"HTTP/1.0 400")
        linux = sys.platform == "linux"
        # Its work process and its store's process.
        children = _spawned_children(process.pid) if linux else []
        assert len(children) == 2 or not linux
        if signum == signal.SIGINT:
            os.killpg(process.pid, signum)  # as a terminal's Ctrl+C: every process of the group
        else:
            process.send_signal(signum)
        with anyio.fail_after(20):
            assert await process.wait() == 0
        assert process.stderr is not None
        errors = b""
        with anyio.fail_after(20):
            try:
                while True:
                    errors += await process.stderr.receive()
            except anyio.EndOfStream:
                pass
        assert b"Traceback" not in errors  # none from its work or store process either
        assert b"answered a malformed HTTP request with 400" in errors
        assert not [pid for pid in children if _running(pid)]  # none left behind
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await process.aclose()
    assert db.exists()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("options", "shown", "hidden"),
    [
        ([], "LANGFUSE_SECRET_KEY=sk-lf-local", None),
        (
            ["--public-key", "pk-chosen", "--secret-key", "sk-chosen-s3cret"],
            "LANGFUSE_SECRET_KEY=<your --secret-key>",
            "sk-chosen-s3cret",
        ),
    ],
)
async def test_serve_prints_the_default_secret_key_and_never_a_chosen_one(
    tmp_path, options, shown, hidden
):
    # The banner is what ends up in screenshots and shared terminals: a secret chosen with
    # --secret-key must not be in it, while the default one (known to all) helps a new user.
    command = [
        sys.executable, "-m", "langfuse_async._cli", "serve",
        "--port", "0", "--db", str(tmp_path / "x.db"), *options,
    ]  # fmt: skip
    process = await anyio.open_process(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None
        banner = b""
        with anyio.fail_after(20):
            while b"Ctrl+C" not in banner:
                banner += await process.stdout.receive()
        text = banner.decode()
        assert shown in text
        assert hidden is None or hidden not in text
        process.send_signal(signal.SIGINT)
        with anyio.fail_after(20):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await process.aclose()


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_serve_rejects_a_bad_port_with_a_usage_error(tmp_path, capsys, port):
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--port", port, "--db", str(tmp_path / "x.db")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--port" in err and "Traceback" not in err
    assert not (tmp_path / "x.db").exists()


def test_serve_reports_a_database_it_cannot_open(tmp_path, capsys):
    assert main(["serve", "--port", "0", "--db", str(tmp_path / "no" / "such" / "x.db")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot open database ") and "Traceback" not in err
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("not a database, just notes\n" * 100)
    assert main(["serve", "--port", "0", "--db", str(not_sqlite)]) == 1
    assert capsys.readouterr().err.startswith("error: cannot open database ")
    assert not_sqlite.read_text() == "not a database, just notes\n" * 100


def test_traces_reports_unreadable_or_foreign_databases(tmp_path, capsys):
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("not a database, just notes\n" * 100)
    assert main(["traces", "--db", str(not_sqlite)]) == 1
    assert "error:" in capsys.readouterr().err
    assert main(["traces", "--db", str(tmp_path)]) == 1  # a directory
    assert "error:" in capsys.readouterr().err
    # Another program's SQLite file is reported and left exactly as it was.
    import sqlite3

    foreign = tmp_path / "other.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE things (x)")
    conn.commit()
    conn.close()
    before = foreign.read_bytes()
    assert main(["traces", "--db", str(foreign)]) == 1
    assert "not a langfuse-async database" in capsys.readouterr().err
    assert foreign.read_bytes() == before
    assert not (tmp_path / "other.db-wal").exists()


def test_serve_reports_a_port_in_use(tmp_path, capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port), "--db", str(tmp_path / "x.db")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot listen on 127.0.0.1:{port}") and "Traceback" not in err


@pytest.mark.parametrize("host", ["", "::", "0.0.0.0", "192.168.1.10", "example.com", "127.1"])
def test_serve_refuses_every_address_that_is_not_plainly_loopback(tmp_path, capsys, host):
    assert main(["serve", "--host", host, "--port", "0", "--db", str(tmp_path / "x.db")]) == 2
    assert "--allow-remote" in capsys.readouterr().err
    assert not (tmp_path / "x.db").exists()


def test_help_texts_name_the_defaults(capsys):
    for command in (["--help"], ["serve", "--help"], ["traces", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(command)
        assert exc.value.code == 0
    out = capsys.readouterr().out
    for expected in (
        "serve",
        "traces",
        "demo",
        "--port PORT",
        "default 3000",
        "--db PATH",
        "langfuse-async.db",
        "default pk-lf-local",
        "--allow-remote",
        "development server",
        "--limit N",
    ):
        assert expected in out, expected


def test_version(capsys):
    from langfuse_async import __version__

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"langfuse-async {__version__}"


def test_version_from_the_installed_command():
    result = subprocess.run(
        [sys.executable, "-m", "langfuse_async._cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout.startswith("langfuse-async ")


def test_the_serving_process_keeps_its_startup_heap_out_of_full_collections() -> None:
    # In a child: the settings are process-wide, and this process is pytest's.
    script = (
        "import gc, sys; from langfuse_async._cli import _tune_serving_process; "
        "_tune_serving_process(); print(gc.get_freeze_count() > 0, sys.getswitchinterval())"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["True", "0.0005"]
