"""The network as a diagram (issue 20): for one probe image, every layer of a ConvNet left to
right as a column of feature-map thumbnails (conv, pooling) or of unit bars (fully connected),
with its shape; and the convolution in numbers at any position of any conv layer, from the same
forward pass (engine.conv_numbers does the arithmetic).

Every picture is a uint8 array here, so the GUI only sets images. While a network trains, the
diagram is drawn from a ModelSnapshot (a CPU copy of its weights) on a model of its own, in the
diagram's own thread: never a forward pass on the model being trained.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .conv_numbers import ConvStep, PoolStep, conv_step, pool_step
from .errors import ModelError, SpecError
from .events import Job, Progress
from .imaging import nearest_upscale, tile_images
from .introspect import feature_layers, layer_outputs, render_layer

# Layers that change values one by one (or normalize them): drawn in the column of the layer
# before them, whose output they transform (conv1 + relu1 is one column by default).
ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.ELU, nn.GELU, nn.BatchNorm1d, nn.BatchNorm2d,
               nn.Dropout)
THUMBNAIL_PX = 64  # a feature map's thumbnail: small maps are enlarged (blocky) to about this size
MAX_MAPS = 32  # maps drawn per column (the rest are named in the note)
# A column stacks at most this many thumbnails before it adds a sub-column (4: bigger maps on a projector).
MAPS_PER_ROW_OF_COLUMN = 4
MAX_UNITS = 256  # units drawn per fully connected column
BAR_WIDTH_PX = 48
BAR_COLUMN_PX = 256  # a fully connected column is about this tall whatever its number of units


@dataclass(frozen=True)
class DiagramColumn:
    """One column of the diagram: the output of `layers[-1]` (the layers it stands for)."""

    layers: tuple[str, ...]  # e.g. ('conv1', 'relu1'); ('input',) for the probe image
    title: str  # 'conv1 + relu1'
    kind: str  # 'input' | 'maps' | 'units'
    shape: tuple[int, ...]  # the output's shape without the batch axis
    image: np.ndarray  # uint8 (H, W) or (H, W, 3): the thumbnails tiled, or the unit bars
    tile_shape: tuple[int, int]  # (h, w) of one thumbnail in `image` (units: one bar row)
    grid: tuple[int, int]  # (rows, columns) of tiles in `image`
    pad: int
    shown: int  # maps or units drawn
    values: np.ndarray | None  # units: the values drawn (probabilities for the output layer)
    unit_labels: tuple[str, ...]  # class names beside the output layer's bars, else ()
    note: str  # '16 of 64 maps', 'predicts 7 (98 %)'

    @property
    def shape_text(self) -> str:
        return " × ".join(str(v) for v in self.shape)

    def tile_at(self, x: float, y: float) -> int | None:
        """The map (or unit) under pixel (x, y) of `image`, or None."""
        from .imaging import tile_index_at

        index = tile_index_at(x, y, self.tile_shape, self.grid, self.pad)
        return index if index is not None and index < self.shown else None


@dataclass(frozen=True)
class Diagram:
    """The whole network for one probe. `model` is the model the pass ran on (the trained run's,
    or a private copy built from a snapshot, never changed afterwards); `outputs` every layer's
    output for the probe, 'input' the normalized input the first layer reads."""

    columns: tuple[DiagramColumn, ...]
    model: nn.Module
    outputs: dict
    step: int | None  # the training step of the weights (None: a finished or loaded run)
    predicted: int
    confidence: float

    def column_of(self, layer: str) -> DiagramColumn | None:
        return next((c for c in self.columns if layer in c.layers), None)

    def layer_maps(self, layer: str, per_map: bool = True) -> np.ndarray:
        """One layer's output as uint8 maps (C, H, W) for the large view."""
        raw = self.outputs.get(layer)
        if raw is None or np.ndim(raw) != 3:
            raise ModelError(f"Layer {layer} has no feature maps.")
        return render_layer(layer, raw, per_map=per_map).maps

    def map_range(self, layer: str, channel: int) -> tuple[float, float]:
        """The lowest and highest value of one map (its picture is stretched between them)."""
        values = np.asarray(self.outputs[layer])[channel]
        return float(values.min()), float(values.max())

    def module(self, layer: str) -> nn.Module:
        for name, module in feature_layers(self.model):
            if name == layer:
                return module
        raise ModelError(f"The network has no layer named {layer}.")


# ----------------------------------------------------------------- building the diagram


def column_groups(model: nn.Module, every_layer: bool = False) -> list[tuple[str, ...]]:
    """Layer names grouped into columns: each layer with the elementwise layers after it (and
    Flatten, a mere reshape, with the layer before it); `every_layer`: one column per layer."""
    groups: list[list[str]] = []
    for name, module in feature_layers(model):
        joins = isinstance(module, ELEMENTWISE) or isinstance(module, nn.Flatten)
        if every_layer or not groups or not joins:
            groups.append([name])
        else:
            groups[-1].append(name)
    if not every_layer:  # a Flatten first (an MLP) only repeats the input column
        modules = dict(feature_layers(model))
        groups = [g for g in groups if not all(isinstance(modules[n], (nn.Flatten, nn.Dropout)) for n in g)]
    return [tuple(g) for g in groups]


def shown_layer(model: nn.Module, group: tuple[str, ...]) -> str:
    """The layer whose output a column draws: its last one that is not a mere reshape (pool2 +
    flatten1 draws pool2's maps; dropout does nothing at test time)."""
    modules = dict(feature_layers(model))
    kept = [n for n in group if not isinstance(modules[n], (nn.Flatten, nn.Dropout))]
    return kept[-1] if kept else group[-1]


def _thumbnails(maps: np.ndarray, limit: int, pad_value: int, size: int = THUMBNAIL_PX):
    """(C, H, W) or (N, H, W, 3) uint8 maps -> (mosaic of enlarged thumbnails, tile shape, grid, maps drawn)."""
    shown = min(len(maps), limit)
    side = max(maps.shape[1:3])
    factor = max(1, int(round(size / max(1, side))))
    tiles = np.stack([nearest_upscale(m, factor) for m in maps[:shown]])
    columns = max(1, math.ceil(shown / MAPS_PER_ROW_OF_COLUMN))
    mosaic, grid = tile_images(tiles, columns, pad=2, pad_value=pad_value)
    image = mosaic[:, :, 0] if mosaic.shape[2] == 1 else mosaic
    return image, tuple(tiles.shape[1:3]), grid, shown


def unit_bars(values: np.ndarray, limit: int = MAX_UNITS) -> tuple[np.ndarray, int, int]:
    """A fully connected layer's values as horizontal bars, one row per unit, white on black:
    zero at the left edge, or at the middle (a grey line) when some values are negative.
    Returns (image, rows per unit, units drawn)."""
    values = np.nan_to_num(np.asarray(values, np.float32).reshape(-1)[:limit])
    shown = len(values)
    row = max(1, BAR_COLUMN_PX // max(1, shown))
    gap = 1 if row >= 4 else 0
    image = np.zeros((shown * row, BAR_WIDTH_PX), np.uint8)
    bound = float(np.abs(values).max()) or 1.0
    signed = bool((values < 0).any())
    zero = BAR_WIDTH_PX // 2 if signed else 0
    span = BAR_WIDTH_PX - zero if not signed else BAR_WIDTH_PX // 2
    for i, value in enumerate(values):
        length = int(round(abs(value) / bound * span))
        top, bottom = i * row, (i + 1) * row - gap
        if value >= 0:
            image[top:bottom, zero:zero + length] = 255
        else:
            image[top:bottom, zero - length:zero] = 160  # negative bars a little dimmer
    if signed:
        image[:, zero] = np.maximum(image[:, zero], 96)
    image[:, -1] = 96  # a frame on the right: a full-length white bar must not look like a gap
    image[[0, -1], :] = np.maximum(image[[0, -1], :], 96)
    return image, row, shown


def _as_input(model: nn.Module, probe: torch.Tensor) -> torch.Tensor:
    spec = getattr(model, "spec", None)
    probe = torch.as_tensor(probe).detach().float()
    if probe.dim() == 4 and probe.shape[0] == 1:
        probe = probe[0]
    if spec is not None and tuple(probe.shape) != tuple(spec.input_shape):
        raise ModelError(f"The probe image is {tuple(probe.shape)} but the network takes "
                         f"{tuple(spec.input_shape)} inputs.")
    return probe


def network_diagram(model: nn.Module, probe: torch.Tensor, class_names=None, every_layer: bool = False,
                    step: int | None = None, pad_value: int = 64, max_maps: int = MAX_MAPS) -> Diagram:
    """The diagram of `model` (a ConvNet in eval mode; a model in training mode is copied
    first) for one (C, H, W) [0, 1] probe image."""
    if model.training:
        model = copy.deepcopy(model).eval()
    probe = _as_input(model, probe)
    outputs = {name: value[0].float().numpy() for name, value in layer_outputs(model, probe).items()}
    normalize = getattr(model, "normalize", None)
    with torch.no_grad():
        normalized = normalize(probe[None])[0] if normalize is not None else probe
    outputs = {"input": normalized.numpy(), **outputs}
    display = (probe.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
    input_maps = display.transpose(1, 2, 0)[None] if display.shape[0] == 3 else display[:1]
    image, tile, grid, _ = _thumbnails(input_maps, 1, pad_value, THUMBNAIL_PX * 3)  # the probe, large
    columns = [DiagramColumn(("input",), "input", "input", tuple(probe.shape), image, tile, grid, 2, 1, None, (),
                             "the probe image")]
    groups = column_groups(model, every_layer)
    last_name = groups[-1][-1] if groups else None
    logits = outputs[last_name] if last_name else np.zeros(0)
    probabilities = np.zeros(0, np.float32)
    predicted, confidence = -1, float("nan")
    if np.ndim(logits) == 1 and logits.size:
        probabilities = torch.softmax(torch.from_numpy(logits), 0).numpy()
        predicted = int(probabilities.argmax())
        confidence = float(probabilities[predicted])
    names = list(class_names or [])
    for group in groups:
        raw = outputs[shown_layer(model, group)]
        title = " + ".join(group)
        if np.ndim(raw) == 3:
            maps = render_layer(group[0], raw).maps
            image, tile, grid, shown = _thumbnails(maps, max_maps, pad_value)
            note = f"{shown} of {len(maps)} maps" if shown < len(maps) else f"{len(maps)} maps"
            columns.append(DiagramColumn(group, title, "maps", tuple(raw.shape), image, tile, grid, 2, shown, None,
                                         (), note))
            continue
        is_output = group[-1] == last_name
        values = probabilities if is_output and probabilities.size else np.asarray(raw, np.float32).reshape(-1)
        image, row, shown = unit_bars(values)
        labels = tuple(str(n) for n in names[:shown]) if is_output and len(names) == shown else ()
        if is_output and predicted >= 0:
            name = names[predicted] if predicted < len(names) else str(predicted)
            note = f"predicts {name} ({confidence:.0%})"
        else:
            note = f"first {shown} of {values.size} units" if shown < values.size else f"{values.size} units"
        columns.append(DiagramColumn(group, title, "units", (int(np.size(raw)),), image, (row, BAR_WIDTH_PX),
                                     (shown, 1), 0, shown, values[:shown].copy(), labels, note))
    return Diagram(tuple(columns), model, outputs, step, predicted, confidence)


def model_from_snapshot(spec, state: dict) -> nn.Module:
    """A private ConvNet with a ModelSnapshot's weights, in eval mode."""
    from .model import ConvNet

    model = ConvNet(spec)
    try:
        model.load_state_dict({name: torch.from_numpy(np.array(value)) for name, value in state.items()})
    except RuntimeError as exc:
        raise ModelError(f"The snapshot does not fit the network ({str(exc).splitlines()[0]}).") from None
    return model.eval()


def diagram_job(model: nn.Module | None, probe: torch.Tensor, class_names=None, every_layer: bool = False,
                snapshot=None, pad_value: int = 64) -> Job:
    """network_diagram in a job: of `model`, or of a model built from `snapshot` (an
    engine.train.ModelSnapshot) in this thread. Returns a Diagram."""
    yield Progress(0, 1, "Drawing the network…")
    step = None
    if snapshot is not None:
        model, step = model_from_snapshot(snapshot.spec, snapshot.state), int(snapshot.step)
    if model is None:
        raise ModelError("There is no network to draw yet: train one or load a checkpoint.")
    with torch.no_grad():
        return network_diagram(model, probe, class_names, every_layer, step, pad_value)


def diagram_of_spec_job(spec, probe: torch.Tensor, every_layer: bool = False, pad_value: int = 64) -> Job:
    """The diagram of an untrained network straight from its spec (what the builder shows before
    training): raises SpecError with the reason when the network does not build."""
    from .model import ConvNet

    yield Progress(0, 1, "Building the network…")
    if spec is None:
        raise SpecError("There is no network yet: build one in the Network panel.")
    from .rng import JobRNG

    with JobRNG(0, torch.device("cpu")).active():  # the same untrained weights every time
        model = ConvNet(spec).eval()
    return network_diagram(model, probe, None, every_layer, 0, pad_value)


@dataclass(frozen=True)
class Probe:
    """The image the diagram shows the network: (C, H, W) in [0, 1] and where it came from."""

    tensor: torch.Tensor
    caption: str
    class_names: tuple[str, ...]


def probe_job(source: str, payload, input_shape: tuple[int, ...], dataset: str | None) -> Job:
    """The probe for a network taking `input_shape` inputs: validation image number `payload` of
    `dataset` ('sample'), an image file ('file') or a mouse drawing ('drawing'). Returns a Probe."""
    from .data import load_dataset
    from .errors import DataError
    from .images import load_image
    from .introspect import drawn_digit_to_input, image_to_input

    yield Progress(0, 1, "Preparing the probe image…")
    names: tuple[str, ...] = ()
    data = None
    if dataset:
        try:
            data = load_dataset(dataset)
            names = tuple(data.class_names)
        except DataError:
            if source == "sample":
                raise
    if source == "sample":
        if data is None:
            raise DataError("Choose a dataset first (Data panel) to take a probe image from it.")
        if tuple(data.input_shape) != tuple(input_shape):
            raise DataError(f"Dataset '{data.name}' has {tuple(data.input_shape)} images but the network takes "
                            f"{tuple(input_shape)}; open an image file or train on this dataset.")
        index = min(max(0, int(payload)), len(data.val_x) - 1)
        label = int(data.val_y[index])
        name = data.class_names[label] if label < len(data.class_names) else str(label)
        return Probe(data.val_x[index].clone(), f"validation image #{index} ({name})", names)
    if source == "file":
        from pathlib import Path

        return Probe(image_to_input(load_image(payload), input_shape), Path(payload).name, names)
    if source == "drawing":
        return Probe(drawn_digit_to_input(payload, input_shape), "your drawing", names)
    raise DataError(f"Unknown probe source '{source}'.")


# ----------------------------------------------------------------- the convolution in numbers


@dataclass(frozen=True)
class ConvWalk:
    """One output position of a conv layer in numbers, then what the next layers make of it."""

    layer: str
    source: str  # the layer whose output the conv reads ('input': the normalized image)
    step: ConvStep
    computed: float  # the real layer's output at (channel, y, x) in the same forward pass
    out_shape: tuple[int, int, int]
    after: tuple[tuple[str, str, float], ...]  # (layer, what it is, value there) of the elementwise layers next
    pool_layer: str | None = None
    pool: PoolStep | None = None
    pool_computed: float | None = None  # the real pooling layer's output at the pool step's position
    pool_input: np.ndarray | None = None  # (H, W) the map the pooling reads
    input_hw: tuple[int, int] = (0, 0)  # the size of the map the conv reads (taps outside it: padding)

    def padding_mask(self) -> np.ndarray:
        """(k, k) True where a kernel tap falls outside the input (it reads a zero of the padding)."""
        rows, cols = self.step.rows, self.step.cols
        return ((rows[:, None] < 0) | (rows[:, None] >= self.input_hw[0]) |
                (cols[None, :] < 0) | (cols[None, :] >= self.input_hw[1]))


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def pool_position_covering(pool: nn.MaxPool2d, in_hw: tuple[int, int], out_hw: tuple[int, int], y: int,
                           x: int) -> tuple[int, int] | None:
    """The first pooling output position whose window contains input pixel (y, x), if any."""
    (kh, kw), (sh, sw) = _pair(pool.kernel_size), _pair(pool.stride or pool.kernel_size)
    (ph, pw), (dh, dw) = _pair(pool.padding), _pair(pool.dilation)

    def first(position, k, s, p, d, size):
        for out in range(size):
            taps = out * s - p + d * np.arange(k)
            if position in taps:
                return out
        return None

    py, px = first(y, kh, sh, ph, dh, out_hw[0]), first(x, kw, sw, pw, dw, out_hw[1])
    return None if py is None or px is None else (py, px)


def describe_layer(module: nn.Module) -> str:
    names = {nn.ReLU: "ReLU", nn.LeakyReLU: "leaky ReLU", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid",
             nn.ELU: "ELU", nn.GELU: "GELU", nn.BatchNorm2d: "batch norm", nn.BatchNorm1d: "batch norm",
             nn.Dropout: "dropout (off at test time)"}
    return next((text for kind, text in names.items() if isinstance(module, kind)), type(module).__name__)


def walk_layers(layers: list[tuple[str, nn.Module]], outputs: dict, layer: str, channel: int, y: int,
                x: int) -> ConvWalk:
    """The walk-through of conv `layer`'s output (channel, y, x) given every layer's output of one
    forward pass ('input': what the first layer reads), and the elementwise and max-pooling
    layers after it."""
    names = [name for name, _ in layers]
    if layer not in names:
        raise ModelError(f"The network has no layer named {layer}.")
    index = names.index(layer)
    conv = layers[index][1]
    if not isinstance(conv, nn.Conv2d):
        raise ModelError(f"{layer} is not a convolution: its output is not a sum of products over a patch.")
    source = names[index - 1] if index > 0 else "input"
    out = np.asarray(outputs[layer])
    step = conv_step(conv, outputs[source], channel, y, x)
    after = []
    current = index + 1
    while current < len(layers) and isinstance(layers[current][1], ELEMENTWISE):
        name, module = layers[current]
        after.append((name, describe_layer(module), float(np.asarray(outputs[name])[channel, y, x])))
        current += 1
    walk = dict(layer=layer, source=source, step=step, computed=float(out[channel, y, x]),
                out_shape=tuple(out.shape), after=tuple(after),
                input_hw=tuple(int(v) for v in np.shape(outputs[source])[1:]))
    if current < len(layers) and isinstance(layers[current][1], nn.MaxPool2d):
        pool_name, pool = layers[current]
        pool_in = np.asarray(outputs[names[current - 1]])[channel]
        pool_out = np.asarray(outputs[pool_name])[channel]
        position = pool_position_covering(pool, pool_in.shape, pool_out.shape, y, x)
        if position is not None:
            pstep = pool_step(pool, pool_in, *position)
            walk.update(pool_layer=pool_name, pool=pstep, pool_computed=float(pool_out[position]),
                        pool_input=pool_in.copy())
    return ConvWalk(**walk)


def conv_walk(diagram: Diagram, layer: str, channel: int, y: int, x: int) -> ConvWalk:
    """The walk-through at one position of a conv layer of the diagram's network."""
    return walk_layers(feature_layers(diagram.model), diagram.outputs, layer, channel, y, x)


def conv_layer_of(diagram: Diagram, column: DiagramColumn) -> str | None:
    """The conv layer a column shows (its first layer), or None."""
    module = dict(feature_layers(diagram.model)).get(column.layers[0])
    return column.layers[0] if isinstance(module, nn.Conv2d) else None


def layer_filters(diagram: Diagram, layer: str, channel: int) -> np.ndarray:
    """The (C_in, k, k) kernel that makes map `channel` of conv `layer`."""
    module = diagram.module(layer)
    if not isinstance(module, nn.Conv2d):
        raise ModelError(f"{layer} has no filters.")
    return module.weight.detach().float().cpu().numpy()[channel].copy()


# ----------------------------------------------------------------- the arithmetic widget's numbers


@dataclass(frozen=True)
class ArithmeticExample:
    """A one-channel Conv2d with the widget's geometry, small whole numbers as input and kernel
    (so the sums can be checked by hand), its real output, and 2x2 max pooling after a ReLU."""

    layers: tuple[tuple[str, nn.Module], ...]
    outputs: dict

    @property
    def out_size(self) -> int:
        return int(np.asarray(self.outputs["conv"]).shape[-1])

    def walk(self, y: int, x: int) -> ConvWalk:
        return walk_layers(list(self.layers), self.outputs, "conv", 0, y, x)


def arithmetic_example(input_size: int, kernel: int, padding: int = 0, stride: int = 1, dilation: int = 1,
                       seed: int = 0) -> ArithmeticExample:
    """The same stride, padding and dilation as the geometry, with a fixed-seed input (digits
    0-9) and kernel (-1, 0, 1), bias 1."""
    from .conv_arithmetic import ConvGeometry

    out = ConvGeometry(input_size, kernel, padding, stride, dilation).output_size()  # SpecError when impossible
    generator = torch.Generator().manual_seed(seed)
    conv = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding, dilation=dilation)
    with torch.no_grad():
        conv.weight.copy_(torch.randint(-1, 2, conv.weight.shape, generator=generator).float())
        conv.bias.fill_(1.0)
    layers = [("conv", conv), ("relu", nn.ReLU())]
    if out >= 2:
        layers.append(("pool", nn.MaxPool2d(2, 2)))
    x = torch.randint(0, 10, (1, input_size, input_size), generator=generator).float()
    outputs = {"input": x.numpy()}
    value = x[None]
    with torch.no_grad():
        for name, module in layers:
            value = module(value)
            outputs[name] = value[0].numpy()
    return ArithmeticExample(tuple(layers), outputs)
