"""Evaluation of group scores against a test folder's labels: accuracy per group, the confusion
matrix, and the report the GUI shows."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..folders import SkippedFile


@dataclass
class Evaluation:
    """Accuracy per group and overall, and the confusion matrix (rows: true, columns: predicted)."""

    group_names: list[str]
    confusion: np.ndarray  # (G, G) int counts
    per_group_accuracy: list[float]  # nan for a group with no test images
    per_group_count: list[int]
    accuracy: float
    n: int


def evaluate_predictions(scores: np.ndarray, labels: np.ndarray, group_names: list[str]) -> Evaluation:
    """Predicted group = argmax of the scores; count hits per true group."""
    scores = np.asarray(scores)
    labels = np.asarray(labels, dtype=np.int64)
    predictions = scores.argmax(axis=1)
    size = len(group_names)
    confusion = np.zeros((size, size), dtype=np.int64)
    for true, predicted in zip(labels, predictions):
        confusion[true, predicted] += 1
    counts = confusion.sum(axis=1)
    per_group = [float(confusion[g, g] / counts[g]) if counts[g] else float("nan") for g in range(size)]
    n = int(len(labels))
    accuracy = float(np.trace(confusion) / n) if n else float("nan")
    return Evaluation(list(group_names), confusion, per_group, [int(c) for c in counts], accuracy, n)


@dataclass
class DogFoodReport:
    """Everything the GUI and CLI show about one evaluation of a test folder."""

    mode: str  # "zero-shot" or "fine-tuned"
    group_names: list[str]
    paths: list[str]
    labels: np.ndarray  # (N,) true group index
    scores: np.ndarray  # (N, G) group probabilities
    evaluation: Evaluation
    thumbnails: np.ndarray  # (N, T, T, 3) uint8
    skipped: list[SkippedFile]
    group_mass: np.ndarray | None = None  # (N,) zero-shot only: probability inside all groups
    class_counts: dict[str, int] = field(default_factory=dict)  # test images per folder

    @property
    def predictions(self) -> np.ndarray:
        return self.scores.argmax(axis=1)

    @property
    def correct(self) -> np.ndarray:
        return self.predictions == self.labels

    def order_by_score(self, group: int = 0) -> np.ndarray:
        """Image indices sorted by the score of `group` (the dog score), highest first."""
        return np.argsort(-self.scores[:, group], kind="stable")

    def skipped_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.skipped:
            counts[item.reason] = counts.get(item.reason, 0) + 1
        return counts

    def summary(self) -> dict:
        """Plain JSON-able numbers: '<group>_acc' for every group (dog_acc, food_acc), accuracy, n, skipped."""
        ev = self.evaluation
        out: dict = {"mode": self.mode}
        for name, accuracy, count in zip(ev.group_names, ev.per_group_accuracy, ev.per_group_count):
            out[f"{name}_acc"] = None if math.isnan(accuracy) else round(accuracy, 4)
        out.update(accuracy=None if math.isnan(ev.accuracy) else round(ev.accuracy, 4), n=ev.n,
                   skipped=len(self.skipped), skipped_reasons=self.skipped_counts(),
                   per_group={name: {"n": count, "accuracy": out[f"{name}_acc"]}
                              for name, count in zip(ev.group_names, ev.per_group_count)},
                   confusion=ev.confusion.tolist(), groups=list(ev.group_names))
        return out


def mark_tiles(thumbnails: np.ndarray, correct: np.ndarray, border: int = 5) -> np.ndarray:
    """Copies of the thumbnails framed green (right) or red with a cross (wrong) for the gallery."""
    tiles = np.array(thumbnails, dtype=np.uint8, copy=True)
    if tiles.ndim != 4 or len(tiles) == 0:
        return tiles
    size = tiles.shape[1]
    green, red = np.array([0, 158, 115], np.uint8), np.array([213, 40, 0], np.uint8)
    for tile, ok in zip(tiles, correct):
        colour = green if ok else red
        tile[:border], tile[-border:], tile[:, :border], tile[:, -border:] = colour, colour, colour, colour
        if not ok:  # a corner badge, so mistakes stand out even to colour-blind viewers
            badge = size // 4
            tile[border:border + badge, border:border + badge] = red
            for offset in range(badge):
                for thick in (-1, 0, 1):
                    a = min(max(offset + thick, 0), badge - 1)
                    tile[border + offset, border + a] = 255
                    tile[border + offset, border + badge - 1 - a] = 255
    return tiles
