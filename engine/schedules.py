"""Learning-rate schedules, step by step.

One pure function, `lr_at(settings, step, steps_per_epoch)`, gives the learning
rate used for optimizer step `step` (0-based). The trainer calls it before every
step and `learning_rate_curve` evaluates it for every step of the run, so the
curve the GUI plots before training is exactly the one the run follows.

Time `t` below is measured in epochs (t = step / steps_per_epoch, fractional),
so a schedule looks the same whatever the batch size. With lr0 = settings.lr:

- constant:      lr0
- step:          lr0 * gamma ** floor(t / step_size)
- exponential:   lr0 * exp(-k t)                      (k = settings.decay)
- inverse_time:  lr0 / (1 + k t)                      ("1/t decay")
- cosine:        lr_min + (lr0 - lr_min) * (1 + cos(pi t / T)) / 2, T = all epochs
- sgdr:          the cosine curve restarted every cycle (Loshchilov & Hutter):
                 cycle i lasts sgdr_cycle_epochs * sgdr_mult ** i epochs.

An optional linear warm-up (warmup_epochs > 0) ramps from lr0 / warmup_steps up
to the scheduled value over the first warmup_epochs epochs.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

SCHEDULES = ("constant", "step", "exponential", "inverse_time", "cosine", "sgdr")

SCHEDULE_LABELS = {
    "constant": "Constant",
    "step": "Step decay",
    "exponential": "Exponential decay",
    "inverse_time": "1/t decay",
    "cosine": "Cosine annealing",
    "sgdr": "Cyclic warm restarts (SGDR)",
}


def _get(settings: Any, name: str, default: Any = None) -> Any:
    if isinstance(settings, dict):
        return settings.get(name, default)
    return getattr(settings, name, default)


def total_steps(settings: Any, steps_per_epoch: int) -> int:
    return int(_get(settings, "epochs", 1)) * int(steps_per_epoch)


def sgdr_cycle_bounds(settings: Any, steps_per_epoch: int) -> list[tuple[int, int]]:
    """(first_step, end_step_exclusive) of every SGDR cycle that starts within the run.
    The last cycle may be cut short by the end of training."""
    cycle_epochs = float(_get(settings, "sgdr_cycle_epochs", 1.0))
    mult = float(_get(settings, "sgdr_mult", 1.0))
    total = total_steps(settings, steps_per_epoch)
    bounds = []
    start_epoch = 0.0
    length = cycle_epochs
    while True:
        first = int(round(start_epoch * steps_per_epoch))
        if first >= total or length <= 0:
            break
        end = int(round((start_epoch + length) * steps_per_epoch))
        bounds.append((first, max(first + 1, end)))
        start_epoch += length
        length *= mult
    return bounds


def sgdr_cycle_ends(settings: Any, steps_per_epoch: int) -> list[int]:
    """Number of completed steps at the end of each SGDR cycle that finishes inside
    the run (the snapshot points of a snapshot ensemble)."""
    total = total_steps(settings, steps_per_epoch)
    return [end for _, end in sgdr_cycle_bounds(settings, steps_per_epoch) if end <= total]


def _cosine(lr0: float, lr_min: float, progress: float) -> float:
    return lr_min + (lr0 - lr_min) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, max(0.0, progress))))


def lr_at(settings: Any, step: int, steps_per_epoch: int) -> float:
    """Learning rate for optimizer step `step` (0-based)."""
    lr0 = float(_get(settings, "lr", 0.05))
    kind = _get(settings, "schedule", "constant")
    spe = max(1, int(steps_per_epoch))
    t = step / spe
    if kind == "constant":
        lr = lr0
    elif kind == "step":
        step_size = max(1e-9, float(_get(settings, "step_size", 2.0)))
        lr = lr0 * float(_get(settings, "gamma", 0.5)) ** math.floor(t / step_size + 1e-9)
    elif kind == "exponential":
        lr = lr0 * math.exp(-float(_get(settings, "decay", 0.5)) * t)
    elif kind == "inverse_time":
        lr = lr0 / (1.0 + float(_get(settings, "decay", 0.5)) * t)
    elif kind == "cosine":
        epochs = max(1, int(_get(settings, "epochs", 1)))
        lr = _cosine(lr0, float(_get(settings, "lr_min", 0.0)), step / (epochs * spe))
    elif kind == "sgdr":
        lr = lr0
        for first, end in sgdr_cycle_bounds(settings, spe):
            if first <= step < end:
                lr = _cosine(lr0, float(_get(settings, "lr_min", 0.0)), (step - first) / (end - first))
                break
    else:
        raise ValueError(f"Unknown schedule '{kind}'. Known: {', '.join(SCHEDULES)}.")
    warmup_steps = int(round(float(_get(settings, "warmup_epochs", 0.0)) * spe))
    if warmup_steps > 0 and step < warmup_steps:
        lr *= (step + 1) / warmup_steps
    return lr


def learning_rate_curve(settings: Any, steps_per_epoch: int) -> np.ndarray:
    """Per-step learning rate for the whole run (float64 array of length epochs *
    steps_per_epoch): plot it before training; the trainer uses the same values."""
    return np.array([lr_at(settings, s, steps_per_epoch) for s in range(total_steps(settings, steps_per_epoch))],
                    dtype=np.float64)


def steps_per_epoch_for(num_train: int, batch_size: int) -> int:
    """Batches per epoch (the last, smaller batch is kept)."""
    return max(1, math.ceil(int(num_train) / max(1, int(batch_size))))
