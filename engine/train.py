"""The trainer: mini-batch SGD / Adam as a job (a generator of events).

`train_job(spec, data, settings)` yields `TrainStarted`, `BatchEnd` (throttled,
~50 ms, always the last batch of an epoch), `EpochEnd`, `FiltersSnapshot`,
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
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Generator

import numpy as np
import torch
from torch import nn

from .augment import AugmentOptions, augment_batch
from .checkpoint import TrainedRun
from .data import ImageData, with_training_subset
from .device import describe_device, resolve_device
from .errors import ConvScopeError, DivergedError
from .events import Throttle, run_to_end
from .initialization import INIT_SCHEMES, apply_init
from .layer_stats import LayerStatsSnapshot, collect_layer_stats
from .model import NORMALIZATIONS, ConvNet
from .regularize import explicit_penalty, regularized_weights, split_decay_groups
from .rng import JobRNG, has_random_layers
from .schedules import SCHEDULES, learning_rate_curve, sgdr_cycle_ends, steps_per_epoch_for
from .spec import LayerSpec, NetworkSpec, count_parameters

OPTIMIZERS = ("sgd", "adam")
DEVICES = ("auto", "cpu", "cuda", "mps")


# Keys a finished run adds to its saved settings (TrainedRun.settings); from_dict skips them.
RUN_METADATA_KEYS = {"member", "snapshot"}

MAX_EPOCHS = 10_000  # more would take months on a laptop; a typo such as 100000000 is refused at once
MAX_BATCH_SIZE = 1_000_000
SEED_MAX = 2**63 - 1  # torch.manual_seed and numpy accept 0 .. 2**63 - 1 here


class TrainSettingsError(ConvScopeError):
    """Training settings that cannot work (negative learning rate, unknown schedule...)."""

    title = "Training settings"


@dataclass
class TrainSettings:
    """Everything that defines a training run. JSON-able: `asdict(s)` / `from_dict`."""

    dataset: str = "mnist5k"
    epochs: int = 5
    batch_size: int = 64
    optimizer: str = "sgd"  # 'sgd' | 'adam'
    lr: float = 0.05  # base learning rate (Adam wants ~0.001)
    momentum: float = 0.9  # SGD only
    nesterov: bool = False  # SGD only, needs momentum > 0
    # Learning-rate schedule (engine/schedules.py has the formulas; t in epochs).
    schedule: str = "constant"
    step_size: float = 2.0  # step: epochs between drops
    gamma: float = 0.5  # step: factor per drop
    decay: float = 0.5  # exponential exp(-k t) and 1/t 1/(1 + k t): k
    lr_min: float = 0.0  # cosine / sgdr floor
    sgdr_cycle_epochs: float = 1.0  # sgdr: length of the first cycle
    sgdr_mult: float = 1.0  # sgdr: each cycle is this many times longer than the last
    warmup_epochs: float = 0.0  # linear warm-up at the start
    # Regularization (engine/regularize.py).
    weight_decay: float = 0.0  # coupled weight decay on Conv/Linear weights (= the lecture's 2 * lambda)
    l2: float = 0.0  # the lecture's L2: lambda * sum W^2 added to the loss (gradient 2 * lambda * W)
    l1: float = 0.0  # lambda1 * sum |w| added to the loss
    elastic_net: float = 0.0  # lambda * sum (beta w^2 + |w|) added to the loss
    elastic_beta: float = 0.5  # beta of the elastic net
    # DROP probability of every Dropout layer (None: keep the spec's). The lecture's p is the
    # KEEP probability: keep = 1 - dropout (see keep_probability()).
    dropout: float | None = None
    init: str = "he"  # 'default' (PyTorch) | 'constant' | 'small' | 'xavier' | 'he' (suits ReLU nets)
    init_constant: float = 0.01  # the value for init='constant'
    batchnorm: bool = False  # insert BatchNorm after every conv / hidden linear that lacks one
    # Augmentation (engine/augment.py).
    hflip: bool = False
    crop: int = 0  # random translation up to this many pixels
    scale: float = 0.0  # random zoom in [1 - scale, 1 + scale]
    rotation: float = 0.0  # random rotation in degrees
    colour_jitter: float = 0.0  # brightness / contrast / saturation strength
    hue_jitter: float = 0.0  # random hue turn up to this fraction of a full turn (0-0.5), colour images
    normalization: str = "mean_image"  # 'none' | 'mean_image' | 'per_channel'
    # Knobs that provoke overfitting (as in TF Playground); both drawn from `seed`, so the
    # runs of a comparison see the same images and the same wrong labels.
    train_subset: int = 0  # train on this many images of the training split (0 = all)
    label_noise: float = 0.0  # percent of training labels replaced by a random other class
    eval_train_each_epoch: bool = False  # also measure loss / accuracy on the training images in eval mode
    # Ensembles.
    ensemble: int = 1  # K independently initialized members (1 = a single model)
    snapshot_ensemble: int = 0  # K snapshots at the ends of the last K SGDR cycles (0 = off)
    # Machinery.
    device: str = "auto"
    amp: bool = False  # mixed precision (float16 autocast), CUDA only
    seed: int | None = 0  # None: a fresh random seed (recorded in the run)
    val_every: int = 1  # validate every N epochs (the last epoch always)
    snapshot_every_steps: int = 100  # FiltersSnapshot every N steps (0 = off); also throttled
    track_layer_stats: bool = False  # LayerStatsSnapshot at the start and each epoch end
    event_interval_s: float = 0.05  # engine-side throttle of BatchEnd / FiltersSnapshot

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict) -> "TrainSettings":
        """Settings from a JSON object, each value checked against its field's type (one
        TrainSettingsError naming the field otherwise); GUI, CLI and run folders share it."""
        from .validation import coerce_fields, describe_json

        if not isinstance(data, dict):
            raise TrainSettingsError(f"Training settings must be a JSON object, not {describe_json(data)}.")
        known = {f.name: f for f in fields(TrainSettings)}
        unknown = [str(k) for k in data if k not in known and k not in RUN_METADATA_KEYS]
        if unknown:
            raise TrainSettingsError(f"Unknown training setting(s): {', '.join(sorted(unknown)[:10])}.")
        return TrainSettings(**coerce_fields(TrainSettings, data, TrainSettingsError, "The training setting"))

    def augment_options(self) -> AugmentOptions:
        return AugmentOptions.from_settings(self)

    def equivalent_weight_decay(self) -> float:
        """The optimizer's coupled weight decay that `weight_decay` and the lecture's `l2`
        amount to together: d/dW (lambda * sum W^2) = 2 * lambda * W."""
        return float(self.weight_decay) + 2.0 * float(self.l2)

    def keep_probability(self) -> float | None:
        """The lecture's dropout p (probability of KEEPING a unit), or None when the spec decides."""
        return None if self.dropout is None else 1.0 - float(self.dropout)

    def problems(self) -> list[str]:
        """Plain-language reasons these settings cannot run (empty when fine)."""
        out = self._type_problems()
        if out:  # the range checks below need numbers of the right kind
            return out
        if int(self.epochs) < 1:
            out.append("Epochs must be at least 1.")
        if int(self.epochs) > MAX_EPOCHS:
            out.append(f"Epochs must be at most {MAX_EPOCHS:,} (got {int(self.epochs):,}).")
        if int(self.batch_size) < 1:
            out.append("Batch size must be at least 1.")
        if int(self.batch_size) > MAX_BATCH_SIZE:
            out.append(f"Batch size must be at most {MAX_BATCH_SIZE:,}.")
        if self.seed is not None and not 0 <= int(self.seed) <= SEED_MAX:
            out.append(f"The seed must be a whole number from 0 to {SEED_MAX} (2**63 - 1).")
        for name, label in (("warmup_epochs", "Warm-up"), ("sgdr_cycle_epochs", "The SGDR cycle length"),
                            ("step_size", "The step-decay step size")):
            if float(getattr(self, name)) > MAX_EPOCHS:
                out.append(f"{label} must be at most {MAX_EPOCHS:,} epochs.")
        if self.sgdr_mult > 100:
            out.append("The SGDR cycle multiplier must be at most 100.")
        if int(self.snapshot_every_steps) < 0 or float(self.event_interval_s) < 0:
            out.append("Snapshot and event intervals must not be negative.")
        if self.optimizer not in OPTIMIZERS:
            out.append(f"Unknown optimizer '{self.optimizer}'. Choose {' or '.join(OPTIMIZERS)}.")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            out.append("The learning rate must be a positive number.")
        if not 0 <= self.momentum < 1:
            out.append("Momentum must be in [0, 1).")
        if self.optimizer == "sgd" and self.nesterov and self.momentum <= 0:
            out.append("Nesterov momentum needs momentum > 0.")
        if self.schedule not in SCHEDULES:
            out.append(f"Unknown schedule '{self.schedule}'. Known: {', '.join(SCHEDULES)}.")
        if self.schedule == "step" and (self.step_size <= 0 or not 0 < self.gamma <= 1):
            out.append("Step decay needs a step size > 0 epochs and a factor gamma in (0, 1].")
        if self.schedule in ("exponential", "inverse_time") and self.decay < 0:
            out.append("The decay rate k must not be negative.")
        if self.schedule == "sgdr" and (self.sgdr_cycle_epochs <= 0 or self.sgdr_mult < 1):
            out.append("SGDR needs a cycle length > 0 epochs and a multiplier of at least 1.")
        if self.lr_min < 0 or self.lr_min > self.lr:
            out.append("The minimum learning rate must be between 0 and the learning rate.")
        if self.warmup_epochs < 0:
            out.append("Warm-up epochs must not be negative.")
        if min(self.weight_decay, self.l2, self.l1, self.elastic_net, self.elastic_beta) < 0:
            out.append("Regularization strengths must not be negative.")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            out.append("Dropout probability must be in [0, 1).")
        if self.init not in INIT_SCHEMES:
            out.append(f"Unknown initialization '{self.init}'. Known: {', '.join(INIT_SCHEMES)}.")
        if self.normalization not in NORMALIZATIONS:
            out.append(f"Unknown normalization '{self.normalization}'. Known: {', '.join(NORMALIZATIONS)}.")
        if not 0 <= self.hue_jitter <= 0.5:
            out.append("Hue jitter is a fraction of a full colour turn between 0 and 0.5.")
        if self.crop < 0 or self.scale < 0 or self.rotation < 0 or self.colour_jitter < 0 or self.scale >= 1:
            out.append("Augmentation amounts must not be negative (and scale must be below 1).")
        if int(self.train_subset) < 0:
            out.append("The training subset size must not be negative (0 uses every training image).")
        if not 0 <= float(self.label_noise) <= 100:
            out.append("Label noise is a percentage between 0 and 100.")
        if int(self.ensemble) < 1:
            out.append("An ensemble needs at least 1 member.")
        if int(self.snapshot_ensemble) < 0 or int(self.snapshot_ensemble) == 1:
            out.append("A snapshot ensemble needs at least 2 snapshots (0 turns it off).")
        if int(self.snapshot_ensemble) >= 2 and int(self.ensemble) > 1:
            out.append("Choose either an ensemble of independent models or a snapshot ensemble, not both.")
        if int(self.snapshot_ensemble) >= 2 and self.schedule != "sgdr":
            out.append("A snapshot ensemble takes its snapshots at the ends of SGDR cycles: "
                       "choose the 'sgdr' schedule.")
        if self.device not in DEVICES and not str(self.device).startswith("cuda:"):
            out.append(f"Unknown device '{self.device}'. Choose one of: {', '.join(DEVICES)}.")
        if int(self.val_every) < 1:
            out.append("Validate every N epochs needs N >= 1.")
        return out

    def _type_problems(self) -> list[str]:
        """Values of the wrong kind (text for a number, NaN, infinity...), one sentence each."""
        import typing

        from .validation import _base_type, coerce_value

        hints = typing.get_type_hints(TrainSettings)
        out = []
        for f in fields(self):
            kind, optional = _base_type(hints.get(f.name))
            try:
                coerce_value(f.name, getattr(self, f.name), kind, optional, TrainSettingsError,
                             "The training setting")
            except TrainSettingsError as exc:
                out.append(str(exc))
        return out

    def validate(self) -> None:
        problems = self.problems()
        if problems:
            raise TrainSettingsError(" ".join(problems))

    def learning_rates(self, num_train: int) -> np.ndarray:
        """The per-step learning rate of this run on `num_train` training images."""
        return learning_rate_curve(self, steps_per_epoch_for(num_train, self.batch_size))


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
class FiltersSnapshot:
    step: int
    member: int
    filters: dict  # conv layer name -> (out, in, k, k) float32 copy


@dataclass(frozen=True)
class MemberFinished:
    member: int  # member (or snapshot) index
    val_acc: float


@dataclass(frozen=True)
class EnsembleResult:
    member_val_accs: tuple  # val accuracy of each member / snapshot
    ensemble_val_acc: float  # accuracy of the mean softmax
    kind: str  # 'independent' | 'snapshot'


__all__ = ["TrainSettings", "TrainSettingsError", "TrainStarted", "BatchEnd", "EpochEnd", "FiltersSnapshot",
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
    was_training = model.training
    model.eval()
    total_loss = torch.zeros((), dtype=torch.float32, device=x.device)  # MPS has no float64
    probs = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            logits = model(x[start:start + batch_size]).float()
            total_loss += nn.functional.cross_entropy(logits, y[start:start + batch_size], reduction="sum")
            probs.append(torch.softmax(logits, dim=1).cpu())
    model.train(was_training)
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
    augment_gen = torch.Generator().manual_seed(member_seed + 7919)
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
        was_training = model.training
        model.eval()  # dropout off; BatchNorm measured with batch statistics, running ones untouched
        stats = collect_layer_stats(model, probe[0], with_grads=True, y=probe[1], batch_stats=True)
        model.train(was_training)
        return LayerStatsSnapshot(step, epoch, stats)

    if probe is not None:
        yield layer_stats_event(0, 0)
    if settings.snapshot_every_steps > 0:
        yield FiltersSnapshot(0, member, _conv_filters(model))

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
            logits = model(xb)
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
                    since_event_start += time.perf_counter() - side_start
            train_loss = epoch_loss_sum / n
            train_acc = correct.item() / n
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
