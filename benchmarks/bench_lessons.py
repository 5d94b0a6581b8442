"""Every lesson's experiment (engine/lessons.py), full mode, CPU: wall time of the
whole experiment (all its runs, data loading, measuring) against the 30 s a
lesson may take in the window, and whether it shows its point.

Measured in this process after engine.device.warm_up() (the window warms up at
start-up, so the first lesson does not pay for torch's first optimizer import),
and with the ImageNet classifier loaded once before (the window keeps it too).
"""
from __future__ import annotations

import time

from benchmarks.common import BenchResult

TARGET_S = 30.0


def run(quick: bool = False) -> list[BenchResult]:
    from engine.device import warm_up
    from engine.lessons import experiments, run_experiment
    from engine.pretrained import load_classifier

    warm_up()
    load_classifier()
    rows = []
    for exp in experiments():
        start = time.perf_counter()
        result = run_experiment(exp, quick=quick)
        seconds = time.perf_counter() - start
        verdict = "shows the point" if result.shows_point else f"does NOT show the point ({result.reason})"
        rows.append(BenchResult(
            name=f"lesson {exp.lesson_id}", figure=round(seconds, 2), unit="s",
            target=f"<= {TARGET_S:g} s", met=seconds <= TARGET_S,
            notes=f"{verdict}: {result.summary}" + (" (quick mode)" if quick else "")))
    return rows
