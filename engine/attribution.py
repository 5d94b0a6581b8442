"""Saliency / attribution maps: which pixels matter for a class score.

All methods take a model that maps [0, 1] pixels (N, 3, H, W) to raw class
scores (`ImageNetClassifier.model`, or any such nn.Module) and return an
(H, W) float map. Vanilla gradient and Guided Backprop are written out by hand
(the teaching point is "backpropagate the class score to the pixels");
SmoothGrad, Integrated Gradients, Grad-CAM and Occlusion use captum.
"""
from __future__ import annotations

import copy
import time
import weakref
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .errors import ModelError
from .events import Progress

METHODS: dict[str, str] = {
    "vanilla": "Vanilla gradient",
    "smoothgrad": "SmoothGrad",
    "integrated_gradients": "Integrated Gradients",
    "guided_backprop": "Guided Backprop",
    "gradcam": "Grad-CAM",
    "occlusion": "Occlusion",
}


@dataclass(frozen=True)
class SaliencyMap:
    """One method's map for one image and class. `display` is in [0, 1] for showing."""

    method: str
    label: str
    target: int
    target_name: str
    display: np.ndarray  # (H, W) float32 in [0, 1]
    raw: np.ndarray  # (H, W) float32, method units
    seconds: float


def method_key(name: str) -> str:
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    aliases = {"gradient": "vanilla", "saliency": "vanilla", "ig": "integrated_gradients",
               "integrated": "integrated_gradients", "guided": "guided_backprop", "grad_cam": "gradcam"}
    key = aliases.get(key, key)
    if key not in METHODS:
        raise ModelError(f"Unknown saliency method '{name}'. Choose one of: {', '.join(METHODS)}.")
    return key


# ------------------------------------------------------------------ hand-written methods
def vanilla_gradient(model: nn.Module, x01: torch.Tensor, target: int) -> torch.Tensor:
    """cs231n saliency: max over channels of |d raw score_target / d pixel|, shape (H, W)."""
    return vanilla_gradient_and_target(model, x01, target)[0]


def vanilla_gradient_and_target(model: nn.Module, x01: torch.Tensor, target: int | None):
    """(saliency, class): target None = the predicted class, read from the same forward pass,
    so one map costs one forward + one backward."""
    saliency, target, _scores = vanilla_gradient_with_scores(model, x01, target)
    return saliency, target


def vanilla_gradient_with_scores(model: nn.Module, x01: torch.Tensor, target: int | None):
    """(saliency, class, detached class scores) from one forward + one backward pass (the live
    camera shows the predictions of the same pass)."""
    x = x01.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        scores = model(x)
        if target is None:
            target = int(scores[0].detach().argmax())
        (gradient,) = torch.autograd.grad(scores[0, target], x)  # the raw (pre-softmax) class score
    return gradient[0].abs().amax(dim=0), target, scores.detach()


class _GuidedClamp(torch.autograd.Function):
    """ReLU / ReLU6 forward; backward passes only positive gradients where the unit was active."""

    @staticmethod
    def forward(ctx, x, upper):
        ctx.save_for_backward(x)
        ctx.upper = upper
        return x.clamp(min=0.0) if upper is None else x.clamp(0.0, upper)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        active = x > 0
        if ctx.upper is not None:
            active &= x < ctx.upper
        return grad_output.clamp(min=0.0) * active, None


class _GuidedActivation(nn.Module):
    def __init__(self, upper: float | None):
        super().__init__()
        self.upper = upper

    def forward(self, x):
        return _GuidedClamp.apply(x, self.upper)


_guided_copies: "weakref.WeakKeyDictionary[nn.Module, nn.Module]" = weakref.WeakKeyDictionary()


def guided_model(model: nn.Module) -> nn.Module:
    """A copy of `model` whose ReLU/ReLU6 units backpropagate guided gradients (cached).

    A copy, so that other threads using the original model are unaffected.
    """
    guided = _guided_copies.get(model)
    if guided is None:
        guided = copy.deepcopy(model).eval()
        replaced = 0
        for parent in list(guided.modules()):
            for child_name, child in list(parent.named_children()):
                if isinstance(child, nn.ReLU6):
                    setattr(parent, child_name, _GuidedActivation(6.0))
                    replaced += 1
                elif isinstance(child, nn.ReLU):
                    setattr(parent, child_name, _GuidedActivation(None))
                    replaced += 1
        if replaced == 0:
            raise ModelError("Guided Backprop needs ReLU units as modules; this model has none.")
        _guided_copies[model] = guided
    return guided


def guided_backprop(model: nn.Module, x01: torch.Tensor, target: int) -> torch.Tensor:
    """Springenberg et al.: gradients through ReLUs that were active and pushed up; (H, W)."""
    return vanilla_gradient(guided_model(model), x01, target)


# ------------------------------------------------------------------ captum methods
def smoothgrad(model: nn.Module, x01: torch.Tensor, target: int, samples: int = 16,
               noise_level: float = 0.15) -> torch.Tensor:
    """Average of vanilla gradients over noisy copies (noise std = noise_level of the pixel range)."""
    from captum.attr import NoiseTunnel, Saliency

    tunnel = NoiseTunnel(Saliency(model))
    with torch.enable_grad():
        attribution = tunnel.attribute(x01.detach(), nt_type="smoothgrad", nt_samples=samples,
                                       nt_samples_batch_size=8, stdevs=noise_level, target=target, abs=True)
    return attribution[0].amax(dim=0)


def integrated_gradients(model: nn.Module, x01: torch.Tensor, target: int, steps: int = 24,
                         baseline: float = 0.0) -> torch.Tensor:
    """Integral of gradients along the straight path from a black image; |.| summed over channels."""
    from captum.attr import IntegratedGradients

    ig = IntegratedGradients(model)
    with torch.enable_grad():
        attribution = ig.attribute(x01.detach(), baselines=torch.full_like(x01, baseline), target=target,
                                   n_steps=steps, internal_batch_size=16)
    return attribution[0].abs().sum(dim=0)


def gradcam(model: nn.Module, x01: torch.Tensor, target: int, layer: nn.Module) -> torch.Tensor:
    """Grad-CAM on `layer` (the last conv feature map), upsampled to the image size; (H, W) >= 0."""
    from captum.attr import LayerAttribution, LayerGradCam

    cam = LayerGradCam(model, layer)
    with torch.enable_grad():
        attribution = cam.attribute(x01.detach(), target=target, relu_attributions=True)
    upsampled = LayerAttribution.interpolate(attribution, tuple(x01.shape[-2:]), interpolate_mode="bilinear")
    return upsampled[0].sum(dim=0).clamp(min=0)


def occlusion(model: nn.Module, x01: torch.Tensor, target: int, window: int = 32, stride: int = 16,
              fill: float = 0.5) -> torch.Tensor:
    """Drop in the target score when a grey square hides each region; (H, W), positive = important."""
    from captum.attr import Occlusion

    occ = Occlusion(model)
    with torch.no_grad():
        attribution = occ.attribute(x01.detach(), target=target, sliding_window_shapes=(3, window, window),
                                    strides=(3, stride, stride), baselines=fill, perturbations_per_eval=16)
    return attribution[0].mean(dim=0)


# ------------------------------------------------------------------ one call for any method
def normalize_for_display(raw: np.ndarray, method: str) -> np.ndarray:
    """Map a raw attribution to [0, 1]: gradients clip at the 99th percentile, CAM/occlusion at the max."""
    raw = np.asarray(raw, dtype=np.float32)
    if method in ("gradcam", "occlusion"):
        positive = np.clip(raw, 0, None)
        top = float(positive.max())
    else:
        positive = np.abs(raw)
        top = float(np.percentile(positive, 99))
    if not np.isfinite(top) or top <= 0:
        return np.zeros_like(raw, dtype=np.float32)
    return np.clip(positive / top, 0.0, 1.0).astype(np.float32)


def attribute(model: nn.Module, x01: torch.Tensor, method: str, target: int,
              layer: nn.Module | None = None, **options) -> torch.Tensor:
    """The raw (H, W) map of one method for one (1, 3, H, W) image in [0, 1]."""
    method = method_key(method)
    if x01.ndim != 4 or x01.shape[0] != 1:
        raise ModelError(f"Saliency takes one image of shape (1, 3, H, W), got {tuple(x01.shape)}.")
    if method == "vanilla":
        return vanilla_gradient(model, x01, target)
    if method == "guided_backprop":
        return guided_backprop(model, x01, target)
    if method == "smoothgrad":
        return smoothgrad(model, x01, target, **options)
    if method == "integrated_gradients":
        return integrated_gradients(model, x01, target, **options)
    if method == "gradcam":
        if layer is None:
            raise ModelError("Grad-CAM needs the model's last convolutional layer.")
        return gradcam(model, x01, target, layer)
    return occlusion(model, x01, target, **options)


def compute_saliency(classifier, x01: torch.Tensor, method: str, target: int | str | None = None,
                     **options) -> SaliencyMap:
    """A SaliencyMap for an ImageNetClassifier; target None = the predicted class."""
    from .pretrained import class_name, find_class

    method = method_key(method)
    x01 = x01.to(classifier.device)
    start = time.perf_counter()
    if method == "vanilla":
        raw, target = vanilla_gradient_and_target(classifier.model, x01, None if target is None else find_class(target))
    else:
        if target is None:
            with torch.no_grad():
                target = int(classifier.logits(x01).argmax(dim=1)[0])
        else:
            target = find_class(target)
        raw = attribute(classifier.model, x01, method, target, layer=classifier.feature_layer, **options)
    raw_np = raw.detach().float().cpu().numpy().copy()
    return SaliencyMap(method, METHODS[method], target, class_name(target),
                       normalize_for_display(raw_np, method), raw_np, time.perf_counter() - start)


@dataclass(frozen=True)
class SaliencyInput:
    """First event of a saliency job: the crop the maps refer to and the class explained."""

    crop: np.ndarray  # (S, S, 3) uint8
    target: int
    target_name: str
    target_prob: float
    top5: tuple


def saliency_job(classifier, image: np.ndarray | torch.Tensor, methods: Sequence[str],
                 target: int | str | None = None):
    """Job: SaliencyInput, then one SaliencyMap per method (same image, same class); returns a dict.

    `classifier`: an ImageNetClassifier or a model name (loaded inside the job).
    """
    from .pretrained import as_classifier, class_name, find_class, top_k

    keys = [method_key(m) for m in methods]
    if not keys:
        raise ModelError("Choose at least one saliency method.")
    yield Progress(0, len(keys), "Loading the model...")
    classifier = as_classifier(classifier)
    x01 = image.to(classifier.device) if isinstance(image, torch.Tensor) else classifier.preprocess(image)
    with torch.no_grad():
        probs = torch.softmax(classifier.logits(x01), dim=1)[0].cpu().numpy()
    target = int(probs.argmax()) if target is None or target == "" else find_class(target)
    yield SaliencyInput(classifier.to_uint8(x01), target, class_name(target), float(probs[target]),
                        tuple(tuple(p) for p in top_k(probs, 5)))
    results: dict[str, SaliencyMap] = {}
    yield Progress(0, len(keys), f"Computing {METHODS[keys[0]]}...")
    for done, key in enumerate(keys, start=1):
        result = compute_saliency(classifier, x01, key, target)
        results[key] = result
        target = result.target  # every method explains the same class
        yield result
        yield Progress(done, len(keys), f"{result.label}: {result.seconds:.2f} s")
    return results


# ------------------------------------------------------------------ display
def colorize(map01: np.ndarray, colormap: str = "inferno") -> np.ndarray:
    """(H, W) in [0, 1] -> (H, W, 3) uint8 with a matplotlib colour map (no pyplot, no Qt)."""
    from matplotlib import colormaps

    rgba = colormaps[colormap](np.clip(np.asarray(map01, dtype=np.float32), 0, 1))
    return (rgba[:, :, :3] * 255 + 0.5).astype(np.uint8)


def overlay(image: np.ndarray, map01: np.ndarray, opacity: float = 0.5, colormap: str = "inferno") -> np.ndarray:
    """Blend a coloured map over an (H, W, 3) uint8 image of the same size."""
    image = np.asarray(image, dtype=np.float32)
    if image.shape[:2] != np.asarray(map01).shape[:2]:
        raise ModelError(f"The map {np.asarray(map01).shape[:2]} and the image {image.shape[:2]} differ in size.")
    colours = colorize(map01, colormap).astype(np.float32)
    alpha = float(np.clip(opacity, 0, 1))
    return np.clip((1 - alpha) * image + alpha * colours, 0, 255).astype(np.uint8)


def overlay_rgba(map01: np.ndarray, colormap: str = "inferno") -> np.ndarray:
    """(H, W, 4) uint8 heat map whose alpha follows the map, for an overlay image item."""
    colours = colorize(map01, colormap)
    alpha = (np.clip(np.asarray(map01, dtype=np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)
    return np.dstack([colours, alpha])
