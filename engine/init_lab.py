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
from .layer_stats import LayerStats, collect_layer_stats

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
    generator = torch.Generator().manual_seed(config.seed)
    model = build_stack(config)
    initialize_stack(model, config.init, generator)
    model.train()  # batch norm normalizes with this batch's statistics, as in the lecture
    data = torch.randn(config.samples, config.width, generator=generator)
    # Histograms on one x range for every layer, as in the lecture's figure, so a
    # collapse shows as a spike at 0 and saturation as bars at the ends.
    hist_range = (-1.0, 1.0) if config.nonlinearity == "tanh" else "shared"
    stats = collect_layer_stats(model, data, bins=config.bins, hist_range=hist_range)
    keep = [i for i, name in enumerate(stats.layer_names) if name.startswith(config.nonlinearity)]
    hidden = LayerStats(
        layer_names=tuple(f"layer {n + 1}" for n in range(len(keep))),
        act_mean=stats.act_mean[keep],
        act_std=stats.act_std[keep],
        histograms=tuple(stats.histograms[i] for i in keep),
    )
    weight_std = np.array([float(m.weight.detach().std()) for _, m in initializable_layers(model)])
    return InitLabResult(config, hidden, weight_std, float(data.std()))


def init_lab_job(config: InitLabConfig) -> Job:
    """run_init_lab as a job for the GUI (one step, but off the GUI thread)."""
    yield Progress(0, 1, "Pushing random data through the stack")
    return run_init_lab(config)
