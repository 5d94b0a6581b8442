"""Features of an image folder through the pretrained classifier, computed once and cached."""
from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import DataError, ModelError
from ..events import Progress, Throttle
from ..folders import FolderScan, folder_labels_to_groups, read_scanned_image
from ..images import resize_center_crop
from ..layers import own_thread_forward_hook


THUMBNAIL_SIZE = 96



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
            hook = own_thread_forward_hook(block, lambda _module, args: captured.append(args[0].detach().clone()),
                                           pre=True)  # the classifier is shared between jobs
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
        from ..pretrained import load_classifier
    except ImportError as exc:  # the ImageNet model registry is another issue's file
        raise ModelError("The pretrained ImageNet classifier is not available in this build.") from exc
    return load_classifier(model_name)


def _test_labels(features: FolderFeatures, group_names: list[str]) -> np.ndarray:
    folder_to_group = np.array(folder_labels_to_groups(features.scan, group_names), dtype=np.int64)
    return folder_to_group[features.folder_labels]
