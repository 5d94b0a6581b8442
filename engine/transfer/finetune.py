"""A new N-way head on the frozen backbone's cached features (optionally the last block too)."""
from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import DataError, DivergedError
from ..events import Progress, Throttle
from ..folders import SkippedFile, folder_labels_to_groups, scan_image_folder
from ..rng import JobRNG, has_random_layers
from .evaluation import DogFoodReport, evaluate_predictions
from .features import (FolderFeatures, LastBlockTail, _load_default_classifier, _test_labels, extract_folder_features,
                       find_last_block)
from .groups import ClassGroups


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
    from ..data import stratified_split

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
