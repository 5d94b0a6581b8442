"""Soak test (slow; not in the default run): train for a long time with the live
views open and check memory stays flat.

    CONVSCOPE_SOAK_MINUTES=20 CONVSCOPE_SOAK_REPORT=docs/BENCHMARKS.md QT_QPA_PLATFORM=offscreen \
        .venv/bin/python -m pytest -m slow tests/gui/test_soak.py -s

CONVSCOPE_SOAK_REPORT names a benchmarks file whose "Soak test" section gets the result.
"""
from __future__ import annotations

import datetime
import os
import time

import psutil
import pytest

from engine.spec import load_preset


@pytest.mark.slow
def test_training_with_live_views_does_not_grow_memory(window, qtbot):
    minutes = float(os.environ.get("CONVSCOPE_SOAK_MINUTES", "20"))
    process = psutil.Process()
    window.panel("Network").set_spec(load_preset("lenet5"))
    training = window.panel("Training")
    training.set_settings({"epochs": 3, "seed": 0, "snapshot_every_steps": 20, "track_layer_stats": True})
    views = ["Training", "Filters", "Layer statistics"]
    finished = [0]  # a count, not the runs: holding every run (its model) would itself grow memory
    window.ctx.run_changed.connect(lambda run: finished.__setitem__(0, finished[0] + (run is not None)))
    baseline_mb = None
    end = time.monotonic() + minutes * 60
    samples = []
    while time.monotonic() < end:
        before = finished[0]
        training.start_training()
        while finished[0] == before:
            window.show_panel(views[int(time.monotonic() / 5) % len(views)])  # rotate the on-screen view
            qtbot.wait(200)
            assert window.ctx.last_error is None, window.ctx.last_error
        training.clear_runs()  # finished runs are kept for comparison by design; the soak checks leaks
        rss_mb = process.memory_info().rss / 2**20
        samples.append(rss_mb)
        if baseline_mb is None:
            baseline_mb = rss_mb  # after the first run: caches, datasets and kernels are warm
    growth = samples[-1] - baseline_mb
    summary = (f"soak: {len(samples)} runs in {minutes:g} min, RSS after first run {baseline_mb:.0f} MB, "
               f"last {samples[-1]:.0f} MB, growth {growth:+.1f} MB, max {max(samples):.0f} MB")
    print(summary)
    report = os.environ.get("CONVSCOPE_SOAK_REPORT")
    if report:
        from benchmarks.common import write_section
        from benchmarks.run_all import machine_description

        write_section(report, "soak", "\n".join([
            f"Run {datetime.datetime.now():%Y-%m-%d %H:%M} on {machine_description()} by `tests/gui/test_soak.py`: "
            "LeNet-5 / MNIST-5k trained in 3-epoch runs "
            f"back to back for {minutes:g} minutes, filter snapshots every 20 steps and layer statistics on, "
            "the on-screen view rotating between Training, Filters and Layer statistics every 5 s.", "",
            f"- Runs: {len(samples)}",
            f"- RSS after the first run: {baseline_mb:.0f} MB; after the last: {samples[-1]:.0f} MB; "
            f"highest: {max(samples):.0f} MB",
            f"- Growth after the first run: {growth:+.1f} MB (target < 50 MB: {'met' if growth < 50 else 'NOT met'})",
            f"- RSS after each run (MB): {', '.join(f'{v:.0f}' for v in samples)}"]))
    assert len(samples) >= 2
    assert growth < 50
