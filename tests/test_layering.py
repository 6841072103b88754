"""The package's layers, enforced on its import statements (``TYPE_CHECKING`` ones included).

Data flows one way: user code -> ``_tracing`` (records) -> ``_client`` -> ``_delivery`` (queue,
batches, HTTP) -> outcomes. ``_wire`` is pure bytes; ``_collector`` is a server apart.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "langfuse_async"
NAME = "langfuse_async"

#: Modules at the root that both sides may use; they import no layer.
ROOT_LEAVES = {"_clock", "_config", "_log", "_outcomes", "_records", "_version"}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path) -> set[str]:
    """Every module of the package that ``name`` imports, as absolute dotted names."""
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    known = modules()
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            if not prefix.startswith(NAME):
                continue
            for alias in node.names:
                candidate = f"{prefix}.{alias.name}"
                found.add(candidate if candidate in known else prefix)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(NAME + "."))
    found.discard(name)
    return found


def layer(module: str) -> str:
    """The top-level part of the package that ``module`` belongs to (``_tracing``...)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


GRAPH = {name: imports_of(name, path) for name, path in modules().items()}


def layers_imported(module: str) -> set[str]:
    return {layer(m) for m in GRAPH[module]} - {layer(module)}


def in_layer(name: str) -> Iterator[str]:
    return (m for m in sorted(GRAPH) if layer(m) == name)


@pytest.mark.parametrize("module", list(in_layer("_tracing")))
def test_tracing_never_imports_delivery_wire_or_collector(module: str) -> None:
    assert not layers_imported(module) & {"_delivery", "_wire", "_collector", "_client"}


@pytest.mark.parametrize("module", list(in_layer("_delivery")))
def test_delivery_never_imports_tracing_or_collector(module: str) -> None:
    assert not layers_imported(module) & {"_tracing", "_collector", "_client"}


@pytest.mark.parametrize("module", list(in_layer("_wire")))
def test_wire_imports_only_records_clock_and_version(module: str) -> None:
    assert layers_imported(module) <= {"_records", "_clock", "_version"}


@pytest.mark.parametrize("module", sorted(ROOT_LEAVES & {layer(m) for m in GRAPH}))
def test_root_leaves_import_no_layer(module: str) -> None:
    assert layers_imported(f"{NAME}.{module}") <= ROOT_LEAVES


def test_only_the_client_joins_the_two_sides() -> None:
    joining = {m for m in GRAPH if {"_tracing", "_delivery"} <= layers_imported(m)}
    assert joining <= {f"{NAME}._client"}


def test_collector_is_apart() -> None:
    # Beside the version, only the server's rules for an OTLP span's fields, which the
    # collector (as the server) and the OpenTelemetry bridge (as the server would) share.
    shared = {"_otel_io", "_otel_usage", "_otel_params"}
    for module in in_layer("_collector"):
        assert layers_imported(module) <= {"_version", *shared}, module
    for rules in shared:
        imported = {layer(m) for m in GRAPH[f"{NAME}.{rules}"]}
        assert imported <= shared, "the shared rules import nothing of the package but each other"
    users = {m for m in GRAPH if "_collector" in layers_imported(m)}
    assert users <= {f"{NAME}._cli", f"{NAME}._demo", f"{NAME}.testing"}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of ``graph`` (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in graph:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return components


def a_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One import cycle through the modules of ``component``, as a path back to its start."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & members):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return component  # not reached: a component of several modules always has a cycle


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cyclic = [c for c in strongly_connected(graph) if len(c) > 1 or c[0] in graph[c[0]]]
    return [a_cycle(graph, c) for c in cyclic]


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}, "f": {"d"}}
    assert sorted(import_cycles(graph)) == [["a", "b", "c", "a"], ["e", "e"]]


def test_no_import_cycle_in_the_package() -> None:
    # TYPE_CHECKING and function-local imports included: GRAPH holds every import statement.
    cycles = import_cycles(GRAPH)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_handles_know_their_tracer_only_as_a_recorder() -> None:
    # A handle holds a Recorder: neither the handle nor what builds its records may import the
    # tracer, the registry or the decorator.
    above = {f"{NAME}._tracing.{m}" for m in ("tracer", "registry", "observe", "generators")}
    for module in ("observations", "coerce", "scores", "traces", "recorder", "context"):
        assert not GRAPH[f"{NAME}._tracing.{module}"] & above, module


def test_the_with_block_bookkeeping_is_a_leaf() -> None:
    assert GRAPH[f"{NAME}._tracing.context"] == set()
