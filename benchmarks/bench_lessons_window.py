"""Every lesson's experiment inside the window (Experiment panel, live curves on
screen) against the same experiment run headless in the same process: the lesson
must take <= 30 s where the lecturer runs it, in the window. Also checks that the
window shows the same numbers as the headless command."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.common import BenchResult

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 30.0


def run(quick: bool = False) -> list[BenchResult]:
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    only = ["overfitting", "momentum"] if quick else []
    proc = subprocess.run([sys.executable, "-m", "benchmarks.lessons_window_session", *only], cwd=ROOT,
                          capture_output=True, text=True, timeout=5400, env=env)
    line = next((out for out in proc.stdout.splitlines() if out.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"lesson window session failed: {proc.stderr[-1500:]}")
    rows = []
    for row in json.loads(line[len("RESULT "):]):
        same = "same numbers as headless" if row["same_numbers"] else "DIFFERENT numbers from headless"
        point = "shows the point" if row["window_shows_point"] else "does NOT show the point"
        rows.append(BenchResult(
            name=f"lesson {row['lesson']} in the window", figure=round(row["window_s"], 2), unit="s",
            baseline=round(row["headless_s"], 2), baseline_label="the same experiment headless, same process",
            target=f"<= {TARGET_S:g} s", met=row["window_s"] <= TARGET_S, notes=f"{point}; {same}: {row['summary']}"))
    return rows
