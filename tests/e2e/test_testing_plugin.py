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


INNER_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


def run_inner_session(
    tmp_path,
    tests: str,
    *,
    ini: str = INNER_INI,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    files: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``tests`` in a pytest session of their own, with this checkout's plugin.

    The plugin is loaded explicitly (not through the installed entry point) so the session
    checks this checkout's module, and an ini file of its own keeps it away from this project's
    settings. pytest-asyncio loads as installed (its entry point), as in a user's project.
    """
    (tmp_path / "conftest.py").write_text(INNER_CONFTEST)
    (tmp_path / "pytest.ini").write_text(ini)
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(tests))
    for name, text in (files or {}).items():
        (tmp_path / name).write_text(textwrap.dedent(text))
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
            *args,
            str(tmp_path / "test_inner.py"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )


@pytest.mark.parametrize("pytest_asyncio", ["installed", "absent"])
def test_plugin_fixtures_in_a_pytest_session(tmp_path, pytest_asyncio: str):
    if pytest_asyncio == "installed":
        result = run_inner_session(tmp_path, INNER_TESTS)
    else:
        result = run_inner_session(
            tmp_path, INNER_TESTS, ini="[pytest]\n", args=("-p", "no:asyncio")
        )
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


# The same tests, run by pytest-asyncio: in strict mode (marked), with other loop scopes, and in
# auto mode (unmarked).
ASYNCIO_TESTS = """
import pytest

from langfuse_async import get_client, observe


@observe()
async def my_handler(x):
    return x * 2


async def check(langfuse_client, langfuse_collector):
    assert await my_handler(21) == 42
    with langfuse_client.start_as_current_observation(name="work"):
        pass
    assert get_client() is langfuse_client
    await langfuse_client.flush()
    await langfuse_collector.wait_for_events(2, timeout=10)
    names = sorted(o.name for o in await langfuse_collector.observations())
    assert names == ["my_handler", "work"]


MARK
async def test_function_loop(langfuse_client, langfuse_collector):
    await check(langfuse_client, langfuse_collector)


MODULE_MARK
async def test_module_loop(langfuse_client, langfuse_collector):
    await check(langfuse_client, langfuse_collector)


MARK
async def test_collector_alone(langfuse_collector):
    assert langfuse_collector.url.startswith("http://127.0.0.1:")
    assert await langfuse_collector.traces() == []
"""


@pytest.mark.parametrize(
    ("mode", "mark", "module_mark"),
    [
        ("strict", "@pytest.mark.asyncio", '@pytest.mark.asyncio(loop_scope="module")'),
        ("auto", "", '@pytest.mark.asyncio(loop_scope="module")'),
        ("auto", "", ""),
    ],
)
def test_fixtures_under_pytest_asyncio(tmp_path, mode: str, mark: str, module_mark: str):
    tests = ASYNCIO_TESTS.replace("MODULE_MARK", module_mark).replace("MARK", mark)
    result = run_inner_session(tmp_path, tests, ini=INNER_INI + f"asyncio_mode = {mode}\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_fixtures_under_pytest_asyncio_with_a_session_loop_by_default(tmp_path):
    tests = ASYNCIO_TESTS.replace("MODULE_MARK", "MARK").replace("MARK", "@pytest.mark.asyncio")
    ini = INNER_INI + "asyncio_default_test_loop_scope = session\n"
    result = run_inner_session(tmp_path, tests, ini=ini)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_anyio_tests_beside_pytest_asyncio_strict_mode(tmp_path):
    tests = ASYNCIO_TESTS.replace("MODULE_MARK", "@pytest.mark.anyio").replace(
        "MARK", "@pytest.mark.anyio"
    )
    result = run_inner_session(tmp_path, tests, ini=INNER_INI + "asyncio_mode = strict\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


@pytest.mark.parametrize(
    ("test", "args", "message"),
    [
        (
            "def test_sync(langfuse_collector):\n    pass\n",
            (),
            "langfuse_collector is an async fixture: make the test async and mark it with "
            "pytest.mark.anyio",
        ),
        (
            "import pytest\n\n@pytest.mark.asyncio\nasync def test_a(langfuse_client):\n    pass\n",
            ("-p", "no:asyncio"),
            "the test is marked asyncio but pytest-asyncio is not active",
        ),
        (
            "async def test_unrun(langfuse_collector):\n    pass\n",
            (),
            "no plugin runs this async test; mark it with pytest.mark.anyio",
        ),
    ],
)
def test_a_test_the_fixtures_cannot_serve_fails_at_once_with_the_fix(
    tmp_path, test: str, args: tuple[str, ...], message: str
):
    # Without pytest-asyncio its ini option is unknown, and its marker must be declared.
    ini = (
        "[pytest]\nmarkers =\n    asyncio: pytest-asyncio is disabled here\n" if args else INNER_INI
    )
    result = run_inner_session(tmp_path, test, ini=ini, args=args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert message in result.stdout
    assert "Timeout" not in result.stdout


# A module of the application under test, imported at collection time, as the official docs
# teach: ``langfuse = get_client()`` at import.
APP_MODULE = """
from langfuse_async import get_client

langfuse = get_client()


async def handle(order_id):
    with langfuse.start_as_current_observation(name="handle", input={"order": order_id}):
        langfuse.update_current_trace(user_id="user-1")
    return "ok"
"""

ISOLATION_TESTS = """
import os

import pytest

import app
from langfuse_async import Langfuse, get_client

pytestmark = pytest.mark.anyio
SHELL_URL = os.environ["LANGFUSE_BASE_URL"]


async def test_module_level_client_is_captured(langfuse_client, langfuse_collector):
    assert os.environ["LANGFUSE_BASE_URL"] == langfuse_collector.url
    assert "LANGFUSE_TRACING_ENVIRONMENT" not in os.environ
    assert get_client() is langfuse_client
    assert await app.handle("o-1") == "ok"
    await langfuse_client.flush()
    await langfuse_collector.wait_for_events(1, timeout=10)
    [obs] = await langfuse_collector.observations(name="handle")
    assert obs.environment in (None, "default")  # not the shell's "shell-env"
    [trace] = await langfuse_collector.traces()
    assert trace.user_id == "user-1"


async def test_a_client_built_in_the_test_from_the_environment_goes_to_the_collector(
    langfuse_collector,
):
    async with Langfuse() as langfuse:
        langfuse.start_observation(name="from-env").end()
    [obs] = await langfuse_collector.observations()
    assert obs.name == "from-env"


built = []


async def test_get_client_in_a_collector_only_test_builds_one_for_the_collector(
    langfuse_collector,
):
    client = get_client()
    assert client is not app.langfuse
    built.append(client)
    client.start_observation(name="implicit").end()
    await client.flush()
    [obs] = await langfuse_collector.observations()
    assert obs.name == "implicit"


def test_a_client_built_during_a_test_is_shut_down_with_it():
    assert "closed" in repr(built[0])


def test_afterwards_the_previous_client_and_environment_are_back():
    assert get_client() is app.langfuse
    assert app.langfuse._config.base_url == SHELL_URL
    assert os.environ["LANGFUSE_TRACING_ENVIRONMENT"] == "shell-env"
"""


@pytest.mark.anyio
async def test_fixtures_isolate_the_shell_environment_and_capture_module_level_clients(
    tmp_path,
) -> None:
    import os

    import anyio

    from langfuse_async.testing import Collector

    async with Collector() as shell_server:  # what LANGFUSE_* of the developer's shell names
        env = {
            **os.environ,
            "LANGFUSE_BASE_URL": shell_server.url,
            "LANGFUSE_PUBLIC_KEY": shell_server.public_key,
            "LANGFUSE_SECRET_KEY": shell_server.secret_key,
            "LANGFUSE_TRACING_ENVIRONMENT": "shell-env",
            "PYTHONPATH": str(tmp_path),
        }
        result = await anyio.to_thread.run_sync(
            lambda: run_inner_session(
                tmp_path, ISOLATION_TESTS, env=env, files={"app.py": APP_MODULE}
            )
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "5 passed" in result.stdout
        assert shell_server.requests == ()  # nothing leaked to the shell's server


def test_the_readme_fixture_example_passes(tmp_path):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("**Testing your tracing.**") :]
    example = section[section.index("```python\n") + 10 : section.index("```\n", 10)]
    result = run_inner_session(tmp_path, example)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
