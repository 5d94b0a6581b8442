"""Weight initialization schemes from the lecture, applied by hand so each one is
visible: every Conv2d / Linear weight is drawn from N(0, std^2) with

- 'small':    std = 0.01 (the "small random numbers" that make deep nets' activations vanish)
- 'xavier':   std = 1 / sqrt(fan_in)        (Glorot & Bengio, in the lecture's form)
- 'he':       std = sqrt(2 / fan_in)        (He et al., for ReLU)
- 'constant': every weight the same value (breaks nothing in the forward pass but
              every unit of a layer then learns the same thing: no symmetry breaking)
- 'default':  PyTorch's own initialization, left untouched.

fan_in = in_channels * k * k for a convolution and in_features for a Linear layer.
Biases are set to zero for every scheme except 'default'. BatchNorm layers keep
gamma = 1, beta = 0.
"""
from __future__ import annotations

import math

import torch
from torch import nn

INIT_SCHEMES = ("default", "constant", "small", "xavier", "he")

INIT_LABELS = {
    "default": "PyTorch default",
    "constant": "Constant",
    "small": "Small random N(0, 0.01)",
    "xavier": "Xavier 1/sqrt(fan_in)",
    "he": "He sqrt(2/fan_in)",
}

SMALL_STD = 0.01
DEFAULT_CONSTANT = 0.01


def fan_in(module: nn.Module) -> int:
    """Inputs that feed one output unit of a Conv2d / Linear layer."""
    weight = module.weight
    return int(weight[0].numel())


def init_std(module: nn.Module, scheme: str) -> float | None:
    """The standard deviation `scheme` draws this layer's weights from (None for
    'default' and 'constant')."""
    if scheme == "small":
        return SMALL_STD
    if scheme == "xavier":
        return 1.0 / math.sqrt(fan_in(module))
    if scheme == "he":
        return math.sqrt(2.0 / fan_in(module))
    return None


def initializable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every Conv2d / Linear layer, in order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def apply_init(model: nn.Module, scheme: str, constant: float = DEFAULT_CONSTANT,
               generator: torch.Generator | None = None) -> nn.Module:
    """Re-initialize every Conv2d / Linear layer of `model` in place and return it.
    Uses the global torch RNG unless a generator is given (seed it for repeatable draws)."""
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"Unknown initialization '{scheme}'. Known: {', '.join(INIT_SCHEMES)}.")
    if scheme == "default":
        return model
    with torch.no_grad():
        for _, module in initializable_layers(model):
            weight = module.weight
            if scheme == "constant":
                weight.fill_(constant)
            else:
                std = init_std(module, scheme)
                noise = torch.randn(weight.shape, generator=generator, dtype=weight.dtype,
                                    device="cpu" if generator is None else generator.device)
                weight.copy_(noise.to(weight.device) * std)
            if module.bias is not None:
                module.bias.zero_()
    return model
