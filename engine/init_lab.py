"""The lecture's weight-initialization demo (cs231n): push unit-gaussian data
through a deep stack of fully connected layers (10 x 500 by default) and look
at each layer's activations.

- tanh with N(0, 0.01^2) weights: std 0.21, 0.05, 0.01, ... -> 0 (activations,
  and with them the gradients, vanish);
- tanh with N(0, 1) weights ("large"): everything saturates at -1 / +1;
- Xavier (1/sqrt(fan_in)) for tanh and He (sqrt(2/fan_in)) for ReLU keep the
  spread roughly constant from layer to layer;
- batch norm before each nonlinearity rescues even the bad initializations.

Weights come from engine.initialization.apply_init (the same code the trainer
uses); 'large' (std 1) is drawn here because the trainer does not offer it.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .errors import SpecError
from .events import Job, Progress
from .initialization import apply_init, initializable_layers
from .layer_stats import LayerStats, histogram

NONLINEARITIES = {"tanh": nn.Tanh, "relu": nn.ReLU}
LAB_INITS = ("small", "large", "xavier", "he")
LAB_INIT_LABELS = {
    "small": "Small random N(0, 0.01)",
    "large": "Large random N(0, 1)",
    "xavier": "Xavier 1/sqrt(fan_in)",
    "he": "He sqrt(2/fan_in)",
}


@dataclass(frozen=True)
class InitLabConfig:
    nonlinearity: str = "tanh"
    init: str = "small"
    batch_norm: bool = False
    layers: int = 10
    width: int = 500
    samples: int = 1000
    seed: int = 0
    bins: int = 41


@dataclass(frozen=True)
class InitLabResult:
    """stats describes the output of every hidden layer's nonlinearity (layer 1..L);
    weight_std is the std the weights were actually drawn with."""

    config: InitLabConfig
    stats: LayerStats
    weight_std: np.ndarray
    input_std: float


SATURATION_LEVEL = 0.99  # a tanh unit with |a| above this has local gradient 1 - a^2 < 0.02
SATURATED_SHARE = 0.3  # a layer with more saturated units than this "saturates"


def saturated_share(result: InitLabResult) -> np.ndarray:
    """Per hidden layer: the share of outputs with |a| > 0.99 (for tanh: saturated units)."""
    return np.asarray(result.stats.extra.get("saturated_share", np.zeros(len(result.stats))), dtype=np.float64)


def verdict(result: InitLabResult) -> tuple[str, str]:
    """(kind, sentence) for the lab's result: 'vanishing' | 'saturated' | 'exploding' |
    'healthy'. Saturation is the measured share of |a| > 0.99 in the last layer."""
    stats = result.stats
    first, last = float(stats.act_std[0]), float(stats.act_std[-1])
    share = float(saturated_share(result)[-1]) if len(stats) else 0.0
    if last < 0.01 * max(first, 1e-12) or last < 1e-3:
        return "vanishing", ("activations shrink toward 0 layer by layer: gradients vanish too, "
                             "the deep layers cannot learn.")
    if result.config.nonlinearity == "tanh" and share > SATURATED_SHARE:
        return "saturated", (f"{100 * share:.0f} % of the last layer's tanh units are saturated (|a| > 0.99): "
                             "their local gradient is almost zero, learning stalls.")
    if last > 10 * max(first, 1e-12):
        return "exploding", "activations explode layer by layer."
    return "healthy", (f"the spread of the activations stays healthy through the stack "
                       f"({100 * share:.1f} % of the last layer's units saturated).")


def build_stack(config: InitLabConfig) -> nn.Sequential:
    """Linear -> [BatchNorm] -> nonlinearity, `layers` times, names fc1, bn1, tanh1, ..."""
    if config.nonlinearity not in NONLINEARITIES:
        raise SpecError(f"Unknown nonlinearity '{config.nonlinearity}'. Choose {', '.join(NONLINEARITIES)}.")
    if config.init not in LAB_INITS:
        raise SpecError(f"Unknown initialization '{config.init}'. Choose {', '.join(LAB_INITS)}.")
    if not 1 <= config.layers <= 50 or not 2 <= config.width <= 4096:
        raise SpecError("The init lab takes 1-50 layers of 2-4096 units.")
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    for i in range(1, config.layers + 1):
        modules[f"fc{i}"] = nn.Linear(config.width, config.width)
        if config.batch_norm:
            modules[f"bn{i}"] = nn.BatchNorm1d(config.width)
        modules[f"{config.nonlinearity}{i}"] = NONLINEARITIES[config.nonlinearity]()
    return nn.Sequential(modules)


def initialize_stack(model: nn.Module, init: str, generator: torch.Generator) -> None:
    if init == "large":
        with torch.no_grad():
            for _, module in initializable_layers(model):
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator))
                module.bias.zero_()
    else:
        apply_init(model, init, generator=generator)


def run_init_lab(config: InitLabConfig = InitLabConfig()) -> InitLabResult:
    """Deterministic for a given config (its seed draws both the data and the weights)."""
    job = init_lab_job(config)
    while True:
        try:
            next(job)
        except StopIteration as done:
            return done.value


def init_lab_job(config: InitLabConfig) -> Job:
    """The experiment as a job for the GUI: one Progress per layer, so a stop
    request (acted on between yields) takes effect within one layer's work."""
    generator = torch.Generator().manual_seed(config.seed)
    model = build_stack(config)
    initialize_stack(model, config.init, generator)
    model.train()  # batch norm normalizes with this batch's statistics, as in the lecture
    data = torch.randn(config.samples, config.width, generator=generator)
    modules = list(model.named_children())
    total = len(modules) + 1
    yield Progress(0, total, "Pushing random data through the stack")
    hidden_outputs: list[torch.Tensor] = []
    low, high = float("inf"), float("-inf")  # over every layer's output, for a shared histogram range
    x = data
    with torch.no_grad():
        for index, (name, module) in enumerate(modules, start=1):
            x = module(x)
            finite = x[torch.isfinite(x)]
            if finite.numel():
                low, high = min(low, float(finite.min())), max(high, float(finite.max()))
            if name.startswith(config.nonlinearity):
                hidden_outputs.append(x)
            yield Progress(index, total, f"Layer {name}")
    # Histograms on one x range for every layer, as in the lecture's figure, so a
    # collapse shows as a spike at 0 and saturation as bars at the ends.
    if config.nonlinearity == "tanh":
        hist_range: tuple[float, float] | None = (-1.0, 1.0)
    else:
        hist_range = (low, high) if low <= high else None
    act_mean = np.array([float(a.float().mean()) for a in hidden_outputs], dtype=np.float64)
    act_std = np.array([float(a.float().std(unbiased=False)) for a in hidden_outputs], dtype=np.float64)
    # Saturation measured directly (share of |a| > 0.99), not guessed from the histogram's edge bins.
    saturated = np.array([float((a.abs() > SATURATION_LEVEL).float().mean()) for a in hidden_outputs])
    hidden = LayerStats(
        layer_names=tuple(f"layer {n + 1}" for n in range(len(hidden_outputs))),
        act_mean=act_mean,
        act_std=act_std,
        histograms=tuple(histogram(a, config.bins, hist_range) for a in hidden_outputs),
        extra={"saturated_share": saturated},
    )
    weight_std = np.array([float(m.weight.detach().std()) for _, m in initializable_layers(model)])
    yield Progress(total, total, "Histograms done")
    return InitLabResult(config, hidden, weight_std, float(data.std()))
