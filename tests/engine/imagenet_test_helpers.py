"""A tiny random 1000-class CNN wrapped like the pretrained classifier, so the
ImageNet algorithms can be tested in milliseconds."""
from __future__ import annotations

import torch
from torch import nn

from engine.pretrained import ImageNetClassifier


def tiny_classifier(seed: int = 0, size: int = 32) -> ImageNetClassifier:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU6(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 1000),
    ).eval()
    return ImageNetClassifier("tiny", net, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), net[-1], net[4],
                              input_size=size, resize_size=size + 4)
