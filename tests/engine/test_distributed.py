"""torchrun + DistributedDataParallel (issue 18 item 3): 2 CPU processes with the same global
batch match a single process; rank 0 alone writes the run folder, which inspect opens."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
