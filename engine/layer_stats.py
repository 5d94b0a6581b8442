"""Per-layer activation (and gradient) statistics for one batch.

The trainer calls `collect_layer_stats` at epoch ends and yields the result in a
`LayerStatsSnapshot(step, epoch, stats)` event; the init lab and the Layer
statistics panel draw the same numbers: mean / std and a histogram of every
layer's output, layer by layer, as in the lecture's weight-initialization demo.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .layers import own_thread_forward_hook


@dataclass(frozen=True)
class LayerStats:
    """Statistics of every layer's output for one batch (all numpy, CPU, copied).

    `histograms[i]` is (counts, edges) with len(edges) == len(counts) + 1.
    Gradient arrays are None unless collected with `with_grads=True`; they hold
    the mean / std of d loss / d (layer output)."""

    layer_names: tuple[str, ...]
    act_mean: np.ndarray  # (L,)
    act_std: np.ndarray  # (L,)
    histograms: tuple[tuple[np.ndarray, np.ndarray], ...]
    grad_mean: np.ndarray | None = None  # (L,)
    grad_std: np.ndarray | None = None  # (L,)
    grad_histograms: tuple[tuple[np.ndarray, np.ndarray], ...] | None = None
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.layer_names)

    def index(self, name: str) -> int:
        return self.layer_names.index(name)


@dataclass(frozen=True)
class LayerStatsSnapshot:
    """Event: layer statistics of the model at a point of training."""

    step: int
    epoch: int
    stats: LayerStats


def observed_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The layers whose outputs are described: the children of a ConvNet's
    `features`, of a plain nn.Sequential, or else every leaf module."""
    from .layers import named_layers

    return named_layers(model, fallback="leaves")


def histogram(values: torch.Tensor, bins: int,
              value_range: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Counts and edges of a flattened tensor over its own range, or over
    `value_range` (values outside it are not counted). A single value gets a
    small symmetric range so the bar is still drawn."""
    flat = values.detach().float().flatten()
    if value_range is not None:
        low, high = float(value_range[0]), float(value_range[1])
        if high > low:
            counts = torch.histc(flat, bins=bins, min=low, max=high)
            return counts.to(torch.int64).numpy().copy(), np.linspace(low, high, bins + 1)
    low, high = float(flat.min()), float(flat.max())
    if not np.isfinite(low) or not np.isfinite(high):
        flat = flat[torch.isfinite(flat)]
        if flat.numel() == 0:
            return np.zeros(bins, dtype=np.int64), np.linspace(-1.0, 1.0, bins + 1)
        low, high = float(flat.min()), float(flat.max())
    if high <= low:
        pad = max(abs(low) * 1e-3, 1e-6)
        low, high = low - pad, high + pad
    counts = torch.histc(flat, bins=bins, min=low, max=high)
    return counts.to(torch.int64).numpy().copy(), np.linspace(low, high, bins + 1)


def _moments(values: list[torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    means = np.array([float(v.float().mean()) for v in values], dtype=np.float64)
    stds = np.array([float(v.float().std(unbiased=False)) for v in values], dtype=np.float64)
    return means, stds


SATURATION_LEVEL = 0.99  # |a| above this counts as saturated (a tanh unit's gradient 1 - a^2 < 0.02)


@contextmanager
def batch_statistics(model: nn.Module):
    """Inside: every BatchNorm normalizes with the batch's own mean and variance, as
    training sees it, while its running statistics are restored afterwards (a probe
    must not change the model). Other layers (dropout) keep their mode. In eval mode
    an untrained network's BatchNorm would use its initial running statistics
    (mean 0, var 1) and describe a network that training never sees."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m, m.training, {k: v.clone() for k, v in m.named_buffers(recurse=False)}) for m in norms]
    try:
        for m in norms:
            m.train()
        yield
    finally:
        with torch.no_grad():
            for m, was_training, buffers in saved:
                m.train(was_training)
                for name, value in buffers.items():
                    getattr(m, name).copy_(value)


def collect_layer_stats(model: nn.Module, x: torch.Tensor, bins: int = 41, with_grads: bool = False,
                        y: torch.Tensor | None = None,
                        hist_range: tuple[float, float] | str | None = None,
                        batch_stats: bool = False,
                        layers: list[tuple[str, nn.Module]] | None = None) -> LayerStats:
    """Run one forward pass on `x` and describe every layer's output.

    with_grads=True also runs a backward pass of the cross-entropy loss (against
    `y`, or the model's own predictions when no labels are given) and describes
    the gradient arriving at each layer's output. `hist_range` puts every
    activation histogram on one x range: a (low, high) pair, or "shared" for
    the smallest and largest value over all layers (None: each layer its own
    range). batch_stats=True measures BatchNorm layers with the batch's own statistics, as
    training sees them (see `batch_statistics`). The model's parameter
    gradients are left as they were, and train/eval mode is not changed.
    `extra['saturated_share']` is each layer's share of outputs with |a| > 0.99. `layers`: the
    (name, module) pairs to describe (default: observed_layers)."""
    layers = observed_layers(model) if layers is None else layers
    outputs: dict[str, torch.Tensor] = {}
    handles = []

    def make_hook(name: str):
        def hook(_module, _inputs, output):
            if isinstance(output, torch.Tensor):
                if with_grads and output.requires_grad:
                    output.retain_grad()
                outputs[name] = output

        return hook

    for name, module in layers:
        handles.append(own_thread_forward_hook(module, make_hook(name)))  # the model may be shared
    saved_grads = ({id(p): (None if p.grad is None else p.grad.clone()) for p in model.parameters()}
                   if with_grads else {})
    mode = batch_statistics(model) if batch_stats else _no_change()
    try:
        with mode:
            _forward(model, x, with_grads, y)
    finally:
        for handle in handles:
            handle.remove()
        if with_grads:
            for p in model.parameters():
                p.grad = saved_grads[id(p)]
    return _describe(layers, outputs, bins, with_grads, hist_range)


@contextmanager
def _no_change():
    yield


def _forward(model: nn.Module, x: torch.Tensor, with_grads: bool, y: torch.Tensor | None) -> None:
    if with_grads:
        with torch.enable_grad():
            logits = model(x)
            target = y if y is not None else logits.detach().argmax(dim=1)
            loss = nn.functional.cross_entropy(logits, target)
            loss.backward()
    else:
        with torch.no_grad():
            model(x)


def _describe(layers, outputs: dict, bins: int, with_grads: bool, hist_range) -> LayerStats:
    names = tuple(name for name, _ in layers if name in outputs)
    acts = [outputs[name].detach() for name in names]
    act_mean, act_std = _moments(acts)
    if hist_range == "shared" and acts:
        finite = [a[torch.isfinite(a)] for a in acts]
        hist_range = (min(float(a.min()) for a in finite if a.numel()),
                      max(float(a.max()) for a in finite if a.numel()))
    hists = tuple(histogram(a, bins, hist_range) for a in acts)
    grad_mean = grad_std = grad_hists = None
    if with_grads:
        grads = [outputs[name].grad if outputs[name].grad is not None else torch.zeros_like(outputs[name])
                 for name in names]
        grad_mean, grad_std = _moments(grads)
        grad_hists = tuple(histogram(g, bins) for g in grads)
    saturated = np.array([float((a.abs() > SATURATION_LEVEL).float().mean()) for a in acts])
    return LayerStats(names, act_mean, act_std, hists, grad_mean, grad_std, grad_hists,
                      extra={"saturated_share": saturated})


def network_layer_stats_job(model_name, folder=None, limit: int = 32, with_grads: bool = True):
    """Job: statistics of a pretrained or loaded ImageNet network's blocks (the stem, each
    top-level block, the head) over `limit` photos of `folder` (the bundled photos when None),
    with_grads: also the gradients of the cross-entropy against its own predictions. `model_name`
    may also be a loaded classifier. Returns a LayerStatsSnapshot."""
    from .events import Progress
    from .layers import feature_map_layers
    from .pretrained import as_classifier
    from .top_index import bundled_sources, folder_sources

    yield Progress(0, 3, "Loading the network")
    classifier = as_classifier(model_name)
    yield Progress(1, 3, "Reading the photos")
    sources = bundled_sources(1) if folder is None else folder_sources(folder)[0]
    images = [image for image in (source.load() for source in sources[:limit]) if image is not None]
    if not images:
        from .errors import DataError

        raise DataError("None of the photos could be read.")
    x = torch.cat([classifier.preprocess(image) for image in images]).requires_grad_(with_grads)  # frozen weights
    names = [name for name, _shape in feature_map_layers(classifier.net, classifier.input_size)
             if name.count(".") == 0 or (name.count(".") == 1 and name.split(".")[1].isdigit())]
    names = [name for name in names if not any(other.startswith(name + ".") for other in names)]  # not 'blocks'
    blocks = [(name, classifier.net.get_submodule(name)) for name in names]  # hooked inside classifier.model
    yield Progress(2, 3, f"Measuring {len(blocks)} blocks on {len(images)} photos")
    stats = collect_layer_stats(classifier.model, x, with_grads=with_grads, layers=blocks)
    return LayerStatsSnapshot(-1, -1, stats)
