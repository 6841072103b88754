"""One virtual environment per competitor, installed from the package index and cached.

Each lives in ``benchmarks/.venvs/<name>`` (git-ignored) with a marker file holding what was
installed; a venv whose marker matches is reused as it is, so only the first run (or
``--refresh``) pays for the installs. ``uv`` is used when it is on the PATH, else
``python -m venv`` and pip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent
ROOT = BENCH_DIR.parent
VENVS_DIR = BENCH_DIR / ".venvs"
MARKER = ".bench-installed.json"


@dataclass(frozen=True)
class VenvSpec:
    """A named environment and the requirements pip gets for it."""

    name: str
    requirements: tuple[str, ...]
    #: The distributions whose installed versions the report names.
    reports: tuple[str, ...]


SPECS: dict[str, VenvSpec] = {
    spec.name: spec
    for spec in (
        # Editable, so the harness always measures the working tree as it is.
        VenvSpec("langfuse_async", ("-e", str(ROOT)), ("langfuse-async", "aiohttp", "msgspec")),
        VenvSpec("langfuse5", ("langfuse>=5,<6",), ("langfuse", "opentelemetry-sdk")),
        VenvSpec("langfuse2", ("langfuse==2.60.10",), ("langfuse", "httpx")),
        VenvSpec(
            "otel",
            ("opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http"),
            ("opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http"),
        ),
    )
}


def python_of(venv: Path) -> Path:
    """The interpreter inside a venv."""
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def _marker_for(spec: VenvSpec) -> dict[str, object]:
    return {
        "requirements": list(spec.requirements),
        "python": ".".join(map(str, sys.version_info[:3])),
    }


def _run(args: list[str], log: list[str]) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        log.append(proc.stdout[-2000:] + proc.stderr[-4000:])
        raise RuntimeError(f"{' '.join(args[:4])} ... failed:\n{log[-1]}")


def ensure(spec: VenvSpec, *, refresh: bool = False) -> Path:
    """Create (or reuse) the venv for ``spec`` and return its interpreter."""
    venv = VENVS_DIR / spec.name
    marker = venv / MARKER
    python = python_of(venv)
    if not refresh and python.exists() and marker.exists():
        try:
            if json.loads(marker.read_text()) == _marker_for(spec):
                return python
        except ValueError:
            pass
    if venv.exists():
        shutil.rmtree(venv)
    VENVS_DIR.mkdir(parents=True, exist_ok=True)
    log: list[str] = []
    print(f"  installing {spec.name}: {' '.join(spec.requirements)}", flush=True)
    uv = shutil.which("uv")
    if uv:
        _run([uv, "venv", "-q", "--python", sys.executable, str(venv)], log)
        _run([uv, "pip", "install", "-q", "--python", str(python), *spec.requirements], log)
    else:
        _run([sys.executable, "-m", "venv", str(venv)], log)
        _run([str(python), "-m", "pip", "install", "-q", *spec.requirements], log)
    marker.write_text(json.dumps(_marker_for(spec)))
    return python


def installed_versions(python: Path, distributions: tuple[str, ...]) -> dict[str, str]:
    """The versions of ``distributions`` as that interpreter sees them."""
    code = (
        "import json, sys, importlib.metadata as m\n"
        "out = {}\n"
        "for d in sys.argv[1:]:\n"
        "    try: out[d] = m.version(d)\n"
        "    except m.PackageNotFoundError: out[d] = 'missing'\n"
        "print(json.dumps(out))"
    )
    proc = subprocess.run(
        [str(python), "-c", code, *distributions], capture_output=True, text=True, timeout=60
    )
    result: dict[str, str] = json.loads(proc.stdout)
    return result
