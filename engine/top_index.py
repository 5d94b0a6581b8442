"""Top-activating image patches of a pretrained or loaded classifier, over an image folder
(the Deep Visualization Toolbox's find-max-activations step, Zeiler & Fergus's top-9 figure).

One pass over the folder keeps, for every channel of a layer, the k images (and positions)
where that channel fired most. The index is cached on disk under the folder's fingerprint
(file names, sizes and times, the model and the layer), so a second look is instant. Patches
are cropped to each unit's receptive field, found by the gradient footprint of the unit in a
"linearized" copy of the network (every weight positive, every nonlinearity and max pool
replaced by a linear stand-in): any pixel that can influence the unit gets a positive
gradient there, whatever the graph (torchvision, timm). Without a folder, the bundled photos
and their crops and flips serve.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Generator

import numpy as np
import torch
from torch import nn

from .errors import DataError, ModelError
from .events import Progress
from .layers import own_thread_forward_hook

CACHE_VERSION = 1
BUNDLED_VARIANTS = 6  # views (crops, flips) of each bundled photo when no folder is given


@dataclass
class TopIndex:
    """values/images/ys/xs are (C, k): channel c's k strongest units, strongest first."""

    model_id: str
    layer: str
    top_k: int
    sources: list[str]  # what each image index is: a file path, or 'bundled:NAME#view'
    values: np.ndarray
    images: np.ndarray
    ys: np.ndarray
    xs: np.ndarray
    map_size: tuple[int, int]
    input_size: int
    seconds: float = 0.0
    from_cache: bool = False
    skipped: dict = field(default_factory=dict)  # {reason: count} of folder files not used

    @property
    def channels(self) -> int:
        return int(self.values.shape[0])

    def units(self, channel: int) -> list[tuple[int, int, int, float]]:
        """[(image index, y, x, activation)] of one channel, strongest first."""
        if not 0 <= channel < self.channels:
            raise ModelError(f"Layer '{self.layer}' has {self.channels} channels; there is no channel {channel}.")
        keep = np.isfinite(self.values[channel])
        return [(int(i), int(y), int(x), float(v)) for i, y, x, v, k in
                zip(self.images[channel], self.ys[channel], self.xs[channel], self.values[channel], keep) if k]


@dataclass(frozen=True)
class ImageSource:
    name: str  # shown to the user and stored in the index
    load: Callable[[], np.ndarray | None]  # (H, W, 3) uint8, or None when the file turned out unreadable
    stamp: str  # what changes when the image changes (size and time of a file)


# ---------------------------------------------------------------- sources
def folder_sources(folder: str | Path, max_side: int = 1024) -> tuple[list[ImageSource], object]:
    """Every image under `folder` (flat or in sub-folders), with the scan that counts skips."""
    from .folders import read_scanned_image, scan_image_folder

    scan = scan_image_folder(folder, min_classes=1, loose_files=True)
    sources = []
    for path, _label in scan.files:
        info = path.stat()
        sources.append(ImageSource(str(path), (lambda p=path: read_scanned_image(scan, p, max_side=max_side)),
                                   f"{info.st_size}:{info.st_mtime_ns}"))
    return sources, scan


def bundled_sources(views: int = BUNDLED_VARIANTS) -> list[ImageSource]:
    """The bundled photos, each as `views` crops and flips (the first view is the whole photo)."""
    from .images import bundled_photos
    from .transfer.demo import photo_variants

    sources = []
    for name, loader in bundled_photos().items():
        for view in range(views):
            def load(loader=loader, view=view, name=name):
                return photo_variants(loader(), views, seed=sum(map(ord, name)))[view]
            sources.append(ImageSource(f"bundled:{name}#{view}", load, "bundled"))
    return sources


# ---------------------------------------------------------------- cache
def cache_folder() -> Path:
    """CONVSCOPE_CACHE_DIR, else the user's cache folder (XDG_CACHE_HOME or ~/.cache)/convscope."""
    root = os.environ.get("CONVSCOPE_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") \
        / "convscope"
    return Path(root) / "top_index"


def fingerprint(model_id: str, layer: str, top_k: int, sources: list[ImageSource]) -> str:
    digest = hashlib.sha256(json.dumps([CACHE_VERSION, model_id, layer, top_k]).encode())
    for source in sources:
        digest.update(f"\n{source.name}\t{source.stamp}".encode())
    return digest.hexdigest()[:32]


def _save(index: TopIndex, path: Path) -> None:
    from .fileio import atomic_write

    meta = {"model_id": index.model_id, "layer": index.layer, "top_k": index.top_k, "sources": index.sources,
            "map_size": list(index.map_size), "input_size": index.input_size, "skipped": index.skipped}
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp) -> None:
        with open(tmp, "wb") as handle:  # a file object: given a name, numpy would add '.npz' to it
            np.savez_compressed(handle, meta=np.array(json.dumps(meta)), values=index.values, images=index.images,
                                ys=index.ys, xs=index.xs)

    atomic_write(path, write)


def _load(path: Path) -> TopIndex | None:
    """The cached index, or None if missing or unreadable (then it is rebuilt)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            return TopIndex(meta["model_id"], meta["layer"], int(meta["top_k"]), list(meta["sources"]),
                            data["values"], data["images"], data["ys"], data["xs"], tuple(meta["map_size"]),
                            int(meta["input_size"]), from_cache=True, skipped=dict(meta.get("skipped", {})))
    except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile):  # damaged: rebuild it
        return None


# ---------------------------------------------------------------- the pass
class _Enough(Exception):
    """Raised by the layer hook: nothing after the indexed layer needs computing."""


def model_id(classifier) -> str:
    return str(getattr(classifier, "name", type(classifier).__name__))


def index_job(classifier, layer: str, folder: str | Path | None = None, top_k: int = 9, batch_size: int = 16,
              use_cache: bool = True) -> Generator[Progress, None, TopIndex]:
    """Job: the top-k index of every channel of `layer` (a module path of classifier.net, e.g.
    'blocks.3.0.conv_pw') over `folder`'s images (the bundled photos and views when None)."""
    started = time.perf_counter()
    try:
        module = classifier.net.get_submodule(layer)
    except AttributeError:
        raise ModelError(f"The model has no layer '{layer}'.") from None
    scan = None
    if folder is None:
        sources = bundled_sources()
    else:
        sources, scan = folder_sources(folder, max_side=max(classifier.resize_size * 2, 512))
    key = fingerprint(model_id(classifier), layer, top_k, sources)
    cache_path = cache_folder() / f"{key}.npz"
    if use_cache and cache_path.is_file():
        cached = _load(cache_path)
        if cached is not None:
            cached.seconds = time.perf_counter() - started
            return cached
    captured: list[torch.Tensor] = []

    def hook(_module, _inputs, output):
        captured.append(output.detach())
        raise _Enough

    values = images = ys = xs = None
    names: list[str] = []
    map_size = (0, 0)
    handle = own_thread_forward_hook(module, hook)  # other jobs may run this network meanwhile
    try:
        for start in range(0, len(sources), batch_size):
            batch, batch_names = [], []
            for source in sources[start:start + batch_size]:
                image = source.load()
                if image is not None:
                    batch.append(classifier.preprocess(image))
                    batch_names.append(source.name)
            yield Progress(min(start + batch_size, len(sources)), len(sources), "Indexing images")
            if not batch:
                continue
            captured.clear()
            with torch.no_grad():
                try:
                    classifier.model(torch.cat(batch).to(classifier.device))
                except _Enough:
                    pass
            if not captured or captured[0].dim() != 4:
                raise ModelError(f"Layer '{layer}' does not give (N, C, H, W) feature maps to index.")
            maps = captured[0].float().cpu()
            map_size = tuple(maps.shape[-2:])
            best, where = maps.flatten(2).max(dim=2)  # (B, C): each image's strongest unit per channel
            offset = len(names)
            names.extend(batch_names)
            candidates = torch.cat([best.T] if values is None else [values, best.T], dim=1)
            image_ids = torch.arange(offset, offset + len(batch_names)).expand(best.shape[1], -1)
            candidate_images = torch.cat([image_ids] if images is None else [images, image_ids], dim=1)
            candidate_where = torch.cat([where.T] if ys is None else [ys * map_size[1] + xs, where.T], dim=1)
            values, order = candidates.topk(min(top_k, candidates.shape[1]), dim=1)
            images = candidate_images.gather(1, order)
            flat = candidate_where.gather(1, order)
            ys, xs = flat // map_size[1], flat % map_size[1]
    finally:
        handle.remove()
    if values is None:
        skipped = "" if scan is None else "; skipped " + ", ".join(
            f"{count} {reason}" for reason, count in scan.skipped_counts().items())
        raise DataError(f"None of the {len(sources)} image files could be read, so there is nothing to index"
                        f"{skipped}.")
    index = TopIndex(model_id(classifier), layer, top_k, names, values.numpy().astype(np.float32),
                     images.numpy().astype(np.int32), ys.numpy().astype(np.int32), xs.numpy().astype(np.int32),
                     map_size, int(classifier.input_size), time.perf_counter() - started, False,
                     scan.skipped_counts() if scan is not None else {})
    if use_cache:
        try:
            _save(index, cache_path)
        except OSError:
            pass  # a read-only cache folder costs speed next time, nothing else
    return index


# ---------------------------------------------------------------- receptive fields
_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
                nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Sigmoid, nn.Tanh, nn.Softplus)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d, nn.Dropout, nn.Dropout2d)


def _is_activation(module: nn.Module) -> bool:
    return isinstance(module, _ACTIVATIONS) or type(module).__module__.startswith("timm.layers.activations")


def _linearized(net: nn.Module) -> nn.Module:
    """A copy where any pixel that can influence a unit has a positive gradient: positive
    weights (each a 1 / fan-in), no biases, activations and normalization layers as identities,
    max pooling as average pooling. With an all-ones input every value stays positive."""
    linear = copy.deepcopy(net).eval()
    for parent in list(linear.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.MaxPool2d):
                setattr(parent, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding,
                                                   ceil_mode=child.ceil_mode))
            elif isinstance(child, _NORMS) or _is_activation(child):
                setattr(parent, name, nn.Identity())
    with torch.no_grad():
        for module in linear.modules():
            weight = getattr(module, "weight", None)
            if isinstance(weight, torch.Tensor) and weight.dim() > 1:
                weight.fill_(1.0 / weight[0].numel())
            bias = getattr(module, "bias", None)
            if isinstance(bias, torch.Tensor):
                bias.zero_()
    return linear


_box_cache: dict = {}


def receptive_box(net: nn.Module, layer: str, input_size: int, position: tuple[int, int] | None = None,
                  threshold: float = 0.0) -> tuple[int, int, int, int]:
    """(top, left, bottom, right), bottom/right exclusive: the input pixels whose gradient in
    the linearized network reaches above `threshold` times the largest, for the unit at
    `position` of `layer` (the centre unit when None). threshold 0 gives the theoretical
    receptive field; a small one (0.01) the pixels that matter in practice (a squeeze-excite
    block's global pooling makes every pixel count a little)."""
    key = (id(net), layer, input_size, position, threshold)
    if key in _box_cache:
        return _box_cache[key]
    linear = _linearized(net)
    captured: list[torch.Tensor] = []
    handle = linear.get_submodule(layer).register_forward_hook(lambda _m, _i, out: captured.append(out))
    x = torch.ones(1, 3, input_size, input_size, requires_grad=True)
    try:
        with torch.enable_grad():
            try:
                linear(x)
            except Exception:  # the head may not like the stand-ins; the layer's output is all we need
                if not captured:
                    raise
            output = captured[0]
            height, width = output.shape[-2:]
            y, x_pos = position if position is not None else (height // 2, width // 2)
            output[0, :, y, x_pos].sum().backward()
    finally:
        handle.remove()
    footprint = x.grad[0].abs().sum(dim=0)
    rows, cols = torch.nonzero(footprint > threshold * float(footprint.max()), as_tuple=True)
    box = (int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1)
    _box_cache[key] = box
    return box


def unit_box(net: nn.Module, layer: str, input_size: int, map_size: tuple[int, int], y: int, x: int,
             threshold: float = 0.01) -> tuple[int, int, int, int]:
    """The box of unit (y, x): the centre unit's box moved by the layer's stride, clipped to the image."""
    cy, cx = map_size[0] // 2, map_size[1] // 2
    top, left, bottom, right = receptive_box(net, layer, input_size, (cy, cx), threshold)
    step_y, step_x = input_size / map_size[0], input_size / map_size[1]
    dy, dx = round((y - cy) * step_y), round((x - cx) * step_x)
    return (max(0, top + dy), max(0, left + dx), min(input_size, bottom + dy), min(input_size, right + dx))


@dataclass(frozen=True)
class TopPatch:
    source: str
    activation: float
    box: tuple[int, int, int, int]
    patch: np.ndarray  # (h, w, 3) uint8 crop of the preprocessed image
    projection: np.ndarray | None  # the same crop of the unit's deconvnet / guided projection (uint8)
    method: str


def source_loaders(folder: str | Path | None) -> dict[str, Callable]:
    return {source.name: source.load for source in (bundled_sources() if folder is None else folder_sources(folder)[0])}


def top_patches(classifier, index: TopIndex, channel: int, folder: str | Path | None = None,
                with_projection: bool = True, count: int | None = None, start: int = 0,
                loaders: dict[str, Callable] | None = None) -> list[TopPatch]:
    """Channel `channel`'s strongest patches (from the `start`-th, `count` of them), cropped to
    their units' receptive fields, each with its projection to pixels (engine.deconv) beside it,
    as in Zeiler & Fergus's figure."""
    from .deconv import project_unit

    loaders = source_loaders(folder) if loaders is None else loaders
    units = index.units(channel)
    patches = []
    for image_index, y, x, value in units[start:None if count is None else start + count]:
        name = index.sources[image_index]
        image = loaders[name]() if name in loaders else None
        if image is None:
            continue  # the file went away or changed since indexing
        x01 = classifier.preprocess(image)
        pixels = classifier.to_uint8(x01)
        top, left, bottom, right = unit_box(classifier.net, index.layer, index.input_size, index.map_size, y, x)
        projection, method = None, ""
        if with_projection:
            result = project_unit(classifier.model, x01, f"net.{index.layer}", channel, (y, x))
            projection, method = result.display[top:bottom, left:right], result.method
        patches.append(TopPatch(name, value, (top, left, bottom, right), pixels[top:bottom, left:right],
                                projection, method))
    return patches


# ---------------------------------------------------------------- jobs for the Top patches panel
@dataclass(frozen=True)
class ChannelOverview:
    """Each channel's strongest patch, side by side: a first look at what a layer detects."""

    layer: str
    channels: list[int]
    tiles: np.ndarray  # (N, size, size, 3) uint8
    values: np.ndarray  # (N,) the patch's activation


def overview_job(classifier, index: TopIndex, folder: str | Path | None = None, size: int = 48):
    """Job: the top patch of every channel of the index, resized to `size` px squares."""
    from .images import resize_center_crop

    loaders = source_loaders(folder)
    pixels: dict[int, np.ndarray | None] = {}
    channels, tiles, values = [], [], []
    for channel in range(index.channels):
        units = index.units(channel)
        if channel % 16 == 0:
            yield Progress(channel, index.channels, "Cropping patches")
        if not units:
            continue
        image_index, y, x, value = units[0]
        if image_index not in pixels:
            name = index.sources[image_index]
            image = loaders[name]() if name in loaders else None
            pixels[image_index] = None if image is None else classifier.to_uint8(classifier.preprocess(image))
        image = pixels[image_index]
        if image is None:
            continue
        top, left, bottom, right = unit_box(classifier.net, index.layer, index.input_size, index.map_size, y, x)
        channels.append(channel)
        tiles.append(resize_center_crop(image[top:bottom, left:right], size))
        values.append(value)
    if not tiles:
        raise DataError("The indexed images can no longer be read (moved or changed): index the folder again.")
    return ChannelOverview(index.layer, channels, np.stack(tiles), np.asarray(values, dtype=np.float32))


def patches_job(classifier, index: TopIndex, channel: int, folder: str | Path | None = None,
                count: int | None = None):
    """Job: one channel's top patches with their projections (one backward pass each)."""
    total = len(index.units(channel)[:count])
    loaders = source_loaders(folder)
    patches: list[TopPatch] = []
    for position in range(total):
        yield Progress(position, total, f"Projecting patch {position + 1} of {total} to pixels")
        patches.extend(top_patches(classifier, index, channel, count=1, start=position, loaders=loaders))
    return patches


# Jobs taking a model name: the classifier is loaded (once, cached) in the job's own thread.
@dataclass(frozen=True)
class ModelLayers:
    model: str
    label: str
    layers: list[tuple[str, tuple[int, ...]]]  # (module path, output shape) in forward order


def model_layers_job(model: str):
    from .layers import feature_map_layers
    from .pretrained import as_classifier

    yield Progress(0, 1, "Loading the model")
    classifier = as_classifier(model)
    return ModelLayers(model, classifier.label, feature_map_layers(classifier.net, classifier.input_size))


def find_job(model: str, layer: str, folder: str | Path | None = None, top_k: int = 9):
    """Job: the folder's index for `layer`, then every channel's top patch. Returns (index, overview)."""
    from .pretrained import as_classifier

    classifier = as_classifier(model)
    index = yield from index_job(classifier, layer, folder, top_k)
    overview = yield from overview_job(classifier, index, folder)
    return index, overview


def channel_job(model: str, index: TopIndex, channel: int, folder: str | Path | None = None):
    from .pretrained import as_classifier

    return (yield from patches_job(as_classifier(model), index, channel, folder))
