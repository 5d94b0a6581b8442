"""torchrun + DistributedDataParallel (issue 18 item 3): 2 CPU processes with the same global
batch match a single process; rank 0 alone writes the run folder, which inspect opens."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from engine.distributed import Ranks, torchrun_environment

ROOT = Path(__file__).resolve().parents[2]
TINY = {"name": "tiny", "input_shape": [1, 8, 8], "num_classes": 10, "layers": [
    {"kind": "conv", "out_channels": 6, "kernel": 3, "padding": 1}, {"kind": "relu"},
    {"kind": "maxpool", "kernel": 2, "stride": 2}, {"kind": "flatten"}, {"kind": "dropout", "p": 0.2},
    {"kind": "linear", "units": 10}]}


def _summary(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(TINY))
    train = ["train", "--dataset", "digits", "--spec", str(spec), "--epochs", "4", "--batch-size", "64", "--quiet"]
    single = _summary(subprocess.run([sys.executable, "main.py", *train], cwd=ROOT, capture_output=True,
                                     text=True, timeout=600))
    out = tmp_path / "ddp"
    both = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "main.py", *train, "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    ddp = _summary(both)
    assert ddp["processes"] == 2 and "processes" not in single
    assert abs(ddp["val_acc"] - single["val_acc"]) <= 0.01  # within one point (dropout draws differ per rank)
    assert both.stdout.count('"val_acc"') == 1  # rank 0 alone reports
    lines = (out / "events.jsonl").read_text().splitlines()
    assert sum('"TrainStarted"' in line for line in lines) == 1 and '"__finished__"' in lines[-1]
    inspected = subprocess.run([sys.executable, "main.py", "inspect", "--run", str(out), "--out",
                                str(tmp_path / "pngs"), "--top-k", "2", "--limit", "64"], cwd=ROOT,
                               capture_output=True, text=True, timeout=600)
    assert _summary(inspected)["ok"] is True


def test_each_rank_takes_a_disjoint_share_of_every_batch():
    batch = torch.arange(10)
    shares = [Ranks(rank, 3, rank).share(batch) for rank in range(3)]
    assert sorted(torch.cat(shares).tolist()) == list(range(10))
    assert all(len(set(a.tolist()) & set(b.tolist())) == 0 for a in shares for b in shares if a is not b)


def test_torchrun_environment(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert torchrun_environment() is None
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert torchrun_environment() == Ranks(2, 4, 0)


def _rank_process(rank: int, marker: str) -> int | None:
    """The pid of torchrun's worker `rank` whose command line names `marker` (Linux /proc)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() in command and f"RANK={rank}".encode() in environ and b"main.py" in b" ".join(command):
            if not any(part.endswith(b"torch.distributed.run") for part in command):
                return int(entry.name)
    return None


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the rank's process in /proc")
def test_a_killed_rank_stops_the_run_and_the_folder_keeps_its_last_epoch(tmp_path):
    from engine.checkpoint import load_run
    from engine.run_log import RunLogReader

    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(TINY))
    out = tmp_path / "ddp"
    run = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                            "main.py", "train", "--dataset", "digits", "--spec", str(spec), "--epochs", "300",
                            "--batch-size", "64", "--quiet", "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        # Wait on the run itself (its first epoch checkpoint), however slow the machine is.
        while not (out / "checkpoints" / "epoch-001.pt").exists():
            assert run.poll() is None, run.communicate()[1][-3000:]
            time.sleep(0.1)
        victim = _rank_process(1, str(out))
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        _, stderr = run.communicate(timeout=600)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode != 0
    reader = RunLogReader(out)
    reader.poll()
    assert reader.finished is None and reader.status() == "incomplete"
    assert reader.checkpoints and "keeps epoch" in reader.describe_end()
    kept = load_run(out)  # no final checkpoint.pt: the last complete epoch
    assert "incomplete" in kept.name and len(kept.history["epoch"]) >= 1
    assert "incomplete" in stderr.lower() or "failed" in stderr.lower()
