"""Training settings: the TrainSettings dataclass and TRAIN_SETTINGS, its schema (type,
range, default, label, help, group of every field: engine/schema.py). The Training form,
the `train` command's flags and the checks of settings files all come from the schema.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from .augment import AugmentOptions
from .errors import ConvScopeError
from .initialization import INIT_LABELS, INIT_SCHEMES
from .model import NORMALIZATIONS
from .schedules import SCHEDULE_LABELS, SCHEDULES, learning_rate_curve, steps_per_epoch_for
from .schema import Setting, find

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
        """Plain-language reasons these settings cannot run (empty when fine): each value
        against its range or choices in TRAIN_SETTINGS, then the checks that need two settings."""
        out = self._type_problems()
        if out:  # the range checks below need numbers of the right kind
            return out
        for setting in TRAIN_SETTINGS:
            problem = setting.problem(getattr(self, setting.name))
            if problem and not (setting.name == "device" and str(self.device).startswith("cuda:")):
                out.append(problem)
        if out:
            return out
        if self.optimizer == "sgd" and self.nesterov and self.momentum <= 0:
            out.append("Nesterov momentum needs momentum > 0.")
        if self.lr_min > self.lr:
            out.append("The minimum learning rate must be between 0 and the learning rate.")
        if int(self.snapshot_ensemble) == 1:
            out.append("A snapshot ensemble needs at least 2 snapshots (0 turns it off).")
        if int(self.snapshot_ensemble) >= 2 and int(self.ensemble) > 1:
            out.append("Choose either an ensemble of independent models or a snapshot ensemble, not both.")
        if int(self.snapshot_ensemble) >= 2 and self.schedule != "sgdr":
            out.append("A snapshot ensemble takes its snapshots at the ends of SGDR cycles: "
                       "choose the 'sgdr' schedule.")
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


# ---------------------------------------------------------------- the schema


def _setting(name: str, label: str, help_text: str, group: str, **details) -> Setting:
    """A TrainSettings field described: its type and default come from the dataclass."""
    import typing

    from .validation import _base_type

    kind, _optional = _base_type(typing.get_type_hints(TrainSettings)[name])
    default = TrainSettings.__dataclass_fields__[name].default
    return Setting(name, kind, default, help_text, label=label, group=group, **details)


def _labelled(values, labels: dict) -> tuple[tuple[str, str], ...]:
    return tuple((value, labels.get(value, value)) for value in values)


_NORMALIZATION_LABELS = {"mean_image": "Subtract the mean image", "per_channel": "Per-channel normalization",
                         "none": "None"}  # in the order the Data panel lists them
_NORMALIZATION_ORDER = sorted(NORMALIZATIONS, key=list(_NORMALIZATION_LABELS).index)

TRAIN_SETTINGS: tuple[Setting, ...] = (
    _setting("optimizer", "Optimizer", "SGD follows the gradient (with momentum if above 0); Adam adapts the step "
             "size of every weight.", "Optimizer", choices=(("sgd", "SGD"), ("adam", "Adam"))),
    _setting("lr", "Learning rate", "Base step size: too small learns slowly, too large diverges (SGD ~0.05, "
             "Adam ~0.001).", "Optimizer", minimum=0.0, low_open=True, step=0.01, decimals=5),
    _setting("momentum", "Momentum", "Fraction of the previous update kept (SGD): smooths and speeds up descent; "
             "0 is plain SGD.", "Optimizer", minimum=0.0, maximum=1.0, high_open=True, step=0.05),
    _setting("nesterov", "Nesterov", "Nesterov momentum: take the gradient at the look-ahead point (SGD with "
             "momentum only).", "Optimizer"),
    _setting("batch_size", "Batch size", "Images per mini-batch, i.e. per optimizer step.", "Optimizer",
             minimum=1, maximum=MAX_BATCH_SIZE),
    _setting("epochs", "Epochs", "Passes over the whole training set.", "Optimizer", minimum=1, maximum=MAX_EPOCHS),
    _setting("schedule", "Schedule", "How the learning rate changes during training.",
             "Learning-rate schedule", choices=_labelled(SCHEDULES, SCHEDULE_LABELS)),
    _setting("step_size", "Step every (epochs)", "Step decay: epochs between two drops.", "Learning-rate schedule",
             minimum=0.0, low_open=True, maximum=MAX_EPOCHS, step=1.0, decimals=2, only_when=("schedule", ("step",))),
    _setting("gamma", "Drop factor", "Step decay: the learning rate is multiplied by this at each drop.",
             "Learning-rate schedule", minimum=0.0, low_open=True, maximum=1.0, step=0.05,
             only_when=("schedule", ("step",))),
    _setting("decay", "Decay rate k", "Exponential exp(-k t) or 1/t decay 1/(1 + k t), t in epochs.",
             "Learning-rate schedule", minimum=0.0, maximum=100.0, step=0.1,
             only_when=("schedule", ("exponential", "inverse_time"))),
    _setting("lr_min", "Minimum lr", "Cosine / SGDR: the learning rate at the bottom of each cycle.",
             "Learning-rate schedule", minimum=0.0, maximum=1000.0, step=0.001, decimals=5,
             only_when=("schedule", ("cosine", "sgdr"))),
    _setting("sgdr_cycle_epochs", "Cycle length (epochs)", "SGDR: length of the first cosine cycle before the "
             "warm restart.", "Learning-rate schedule", minimum=0.0, low_open=True, maximum=MAX_EPOCHS, step=0.5,
             decimals=2, flag="--cycle-epochs", only_when=("schedule", ("sgdr",))),
    _setting("sgdr_mult", "Cycle multiplier", "SGDR: each cycle is this many times longer than the last.",
             "Learning-rate schedule", minimum=1.0, maximum=100.0, step=0.5, decimals=2, flag="--cycle-mult",
             only_when=("schedule", ("sgdr",))),
    _setting("warmup_epochs", "Warm-up (epochs)", "Ramp the learning rate up linearly over the first epochs "
             "(0 = none).", "Learning-rate schedule", minimum=0.0, maximum=MAX_EPOCHS, step=0.5, decimals=2,
             flag="--warmup"),
    _setting("l2", "L2 lambda", "The lecture's L2: adds lambda * sum W^2 (Conv/Linear weights) to the loss. Its "
             "gradient 2 lambda W is the same as weight decay 2 x lambda.", "Regularization, init", minimum=0.0,
             maximum=1.0, step=0.0001, decimals=6),
    _setting("weight_decay", "Weight decay", "Coupled weight decay: every step w -= lr * wd * w (= the lecture's "
             "L2 with lambda = wd / 2; the two add up).", "Regularization, init", minimum=0.0, maximum=1.0,
             step=0.0001, decimals=6),
    _setting("l1", "L1", "L1 regularization: adds lambda1 * sum |w| to the loss, pushing weights to exactly zero.",
             "Regularization, init", minimum=0.0, maximum=1.0, step=0.0001, decimals=6),
    _setting("elastic_net", "Elastic net", "Adds lambda * sum(beta w^2 + |w|) to the loss: L1 and L2 together.",
             "Regularization, init", minimum=0.0, maximum=1.0, step=0.0001, decimals=6),
    _setting("elastic_beta", "Elastic net beta", "Weight of the squared term inside the elastic net.",
             "Regularization, init", minimum=0.0, maximum=100.0, step=0.1),
    _setting("dropout", "Dropout (drop prob.)", "The probability of DROPPING a unit in every Dropout layer (at "
             "the minimum: the values from the Network panel). The lecture's p is the probability of KEEPING a "
             "unit: keep p = 1 - this value, shown next to it.", "Regularization, init", minimum=0.0,
             maximum=0.95, step=0.05, decimals=2, none_label="as in network"),
    _setting("init", "Weight init", "How Conv/Linear weights start: small random numbers vanish in deep nets, "
             "Xavier/He keep activations alive.", "Regularization, init", choices=_labelled(INIT_SCHEMES, INIT_LABELS)),
    _setting("init_constant", "Constant value", "The value of every weight for the 'Constant' initialization.",
             "Regularization, init", minimum=-10.0, maximum=10.0, step=0.01, decimals=4),
    _setting("batchnorm", "Batch norm", "Insert BatchNorm after every conv and hidden linear layer that lacks one.",
             "Regularization, init"),
    _setting("train_subset", "Training images", "Train on only this many images of the training split (the same "
             "ones for the same seed): few images and many epochs overfit.", "Data for this run", minimum=0,
             maximum=10_000_000, step=50, zero_label="all"),
    _setting("label_noise", "Label noise %", "Give this percentage of the training images a random wrong label: "
             "the network can only fit them by memorizing.", "Data for this run", minimum=0.0, maximum=100.0,
             step=5.0, decimals=1),
    _setting("eval_train_each_epoch", "Measure train accuracy", "After every epoch also measure loss and accuracy "
             "on the training images with dropout and augmentation off, so the train/validation gap compares "
             "like with like (costs one pass over the training set).", "Data for this run"),
    _setting("ensemble", "Independent models K", "Train K models from different random seeds and average their "
             "predictions (1 = a single model).", "Ensembles", minimum=1, maximum=100),
    _setting("snapshot_ensemble", "Snapshot ensemble K", "Keep the model at the end of the last K SGDR cycles of "
             "one run and average them (needs the SGDR schedule).", "Ensembles", minimum=0, maximum=100,
             zero_label="off"),
    _setting("device", "Device", "Where to train: auto picks CUDA, then Apple MPS, then the CPU.", "Device, seed",
             choices=tuple((d, d.upper() if d != "auto" else "auto") for d in DEVICES)),
    _setting("amp", "Mixed precision", "float16 autocast on CUDA: faster on modern GPUs, ignored elsewhere.",
             "Device, seed"),
    _setting("seed", "Seed", "Random seed: the same seed gives the same run on the CPU (at the minimum: a fresh "
             "random seed).", "Device, seed", minimum=0, maximum=SEED_MAX, none_label="random"),
    _setting("track_layer_stats", "Layer statistics", "Record activation/gradient statistics each epoch for the "
             "Layer stats panel (slightly slower).", "Device, seed"),
    # Set in the Data panel (ctx.data_options), not in the Training form; the CLI's --augment and
    # --normalize flags set them.
    _setting("dataset", "Dataset", "mnist5k, digits, shapes, image_folder, mnist, fashion_mnist, cifar10, or a "
             "folder path (ImageFolder layout).", "Data", in_form=False),
    _setting("normalization", "Normalization", "What is subtracted from every input image before training.",
             "Data", choices=_labelled(_NORMALIZATION_ORDER, _NORMALIZATION_LABELS), flag=None, in_form=False),
    # Labels and ranges as the Data panel shows them (its editors come from these).
    _setting("hflip", "Horizontal flip", "Mirror each training image left-right with probability 1/2 (bad for "
             "digits!).", "Data", flag=None, in_form=False),
    _setting("crop", "Crop / shift", "Random crop: shift each training image by up to this many pixels (zero "
             "fill).", "Data", minimum=0, maximum=16, flag=None, in_form=False),
    _setting("scale", "Scale", "Random zoom of each training image by a factor in [1 - s, 1 + s].", "Data",
             minimum=0.0, maximum=0.9, step=0.05, decimals=2, flag=None, in_form=False),
    _setting("rotation", "Rotation", "Random rotation of each training image by up to this many degrees either "
             "way.", "Data", minimum=0.0, maximum=180.0, step=5.0, decimals=1, flag=None, in_form=False),
    _setting("colour_jitter", "Colour jitter", "Random brightness, contrast (and saturation) of each training "
             "image by up to this fraction.", "Data", minimum=0.0, maximum=1.0, step=0.05, decimals=2, flag=None,
             in_form=False),
    _setting("hue_jitter", "Hue jitter", "Hue jitter (as in the lecture's colour augmentation): turn the colour "
             "wheel by up to this fraction of a full turn, either way. Colour images only.", "Data", minimum=0.0,
             maximum=0.5, step=0.05, decimals=2, flag=None, in_form=False),
    # Machinery: CLI and settings files only.
    _setting("val_every", "Validate every (epochs)", "Validate every N epochs (the last epoch always).",
             "Machinery", minimum=1, maximum=MAX_EPOCHS, in_form=False),
    _setting("snapshot_every_steps", "Filter snapshot every (steps)", "A filter snapshot for the live views every "
             "N steps (0 = off).", "Machinery", minimum=0, maximum=1_000_000_000, in_form=False),
    _setting("event_interval_s", "Event interval (s)", "Engine-side throttle of the live events.", "Machinery",
             minimum=0.0, flag=None, in_form=False),
)


def train_setting(name: str) -> Setting:
    return find(TRAIN_SETTINGS, name)
