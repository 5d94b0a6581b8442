"""Project one hidden unit back to pixels (Zeiler & Fergus 2014, "Visualizing and understanding
convolutional networks"), to show *what in the image* made the unit fire.

The deconvnet runs the network backwards from one unit: every other activation of the layer
set to zero, then, layer by layer down to the pixels,
- max pooling is undone with the switches recorded in the forward pass (the signal goes back
  to the position that was the maximum),
- a ReLU is applied to the backward signal itself (not masked by the forward pass),
- a convolution is undone with the transposed filters (the same weights, flipped).
Autograd already does the first and the third (max-pool backward routes to the argmax,
conv backward is the transposed convolution), so the deconvnet is the gradient of the unit
with one change: each ReLU's backward rule becomes relu(signal). `deconvnet_steps` writes the
same three steps out by hand for a plain Conv -> ReLU -> MaxPool stack, for the lecture and as
the test's reference.

Networks without max pooling (EfficientNet) have no switches to undo, so the view uses guided
backpropagation (Springenberg et al. 2015: the backward signal is kept only where it is
positive AND the unit was active) and says so.
"""
from __future__ import annotations

import copy
import weakref
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import ModelError
from .layers import own_thread_forward_hook

DECONVNET = "deconvnet"
GUIDED = "guided_backprop"
METHOD_LABELS = {DECONVNET: "Deconvnet (Zeiler & Fergus)", GUIDED: "Guided backpropagation"}


@dataclass(frozen=True)
class UnitProjection:
    """One unit's activation projected to the input. `raw` is (H, W, C) in the model's input
    space, signed; `display` is (H, W, C) uint8 with grey = 0, as in the paper's figures."""

    layer: str
    channel: int
    position: tuple[int, int] | None  # (y, x) of the unit in its feature map; None for a vector layer
    activation: float
    method: str
    note: str
    raw: np.ndarray
    display: np.ndarray


class _RectifiedBackward(torch.autograd.Function):
    """ReLU / ReLU6 forward; backward by the deconvnet rule (relu of the signal) or the
    guided rule (relu of the signal where the unit was active)."""

    @staticmethod
    def forward(ctx, x, upper, guided):
        ctx.save_for_backward(x)
        ctx.upper, ctx.guided = upper, guided
        return x.clamp(min=0.0) if upper is None else x.clamp(0.0, upper)

    @staticmethod
    def backward(ctx, grad_output):
        signal = grad_output.clamp(min=0.0)
        if ctx.guided:
            (x,) = ctx.saved_tensors
            active = x > 0
            if ctx.upper is not None:
                active &= x < ctx.upper
            signal = signal * active
        return signal, None, None


class _Rectifier(nn.Module):
    def __init__(self, upper: float | None, guided: bool):
        super().__init__()
        self.upper, self.guided = upper, guided

    def forward(self, x):
        return _RectifiedBackward.apply(x, self.upper, self.guided)


_copies: "weakref.WeakKeyDictionary[nn.Module, dict[str, nn.Module]]" = weakref.WeakKeyDictionary()


def rectified_copy(model: nn.Module, method: str) -> nn.Module:
    """A copy of `model` (cached per model and method; other threads keep using the original)
    whose ReLU / ReLU6 modules backpropagate by `method`'s rule. Module paths are unchanged."""
    per_model = _copies.setdefault(model, {})
    if method not in per_model:
        rectified = copy.deepcopy(model).eval()
        replaced = 0
        for parent in list(rectified.modules()):
            for child_name, child in list(parent.named_children()):
                if isinstance(child, (nn.ReLU, nn.ReLU6)):
                    upper = 6.0 if isinstance(child, nn.ReLU6) else None
                    setattr(parent, child_name, _Rectifier(upper, guided=method == GUIDED))
                    replaced += 1
        if replaced == 0:
            raise ModelError(f"{METHOD_LABELS[method]} needs ReLU units as modules; this model has none.")
        per_model[method] = rectified
    return per_model[method]


def default_method(model: nn.Module) -> str:
    return DECONVNET if any(isinstance(m, nn.MaxPool2d) for m in model.modules()) else GUIDED


def _method_note(method: str, chosen: str) -> str:
    if method == DECONVNET:
        return "Deconvnet: unpooling with the forward pass's switches, ReLU on the backward signal, " \
               "transposed filters."
    if chosen == "auto":
        return "This network has no max pooling (no switches to undo), so guided backpropagation " \
               "shows the same view."
    return "Guided backpropagation: the backward signal is kept where it is positive and the unit was active."


def project_unit(model: nn.Module, x: torch.Tensor, layer: str, channel: int,
                 position: tuple[int, int] | None = None, method: str = "auto") -> UnitProjection:
    """Project unit `channel` of `layer` (a module path such as 'features.3' or 'blocks.3.0.conv_pw')
    for the input `x` (1, C, H, W) back to the input. `position` picks the unit's (y, x) in its
    feature map; None takes the strongest one, as Zeiler & Fergus did."""
    chosen = method
    method = default_method(model) if method == "auto" else method
    if method not in METHOD_LABELS:
        raise ModelError(f"Unknown projection method '{chosen}'. Choose auto, {DECONVNET} or {GUIDED}.")
    if x.dim() != 4 or x.shape[0] != 1:
        raise ModelError(f"Project one image at a time: expected a (1, C, H, W) input, got {tuple(x.shape)}.")
    rectified = rectified_copy(model, method)
    try:
        target = rectified.get_submodule(layer)
    except AttributeError:
        raise ModelError(f"The model has no layer '{layer}'.") from None
    captured: list[torch.Tensor] = []
    handle = own_thread_forward_hook(target, lambda _m, _i, out: captured.append(out))
    x = x.detach().clone().requires_grad_(True)
    try:
        with torch.enable_grad():
            rectified(x)
            if not captured or not isinstance(captured[0], torch.Tensor):
                raise ModelError(f"Layer '{layer}' did not produce a tensor for this input.")
            output = captured[0]
            if not 0 <= channel < output.shape[1]:
                raise ModelError(f"Layer '{layer}' has {output.shape[1]} channels; there is no channel {channel}.")
            unit, where = _pick_unit(output[0, channel], position)
            activation = float(unit.detach())
            unit.backward()
    finally:
        handle.remove()
    raw = x.grad[0].permute(1, 2, 0).detach().cpu().numpy().astype(np.float32) * max(activation, 0.0)
    return UnitProjection(layer, int(channel), where, activation, method, _method_note(method, chosen), raw,
                          projection_display(raw))


def _pick_unit(channel_map: torch.Tensor, position):
    if channel_map.dim() == 0:  # a vector layer: the channel is the unit
        return channel_map, None
    if channel_map.dim() != 2:
        raise ModelError(f"Expected a (H, W) feature map per channel, got {tuple(channel_map.shape)}.")
    height, width = channel_map.shape
    if position is None:
        flat = int(channel_map.detach().argmax())
        position = (flat // width, flat % width)
    y, x = int(position[0]), int(position[1])
    if not (0 <= y < height and 0 <= x < width):
        raise ModelError(f"Position ({y}, {x}) is outside the {height}x{width} feature map.")
    return channel_map[y, x], (y, x)


def projection_display(raw: np.ndarray) -> np.ndarray:
    """(H, W, C) signed -> uint8 with 0 at mid grey (the paper's figures); grey inputs become RGB.
    Scaled so the 99.5th percentile of the magnitude reaches black or white: a few extreme
    pixels would otherwise leave the whole projection a flat grey."""
    magnitude = np.abs(raw[raw != 0])
    scale = float(np.percentile(magnitude, 99.5)) if magnitude.size else 0.0
    shown = 0.5 + raw / (2.0 * scale) if scale > 0 else np.full_like(raw, 0.5)
    if shown.shape[-1] == 1:
        shown = np.repeat(shown, 3, axis=-1)
    return (np.clip(shown, 0.0, 1.0) * 255).round().astype(np.uint8)


# ---------------------------------------------------------------- the three steps by hand
def deconvnet_steps(layers: list[nn.Module], x: torch.Tensor, channel: int,
                    position: tuple[int, int] | None = None) -> list[tuple[str, torch.Tensor]]:
    """The deconvnet written out for a plain stack of Conv2d / ReLU / MaxPool2d modules (the
    unit is taken at the stack's output). Returns each step's reconstruction, from the unit down
    to the pixels: ('unit', ...), then per layer in reverse ('unpool', ...), ('rectify', ...),
    ('filter', ...). The last tensor is the projection, shape (1, C, H, W)."""
    switches: list[torch.Tensor | None] = []
    sizes: list[torch.Size] = []
    h = x.detach()
    with torch.no_grad():
        for layer in layers:
            sizes.append(h.shape)
            if isinstance(layer, nn.MaxPool2d):
                h, where = F.max_pool2d(h, layer.kernel_size, layer.stride, layer.padding, layer.dilation,
                                        ceil_mode=layer.ceil_mode, return_indices=True)
                switches.append(where)
            elif isinstance(layer, (nn.Conv2d, nn.ReLU)):
                h = layer(h)
                switches.append(None)
            else:
                raise ModelError(f"deconvnet_steps handles Conv2d, ReLU and MaxPool2d, not {type(layer).__name__}.")
        signal = torch.zeros_like(h)
        unit, where = _pick_unit(h[0, channel], position)
        if where is None:
            signal[0, channel] = unit
        else:
            signal[0, channel, where[0], where[1]] = unit
        steps = [("unit", signal.clone())]
        for layer, switch, size in zip(reversed(layers), reversed(switches), reversed(sizes)):
            if isinstance(layer, nn.MaxPool2d):  # back to the position of each window's maximum
                signal = F.max_unpool2d(signal, switch, layer.kernel_size, layer.stride, layer.padding,
                                        output_size=size[-2:])
                steps.append(("unpool", signal.clone()))
            elif isinstance(layer, nn.ReLU):  # rectify the reconstruction itself
                signal = signal.clamp(min=0.0)
                steps.append(("rectify", signal.clone()))
            else:  # the same filters, transposed; no bias
                extra = [size[-2 + i] - ((signal.shape[-2 + i] - 1) * layer.stride[i] - 2 * layer.padding[i]
                                         + layer.dilation[i] * (layer.kernel_size[i] - 1) + 1) for i in range(2)]
                signal = F.conv_transpose2d(signal, layer.weight, None, layer.stride, layer.padding,
                                            output_padding=tuple(extra), groups=layer.groups,
                                            dilation=layer.dilation)
                steps.append(("filter", signal.clone()))
    return steps
