"""A scripted GUI session in its own process, for the GUI benchmarks.

`python -m benchmarks.gui_session stall --epochs N --view Training|Filters`
prints main-thread heartbeat gaps (ms) while torch's one-time imports warm up
in the background after start-up, while the window idles, then while it trains
LeNet-5 on MNIST-5k with live plots and the chosen view on screen.
`python -m benchmarks.gui_session memory --epochs N` starts the default window,
runs one training through the Training panel, and prints the peak RSS.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


class Heartbeat:
    """A 5 ms QTimer on the main thread; a long gap between ticks is a stall."""

    def __init__(self, interval_ms: int = 5):
        from PySide6.QtCore import QTimer

        self.gaps_ms: list[float] = []
        self._last = None
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.gaps_ms.append((now - self._last) * 1000)
        self._last = now

    def start(self) -> None:
        self.gaps_ms.clear()
        self._last = None
        self.timer.start()

    def stop(self) -> list[float]:
        self.timer.stop()
        return list(self.gaps_ms)


def _window(heartbeat: "Heartbeat | None" = None):
    """The default window, shown, with its dataset loaded; `heartbeat` (if given) starts ticking as
    soon as the window shows (torch's background warm-up runs from then on)."""
    from gui.app import create_application
    from gui.main_window import MainWindow
    from gui.screenshots import wait_for

    app = create_application()
    window = MainWindow(restore_settings=False)
    window.resize(1400, 900)
    window.show()
    if heartbeat is not None:
        heartbeat.start()
    window.show_panel("Data")  # the Data panel loads its dataset the first time it is shown
    if not wait_for(lambda: window.ctx.spec is not None and getattr(window.ctx, "dataset_info", None), 120):
        raise RuntimeError("the window did not load its default network and dataset")
    return app, window


def _train(window, epochs: int, heartbeat: Heartbeat | None = None) -> dict:
    from engine.spec import load_preset

    window.panel("Network").set_spec(load_preset("lenet5"))
    training = window.panel("Training")
    training.set_settings({"epochs": epochs, "batch_size": 64, "seed": 0})
    # A real event loop, as in the app (polling with sleeps would add its own gaps).
    done = []
    window.ctx.run_changed.connect(done.append)
    training.start_training()
    if heartbeat:
        heartbeat.start()
    # The end of the run quits the loop at once; the poll (for a failure) is slow: 50 calls a second
    # into Python from the timer took GIL time from the training thread that the app does not take.
    _run_loop_until(lambda: bool(done) or window.ctx.last_error is not None, 600, poll_ms=500,
                    quit_on=(window.ctx.run_changed,))
    if not done and window.ctx.last_error is None:
        raise RuntimeError("training did not finish in 10 minutes")
    gaps = heartbeat.stop() if heartbeat else []
    if window.ctx.last_error:
        raise RuntimeError(f"training failed: {window.ctx.last_error}")
    return {"gaps_ms": gaps, "images_per_sec": training.last_result.summary["images_per_sec"]}


def _run_loop_until(predicate, timeout_s: float, poll_ms: int = 20, quit_on=()) -> None:
    """A real event loop (as in the app) that quits once predicate() holds (polled every
    `poll_ms`) or one of the `quit_on` signals fires."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    poll = QTimer()
    poll.setInterval(poll_ms)
    poll.timeout.connect(lambda: predicate() and loop.quit())
    poll.start()
    for signal in quit_on:
        signal.connect(loop.quit)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    poll.stop()


def stall(epochs: int, view: str, heartbeat_on: bool = True) -> dict:
    from engine.device import warm_up_finished
    from gui.app import create_application

    create_application()  # the heartbeat's timer needs the application
    heartbeat = Heartbeat()
    started = time.perf_counter()
    app, window = _window(heartbeat)  # jobs (the dataset's loading too) wait for the warm-up's imports
    window.show_panel(view)
    _run_loop_until(warm_up_finished, 60)  # the background warm-up the app starts with its panels
    warm_up = heartbeat.stop()
    warm_up_s = time.perf_counter() - started
    heartbeat.start()
    _run_loop_until(lambda: False, 3)
    idle = heartbeat.stop()
    # Without the heartbeat, the throughput is the window's own (the 5 ms timer is an instrument).
    result = _train(window, epochs, heartbeat if heartbeat_on else None)
    window.close()
    import torch

    return {"warm_up_gaps_ms": warm_up, "warm_up_s": warm_up_s, "idle_gaps_ms": idle,
            "training_gaps_ms": result["gaps_ms"], "images_per_sec": result["images_per_sec"],
            "torch_threads": torch.get_num_threads()}


def memory(epochs: int) -> dict:
    app, window = _window()
    window.show_panel("Training")
    _train(window, epochs)
    window.close()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return {"peak_rss_mb": peak_kb / 1024}


HEADLESS_TRAINING = r"""
import sys, torch
sys.path.insert(0, sys.argv[1])
torch.set_num_threads(int(sys.argv[3]))
from engine.data import load_dataset
from engine.spec import load_preset
from engine.train import TrainSettings, fit
result = fit(load_preset("lenet5"), load_dataset("mnist5k"),
             TrainSettings(epochs=int(sys.argv[2]), batch_size=64, seed=0))
print(result.summary["images_per_sec"])
"""

BARE_TRAINING = r"""
import resource, sys, torch
sys.path.insert(0, sys.argv[1])
from torch import nn
from engine.data import load_dataset
from engine.model import ConvNet
from engine.spec import load_preset
data = load_dataset("mnist5k")
model = ConvNet(load_preset("lenet5"))
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
for _ in range(int(sys.argv[2])):
    order = torch.randperm(len(data.train_x))
    for i in range(0, len(order), 64):
        idx = order[i:i + 64]
        opt.zero_grad(); nn.functional.cross_entropy(model(data.train_x[idx]), data.train_y[idx]).backward(); opt.step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["stall", "memory"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--view", default="Training")
    parser.add_argument("--no-heartbeat", action="store_true", help="no 5 ms timer while training (throughput)")
    args = parser.parse_args()
    out = stall(args.epochs, args.view, not args.no_heartbeat) if args.mode == "stall" else memory(args.epochs)
    print("RESULT " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
