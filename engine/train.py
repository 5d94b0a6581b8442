"""The trainer: mini-batch SGD / Adam as a job (a generator of events).

`train_job(spec, data, settings)` yields `TrainStarted`, `BatchEnd` (throttled,
~50 ms, always the last batch of an epoch), `EpochEnd`, `FiltersSnapshot` (each followed by a
`ModelSnapshot`),
`LayerStatsSnapshot`, and for ensembles `MemberFinished` / `EnsembleResult`;
it returns a `TrainResult`. `fit(...)` drains it (CLI, tests). Stopping = closing
the generator between yields. A NaN/inf loss (or one above EXPLODED_LOSS) raises
`DivergedError`.

The per-batch path is kept close to a bare PyTorch loop: the data sit in memory
as tensors on the training device, an epoch is one `randperm`, augmentation runs
only when enabled, and the loss is read back to Python (a device sync) only when
an event is due, not every batch.

Regularization (see engine/regularize.py): L2 is the optimizer's coupled weight
decay on Conv/Linear weights only; L1 and elastic net are explicit penalties
added to the loss. Ensembles: K members trained from different seeds, or K
snapshots taken at the ends of SGDR cycles of one run; the ensemble predicts
the mean of the members' softmax outputs.
"""
from __future__ import annotations

import copy
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Generator

import numpy as np
import torch
from torch import nn

from .augment import augment_batch
from .checkpoint import TrainedRun
from .data import ImageData, with_training_subset
from . import distributed
from .device import describe_device, resolve_device
from .errors import DivergedError
from .events import Throttle, run_to_end
from .initialization import apply_init
from .layer_stats import LayerStatsSnapshot, collect_layer_stats
from .layers import eval_mode
from .model import ConvNet
from .regularize import explicit_penalty, regularized_weights, split_decay_groups
from .rng import JobRNG, has_random_layers
from .schedules import learning_rate_curve, sgdr_cycle_ends, steps_per_epoch_for
from .spec import LayerSpec, NetworkSpec, count_parameters
from .train_settings import (DEVICES, MAX_BATCH_SIZE, MAX_EPOCHS, OPTIMIZERS, RUN_METADATA_KEYS,  # noqa: F401
                             SEED_MAX, TRAIN_SETTINGS, TrainSettings, TrainSettingsError)

# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class TrainStarted:
    total_steps: int  # optimizer steps of this member
    steps_per_epoch: int
    epochs: int
    member: int  # 0-based index of the model being trained
    members: int  # models trained in this job (K for an ensemble, else 1)
    device: str  # e.g. 'CPU (2 threads)'
    num_params: int
    learning_rates: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per-step lr of the run
    # The explicit regularizers (L1, elastic net, the lecture's L2) over the data loss of the
    # freshly initialized model: how strong the chosen lambdas really are. NaN when none is on.
    penalty_to_data_loss: float = float("nan")


@dataclass(frozen=True)
class BatchEnd:
    step: int  # optimizer steps done (1-based)
    epoch: int  # 0-based epoch this batch belongs to
    member: int
    loss: float  # loss of this batch
    smoothed_loss: float  # exponential moving average (bias-corrected)
    lr: float
    images_per_sec: float  # since the previous BatchEnd
    eta_s: float  # remaining seconds of the whole job (estimate)
    fraction: float  # progress of the whole job, 0..1


@dataclass(frozen=True)
class EpochEnd:
    epoch: int  # 0-based
    member: int
    train_loss: float  # mean loss over the epoch's batches (with dropout / augmentation on)
    train_acc: float  # accuracy on the batches as they were trained
    val_loss: float  # NaN when this epoch was not validated
    val_acc: float
    lr: float  # learning rate of the epoch's last step
    seconds: float


@dataclass(frozen=True)
class EpochCheckpoint:
    """The model as it stands at the end of an epoch, for run folders (engine.run_log writes it as
    checkpoints/epoch-NNN.pt, a checkpoint File -> Open run reads): a run that dies keeps its
    last complete epoch. CPU copies; not a line of the event log itself."""

    epoch: int  # 0-based epoch that just ended
    member: int
    run_name: str
    dataset: str
    spec: Any  # the NetworkSpec actually trained
    settings: dict
    history: dict  # the curves so far (copies)
    state: dict  # state_dict name -> CPU tensor copy

    logged = False  # engine.run_log saves it as a checkpoint file, not as an event line


@dataclass(frozen=True)
class FiltersSnapshot:
    step: int
    member: int
    filters: dict  # conv layer name -> (out, in, k, k) float32 copy


@dataclass(frozen=True)
class ModelSnapshot:
    """A CPU copy of the whole model being trained (weights, batch-norm statistics, input
    normalization), sent right after each FiltersSnapshot: live views (the Diagram panel) build
    their own model from it and run forward passes on that in their own thread, never on the
    model being trained. Too large for run folders: RunLogWriter skips it (`logged`)."""

    step: int
    member: int
    spec: Any  # the NetworkSpec actually trained (prepare_spec's: batch norm inserted, adapted to the data)
    state: dict  # state_dict name -> numpy copy

    logged = False  # a class attribute, not a field: engine.run_log leaves these events out


@dataclass(frozen=True)
class MemberFinished:
    member: int  # member (or snapshot) index
    val_acc: float


@dataclass(frozen=True)
class EnsembleResult:
    member_val_accs: tuple  # val accuracy of each member / snapshot
    ensemble_val_acc: float  # accuracy of the mean softmax
    kind: str  # 'independent' | 'snapshot'


__all__ = ["TrainSettings", "TrainSettingsError", "TrainStarted", "BatchEnd", "EpochEnd", "EpochCheckpoint",
           "FiltersSnapshot",
           "ModelSnapshot",
           "LayerStatsSnapshot", "MemberFinished", "EnsembleResult", "TrainResult", "train_job", "fit",
           "prepare_spec", "insert_batchnorm", "ensemble_probabilities", "evaluate"]


@dataclass
class TrainResult:
    """What a training job returns. `run` is the trained model (for an ensemble, the
    member with the best validation accuracy); `members` every member or snapshot
    (just [run] for a single model); `summary` the headline figures."""

    run: TrainedRun
    members: list[TrainedRun]
    summary: dict


# ---------------------------------------------------------------- spec changes


def insert_batchnorm(spec: NetworkSpec) -> NetworkSpec:
    """A copy with a BatchNorm right after every Conv2d and every hidden Linear layer
    (not the output layer), before its activation, as in Ioffe & Szegedy. Layers
    already followed by a BatchNorm are left alone."""
    spec = spec.copy()
    linear_positions = [i for i, layer in enumerate(spec.layers) if layer.kind == "linear"]
    output_layer = linear_positions[-1] if linear_positions else None
    layers = []
    for i, layer in enumerate(spec.layers):
        layers.append(layer)
        wants_bn = layer.kind == "conv" or (layer.kind == "linear" and i != output_layer)
        next_kind = spec.layers[i + 1].kind if i + 1 < len(spec.layers) else None
        if wants_bn and next_kind != "batchnorm":
            layers.append(LayerSpec("batchnorm", {}))
    spec.layers = layers
    return spec


def prepare_spec(spec: NetworkSpec, data: ImageData, settings: TrainSettings) -> NetworkSpec:
    """The spec actually trained: fitted to the data's input shape and classes, with
    the dropout override and batch-norm insertion applied."""
    if tuple(spec.input_shape) != tuple(data.input_shape) or spec.num_classes != data.num_classes:
        spec = spec.adapted_to(data.input_shape, data.num_classes)
    else:
        spec = spec.copy()
    if settings.dropout is not None:
        for layer in spec.layers:
            if layer.kind == "dropout":
                layer.params["p"] = float(settings.dropout)
    if settings.batchnorm:
        spec = insert_batchnorm(spec)
    return spec


# ---------------------------------------------------------------- evaluation


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             batch_size: int = 1000) -> tuple[float, float, torch.Tensor]:
    """(mean loss, accuracy, softmax probabilities on the CPU) in eval mode, no grad."""
    total_loss = torch.zeros((), dtype=torch.float32, device=x.device)  # MPS has no float64
    probs = []
    with eval_mode(model), torch.no_grad():
        for start in range(0, len(x), batch_size):
            logits = model(x[start:start + batch_size]).float()
            total_loss += nn.functional.cross_entropy(logits, y[start:start + batch_size], reduction="sum")
            probs.append(torch.softmax(logits, dim=1).cpu())
    if not probs:
        return float("nan"), float("nan"), torch.zeros(0)
    probs_all = torch.cat(probs)
    acc = (probs_all.argmax(1) == y.cpu()).double().mean().item()
    return total_loss.item() / len(x), acc, probs_all


def ensemble_probabilities(models: list[nn.Module], x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Mean softmax of several models: the ensemble's prediction."""
    dummy = torch.zeros(len(x), dtype=torch.int64, device=x.device)
    return torch.stack([evaluate(m, x, dummy, batch_size)[2] for m in models]).mean(0)


def _conv_filters(model: ConvNet) -> dict:
    return {name: m.weight.detach().float().cpu().numpy().copy()
            for name, m in model.features.named_children() if isinstance(m, nn.Conv2d)}


def _model_state(model: ConvNet) -> dict:
    return {name: value.detach().cpu().numpy().copy() for name, value in model.state_dict().items()}


# ---------------------------------------------------------------- the job


def _build_optimizer(model: nn.Module, settings: TrainSettings) -> torch.optim.Optimizer:
    weight_decay = settings.equivalent_weight_decay()
    if weight_decay > 0:
        # L2 on Conv/Linear weights only: biases and BatchNorm go in a group without decay.
        decay, rest = split_decay_groups(model)
        groups = [{"params": decay, "weight_decay": weight_decay},
                  {"params": rest, "weight_decay": 0.0}]
    else:
        groups = [{"params": list(model.parameters()), "weight_decay": 0.0}]  # one group: less per-step work
    if settings.optimizer == "adam":
        return torch.optim.Adam(groups, lr=settings.lr)
    return torch.optim.SGD(groups, lr=settings.lr, momentum=settings.momentum,
                           nesterov=bool(settings.nesterov and settings.momentum > 0))


# A cross-entropy loss this large means the logits differ by about a million: the run
# has blown up even if the number is still finite, so it counts as diverged too.
EXPLODED_LOSS = 1e6


def _diverged(value: float) -> bool:
    return not math.isfinite(value) or value > EXPLODED_LOSS


def _diverged_message(step: int, epoch: int, value: float, lr: float) -> str:
    if math.isnan(value):
        what = "NaN (not a number)"
    elif math.isinf(value):
        what = "infinite"
    else:
        what = f"{value:.3g}, exploding"
    return (f"Training diverged at step {step} (epoch {epoch + 1}): the loss became {what} "
            f"with learning rate {lr:.3g}. Lower the learning rate (try {lr / 10:.3g}), "
            f"or add batch norm / a gentler initialization.")


class _Clock:
    """Progress and ETA over the whole job (all members)."""

    def __init__(self, total_steps: int):
        self.total = max(1, total_steps)
        self.start = time.perf_counter()

    def fraction(self, done: int) -> float:
        return min(1.0, done / self.total)

    def eta(self, done: int) -> float:
        elapsed = time.perf_counter() - self.start
        if done <= 0:
            return float("nan")
        return elapsed * (self.total - done) / done


def _train_one(spec: NetworkSpec, data: ImageData, tensors: dict, settings: TrainSettings, device: torch.device,
               member: int, members: int, member_seed: int, clock: _Clock, done_before: int):
    """Train one model; yields events, returns (TrainedRun, stats dict, snapshot runs)."""
    # The job's own copy of torch's process-wide generator (engine/rng.py): layer construction and
    # dropout draw from it, so another job running at the same time changes none of this job's numbers.
    rng = JobRNG(member_seed, device)
    with rng.active():
        model = ConvNet(spec)
        apply_init(model, settings.init, constant=settings.init_constant)
    model.normalize.fit(data.train_x, settings.normalization)
    model.to(device)
    model.train()
    ranks = distributed.active()
    net = model
    if ranks is not None:  # the same start on every rank (same seed); DDP averages the gradients
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        rng = JobRNG(member_seed + 7919 * (ranks.rank + 1), device)  # dropout differs per rank

    train_x, train_y, val_x, val_y = tensors["train_x"], tensors["train_y"], tensors["val_x"], tensors["val_y"]
    n = len(train_x)
    batch_size = int(settings.batch_size)
    steps_per_epoch = steps_per_epoch_for(n, batch_size)
    epochs = int(settings.epochs)
    total = epochs * steps_per_epoch
    lrs = learning_rate_curve(settings, steps_per_epoch)
    lr_list = lrs.tolist()

    optimizer = _build_optimizer(model, settings)
    loss_fn = nn.CrossEntropyLoss()
    weights = regularized_weights(model)
    use_penalty = settings.l1 > 0 or settings.elastic_net > 0
    use_amp = bool(settings.amp and device.type == "cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp) if use_amp else None
    augment = settings.augment_options()
    use_augment = augment.enabled  # checked once: the per-batch path stays bare when off
    filter_every = int(settings.snapshot_every_steps)
    shuffle_gen = torch.Generator().manual_seed(member_seed)
    augment_gen = torch.Generator().manual_seed(member_seed + 7919 + (0 if ranks is None else 104729 * ranks.rank))
    snapshot_points = set(sgdr_cycle_ends(settings, steps_per_epoch)[-int(settings.snapshot_ensemble):]) \
        if settings.snapshot_ensemble >= 2 else set()
    snapshots: list[TrainedRun] = []
    probe = None
    if settings.track_layer_stats:
        probe = (val_x[:256], val_y[:256])

    history: dict[str, list] = {k: [] for k in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr",
                                                "seconds", "step", "loss", "smoothed_loss")}
    if settings.eval_train_each_epoch:
        history["train_eval_loss"], history["train_eval_acc"] = [], []
    penalty_ratio = float("nan")
    if settings.l1 > 0 or settings.elastic_net > 0 or settings.l2 > 0:
        from .regularize import penalty_to_loss_ratio

        penalty_ratio = penalty_to_loss_ratio(model, train_x[:256], train_y[:256], settings.l1, settings.l2,
                                              settings.elastic_net, settings.elastic_beta)
    yield TrainStarted(total, steps_per_epoch, epochs, member, members, describe_device(device),
                       count_parameters(model), lrs.copy(), penalty_ratio)

    def layer_stats_event(step: int, epoch: int) -> LayerStatsSnapshot:
        with eval_mode(model):  # dropout off; BatchNorm measured with batch statistics, running ones untouched
            stats = collect_layer_stats(model, probe[0], with_grads=True, y=probe[1], batch_stats=True)
        return LayerStatsSnapshot(step, epoch, stats)

    if probe is not None:
        yield layer_stats_event(0, 0)
    if settings.snapshot_every_steps > 0:
        yield FiltersSnapshot(0, member, _conv_filters(model))
        yield ModelSnapshot(0, member, spec, _model_state(model))

    batch_throttle = Throttle(settings.event_interval_s)
    filter_throttle = Throttle(max(settings.event_interval_s, 0.2))
    ema, ema_weight, beta = 0.0, 0.0, 0.95
    step = 0
    train_images = 0
    train_seconds = 0.0
    current_lr = None
    last_val_acc = float("nan")
    last_val_loss = float("nan")
    last_train_loss = float("nan")
    last_train_acc = float("nan")
    random_forward = has_random_layers(model)  # dropout draws in the forward pass: under the job's generator

    def train_step(xb, yb):
        """One optimizer step on one batch; returns (logits, loss)."""
        with torch.autocast("cuda", dtype=torch.float16) if use_amp else nullcontext():
            logits = net(xb)
            loss = loss_fn(logits, yb)
        objective = loss  # the penalty is computed outside autocast, in full precision
        if use_penalty:
            objective = loss + explicit_penalty(weights, settings.l1, settings.elastic_net, settings.elastic_beta)
        if use_amp:
            scaler.scale(objective).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            objective.backward()
            optimizer.step()
        return logits, loss

    with torch.enable_grad():
        for epoch in range(epochs):
            epoch_start = time.perf_counter()
            pending: list[torch.Tensor] = []  # detached batch losses not read back yet
            pending_sizes: list[int] = []
            epoch_loss_sum = 0.0
            correct = torch.zeros((), dtype=torch.int64, device=device)
            since_event_images = 0
            since_event_start = time.perf_counter()
            order = torch.randperm(n, generator=shuffle_gen).to(device)
            for b in range(steps_per_epoch):
                idx = order[b * batch_size:(b + 1) * batch_size]
                if ranks is not None:
                    idx = ranks.share(idx)  # the same order on every rank: disjoint shares of the batch
                xb = train_x[idx]
                yb = train_y[idx]
                if use_augment:
                    xb = augment_batch(xb, augment, augment_gen)
                lr = lr_list[step]
                if lr != current_lr:
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    current_lr = lr
                optimizer.zero_grad(set_to_none=True)
                with rng.active() if random_forward else nullcontext():
                    logits, loss = train_step(xb, yb)
                step += 1
                pending.append(loss.detach())
                pending_sizes.append(len(idx))
                correct += (logits.detach().argmax(1) == yb).sum()
                since_event_images += len(idx)
                last_batch = b == steps_per_epoch - 1
                if batch_throttle.ready(force=last_batch):
                    values = torch.stack(pending).float().tolist()  # the one device sync per event
                    first_step = step - len(values) + 1
                    for offset, value in enumerate(values):
                        if _diverged(value):
                            raise DivergedError(_diverged_message(first_step + offset, epoch, value,
                                                                  lr_list[first_step + offset - 1]))
                        ema = beta * ema + (1 - beta) * value
                        ema_weight = beta * ema_weight + (1 - beta)
                    epoch_loss_sum += sum(v * s for v, s in zip(values, pending_sizes))
                    pending.clear()
                    pending_sizes.clear()
                    now = time.perf_counter()
                    elapsed = now - since_event_start
                    rate = since_event_images / elapsed if elapsed > 0 else float("nan")
                    smoothed = ema / ema_weight
                    done = done_before + step
                    history["step"].append(step)
                    history["loss"].append(values[-1])
                    history["smoothed_loss"].append(smoothed)
                    yield BatchEnd(step, epoch, member, values[-1], smoothed, lr, rate, clock.eta(done),
                                   clock.fraction(done))
                    train_images += since_event_images
                    train_seconds += elapsed
                    since_event_images = 0
                    since_event_start = time.perf_counter()
                if snapshot_points and step in snapshot_points:
                    side_start = time.perf_counter()
                    snap = _snapshot_run(model, spec, data, settings, len(snapshots))
                    snapshots.append(snap)
                    _, snap_acc, _ = evaluate(model, val_x, val_y)
                    yield MemberFinished(len(snapshots) - 1, snap_acc)
                    since_event_start += time.perf_counter() - side_start  # not training time
                if filter_every > 0 and step % filter_every == 0 and filter_throttle.ready():
                    side_start = time.perf_counter()
                    yield FiltersSnapshot(step, member, _conv_filters(model))
                    yield ModelSnapshot(step, member, spec, _model_state(model))
                    since_event_start += time.perf_counter() - side_start
            loss_sum, correct_count = epoch_loss_sum, correct.item()
            if ranks is not None:  # the shares of all ranks cover the training set once
                loss_sum, correct_count = distributed.sum_across_ranks(loss_sum, correct_count)
            train_loss = loss_sum / n
            train_acc = correct_count / n
            validate_now = (epoch + 1) % int(settings.val_every) == 0 or epoch == epochs - 1
            if validate_now:
                val_loss, val_acc, _ = evaluate(model, val_x, val_y)
                last_val_loss, last_val_acc = val_loss, val_acc
            else:
                val_loss = val_acc = float("nan")
            last_train_loss, last_train_acc = train_loss, train_acc
            if settings.eval_train_each_epoch:
                # The training images as the validation set is measured: eval mode, no augmentation.
                eval_loss, eval_acc, _ = evaluate(model, train_x, train_y)
                history["train_eval_loss"].append(eval_loss)
                history["train_eval_acc"].append(eval_acc)
            seconds = time.perf_counter() - epoch_start
            for key, value in (("epoch", epoch), ("train_loss", train_loss), ("train_acc", train_acc),
                               ("val_loss", val_loss), ("val_acc", val_acc), ("lr", lr_list[step - 1]),
                               ("seconds", seconds)):
                history[key].append(value)
            yield EpochEnd(epoch, member, train_loss, train_acc, val_loss, val_acc, lr_list[step - 1], seconds)
            yield EpochCheckpoint(epoch, member, _run_name(spec, settings, member, members), data.name, spec,
                                  {**settings.to_dict(), "seed": member_seed, "member": member},
                                  {key: list(values) for key, values in history.items()},
                                  {key: value.detach().cpu().clone() for key, value in model.state_dict().items()})
            if probe is not None:
                yield layer_stats_event(step, epoch)

    model.eval()
    model.cpu()
    run = TrainedRun(model, data.name, {**settings.to_dict(), "seed": member_seed, "member": member},
                     history, name=_run_name(spec, settings, member, members))
    stats = {"train_loss": last_train_loss, "train_acc": last_train_acc, "val_acc": last_val_acc,
             "val_loss": last_val_loss, "train_images": train_images, "train_seconds": train_seconds}
    return run, stats, snapshots


def _snapshot_run(model: ConvNet, spec: NetworkSpec, data: ImageData, settings: TrainSettings,
                  index: int) -> TrainedRun:
    copy_model = ConvNet(spec)
    copy_model.load_state_dict({k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
    copy_model.eval()
    return TrainedRun(copy_model, data.name, {**settings.to_dict(), "snapshot": index}, {},
                      name=f"{spec.name} snapshot {index + 1}")


def _run_name(spec: NetworkSpec, settings: TrainSettings, member: int, members: int) -> str:
    base = f"{spec.name} · {settings.optimizer} lr {settings.lr:g} · {settings.epochs} ep"
    return f"{base} · member {member + 1}/{members}" if members > 1 else base


def train_job(spec: NetworkSpec, data: ImageData, settings: TrainSettings) -> Generator[Any, None, TrainResult]:
    """Train `spec` on `data` with `settings`, yielding events; returns a TrainResult."""
    settings = copy.deepcopy(settings)
    settings.validate()
    if len(data.train_x) == 0 or len(data.val_x) == 0:
        raise TrainSettingsError(f"Dataset '{data.name}' needs both training and validation images.")
    if settings.seed is None:
        settings.seed = int(np.random.SeedSequence().generate_state(1)[0] % (2**31))
    device = resolve_device(settings.device)
    ranks = distributed.active()  # started by torchrun: this process is one of several (engine/distributed.py)
    if ranks is not None:
        device = distributed.device_for(ranks, device)
    data = with_training_subset(data, settings.train_subset, settings.label_noise, int(settings.seed))
    spec = prepare_spec(spec, data, settings)
    if settings.snapshot_ensemble >= 2:
        steps_per_epoch = steps_per_epoch_for(len(data.train_x), settings.batch_size)
        ends = sgdr_cycle_ends(settings, steps_per_epoch)
        if len(ends) < settings.snapshot_ensemble:
            raise TrainSettingsError(
                f"A snapshot ensemble of {settings.snapshot_ensemble} needs {settings.snapshot_ensemble} complete "
                f"SGDR cycles, but {settings.epochs} epochs hold only {len(ends)}. Use more epochs or shorter "
                f"cycles (e.g. cycle length {settings.epochs / settings.snapshot_ensemble:g} epochs, multiplier 1).")
    start = time.perf_counter()
    tensors = {"train_x": data.train_x.to(device), "train_y": data.train_y.to(device),
               "val_x": data.val_x.to(device), "val_y": data.val_y.to(device)}
    members = max(1, int(settings.ensemble))
    per_member = int(settings.epochs) * steps_per_epoch_for(len(data.train_x), settings.batch_size)
    clock = _Clock(per_member * members)
    runs, stats = [], []
    snapshots: list[TrainedRun] = []
    for member in range(members):
        run, member_stats, member_snapshots = yield from _train_one(
            spec, data, tensors, settings, device, member, members, int(settings.seed) + member, clock,
            member * per_member)
        runs.append(run)
        stats.append(member_stats)
        snapshots.extend(member_snapshots)
        if members > 1:
            yield MemberFinished(member, member_stats["val_acc"])
    seconds = time.perf_counter() - start
    train_images = sum(s["train_images"] for s in stats)
    train_seconds = sum(s["train_seconds"] for s in stats)
    summary = {
        "train_loss": float(np.mean([s["train_loss"] for s in stats])),
        "train_acc": float(np.mean([s["train_acc"] for s in stats])),
        "val_acc": float(np.mean([s["val_acc"] for s in stats])),
        "val_loss": float(np.mean([s["val_loss"] for s in stats])),
        "epochs": int(settings.epochs),
        "images_per_sec": train_images / train_seconds if train_seconds > 0 else float("nan"),
        "seconds": seconds,
        "device": device.type,
        "device_name": describe_device(device),
        "seed": int(settings.seed),
    }
    if ranks is not None:
        summary["processes"] = ranks.world_size  # images_per_sec is one process's rate
    members_out = runs
    if members > 1 or snapshots:
        kind = "independent" if members > 1 else "snapshot"
        members_out = runs if members > 1 else snapshots
        val_x_cpu, val_y_cpu = data.val_x, data.val_y
        accs = tuple(float(evaluate(r.model, val_x_cpu, val_y_cpu)[1]) for r in members_out)
        probs = ensemble_probabilities([r.model for r in members_out], val_x_cpu)
        ensemble_acc = float((probs.argmax(1) == val_y_cpu).double().mean().item())
        summary["member_val_accs"] = list(accs)
        summary["ensemble_val_acc"] = ensemble_acc
        summary["ensemble_kind"] = kind
        for r, acc in zip(members_out, accs):
            r.history["member_val_acc"] = [acc]
        yield EnsembleResult(accs, ensemble_acc, kind)
        best = runs[0] if kind == "snapshot" else runs[int(np.argmax(accs))]
    else:
        best = runs[0]
    best.history["summary"] = [summary]
    return TrainResult(best, members_out, summary)


def fit(spec: NetworkSpec, data: ImageData, settings: TrainSettings | None = None, on_event=None) -> TrainResult:
    """Train to the end (no GUI): drains `train_job`."""
    return run_to_end(train_job(spec, data, settings or TrainSettings()), on_event)
