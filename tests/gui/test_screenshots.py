import json
import subprocess
import sys
from pathlib import Path

from PySide6.QtGui import QImage

ROOT = Path(__file__).resolve().parents[2]


def test_screenshots_command_writes_one_png_per_panel_and_the_window(tmp_path):
    from gui.panels import PANELS

    env = {"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "main.py", "screenshots", "--out", str(tmp_path / "shots"),
                             "--panel", "Network", "--panel", "Filters"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    files = sorted(p.name for p in (tmp_path / "shots").glob("*.png"))
    assert files == ["00_window.png", "01_network.png", "05_filters.png"], files  # numbered in tab order
    summary = json.loads(result.stdout.strip().splitlines()[-1])  # the last stdout line is JSON, like every command
    assert summary["out"] == str(tmp_path / "shots")
    assert sorted(Path(p).name for p in summary["files"]) == files
    image = QImage(str(tmp_path / "shots" / "00_window.png"))
    assert image.width() >= 1000 and image.height() >= 600
    assert len(PANELS) >= 14


# Panels that still carry their own screenshot scripting (being edited elsewhere; to move into RECIPES).
STILL_SCRIPTING_THEMSELVES: set[str] = set()  # every panel's scripting is a recipe now


def test_screenshot_scripting_lives_in_gui_screenshots_not_in_the_panels():
    """issue 16 item 6: the recipes are in gui/screenshots.py, keyed by real panel titles; the
    production panels define no prepare_screenshot of their own (except the listed ones)."""
    from gui.panels import PANELS, panel_class
    from gui.screenshots import RECIPES

    titles = {title for _group, title, _module, _cls in PANELS}
    assert set(RECIPES) <= titles, sorted(set(RECIPES) - titles)
    scripting = {title for _group, title, module, cls in PANELS
                 if "prepare_screenshot" in vars(panel_class(module, cls))}
    assert scripting <= STILL_SCRIPTING_THEMSELVES, sorted(scripting - STILL_SCRIPTING_THEMSELVES)
    assert not scripting & set(RECIPES), "a panel has both a recipe and its own scripting"
