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
from .schema import Setting

Shape = tuple[int, ...]  # (C, H, W) for images, (F,) for vectors


@dataclass(frozen=True)
class LayerType:
    kind: str
    label: str
    params: tuple[Setting, ...]  # its degrees of freedom (the layer editor is built from them)
    help: str
    spatial_only: bool = False  # needs a (C, H, W) input


def _int(name, default, lo, hi, help_text):
    return Setting(name, int, default, help_text, minimum=lo, maximum=hi)


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
            Setting("slope", float, 0.01, "Slope for negative inputs.", minimum=0.0, maximum=1.0, step=0.05),
        ), "Like ReLU but lets a small gradient through for x < 0."),
        LayerType("tanh", "Tanh", (), "Squashes to (-1, 1); zero-centred but saturates."),
        LayerType("sigmoid", "Sigmoid", (), "Squashes to (0, 1); saturates and is not zero-centred."),
        LayerType("elu", "ELU", (), "Exponential linear unit: smooth, negative outputs near zero mean."),
        LayerType("gelu", "GELU", (), "Smooth ReLU-like unit used in modern networks."),
        LayerType("batchnorm", "BatchNorm", (), "Normalizes each channel over the batch, then scales and shifts."),
        LayerType("dropout", "Dropout", (
            Setting("p", float, 0.5, "Probability of zeroing each activation during training.", minimum=0.0,
                    maximum=0.99, step=0.05),
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
        if not isinstance(data["kind"], str):
            raise SpecError("A layer's 'kind' must be text such as \"conv\" or \"linear\".")
        kind = data["kind"].lower()
        if kind not in LAYER_TYPES:
            raise SpecError(f"Unknown layer kind '{kind[:40]}'. Known: {', '.join(LAYER_TYPES)}.")
        known = {p.name: p for p in LAYER_TYPES[kind].params}
        params = {}
        for key, value in data.items():
            if key == "kind":
                continue
            if key not in known:
                raise SpecError(f"Layer '{kind}' has no parameter '{str(key)[:40]}'.")
            params[key] = _param_value(kind, known[key], value)
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
        raw_shape = data.get("input_shape", (1, 28, 28))
        if not isinstance(raw_shape, (list, tuple)) or len(raw_shape) not in (1, 3):
            raise SpecError("'input_shape' must be a list [C, H, W] (or [F] for flat input) of whole numbers.")
        shape = tuple(_whole_number("input_shape", v) for v in raw_shape)
        num_classes = _whole_number("num_classes", data.get("num_classes", 10))
        if len(data["layers"]) > MAX_LAYERS:
            raise SpecError(f"The network has {len(data['layers']):,} layers; ConvScope builds at most {MAX_LAYERS}.")
        problem = input_shape_problem(shape) or classes_problem(num_classes)
        if problem:
            raise SpecError(problem)
        name = data.get("name", "network")
        if not isinstance(name, str):
            raise SpecError("The network's 'name' must be text.")
        return NetworkSpec(
            name=name[:200],
            input_shape=shape,
            num_classes=num_classes,
            layers=[_layer_at(index, layer) for index, layer in enumerate(data["layers"])],
        )

    @staticmethod
    def from_json(text: str) -> "NetworkSpec":
        from .validation import parse_json_text

        return NetworkSpec.from_dict(parse_json_text(text, "architecture file", SpecError))

    def save(self, path: str | Path) -> None:
        from .fileio import atomic_write_text

        atomic_write_text(path, self.to_json())

    @staticmethod
    def load(path: str | Path) -> "NetworkSpec":
        from .fileio import InputFileError, read_small_text

        try:
            text = read_small_text(path, what="architecture file", limit=MAX_SPEC_FILE_BYTES)
        except InputFileError as exc:
            raise SpecError(str(exc)) from None
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


MAX_LAYERS = 1000
MAX_SPEC_FILE_BYTES = 4 * 1024 * 1024
MAX_INPUT_SIDE = 2048  # pixels per side of an input image
MAX_INPUT_CHANNELS = 64
MAX_FLAT_INPUT = 16_777_216  # features of a flat (F,) input
MAX_CLASSES = 100_000
BYTES_PER_VALUE = 4  # float32
TRAINING_COPIES = 4  # weights, gradients and up to two optimizer buffers (Adam, momentum)


def memory_budget_bytes() -> int:
    """The memory one network may use: half of this machine's RAM (CONVSCOPE_MEMORY_BUDGET_GB overrides)."""
    import os

    override = os.environ.get("CONVSCOPE_MEMORY_BUDGET_GB")
    if override:
        try:
            value = float(override)
            if math.isfinite(value) and value > 0:
                return int(value * 1e9)
        except ValueError:
            pass
    try:
        import psutil

        return int(psutil.virtual_memory().total * 0.5)
    except Exception:  # psutil missing or failing: assume a small laptop
        return 4 * 10**9


def _gb(nbytes: float) -> str:
    return f"{nbytes / 1e9:.1f} GB" if nbytes < 1e12 else f"{nbytes / 1e9:,.0f} GB"


def _elements(shape: Shape) -> int:
    return int(math.prod(shape))


def _whole_number(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"'{name}' must be a whole number, not {value!r:.40}.")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise SpecError(f"'{name}' must be a whole number, not {value!r}.")
    return int(value)


def input_shape_problem(shape: Shape) -> str | None:
    """Why an input shape cannot be used (None when fine)."""
    if len(shape) not in (1, 3) or any(isinstance(v, bool) or not isinstance(v, int) for v in shape):
        return f"Input shape must be (C, H, W) or (F,) of whole numbers, got {tuple(shape)}."
    if min(shape) < 1:
        return f"Input shape must be (C, H, W) or (F,) with positive sizes, got {tuple(shape)}."
    if len(shape) == 3:
        c, h, w = shape
        if c > MAX_INPUT_CHANNELS:
            return f"Input images have {c:,} channels; ConvScope takes at most {MAX_INPUT_CHANNELS}."
        if h > MAX_INPUT_SIDE or w > MAX_INPUT_SIDE:
            return (f"Input images of {h:,}x{w:,} pixels are too large; ConvScope takes at most "
                    f"{MAX_INPUT_SIDE}x{MAX_INPUT_SIDE} (resize the data).")
    elif shape[0] > MAX_FLAT_INPUT:
        return f"A flat input of {shape[0]:,} features is too large; at most {MAX_FLAT_INPUT:,}."
    return None


def classes_problem(num_classes: int) -> str | None:
    if not 1 <= num_classes <= MAX_CLASSES:
        return f"'num_classes' must be between 1 and {MAX_CLASSES:,}, got {num_classes:,}."
    return None


def _layer_at(index: int, data: Any) -> "LayerSpec":
    try:
        return LayerSpec.from_dict(data)
    except SpecError as exc:
        raise SpecError(f"Layer {index + 1}: {exc}", layer_index=index) from None


def _param_value(kind: str, info: Setting, value: Any) -> Any:
    """A layer parameter from JSON: a finite number of the right kind (whole for int parameters)."""
    label = LAYER_TYPES[kind].label
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"Layer '{kind}': '{info.name}' must be a number, got {value!r:.40}.")
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(f"Layer '{kind}': '{info.name}' must be a finite number, got {value}.")
    if info.kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise SpecError(f"Layer '{kind}': '{info.name}' must be a whole number, got {value}.")
        value = int(value)
        if value > info.maximum:
            raise SpecError(f"{label} '{info.name}' is {value:,}; ConvScope builds at most {int(info.maximum):,}.")
        return value
    return float(value)


def _limit_problem(layer: LayerSpec) -> str | None:
    """A parameter of the wrong kind or above its declared maximum (LAYER_TYPES), else None."""
    layer_type = LAYER_TYPES.get(layer.kind)
    if layer_type is None:
        return None
    for info in layer_type.params:
        value = layer.get(info.name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"'{info.name}' must be a number, got {value!r:.40}."
        if isinstance(value, float) and not math.isfinite(value):
            return f"'{info.name}' must be a finite number, got {value}."
        if info.kind is int and not (isinstance(value, int) or float(value).is_integer()):
            return f"'{info.name}' must be a whole number, got {value}."
        if value > info.maximum:
            shown = f"{int(info.maximum):,}" if info.kind is int else f"{info.maximum:g}"
            return f"{info.name} is {value:,}; ConvScope builds at most {shown}."
    return None


def _budget_problem(param_total: int, activation_total: int, out_shape: Shape, budget: int) -> str | None:
    """Refuse, with the figures, a network whose weights or activations would not fit in memory."""
    param_bytes = param_total * BYTES_PER_VALUE * TRAINING_COPIES
    if param_bytes > budget:
        return (f"The network reaches {param_total:,} parameters here: training needs about {_gb(param_bytes)}, "
                f"this machine allows {_gb(budget)}. Use fewer units or channels.")
    # forward values plus their gradients for a small batch of 8 images
    activation_bytes = activation_total * BYTES_PER_VALUE * 2 * 8
    if activation_bytes > budget:
        return (f"The activations reach {activation_total:,} values per image here ({_fmt(out_shape)} at this "
                f"layer): training needs about {_gb(activation_bytes)}, this machine allows {_gb(budget)}. "
                "Use fewer channels, a larger stride or pooling.")
    if _elements(out_shape) >= 2**31:
        return f"The output {_fmt(out_shape)} has more than 2**31 values per image; PyTorch cannot index it."
    return None


def _infer(layer: LayerSpec, shape: Shape) -> tuple[Shape, int, str | None]:
    """Output shape, parameter count and an error reason (or None) for one layer."""
    kind = layer.kind
    limit = _limit_problem(layer)
    if limit:
        return shape, 0, limit
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
    input_problem = input_shape_problem(shape)
    rf, jump, start = 1, 1, 0.5  # receptive field bookkeeping (Dumoulin & Visin)
    budget = memory_budget_bytes()
    param_total = 0
    activation_total = _elements(shape) if input_problem is None else 0
    for index, (layer, name) in enumerate(zip(spec.layers, layer_names(spec))):
        if index == 0 and input_problem is not None:
            infos.append(LayerInfo(index, name, layer.label(), shape, None, 0, None, None, None, input_problem))
            shape = None
            continue
        if shape is None:
            infos.append(LayerInfo(index, name, layer.label(), None, None, 0, None, None, None))
            continue
        out_shape, params, error = _infer(layer, shape)
        if error is None:
            param_total += params
            activation_total += _elements(out_shape)
            error = _budget_problem(param_total, activation_total, out_shape, budget)
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
