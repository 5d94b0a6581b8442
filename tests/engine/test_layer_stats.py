"""Layer statistics: one forward (and optional backward) pass described per layer."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from engine.layer_stats import LayerStats, collect_layer_stats, histogram
from engine.model import ConvNet
from engine.spec import load_preset


def _lenet() -> ConvNet:
    torch.manual_seed(0)
    return ConvNet(load_preset("lenet5"))


def test_every_layer_described_with_matching_moments():
    model = _lenet().eval()
    x = torch.rand(16, 1, 28, 28)
    stats = collect_layer_stats(model, x, bins=21)
    assert isinstance(stats, LayerStats)
    names = [name for name, _ in model.named_layers()]
    assert list(stats.layer_names) == names
    # Recompute conv1's output by hand and compare.
    with torch.no_grad():
        conv1 = model.features.conv1(model.normalize(x))
    i = stats.index("conv1")
    assert np.isclose(stats.act_mean[i], conv1.mean().item(), atol=1e-5)
    assert np.isclose(stats.act_std[i], conv1.std(unbiased=False).item(), atol=1e-5)
    counts, edges = stats.histograms[i]
    assert counts.shape == (21,) and edges.shape == (22,)
    assert counts.sum() == conv1.numel()
    # ReLU outputs are never negative.
    relu = stats.histograms[stats.index("relu1")][1]
    assert relu[0] >= 0.0
    assert stats.grad_mean is None and stats.grad_std is None


def test_gradients_collected_and_parameter_grads_untouched():
    model = _lenet().train()
    x, y = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    stats = collect_layer_stats(model, x, with_grads=True, y=y)
    assert stats.grad_std is not None and stats.grad_std.shape == (len(stats),)
    assert np.all(np.isfinite(stats.grad_std))
    assert stats.grad_std[-1] > 0  # the loss gradient reaches the logits
    assert all(p.grad is None for p in model.parameters())
    assert model.training  # mode unchanged


def test_hooks_removed_after_collection():
    model = _lenet()
    collect_layer_stats(model, torch.rand(2, 1, 28, 28))
    assert all(not m._forward_hooks for m in model.modules())


def test_histogram_of_constant_tensor_is_one_bar():
    counts, edges = histogram(torch.full((10,), 3.0), bins=5)
    assert counts.sum() == 10 and edges[0] < 3.0 < edges[-1]


def test_plain_sequential_is_supported():
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    stats = collect_layer_stats(model, torch.randn(5, 4))
    assert stats.layer_names == ("0", "1", "2")
    assert np.all(np.abs(stats.act_mean[1]) <= 1.0)


def test_histograms_on_a_fixed_or_shared_range():
    model = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 4))
    x = torch.randn(50, 4)
    fixed = collect_layer_stats(model, x, bins=10, hist_range=(-1.0, 1.0))
    assert all(edges[0] == -1.0 and edges[-1] == 1.0 for _, edges in fixed.histograms)
    assert fixed.histograms[1][0].sum() == 200  # tanh outputs all inside [-1, 1]
    shared = collect_layer_stats(model, x, bins=10, hist_range="shared")
    firsts = {float(edges[0]) for _, edges in shared.histograms}
    assert len(firsts) == 1
    assert sum(int(c.sum()) for c, _ in shared.histograms) == 600
