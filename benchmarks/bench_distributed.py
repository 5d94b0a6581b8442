"""torchrun + DistributedDataParallel against one process (issue 18 item 3): the same `train`
command (LeNet-5 on MNIST-5k, global batch 64) once as a single process and once as
`torchrun --standalone --nproc_per_node=2`, each in fresh processes, best of two. On a 2-core
machine the two ranks share the cores one process already used, so no speed-up is expected here;
the row shows what DDP's gradient all-reduce costs and that the result matches (validation accuracy).
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import BenchResult

ROOT = Path(__file__).resolve().parent.parent


def _train(command: list[str], epochs: int) -> tuple[float, dict]:
    """(wall seconds from launch to exit, the run's JSON summary)."""
    args = ["main.py", "train", "--dataset", "mnist5k", "--preset", "lenet5", "--epochs", str(epochs),
            "--batch-size", "64", "--seed", "0", "--quiet"]
    start = time.perf_counter()
    proc = subprocess.run([*command, *args], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"train failed: {proc.stderr[-1500:]}")
    return seconds, json.loads(proc.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> list[BenchResult]:
    epochs = 2 if quick else 5
    single = [sys.executable]
    both = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    one_runs, ddp_runs = [], []
    for _ in range(2):  # interleaved: load from elsewhere hits both alike
        one_runs.append(_train(single, epochs))
        ddp_runs.append(_train(both, epochs))
    one_s, one = min(one_runs, key=lambda r: r[0])
    ddp_s, ddp = min(ddp_runs, key=lambda r: r[0])
    images = epochs * 4000
    notes = (f"LeNet-5 / MNIST-5k, {epochs} epochs, global batch 64 (32 per rank), whole process incl. start-up; "
             f"val acc {ddp['val_acc']:.3f} (2 processes) vs {one['val_acc']:.3f} (1); "
             f"training alone: {ddp['images_per_sec']:,.0f} vs {one['images_per_sec']:,.0f} images/s per process")
    return [BenchResult("torchrun 2 CPU processes (DDP, gloo) vs 1 process: train throughput", images / ddp_s,
                        "images/s", images / one_s, "the same train command as a single process", "no target (2 cores)",
                        None, True, notes)]


if __name__ == "__main__":
    for result in run(quick="--quick" in sys.argv):
        print(result.as_dict())
