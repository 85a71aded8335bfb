"""No file imports its importer (issue 19): the graph of every import statement has no cycle.

Every ``import`` and ``from ... import`` under ``driver``, ``metrics``, ``sandbox`` and ``tui``
counts, absolute or relative, inside functions and under ``if TYPE_CHECKING:`` too (a type-only
import still ties the two files to each other), and so does ``importlib.import_module`` of a
literal name. Importing ``a.b.c`` runs ``a/__init__.py`` and ``a/b/__init__.py`` first, so it
imports those packages too, except the importer's own packages: a package's ``__init__`` that
re-exports its modules' names is no cycle, but a module importing a package whose ``__init__``
imports that module back is.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("driver", "metrics", "sandbox", "tui")
DYNAMIC_IMPORTS = ("import_module", "__import__")


def _module_files(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Module name -> file, a package by its ``__init__.py``."""
    files = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    return files


def _names_imported(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every dotted name an import statement in ``tree`` names: for ``from a import b`` both
    ``a`` and ``a.b`` (``b`` may be a module or a name in ``a``)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the importer's package up
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                prefix = ".".join([*base, *([node.module] if node.module else [])])
            else:
                prefix = node.module or ""
            names.add(prefix)
            names.update(f"{prefix}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            function = node.func
            called = function.attr if isinstance(function, ast.Attribute) else \
                function.id if isinstance(function, ast.Name) else None
            if called in DYNAMIC_IMPORTS:
                names.add(node.args[0].value)
    return names


def import_graph(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES
                 ) -> tuple[dict[str, set[str]], dict[str, Path]]:
    """Module -> the modules of ours it imports (with their packages), and module -> file."""
    files = _module_files(root, packages)
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        imported = set()
        for name in _names_imported(tree, module, path.name == "__init__.py"):
            parts = name.split(".")
            # The name and every package above it: their __init__ runs first.
            imported.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        ancestors = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
        graph[module] = {name for name in imported
                         if name in files and name != module and name not in ancestors}
    return graph, files


def _components(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _shortest_cycle_through(start: str, graph: dict[str, set[str]],
                            within: set[str]) -> list[str]:
    """The shortest import path from ``start`` back to it, inside its component."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for v in frontier:
            for w in sorted(graph[v] & within):
                if w == start:
                    return paths[v]
                if w not in paths:
                    paths[w] = [*paths[v], w]
                    following.append(w)
        frontier = following
    raise AssertionError(f"{start} is in a component but on no cycle")


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each cycle, its modules in import order: the shortest one through each module of each
    component (a component of several cycles shows each), rotations counted once."""
    cycles: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()
    for component in _components(graph):
        for module in component:
            cycle = _shortest_cycle_through(module, graph, set(component))
            first = cycle.index(min(cycle))
            key = tuple(cycle[first:] + cycle[:first])
            if key not in seen:
                seen.add(key)
                cycles.append(list(key))
    return cycles


def test_the_checker_sees_each_kind_of_import(tmp_path: Path) -> None:
    """Relative imports, imports inside functions, under TYPE_CHECKING and by
    ``import_module``; a cycle through a re-exporting ``__init__``; a package importing its own
    modules is none."""
    sources = {
        "p/__init__.py": "from p.m import f\n",  # re-exports: p -> p.m
        "p/m.py": "from __future__ import annotations\nfrom typing import TYPE_CHECKING\n"
                  "if TYPE_CHECKING:\n    from ..q.n import g\n",
        "q/__init__.py": "",
        "q/n.py": "def g():\n    import p.x\n",  # runs p/__init__.py first: p -> p.m
        "p/x.py": "from . import m\n",
        "r/__init__.py": "from r.s import t\n",
        "r/s.py": "import importlib\nimportlib.import_module('p.x')\nfrom r import u\n",
    }
    for name, text in sources.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    graph, _ = import_graph(tmp_path, ("p", "q", "r"))
    assert graph["p.m"] == {"q", "q.n"} and graph["q.n"] == {"p", "p.x"}
    assert graph["r.s"] == {"p", "p.x"}  # its own package r is no edge
    assert import_cycles(graph) == [["p", "p.m", "q.n"], ["p.m", "q.n", "p.x"]]


def test_no_file_imports_its_importer() -> None:
    graph, files = import_graph()
    cycles = import_cycles(graph)
    shown = [" -> ".join(str(files[m].relative_to(ROOT)) for m in [*cycle, cycle[0]])
             for cycle in cycles]
    if cycles:
        pytest.fail("import cycles, each file importing the next:\n" + "\n".join(shown),
                    pytrace=False)
