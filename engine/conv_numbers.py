"""The convolution in numbers (CNN Explainer's walk-through): for one output position of a real
Conv2d layer, the input patch it sees (zeros where it hangs over the padding), the kernel, the
elementwise products, their sum, plus the bias = the value the layer computed; then ReLU and
max pooling the same way. Written out by hand (that is the lesson); the tests hold every
number against the real layer's output.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .errors import SpecError


@dataclass(frozen=True)
class ConvStep:
    """out[channel, y, x] = sum(patch * kernel) + bias, over all input channels."""

    channel: int
    y: int
    x: int
    rows: np.ndarray  # (k,) input rows the kernel taps touch (negative or >= H: padding)
    cols: np.ndarray  # (k,)
    patch: np.ndarray  # (C_in, k, k) the input values under the taps (0 in the padding)
    kernel: np.ndarray  # (C_in, k, k)
    products: np.ndarray  # patch * kernel
    total: float  # products.sum()
    bias: float
    output: float  # total + bias: the layer's value at (channel, y, x)
    relu: float  # max(0, output)


@dataclass(frozen=True)
class PoolStep:
    y: int
    x: int
    rows: np.ndarray
    cols: np.ndarray
    window: np.ndarray  # (k, k) values in the window (-inf in the padding)
    output: float  # the largest of them
    winner: tuple[int, int]  # (row, col) in the input map where the maximum sits


def _taps(position: int, stride: int, padding: int, dilation: int, kernel: int) -> np.ndarray:
    return position * stride - padding + dilation * np.arange(kernel)


def conv_step(conv: nn.Conv2d, x: torch.Tensor | np.ndarray, channel: int, y: int, x_pos: int) -> ConvStep:
    """The walk-through of conv's output (channel, y, x_pos) for the input `x` (C_in, H, W)."""
    if conv.groups != 1:
        raise SpecError("The walk-through shows ordinary convolutions (groups = 1).")
    values = torch.as_tensor(x).detach().float().cpu().numpy()
    if values.ndim != 3 or values.shape[0] != conv.in_channels:
        raise SpecError(f"Expected a ({conv.in_channels}, H, W) input, got {values.shape}.")
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = conv.kernel_size, conv.stride, conv.padding, conv.dilation
    if isinstance(conv.padding, str):
        raise SpecError("The walk-through needs numeric padding.")
    height, width = values.shape[1:]
    out_h = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    out_w = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if not (0 <= channel < conv.out_channels and 0 <= y < out_h and 0 <= x_pos < out_w):
        raise SpecError(f"Output position ({channel}, {y}, {x_pos}) is outside the "
                        f"{conv.out_channels}x{out_h}x{out_w} output.")
    rows, cols = _taps(y, sh, ph, dh, kh), _taps(x_pos, sw, pw, dw, kw)
    inside_r = (rows >= 0) & (rows < height)
    inside_c = (cols >= 0) & (cols < width)
    patch = np.zeros((values.shape[0], kh, kw), np.float32)
    patch[:, inside_r[:, None] & inside_c[None, :]] = \
        values[:, rows[inside_r][:, None], cols[inside_c][None, :]].reshape(values.shape[0], -1)
    kernel = conv.weight.detach().float().cpu().numpy()[channel]
    products = patch * kernel
    total = float(products.sum(dtype=np.float64))
    bias = float(conv.bias.detach()[channel]) if conv.bias is not None else 0.0
    output = total + bias
    return ConvStep(channel, y, x_pos, rows, cols, patch, kernel, products, total, bias, output, max(0.0, output))


def pool_step(pool: nn.MaxPool2d, feature_map: torch.Tensor | np.ndarray, y: int, x_pos: int) -> PoolStep:
    """The walk-through of max pooling's output (y, x_pos) over one (H, W) feature map."""
    values = torch.as_tensor(feature_map).detach().float().cpu().numpy()
    if values.ndim != 2:
        raise SpecError(f"Expected one (H, W) feature map, got {values.shape}.")

    def pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)

    (kh, kw), (sh, sw) = pair(pool.kernel_size), pair(pool.stride or pool.kernel_size)
    (ph, pw), (dh, dw) = pair(pool.padding), pair(pool.dilation)
    rows, cols = _taps(y, sh, ph, dh, kh), _taps(x_pos, sw, pw, dw, kw)
    height, width = values.shape
    window = np.full((kh, kw), -np.inf, np.float32)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            if 0 <= r < height and 0 <= c < width:
                window[i, j] = values[r, c]
    if not np.isfinite(window).any():
        raise SpecError(f"Pooling position ({y}, {x_pos}) covers only padding.")
    i, j = np.unravel_index(int(np.argmax(window)), window.shape)
    return PoolStep(y, x_pos, rows, cols, window, float(window[i, j]), (int(rows[i]), int(cols[j])))
