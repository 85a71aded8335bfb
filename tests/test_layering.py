"""The layering of docs/architecture.md: the core never imports the UI.

Each package is imported in a fresh interpreter and the modules it pulled in are inspected, so
an indirect import (through a third module) is caught too.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("tui", "driver", "metrics", "sandbox", "twin")
# package -> packages of ours it may import
ALLOWED = {
    "metrics": set(),
    "sandbox": set(),
    "driver": {"metrics"},
    "twin": {"driver", "metrics", "sandbox"},
    "tui": {"driver", "metrics", "sandbox", "twin"},
}


# Inside driver/ and tui/: subpackage -> the subpackages of ours it may import (besides
# ``metrics``, ``sandbox`` as the table above allows, and the top ``driver`` for its version).
# docs/architecture.md draws this as the package tree; the order is the layering.
SUBPACKAGES = {
    "driver.schedule": set(),
    "driver.profile": {"driver.schedule"},
    "driver.http": set(),
    "driver.pool": {"driver.schedule", "driver.profile"},
    "driver.load": {"driver.schedule", "driver.profile", "driver.http", "driver.pool"},
    "driver.aws": {"driver.profile"},
    "driver.engine": set(),
    "driver.session": {"driver.schedule", "driver.profile", "driver.pool", "driver.aws",
                       "driver.engine"},
    "driver.capacity": {"driver.schedule", "driver.profile", "driver.session"},
    "driver.export": set(),
    "twin.model": set(),
    "twin.fit": {"twin.model", "twin.virtual", "driver.schedule", "driver.profile"},
    "twin.virtual": {"twin.model", "driver.schedule", "driver.profile"},
    "twin.whatif": {"twin.model", "twin.virtual", "driver.schedule", "driver.profile",
                    "driver.aws"},
    "tui.report": {"driver.pool", "driver.capacity"},
    "tui.console": {"driver.profile", "driver.aws", "driver.session", "twin.model"},
    "tui.monitor": {"tui.console", "driver.profile", "driver.aws", "driver.session"},
    "tui.commands": {"tui.console", "tui.monitor", "tui.report", "driver.profile", "driver.load",
                     "driver.pool", "driver.aws", "driver.session", "driver.capacity",
                     "driver.export", "twin.model", "twin.fit", "twin.virtual",
                     "twin.whatif"},
}


def _subpackage(module: str) -> str | None:
    for name in SUBPACKAGES:
        if module == name or module.startswith(name + "."):
            return name
    return None


def _modules(package: str) -> list[str]:
    names = []
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.parametrize("package", ["metrics", "driver", "sandbox", "twin"])
def test_core_never_loads_textual(package: str) -> None:
    modules = _modules(package)
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=True)
    loaded = set(json.loads(result.stdout))
    assert not {m for m in loaded if m == "textual" or m.startswith("textual.")}
    forbidden = {p for p in OURS if p != package and p not in ALLOWED[package]}
    assert not {m for m in loaded if m.split(".")[0] in forbidden}, forbidden


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_follow_the_table(package: str) -> None:
    """Static check of every import statement, including ones inside functions."""
    problems = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top == "textual" and package != "tui":
                    problems.append(f"{path}:{node.lineno}: imports {name}")
                if top in OURS and top != package and top not in ALLOWED[package]:
                    problems.append(f"{path}:{node.lineno}: imports {name}")
    assert not problems, "\n".join(problems)


def test_every_module_of_driver_and_tui_sits_in_a_subpackage_of_the_table() -> None:
    loose = [name for package in ("driver", "tui", "twin") for name in _modules(package)
             if name not in ("driver", "tui", "twin", "tui.__main__") and _subpackage(name) is None]
    assert not loose, f"modules outside the layering table: {loose}"


def test_subpackages_import_only_those_below_them() -> None:
    """The package tree's order: e.g. the load worker may use the pool's protocol, never the
    session; the monitor may use the console, never the commands."""
    problems = []
    for package in ("driver", "tui", "twin"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            here = _subpackage(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
            if here is None:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
                else:
                    continue
                for name in names:
                    there = _subpackage(name)
                    if there not in (None, here) and there not in SUBPACKAGES[here]:
                        problems.append(f"{path.relative_to(ROOT)}:{node.lineno}: {here} "
                                        f"imports {name}")
    assert not problems, "\n".join(problems)
