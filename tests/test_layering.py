"""Data flows one way: the producer side never imports the consumer side (and back)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "langfuse_async"

#: User-facing recording: observations, the decorator, context, sampling, payload encoding.
PRODUCER = {"_context", "_observations", "_observe", "_tracer", "_sampling", "_payload"}
#: Delivery: queue, worker, wire formats, transport, outcomes.
CONSUMER = {
    "_callbacks",
    "_queue",
    "_ledger",
    "_worker",
    "_pipeline",
    "_sender",
    "_transport",
    "_ingestion",
    "_otlp",
    "_batching",
    "_retry",
    "_routing",
    "_wire",
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level >= 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[0] == "langfuse_async" and len(parts) > 1:
                found.add(parts[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "langfuse_async" and len(parts) > 1:
                    found.add(parts[1])
    return found


@pytest.mark.parametrize("module", sorted(PRODUCER))
def test_producer_modules_do_not_import_the_consumer_side(module: str) -> None:
    path = PACKAGE / f"{module}.py"
    assert path.exists(), path
    assert not imported_modules(path) & CONSUMER


@pytest.mark.parametrize("module", sorted(CONSUMER))
def test_consumer_modules_do_not_import_the_producer_side(module: str) -> None:
    path = PACKAGE / f"{module}.py"
    assert path.exists(), path
    assert not imported_modules(path) & PRODUCER
