"""What an experiment sends while it runs (events) and what it returns (runs, criteria, result)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np



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
