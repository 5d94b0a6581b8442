"""Adversarial examples: tiny pixel changes that make the classifier say anything.

Attacks work on the model's input crop in [0, 1] pixel space (the model
normalises internally) and are quantization-aware: the forward pass of every
step sees the image rounded to 8-bit steps (1/255), the gradient updates a
continuous copy (straight-through), so the image that stops the attack is
exactly what a saved PNG holds, and reloading the PNG still fools the model.

- iterative: targeted, normalised-gradient SGD with momentum (Cornell
  reference): V = mu*V - lr*G/||G||, I += V, loss -s_y + lambda/2 ||I - I0||^2
  (penalty on the normalised image); stops at target prob > stop_prob or after
  `steps`; optional max-change budget (L-inf, 0-255 units).
- fgsm: one signed-gradient step of size epsilon/255 (targeted towards a class,
  or away from the predicted class when no target is given).
- pgd: repeated signed-gradient steps projected onto the L-inf ball of radius
  epsilon/255 (targeted or untargeted), early stop on success.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ModelError
from .events import Throttle
from .images import quantize
from .imaging import to_display_uint8

ATTACKS = {"iterative": "Iterative targeted (SGD + momentum)", "fgsm": "FGSM (one step)",
           "pgd": "PGD (L-inf budget)"}


@dataclass(frozen=True)
class AttackStep:
    """Progress of an attack. Images are (224, 224, 3) uint8 exactly as a PNG would store them."""

    step: int
    target_prob: float  # probability of the target class (nan for untargeted attacks)
    original_prob: float  # probability of the originally predicted class
    linf_255: float  # max |change| of any pixel channel, in 0-255 units
    top5: tuple  # ((index, name, prob), ...) for the current image
    adversarial: np.ndarray
    difference: np.ndarray  # change magnified around mid-grey
    magnification: float


@dataclass(frozen=True)
class AttackResult:
    method: str
    original_index: int
    original_name: str
    original_prob: float  # on the clean image
    target_index: int | None
    target_name: str | None
    final_index: int
    final_name: str
    final_prob: float
    target_prob: float  # on the final 8-bit image (nan for untargeted)
    steps: int
    linf_255: float
    success: bool
    original: np.ndarray  # (224, 224, 3) uint8 clean crop
    adversarial: np.ndarray  # (224, 224, 3) uint8, what save_png writes
    difference: np.ndarray
    magnification: float
    top5_before: tuple
    top5_after: tuple

    def summary(self) -> dict:
        """The JSON fields of `main.py fool`."""
        return {"method": self.method, "original": self.original_name, "original_prob": round(self.original_prob, 4),
                "target": self.target_name, "final": self.final_name, "final_prob": round(self.final_prob, 4),
                "target_prob": None if self.target_index is None else round(self.target_prob, 4),
                "steps": self.steps, "linf_255": round(self.linf_255, 2), "success": self.success}


def magnified_difference(adversarial: np.ndarray, original: np.ndarray) -> tuple[np.ndarray, float]:
    """The change as an image: mid-grey = unchanged, scaled so the largest change is full range."""
    diff = adversarial.astype(np.float32) - original.astype(np.float32)
    largest = float(np.abs(diff).max())
    if largest == 0:
        return np.full(diff.shape, 128, dtype=np.uint8), 1.0
    return to_display_uint8(diff, symmetric=True), 127.5 / largest


def _top5(probs: torch.Tensor) -> tuple:
    from .pretrained import top_k

    return tuple(tuple(p) for p in top_k(probs.detach().cpu().numpy(), 5))


def attack_job(classifier, image, method: str = "iterative", target: int | str | None = None,
               epsilon_255: float | None = 8.0, steps: int | None = None, lr: float = 0.1, momentum: float = 0.9,
               penalty: float = 5e-5, stop_prob: float = 0.9, pgd_step_255: float | None = None,
               emit_interval_s: float = 0.05):
    """Job: AttackStep events, returns an AttackResult.

    `image`: (H, W, 3) uint8 (preprocessed to the model's crop) or a (1, 3, S, S) [0, 1] tensor.
    `epsilon_255`: FGSM step / PGD budget; for the iterative attack an optional max-change
    budget (None = unbounded, as in the reference). `lr` is in normalised-image units.
    """
    from .pretrained import as_classifier, class_name, find_class

    method = method.strip().lower()
    if method not in ATTACKS:
        raise ModelError(f"Unknown attack '{method}'. Choose one of: {', '.join(ATTACKS)}.")
    target_index = None if target is None or target == "" else find_class(target)
    if method == "iterative" and target_index is None:
        raise ModelError("The iterative attack needs a target class: which class should the model see?")
    if method in ("fgsm", "pgd") and (epsilon_255 is None or epsilon_255 <= 0):
        raise ModelError(f"{method.upper()} needs a positive epsilon (in 0-255 pixel units, e.g. 8).")
    if epsilon_255 is not None and not 0 < epsilon_255 <= 255:
        raise ModelError("Epsilon is in 0-255 pixel units: choose a value between 1 and 255.")
    if method == "fgsm":
        steps = 1  # FGSM is one step by definition
    elif steps is None:
        steps = 100
    if steps < 1:
        raise ModelError("The attack needs at least one step.")

    classifier = as_classifier(classifier)  # a model name is loaded here, in the job's thread
    device = classifier.device
    model = classifier.model
    std = torch.tensor(classifier.std, device=device).view(1, 3, 1, 1)
    x = image if isinstance(image, torch.Tensor) else classifier.preprocess(image)
    original = quantize(x.detach().to(device, torch.float32))
    if original.ndim != 4 or original.shape[0] != 1:
        raise ModelError(f"The attack takes one image, got shape {tuple(original.shape)}.")
    original_uint8 = classifier.to_uint8(original)
    budget = None if epsilon_255 is None else float(epsilon_255) / 255.0

    with torch.no_grad():
        probs0 = torch.softmax(model(original), dim=1)[0]
    original_index = int(probs0.argmax())
    top5_before = _top5(probs0)

    def project(candidate: torch.Tensor) -> torch.Tensor:
        if budget is not None:
            candidate = torch.max(torch.min(candidate, original + budget), original - budget)
        return candidate.clamp(0, 1)

    def loss_of(logits: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        """Quantity to MINIMISE for this attack."""
        if method == "iterative":
            change = (current - original) / std  # penalty measured on the normalised image
            return -logits[0, target_index] + 0.5 * penalty * change.pow(2).sum()
        if target_index is not None:
            return F.cross_entropy(logits, torch.tensor([target_index], device=device))
        return -F.cross_entropy(logits, torch.tensor([original_index], device=device))

    def succeeded(probs: torch.Tensor) -> bool:
        if target_index is not None:
            return float(probs[target_index]) > stop_prob
        return int(probs.argmax()) != original_index

    def event(step: int, current: torch.Tensor, probs: torch.Tensor) -> AttackStep:
        adversarial = classifier.to_uint8(current)
        difference, magnification = magnified_difference(adversarial, original_uint8)
        linf = float(np.abs(adversarial.astype(np.int16) - original_uint8.astype(np.int16)).max())
        return AttackStep(step, float(probs[target_index]) if target_index is not None else float("nan"),
                          float(probs[original_index]), linf, _top5(probs), adversarial, difference, magnification)

    throttle = Throttle(emit_interval_s)
    yield event(0, original, probs0)
    throttle.ready(force=True)

    continuous = original.clone()  # the attack's real-valued state
    velocity = torch.zeros_like(original)
    current, probs = original, probs0
    step_size = (pgd_step_255 / 255.0) if pgd_step_255 else (budget / 4 if budget else 0.0)
    taken = 0
    with torch.enable_grad():
        for step in range(1, steps + 1):
            # Forward on the 8-bit image, gradient applied to the continuous one (straight-through).
            current = quantize(project(continuous)).requires_grad_(True)
            logits = model(current)
            probs = torch.softmax(logits.detach(), dim=1)[0]
            if succeeded(probs):
                break
            (gradient,) = torch.autograd.grad(loss_of(logits, current), current)
            taken = step
            if method == "iterative":
                # lr is in normalised units: one normalised step = std pixel units.
                velocity = momentum * velocity - lr * std * gradient / (gradient.norm() + 1e-12)
                continuous = project(continuous + velocity)
            elif method == "fgsm":
                continuous = project(original - budget * gradient.sign())
            else:
                continuous = project(continuous - step_size * gradient.sign())
            if throttle.ready():
                yield event(step, current.detach(), probs)
        else:
            current = quantize(project(continuous))
            with torch.no_grad():
                probs = torch.softmax(model(current), dim=1)[0]

    current = current.detach()
    final = event(taken, current, probs)
    yield final
    final_index = int(probs.argmax())
    return AttackResult(
        method=method, original_index=original_index, original_name=class_name(original_index),
        original_prob=float(probs0[original_index]), target_index=target_index,
        target_name=None if target_index is None else class_name(target_index),
        final_index=final_index, final_name=class_name(final_index), final_prob=float(probs[final_index]),
        target_prob=final.target_prob, steps=taken, linf_255=final.linf_255,
        success=bool(succeeded(probs)) and (target_index is None or final_index == target_index),
        original=original_uint8, adversarial=final.adversarial, difference=final.difference,
        magnification=final.magnification, top5_before=top5_before, top5_after=final.top5)


def attack(classifier, image, **options) -> AttackResult:
    """Run an attack to the end (CLI, tests)."""
    from .events import run_to_end

    return run_to_end(attack_job(classifier, image, **options))
