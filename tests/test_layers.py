"""The import layers (issue 25): every import of every package module, deferred ones included, read from its
syntax tree, so the contract holds without importing anything."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# what each top-level package may import besides itself; `schemas` is data with its loader, below every stage
ALLOWED = {
    "fieldmap": set(),
    "schemas": set(),
    "corpus": {"fieldmap"},
    "kg": {"corpus", "fieldmap", "schemas"},
    "rag": {"kg", "corpus", "fieldmap", "schemas"},
    "dashboards": {"fieldmap"},
    "pipelines": {"corpus", "kg", "rag", "dashboards", "fieldmap", "schemas"},
    "app": {"pipelines", "corpus", "kg", "rag", "dashboards", "fieldmap", "schemas"},
}
# the notebook entry, fieldmap.open/ask: deferred into the functions, so importing the kernel never loads app/
EXCEPTIONS = {("fieldmap", "app.api")}


def module_files(root: Path = REPO) -> dict[str, Path]:
    files = {}
    for package in ALLOWED:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def imports_of(path: Path, modules: set[str], root: Path = REPO) -> list[tuple[str, int]]:
    """(module, line) for each import of one of the packages, at the top or deferred: `from a.b import c` names
    a.b.c when that is a module, else a.b; relative imports are resolved against the file's package."""
    package = path.relative_to(root).parts[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = (
                ".".join([*package[: len(package) - node.level + 1], *([node.module] if node.module else [])])
                if node.level
                else node.module
            )
            for alias in node.names:
                found.append((f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base, node.lineno))
    return [(name, line) for name, line in found if name.split(".")[0] in ALLOWED]


def import_graph(root: Path = REPO) -> dict[str, list[tuple[str, int]]]:
    files = module_files(root)
    return {module: imports_of(path, set(files), root) for module, path in files.items()}


def layer_violations(graph: dict[str, list[tuple[str, int]]]) -> list[str]:
    broken = []
    for module, imported in graph.items():
        layer = module.split(".")[0]
        for name, line in imported:
            target = name.split(".")[0]
            if target != layer and target not in ALLOWED[layer] and (layer, name) not in EXCEPTIONS:
                broken.append(f"{module}:{line} imports {name}")
    return broken


def import_cycles(graph: dict[str, list[tuple[str, int]]]) -> list[list[str]]:
    modules = set(graph)
    edges = {
        module: {_module_of(name, modules) for name, _ in imported if (module.split(".")[0], name) not in EXCEPTIONS}
        - {None, module}
        for module, imported in graph.items()
    }
    return [sorted(component) for component in _strongly_connected(edges) if len(component) > 1]


def test_every_import_respects_the_layers():
    broken = layer_violations(import_graph())
    assert not broken, "imports across the layers:\n" + "\n".join(broken)


def test_no_import_cycle():
    cycles = import_cycles(import_graph())
    assert not cycles, f"import cycles: {cycles}"


def test_the_checks_see_deferred_imports_and_cycles(tmp_path):
    """A deferred upward import and a cycle through a deferred import are both caught."""
    (tmp_path / "fieldmap").mkdir()
    (tmp_path / "fieldmap" / "__init__.py").write_text("")
    (tmp_path / "fieldmap" / "a.py").write_text("def f():\n    from app.cli import main\n    from . import b\n")
    (tmp_path / "fieldmap" / "b.py").write_text("from fieldmap.a import f\n")
    graph = import_graph(tmp_path)
    assert graph["fieldmap.a"] == [("app.cli", 2), ("fieldmap.b", 3)]
    assert layer_violations(graph) == ["fieldmap.a:2 imports app.cli"]
    assert import_cycles(graph) == [["fieldmap.a", "fieldmap.b"]]


def _module_of(name: str, files: set[str]) -> str | None:
    """The longest module prefix of an imported name (an imported function belongs to its module)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in files:
            return ".".join(parts[:end])
    return None


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit on a long import chain)."""
    index, low, on_stack, stack, components, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
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
                    components.append(component)
            elif child not in index:
                index[child] = low[child] = counter[0]
                counter[0] += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return components
