"""Data augmentation on whole batches, on the training device.

Images stay (N, C, H, W) in [0, 1]; the model's own normalization comes after,
so augmentation acts on what the user sees. Every random draw comes from the
given torch.Generator (CPU), so a seeded run augments the same way every time.

- hflip: mirror left-right with probability 1/2.
- crop (pixels): random translation by up to `crop` pixels in x and y with zero
  fill, which is the classic "pad by `crop` and take a random crop".
- scale (fraction): random zoom by a factor in [1 - scale, 1 + scale].
- rotation (degrees): random rotation in [-rotation, +rotation].
- colour_jitter (strength s): brightness and contrast factors in [1 - s, 1 + s],
  and saturation too for colour images.
- hue_jitter (h, 0-0.5): colour images' hue turned by a random amount in [-h, +h]
  of a full turn (torchvision ColorJitter's hue), as in the lecture's colour example.
The geometric ones are combined into one affine warp (one grid_sample call).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentOptions:
    hflip: bool = False
    crop: int = 0
    scale: float = 0.0
    rotation: float = 0.0
    colour_jitter: float = 0.0
    hue_jitter: float = 0.0

    @property
    def enabled(self) -> bool:
        return (self.hflip or self.crop > 0 or self.scale > 0 or self.rotation > 0 or self.colour_jitter > 0
                or self.hue_jitter > 0)

    @property
    def geometric(self) -> bool:
        return self.crop > 0 or self.scale > 0 or self.rotation > 0

    @staticmethod
    def from_settings(settings) -> "AugmentOptions":
        """Pick the augmentation fields out of a TrainSettings (or any object / dict with them)."""
        values = {}
        for f in fields(AugmentOptions):
            value = settings.get(f.name) if isinstance(settings, dict) else getattr(settings, f.name, None)
            if value is not None:
                values[f.name] = value
        return AugmentOptions(**values)


# Defaults used when a flag is given without a value (CLI "--augment hflip,crop,rotation").
FLAG_DEFAULTS = {"hflip": True, "crop": 4, "scale": 0.1, "rotation": 15.0, "colour_jitter": 0.3, "hue_jitter": 0.1}
FLAG_ALIASES = {"flip": "hflip", "rotate": "rotation", "jitter": "colour_jitter", "color_jitter": "colour_jitter",
                "colour": "colour_jitter", "color": "colour_jitter", "hue": "hue_jitter"}


def parse_augment_flags(text: str) -> dict:
    """'hflip,crop=4,rotation=10,jitter' -> {'hflip': True, 'crop': 4, ...}.
    Raises ValueError naming an unknown flag or a bad value."""
    out: dict = {}
    for item in (part.strip() for part in (text or "").split(",")):
        if not item or item == "none":
            continue
        name, _, value = item.partition("=")
        name = FLAG_ALIASES.get(name.strip().lower(), name.strip().lower())
        if name not in FLAG_DEFAULTS:
            raise ValueError(f"Unknown augmentation '{name}'. Known: {', '.join(FLAG_DEFAULTS)}.")
        default = FLAG_DEFAULTS[name]
        if not value:
            out[name] = default
            continue
        try:
            out[name] = value.strip().lower() in ("1", "true", "yes", "on") if isinstance(default, bool) \
                else type(default)(float(value))
        except ValueError as exc:
            raise ValueError(f"Augmentation '{name}' needs a number, got '{value}'.") from exc
    return out


def _uniform(n: int, generator: torch.Generator | None) -> torch.Tensor:
    """n draws from U(-1, 1) on the CPU."""
    return torch.rand(n, generator=generator) * 2.0 - 1.0


def augment_batch(x: torch.Tensor, options: AugmentOptions, generator: torch.Generator | None = None) -> torch.Tensor:
    """A randomly augmented copy of a batch (N, C, H, W) in [0, 1]."""
    if not options.enabled:
        return x
    n, channels, height, width = x.shape
    device = x.device
    if options.geometric:
        angle = _uniform(n, generator) * math.radians(options.rotation)
        zoom = 1.0 + _uniform(n, generator) * options.scale
        shift_x = _uniform(n, generator) * (2.0 * options.crop / width)
        shift_y = _uniform(n, generator) * (2.0 * options.crop / height)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        # theta maps output coordinates to input coordinates (normalized to [-1, 1]).
        theta = torch.stack([torch.stack([cos, -sin, shift_x], 1), torch.stack([sin, cos, shift_y], 1)], 1)
        grid = F.affine_grid(theta.to(device=device, dtype=x.dtype), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if options.hflip:
        flip = (torch.rand(n, generator=generator) < 0.5).to(device)
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if options.colour_jitter > 0:
        s = options.colour_jitter
        brightness = (1.0 + _uniform(n, generator) * s).to(device, x.dtype)[:, None, None, None]
        contrast = (1.0 + _uniform(n, generator) * s).to(device, x.dtype)[:, None, None, None]
        saturation = (1.0 + _uniform(n, generator) * s).to(device, x.dtype)[:, None, None, None]
        x = x * brightness
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * contrast + mean
        if channels == 3:
            grey = x.mean(dim=1, keepdim=True)
            x = (x - grey) * saturation + grey
        x = x.clamp(0.0, 1.0)
    if options.hue_jitter > 0 and channels == 3:
        shift = (_uniform(n, generator) * min(float(options.hue_jitter), 0.5)).to(device, x.dtype)
        x = shift_hue(x, shift)
    return x


def shift_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Turn the hue of (N, 3, H, W) RGB images in [0, 1] by `shift` (N,) of a full turn,
    keeping saturation and value: RGB -> HSV, h += shift (mod 1), HSV -> RGB."""
    r, g, b = x.unbind(1)
    value, _ = x.max(1)
    low, _ = x.min(1)
    chroma = value - low
    safe = torch.where(chroma > 0, chroma, torch.ones_like(chroma))
    hue = torch.where(value == r, ((g - b) / safe) % 6.0,
                      torch.where(value == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0)) / 6.0
    hue = torch.where(chroma > 0, hue, torch.zeros_like(hue))
    hue = (hue + shift[:, None, None]) % 1.0
    # HSV -> RGB with the standard f(n) = V - C * max(0, min(k, 4 - k, 1)), k = (n + 6h) mod 6.
    out = []
    for n_ in (5.0, 3.0, 1.0):
        k = (n_ + hue * 6.0) % 6.0
        out.append(value - chroma * torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0))
    return torch.stack(out, 1)


def augment_preview(images: torch.Tensor, options: AugmentOptions, copies: int = 8, seed: int = 0) -> np.ndarray:
    """For a preview grid: each image followed by `copies` augmented versions, as
    ((copies + 1) * N, H, W, C) uint8 (row i: original i then its variants)."""
    generator = torch.Generator().manual_seed(seed)
    images = images.detach().float().cpu()
    rows = []
    with torch.no_grad():
        for image in images:
            batch = image.unsqueeze(0).repeat(copies, 1, 1, 1)
            rows.append(torch.cat([image.unsqueeze(0), augment_batch(batch, options, generator)], 0))
    tiles = torch.cat(rows, 0).clamp(0, 1).mul(255).round().to(torch.uint8).numpy()
    return np.ascontiguousarray(tiles.transpose(0, 2, 3, 1))
