"""File -> Follow run (issue 18 item 2): the window follows a run folder a background `train`
process is writing, shows its epochs as they land, opens the run when it is finished, and says a
run whose writer died is incomplete (opening its last complete epoch)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine.spec import NetworkSpec
from engine.train import EpochEnd, FiltersSnapshot

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 180_000

TINY = NetworkSpec.from_dict({"name": "tiny", "input_shape": [1, 8, 8], "num_classes": 10, "layers": [
    {"kind": "conv", "out_channels": 6, "kernel": 3, "padding": 1}, {"kind": "relu"},
    {"kind": "maxpool", "kernel": 2, "stride": 2}, {"kind": "flatten"}, {"kind": "linear", "units": 10}]})


def _train(tmp_path, folder, epochs):
    spec = tmp_path / "tiny.json"
    spec.write_text(TINY.to_json())
    return subprocess.Popen([sys.executable, str(ROOT / "main.py"), "train", "--dataset", "digits", "--spec",
                             str(spec), "--epochs", str(epochs), "--quiet", "--out", str(folder)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_window_follows_a_background_run_as_its_epochs_land(window, qtbot, tmp_path):
    folder = tmp_path / "live"
    process = _train(tmp_path, folder, 400)  # far longer than it takes to see two epochs
    seen = []
    window.ctx.training_event.connect(seen.append)
    try:
        qtbot.waitUntil(lambda: (folder / "run.json").is_file() or process.poll() is not None, timeout=TIMEOUT)
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        assert window.follower().follow(folder)
        qtbot.waitUntil(lambda: sum(isinstance(e, EpochEnd) for e in seen) >= 2, timeout=TIMEOUT)
        assert process.poll() is None  # shown while the other process is still training
        assert any(isinstance(e, FiltersSnapshot) for e in seen)  # the Filters view gets its snapshots too
        assert "epoch(s) so far" in window.panel("Training").status_label.text()
        # The writer dies mid-run: the window says the run is incomplete and opens its last epoch.
        runs = []
        window.ctx.run_changed.connect(runs.append)
        process.kill()
        process.wait()
        qtbot.waitUntil(lambda: "incomplete" in window.panel("Training").status_label.text(), timeout=TIMEOUT)
        assert not window.follower().following
        assert "keeps epoch" in window.panel("Training").status_label.text()
        assert runs and "incomplete" in runs[-1].name
    finally:
        process.kill()
        process.wait()
        window.follower().stop()


def test_a_finished_run_is_opened_when_followed_to_its_end(window, qtbot, tmp_path):
    folder = tmp_path / "done"
    process = _train(tmp_path, folder, 2)
    assert process.wait() == 0, process.stderr.read().decode()[-2000:]
    runs = []
    window.ctx.run_changed.connect(runs.append)
    with qtbot.waitSignal(window.follower().finished, timeout=TIMEOUT):
        assert window.follower().follow(folder)
    assert runs and runs[-1].spec.to_json() == TINY.to_json()
    assert "to its end" in window.panel("Training").status_label.text()


def test_following_a_folder_that_is_not_a_run_says_so(window, qtbot, tmp_path):
    with qtbot.waitSignal(window.ctx.error_raised, timeout=5000) as blocker:
        assert not window.follower().follow(tmp_path)
    assert "not a ConvScope run folder" in str(blocker.args)


def test_the_window_opens_a_torchrun_run_folder(window, qtbot, tmp_path):
    """Two CPU processes under torchrun (DDP): rank 0's run folder follows and opens like any other."""
    spec = tmp_path / "tiny.json"
    spec.write_text(TINY.to_json())
    folder = tmp_path / "ddp"
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(ROOT / "main.py"), "train", "--dataset", "digits", "--spec", str(spec), "--epochs",
                           "2", "--quiet", "--out", str(folder)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    seen, runs = [], []
    window.ctx.training_event.connect(seen.append)
    window.ctx.run_changed.connect(runs.append)
    with qtbot.waitSignal(window.follower().finished, timeout=TIMEOUT):
        assert window.follower().follow(folder)
    assert [e.epoch for e in seen if isinstance(e, EpochEnd)] == [0, 1]  # one rank's log, not two
    assert runs and runs[-1].spec.to_json() == TINY.to_json()
