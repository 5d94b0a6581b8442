"""CI must test the Qt stack the project pins: PySide6 6.12.0 with pyqtgraph 0.14.0
crashes (none_dealloc in a setData loop), so a drifted install would hide it."""
import re
from pathlib import Path

import PySide6
import pyqtgraph

PYPROJECT = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()


def _pin(name: str) -> str:
    match = re.search(rf'"{re.escape(name)}==([^"]+)"', PYPROJECT)
    assert match, f"{name} must be pinned exactly in pyproject.toml"
    return match.group(1)


def test_installed_qt_stack_is_the_pinned_one():
    assert PySide6.__version__ == _pin("PySide6-Essentials")
    assert pyqtgraph.__version__ == _pin("pyqtgraph")
    assert not PySide6.__version__.startswith("6.12")
