"""From 1000 classes to a few: "dog vs food" and any other class groups.

Two ways to turn the pretrained 1000-class ImageNet classifier into an N-class
one (N = number of groups, usually 2):

1. Zero-shot remap (no training). Softmax the 1000 logits, add up the
   probabilities of each group's ImageNet classes (dogs 151-268, food
   924-969), renormalise the group sums so they add to one, predict the
   largest. Written out step by step in `softmax` and `remap_to_groups`.
2. Fine-tuned head. Replace the final 1000-way Linear layer with a new N-way
   one and train only that on an image folder (ImageFolder layout), with the
   backbone frozen. The backbone's features are computed once and cached, so
   training takes seconds on the CPU. Optionally the last block is unfrozen
   too (its input feature maps are cached instead).

Both are evaluated on a test folder whose sub-folders name the groups
(`dog`/`food`, `test-dog`/`test-food`, any case): per-group and overall
accuracy, confusion matrix, and every test image with its group scores so the
GUI can sort them by dog score and mark the mistakes.

Jobs (`zero_shot_job`, `finetune_job`) are generators of small events, like
the trainer's; the CLI and tests drain them with `engine.events.run_to_end`.
"""
from __future__ import annotations

import copy
import json
import math
import time
from collections import OrderedDict
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .errors import DataError, DivergedError, ModelError
from .events import Progress, Throttle
from .rng import JobRNG, has_random_layers
from .folders import (FolderScan, SkippedFile, folder_labels_to_groups, read_scanned_image,
                      scan_image_folder)
from .images import resize_center_crop

ROOT = Path(__file__).resolve().parent.parent
GROUPS_DIR = ROOT / "resources" / "class_groups"
DEFAULT_GROUPS_FILE = GROUPS_DIR / "dog_vs_food.json"
NUM_IMAGENET_CLASSES = 1000
MAX_CLASS_GROUPS = 100
THUMBNAIL_SIZE = 96


# ---------------------------------------------------------------------------
# Class groups: which ImageNet classes make up "dog", "food", ...
# ---------------------------------------------------------------------------

@dataclass
class ClassGroup:
    name: str
    classes: list[int]  # ImageNet class indices, sorted, unique

    def __post_init__(self):
        self.classes = sorted({int(c) for c in self.classes})


def compact_ranges(classes: list[int]) -> list[list[int]]:
    """[151, 152, 153, 200] -> [[151, 153], [200, 200]] (inclusive), for readable JSON."""
    ranges: list[list[int]] = []
    for index in sorted(set(classes)):
        if ranges and index == ranges[-1][1] + 1:
            ranges[-1][1] = index
        else:
            ranges.append([index, index])
    return ranges


@dataclass
class ClassGroups:
    """An editable set of named groups of ImageNet classes, stored as JSON."""

    title: str
    groups: list[ClassGroup]
    description: str = ""

    @property
    def names(self) -> list[str]:
        return [group.name for group in self.groups]

    def __len__(self) -> int:
        return len(self.groups)

    def copy(self) -> "ClassGroups":
        return ClassGroups(self.title, [ClassGroup(g.name, list(g.classes)) for g in self.groups], self.description)

    def validate(self, num_classes: int = NUM_IMAGENET_CLASSES) -> "ClassGroups":
        """DataError for fewer than two groups, an empty or unnamed group, a
        duplicate name, an index out of range, or a class in two groups."""
        if len(self.groups) < 2:
            raise DataError("At least two class groups are needed (e.g. 'dog' and 'food').")
        seen_names: set[str] = set()
        owner: dict[int, str] = {}
        for group in self.groups:
            name = group.name.strip()
            if not name:
                raise DataError("Every class group needs a name.")
            if name.lower() in seen_names:
                raise DataError(f"Two class groups are called '{name}'. Give each group its own name.")
            seen_names.add(name.lower())
            if not group.classes:
                raise DataError(f"The group '{name}' has no ImageNet classes. Add at least one.")
            for index in group.classes:
                if not 0 <= index < num_classes:
                    raise DataError(f"The group '{name}' lists class {index}; "
                                    f"ImageNet classes are 0-{num_classes - 1}.")
                if index in owner:
                    raise DataError(f"Class {index} is in both '{owner[index]}' and '{name}'. "
                                    "A class can belong to one group only.")
                owner[index] = name
        return self

    # JSON ------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"title": self.title, "description": self.description,
                "groups": [{"name": g.name, "ranges": compact_ranges(g.classes)} for g in self.groups]}

    @classmethod
    def from_dict(cls, data: dict, source: str = "class groups",
                  num_classes: int = NUM_IMAGENET_CLASSES) -> "ClassGroups":
        """Groups from JSON. Every index and range is checked against the model's classes
        (0..num_classes-1) before anything is expanded, so a range such as 0-20000000 is
        refused at once instead of becoming a list of twenty million numbers."""
        hint = ("each group needs a 'name' and 'classes' (a list of indices) or 'ranges' "
                "([[first, last], ...])")
        if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
            raise DataError(f"{source} is not a valid class-group file: expected an object with a 'groups' list.")
        if len(data["groups"]) > MAX_CLASS_GROUPS:
            raise DataError(f"{source} has {len(data['groups']):,} class groups; at most {MAX_CLASS_GROUPS} "
                            "are supported.")
        top = num_classes - 1

        def index_of(value, group: str) -> int:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                    isinstance(value, float) and not (math.isfinite(value) and value.is_integer())):
                raise DataError(f"{source}: the group '{group}' lists {str(value)[:30]!r}, not a class index "
                                f"(a whole number 0-{top}).")
            index = int(value)
            if not 0 <= index <= top:
                raise DataError(f"{source}: the group '{group}' lists class {index:,}; the model's classes are "
                                f"0-{top}.")
            return index

        groups = []
        for entry in data["groups"]:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise DataError(f"{source} is not a valid class-group file: {hint}.")
            name = entry["name"][:200]
            classes_in, ranges_in = entry.get("classes", []), entry.get("ranges", [])
            if not isinstance(classes_in, list) or not isinstance(ranges_in, list):
                raise DataError(f"{source}: in the group '{name}', {hint}.")
            if len(classes_in) > num_classes or len(ranges_in) > num_classes:
                raise DataError(f"{source}: the group '{name}' lists more entries than the model has classes "
                                f"({num_classes}).")
            classes = {index_of(value, name) for value in classes_in}
            for pair in ranges_in:
                if not isinstance(pair, list) or len(pair) != 2:
                    raise DataError(f"{source}: the group '{name}' has a range {str(pair)[:30]}; "
                                    "write ranges as [first, last].")
                low, high = index_of(pair[0], name), index_of(pair[1], name)
                if low > high:
                    raise DataError(f"{source}: the group '{name}' has the range [{low}, {high}]; "
                                    "the first index must not exceed the last.")
                classes.update(range(low, high + 1))  # at most num_classes values: both ends were checked
            groups.append(ClassGroup(name, sorted(classes)))
        title, description = data.get("title", "Class groups"), data.get("description", "")
        return cls(str(title)[:200], groups, str(description)[:2000])

    def save(self, path: str | Path) -> None:
        from .fileio import atomic_write_text

        self.validate()
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "ClassGroups":
        from .validation import read_json_object

        path = Path(path)
        if not path.exists():
            raise DataError(f"No class-group file at {path}.")
        data = read_json_object(path, "class-group file", DataError)
        return cls.from_dict(data, path.name).validate()


def group_files() -> dict[str, Path]:
    """The class-group files shipped in resources/class_groups, by file stem."""
    return {path.stem: path for path in sorted(GROUPS_DIR.glob("*.json"))}


def load_groups(name_or_path: str | Path | None = None) -> ClassGroups:
    """A shipped group file by stem ('dog_vs_food'), or any JSON path; default dog vs food."""
    if name_or_path is None:
        return ClassGroups.load(DEFAULT_GROUPS_FILE)
    files = group_files()
    if str(name_or_path) in files:
        return ClassGroups.load(files[str(name_or_path)])
    return ClassGroups.load(name_or_path)


# ---------------------------------------------------------------------------
# Zero-shot remap, step by step
# ---------------------------------------------------------------------------

def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax: exp(l_i) / sum_j exp(l_j)."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)  # same result, but exp() cannot overflow
    exps = np.exp(shifted)
    return exps / exps.sum(axis=1, keepdims=True)


def remap_to_groups(logits: np.ndarray, groups: ClassGroups) -> tuple[np.ndarray, np.ndarray]:
    """(N, 1000) logits -> ((N, G) group probabilities summing to 1, (N,) probability inside the groups).

    Step 1: probabilities over all 1000 classes (softmax).
    Step 2: each group's probability mass = the sum over its classes.
    Step 3: renormalise the G masses so they sum to one (the model's belief
            given that the image is one of the groups); predict the largest.
    The second result (mass inside all groups) says how sure the model is
    that the image belongs to any group at all: low for a cat in dog vs food.
    """
    probabilities = softmax(logits)  # step 1
    group_mass = np.stack([probabilities[:, group.classes].sum(axis=1) for group in groups.groups], axis=1)  # step 2
    inside = group_mass.sum(axis=1)
    # step 3; if every group got exactly zero (underflow) no group is preferred
    safe = np.where(inside > 0, inside, 1.0)[:, None]
    renormalised = np.where(inside[:, None] > 0, group_mass / safe, 1.0 / len(groups))
    return renormalised, inside


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------
# Features of a folder, computed once and cached
# ---------------------------------------------------------------------------

@dataclass
class FolderFeatures:
    """One pass of the frozen backbone over every readable image of a folder."""

    scan: FolderScan
    paths: list[str]
    folder_labels: np.ndarray  # (N,) index into scan.class_names
    features: np.ndarray  # (N, F) float32 pooled penultimate features
    logits: np.ndarray  # (N, 1000) float32
    thumbnails: np.ndarray  # (N, T, T, 3) uint8
    block_inputs: np.ndarray | None = None  # (N, C, h, w) float16: input of the last block (unfreeze mode)


class _FeatureCache:
    """Per-file results keyed by (model, path, size, mtime): editing a file invalidates it."""

    def __init__(self, max_items: int = 3000):  # ~40 KB each (features, logits, thumbnail)
        self.max_items = max_items
        self._items: OrderedDict = OrderedDict()

    @staticmethod
    def key(model_key: str, path: Path, with_block_input: bool):
        stat = path.stat()
        return (model_key, str(path.resolve()), stat.st_size, stat.st_mtime_ns, with_block_input)

    def get(self, key):
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key, value) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


feature_cache = _FeatureCache()


def make_thumbnail(image: np.ndarray, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """Centre square crop, resized to size x size (uint8), for the gallery."""
    return resize_center_crop(image, size)


def _model_key(classifier) -> str:
    return f"{getattr(classifier, 'name', type(classifier).__name__)}:{id(classifier)}"


def find_last_block(classifier) -> tuple[nn.Module, nn.Module]:
    """(network, its last block) for an EfficientNet-like model (`blocks`, `conv_head`, `bn2`)."""
    candidates = [getattr(classifier, name, None) for name in ("model", "net", "backbone", "network")]
    if isinstance(classifier, nn.Module):
        candidates.append(classifier)
    for candidate in candidates:
        if not isinstance(candidate, nn.Module):
            continue
        for module in candidate.modules():
            if hasattr(module, "blocks") and hasattr(module, "conv_head") and len(module.blocks) > 0:
                return module, module.blocks[-1]
    raise ModelError(f"Unfreezing the last block is not supported for "
                     f"{getattr(classifier, 'name', type(classifier).__name__)}: train the new head only.")


class LastBlockTail(nn.Module):
    """A trainable copy of the network after its frozen part: last block, head conv, pooling."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.block = copy.deepcopy(network.blocks[-1])
        self.conv_head = copy.deepcopy(network.conv_head)
        self.bn2 = copy.deepcopy(getattr(network, "bn2", nn.Identity()))
        for parameter in self.parameters():  # the shared pretrained model is frozen; this copy learns
            parameter.requires_grad_(True)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        x = self.bn2(self.conv_head(self.block(maps)))
        return x.mean(dim=(2, 3))  # global average pooling, as in the original network

    def train(self, mode: bool = True):
        # Batch-norm keeps its ImageNet statistics: a few dozen images would ruin them.
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
        return self


def extract_folder_features(classifier, scan: FolderScan, with_block_input: bool = False,
                            batch_size: int = 8, use_cache: bool = True, stage: str = "Reading"):
    """Job: run the frozen backbone over the folder (cached per file). Returns FolderFeatures.

    Files that cannot be decoded are added to scan.skipped, never dropped silently.
    """
    model_key = _model_key(classifier)
    block = find_last_block(classifier)[1] if with_block_input else None
    total = len(scan.files)
    throttle = Throttle(0.05)
    rows: list[tuple] = []  # (scan order, path, folder label, features, logits, thumbnail, block input)
    pending: list[tuple] = []  # (scan order, path, label, cache key, preprocessed, thumbnail)

    def run_batch():
        if not pending:
            return
        captured = []
        hook = None
        if block is not None:
            hook = block.register_forward_pre_hook(lambda _module, args: captured.append(args[0].detach().clone()))
        try:
            with torch.no_grad():
                x = torch.cat([item[4] for item in pending])
                features = classifier.features(x).float()
                logits = classifier.classifier(features).float().cpu()
                features = features.cpu()
        finally:
            if hook is not None:
                hook.remove()
        block_inputs = captured[-1].cpu().to(torch.float16).numpy() if captured else None
        for i, (order, path, label, key, _x, thumbnail) in enumerate(pending):
            value = (features[i].numpy().copy(), logits[i].numpy().copy(), thumbnail,
                     None if block_inputs is None else block_inputs[i].copy())
            if use_cache and key is not None:
                feature_cache.put(key, value)
            rows.append((order, str(path), label) + value)
        pending.clear()

    for done, (path, label) in enumerate(scan.files):
        key = feature_cache.key(model_key, path, with_block_input) if path.exists() else None
        cached = feature_cache.get(key) if (use_cache and key is not None) else None
        if cached is not None:
            rows.append((done, str(path), label) + cached)
        else:
            image = read_scanned_image(scan, path, max_side=512)  # the classifier sees 224 px
            if image is not None:
                pending.append((done, path, label, key, classifier.preprocess(image), make_thumbnail(image)))
            if len(pending) >= batch_size:
                run_batch()
        if throttle.ready():
            yield Progress(done, total, f"{stage} {path.parent.name}/{path.name}")
    run_batch()
    yield Progress(total, total, f"{stage}: {len(rows)} images, {len(scan.skipped)} skipped")
    if not rows:
        raise DataError(f"None of the images in {scan.root} could be read ({scan.summary()}).")
    rows.sort(key=lambda row: row[0])  # scan order, whatever came from the cache
    return FolderFeatures(
        scan=scan, paths=[row[1] for row in rows], folder_labels=np.array([row[2] for row in rows], np.int64),
        features=np.stack([row[3] for row in rows]), logits=np.stack([row[4] for row in rows]),
        thumbnails=np.stack([row[5] for row in rows]),
        block_inputs=np.stack([row[6] for row in rows]) if with_block_input else None)


def _load_default_classifier(model_name: str):
    try:
        from .pretrained import load_classifier
    except ImportError as exc:  # the ImageNet model registry is another issue's file
        raise ModelError("The pretrained ImageNet classifier is not available in this build.") from exc
    return load_classifier(model_name)


def _test_labels(features: FolderFeatures, group_names: list[str]) -> np.ndarray:
    folder_to_group = np.array(folder_labels_to_groups(features.scan, group_names), dtype=np.int64)
    return folder_to_group[features.folder_labels]


# ---------------------------------------------------------------------------
# Zero-shot job
# ---------------------------------------------------------------------------

def zero_shot_job(test_dir: str | Path, groups: ClassGroups, classifier=None,
                  model_name: str = "efficientnet_lite0"):
    """Job: evaluate the zero-shot remap on a test folder. Returns a DogFoodReport."""
    groups.validate()
    scan = scan_image_folder(test_dir)
    folder_labels_to_groups(scan, groups.names)  # fail before the slow part if a folder matches no group
    if classifier is None:
        yield Progress(0, 1, f"Loading {model_name}")
        classifier = _load_default_classifier(model_name)
    features = yield from extract_folder_features(classifier, scan, stage="Classifying")
    labels = _test_labels(features, groups.names)
    scores, inside = remap_to_groups(features.logits, groups)
    return DogFoodReport("zero-shot", groups.names, features.paths, labels, scores,
                         evaluate_predictions(scores, labels, groups.names), features.thumbnails,
                         list(scan.skipped), inside, scan.class_counts())


@dataclass(frozen=True)
class GroupWinner:
    """The ImageNet class with the highest probability inside one group."""

    index: int
    name: str
    prob: float


@dataclass
class SingleImageRemap:
    """One photo through the remap: group probabilities and which class won inside each group."""

    group_names: list[str]
    scores: np.ndarray  # (G,) renormalised group probabilities
    inside: float  # probability of all groups together, before renormalising
    group_mass: np.ndarray  # (G,) raw summed probability of each group
    winners: list[GroupWinner]
    top_classes: list[GroupWinner]  # the 1000-class top 5, for comparison
    image: np.ndarray | None = None  # the photo itself, when the job loaded it (bundled_photo_job)

    @property
    def prediction(self) -> int:
        return int(np.argmax(self.scores))


def remap_single_image(image: np.ndarray, groups: ClassGroups, classifier=None,
                       model_name: str = "efficientnet_lite0") -> SingleImageRemap:
    """The zero-shot remap of one (H, W, 3) uint8 image, with the winning class of each group."""
    groups.validate()
    if classifier is None:
        classifier = _load_default_classifier(model_name)
    with torch.no_grad():
        logits = classifier.classifier(classifier.features(classifier.preprocess(image))).float().cpu().numpy()
    scores, inside = remap_to_groups(logits, groups)
    probabilities = softmax(logits)[0]
    names = _class_names(classifier)
    winners = []
    for group in groups.groups:
        best = max(group.classes, key=lambda c: probabilities[c])
        winners.append(GroupWinner(int(best), names[best], float(probabilities[best])))
    top = [GroupWinner(int(i), names[i], float(probabilities[i])) for i in np.argsort(-probabilities)[:5]]
    mass = scores[0] * inside[0]
    return SingleImageRemap(groups.names, scores[0], float(inside[0]), mass, winners, top)


def single_image_job(image: np.ndarray, groups: ClassGroups, classifier=None, model_name: str = "efficientnet_lite0"):
    """Job wrapper of remap_single_image (loading the model can take seconds)."""
    yield Progress(0, 1, "Classifying the photo")
    result = remap_single_image(image, groups, classifier, model_name)
    yield Progress(1, 1, "Done")
    return result


def bundled_photo_job(name: str, groups: ClassGroups, classifier=None, model_name: str = "efficientnet_lite0"):
    """Job: load a photo that ships offline, then run it through the remap. Loading happens here, off
    the GUI thread, because the first load imports scikit-image (about a second)."""
    from engine.images import load_bundled_photo

    yield Progress(0, 1, f"Loading the photo '{name}'")
    image = load_bundled_photo(name)
    result = yield from single_image_job(image, groups, classifier, model_name)
    result.image = image
    return result


def _class_names(classifier) -> list[str]:
    names = getattr(classifier, "class_names", None)
    if callable(names):
        names = names()
    if names:
        return list(names)
    return [f"class {i}" for i in range(NUM_IMAGENET_CLASSES)]


# ---------------------------------------------------------------------------
# Fine-tuned head
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class TransferBatchEnd:
    """One optimisation step of the new head (throttled)."""

    step: int  # optimisation steps so far (1-based)
    epoch: int  # 1-based
    loss: float
    lr: float
    steps_per_epoch: int = 1  # so a plot can put the step on the epoch axis: step / steps_per_epoch


@dataclass(frozen=True)
class TransferEpochEnd:
    """End of an epoch: loss and accuracy on the training and held-out images (nan without held-out)."""

    epoch: int
    epochs: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float


@dataclass
class TrainedHead:
    """The new N-way final layer (and, if unfrozen, a trained copy of the last block)."""

    group_names: list[str]
    linear: nn.Linear
    tail: LastBlockTail | None
    history: dict
    train_seconds: float

    def scores_for(self, features: FolderFeatures) -> np.ndarray:
        """(N, G) softmax probabilities of the new head."""
        with torch.no_grad():
            if self.tail is not None:
                self.tail.eval()
                pooled = self.tail(torch.from_numpy(features.block_inputs).float())
            else:
                pooled = torch.from_numpy(features.features).float()
            return torch.softmax(self.linear(pooled), dim=1).numpy().astype(np.float64)


@dataclass
class FineTuneResult:
    head: TrainedHead
    train_counts: dict[str, int]  # training images per group
    train_skipped: list[SkippedFile]
    report: DogFoodReport | None  # evaluation on the test folder, if one was given

    def summary(self) -> dict:
        out = self.report.summary() if self.report is not None else {"mode": "fine-tuned"}
        history = self.head.history
        out.update(train_n=int(sum(self.train_counts.values())), train_counts=self.train_counts,
                   train_skipped=len(self.train_skipped), epochs=len(history["train_loss"]),
                   final_train_acc=round(history["train_acc"][-1], 4) if history["train_acc"] else None,
                   final_val_acc=(None if not history["val_acc"] or math.isnan(history["val_acc"][-1])
                                  else round(history["val_acc"][-1], 4)),
                   train_seconds=round(self.head.train_seconds, 3), unfrozen_last_block=self.head.tail is not None)
        return out


def _split_held_out(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split; no held-out set when some group has fewer than 3 images."""
    counts = np.bincount(labels)
    if val_fraction <= 0 or counts[counts > 0].min() < 3:
        return np.arange(len(labels)), np.array([], dtype=np.int64)
    from .data import stratified_split

    return stratified_split(labels, val_fraction, seed)


def train_head(inputs: torch.Tensor, labels: torch.Tensor, num_groups: int, feature_size: int,
               tail: LastBlockTail | None = None, epochs: int = 30, lr: float = 3e-3, batch_size: int = 16,
               weight_decay: float = 1e-4, val_fraction: float = 0.2, seed: int = 0):
    """Job: train a new Linear(feature_size, num_groups) on cached inputs (features, or
    last-block input maps when `tail` is given). Yields TransferBatchEnd / TransferEpochEnd
    and returns (linear, history)."""
    rng = JobRNG(seed)  # the job's own copy of the process-wide generator (engine/rng.py)
    with rng.active():
        linear = nn.Linear(feature_size, num_groups)
    random_forward = tail is not None and has_random_layers(tail)
    train_idx, val_idx = _split_held_out(labels.numpy(), val_fraction, seed)
    parameters = [{"params": linear.parameters(), "lr": lr}]
    if tail is not None:
        parameters.append({"params": tail.parameters(), "lr": lr * 0.1})  # gentler on pretrained weights
    optimizer = torch.optim.Adam(parameters, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    history = {"train_loss": [], "train_acc": [], "val_loss": [], "val_acc": [], "step_loss": []}
    generator = torch.Generator().manual_seed(seed)
    throttle = Throttle(0.05)
    step = 0

    def forward(x):
        return linear(tail(x) if tail is not None else x)

    def measure(index: np.ndarray) -> tuple[float, float]:
        if len(index) == 0:
            return float("nan"), float("nan")
        with torch.no_grad():
            if tail is not None:
                tail.eval()
            logits = forward(inputs[index].float())
            return (float(loss_fn(logits, labels[index])),
                    float((logits.argmax(1) == labels[index]).float().mean()))

    train_tensor_idx = torch.from_numpy(train_idx)
    steps_per_epoch = max(1, math.ceil(len(train_idx) / batch_size))
    with torch.enable_grad():
        for epoch in range(1, epochs + 1):
            if tail is not None:
                tail.train()
            order = train_tensor_idx[torch.randperm(len(train_tensor_idx), generator=generator)]
            for start in range(0, len(order), batch_size):
                batch = order[start:start + batch_size]
                optimizer.zero_grad()
                with rng.active() if random_forward else nullcontext():
                    loss = loss_fn(forward(inputs[batch].float()), labels[batch])
                if not torch.isfinite(loss):
                    raise DivergedError(f"The loss became {float(loss)} at step {step}. Lower the learning rate.")
                loss.backward()
                optimizer.step()
                step += 1
                loss_value = float(loss.detach())
                history["step_loss"].append(loss_value)
                if throttle.ready():
                    yield TransferBatchEnd(step, epoch, loss_value, lr, steps_per_epoch)
            train_loss, train_acc = measure(train_idx)
            val_loss, val_acc = measure(val_idx)
            for name, value in (("train_loss", train_loss), ("train_acc", train_acc),
                                ("val_loss", val_loss), ("val_acc", val_acc)):
                history[name].append(value)
            yield TransferEpochEnd(epoch, epochs, train_loss, train_acc, val_loss, val_acc)
    linear.eval()
    if tail is not None:
        tail.eval()
    return linear, history


def finetune_job(train_dir: str | Path, groups: ClassGroups, test_dir: str | Path | None = None,
                 classifier=None, model_name: str = "efficientnet_lite0", epochs: int = 30, lr: float = 3e-3,
                 batch_size: int = 16, unfreeze_last_block: bool = False, val_fraction: float = 0.2,
                 seed: int = 0):
    """Job: train a new N-way head on train_dir (backbone frozen, features cached), then
    evaluate it on test_dir if given. Returns a FineTuneResult."""
    groups.validate()
    if epochs < 1:
        raise DataError("Train for at least one epoch.")
    if not lr > 0 or not math.isfinite(lr):
        raise DataError("The learning rate must be a positive number.")
    train_scan = scan_image_folder(train_dir)
    folder_labels_to_groups(train_scan, groups.names)
    test_scan = None
    if test_dir is not None and str(test_dir).strip():
        test_scan = scan_image_folder(test_dir)
        folder_labels_to_groups(test_scan, groups.names)
    if classifier is None:
        yield Progress(0, 1, f"Loading {model_name}")
        classifier = _load_default_classifier(model_name)
    train = yield from extract_folder_features(classifier, train_scan, unfreeze_last_block,
                                               stage="Caching features of")
    labels = _test_labels(train, groups.names)
    counts = np.bincount(labels, minlength=len(groups))
    missing = [name for name, count in zip(groups.names, counts) if count == 0]
    if missing:
        raise DataError(f"The training folder {train_scan.root} has no readable images for "
                        f"{', '.join(repr(m) for m in missing)}. Every group needs training images.")
    tail = None
    if unfreeze_last_block:
        network, _block = find_last_block(classifier)
        tail = LastBlockTail(network)
        inputs = torch.from_numpy(train.block_inputs)
    else:
        inputs = torch.from_numpy(train.features)
    started = time.perf_counter()
    linear, history = yield from train_head(inputs, torch.from_numpy(labels), len(groups), train.features.shape[1],
                                            tail, epochs, lr, batch_size, val_fraction=val_fraction, seed=seed)
    head = TrainedHead(groups.names, linear, tail, history, time.perf_counter() - started)
    report = None
    if test_scan is not None:
        test = yield from extract_folder_features(classifier, test_scan, unfreeze_last_block, stage="Testing")
        test_labels = _test_labels(test, groups.names)
        scores = head.scores_for(test)
        report = DogFoodReport("fine-tuned", groups.names, test.paths, test_labels, scores,
                               evaluate_predictions(scores, test_labels, groups.names), test.thumbnails,
                               list(test_scan.skipped), None, test_scan.class_counts())
    train_counts = {name: int(count) for name, count in zip(groups.names, counts)}
    return FineTuneResult(head, train_counts, list(train_scan.skipped), report)


# ---------------------------------------------------------------------------
# Offline demo folders (tests, screenshots, first-run demo)
# ---------------------------------------------------------------------------

def photo_variants(image: np.ndarray, count: int, seed: int = 0) -> list[np.ndarray]:
    """`count` different views of one photo: random crops (60-100% of the side), some mirrored."""
    rng = np.random.default_rng(seed)
    height, width = image.shape[:2]
    views = [image]
    while len(views) < count:
        scale = rng.uniform(0.6, 1.0)
        h, w = max(8, int(height * scale)), max(8, int(width * scale))
        top, left = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
        view = image[top:top + h, left:left + w]
        if rng.random() < 0.5:
            view = view[:, ::-1]
        views.append(np.ascontiguousarray(view))
    return views[:count]


def make_demo_folder(root: str | Path, classes: dict[str, list[np.ndarray]], per_class: int = 6,
                     broken_files: bool = True, seed: int = 0) -> Path:
    """Write root/<class>/<n>.png with `per_class` views of each class's photos; with
    broken_files, also a zero-byte .png, a text file named .png, a truncated .png and a
    notes.txt, so the skip counts can be seen. Returns root."""
    from .images import save_png

    root = Path(root)
    rng = np.random.default_rng(seed)
    for name, photos in classes.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            photo = photos[index % len(photos)]
            view = photo_variants(photo, 1 + index // len(photos), int(rng.integers(1 << 30)))[-1]
            save_png(folder / f"{name}_{index:02d}.png", view)
    if broken_files and classes:
        first = root / next(iter(classes))
        (first / "zero_bytes.png").write_bytes(b"")
        (first / "actually_text.png").write_text("this file is text, not a picture")
        whole = (first / f"{next(iter(classes))}_00.png").read_bytes()
        (first / "truncated.png").write_bytes(whole[: len(whole) // 3])
        (first / "notes.txt").write_text("a stray text file")
    return root


def cat_vs_vehicle_photos() -> dict[str, list[np.ndarray]]:
    """Real photos that ship in installed packages for a cat vs vehicle demo (no dog photo
    ships offline): the skimage cat, and the skimage motorcycle (left and right views)."""
    from .images import load_bundled_photo

    try:
        from skimage import data

        left, right, _ = data.stereo_motorcycle()
        vehicles = [np.ascontiguousarray(left[:, :, :3]), np.ascontiguousarray(right[:, :, :3])]
    except Exception as exc:  # skimage without its sample data
        raise DataError(f"The motorcycle sample photos are not available ({exc}).") from exc
    return {"cat": [load_bundled_photo("chelsea")], "vehicle": vehicles}
