"""Run folders that grow while they train (issue 18 item 2): the event log round trip, partial
lines and arrays waiting for the next poll, one writer per folder, and following a headless
`train` process as it writes."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.run_log import RunLogError, RunLogReader, RunLogWriter
from engine.train import BatchEnd, EpochEnd, FiltersSnapshot, TrainSettings, TrainStarted, fit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_spec():
    from engine.spec import NetworkSpec

    return NetworkSpec.from_dict({"name": "tiny", "input_shape": [1, 8, 8], "num_classes": 10, "layers": [
        {"kind": "conv", "out_channels": 6, "kernel": 3, "padding": 1}, {"kind": "relu"},
        {"kind": "maxpool", "kernel": 2, "stride": 2}, {"kind": "flatten"}, {"kind": "linear", "units": 10}]})


def test_events_round_trip_through_the_folder(tmp_path, digits, tiny_spec):
    written = []
    with RunLogWriter(tmp_path / "run", tiny_spec.to_json(), {"epochs": 2}) as log:
        def on_event(event):
            written.append(event)
            log.write(event)

        result = fit(tiny_spec, digits, TrainSettings(epochs=2, batch_size=32, snapshot_every_steps=5,
                                                      track_layer_stats=True, seed=0), on_event)
        log.finish({"val_acc": result.summary["val_acc"]})
    reader = RunLogReader(tmp_path / "run")
    read = reader.poll()
    model_copies = [e for e in written if type(e).__name__ == "ModelSnapshot"]
    assert model_copies  # sent for the live diagram, but a whole model per snapshot is not logged
    # Epoch checkpoints become files (checkpoints/epoch-NNN.pt) named by a line of their own.
    epoch_ends = [e for e in written if type(e).__name__ == "EpochCheckpoint"]
    assert [c["path"] for c in reader.checkpoints] == ["checkpoints/epoch-001.pt", "checkpoints/epoch-002.pt"]
    assert [e.epoch for e in epoch_ends] == [0, 1]
    written = [e for e in written if type(e).__name__ not in ("ModelSnapshot", "EpochCheckpoint")]
    assert [type(e).__name__ for e in read] == [type(e).__name__ for e in written]
    assert reader.finished == {"val_acc": result.summary["val_acc"]} and reader.status() == "finished"
    from engine.checkpoint import load_checkpoint

    last = load_checkpoint(tmp_path / "run" / "checkpoints" / "epoch-002.pt")  # weights_only=True inside
    for name, value in result.run.model.state_dict().items():
        assert torch.equal(last.model.state_dict()[name], value)  # the end of the last epoch = the result
    assert last.history["val_acc"] == result.run.history["val_acc"]
    for mine, theirs in zip(written, read):
        if isinstance(mine, (BatchEnd, EpochEnd)):
            assert mine == theirs or np.isnan(mine.val_loss if isinstance(mine, EpochEnd) else 0)
        if isinstance(mine, FiltersSnapshot):
            assert mine.filters.keys() == theirs.filters.keys()
            assert all(np.array_equal(mine.filters[k], theirs.filters[k]) for k in mine.filters)
        if isinstance(mine, TrainStarted):
            assert np.array_equal(mine.learning_rates, theirs.learning_rates) and np.isnan(theirs.penalty_to_data_loss)
        if type(mine).__name__ == "LayerStatsSnapshot":
            assert mine.stats.layer_names == theirs.stats.layer_names
            np.testing.assert_array_equal(mine.stats.act_std, theirs.stats.act_std)
    assert reader.poll() == []  # nothing new
    assert json.loads((tmp_path / "run" / "spec.json").read_text()) == json.loads(tiny_spec.to_json())


def test_partial_lines_and_arrays_wait_for_the_next_poll(tmp_path):
    folder = tmp_path / "run"
    log = RunLogWriter(folder)
    log.write(EpochEnd(0, 0, 1.0, 0.5, 0.9, 0.6, 0.1, 2.0))
    events = folder / "events.jsonl"
    line = json.dumps({"__event__": "FiltersSnapshot", "fields": {
        "step": 3, "member": 0, "filters": {"__map__": [["conv1", {"__array__": "arrays/later.npy"}]]}}}) + "\n"
    with open(events, "a") as handle:  # what another process's half-finished write looks like
        handle.write(line[:25])
    reader = RunLogReader(folder)
    assert [type(e) for e in reader.poll()] == [EpochEnd]
    with open(events, "a") as handle:
        handle.write(line[25:])
    assert reader.poll() == []  # the line is whole now, but its array is not there yet
    (folder / "arrays" / "later.npy").write_bytes(b"\x93NUMPY")  # half an array file (a synced folder)
    assert reader.poll() == []
    np.save(folder / "arrays" / "later.npy", np.ones((2, 1, 3, 3), np.float32))
    (snapshot,) = reader.poll()
    assert snapshot.step == 3 and snapshot.filters["conv1"].shape == (2, 1, 3, 3)
    with open(events, "a") as handle:
        handle.write("{not json}\n")
    log.write(EpochEnd(1, 0, 0.5, 0.7, 0.8, 0.7, 0.1, 2.0))
    assert [e.epoch for e in reader.poll()] == [1]  # a damaged line is skipped, the next one read
    log.close()


def test_one_writer_per_folder_and_clear_refusals(tmp_path):
    first = RunLogWriter(tmp_path / "run")
    with pytest.raises(RunLogError, match="Another process is writing"):
        RunLogWriter(tmp_path / "run")
    first.close()
    RunLogWriter(tmp_path / "run").close()  # free again once the first writer is done
    with pytest.raises(RunLogError, match="not a ConvScope run folder"):
        RunLogReader(tmp_path)
    newer = tmp_path / "newer"
    newer.mkdir()
    (newer / "run.json").write_text(json.dumps({"format": "convscope-run", "version": 99}))
    with pytest.raises(RunLogError, match="newer ConvScope"):
        RunLogReader(newer)
    (tmp_path / "run" / "writer.lock").write_text("pid 999999999 on " + __import__("socket").gethostname())
    RunLogWriter(tmp_path / "run").close()  # a killed writer's lock does not block the folder forever


def test_following_a_headless_train_process_as_it_writes(tmp_path, tiny_spec):
    folder = tmp_path / "live"
    spec = tmp_path / "tiny.json"
    spec.write_text(tiny_spec.to_json())
    process = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "train", "--dataset", "digits", "--spec",
                                str(spec), "--epochs", "400", "--quiet", "--out", str(folder)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    epochs = []
    reader = None
    try:
        while len(epochs) < 2:  # 400 epochs run far longer than it takes to see two land
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            if reader is None:
                try:
                    reader = RunLogReader(folder)
                except RunLogError:
                    time.sleep(0.2)  # the process has not written run.json yet
                    continue
            epochs += [e.epoch for e in reader.poll() if isinstance(e, EpochEnd)]
            time.sleep(0.1)
        assert process.poll() is None  # the epochs were read while the run was still going
        assert epochs[:2] == [0, 1]
    finally:
        process.kill()
        process.wait()
    assert reader.finished is None  # killed: the log says the run did not finish
    reader.poll()
    assert reader.status() == "incomplete"  # no end line, and the process named by writer.lock is gone
    assert reader.checkpoints and f"keeps epoch {len(reader.checkpoints)}" in reader.describe_end()
    from engine.checkpoint import load_run

    kept = load_run(folder)  # no final checkpoint.pt: the last complete epoch opens instead
    assert "incomplete" in kept.name and len(kept.history["epoch"]) == len(reader.checkpoints)


def test_a_writer_closed_early_says_why(tmp_path, tiny_spec):
    log = RunLogWriter(tmp_path / "run", tiny_spec.to_json())
    reader = RunLogReader(tmp_path / "run")
    reader.poll()
    assert reader.status() == "running"  # its writer holds the lock
    log.close("Another training process stopped answering (Connection reset by peer)")
    reader.poll()
    assert reader.status() == "incomplete" and "Connection reset by peer" in reader.incomplete
    assert reader.describe_end().endswith("No epoch was complete.")
