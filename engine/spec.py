"""Network architecture as data: layer specs, JSON in/out, shape and parameter
inference with per-layer error messages, and building the torch model.

A spec never raises while being analysed: `analyze` marks the first impossible
layer with a reason, so the GUI can show it on the offending row before any
training starts. `validate` / `build_model` raise SpecError for the same cases.
"""
from __future__ import annotations

import copy
import json
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import SpecError

Shape = tuple[int, ...]  # (C, H, W) for images, (F,) for vectors


@dataclass(frozen=True)
class ParamInfo:
    """One degree of freedom of a layer type, described for editors and tooltips."""

    name: str
    kind: type  # int or float
    default: Any
    minimum: float
    maximum: float
    help: str


@dataclass(frozen=True)
class LayerType:
    kind: str
    label: str
    params: tuple[ParamInfo, ...]
    help: str
    spatial_only: bool = False  # needs a (C, H, W) input


def _int(name, default, lo, hi, help_text):
    return ParamInfo(name, int, default, lo, hi, help_text)


LAYER_TYPES: dict[str, LayerType] = {
    t.kind: t
    for t in [
        LayerType("conv", "Conv2d", (
            _int("out_channels", 16, 1, 4096, "Number of filters, i.e. output feature maps."),
            _int("kernel", 3, 1, 64, "Filter width and height in pixels."),
            _int("stride", 1, 1, 64, "Step between neighbouring filter positions."),
            _int("padding", 1, 0, 64, "Zeros added around the input on every side."),
        ), "Slides learned filters over the input; each filter gives one feature map.", True),
        LayerType("maxpool", "MaxPool2d", (
            _int("kernel", 2, 1, 64, "Pooling window size."),
            _int("stride", 2, 1, 64, "Step between pooling windows."),
        ), "Keeps the largest value in each window: downsamples, adds small shift invariance.", True),
        LayerType("avgpool", "AvgPool2d", (
            _int("kernel", 2, 1, 64, "Pooling window size."),
            _int("stride", 2, 1, 64, "Step between pooling windows."),
        ), "Averages each window: downsamples smoothly.", True),
        LayerType("gap", "Global avg pool", (), "Averages each feature map to one number: (C, H, W) -> (C).", True),
        LayerType("relu", "ReLU", (), "max(0, x): cheap, does not saturate for x > 0."),
        LayerType("leakyrelu", "LeakyReLU", (
            ParamInfo("slope", float, 0.01, 0.0, 1.0, "Slope for negative inputs."),
        ), "Like ReLU but lets a small gradient through for x < 0."),
        LayerType("tanh", "Tanh", (), "Squashes to (-1, 1); zero-centred but saturates."),
        LayerType("sigmoid", "Sigmoid", (), "Squashes to (0, 1); saturates and is not zero-centred."),
        LayerType("elu", "ELU", (), "Exponential linear unit: smooth, negative outputs near zero mean."),
        LayerType("gelu", "GELU", (), "Smooth ReLU-like unit used in modern networks."),
        LayerType("batchnorm", "BatchNorm", (), "Normalizes each channel over the batch, then scales and shifts."),
        LayerType("dropout", "Dropout", (
            ParamInfo("p", float, 0.5, 0.0, 0.99, "Probability of zeroing each activation during training."),
        ), "Randomly zeroes activations while training: a cheap ensemble that fights overfitting."),
        LayerType("flatten", "Flatten", (), "Turns (C, H, W) feature maps into one vector."),
        LayerType("linear", "Linear", (
            _int("units", 10, 1, 65536, "Number of output units (neurons)."),
        ), "Fully connected: every output sees every input."),
    ]
}

_ACTIVATIONS = {"relu", "leakyrelu", "tanh", "sigmoid", "elu", "gelu"}


@dataclass
class LayerSpec:
    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> Any:
        if name in self.params:
            return self.params[name]
        for info in LAYER_TYPES[self.kind].params:
            if info.name == name:
                return info.default
        raise KeyError(name)

    def label(self) -> str:
        layer_type = LAYER_TYPES.get(self.kind)
        if layer_type is None:
            return self.kind
        args = ", ".join(f"{p.name}={self.get(p.name)}" for p in layer_type.params)
        return f"{layer_type.label}({args})" if args else layer_type.label

    def to_dict(self) -> dict:
        return {"kind": self.kind, **self.params}

    @staticmethod
    def from_dict(data: dict) -> "LayerSpec":
        if not isinstance(data, dict) or "kind" not in data:
            raise SpecError("Each layer must be an object with a 'kind' field.")
        kind = str(data["kind"]).lower()
        if kind not in LAYER_TYPES:
            raise SpecError(f"Unknown layer kind '{kind}'. Known: {', '.join(LAYER_TYPES)}.")
        known = {p.name: p for p in LAYER_TYPES[kind].params}
        params = {}
        for key, value in data.items():
            if key == "kind":
                continue
            if key not in known:
                raise SpecError(f"Layer '{kind}' has no parameter '{key}'.")
            try:
                params[key] = known[key].kind(value)
            except (TypeError, ValueError) as exc:
                raise SpecError(f"Layer '{kind}': '{key}' must be a number, got {value!r}.") from exc
        return LayerSpec(kind, params)


@dataclass
class NetworkSpec:
    name: str = "network"
    input_shape: Shape = (1, 28, 28)
    num_classes: int = 10
    layers: list[LayerSpec] = field(default_factory=list)

    def copy(self) -> "NetworkSpec":
        return copy.deepcopy(self)

    def to_dict(self) -> dict:
        return {
            "format": "convscope-network",
            "version": 1,
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "layers": [layer.to_dict() for layer in self.layers],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @staticmethod
    def from_dict(data: dict) -> "NetworkSpec":
        if not isinstance(data, dict) or not isinstance(data.get("layers"), list):
            raise SpecError("Not a ConvScope network: expected an object with a 'layers' list.")
        try:
            shape = tuple(int(v) for v in data.get("input_shape", (1, 28, 28)))
            num_classes = int(data.get("num_classes", 10))
        except (TypeError, ValueError) as exc:
            raise SpecError("'input_shape' must be a list of integers and 'num_classes' an integer.") from exc
        if len(shape) not in (1, 3) or min(shape) < 1:
            raise SpecError(f"Input shape must be (C, H, W) or (F,) with positive sizes, got {shape}.")
        return NetworkSpec(
            name=str(data.get("name", "network")),
            input_shape=shape,
            num_classes=num_classes,
            layers=[LayerSpec.from_dict(layer) for layer in data["layers"]],
        )

    @staticmethod
    def from_json(text: str) -> "NetworkSpec":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"The architecture file is not valid JSON (line {exc.lineno}): {exc.msg}.") from exc
        return NetworkSpec.from_dict(data)

    def save(self, path: str | Path) -> None:
        from .fileio import atomic_write_text

        atomic_write_text(path, self.to_json())

    @staticmethod
    def load(path: str | Path) -> "NetworkSpec":
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError(f"Cannot read architecture file {path}: {exc}") from exc
        return NetworkSpec.from_json(text)

    def adapted_to(self, input_shape: Shape, num_classes: int) -> "NetworkSpec":
        """Same layers for another dataset: new input shape, last Linear sized to the classes."""
        spec = self.copy()
        spec.input_shape = tuple(input_shape)
        spec.num_classes = num_classes
        for layer in reversed(spec.layers):
            if layer.kind == "linear":
                layer.params["units"] = num_classes
                break
        return spec


@dataclass(frozen=True)
class LayerInfo:
    """What `analyze` says about one layer (row of the builder table)."""

    index: int
    name: str  # module name in the built model, e.g. 'conv1'
    label: str
    in_shape: Shape | None
    out_shape: Shape | None
    params: int
    receptive_field: int | None  # pixels of input one output unit sees (None after Flatten)
    jump: int | None  # input pixels between neighbouring output units
    start: float | None  # input coordinate of the centre of the first output unit
    error: str | None = None


def layer_names(spec: NetworkSpec) -> list[str]:
    """Readable module names: conv1, relu1, pool1, fc1 ..."""
    counters: dict[str, int] = {}
    short = {"maxpool": "pool", "avgpool": "avgpool", "linear": "fc", "batchnorm": "bn", "dropout": "drop"}
    names = []
    for layer in spec.layers:
        base = short.get(layer.kind, layer.kind)
        counters[base] = counters.get(base, 0) + 1
        names.append(f"{base}{counters[base]}")
    return names


def _fmt(shape: Shape) -> str:
    return "x".join(str(v) for v in shape)


def _infer(layer: LayerSpec, shape: Shape) -> tuple[Shape, int, str | None]:
    """Output shape, parameter count and an error reason (or None) for one layer."""
    kind = layer.kind
    spatial = len(shape) == 3
    if LAYER_TYPES[kind].spatial_only and not spatial:
        return shape, 0, (f"{LAYER_TYPES[kind].label} needs image-shaped input (C x H x W) but gets a flat "
                          f"vector of {shape[0]}; move it before Flatten.")
    if kind == "conv":
        c, h, w = shape
        out_c, k, s, p = (layer.get(n) for n in ("out_channels", "kernel", "stride", "padding"))
        if out_c < 1:
            return shape, 0, "Zero output channels: a conv layer needs at least one filter."
        if k < 1 or s < 1 or p < 0:
            return shape, 0, "Kernel and stride must be at least 1 and padding at least 0."
        if k > h + 2 * p or k > w + 2 * p:
            return shape, 0, f"Kernel {k}x{k} is larger than its padded input {h + 2 * p}x{w + 2 * p}."
        oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        return (out_c, oh, ow), out_c * c * k * k + out_c, None
    if kind in ("maxpool", "avgpool"):
        c, h, w = shape
        k, s = layer.get("kernel"), layer.get("stride")
        if k < 1 or s < 1:
            return shape, 0, "Pooling kernel and stride must be at least 1."
        if k > h or k > w:
            return shape, 0, f"Pooling window {k}x{k} is larger than its input {h}x{w}."
        return (c, (h - k) // s + 1, (w - k) // s + 1), 0, None
    if kind == "gap":
        return (shape[0],), 0, None
    if kind == "flatten":
        return (int(math.prod(shape)),), 0, None
    if kind == "linear":
        units = layer.get("units")
        if units < 1:
            return shape, 0, "A Linear layer needs at least one unit."
        if spatial:
            return shape, 0, (f"Linear needs a flat vector but gets {_fmt(shape)} feature maps; "
                              f"add a Flatten (or global avg pool) before it.")
        return (units,), shape[0] * units + units, None
    if kind == "batchnorm":
        return shape, 2 * shape[0], None
    if kind == "dropout":
        p = layer.get("p")
        if not 0.0 <= p < 1.0:
            return shape, 0, f"Dropout probability must be in [0, 1), got {p}."
        return shape, 0, None
    if kind in _ACTIVATIONS:
        return shape, 0, None
    return shape, 0, f"Unknown layer kind '{kind}'."


def analyze(spec: NetworkSpec) -> list[LayerInfo]:
    """Shape, parameters and receptive field per layer; the first impossible layer
    carries the reason and the rows after it have no shape."""
    infos: list[LayerInfo] = []
    shape: Shape | None = tuple(spec.input_shape)
    rf, jump, start = 1, 1, 0.5  # receptive field bookkeeping (Dumoulin & Visin)
    for index, (layer, name) in enumerate(zip(spec.layers, layer_names(spec))):
        if shape is None:
            infos.append(LayerInfo(index, name, layer.label(), None, None, 0, None, None, None))
            continue
        out_shape, params, error = _infer(layer, shape)
        if error is None and layer.kind in ("conv", "maxpool", "avgpool"):
            k = layer.get("kernel")
            s = layer.get("stride")
            p = layer.get("padding") if layer.kind == "conv" else 0
            start = start + ((k - 1) / 2 - p) * jump
            rf = rf + (k - 1) * jump
            jump = jump * s
        elif error is None and layer.kind in ("flatten", "gap", "linear") and rf is not None:
            rf = max(spec.input_shape[1:]) if len(spec.input_shape) == 3 else None
            jump = start = None
        infos.append(LayerInfo(index, name, layer.label(), shape, None if error else out_shape, params,
                               None if error else rf, None if error else jump, None if error else start, error))
        shape = None if error else out_shape
    if shape is not None and spec.layers:
        if shape != (spec.num_classes,):
            last = infos[-1]
            infos[-1] = LayerInfo(last.index, last.name, last.label, last.in_shape, last.out_shape, last.params,
                                  last.receptive_field, last.jump, last.start,
                                  f"The network ends with {_fmt(shape)} outputs but the data has "
                                  f"{spec.num_classes} classes; end with Linear({spec.num_classes}).")
    return infos


def total_params(infos: list[LayerInfo]) -> int:
    return sum(info.params for info in infos)


def validate(spec: NetworkSpec) -> list[LayerInfo]:
    """Raise SpecError naming the first impossible layer; return the analysis otherwise."""
    if not spec.layers:
        raise SpecError("The network has no layers.")
    infos = analyze(spec)
    for info in infos:
        if info.error:
            raise SpecError(f"Layer {info.index + 1} ({info.label}): {info.error}", layer_index=info.index)
    return infos


def _module(layer: LayerSpec, in_shape: Shape) -> nn.Module:
    kind = layer.kind
    if kind == "conv":
        return nn.Conv2d(in_shape[0], layer.get("out_channels"), layer.get("kernel"),
                         stride=layer.get("stride"), padding=layer.get("padding"))
    if kind == "maxpool":
        return nn.MaxPool2d(layer.get("kernel"), layer.get("stride"))
    if kind == "avgpool":
        return nn.AvgPool2d(layer.get("kernel"), layer.get("stride"))
    if kind == "gap":
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if kind == "flatten":
        return nn.Flatten()
    if kind == "linear":
        return nn.Linear(in_shape[0], layer.get("units"))
    if kind == "batchnorm":
        return nn.BatchNorm2d(in_shape[0]) if len(in_shape) == 3 else nn.BatchNorm1d(in_shape[0])
    if kind == "dropout":
        return nn.Dropout(layer.get("p"))
    if kind == "relu":
        return nn.ReLU()
    if kind == "leakyrelu":
        return nn.LeakyReLU(layer.get("slope"))
    if kind == "tanh":
        return nn.Tanh()
    if kind == "sigmoid":
        return nn.Sigmoid()
    if kind == "elu":
        return nn.ELU()
    if kind == "gelu":
        return nn.GELU()
    raise SpecError(f"Unknown layer kind '{kind}'.")


def build_model(spec: NetworkSpec) -> nn.Sequential:
    """An nn.Sequential with readable module names (conv1, relu1, pool1, fc1 ...)."""
    infos = validate(spec)
    modules = OrderedDict()
    for layer, info in zip(spec.layers, infos):
        modules[info.name] = _module(layer, info.in_shape)
    return nn.Sequential(modules)


def load_preset(name: str) -> NetworkSpec:
    """A preset from resources/presets/NAME.json."""
    path = presets_dir() / f"{name}.json"
    if not path.exists():
        raise SpecError(f"No preset named '{name}'. Available: {', '.join(list_presets())}.")
    return NetworkSpec.load(path)


def presets_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "resources" / "presets"


def list_presets() -> list[str]:
    return sorted(p.stem for p in presets_dir().glob("*.json"))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def example_input(spec: NetworkSpec, batch: int = 1) -> torch.Tensor:
    return torch.zeros(batch, *spec.input_shape)
