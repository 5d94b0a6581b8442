"""Running an experiment: the job, its training runs, and the helpers every measure uses."""
from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from ..errors import DivergedError
from ..events import Job
from .catalog import Experiment, LessonError, MEASURES, _MEASURE_FUNCS, get_experiment
from .records import (Criterion, LessonEpoch, LessonResult, LessonRunFinished, LessonRunStarted, LessonStarted,
                      LessonStep, RunRecord, _criterion)


def experiment_job(lesson: str | Experiment, quick: bool = False, context: dict | None = None) -> Job:
    """Run one lesson's experiment (see the module docstring); returns a LessonResult.
    `context` carries user input some lessons need (dog_vs_food: {'folder': path})."""
    exp = lesson if isinstance(lesson, Experiment) else get_experiment(lesson)
    start = time.perf_counter()
    options = {**exp.options, **(exp.quick.get("options", {}) if quick else {})}
    yield LessonStarted(exp.lesson_id, exp.title, tuple(r.name for r in exp.runs), tuple(r.label for r in exp.runs))
    if exp.kind == "training":
        runs = yield from _training_runs(exp, quick)
        result = _MEASURE_FUNCS[exp.measure](exp, runs, options)
    else:
        result = yield from _MEASURE_FUNCS[exp.measure](exp, options, dict(context or {}))
    result.seconds = time.perf_counter() - start
    result.quick = quick
    return result


def run_experiment(lesson: str | Experiment, quick: bool = False, on_event=None,
                   context: dict | None = None) -> LessonResult:
    """Run to the end (CLI, tests)."""
    from ..events import run_to_end

    return run_to_end(experiment_job(lesson, quick, context), on_event)


def _relay(job: Job, translate: Callable[[Any], Any]) -> Job:
    """Drive a sub-job, passing on translate(event) where it is not None; returns the sub-job's result."""
    while True:
        try:
            event = next(job)
        except StopIteration as stop:
            return stop.value
        out = translate(event)
        if out is not None:
            yield out


def _load_spec(exp: Experiment):
    from ..spec import NetworkSpec, load_preset

    return NetworkSpec.from_dict(exp.spec) if exp.spec else load_preset(exp.preset)


def _training_runs(exp: Experiment, quick: bool) -> Job:
    """Train every run of a training experiment; a run that fails is kept, marked."""
    import torch

    from ..data import load_dataset
    from ..regularize import regularized_weights
    from ..train import BatchEnd, EnsembleResult, EpochEnd, train_job

    data = load_dataset(exp.dataset)
    spec = _load_spec(exp)
    records = []
    for index, plan in enumerate(exp.runs):
        settings = exp.run_settings(plan, quick)
        record = RunRecord(plan.name, plan.label)
        curves = record.curves
        for key in ("epoch", "member", "train_loss", "val_loss", "train_acc", "val_acc", "step", "loss",
                    "smoothed_loss"):
            curves[key] = []
        yield LessonRunStarted(index, plan.name, plan.label)
        run_start = time.perf_counter()
        try:
            job = train_job(spec, data, settings)
            while True:
                try:
                    event = next(job)
                except StopIteration as stop:
                    result = stop.value
                    break
                if isinstance(event, EpochEnd):
                    for key, value in (("epoch", event.epoch), ("member", event.member),
                                       ("train_loss", event.train_loss), ("val_loss", event.val_loss),
                                       ("train_acc", event.train_acc), ("val_acc", event.val_acc)):
                        curves[key].append(value)
                    yield LessonEpoch(index, plan.name, event.member, event.epoch, event.train_loss, event.val_loss,
                                      event.train_acc, event.val_acc)
                elif isinstance(event, BatchEnd):
                    if event.member == 0:
                        curves["step"].append(event.step)
                        curves["loss"].append(event.loss)
                        curves["smoothed_loss"].append(event.smoothed_loss)
                    if settings.event_interval_s > 0 or event.step % 25 == 0:
                        yield LessonStep(index, event.step, event.loss, event.smoothed_loss)
                elif isinstance(event, EnsembleResult):
                    record.figures["member_val_accs"] = list(event.member_val_accs)
                    record.figures["ensemble_val_acc"] = event.ensemble_val_acc
                    record.figures["ensemble_kind"] = event.kind
            history = result.run.history
            for key in ("train_eval_loss", "train_eval_acc"):
                if key in history:
                    curves[key] = list(history[key])
            summary = result.summary
            figures = record.figures
            figures.update({"train_loss": summary["train_loss"], "val_loss": summary["val_loss"],
                            "val_acc": summary["val_acc"], "train_acc_as_trained": summary["train_acc"],
                            "images_per_sec": summary["images_per_sec"]})
            if "train_eval_acc" in history:
                figures["train_acc"] = history["train_eval_acc"][-1]
                figures["train_eval_loss"] = history["train_eval_loss"][-1]
                figures["gap_points"] = 100.0 * (figures["train_acc"] - figures["val_acc"])
            with torch.no_grad():
                weights = torch.cat([w.detach().flatten().float() for w in regularized_weights(result.run.model)])
            figures["weights"] = int(weights.numel())
            figures["share_below_1e-3"] = float((weights.abs() < 1e-3).float().mean())
            counts, edges = np.histogram(np.log10(weights.abs().numpy() + 1e-12), bins=40, range=(-12, 1))
            curves["weight_log10_hist"] = (counts, edges)  # histogram of log10 |w| for the figure
        except DivergedError as exc:
            record.status, record.error = "failed", str(exc)
        record.seconds = time.perf_counter() - run_start
        records.append(record)
        yield LessonRunFinished(index, plan.name, record.status, record.error, dict(record.figures))
    return records




def _result(exp: Experiment, criteria: list, summary: str, runs: list, details: dict | None = None,
            effect: Criterion | None = None) -> LessonResult:
    info = MEASURES[exp.measure]
    primary = effect or next((c for c in criteria if c.name == info.primary), criteria[0])
    failed_runs = [r for r in runs if r.status != "ok"]
    shows = bool(criteria) and all(c.met for c in criteria) and not failed_runs
    reason = ""
    if not shows:
        missed = [c.text for c in criteria if not c.met]
        reason = "; ".join([f"run '{r.name}' failed: {r.error}" for r in failed_runs]
                           + [f"not met: {m}" for m in missed])
    return LessonResult(exp.lesson_id, exp.title, exp.measure, primary.value, primary.name, primary.threshold,
                        primary.direction, shows, summary, reason, criteria, runs, details or {})


def _threshold(exp: Experiment, name: str) -> tuple[str, float]:
    info = MEASURES[exp.measure]
    return exp.criteria.get(name, info.criteria[name])


def _failed_result(exp: Experiment, runs: list) -> LessonResult | None:
    failed = [r for r in runs if r.status != "ok"]
    if not failed:
        return None
    info = MEASURES[exp.measure]
    direction, threshold = _threshold(exp, info.primary)
    text = "; ".join(f"run '{r.name}' failed: {r.error}" for r in failed)
    return LessonResult(exp.lesson_id, exp.title, exp.measure, float("nan"), info.primary, threshold, direction,
                        False, f"{len(failed)} run(s) failed", text, [], runs)


def _run(runs: list, name: str) -> RunRecord:
    for r in runs:
        if r.name == name:
            return r
    raise LessonError(f"The experiment has no run called '{name}'.")


def _make(exp: Experiment, name: str, value: float, text: str) -> Criterion:
    direction, threshold = _threshold(exp, name)
    return _criterion(name, value, threshold, direction, f"{text} ({direction} {threshold:g})")
