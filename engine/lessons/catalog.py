"""Lesson experiments as data: their loading and validation, the measure registry, and
the Set up steps a training experiment gives the window."""
from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable


from ..errors import ConvScopeError


EXPERIMENTS_PATH = Path(__file__).resolve().parent.parent.parent / "resources" / "lesson_experiments.json"


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
        from ..train import TrainSettings

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
    from ..train import TrainSettings

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
        from ..spec import NetworkSpec

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
    from ..augment import AugmentOptions

    data = {name: settings[name] for name in ("normalization", *(f.name for f in fields(AugmentOptions)))
            if name in settings}
    return [{"panel": "Data", "setup": {"dataset": exp.dataset, "data": data}},
            {"panel": "Network", "setup": network},
            {"panel": "Training", "setup": {"settings": settings}}]
