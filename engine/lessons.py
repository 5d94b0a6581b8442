"""Lessons as verified experiments.

resources/lesson_experiments.json holds one "experiment" per lesson, in lecture
order, joined to the window's lessons (resources/lessons.json) by id: the whole
state it needs (dataset, network, training settings; anything it does not name
is a lesson default, so the result does not depend on what ran before), the
runs it makes (a comparison uses the same seed in every run), the measure that
shows the lecture's point and the criteria (thresholds) the measure must meet.
An unknown key anywhere in an experiment is a `LessonError`.

`experiment_job(lesson_id, quick=False)` runs one experiment as a job (see
engine/events.py): it yields `LessonStarted`, then per run `LessonRunStarted`,
`LessonEpoch` (per-epoch train / validation loss and accuracy, for curves),
`LessonStep` (throttled per-step loss), `LessonRunFinished` (a run that diverged
is kept, marked failed, with its curve up to the failure), `Progress` and
`LessonImage` (pictures of the ImageNet lessons), and returns a `LessonResult`:
the runs' figures, the measured effect, its threshold, `shows_point` and a
one-line summary such as "gap 18.4 points -> 8.8 with L2".

Kinds: 'training' (runs of engine.train.train_job compared by a measure),
'features' (one trained network, then t-SNE or top images), 'init_lab' and
'imagenet' (the pretrained classifier: saliency, fooling, class visualization,
dog vs food). `panel_setup(exp)` gives a training experiment's complete state
as the window's Set up steps.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import ConvScopeError, DivergedError
from .events import Job, Progress

EXPERIMENTS_PATH = Path(__file__).resolve().parent.parent / "resources" / "lesson_experiments.json"


class LessonError(ConvScopeError):
    """A lesson file or experiment that cannot be used (unknown key, unknown lesson...)."""

    title = "Lesson problem"


# Training state every training experiment starts from; the experiment's "settings"
# and each run's "settings" are laid over it. CPU and a fixed seed: the same numbers
# on every machine, and the data are small enough that a GPU would not help.
LESSON_TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 10, "batch_size": 64, "optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": False,
    "schedule": "constant", "weight_decay": 0.0, "l2": 0.0, "l1": 0.0, "elastic_net": 0.0, "dropout": None,
    "init": "he", "batchnorm": False, "hflip": False, "crop": 0, "scale": 0.0, "rotation": 0.0,
    "colour_jitter": 0.0, "hue_jitter": 0.0, "normalization": "mean_image", "train_subset": 0, "label_noise": 0.0,
    "ensemble": 1, "snapshot_ensemble": 0, "device": "cpu", "amp": False, "seed": 0, "val_every": 1,
    "snapshot_every_steps": 0, "track_layer_stats": False, "eval_train_each_epoch": True,
}

EXPERIMENT_KEYS = {"kind", "about", "dataset", "preset", "spec", "settings", "runs", "measure", "criteria",
                   "options", "quick"}
RUN_KEYS = {"name", "label", "settings"}


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class LessonStarted:
    lesson_id: str
    title: str
    run_names: tuple  # run names in order (empty for lessons without training runs)
    run_labels: tuple


@dataclass(frozen=True)
class LessonRunStarted:
    run: int  # 0-based index of the run
    name: str
    label: str


@dataclass(frozen=True)
class LessonEpoch:
    run: int
    name: str
    member: int
    epoch: int  # 0-based
    train_loss: float  # as trained (dropout / augmentation on)
    val_loss: float
    train_acc: float
    val_acc: float


@dataclass(frozen=True)
class LessonStep:
    run: int
    step: int
    loss: float
    smoothed_loss: float


@dataclass(frozen=True)
class LessonRunFinished:
    run: int
    name: str
    status: str  # 'ok' | 'failed'
    error: str  # why it failed ('' when ok)
    figures: dict  # the run's headline numbers (see RunRecord.figures)


@dataclass(frozen=True)
class LessonImage:
    name: str  # e.g. 'saliency', 'adversarial'
    caption: str
    image: np.ndarray  # (H, W, 3) uint8


# ---------------------------------------------------------------- results


@dataclass
class RunRecord:
    """One run of an experiment. `curves` holds per-epoch lists (epoch, train_loss,
    val_loss, train_acc, val_acc, train_eval_loss, train_eval_acc) and per-step lists
    (step, loss, smoothed_loss) up to the end, or up to the failure."""

    name: str
    label: str
    status: str = "ok"
    error: str = ""
    figures: dict = field(default_factory=dict)
    curves: dict = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self, with_curves: bool = True) -> dict:
        out = {"name": self.name, "label": self.label, "status": self.status, "figures": _jsonable(self.figures),
               "seconds": round(self.seconds, 3)}
        if self.error:
            out["error"] = self.error
        if with_curves:
            out["curves"] = {k: _jsonable(v) for k, v in self.curves.items()
                             if k in ("epoch", "train_loss", "val_loss", "train_acc", "val_acc", "train_eval_acc",
                                      "train_eval_loss")}
        return out


@dataclass(frozen=True)
class Criterion:
    name: str  # e.g. 'gap_points'
    value: float
    threshold: float
    direction: str  # '>=' or '<='
    met: bool
    text: str  # e.g. 'train - val accuracy 18.4 points >= 10'


@dataclass
class LessonResult:
    lesson_id: str
    title: str
    measure: str
    effect: float  # the headline number (see effect_name)
    effect_name: str
    threshold: float
    direction: str
    shows_point: bool
    summary: str  # one line for large type, e.g. "gap 18.4 points -> 8.8 with L2"
    reason: str = ""  # why the point is not shown (empty when it is)
    criteria: list = field(default_factory=list)  # Criterion
    runs: list = field(default_factory=list)  # RunRecord
    details: dict = field(default_factory=dict)
    images: dict = field(default_factory=dict)  # name -> (H, W, 3) uint8
    seconds: float = 0.0
    quick: bool = False

    def to_json(self, with_curves: bool = False) -> dict:
        return {
            "lesson": self.lesson_id, "title": self.title, "measure": self.measure,
            "effect": _jsonable(self.effect), "effect_name": self.effect_name,
            "threshold": _jsonable(self.threshold), "direction": self.direction,
            "shows_point": bool(self.shows_point), "summary": self.summary, "reason": self.reason,
            "criteria": [{"name": c.name, "value": _jsonable(c.value), "threshold": _jsonable(c.threshold),
                          "direction": c.direction, "met": bool(c.met), "text": c.text} for c in self.criteria],
            "runs": [r.to_json(with_curves) for r in self.runs],
            "details": _jsonable(self.details), "seconds": round(self.seconds, 2), "quick": self.quick,
        }


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return float(f"{value:.6g}") if math.isfinite(value) else None  # 6 significant digits
    if isinstance(value, np.integer):
        return int(value)
    return value


_COMPARE = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b}


def _criterion(name: str, value: float, threshold: float, direction: str, text: str) -> Criterion:
    ok = value is not None and math.isfinite(value) and _COMPARE[direction](value, threshold)
    return Criterion(name, float(value), float(threshold), direction, bool(ok), text)


# ---------------------------------------------------------------- loading and validation


@dataclass(frozen=True)
class RunPlan:
    name: str
    label: str
    settings: dict


@dataclass(frozen=True)
class Experiment:
    lesson_id: str
    title: str
    kind: str
    measure: str
    dataset: str | None
    preset: str | None
    spec: dict | None
    settings: dict
    runs: tuple
    criteria: dict
    options: dict
    quick: dict
    about: str = ""

    def run_settings(self, run: RunPlan, quick: bool = False):
        """The TrainSettings of one run: lesson defaults < experiment settings < run settings
        (< the experiment's quick overrides in quick mode)."""
        from .train import TrainSettings

        values = {**LESSON_TRAIN_DEFAULTS, **self.settings, **run.settings}
        if quick:
            values.update(self.quick.get("settings", {}))
        if self.dataset:
            values["dataset"] = self.dataset
        known = {f.name for f in fields(TrainSettings)}
        return TrainSettings(**{k: v for k, v in values.items() if k in known})


# Measures: their kind, their criteria with default thresholds (an experiment may
# override the numbers, never add unknown names) and their options.
@dataclass(frozen=True)
class MeasureInfo:
    kind: str
    criteria: dict  # name -> (direction, default threshold)
    options: dict  # name -> default
    primary: str  # criterion shown as "effect" / "threshold"


MEASURES: dict[str, MeasureInfo] = {}
_MEASURE_FUNCS: dict[str, Callable] = {}


def _measure(name: str, kind: str, criteria: dict, options: dict | None = None, primary: str | None = None):
    def register(func):
        MEASURES[name] = MeasureInfo(kind, criteria, options or {}, primary or next(iter(criteria)))
        _MEASURE_FUNCS[name] = func
        return func

    return register


def _check_keys(where: str, data: dict, allowed: set) -> None:
    if not isinstance(data, dict):
        raise LessonError(f"{where} must be a JSON object.")
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise LessonError(f"{where}: unknown key(s) {', '.join(unknown)}. Known: {', '.join(sorted(allowed))}.")


def parse_experiment(lesson_id: str, title: str, data: dict) -> Experiment:
    """Check one lesson's "experiment" object (unknown keys are errors) and build an Experiment."""
    from .train import TrainSettings

    where = f"Lesson '{lesson_id}' experiment"
    _check_keys(where, data, EXPERIMENT_KEYS)
    measure = data.get("measure")
    if measure not in MEASURES:
        raise LessonError(f"{where}: unknown measure '{measure}'. Known: {', '.join(sorted(MEASURES))}.")
    info = MEASURES[measure]
    kind = data.get("kind", info.kind)
    if kind != info.kind:
        raise LessonError(f"{where}: measure '{measure}' belongs to kind '{info.kind}', not '{kind}'.")
    setting_names = {f.name for f in fields(TrainSettings)} - {"dataset"}
    settings = data.get("settings", {})
    _check_keys(f"{where} settings", settings, setting_names)
    runs = []
    for i, run in enumerate(data.get("runs", [])):
        _check_keys(f"{where} run {i + 1}", run, RUN_KEYS)
        if not run.get("name"):
            raise LessonError(f"{where} run {i + 1} needs a name.")
        _check_keys(f"{where} run '{run['name']}' settings", run.get("settings", {}), setting_names)
        runs.append(RunPlan(str(run["name"]), str(run.get("label", run["name"])), dict(run.get("settings", {}))))
    if len({r.name for r in runs}) != len(runs):
        raise LessonError(f"{where}: run names must differ.")
    criteria = data.get("criteria", {})
    _check_keys(f"{where} criteria", criteria, set(info.criteria))
    options = data.get("options", {})
    _check_keys(f"{where} options", options, set(info.options))
    quick = data.get("quick", {})
    _check_keys(f"{where} quick", quick, {"settings", "options"})
    _check_keys(f"{where} quick settings", quick.get("settings", {}), setting_names)
    _check_keys(f"{where} quick options", quick.get("options", {}), set(info.options))
    if kind in ("training", "features"):
        if not data.get("dataset"):
            raise LessonError(f"{where}: a {kind} experiment names its dataset.")
        if bool(data.get("preset")) == bool(data.get("spec")):
            raise LessonError(f"{where}: name exactly one of 'preset' or 'spec'.")
        if not runs:
            raise LessonError(f"{where}: a {kind} experiment needs at least one run.")
    if data.get("spec") is not None:
        from .spec import NetworkSpec

        try:
            NetworkSpec.from_dict(data["spec"])
        except ConvScopeError as exc:
            raise LessonError(f"{where}: its network spec is invalid: {exc}") from exc
    exp = Experiment(lesson_id, title, kind, measure, data.get("dataset"), data.get("preset"), data.get("spec"),
                     dict(settings), tuple(runs), {k: (info.criteria[k][0], float(v)) for k, v in criteria.items()},
                     {**info.options, **options}, quick, str(data.get("about", "")))
    if kind in ("training", "features"):
        for run in exp.runs:  # every run's settings must be valid training settings
            problems = exp.run_settings(run).problems()
            if problems:
                raise LessonError(f"{where} run '{run.name}': {' '.join(problems)}")
    return exp


ENTRY_KEYS = {"id", "title", "experiment"}


def load_experiment_entries(path: str | Path | None = None) -> list[dict]:
    """The experiment file's entries ({id, title, experiment}), every one checked:
    unknown keys and invalid experiments raise LessonError."""
    path = Path(path) if path else EXPERIMENTS_PATH
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LessonError(f"Cannot read the lesson experiments file {path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != "convscope-lesson-experiments":
        raise LessonError(f"{path} is not a ConvScope lesson experiments file.")
    _check_keys(str(path.name), data, {"format", "version", "_about", "experiments"})
    entries = data.get("experiments")
    if not isinstance(entries, list):
        raise LessonError(f"{path} has no 'experiments' list.")
    seen = set()
    for entry in entries:
        _check_keys(f"Lesson '{entry.get('id', '?') if isinstance(entry, dict) else '?'}'", entry, ENTRY_KEYS)
        if not entry.get("id") or entry["id"] in seen:
            raise LessonError(f"Every lesson needs its own id ('{entry.get('id')}' is missing or repeated).")
        seen.add(entry["id"])
        parse_experiment(entry["id"], entry.get("title", entry["id"]), entry.get("experiment", {}))
    return entries


def experiments(path: str | Path | None = None) -> list[Experiment]:
    """Every lesson's experiment, in lecture order."""
    return [parse_experiment(e["id"], e.get("title", e["id"]), e["experiment"]) for e in load_experiment_entries(path)]


def lesson_names(path: str | Path | None = None) -> list[str]:
    return [e.lesson_id for e in experiments(path)]


def get_experiment(lesson_id: str, path: str | Path | None = None) -> Experiment:
    found = {e.lesson_id: e for e in experiments(path)}
    if lesson_id not in found:
        raise LessonError(f"No lesson experiment called '{lesson_id}'. Known: {', '.join(found)}.")
    return found[lesson_id]


def panel_setup(exp: Experiment, run: str | None = None) -> list[dict]:
    """The window's Set up for a training experiment, as lessons.json 'setup' steps:
    the complete state of one run (default: the first), every TrainSettings field
    named, so Set up gives the same state whatever the panels held before."""
    from dataclasses import asdict

    if exp.kind not in ("training", "features"):
        return []
    plan = next((r for r in exp.runs if r.name == run), None) if run else (exp.runs[0] if exp.runs else None)
    if plan is None:
        raise LessonError(f"Lesson '{exp.lesson_id}' has no run called '{run}'.")
    settings = asdict(exp.run_settings(plan))
    network = {"spec": exp.spec} if exp.spec else {"preset": exp.preset}
    from .augment import AugmentOptions

    data = {name: settings[name] for name in ("normalization", *(f.name for f in fields(AugmentOptions)))
            if name in settings}
    return [{"panel": "Data", "setup": {"dataset": exp.dataset, "data": data}},
            {"panel": "Network", "setup": network},
            {"panel": "Training", "setup": {"settings": settings}}]


# ---------------------------------------------------------------- running


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
    from .events import run_to_end

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
    from .spec import NetworkSpec, load_preset

    return NetworkSpec.from_dict(exp.spec) if exp.spec else load_preset(exp.preset)


def _training_runs(exp: Experiment, quick: bool) -> Job:
    """Train every run of a training experiment; a run that fails is kept, marked."""
    import torch

    from .data import load_dataset
    from .regularize import regularized_weights
    from .train import BatchEnd, EnsembleResult, EpochEnd, train_job

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


# ---------------------------------------------------------------- training measures


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


def _make(exp: Experiment, name: str, value: float, text: str) -> Criterion:
    direction, threshold = _threshold(exp, name)
    return _criterion(name, value, threshold, direction, f"{text} ({direction} {threshold:g})")


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


# ---------------------------------------------------------------- weight initialization (init lab)


@_measure("init_lab", "init_lab",
          {"small_last_std_ratio": ("<=", 0.01), "large_saturated_share": (">=", 0.5),
           "xavier_last_std_ratio": (">=", 0.2), "xavier_saturated_share": ("<=", 0.05),
           "small_bn_saturated_share": ("<=", 0.05), "small_bn_last_std": (">=", 0.3)},
          {"layers": 10, "width": 500, "samples": 1000}, primary="small_last_std_ratio")
def _measure_init_lab(exp, options, context):
    """The lecture's demo: 10 x 500 tanh layers on unit-gaussian data. Small weights
    vanish, large ones saturate, Xavier keeps the spread, batch norm (measured with the
    batch's own statistics, as training sees it) rescues small weights."""
    from .init_lab import InitLabConfig, init_lab_job, saturated_share

    configs = {"small": InitLabConfig(init="small"), "large": InitLabConfig(init="large"),
               "xavier": InitLabConfig(init="xavier"), "small_bn": InitLabConfig(init="small", batch_norm=True)}
    runs, results = [], {}
    for index, (name, base) in enumerate(configs.items()):
        config = InitLabConfig(base.nonlinearity, base.init, base.batch_norm, int(options["layers"]),
                               int(options["width"]), int(options["samples"]))
        yield Progress(index, len(configs), f"Init lab: {name}")
        start = time.perf_counter()
        result = yield from init_lab_job(config)
        stats = result.stats
        labels = {"small": "small N(0, 0.01)", "large": "large N(0, 1)", "xavier": "Xavier 1/sqrt(fan_in)",
                  "small_bn": "small N(0, 0.01) + batch norm"}
        record = RunRecord(name, labels[name], figures={
            "act_std": [float(v) for v in stats.act_std],
            "saturated_share": [float(v) for v in saturated_share(result)],
            "last_std_ratio": float(stats.act_std[-1] / max(stats.act_std[0], 1e-12)),
        }, seconds=time.perf_counter() - start)
        runs.append(record)
        results[name] = record.figures
    crit = [
        _make(exp, "small_last_std_ratio", results["small"]["last_std_ratio"],
              f"small N(0, 0.01): std layer 10 / layer 1 = {results['small']['last_std_ratio']:.2g}"),
        _make(exp, "large_saturated_share", results["large"]["saturated_share"][-1],
              f"large N(0, 1): {100 * results['large']['saturated_share'][-1]:.0f} % of layer-10 units at |a| > 0.99"),
        _make(exp, "xavier_last_std_ratio", results["xavier"]["last_std_ratio"],
              f"Xavier: std layer 10 / layer 1 = {results['xavier']['last_std_ratio']:.2f}"),
        _make(exp, "xavier_saturated_share", results["xavier"]["saturated_share"][-1],
              f"Xavier: {100 * results['xavier']['saturated_share'][-1]:.1f} % saturated"),
        _make(exp, "small_bn_saturated_share", max(results["small_bn"]["saturated_share"]),
              f"small + batch norm: at most {100 * max(results['small_bn']['saturated_share']):.1f} % saturated"),
        _make(exp, "small_bn_last_std", results["small_bn"]["act_std"][-1],
              f"small + batch norm: std of layer 10 = {results['small_bn']['act_std'][-1]:.2f}"),
    ]
    summary = (f"std at layer 10: small {results['small']['act_std'][-1]:.1e} (vanishes), large "
               f"{100 * results['large']['saturated_share'][-1]:.0f} % saturated, Xavier "
               f"{results['xavier']['act_std'][-1]:.2f}, small + batch norm {results['small_bn']['act_std'][-1]:.2f} "
               f"(healthy)")
    yield Progress(len(configs), len(configs), "Init lab done")
    return _result(exp, crit, summary, runs)


# ---------------------------------------------------------------- feature space and intermediate layers


def _train_for_features(exp: Experiment, options: dict, quick: bool = False):
    """Train the experiment's single run (its network on its data); returns (TrainResult, data)."""
    from .data import load_dataset
    from .train import train_job

    data = load_dataset(exp.dataset)
    plan = exp.runs[0] if exp.runs else RunPlan("model", "trained model", {})
    settings = exp.run_settings(plan)
    result = yield from train_job(_load_spec(exp), data, settings)
    return result, data


@_measure("tsne_knn", "features", {"knn_gain_points": (">=", 5.0)},
          {"layer": "", "points": 600, "perplexity": 30, "iterations": 500})
def _measure_tsne_knn(exp, options, context):
    """5-NN accuracy in the t-SNE map of learned features vs the t-SNE map of raw pixels
    (the same images, the same t-SNE settings)."""
    from .embed import TSNEParams, feature_space_job

    yield Progress(0, 3, "Training the network")
    trained, data = yield from _train_for_features(exp, options)
    model = trained.run.model
    yield Progress(1, 3, "t-SNE of the features and of the raw pixels")
    params = TSNEParams(perplexity=float(options["perplexity"]), iterations=int(options["iterations"]))
    space = yield from feature_space_job(model, data, options["layer"] or None, "val", int(options["points"]),
                                         "tsne", params, compare_pixels=True)
    feats, pixels = space.embedding.knn_accuracy, space.pixel_embedding.knn_accuracy
    gain = 100.0 * (feats - pixels)
    record = RunRecord("features", f"t-SNE of layer {space.features.layer}",
                       figures={"knn_features": feats, "knn_pixels": pixels, "val_acc": trained.summary["val_acc"],
                                "points": len(space.features)})
    crit = [_make(exp, "knn_gain_points", gain,
                  f"5-NN in the t-SNE map: features {100 * feats:.1f} % vs raw pixels {100 * pixels:.1f} %")]
    summary = f"5-NN accuracy in t-SNE: raw pixels {100 * pixels:.1f} % -> learned features {100 * feats:.1f} %"
    result = _result(exp, crit, summary, [record])
    result.images["tsne"] = _scatter_image(space.embedding.xy, space.features.labels,
                                           f"features ({space.features.layer})")
    result.images["tsne_pixels"] = _scatter_image(space.pixel_embedding.xy, space.features.labels, "raw pixels")
    yield Progress(3, 3, "done")
    return result


def _scatter_image(xy: np.ndarray, labels: np.ndarray, title: str) -> np.ndarray:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=80)
    ax.scatter(xy[:, 0], xy[:, 1], c=labels, cmap="tab10", s=6)
    ax.set_title(f"t-SNE of {title}")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image


@_measure("top_patches", "features", {"deep_purity_gain": (">=", 1.5)},
          {"shallow": "conv1", "deep": "relu4", "k": 9, "patch_layers": ["conv1", "conv2"]})
def _measure_top_patches(exp, options, context):
    """What intermediate layers mean: the k validation images that excite a unit most
    (its strongest position, as for top patches) share one class more and more often
    with depth. Purity = share of a unit's top-k images in its most common class,
    averaged over the units that fire at all; compared between a first-layer unit (an
    edge or blob detector, found in every class) and a deep one."""
    import torch

    from .imaging import tile_images
    from .introspect import top_patches_job
    from .layers import named_layers

    yield Progress(0, 3, "Training the network")
    trained, data = yield from _train_for_features(exp, options)
    model = trained.run.model.eval()
    k = int(options["k"])
    yield Progress(1, 3, "Top images of every unit of every layer")
    outputs: dict = {}
    handles = [module.register_forward_hook(lambda _m, _i, out, name=name: outputs.__setitem__(name, out.detach()))
               for name, module in named_layers(model)]
    try:
        with torch.no_grad():
            model(data.val_x)
    finally:
        for handle in handles:
            handle.remove()
    labels = data.val_y.numpy()
    purity = {}
    for name, out in outputs.items():
        strength = out.flatten(2).amax(2) if out.dim() == 4 else out  # (N, units)
        if out.dim() != 4 and name == list(outputs)[-1]:
            continue  # the class scores themselves are not an intermediate layer
        alive = (strength.max(0).values > strength.min(0).values).numpy()
        top = strength.topk(min(k, len(strength)), dim=0).indices.T.numpy()  # (units, k)
        per_unit = np.array([np.bincount(labels[row], minlength=data.num_classes).max() / len(row) for row in top])
        purity[name] = float(per_unit[alive].mean()) if alive.any() else float("nan")
    for key in ("shallow", "deep"):
        if options[key] not in purity:
            raise LessonError(f"Lesson '{exp.lesson_id}': the network has no layer '{options[key]}'. "
                              f"Layers: {', '.join(purity)}.")
    chance = 1.0 / data.num_classes
    shallow, deep = purity[options["shallow"]], purity[options["deep"]]
    ratio = deep / shallow if shallow > 0 else float("inf")
    record = RunRecord("model", "trained network", figures={"purity": purity, "chance": chance,
                                                            "val_acc": trained.summary["val_acc"]})
    crit = [_make(exp, "deep_purity_gain", ratio,
                  f"top-{k} images of a unit in one class: {options['deep']} {100 * deep:.0f} % vs "
                  f"{options['shallow']} {100 * shallow:.0f} % (chance {100 * chance:.0f} %)")]
    summary = (f"top-{k} images of a unit in one class: " +
               " -> ".join(f"{name} {100 * value:.0f} %" for name, value in purity.items()
                           if name.startswith(("conv", "fc"))) + f" (chance {100 * chance:.0f} %)")
    result = _result(exp, crit, summary, [record])
    for step, layer in enumerate(options["patch_layers"], start=2):
        yield Progress(step, 3, f"Top patches of {layer}")
        top = yield from top_patches_job(model, data.val_x, layer, k=k, split="val")
        mosaic, columns = top.all_channels_mosaic(upscale=max(1, 48 // max(1, top.receptive_field)))
        grid, _ = tile_images(mosaic, columns, pad=4, pad_value=255)
        result.images[f"top_patches_{layer}"] = grid if grid.shape[-1] == 3 else np.repeat(grid[..., :1], 3, axis=-1)
    yield Progress(3, 3, "done")
    return result


# ---------------------------------------------------------------- ImageNet lessons


def _load_photo(name: str) -> np.ndarray:
    """A bundled photo (engine.images.bundled_photos) or 'skimage:NAME' (an image that ships
    inside scikit-image, e.g. 'skimage:camera'); grey images become RGB."""
    if name.startswith("skimage:"):
        import skimage.data

        loader = getattr(skimage.data, name.split(":", 1)[1], None)
        if loader is None:
            raise LessonError(f"scikit-image has no sample image '{name}'.")
        image = np.asarray(loader())
    else:
        from .images import load_bundled_photo

        image = np.asarray(load_bundled_photo(name))
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3].astype(np.uint8))


def box_in_crop(box: list, photo_shape: tuple, resize: int, crop: int) -> tuple[int, int, int, int]:
    """An (x0, y0, x1, y1) box in photo pixels -> the same box in the model's input crop
    (shorter side resized to `resize`, then a centred `crop` x `crop` square), clipped."""
    height, width = photo_shape[:2]
    scale = resize / min(height, width)
    if height <= width:  # torchvision's resize(int): the shorter side becomes `resize`
        new_h, new_w = resize, int(resize * width / height)
    else:
        new_h, new_w = int(resize * height / width), resize
    top, left = int(round((new_h - crop) / 2.0)), int(round((new_w - crop) / 2.0))
    x0, y0, x1, y1 = (float(v) for v in box)
    out = [x0 * scale - left, y0 * scale - top, x1 * scale - left, y1 * scale - top]
    x0, x1 = (int(round(min(max(v, 0), crop))) for v in (out[0], out[2]))
    y0, y1 = (int(round(min(max(v, 0), crop))) for v in (out[1], out[3]))
    return x0, y0, x1, y1


@_measure("saliency_box", "imagenet", {"mass_ratio": (">=", 1.5)},
          {"photo": "skimage:camera", "target": "", "box": [0, 0, 1, 1], "model": "efficientnet_lite0"})
def _measure_saliency_box(exp, options, context):
    """Share of the vanilla-gradient saliency (max over channels of |d score / d pixel|)
    inside the object's box, divided by the box's share of the image."""
    from .attribution import colorize, compute_saliency, overlay
    from .pretrained import load_classifier

    yield Progress(0, 2, "Loading the ImageNet classifier")
    classifier = load_classifier(options["model"])
    photo = _load_photo(options["photo"])
    x01 = classifier.preprocess(photo)
    yield Progress(1, 2, "Vanilla gradient")
    saliency = compute_saliency(classifier, x01, "vanilla", options["target"] or None)
    raw = np.abs(saliency.raw.astype(np.float64))
    resize = classifier.resize_size if isinstance(classifier.resize_size, int) else int(classifier.resize_size[0])
    x0, y0, x1, y1 = box_in_crop(options["box"], photo.shape, resize, classifier.input_size)
    inside = np.zeros(raw.shape, dtype=bool)
    inside[y0:y1, x0:x1] = True
    area = float(inside.mean())
    mass = float(raw[inside].sum() / raw.sum()) if raw.sum() > 0 else float("nan")
    ratio = mass / area if area > 0 else float("nan")
    crop = classifier.to_uint8(x01)
    prob = float(classifier.probabilities(crop)[0][saliency.target])
    record = RunRecord("saliency", f"vanilla gradient for '{saliency.target_name}'",
                       figures={"box_area_share": area, "mass_in_box": mass, "target": saliency.target,
                                "target_name": saliency.target_name, "target_prob": prob,
                                "box_in_crop": [x0, y0, x1, y1]})
    crit = [_make(exp, "mass_ratio", ratio, f"{100 * mass:.0f} % of the gradient mass in a box covering "
                                            f"{100 * area:.0f} % of the image ({ratio:.2f}x)")]
    summary = (f"'{saliency.target_name}' (p {prob:.2f}): {100 * mass:.0f} % of the saliency inside the object's "
               f"box, which covers {100 * area:.0f} % of the image ({ratio:.2f}x)")
    result = _result(exp, crit, summary, [record])
    boxed = overlay(crop, saliency.display, 0.6)
    boxed[y0:y1, [x0, max(x0, x1 - 1)]] = (0, 255, 0)
    boxed[[y0, max(y0, y1 - 1)], x0:x1] = (0, 255, 0)
    result.images["saliency"] = np.concatenate([crop, colorize(saliency.display), boxed], axis=1)
    yield LessonImage("saliency", summary, result.images["saliency"])
    return result


@_measure("fooling", "imagenet", {"target_prob": (">=", 0.9), "linf_255": ("<=", 2.0), "png_target_prob": (">=", 0.9)},
          {"photo": "coffee", "target": 368, "epsilon": 2.0, "steps": 100, "model": "efficientnet_lite0"})
def _measure_fooling(exp, options, context):
    """Fooling (Cornell): change the photo by at most `epsilon`/255 per pixel until the
    model sees the target class; the saved PNG is read back and must still fool it."""
    from .adversarial import AttackStep, attack_job
    from .images import image_from_bytes
    from .pretrained import load_classifier

    yield Progress(0, 1, "Loading the ImageNet classifier")
    classifier = load_classifier(options["model"])
    photo = _load_photo(options["photo"])
    job = attack_job(classifier, photo, method="iterative", target=options["target"],
                     epsilon_255=float(options["epsilon"]), steps=int(options["steps"]))
    attack = yield from _relay(job, lambda e: Progress(e.step, int(options["steps"]),
                                                       f"step {e.step}: p(target) {e.target_prob:.3f}")
                               if isinstance(e, AttackStep) else None)
    png = _png_bytes(attack.adversarial)
    reloaded = image_from_bytes(png)
    png_prob = float(classifier.probabilities(reloaded)[0][attack.target_index])
    record = RunRecord("fooling", f"{attack.original_name} -> {attack.target_name}", figures=attack.summary())
    record.figures["png_target_prob"] = png_prob
    crit = [_make(exp, "target_prob", attack.target_prob, f"p({attack.target_name}) = {attack.target_prob:.3f}"),
            _make(exp, "linf_255", attack.linf_255, f"largest pixel change {attack.linf_255:.0f}/255"),
            _make(exp, "png_target_prob", png_prob, f"the saved PNG read back: p = {png_prob:.3f}")]
    summary = (f"{attack.original_name} (p {attack.original_prob:.2f}) -> {attack.target_name} "
               f"p {attack.target_prob:.3f} "
               f"in {attack.steps} steps, at most {attack.linf_255:.0f}/255 per pixel; saved PNG p {png_prob:.3f}")
    result = _result(exp, crit, summary, [record], effect=crit[0])
    result.images["fooling"] = np.concatenate([attack.original, attack.difference, attack.adversarial], axis=1)
    yield LessonImage("fooling", summary, result.images["fooling"])
    return result


def _png_bytes(image: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


@_measure("classviz", "imagenet", {"png_prob": (">=", 0.9)},
          {"target": 76, "style": "cs231n", "steps": 150, "seed": 0, "model": "efficientnet_lite0"})
def _measure_classviz(exp, options, context):
    """Class visualization from noise; the probability is measured on the 8-bit image
    that the PNG holds (ClassVizResult.final_prob), and again after a PNG round trip."""
    from .classviz import ClassVizPreview, class_visualization_job
    from .images import image_from_bytes
    from .pretrained import load_classifier

    yield Progress(0, 1, "Loading the ImageNet classifier")
    classifier = load_classifier(options["model"])
    job = class_visualization_job(classifier, options["target"], style=options["style"], steps=int(options["steps"]),
                                  seed=int(options["seed"]))
    viz = yield from _relay(job, lambda e: Progress(e.step, e.steps, f"step {e.step}: p {e.target_prob:.3f}")
                            if isinstance(e, ClassVizPreview) else None)
    reloaded = image_from_bytes(_png_bytes(viz.image))
    png_prob = float(classifier.probabilities(reloaded)[0][viz.class_index])
    record = RunRecord("classviz", f"{viz.style} visualization of '{viz.class_name}'", figures=viz.summary())
    record.figures["png_prob"] = png_prob
    crit = [_make(exp, "png_prob", png_prob, f"p({viz.class_name}) on the saved PNG = {png_prob:.3f}")]
    summary = f"'{viz.class_name}' from noise in {viz.steps} steps ({viz.style}): p {png_prob:.3f} on the saved PNG"
    result = _result(exp, crit, summary, [record])
    result.images["classviz"] = viz.image
    yield LessonImage("classviz", summary, viz.image)
    return result


ONE_PHOTO_OVERLAP = 0.6  # crops / mirror images of one photo overlap 0.83-0.89, different photos ~0.15-0.25


def colour_overlap(images: np.ndarray, bins: int = 8) -> float:
    """Mean pairwise histogram intersection of the images' RGB colour histograms (bins^3
    cells): near 1 for crops and mirror images of one photo, low for different photos."""
    if len(images) < 2:
        return 0.0
    hists = []
    for image in images:
        q = (np.asarray(image)[..., :3].astype(np.int64) * bins // 256).reshape(-1, 3)
        counts = np.bincount(q[:, 0] * bins * bins + q[:, 1] * bins + q[:, 2], minlength=bins ** 3).astype(float)
        hists.append(counts / counts.sum())
    pairs = [np.minimum(hists[i], hists[j]).sum() for i in range(len(hists)) for j in range(i + 1, len(hists))]
    return float(np.mean(pairs))


@_measure("dog_vs_food", "imagenet", {"accuracy": (">=", 0.8), "images_per_group": (">=", 5)},
          {"groups": "dog_vs_food", "model": "efficientnet_lite0"})
def _measure_dog_vs_food(exp, options, context):
    """The course project, zero-shot: sum the 1000 ImageNet probabilities into dog and
    food and score a folder of the user's own photos (dog/ and food/, or test-dog/ and
    test-food/). No package ships dog photos, so without a folder there is no accuracy
    to report, and the result says so instead of inventing one."""
    from .transfer import load_groups, zero_shot_job

    folder = context.get("folder")
    info = MEASURES[exp.measure]
    if not folder:
        reason = ("No photo folder given. Make a folder with two sub-folders, dog/ and food/ (or test-dog/ and "
                  "test-food/), with at least 5 of your own photos each, and run the lesson on it "
                  "(python main.py lesson dog_vs_food --folder PATH). Crops of one photo are not a test set.")
        return LessonResult(exp.lesson_id, exp.title, exp.measure, float("nan"), "accuracy",
                            info.criteria["accuracy"][1], ">=", False, "no photo folder: nothing measured", reason)
    report = yield from zero_shot_job(folder, load_groups(options["groups"]), model_name=options["model"])
    summary_json = report.summary()
    for index, name in enumerate(report.group_names):
        overlap = colour_overlap(report.thumbnails[report.labels == index])
        if overlap > ONE_PHOTO_OVERLAP:
            reason = (f"The {name} photos look like views of one photo (crops or mirror images: their colour "
                      f"histograms overlap {100 * overlap:.0f} %, different photos overlap ~15-25 %). That is not "
                      f"a test set, so no accuracy is reported. Use photos of different {name}s.")
            record = RunRecord("zero_shot", "ImageNet probabilities summed into dog and food",
                               figures={**summary_json, f"{name}_colour_overlap": overlap})
            return LessonResult(exp.lesson_id, exp.title, exp.measure, float("nan"), "accuracy",
                                _threshold(exp, "accuracy")[1], ">=", False,
                                f"{name} photos are views of one photo: no accuracy", reason, [], [record])
    smallest = min(report.evaluation.per_group_count) if report.evaluation.per_group_count else 0
    record = RunRecord("zero_shot", "ImageNet probabilities summed into dog and food", figures=summary_json)
    crit = [_make(exp, "accuracy", report.evaluation.accuracy,
                  f"accuracy {100 * report.evaluation.accuracy:.1f} % on {report.evaluation.n} photos"),
            _make(exp, "images_per_group", smallest, f"smallest group: {smallest} photos")]
    per_group = ", ".join(f"{name} {100 * acc:.0f} %" for name, acc in
                          zip(report.group_names, report.evaluation.per_group_accuracy))
    summary = (f"dog vs food without training: {100 * report.evaluation.accuracy:.1f} % of "
               f"{report.evaluation.n} photos ({per_group})")
    return _result(exp, crit, summary, [record])
