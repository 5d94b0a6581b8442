"""Training on several processes with torchrun and DistributedDataParallel.

    torchrun --standalone --nproc_per_node=2 main.py train ... --out RUN

torchrun starts the processes and sets RANK, LOCAL_RANK and WORLD_SIZE; `train` then joins the
process group (gloo on the CPU, NCCL on CUDA), wraps the model in DistributedDataParallel and
gives each rank its own share of every batch. `--batch-size` stays the GLOBAL batch: each of
the N ranks computes the gradient of batch_size / N images, DDP averages the gradients, so one
step equals a single-process step on the whole batch and the run matches a single-process run
with the same --batch-size. Rank 0 alone prints progress and writes the run folder.
Several machines: the same command with torchrun's rendezvous flags on each, e.g.
`torchrun --nnodes=2 --node_rank=K --nproc_per_node=1 --rdzv_backend=c10d --rdzv_endpoint=HOST:29500 main.py train ...`.
"""
from __future__ import annotations

import datetime
import os
import signal
import threading
from dataclasses import dataclass

import torch

from .errors import ConvScopeError

TIMEOUT_S = 30  # a rank that died is noticed by the others within this time


class DistributedError(ConvScopeError):
    title = "Distributed training"


@dataclass(frozen=True)
class Ranks:
    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def share(self, indices: torch.Tensor) -> torch.Tensor:
        """This rank's part of one global batch (every world_size-th index)."""
        return indices[self.rank::self.world_size]


_active: Ranks | None = None


def torchrun_environment() -> Ranks | None:
    """The ranks torchrun set up for this process, or None when not started by torchrun."""
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise DistributedError("RANK, LOCAL_RANK and WORLD_SIZE must be whole numbers (torchrun sets them).") \
            from None
    if world_size <= 1:
        return None
    return Ranks(rank, world_size, local_rank)


def start() -> Ranks | None:
    """Join torchrun's process group (once); None when this is a plain single process."""
    global _active
    if _active is not None:
        return _active
    ranks = torchrun_environment()
    if ranks is None:
        return None
    import torch.distributed as dist

    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(ranks.local_rank)
    try:
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=TIMEOUT_S))
    except Exception as exc:
        raise DistributedError(f"Could not join the torchrun process group ({exc}).") from exc
    _active = ranks
    if threading.current_thread() is threading.main_thread():
        # torchrun ends the other processes with SIGTERM when one fails: end like an error, so the
        # run folder says the run is incomplete instead of stopping mid-line.
        signal.signal(signal.SIGTERM, _stopped_by_torchrun)
    return ranks


def _stopped_by_torchrun(_signum, _frame) -> None:
    raise DistributedError("torchrun stopped this process because another process of the run failed. The run is "
                           "incomplete: its folder keeps the last complete epoch (checkpoints/).")


def active() -> Ranks | None:
    return _active


def stop() -> None:
    global _active
    if _active is not None:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
        _active = None


def device_for(ranks: Ranks, requested: torch.device) -> torch.device:
    """Each rank on its own GPU (LOCAL_RANK) when training on CUDA; the CPU otherwise."""
    if requested.type == "cuda":
        return torch.device("cuda", ranks.local_rank)
    return requested


def sum_across_ranks(*values: float) -> list[float]:
    """The sums over all ranks of a few numbers (epoch loss and accuracy counts)."""
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64)
    try:
        dist.all_reduce(tensor)
    except Exception as exc:  # a rank died or hung: everyone stops with the same sentence
        raise DistributedError(f"Another training process stopped answering ({exc}). The run is incomplete.") \
            from exc
    return tensor.tolist()
