"""The Filters and Activations views of a pretrained or loaded ImageNet network (the embedded
EfficientNet-Lite0, a cached torchvision/timm one, or the user's own 'user:N'): every
convolution's filters by its real module path, and one layer's feature maps of a photo.

Jobs take a model name and load it in their own thread (engine.pretrained.as_classifier).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .errors import DataError, ModelError
from .events import Progress
from .introspect import FeatureMaps, render_layer
from .layers import own_thread_forward_hook
from .pretrained import as_classifier

MAX_MAPS = 256  # a layer with more channels shows its first MAX_MAPS maps (conv_head has 1280)


@dataclass(frozen=True)
class NetworkFilters:
    model: str
    label: str
    weights: dict  # module path -> (out, in, k, k) float32, in forward order; the first is the RGB layer

    @property
    def first_layer(self) -> str:
        return next(iter(self.weights))


@dataclass(frozen=True)
class NetworkMaps:
    model: str
    label: str
    layer: str
    crop: np.ndarray  # (S, S, 3) uint8: the input as the network saw it
    maps: FeatureMaps  # the shown maps (at most MAX_MAPS)
    channels: int  # all channels of the layer
    top1: tuple  # (index, name, probability)
    probabilities: np.ndarray | None = None  # (classes,) softmax of the same forward pass


def conv_filters(net: nn.Module) -> dict[str, np.ndarray]:
    """Every Conv2d's weights by module path, (out, in/groups, k, k) float32 copies, module order
    (the first convolution, which sees the RGB pixels, comes first)."""
    found = {name: module.weight.detach().cpu().float().numpy().copy()
             for name, module in net.named_modules() if isinstance(module, nn.Conv2d) and name}
    if not found:
        raise ModelError("This network has no convolutional layers, so it has no filters to show.")
    return found


def network_filters_job(model):
    """Job: load `model` and return its NetworkFilters."""
    yield Progress(0, 1, f"Loading {model}…")
    classifier = as_classifier(model)
    result = NetworkFilters(classifier.name, classifier.label, conv_filters(classifier.net))
    yield Progress(1, 1, f"{classifier.label}: {len(result.weights)} convolutional layers")
    return result


def network_layers_job(model):
    """Job: [(module path, (C, H, W))] of the layers with feature maps (engine.layers.feature_map_layers)."""
    from .layers import feature_map_layers

    yield Progress(0, 1, f"Loading {model}…")
    classifier = as_classifier(model)
    layers = feature_map_layers(classifier.net, classifier.input_size)
    yield Progress(1, 1, f"{classifier.label}: {len(layers)} layers with feature maps")
    return classifier.name, classifier.label, layers


def network_maps(classifier, image: np.ndarray, layer: str, per_map: bool = False) -> NetworkMaps:
    """One layer's feature maps of a photo (H, W, 3) uint8, as the network sees it (resize, crop)."""
    modules = dict(classifier.net.named_modules())
    if layer not in modules or not layer:
        raise DataError(f"{classifier.label} has no layer '{layer}'.")
    x01 = classifier.preprocess(image)
    captured: list[torch.Tensor] = []
    # The model is shared: only this thread's forward pass (engine.layers.own_thread_forward_hook).
    handle = own_thread_forward_hook(modules[layer], lambda _m, _i, out: captured.append(out.detach()))
    try:
        with torch.no_grad():
            logits = classifier.logits(x01)
    finally:
        handle.remove()
    if not captured or captured[0].dim() != 4:
        raise DataError(f"Layer {layer} of {classifier.label} does not output feature maps.")
    out = captured[0][0]
    channels = int(out.shape[0])
    maps = render_layer(layer, out[:MAX_MAPS], per_map)
    probabilities = torch.softmax(logits[0], 0)
    index = int(probabilities.argmax())
    names = classifier.class_names()
    return NetworkMaps(classifier.name, classifier.label, layer, classifier.to_uint8(x01), maps, channels,
                       (index, names[index], float(probabilities[index])), probabilities.cpu().numpy())


def network_maps_job(model, image: np.ndarray, layer: str, per_map: bool = False):
    """Job: load `model` and return network_maps of `image` at `layer`."""
    yield Progress(0, 1, f"Loading {model}…")
    classifier = as_classifier(model)
    result = network_maps(classifier, image, layer, per_map)
    yield Progress(1, 1, f"{classifier.label}, {layer}: {result.channels} maps")
    return result
