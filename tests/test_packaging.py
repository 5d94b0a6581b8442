"""The wheel's package list (pyproject.toml) covers every code and resource folder, so a
`pip install .` is never missing a module or a data file (CI installs and runs the wheel:
`make wheel-check`)."""
from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _folders_with(top: str, pattern: str) -> set[str]:
    found = set()
    for path in (ROOT / top).rglob(pattern):
        if "__pycache__" in path.parts:
            continue
        found.add(".".join(("convscope",) + path.parent.relative_to(ROOT).parts))
    return found


def test_every_code_folder_is_a_listed_package():
    code = set().union(*(_folders_with(top, "*.py") for top in ("engine", "gui", "benchmarks")))
    missing = code - set(CONFIG["packages"])
    assert not missing, f"add {sorted(missing)} to [tool.setuptools] packages in pyproject.toml"


def test_every_resource_file_is_in_the_wheel():
    packages = set(CONFIG["packages"])
    data = CONFIG["package-data"]
    for path in (ROOT / "resources").rglob("*"):
        if path.is_dir() or path.name.startswith("."):
            continue
        package = ".".join(("convscope",) + path.parent.relative_to(ROOT).parts)
        assert package in packages, f"{path.relative_to(ROOT)}: folder not packaged"
        assert any(path.match(pattern) for pattern in data.get(package, [])), \
            f"{path.relative_to(ROOT)}: no package-data pattern matches"


def test_nothing_but_convscope_and_main_at_the_top():
    assert CONFIG["package-dir"] == {"convscope": "."}
    assert all(name == "convscope" or name.startswith("convscope.") for name in CONFIG["packages"])
    assert "py-modules" not in CONFIG
