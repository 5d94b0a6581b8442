"""Dog vs food (engine.transfer) costs on the embedded EfficientNet-Lite0, CPU.

- Fine-tuning a new 2-way head with cached features (one backbone pass over
  the training folder, then epochs on the cached vectors) against the naive
  loop that runs the frozen backbone on every image in every epoch. Same
  images, epochs, optimiser and seed. Target: at least 3x faster.
- Zero-shot evaluation of a folder (scan, read, decode, preprocess, thumbnail,
  backbone, remap, evaluation) per image, against the bare minimum: read,
  decode, preprocess and forward the same files in batches of 8. Target: at
  most 1.3x.

The folders are built from the photos that ship offline (cat vs vehicle,
crops and mirror images), in a temporary folder.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from benchmarks.common import BenchResult


def _naive_finetune(classifier, images: list[torch.Tensor], labels: torch.Tensor, epochs: int, lr: float,
                    batch_size: int) -> None:
    """The baseline: backbone forward for every batch of every epoch (nothing cached)."""
    torch.manual_seed(0)
    head = nn.Linear(classifier.feature_dim, 2)
    optimizer = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    x_all = torch.cat(images)
    for _ in range(epochs):
        order = torch.randperm(len(x_all))
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            with torch.no_grad():
                features = classifier.features(x_all[batch])
            optimizer.zero_grad()
            loss_fn(head(features), labels[batch]).backward()
            optimizer.step()


def run(quick: bool = False) -> list[BenchResult]:
    from engine.events import run_to_end
    from engine.folders import scan_image_folder
    from engine.images import load_image
    from engine.pretrained import load_classifier
    from engine.transfer import (cat_vs_vehicle_photos, feature_cache, finetune_job, load_groups,
                                 make_demo_folder, zero_shot_job)

    classifier = load_classifier()
    groups = load_groups("cat_vs_vehicle")
    per_class = 8 if quick else 24
    epochs = 10 if quick else 20
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        photos = cat_vs_vehicle_photos()
        make_demo_folder(root / "train", photos, per_class=per_class, seed=2, broken_files=False)
        make_demo_folder(root / "test", photos, per_class=per_class, seed=1, broken_files=False)

        # fine-tuning: cached features vs backbone every epoch
        scan = scan_image_folder(root / "train")
        images = [classifier.preprocess(load_image(path)) for path, _ in scan.files]
        labels = torch.tensor([label for _, label in scan.files])
        _naive_finetune(classifier, images[:4], labels[:4], 1, 3e-3, 16)  # warm-up (optimizer import)
        feature_cache.clear()
        start = time.perf_counter()
        _naive_finetune(classifier, images, labels, epochs, 3e-3, 16)
        naive = time.perf_counter() - start
        feature_cache.clear()
        start = time.perf_counter()
        run_to_end(finetune_job(root / "train", groups, None, classifier, epochs=epochs, lr=3e-3, batch_size=16,
                                val_fraction=0))
        cached = time.perf_counter() - start
        results.append(BenchResult(
            f"Fine-tune a 2-way head, {len(images)} images x {epochs} epochs (incl. reading the folder)", cached, "s",
            naive, "backbone forward every epoch (no cache)", ">= 3x faster", naive >= 3 * cached,
            notes="EfficientNet-Lite0 frozen; cached run also decodes the PNGs, the baseline starts from tensors"))

        # zero-shot evaluation vs bare forward
        test_paths = [path for path, _ in scan_image_folder(root / "test").files]
        with torch.no_grad():
            classifier.logits(images[0])  # warm-up
        start = time.perf_counter()
        with torch.no_grad():
            for first in range(0, len(test_paths), 8):
                batch = [classifier.preprocess(load_image(path)) for path in test_paths[first:first + 8]]
                classifier.logits(torch.cat(batch))
        bare = (time.perf_counter() - start) / len(test_paths)
        feature_cache.clear()
        start = time.perf_counter()
        report = run_to_end(zero_shot_job(root / "test", groups, classifier))
        ours = (time.perf_counter() - start) / report.evaluation.n
        results.append(BenchResult(
            "Zero-shot dog-vs-food style evaluation per image (read + classify + remap)", ours * 1000, "ms",
            bare * 1000, "read + preprocess + forward, batches of 8", "<= 1.3x", ours <= 1.3 * bare,
            notes=f"{report.evaluation.n} images, accuracy {report.evaluation.accuracy:.2f} (cat vs vehicle demo)"))
    feature_cache.clear()
    return results
