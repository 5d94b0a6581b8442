"""Measures of the training lessons: each compares runs of the same network (same seed) with
and without one trick."""
from __future__ import annotations


import numpy as np
from .catalog import _measure
from .records import RunRecord
from .runner import _failed_result, _make, _result, _run



@_measure("overfitting", "training",
          {"gap_points": (">=", 10.0), "val_loss_rise": (">=", 0.20), "train_loss_fall": (">", 0.0)})
def _measure_overfitting(exp, runs, options):
    if (failed := _failed_result(exp, runs)) is not None:
        return failed
    run = runs[0]
    val_loss = np.asarray(run.curves["val_loss"], dtype=float)
    train_loss = np.asarray(run.curves["train_loss"], dtype=float)
    best = int(np.nanargmin(val_loss))
    rise = float(val_loss[-1] / val_loss[best] - 1.0)
    fall = float(train_loss[best] - train_loss[-1])  # training loss still falling after the val-loss minimum
    gap = run.figures["gap_points"]
    criteria = [
        _make(exp, "gap_points", gap, f"train - val accuracy {gap:.1f} points"),
        _make(exp, "val_loss_rise", rise, f"validation loss {100 * rise:.0f} % above its minimum (epoch {best + 1})"),
        _make(exp, "train_loss_fall", fall,
              f"training loss {train_loss[best]:.3f} at that epoch -> {train_loss[-1]:.3f} at the end"),
    ]
    summary = (f"gap {gap:.1f} points (train {100 * run.figures['train_acc']:.1f} %, val "
               f"{100 * run.figures['val_acc']:.1f} %); val loss {val_loss[best]:.3f} -> {val_loss[-1]:.3f} "
               f"(+{100 * rise:.0f} %) while train loss falls to {train_loss[-1]:.3f}")
    return _result(exp, criteria, summary, runs, {"val_loss_min_epoch": best + 1})



@_measure("gap_cut", "training", {"gap_cut": (">=", 0.25), "val_acc_change_points": (">=", 0.0)},
          {"baseline": "plain", "trick": ""})
def _measure_gap_cut(exp, runs, options):
    if (failed := _failed_result(exp, runs)) is not None:
        return failed
    base = _run(runs, options["baseline"])
    trick = _run(runs, options["trick"]) if options["trick"] else next(r for r in runs if r is not base)
    gap_b, gap_t = base.figures["gap_points"], trick.figures["gap_points"]
    cut = (gap_b - gap_t) / gap_b if gap_b > 0 else float("nan")
    val_change = 100.0 * (trick.figures["val_acc"] - base.figures["val_acc"])
    criteria = [
        _make(exp, "gap_cut", cut, f"gap cut by {100 * cut:.0f} % ({gap_b:.1f} -> {gap_t:.1f} points)"),
        _make(exp, "val_acc_change_points", val_change,
              f"validation accuracy {100 * base.figures['val_acc']:.1f} -> {100 * trick.figures['val_acc']:.1f} %"),
    ]
    summary = (f"gap {gap_b:.1f} points -> {gap_t:.1f} with {trick.label} (val {100 * base.figures['val_acc']:.1f} "
               f"-> {100 * trick.figures['val_acc']:.1f} %)")
    return _result(exp, criteria, summary, runs)


@_measure("sparsity", "training", {"sparse_share": (">=", 0.5), "val_acc_drop_points": ("<=", 3.0)},
          {"baseline": "plain"})
def _measure_sparsity(exp, runs, options):
    if (failed := _failed_result(exp, runs)) is not None:
        return failed
    base = _run(runs, options["baseline"])
    criteria, parts = [], []
    worst_share = None
    for run in runs:
        if run is base:
            continue
        share = run.figures["share_below_1e-3"]
        drop = 100.0 * (base.figures["val_acc"] - run.figures["val_acc"])
        criteria.append(_make(exp, "sparse_share", share, f"{run.label}: {100 * share:.0f} % of weights below 1e-3"))
        criteria.append(_make(exp, "val_acc_drop_points", drop,
                              f"{run.label}: val accuracy {100 * run.figures['val_acc']:.1f} % vs "
                              f"{100 * base.figures['val_acc']:.1f} % without"))
        parts.append(f"{run.label} {100 * share:.0f} % (val {100 * run.figures['val_acc']:.1f} %)")
        worst_share = share if worst_share is None else min(worst_share, share)
    summary = (f"weights below 1e-3: {100 * base.figures['share_below_1e-3']:.1f} % without "
               f"(val {100 * base.figures['val_acc']:.1f} %) -> " + ", ".join(parts))
    primary = min((c for c in criteria if c.name == "sparse_share"), key=lambda c: c.value)
    return _result(exp, criteria, summary, runs, effect=primary)


def _steps_to(run: RunRecord, target: float) -> int | None:
    smoothed = np.asarray(run.curves["smoothed_loss"], dtype=float)
    hit = np.flatnonzero(smoothed <= target)
    return int(run.curves["step"][hit[0]]) if len(hit) else None


@_measure("steps_to_loss", "training", {"step_ratio": ("<=", 0.5)},
          {"target_loss": 0.3, "baseline": "plain", "fast": ""})
def _measure_steps_to_loss(exp, runs, options):
    if (failed := _failed_result(exp, runs)) is not None:
        return failed
    target = float(options["target_loss"])
    base = _run(runs, options["baseline"])
    base_steps = _steps_to(base, target)
    base_total = base.curves["step"][-1] if base.curves["step"] else 0
    criteria, parts = [], []
    for run in runs:
        steps = _steps_to(run, target)
        run.figures["steps_to_target"] = steps
        if run is base:
            continue
        if steps is None:
            ratio = float("inf")
        elif base_steps is None:
            ratio = steps / base_total  # an upper bound: the baseline had not arrived when it stopped
        else:
            ratio = steps / base_steps
        base_text = f"{base_steps}" if base_steps is not None else f"> {base_total} (not reached)"
        criteria.append(_make(exp, "step_ratio", ratio,
                              f"{run.label}: {steps if steps is not None else 'never'} steps vs {base_text} "
                              f"for {base.label}"))
        parts.append(f"{steps if steps is not None else 'never'} with {run.label}")
    base_text = f"{base_steps}" if base_steps is not None else f"> {base_total}"
    summary = f"steps to smoothed loss {target:g}: {base_text} with {base.label} -> " + ", ".join(parts)
    primary = max(criteria, key=lambda c: c.value)
    return _result(exp, criteria, summary, runs, {"target_loss": target}, effect=primary)


@_measure("lower_final_loss", "training", {"loss_ratio": ("<", 1.0)}, {"baseline": "constant"})
def _measure_lower_final_loss(exp, runs, options):
    if (failed := _failed_result(exp, runs)) is not None:
        return failed
    base = _run(runs, options["baseline"])
    base_loss = base.figures["train_eval_loss"]
    criteria, parts = [], []
    for run in runs:
        if run is base:
            continue
        loss = run.figures["train_eval_loss"]
        ratio = loss / base_loss
        criteria.append(_make(exp, "loss_ratio", ratio,
                              f"{run.label}: final training loss {loss:.4f} vs {base_loss:.4f} at constant lr"))
        parts.append(f"{run.label} {loss:.4f}")
    summary = f"final training loss: constant lr {base_loss:.4f} -> " + ", ".join(parts)
    primary = max(criteria, key=lambda c: c.value)
    return _result(exp, criteria, summary, runs, effect=primary)


def _step_noise(losses: list) -> float:
    """How much the loss jumps from one step to the next: the std of loss(t+1) - loss(t)
    over the second half of the run (the first half is dominated by the descent itself)."""
    values = np.asarray(losses, dtype=float)
    values = values[len(values) // 2:]
    if len(values) < 3:
        return float("nan")
    return float(np.std(np.diff(values)))


@_measure("batch_noise", "training", {"noise_ratio": ("<", 1.0), "speed_ratio": (">", 1.0)})
def _measure_batch_noise(exp, runs, options):
    if (failed := _failed_result(exp, runs)) is not None:
        return failed
    for run in runs:
        run.figures["step_noise"] = _step_noise(run.curves["loss"])
        run.figures["steps"] = len(run.curves["loss"])
    criteria = []
    for small, large in zip(runs, runs[1:]):
        noise = large.figures["step_noise"] / small.figures["step_noise"]
        criteria.append(_make(exp, "noise_ratio", noise,
                              f"per-step loss noise {small.figures['step_noise']:.3f} ({small.label}) -> "
                                  f"{large.figures['step_noise']:.3f} ({large.label})"))
    speed = runs[1].figures["images_per_sec"] / runs[0].figures["images_per_sec"]
    criteria.append(_make(exp, "speed_ratio", speed,
                          f"images/s {runs[0].figures['images_per_sec']:.0f} ({runs[0].label}) -> "
                              f"{runs[1].figures['images_per_sec']:.0f} ({runs[1].label})"))
    summary = " | ".join(f"{r.label}: noise {r.figures['step_noise']:.3f}, {r.figures['images_per_sec']:.0f} images/s"
                         for r in runs)
    return _result(exp, criteria, summary, runs, effect=criteria[0])


@_measure("first_epoch_loss", "training", {"loss_cut": (">=", 0.20)}, {"baseline": "plain"})
def _measure_first_epoch_loss(exp, runs, options):
    if (failed := _failed_result(exp, runs)) is not None:
        return failed
    base = _run(runs, options["baseline"])
    trick = next(r for r in runs if r is not base)
    loss_b, loss_t = base.curves["train_eval_loss"][0], trick.curves["train_eval_loss"][0]
    cut = (loss_b - loss_t) / loss_b
    criteria = [_make(exp, "loss_cut", cut, f"training loss after epoch 1: {loss_b:.3f} -> {loss_t:.3f}")]
    summary = f"loss after epoch 1: {loss_b:.3f} {base.label} -> {loss_t:.3f} {trick.label} ({100 * cut:.0f} % lower)"
    return _result(exp, criteria, summary, runs)


@_measure("bn_rescue", "training", {"val_acc_without": ("<=", 0.30), "val_acc_with": (">=", 0.90)},
          {"without": "plain", "with": "batchnorm"}, primary="val_acc_with")
def _measure_bn_rescue(exp, runs, options):
    if (failed := _failed_result(exp, runs)) is not None:
        return failed
    without, with_bn = _run(runs, options["without"]), _run(runs, options["with"])
    a, b = without.figures["val_acc"], with_bn.figures["val_acc"]
    criteria = [_make(exp, "val_acc_without", a, f"{without.label}: val accuracy {100 * a:.1f} %"),
                _make(exp, "val_acc_with", b, f"{with_bn.label}: val accuracy {100 * b:.1f} %")]
    summary = f"val accuracy {100 * a:.1f} % {without.label} -> {100 * b:.1f} % {with_bn.label}"
    return _result(exp, criteria, summary, runs)


@_measure("ensemble_gain", "training", {"ensemble_gain_points": (">=", 0.5), "snapshot_gain_points": (">=", 0.0)},
          {"independent": "ensemble", "snapshot": "snapshots"})
def _measure_ensemble_gain(exp, runs, options):
    if (failed := _failed_result(exp, runs)) is not None:
        return failed
    criteria, parts = [], []
    for key, crit in (("independent", "ensemble_gain_points"), ("snapshot", "snapshot_gain_points")):
        if not options[key]:
            continue
        run = _run(runs, options[key])
        best = max(run.figures["member_val_accs"])
        ens = run.figures["ensemble_val_acc"]
        gain = 100.0 * (ens - best)
        what = "best member" if key == "independent" else "best snapshot"
        criteria.append(_make(exp, crit, gain, f"{run.label}: ensemble {100 * ens:.1f} % vs {what} {100 * best:.1f} %"))
        parts.append(f"{run.label} {100 * ens:.1f} % vs {what} {100 * best:.1f} %")
    return _result(exp, criteria, "; ".join(parts), runs)
