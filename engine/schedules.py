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

from .errors import ConvScopeError

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


MAX_TOTAL_STEPS = 5_000_000  # optimizer steps in one run: hours of training; more is a typo


class ScheduleError(ConvScopeError, ValueError):
    """A schedule that cannot be planned (too many steps, cycles shorter than one step)."""

    title = "Learning-rate schedule"


def total_steps(settings: Any, steps_per_epoch: int) -> int:
    return int(_get(settings, "epochs", 1)) * int(steps_per_epoch)


def check_plan(settings: Any, steps_per_epoch: int) -> int:
    """Total steps of the run, or ScheduleError (one sentence) when the plan is absurd."""
    spe = max(1, int(steps_per_epoch))
    total = total_steps(settings, spe)
    if total > MAX_TOTAL_STEPS:
        raise ScheduleError(
            f"{int(_get(settings, 'epochs', 1)):,} epochs x {spe:,} steps = {total:,} optimizer steps; ConvScope "
            f"plans at most {MAX_TOTAL_STEPS:,}. Use fewer epochs or a larger batch.")
    if _get(settings, "schedule", "constant") == "sgdr":
        cycle = float(_get(settings, "sgdr_cycle_epochs", 1.0))
        mult = float(_get(settings, "sgdr_mult", 1.0))
        if not (math.isfinite(cycle) and math.isfinite(mult)) or mult < 1:
            raise ScheduleError("SGDR needs a finite cycle length and a multiplier of at least 1.")
        if cycle * spe < 1:
            raise ScheduleError(
                f"An SGDR cycle of {cycle:g} epochs is shorter than one optimizer step (1 step = {1 / spe:.3g} "
                f"epochs here); use cycles of at least {1 / spe:.3g} epochs.")
    return total


def _sgdr_arrays(settings: Any, steps_per_epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """(first steps, end steps exclusive) of every SGDR cycle that starts within the run,
    computed with arrays (no Python loop over cycles). Same rounding as the step-by-step
    definition: cycle i lasts sgdr_cycle_epochs * sgdr_mult ** i epochs."""
    spe = max(1, int(steps_per_epoch))
    total = check_plan(settings, spe)
    cycle_epochs = float(_get(settings, "sgdr_cycle_epochs", 1.0))
    mult = float(_get(settings, "sgdr_mult", 1.0))
    empty = np.zeros(0, dtype=np.int64)
    if cycle_epochs <= 0 or total <= 0:
        return empty, empty
    epochs = total / spe
    if mult == 1.0:
        count = int(math.ceil(epochs / cycle_epochs)) + 1
    else:  # sum of the first n cycles = c (m^n - 1) / (m - 1) >= epochs
        count = int(math.ceil(math.log(1.0 + epochs * (mult - 1.0) / cycle_epochs) / math.log(mult))) + 1
    count = max(1, min(count, total + 1))  # every cycle is at least one step long
    lengths = np.full(count, mult, dtype=np.float64)
    lengths[0] = cycle_epochs
    lengths = np.cumprod(lengths)  # c, c m, c m^2 ... (sequential, as the loop multiplied)
    starts = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
    firsts = np.round(starts * spe).astype(np.int64)
    ends = np.maximum(firsts + 1, np.round((starts + lengths) * spe).astype(np.int64))
    keep = firsts < total
    return firsts[keep], ends[keep]


def sgdr_cycle_bounds(settings: Any, steps_per_epoch: int) -> list[tuple[int, int]]:
    """(first_step, end_step_exclusive) of every SGDR cycle that starts within the run.
    The last cycle may be cut short by the end of training."""
    firsts, ends = _sgdr_arrays(settings, steps_per_epoch)
    return list(zip(firsts.tolist(), ends.tolist()))


def sgdr_cycle_ends(settings: Any, steps_per_epoch: int) -> list[int]:
    """Number of completed steps at the end of each SGDR cycle that finishes inside
    the run (the snapshot points of a snapshot ensemble)."""
    total = total_steps(settings, steps_per_epoch)
    _, ends = _sgdr_arrays(settings, steps_per_epoch)
    return ends[ends <= total].tolist()


def _cosine(lr0: float, lr_min: float, progress):
    return lr_min + (lr0 - lr_min) * 0.5 * (1.0 + np.cos(np.pi * np.clip(progress, 0.0, 1.0)))


def _rates(settings: Any, steps: np.ndarray, steps_per_epoch: int) -> np.ndarray:
    """Learning rates for an array of optimizer steps, in closed form."""
    lr0 = float(_get(settings, "lr", 0.05))
    kind = _get(settings, "schedule", "constant")
    spe = max(1, int(steps_per_epoch))
    steps = np.asarray(steps, dtype=np.int64)
    t = steps / spe
    if kind == "constant":
        lr = np.full(steps.shape, lr0, dtype=np.float64)
    elif kind == "step":
        step_size = max(1e-9, float(_get(settings, "step_size", 2.0)))
        lr = lr0 * float(_get(settings, "gamma", 0.5)) ** np.floor(t / step_size + 1e-9)
    elif kind == "exponential":
        lr = lr0 * np.exp(-float(_get(settings, "decay", 0.5)) * t)
    elif kind == "inverse_time":
        lr = lr0 / (1.0 + float(_get(settings, "decay", 0.5)) * t)
    elif kind == "cosine":
        epochs = max(1, int(_get(settings, "epochs", 1)))
        lr = _cosine(lr0, float(_get(settings, "lr_min", 0.0)), steps / (epochs * spe))
    elif kind == "sgdr":
        lr = np.full(steps.shape, lr0, dtype=np.float64)
        firsts, ends = _sgdr_arrays(settings, spe)
        if len(firsts):
            index = np.searchsorted(firsts, steps, side="right") - 1
            inside = (index >= 0) & (steps < ends[np.clip(index, 0, None)])
            first = firsts[index[inside]]
            end = ends[index[inside]]
            lr[inside] = _cosine(lr0, float(_get(settings, "lr_min", 0.0)), (steps[inside] - first) / (end - first))
    else:
        raise ValueError(f"Unknown schedule '{kind}'. Known: {', '.join(SCHEDULES)}.")
    lr = np.asarray(lr, dtype=np.float64)
    warmup = float(_get(settings, "warmup_epochs", 0.0))
    if not math.isfinite(warmup):
        raise ScheduleError("Warm-up epochs must be a finite number.")
    warmup_steps = int(round(min(warmup, 1e12) * spe))
    if warmup_steps > 0:
        ramp = steps < warmup_steps
        lr[ramp] *= (steps[ramp] + 1) / warmup_steps
    return lr


def lr_at(settings: Any, step: int, steps_per_epoch: int) -> float:
    """Learning rate for optimizer step `step` (0-based)."""
    return float(_rates(settings, np.array([int(step)]), steps_per_epoch)[0])


def learning_rate_curve(settings: Any, steps_per_epoch: int) -> np.ndarray:
    """Per-step learning rate for the whole run (float64 array of length epochs *
    steps_per_epoch): plot it before training; the trainer uses the same values.
    Computed in closed form (no loop over steps); ScheduleError when the run would
    exceed MAX_TOTAL_STEPS or an SGDR cycle is shorter than one step."""
    total = check_plan(settings, steps_per_epoch)
    return _rates(settings, np.arange(total, dtype=np.int64), steps_per_epoch)


def learning_rate_plan(settings: Any, steps_per_epoch: int, max_points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """(epoch, lr) at most `max_points` evenly spaced steps of the run, for a plot: cheap
    whatever the run length (the GUI can call this on its thread)."""
    spe = max(1, int(steps_per_epoch))
    total = check_plan(settings, spe)
    if total <= 0:
        return np.zeros(0), np.zeros(0)
    steps = np.unique(np.linspace(0, total - 1, num=min(total, max(2, int(max_points)))).round().astype(np.int64))
    return steps / spe, _rates(settings, steps, spe)


def steps_per_epoch_for(num_train: int, batch_size: int) -> int:
    """Batches per epoch (the last, smaller batch is kept)."""
    return max(1, math.ceil(int(num_train) / max(1, int(batch_size))))
