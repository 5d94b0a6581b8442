"""Start-up time to a shown window, against a bare PySide6 window in the same run."""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.common import BenchResult

ROOT = Path(__file__).resolve().parent.parent

BARE_WINDOW = r"""
import time, psutil
from PySide6.QtWidgets import QApplication, QMainWindow
from PySide6.QtCore import QTimer
app = QApplication([])
w = QMainWindow(); w.resize(1400, 900); w.show()
def done():
    print(f"shown_after_s={time.time() - psutil.Process().create_time():.3f}", flush=True)
    app.quit()
QTimer.singleShot(0, done)
app.exec()
"""


def _shown_after(cmd: list[str]) -> float:
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env).stdout
    for line in out.splitlines():
        if line.startswith("shown_after_s="):
            return float(line.split("=", 1)[1])
    raise RuntimeError(f"no start-up time reported by {' '.join(cmd)}: {out[-500:]}")


def run(quick: bool = False) -> list[BenchResult]:
    repeats = 2 if quick else 5
    ours = [_shown_after([sys.executable, "main.py", "gui", "--quit-after-show"]) for _ in range(repeats)]
    bare = [_shown_after([sys.executable, "-c", BARE_WINDOW]) for _ in range(repeats)]
    figure, baseline = statistics.median(ours), statistics.median(bare)
    return [BenchResult("start-up: process start to shown window", figure, "s", baseline,
                        "bare PySide6 QMainWindow", "< 3 s", figure < 3.0, False,
                        f"median of {repeats} cold launches; panels load right after the first frame")]
