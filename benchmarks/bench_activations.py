"""Feature maps of one 224x224 RGB input for a whole network, rendering-ready.

ConvScope's figure: `engine.introspect.feature_maps_for` (forward pass with every
layer's output kept, each layer scaled to uint8) plus tiling every layer's maps
into the mosaic the Activations panel shows. Baseline, measured in the same
run: a bare forward pass of the same model on the same input. Model: the small
VGG preset (3x3 convs + batch norm, 32-64-128 channels) built for 3x224x224.
Target: the whole thing under 200 ms on the CPU.
"""
from __future__ import annotations

import torch

from benchmarks.common import BenchResult, median_time

TARGET_MS = 200.0


def _model():
    from engine.model import ConvNet
    from engine.spec import load_preset

    torch.manual_seed(0)
    spec = load_preset("vgg_small").adapted_to((3, 224, 224), 1000)
    return ConvNet(spec).eval()


def run(quick: bool = False) -> list[BenchResult]:
    from engine.imaging import tile_images
    from engine.introspect import feature_maps_for

    model = _model()
    image = torch.rand(3, 224, 224, generator=torch.Generator().manual_seed(0))
    repeats = 3 if quick else 9

    def bare() -> None:
        with torch.no_grad():
            model(image.unsqueeze(0))

    def render_all() -> None:
        for maps in feature_maps_for(model, image):
            tile_images(maps.maps)

    # Interleave so background load hits both sides alike; keep the medians.
    bare_s, ours_s = [], []
    for _ in range(3):
        bare_s.append(median_time(bare, repeats=repeats, warmup=1))
        ours_s.append(median_time(render_all, repeats=repeats, warmup=1))
    bare_ms, ours_ms = min(bare_s) * 1000, min(ours_s) * 1000
    layers = len(model.named_layers())
    maps = sum(m.maps.shape[0] for m in feature_maps_for(model, image))
    return [BenchResult(
        name="feature maps of a 224x224 input, whole small-VGG network",
        figure=ours_ms, unit="ms", baseline=bare_ms, baseline_label="bare forward pass",
        target=f"< {TARGET_MS:.0f} ms", met=ours_ms < TARGET_MS,
        notes=f"{layers} layers, {maps} maps scaled to uint8 and tiled (best of 3 medians)",
    )]


if __name__ == "__main__":
    for result in run(quick=True):
        print(result.as_dict())
