"""The package layout's rules, read from the source: who may import whom, no import cycles,
no oversized modules, a lean service loop.

``monitor`` and ``retrain`` never import each other; ``core`` imports neither (nor the CLI, the
demo or the config package); ``config`` and ``contracts`` build on ``core`` alone. Imports inside
functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "driftwarden"
MAX_LINES = 400
# The monitor's service loop and its wiring; partition ownership and the checkpoint protocol
# live in driftwarden.monitor.partitions and driftwarden.monitor.checkpointing.
MAX_SERVICE_LOOP_LINES = 250

# package -> the driftwarden packages it may import (besides itself)
ALLOWED = {
    "core": set(),
    "config": {"core"},
    "contracts": {"core"},
    "testing": {"core", "contracts"},
    "monitor": {"core", "config", "contracts"},
    "retrain": {"core", "config", "contracts"},
    "demo": {"core", "config", "contracts", "testing", "monitor", "retrain"},
    "cli": {"core", "config", "contracts", "monitor", "retrain", "demo"},
}


def _modules() -> dict[str, Path]:
    found = {}
    paths = (
        Path(folder, file)
        for folder, _, files in os.walk(PACKAGE, followlinks=True)  # monitor/, retrain/ links
        for file in files
        if file.endswith(".py")
    )
    for path in sorted(paths):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(("driftwarden", *parts)).removesuffix(".__init__")
        found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[str]:
    """The driftwarden modules ``name`` imports (``from a import b`` counts ``a.b`` when that
    is a module)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                yield submodule if submodule in MODULES else node.module


def _graph() -> dict[str, set[str]]:
    return {
        name: {target for target in _imports(name, path) if target in MODULES and target != name}
        for name, path in MODULES.items()
    }


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ALLOWED) else None


def test_every_package_has_a_rule() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_packages_import_only_what_they_build_on(package: str) -> None:
    graph = _graph()
    broken = sorted(
        f"{source} imports {target}"
        for source, targets in graph.items()
        if _package(source) == package
        for target in targets
        if (other := _package(target)) not in (None, package) and other not in ALLOWED[package]
    )
    assert broken == []


def test_no_import_cycles() -> None:
    graph = _graph()
    cycles = [sorted(c) for c in _strongly_connected(graph) if len(c) > 1]
    assert cycles == []


def test_no_module_is_oversized() -> None:
    sizes = {n: len(p.read_text().splitlines()) for n, p in MODULES.items()}
    assert {n: s for n, s in sizes.items() if s > MAX_LINES} == {}


def test_the_service_loop_class_is_lean() -> None:
    tree = ast.parse(MODULES["driftwarden.monitor.app"].read_text())
    [service] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "MonitorService"]
    assert service.end_lineno is not None
    assert service.end_lineno - service.lineno + 1 <= MAX_SERVICE_LOOP_LINES


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            target = next(edges, None)
            if target is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    found.append(component)
            elif target not in index:
                index[target] = low[target] = len(index)
                stack.append(target)
                on_stack.add(target)
                work.append((target, iter(sorted(graph[target]))))
            elif target in on_stack:
                low[node] = min(low[node], index[target])
    return found


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert sorted(map(sorted, _strongly_connected(graph))) == [["a", "b", "c"], ["d"]]
