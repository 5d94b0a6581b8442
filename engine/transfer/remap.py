"""The zero-shot remap, step by step (softmax, sum each group's probabilities, renormalise), on a
folder (`zero_shot_job`) or one photo."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..events import Progress
from ..folders import folder_labels_to_groups, scan_image_folder
from .evaluation import DogFoodReport, evaluate_predictions
from .features import _load_default_classifier, _test_labels, extract_folder_features
from .groups import ClassGroups, NUM_IMAGENET_CLASSES


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
