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
