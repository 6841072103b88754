"""The ``langfuse_async.testing`` pytest plugin, run the way users run it: in a pytest session."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

INNER_CONFTEST = """
import pytest

@pytest.fixture
def anyio_backend():
    return "asyncio"
"""

INNER_TESTS = """
import base64

import aiohttp
import pytest

from langfuse_async.testing import Collector, Trace

pytestmark = pytest.mark.anyio


async def test_collector_fixture(langfuse_collector):
    assert isinstance(langfuse_collector, Collector)
    assert langfuse_collector.url.startswith("http://127.0.0.1:")
    assert str(langfuse_collector.db_path).endswith("langfuse-collector.db")
    auth = base64.b64encode(b"pk-lf-local:sk-lf-local").decode()
    event = {"id": "e", "type": "trace-create", "timestamp": "2026-08-22T10:00:00Z",
             "body": {"id": "t", "name": "hello"}}
    async with aiohttp.ClientSession() as http:
        async with http.post(langfuse_collector.url + "/api/public/ingestion",
                             json={"batch": [event]},
                             headers={"Authorization": "Basic " + auth}) as r:
            assert r.status == 207
    [trace] = await langfuse_collector.traces()
    assert isinstance(trace, Trace) and trace.name == "hello"


@pytest.mark.langfuse_collector(mode="v4", public_key="pk-x", secret_key="sk-x")
async def test_marker_configures_the_collector(langfuse_collector):
    assert (langfuse_collector.mode, langfuse_collector.public_key) == ("v4", "pk-x")


async def test_client_fixture_reaches_the_collector(langfuse_client, langfuse_collector):
    with langfuse_client.start_as_current_span(name="work"):
        trace_id = langfuse_client.get_current_trace_id()
    langfuse_client.create_score(name="quality", value=1.0, trace_id=trace_id)
    await langfuse_client.flush()
    await langfuse_collector.wait_for_events(2, timeout=10)
    [span] = await langfuse_collector.observations(trace_id=trace_id)
    [score] = await langfuse_collector.scores(trace_id=trace_id)
    assert (span.name, score.name) == ("work", "quality")


async def test_faults_are_reachable_from_the_fixture(langfuse_collector):
    langfuse_collector.faults.respond(503, "down", route="health")
    async with aiohttp.ClientSession() as http:
        async with http.get(langfuse_collector.url + "/api/public/health") as r:
            assert r.status == 503
"""


def run_inner_session(
    tmp_path, tests: str, *, ini: str = "[pytest]\n"
) -> subprocess.CompletedProcess[str]:
    """Run ``tests`` in a pytest session of their own, with this checkout's plugin.

    The plugin is loaded explicitly (not through the installed entry point) so the session
    checks this checkout's module, and an ini file of its own keeps it away from this project's
    settings.
    """
    (tmp_path / "conftest.py").write_text(INNER_CONFTEST)
    (tmp_path / "pytest.ini").write_text(ini)
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(tests))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:langfuse_async",
            "-p",
            "langfuse_async.testing",
            "-p",
            "anyio",
            "-p",
            "no:cacheprovider",
            "-q",
            "-W",
            "error",
            "--rootdir",
            str(tmp_path),
            "-c",
            str(tmp_path / "pytest.ini"),
            str(tmp_path / "test_inner.py"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


def test_plugin_fixtures_in_a_pytest_session(tmp_path):
    result = run_inner_session(tmp_path, INNER_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


def test_plugin_import_is_cheap():
    code = (
        "import sys, langfuse_async\n"
        "before = set(sys.modules)\n"
        "import langfuse_async.testing\n"
        "added = set(sys.modules) - before\n"
        "heavy = sorted(m for m in added if m.split('.')[0] in {'aiohttp', 'sqlite3', 'msgspec'}"
        " or m.startswith('langfuse_async._collector'))\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.anyio
async def test_recorded_requests_never_show_the_credentials() -> None:
    from langfuse_async import Langfuse
    from langfuse_async.testing import Collector

    async with Collector() as collector:
        langfuse = Langfuse(
            collector.public_key, collector.secret_key, collector.url, transport="ingestion"
        )
        langfuse.start_observation(name="x").end()
        assert (await langfuse.shutdown(timeout=10)).completed
        [request] = collector.requests_to("ingestion")
        assert request.headers["authorization"].startswith("Basic ")
        text = repr(request)
        assert "<redacted>" in text and "Basic" not in text
        assert collector.secret_key not in text


def test_a_pytest_asyncio_test_using_the_fixtures_fails_fast_with_the_reason(tmp_path):
    # The marker stands in for pytest-asyncio, which marks coroutine tests with `asyncio`.
    result = run_inner_session(
        tmp_path,
        """
        import pytest

        @pytest.mark.asyncio
        def test_wrong_runner(langfuse_collector):
            pass
        """,
        ini="[pytest]\nmarkers =\n    asyncio: pytest-asyncio\n",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "mark the test with pytest.mark.anyio" in result.stdout
