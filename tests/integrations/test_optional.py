"""The integrations are optional: importing the package imports none of them."""

from __future__ import annotations

import subprocess
import sys

import pytest

#: Each integration module and the package its extra installs.
EXTRAS = {"openai": "openai", "langchain": "langchain_core", "opentelemetry": "opentelemetry"}


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


def test_importing_the_package_imports_no_integration() -> None:
    watched = {*EXTRAS.values(), "openinference"}
    modules = {f"langfuse_async.{name}" for name in EXTRAS}
    code = (
        "import sys, langfuse_async\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {watched!r} "
        f"or m in {modules!r}))\n"
    )
    assert _run(code) == "[]"


@pytest.mark.parametrize("name", sorted(EXTRAS))
def test_a_missing_extra_is_named_in_the_error(name: str) -> None:
    code = (
        "import sys\n"
        f"sys.modules[{EXTRAS[name]!r}] = None  # as if it were not installed\n"
        "try:\n"
        f"    import langfuse_async.{name}\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    assert f'"langfuse-async[{name}]"' in _run(code)
