"""The trainable model: input normalization (part of the model, so every tool
feeds plain [0, 1] images) followed by the layers built from a NetworkSpec."""
from __future__ import annotations

import torch
from torch import nn

from .spec import NetworkSpec, build_model, validate

NORMALIZATIONS = ("none", "mean_image", "per_channel")


class InputNormalization(nn.Module):
    """x -> (x - mean) / std. 'mean_image' subtracts the mean training image (as in
    the lecture); 'per_channel' uses per-channel mean and std. Buffers always have
    shape (C, H, W) so checkpoints load whatever the mode."""

    def __init__(self, input_shape: tuple[int, ...]):
        super().__init__()
        self.register_buffer("mean", torch.zeros(input_shape))
        self.register_buffer("std", torch.ones(input_shape))

    def fit(self, images: torch.Tensor, mode: str) -> None:
        if mode not in NORMALIZATIONS:
            raise ValueError(f"Unknown normalization '{mode}'")
        with torch.no_grad():
            if mode == "none":
                self.mean.zero_()
                self.std.fill_(1.0)
            elif mode == "mean_image":
                self.mean.copy_(images.mean(dim=0))
                self.std.fill_(1.0)
            else:
                dims = (0, 2, 3) if images.dim() == 4 else (0,)
                mean = images.mean(dim=dims, keepdim=True)[0]
                std = images.std(dim=dims, keepdim=True)[0].clamp_min(1e-6)
                self.mean.copy_(mean.expand_as(self.mean))
                self.std.copy_(std.expand_as(self.std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class ConvNet(nn.Module):
    """normalize -> features (nn.Sequential named conv1, relu1, ...)."""

    def __init__(self, spec: NetworkSpec):
        super().__init__()
        validate(spec)  # refuse an impossible or oversized network before allocating anything
        self.spec = spec.copy()
        self.normalize = InputNormalization(tuple(spec.input_shape))
        self.features = build_model(spec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == len(self.spec.input_shape):
            x = x.unsqueeze(0)
        return self.features(self.normalize(x))

    def named_layers(self) -> list[tuple[str, nn.Module]]:
        from .layers import named_layers

        return named_layers(self)
