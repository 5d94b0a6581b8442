"""Per-job random numbers, so that two seeded jobs running at once (two panels, two
threads) each get the numbers they would get alone.

Where the engine can pass a generator it does (`torch.randperm(..., generator=...)`,
`augment_batch(..., generator)`, `apply_init(..., generator=...)`, numpy
`default_rng(seed)`). Two kinds of draw cannot take one, because they read torch's
process-wide generator:

- PyTorch's default layer initialization (`nn.Conv2d(...)`, `nn.Linear(...)` draw in
  their constructors);
- dropout (and any other random layer) in the forward pass.

For those, a job keeps its own copy of the process-wide generator's state
(`JobRNG`): `with rng.active():` installs that state, runs the block, saves the
advanced state back and restores the process-wide one (`torch.random.fork_rng`),
all under one process-wide lock, so no other job's draw can fall in between. The
numbers are the same as seeding the process-wide generator with `torch.manual_seed`
and running the job alone. The cost is that these blocks of different jobs run one
at a time; keep them small (one forward/backward step, no `yield` inside).

Not covered: random draws on other accelerators than CUDA (MPS), and code outside
the engine that draws from the process-wide generator without the lock while a job
runs (it then neither disturbs nor is disturbed by the job, but is not seeded).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

import torch

_LOCK = threading.RLock()


class JobRNG:
    """One job's private state of torch's process-wide (CPU and, on CUDA, device) generator."""

    def __init__(self, seed: int, device: torch.device | str = "cpu"):
        device = torch.device(device)
        self._cuda = device if device.type == "cuda" else None
        if self._cuda is not None and self._cuda.index is None:
            self._cuda = torch.device("cuda", torch.cuda.current_device())
        with _LOCK, torch.random.fork_rng(devices=self._devices()):
            torch.manual_seed(int(seed))
            self._save()

    def _devices(self) -> list:
        return [self._cuda.index] if self._cuda is not None else []

    def _save(self) -> None:
        self._cpu_state = torch.get_rng_state()
        self._cuda_state = torch.cuda.get_rng_state(self._cuda) if self._cuda is not None else None

    @contextmanager
    def active(self):
        """Run the block with this job's generator state as the process-wide one."""
        with _LOCK, torch.random.fork_rng(devices=self._devices()):
            torch.set_rng_state(self._cpu_state)
            if self._cuda is not None:
                torch.cuda.set_rng_state(self._cuda_state, self._cuda)
            try:
                yield self
            finally:
                self._save()


def has_random_layers(model: torch.nn.Module) -> bool:
    """Whether the model draws random numbers in its forward pass in training mode."""
    random_kinds = (torch.nn.modules.dropout._DropoutNd, torch.nn.RReLU)
    return any(isinstance(m, random_kinds) for m in model.modules())
