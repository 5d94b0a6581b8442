"""Looking inside a trained ConvNet: filters, feature maps, top-activating
patches (Zeiler & Fergus), confusion matrix and the most confidently wrong
examples. Everything returns numpy arrays ready to display (uint8 tiles and a
shared colour scale), so the GUI only shows pictures.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .data import to_uint8_images
from .errors import DataError, ModelError
from .events import Job, Progress, Throttle
from .layers import eval_mode, named_layers
from .imaging import nearest_upscale, tile_images, to_display_uint8

# ----------------------------------------------------------------- layers


def feature_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of the model's named layers (ConvNet.features or a Sequential)."""
    return named_layers(model)


def conv_layer_names(model: nn.Module) -> list[str]:
    return [name for name, module in feature_layers(model) if isinstance(module, nn.Conv2d)]


def conv_weights(model: nn.Module) -> dict[str, np.ndarray]:
    """Every conv layer's weights as (out, in, k, k) float32 arrays (copied)."""
    return {name: module.weight.detach().cpu().float().numpy().copy()
            for name, module in feature_layers(model) if isinstance(module, nn.Conv2d)}


def _normalized(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    normalize = getattr(model, "normalize", None)
    return normalize(x) if normalize is not None else x


def layer_outputs(model: nn.Module, x: torch.Tensor, upto: str | None = None) -> dict[str, torch.Tensor]:
    """Every named layer's output tensor (batch axis kept), in order; stops after `upto`."""
    batch = x.unsqueeze(0) if x.dim() == 3 else x
    recorded: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        out = _normalized(model, batch)
        for name, module in feature_layers(model):
            out = module(out)
            recorded[name] = out.detach()
            if name == upto:
                break
    return recorded


def layer_activations(model: nn.Module, x: torch.Tensor, upto: str | None = None) -> dict[str, np.ndarray]:
    """Every layer's output for one input (C, H, W) or a batch (N, C, H, W) as numpy.

    For a single input the batch axis is dropped: conv outputs are (C, H, W),
    dense ones (F,). The arrays own fresh memory (each layer's output is a new
    tensor no later layer modifies), so nothing is copied twice."""
    single = x.dim() == 3
    return {name: (value[0] if single else value).cpu().float().numpy()
            for name, value in layer_outputs(model, x, upto).items()}


# ----------------------------------------------------------------- filters


@dataclass(frozen=True)
class FilterGrid:
    """One conv layer's filters prepared for display.

    tiles: (N, h, w) or (N, h, w, 3) uint8, all on one symmetric colour scale
    (mid-grey = 0, white = +scale, black = -scale); `columns` lays them out
    (per-input-channel mode puts one filter per row, one input channel per column)."""

    layer: str
    tiles: np.ndarray
    columns: int
    scale: float
    mode: str  # 'rgb', 'grey', 'mean' or 'per_input'
    shape: tuple[int, int, int, int]  # (out, in, k, k) of the weights

    def mosaic(self, pad: int = 1) -> np.ndarray:
        mosaic, _ = tile_images(self.tiles, self.columns, pad)
        return mosaic


FILTER_MODES = ("auto", "mean", "per_input")


def filter_grid(name: str, weights: np.ndarray, mode: str = "auto", upscale: int = 1,
                scale: float | None = None, max_inputs: int = 16) -> FilterGrid:
    """Filters (out, in, k, k) as tiles on a shared symmetric colour scale.

    'auto': first-layer style when the input has 1 or 3 channels (grey or RGB
    pictures), else the mean over input channels. 'mean': average over input
    channels. 'per_input': every (filter, input channel) pair, at most
    `max_inputs` input channels."""
    weights = np.asarray(weights, dtype=np.float32)
    if weights.ndim != 4:
        raise ModelError(f"Layer {name} has weights of shape {weights.shape}, not (out, in, k, k) filters.")
    out_c, in_c, kh, kw = weights.shape
    if mode == "auto":
        mode = "rgb" if in_c == 3 else "grey" if in_c == 1 else "mean"
    if mode == "rgb" and in_c == 3:
        values = weights.transpose(0, 2, 3, 1)  # (out, k, k, 3)
        columns = int(math.ceil(math.sqrt(out_c)))
    elif mode in ("grey", "mean") or in_c == 1:
        values = weights.mean(axis=1) if in_c > 1 else weights[:, 0]
        mode = "grey" if in_c == 1 else "mean"
        columns = int(math.ceil(math.sqrt(out_c)))
    elif mode == "per_input":
        shown = min(in_c, max_inputs)
        values = weights[:, :shown].reshape(out_c * shown, kh, kw)
        columns = shown
    else:
        raise ValueError(f"Unknown filter display mode '{mode}'.")
    bound = float(np.max(np.abs(values))) if scale is None else float(scale)
    tiles = to_display_uint8(values, symmetric=True, vmax=bound or 1.0)
    if upscale > 1:
        tiles = np.stack([nearest_upscale(t, upscale) for t in tiles])
    return FilterGrid(name, tiles, columns, bound, mode, (out_c, in_c, kh, kw))


def filter_grids(weights: dict[str, np.ndarray], mode: str = "auto", upscale: int = 1) -> list[FilterGrid]:
    """Every conv layer's filters (from `conv_weights` or a FiltersSnapshot)."""
    return [filter_grid(name, w, mode, upscale) for name, w in weights.items() if np.asarray(w).ndim == 4]


def filter_change(current: np.ndarray, initial: np.ndarray) -> tuple[np.ndarray, float]:
    """What training changed: (current - initial) and its size relative to the
    initial weights, ||current - initial|| / ||initial||."""
    current = np.asarray(current, dtype=np.float32)
    initial = np.asarray(initial, dtype=np.float32)
    if current.shape != initial.shape:
        raise ModelError(f"Filters of shape {current.shape} cannot be compared with {initial.shape}.")
    delta = current - initial
    norm = float(np.linalg.norm(initial))
    return delta, float(np.linalg.norm(delta)) / norm if norm > 0 else float("inf")


def colour_bar(scale: float, height: int = 12, width: int = 256) -> np.ndarray:
    """(height, width) uint8 legend of the symmetric filter scale: -scale .. +scale."""
    ramp = np.linspace(-scale, scale, width, dtype=np.float32)
    return np.repeat(to_display_uint8(ramp, symmetric=True, vmax=scale or 1.0)[None, :], height, axis=0)


# ----------------------------------------------------------------- feature maps


@dataclass(frozen=True)
class FeatureMaps:
    """One layer's output for one input, ready to display.

    maps: (C, H, W) uint8 (dense layers become one (1, F) strip padded to a
    near-square tile); raw: the float activations; vmin/vmax: the scale used."""

    layer: str
    maps: np.ndarray
    raw: np.ndarray
    vmin: float
    vmax: float
    spatial: bool


def _dense_as_square(values: np.ndarray) -> np.ndarray:
    side = int(math.ceil(math.sqrt(values.size)))
    padded = np.full(side * side, np.nan, dtype=np.float32)
    padded[:values.size] = values
    return padded.reshape(1, side, side)


def _scale_to_uint8(values: np.ndarray, low, high) -> np.ndarray:
    """(v - low) / (high - low) * 255, rounded, in three passes over the data
    (values are known to lie in [low, high], so no clipping pass is needed)."""
    low = np.asarray(low, dtype=np.float32)
    high = np.asarray(high, dtype=np.float32)
    gain = np.float32(255.0) / np.where(high > low, high - low, np.float32(1.0)).astype(np.float32)
    scaled = np.multiply(values, gain, dtype=np.float32)
    scaled += 0.5 - low * gain
    return scaled.astype(np.uint8)


def render_layer(name: str, raw: torch.Tensor | np.ndarray, per_map: bool = False) -> FeatureMaps:
    """One layer's output (C, H, W) or (F,) as uint8 maps: the hot path of the
    Activations panel for 224x224 inputs, so it makes few passes over the data
    (min and max are NaN/inf-aware for free: a non-finite value shows up in them)."""
    raw = raw.detach().cpu().float().numpy() if isinstance(raw, torch.Tensor) else np.asarray(raw, np.float32)
    spatial = raw.ndim == 3
    values = raw if spatial else _dense_as_square(raw.reshape(-1))
    low, high = values.min(), values.max()
    if not (np.isfinite(low) and np.isfinite(high)):
        finite = values[np.isfinite(values)]
        low = finite.min() if finite.size else np.float32(0.0)
        high = finite.max() if finite.size else np.float32(1.0)
        values = np.nan_to_num(values, nan=low, posinf=high, neginf=low)
    if per_map and spatial:
        flat = values.reshape(values.shape[0], -1)
        maps = _scale_to_uint8(flat, flat.min(axis=1, keepdims=True), flat.max(axis=1, keepdims=True))
        maps = maps.reshape(values.shape)
    else:
        maps = _scale_to_uint8(values, low, high)
    return FeatureMaps(name, maps, raw, float(low), float(high), spatial)


def render_feature_maps(activations: dict[str, np.ndarray | torch.Tensor], per_map: bool = False) -> list[FeatureMaps]:
    """uint8 maps for every layer. One colour scale per layer (so weak channels
    look weak), or per map (`per_map`) to see the pattern in every channel."""
    return [render_layer(name, torch.as_tensor(raw), per_map) for name, raw in activations.items()]


def feature_maps_for(model: nn.Module, image: torch.Tensor, per_map: bool = False) -> list[FeatureMaps]:
    """Every layer's feature maps of one (C, H, W) [0, 1] input, rendering-ready."""
    return [render_layer(name, out[0], per_map) for name, out in layer_outputs(model, image).items()]


# ----------------------------------------------------------------- inputs


def image_to_input(image: np.ndarray, input_shape: tuple[int, ...]) -> torch.Tensor:
    """Any (H, W) / (H, W, 3) uint8 picture -> the model's (C, H, W) float input in [0, 1]
    (resized with antialiasing, converted to grey or RGB as the model needs)."""
    from PIL import Image

    array = np.asarray(image)
    if array.ndim not in (2, 3) or array.size == 0:
        raise DataError(f"Expected an image, got an array of shape {array.shape}.")
    if array.dtype != np.uint8:
        array = to_display_uint8(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 3:
        array = array[:, :, :3]
    if len(input_shape) != 3:
        raise DataError("This model does not take images.")
    channels, height, width = input_shape
    picture = Image.fromarray(array)
    picture = picture.convert("L" if channels == 1 else "RGB")
    picture = picture.resize((width, height), Image.Resampling.LANCZOS)
    data = np.asarray(picture, dtype=np.float32) / 255.0
    data = data[None] if channels == 1 else data.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(data))


def drawn_digit_to_input(drawing: np.ndarray, input_shape: tuple[int, ...]) -> torch.Tensor:
    """A white-on-black mouse drawing -> an MNIST-like input: crop the strokes,
    fit them in a box of 20/28 of the image and centre them by mass, like MNIST."""
    from PIL import Image

    array = np.asarray(drawing, dtype=np.float32)
    if array.ndim == 3:
        array = array.mean(axis=2)
    if array.max() <= 0:
        raise DataError("The canvas is empty: draw a digit first.")
    channels, height, width = input_shape
    ys, xs = np.nonzero(array > 0.05 * array.max())
    crop = array[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    box = max(1, int(round(min(height, width) * 20 / 28)))
    factor = box / max(crop.shape)
    new_h, new_w = max(1, int(round(crop.shape[0] * factor))), max(1, int(round(crop.shape[1] * factor)))
    scaled = Image.fromarray(to_display_uint8(crop, vmin=0.0)).resize((new_w, new_h), Image.Resampling.LANCZOS)
    small = np.asarray(scaled, dtype=np.float32) / 255.0
    canvas = np.zeros((height, width), dtype=np.float32)
    total = small.sum() or 1.0
    cy = float((small.sum(axis=1) * np.arange(new_h)).sum() / total)
    cx = float((small.sum(axis=0) * np.arange(new_w)).sum() / total)
    top = int(round(height / 2 - cy - 0.5))
    left = int(round(width / 2 - cx - 0.5))
    top = min(max(top, 0), height - new_h)
    left = min(max(left, 0), width - new_w)
    canvas[top:top + new_h, left:left + new_w] = small
    tensor = torch.from_numpy(canvas)[None]
    return tensor.repeat(channels, 1, 1) if channels > 1 else tensor


def input_to_display(x: torch.Tensor) -> np.ndarray:
    """(C, H, W) [0, 1] input -> (H, W, 3) uint8 for ctx.set_input_image and views."""
    image = to_uint8_images(x.unsqueeze(0))[0]
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image


# ----------------------------------------------------------------- top patches


@dataclass(frozen=True)
class TopPatches:
    """Top-k activating dataset patches of every channel of one layer.

    patches: (channels, k, rf, rf, C) uint8 crops of the unit's receptive field;
    values: (channels, k) activations; image_index, y, x: (channels, k) where the
    maximum was found (unit coordinates in the layer's output)."""

    layer: str
    patches: np.ndarray
    values: np.ndarray
    image_index: np.ndarray
    unit_y: np.ndarray
    unit_x: np.ndarray
    receptive_field: int
    split: str

    @property
    def channels(self) -> int:
        return int(self.patches.shape[0])

    def channel_tiles(self, channel: int) -> np.ndarray:
        return self.patches[channel]

    def all_channels_mosaic(self, channels: list[int] | None = None, per_channel: int | None = None,
                            upscale: int = 1) -> tuple[np.ndarray, int]:
        """One block per channel (its top patches tiled), blocks tiled into a grid.
        Returns (tiles of the blocks, columns) for ImageGrid / tile_images."""
        channels = list(range(self.channels)) if channels is None else channels
        k = self.patches.shape[1] if per_channel is None else min(per_channel, self.patches.shape[1])
        side = int(math.ceil(math.sqrt(k)))
        blocks = []
        for channel in channels:
            block, _ = tile_images(self.patches[channel, :k], side, pad=1, pad_value=255)
            blocks.append(nearest_upscale(block, upscale))
        return np.stack(blocks), int(math.ceil(math.sqrt(len(blocks))))


def _layer_geometry(spec, layer: str) -> tuple[int, int, float, tuple[int, ...]]:
    from .spec import analyze

    for info in analyze(spec):
        if info.name == layer:
            if info.error or info.out_shape is None:
                raise ModelError(f"Layer {layer} cannot be analysed: {info.error}")
            if len(info.out_shape) != 3 or info.jump is None:
                raise ModelError(f"Layer {layer} has no spatial units (it comes after Flatten); "
                                 "choose a conv, activation or pooling layer.")
            return int(info.receptive_field), int(info.jump), float(info.start), tuple(info.out_shape)
    raise ModelError(f"The network has no layer named {layer}.")


def crop_receptive_field(images: torch.Tensor, unit_y: np.ndarray, unit_x: np.ndarray, rf: int, jump: int,
                         start: float) -> torch.Tensor:
    """Crop the rf x rf input window each unit sees (zero padding outside the image).

    Unit (i, j) is centred at input coordinate start + (i, j) * jump, where pixel p
    spans [p, p + 1) (Dumoulin & Visin's bookkeeping)."""
    n, c, h, w = images.shape
    pad = rf
    padded = torch.zeros(n, c, h + 2 * pad, w + 2 * pad, dtype=images.dtype)
    padded[:, :, pad:pad + h, pad:pad + w] = images
    crops = torch.empty(n, c, rf, rf, dtype=images.dtype)
    for i in range(n):
        top = int(math.floor(start + unit_y[i] * jump - rf / 2 + 0.5)) + pad
        left = int(math.floor(start + unit_x[i] * jump - rf / 2 + 0.5)) + pad
        top = min(max(top, 0), h + 2 * pad - rf)
        left = min(max(left, 0), w + 2 * pad - rf)
        crops[i] = padded[i, :, top:top + rf, left:left + rf]
    return crops


def top_patches_job(model: nn.Module, images: torch.Tensor, layer: str, k: int = 9, batch_size: int = 256,
                    split: str = "train", spec=None) -> Job:
    """Find, for every channel of `layer`, the k images whose strongest unit fires
    most, and crop that unit's receptive field (one patch per image, as in
    Zeiler & Fergus). Yields Progress; returns TopPatches."""
    spec = spec if spec is not None else getattr(model, "spec", None)
    if spec is None:
        raise ModelError("Top patches need the network's spec to know receptive fields.")
    rf, jump, start, out_shape = _layer_geometry(spec, layer)
    if len(images) == 0:
        raise DataError("The dataset split is empty.")
    channels, out_h, out_w = out_shape
    k = max(1, min(k, len(images)))
    names = [name for name, _ in feature_layers(model)]
    stop_at = names.index(layer)
    layers = [module for _, module in feature_layers(model)][:stop_at + 1]
    best_values = torch.full((channels, 0), -math.inf)
    best_index = torch.zeros((channels, 0), dtype=torch.int64)
    best_position = torch.zeros((channels, 0), dtype=torch.int64)
    throttle = Throttle()
    with eval_mode(model):
        with torch.no_grad():
            for first in range(0, len(images), batch_size):
                x = images[first:first + batch_size]
                out = _normalized(model, x)
                for module in layers:
                    out = module(out)
                flat = out.reshape(out.shape[0], channels, -1)  # (B, C, H*W)
                values, positions = flat.max(dim=2)  # strongest unit per image and channel
                index = torch.arange(first, first + len(x)).expand(channels, -1)
                all_values = torch.cat([best_values, values.T], dim=1)
                all_index = torch.cat([best_index, index], dim=1)
                all_position = torch.cat([best_position, positions.T], dim=1)
                keep = min(k, all_values.shape[1])
                best_values, order = all_values.topk(keep, dim=1)
                best_index = all_index.gather(1, order)
                best_position = all_position.gather(1, order)
                done = first + len(x)
                if throttle.ready(force=done >= len(images)):
                    yield Progress(done, len(images), f"Scanning {done}/{len(images)} images for {layer}")
    unit_y = (best_position // out_w).numpy()
    unit_x = (best_position % out_w).numpy()
    flat_index = best_index.numpy().reshape(-1)
    crops = crop_receptive_field(images[torch.from_numpy(flat_index)], unit_y.reshape(-1), unit_x.reshape(-1),
                                 rf, jump, start)
    patches = to_uint8_images(crops).reshape(channels, best_index.shape[1], rf, rf, images.shape[1])
    return TopPatches(layer, patches, best_values.numpy().copy(), best_index.numpy().copy(), unit_y.copy(),
                      unit_x.copy(), rf, split)


def spatial_layer_names(model: nn.Module) -> list[str]:
    """Layers whose units have a receptive field (everything before Flatten)."""
    from .spec import analyze

    spec = getattr(model, "spec", None)
    if spec is None:
        return []
    return [info.name for info in analyze(spec)
            if info.out_shape is not None and len(info.out_shape) == 3 and info.jump is not None]


# ----------------------------------------------------------------- mistakes


@dataclass(frozen=True)
class MistakesResult:
    """Validation-set errors: confusion matrix (rows = true, columns = predicted)
    and the most confidently wrong examples, most confident first."""

    confusion: np.ndarray  # (K, K) int64
    class_names: tuple[str, ...]
    accuracy: float
    images: np.ndarray  # (M, H, W, C) uint8 of the wrong examples shown
    indices: np.ndarray  # (M,) index into the split
    true_labels: np.ndarray  # (M,)
    predicted: np.ndarray  # (M,)
    confidence: np.ndarray  # (M,) softmax probability of the (wrong) prediction
    true_probability: np.ndarray  # (M,) probability given to the true class
    split: str


def predict_probabilities(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """Softmax probabilities (N, K) in eval mode (batch norm / dropout as at test time)."""
    with eval_mode(model):
        with torch.no_grad():
            chunks = [torch.softmax(model(x[i:i + batch_size]), dim=1) for i in range(0, len(x), batch_size)]
    return torch.cat(chunks).numpy()


def confusion_matrix(true_labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) counts: row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(true_labels, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return matrix


def confident_mistakes(probabilities: np.ndarray, true_labels: np.ndarray, count: int) -> np.ndarray:
    """Indices of wrong predictions, most confident (highest wrong probability) first."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != true_labels)
    confidence = probabilities[wrong, predicted[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")][:count]


def mistakes_job(model: nn.Module, x: torch.Tensor, y: torch.Tensor, class_names: list[str], count: int = 32,
                 split: str = "val", batch_size: int = 512) -> Job:
    """Evaluate a split; yields Progress, returns MistakesResult."""
    if len(x) == 0:
        raise DataError("The validation split is empty.")
    num_classes = len(class_names)
    chunks = []
    throttle = Throttle()
    with eval_mode(model):
        with torch.no_grad():
            for first in range(0, len(x), batch_size):
                chunks.append(torch.softmax(model(x[first:first + batch_size]), dim=1))
                done = min(first + batch_size, len(x))
                if throttle.ready(force=done >= len(x)):
                    yield Progress(done, len(x), f"Classifying {done}/{len(x)} {split} images")
    probabilities = torch.cat(chunks).numpy()
    if probabilities.shape[1] != num_classes:
        raise ModelError(f"The model has {probabilities.shape[1]} outputs but the dataset has {num_classes} classes.")
    labels = y.numpy()
    predicted = probabilities.argmax(axis=1)
    chosen = confident_mistakes(probabilities, labels, count)
    return MistakesResult(
        confusion=confusion_matrix(labels, predicted, num_classes),
        class_names=tuple(class_names),
        accuracy=float((predicted == labels).mean()),
        images=to_uint8_images(x[torch.from_numpy(chosen)]) if len(chosen) else
        np.zeros((0, *x.shape[2:], x.shape[1]), dtype=np.uint8),
        indices=chosen,
        true_labels=labels[chosen],
        predicted=predicted[chosen],
        confidence=probabilities[chosen, predicted[chosen]],
        true_probability=probabilities[chosen, labels[chosen]],
        split=split,
    )


def run_mistakes(run, count: int = 32) -> Job:
    """mistakes_job on the validation split of a TrainedRun's dataset."""
    from .data import load_dataset

    data = load_dataset(run.dataset)
    _check_shapes(run, data)
    return (yield from mistakes_job(run.model, data.val_x, data.val_y, data.class_names, count, "val"))


def run_top_patches(run, layer: str, k: int = 9, split: str = "train", limit: int | None = None) -> Job:
    """top_patches_job over a TrainedRun's dataset split (first `limit` images)."""
    from .data import load_dataset

    data = load_dataset(run.dataset)
    _check_shapes(run, data)
    x, _ = data.split(split)
    if limit is not None:
        x = x[:limit]
    return (yield from top_patches_job(run.model, x, layer, k, split=split))


def _check_shapes(run, data) -> None:
    if tuple(data.input_shape) != tuple(run.spec.input_shape):
        raise DataError(f"The model takes {tuple(run.spec.input_shape)} inputs but dataset '{data.name}' has "
                        f"{tuple(data.input_shape)} images.")
