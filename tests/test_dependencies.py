"""Every third-party module the program imports is declared in pyproject.toml, and every
declared dependency is imported somewhere (nothing heavy installed for nothing)."""
from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
OWN = {"engine", "gui", "benchmarks", "main", "convscope", "tests"}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(requirements: list[str]) -> set[str]:
    return {_normal(re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0]) for req in requirements}


def _imported_roots(folders: list[str]) -> set[str]:
    roots = set()
    files = [ROOT / "main.py"] + [p for f in folders for p in (ROOT / f).rglob("*.py")]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                roots.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots.add(node.module.split(".")[0])
    return roots - OWN - set(sys.stdlib_module_names)


def _distributions(modules: set[str]) -> dict[str, set[str]]:
    owners = packages_distributions()
    return {module: {_normal(d) for d in owners.get(module, [])} for module in modules}


def test_every_imported_module_is_declared():
    declared = _declared(PROJECT["dependencies"])
    undeclared = {module: dists for module, dists in _distributions(_imported_roots(["engine", "gui"])).items()
                  if not dists & declared}
    assert not undeclared, f"imported by the program but not in [project] dependencies: {undeclared}"


def test_every_declared_dependency_is_imported():
    used = set().union(*_distributions(_imported_roots(["engine", "gui", "benchmarks"])).values())
    unused = _declared(PROJECT["dependencies"]) - used
    assert not unused, f"declared but never imported: {sorted(unused)}"


def test_test_tools_are_declared_in_the_test_extra():
    test_extra = _declared(PROJECT["optional-dependencies"]["test"])
    used = set().union(*_distributions(_imported_roots(["tests"])).values()) - _declared(PROJECT["dependencies"])
    assert used <= test_extra | {"pytest-qt"}, used - test_extra
