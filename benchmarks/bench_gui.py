"""GUI main-thread stalls while training with live plots, and peak memory of the
default start-up plus one training run. Each runs in a fresh process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from benchmarks.common import BenchResult

ROOT = Path(__file__).resolve().parent.parent


def _session(*args: str) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    proc = subprocess.run([sys.executable, "-m", "benchmarks.gui_session", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=1200, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"GUI session failed: {proc.stderr[-1500:]}")


def run(quick: bool = False) -> list[BenchResult]:
    epochs = 2 if quick else 5
    throughput_epochs = 2 if quick else 8
    results = []
    sessions: dict[str, dict] = {}
    for view in ("Training", "Filters", "Diagram"):
        session = _session("stall", "--epochs", str(epochs), "--view", view)
        sessions[view] = session
        if view == "Training":
            threads = session["torch_threads"]
            # The window's own throughput: sessions without the 5 ms heartbeat (an instrument, not part
            # of the app), each paired with a headless run next to it. This machine's speed drifts by
            # 10-20 % from one minute to the next (one run's 5 pairs spread 0.92-1.01), so the row takes
            # the median of 9 pairs, and every other pair runs headless first so a drift favours neither.
            def in_window_images_per_sec() -> float:
                return float(_session("stall", "--epochs", str(throughput_epochs), "--view", view,
                                      "--no-heartbeat")["images_per_sec"])

            pairs = []
            for index in range(2 if quick else 9):
                if index % 2:
                    headless = _headless_images_per_sec(throughput_epochs, threads)
                    inside = in_window_images_per_sec()
                else:
                    inside = in_window_images_per_sec()
                    headless = _headless_images_per_sec(throughput_epochs, threads)
                pairs.append((inside, headless))
            (inside, headless), pair_ratios = _median_pair(pairs)
            results.append(BenchResult("train throughput inside the GUI, LeNet-5 / MNIST-5k (Training view on screen)",
                                       inside, "images/s", headless,
                                       f"the same engine run headless, {threads} torch thread(s)", ">= 0.95x",
                                       inside >= 0.95 * headless, True,
                                       "live loss/accuracy curves and progress on screen; the GUI keeps one core for "
                                       f"its own thread; {throughput_epochs} epochs; the median of {len(pairs)} "
                                       "pairs of an in-window and a headless run, every other pair headless first "
                                       "(their ratios: "
                                       f"{', '.join(f'{r:.2f}' for r in pair_ratios)}); no heartbeat timer; with it "
                                       f"(the gap sessions): {session['images_per_sec']:,.0f} images/s"))
            # Paid once per process, in the background, while the user looks at the new window.
            warm = np.asarray(session["warm_up_gaps_ms"])
            results.append(BenchResult("GUI main-thread longest gap during torch's background warm-up after start-up",
                                       float(warm.max()), "ms", None, "", "", None, False,
                                       f"warm-up took {session['warm_up_s']:.1f} s after the panels loaded; "
                                       f"p99 {np.percentile(warm, 99):.0f} ms; it takes the first optimizer's "
                                       "~880 lazy imports out of the first training run"))
        if view == "Diagram":  # pairs of heartbeat-free sessions, as above
            pairs = []
            for _ in range(1 if quick else 3):
                diagram = _session("stall", "--epochs", str(throughput_epochs), "--view", "Diagram", "--no-heartbeat")
                training = _session("stall", "--epochs", str(throughput_epochs), "--view", "Training",
                                    "--no-heartbeat")
                pairs.append((float(diagram["images_per_sec"]), float(training["images_per_sec"])))
            (diagram_rate, training_rate), pair_ratios = _median_pair(pairs)
            results.append(BenchResult("train throughput with the network diagram on screen, LeNet-5 / MNIST-5k",
                                       diagram_rate, "images/s", training_rate, "the same training with the Training "
                                       "view on screen", ">= 0.95x", diagram_rate >= 0.95 * training_rate, True,
                                       "every layer's maps and filters of a probe digit redrawn live; the median of "
                                       f"{len(pairs)} pairs of runs (ratios: "
                                       f"{', '.join(f'{r:.2f}' for r in pair_ratios)}); no heartbeat timer"))
        idle = np.asarray(session["idle_gaps_ms"])
        busy = np.asarray(session["training_gaps_ms"])
        p50, p99 = np.percentile(busy, [50, 99])
        idle_p50, idle_p99 = np.percentile(idle, [50, 99])
        results.append(BenchResult(f"GUI main-thread gap p50 while training ({view} view on screen)", float(p50),
                                   "ms", float(idle_p50), "idle window, same process", "", None, False,
                                   f"5 ms heartbeat; {len(busy)} ticks; max {busy.max():.0f} ms"))
        results.append(BenchResult(f"GUI main-thread gap p99 while training ({view} view on screen)", float(p99),
                                   "ms", float(idle_p99), "idle window, same process", "< 16 ms", p99 < 16, False,
                                   f"LeNet-5 / MNIST-5k, {epochs} epochs, live views"))
    memory = _session("memory", "--epochs", str(epochs))["peak_rss_mb"]
    bare = subprocess.run([sys.executable, "-c", _bare_script(), str(ROOT), str(epochs)], capture_output=True,
                          text=True, timeout=1200)
    bare_mb = float(bare.stdout.strip().splitlines()[-1])
    results.append(BenchResult("peak memory: default start-up + one training run", memory, "MB", bare_mb,
                               "bare PyTorch training script", "< 2048 MB", memory < 2048, False,
                               f"ru_maxrss; LeNet-5 / MNIST-5k, {epochs} epochs"))
    return results


def _median_pair(pairs: list[tuple[float, float]]) -> tuple[tuple[float, float], list[float]]:
    """The (measured, baseline) pair with the median ratio, and all the ratios in order: both runs of
    a pair saw the machine at the same speed, which drifts 10-20 % from one minute to the next."""
    ratios = sorted(measured / baseline for measured, baseline in pairs)
    middle = sorted(pairs, key=lambda pair: pair[0] / pair[1])[len(pairs) // 2]
    return middle, ratios


def _headless_images_per_sec(epochs: int, threads: int) -> float:
    from benchmarks.gui_session import HEADLESS_TRAINING

    proc = subprocess.run([sys.executable, "-c", HEADLESS_TRAINING, str(ROOT), str(epochs), str(threads)],
                          capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0:
        raise RuntimeError(f"headless training failed: {proc.stderr[-1500:]}")
    return float(proc.stdout.strip().splitlines()[-1])


def _bare_script() -> str:
    from benchmarks.gui_session import BARE_TRAINING

    return BARE_TRAINING
