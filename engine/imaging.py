"""Array-to-picture helpers for display: tiling, colour scaling. Numpy only."""
from __future__ import annotations

import math

import numpy as np


def to_display_uint8(array: np.ndarray, symmetric: bool = False, vmin: float | None = None,
                     vmax: float | None = None) -> np.ndarray:
    """Scale any float array to 0..255. symmetric=True maps 0 to mid-grey (for weights)."""
    array = np.asarray(array, dtype=np.float32)
    if symmetric:
        bound = float(np.max(np.abs(array))) if vmax is None else float(vmax)
        bound = bound or 1.0
        scaled = (array / bound + 1.0) * 0.5
    else:
        low = float(array.min()) if vmin is None else float(vmin)
        high = float(array.max()) if vmax is None else float(vmax)
        scaled = (array - low) / (high - low) if high > low else np.zeros_like(array)
    return (np.clip(scaled, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def tile_images(images: np.ndarray, columns: int | None = None, pad: int = 1,
                pad_value: int = 255) -> tuple[np.ndarray, tuple[int, int]]:
    """Tile (N, H, W) or (N, H, W, C) uint8 images into one mosaic.

    Returns the mosaic and (rows, columns). Tile i sits at row i // columns.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    n, h, w, c = images.shape
    if n == 0:
        return np.full((1, 1, c), pad_value, dtype=np.uint8), (0, 0)
    columns = columns or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / columns))
    mosaic = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), pad_value, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, columns)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        mosaic[y:y + h, x:x + w] = images[i]
    return mosaic, (rows, columns)


def tile_index_at(x: float, y: float, tile_shape: tuple[int, int], grid: tuple[int, int], pad: int = 1) -> int | None:
    """Which tile a mosaic pixel (x, y) belongs to, or None for padding / outside."""
    h, w = tile_shape
    rows, columns = grid
    col, cx = divmod(int(x) - pad, w + pad)
    row, cy = divmod(int(y) - pad, h + pad)
    if x < pad or y < pad or col >= columns or row >= rows or cx >= w or cy >= h:
        return None
    return row * columns + col


def nearest_upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Blocky enlargement so small images (8x8 digits) stay crisp on a projector."""
    if factor <= 1:
        return image
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)
