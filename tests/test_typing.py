"""Decorated functions and client methods keep their static types (``typecheck_api.py``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_public_api_type_checks_under_mypy_strict() -> None:
    pytest.importorskip("mypy")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "tests/typecheck_api.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_lost_type_would_be_caught(tmp_path: Path) -> None:
    # The check is only worth something if mypy reports a mismatch in that file's style.
    pytest.importorskip("mypy")
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from typing_extensions import assert_type\n"
        "from langfuse_async import observe\n"
        "@observe\n"
        "def f(x: int) -> int:\n"
        "    return x\n"
        "assert_type(f(1), str)\n"
        "f('1')  # type: ignore[arg-type]\n"
        "f(1)  # type: ignore[arg-type]\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(probe)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1
    assert "probe.py:6: error" in proc.stdout  # assert_type mismatch
    assert "probe.py:8: error" in proc.stdout  # unused ignore: the call was accepted
    assert "probe.py:7" not in proc.stdout
