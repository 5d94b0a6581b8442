"""What the Data panel shows, computed in a worker: a dataset's split sizes,
sample images per class, the mean image (what mean subtraction removes) and
per-channel statistics, and previews of augmented samples.

Both are jobs (generators) that return small plain results (numpy uint8 images
and numbers), so the GUI only displays them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .augment import AugmentOptions, augment_preview
from .data import ImageData, load_dataset
from .events import Progress
from .imaging import to_display_uint8


@dataclass(frozen=True)
class DatasetOverview:
    name: str
    description: str
    input_shape: tuple  # (C, H, W)
    class_names: tuple
    n_train: int
    n_val: int
    train_counts: tuple  # images per class in the training split
    val_counts: tuple
    samples: np.ndarray  # (classes * per_class, H, W, C) uint8, row r = class r (white tiles where a class has fewer)
    per_class: int
    mean_image: np.ndarray  # (H, W, C) uint8: the mean training image, in the images' own 0..255 scale
    mean_removed: np.ndarray  # (H, W, C) uint8: one sample minus the mean image (mid-grey = 0)
    channel_mean: tuple  # per-channel mean of the training images, in [0, 1]
    channel_std: tuple
    skipped: int = 0  # files of an image folder that could not be used
    skipped_reasons: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def _hwc(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.detach().cpu().numpy().transpose(1, 2, 0))


def overview(data: ImageData, per_class: int = 10) -> DatasetOverview:
    """Everything the Data panel displays about `data` (fast: one pass for the mean)."""
    c, h, w = data.input_shape
    per_class = max(1, int(per_class))
    samples = np.full((data.num_classes * per_class, h, w, c), 255, dtype=np.uint8)
    for label, images in enumerate(data.examples_per_class(per_class)):
        samples[label * per_class:label * per_class + len(images)] = images
    with torch.no_grad():
        x = data.train_x
        mean = x.mean(dim=0)
        dims = (0, 2, 3)
        channel_mean = x.mean(dim=dims)
        channel_std = x.std(dim=dims)
        removed = x[0] - mean
    train_counts = torch.bincount(data.train_y, minlength=data.num_classes).tolist()
    val_counts = torch.bincount(data.val_y, minlength=data.num_classes).tolist()
    return DatasetOverview(
        name=data.name, description=data.description, input_shape=(c, h, w), class_names=tuple(data.class_names),
        n_train=len(data.train_x), n_val=len(data.val_x), train_counts=tuple(train_counts),
        val_counts=tuple(val_counts), samples=samples, per_class=per_class,
        mean_image=to_display_uint8(_hwc(mean), vmin=0.0, vmax=1.0),
        mean_removed=to_display_uint8(_hwc(removed), symmetric=True),
        channel_mean=tuple(float(v) for v in channel_mean), channel_std=tuple(float(v) for v in channel_std),
        skipped=len(data.extra.get("skipped", [])), skipped_reasons=dict(data.extra.get("skipped_reasons", {})))


def dataset_overview_job(name: str, options: dict | None = None, per_class: int = 10):
    """Load a registered dataset (cached) and return its DatasetOverview."""
    yield Progress(0, 2, f"Loading {name}…")
    data = load_dataset(name, **(options or {}))
    yield Progress(1, 2, f"Summarizing {len(data.train_x)} training images…")
    return overview(data, per_class)


@dataclass(frozen=True)
class AugmentationPreview:
    tiles: np.ndarray  # (rows * (copies + 1), H, W, C) uint8: each row an original then its variants
    rows: int
    copies: int
    seed: int


def augmentation_preview_job(name: str, options: dict | None, augment: dict, rows: int = 5, copies: int = 7,
                             seed: int = 0):
    """Augmented variants of one training image from each of the first `rows` classes."""
    data = load_dataset(name, **(options or {}))
    picks = []
    for label in range(data.num_classes):
        idx = torch.nonzero(data.train_y == label).flatten()
        if len(idx):
            picks.append(int(idx[seed % len(idx)]))
        if len(picks) == rows:
            break
    tiles = augment_preview(data.train_x[picks], AugmentOptions.from_settings(augment), copies=copies, seed=seed)
    return AugmentationPreview(tiles, len(picks), copies, seed)
    yield  # unreachable: makes this a job (a generator that only returns)
