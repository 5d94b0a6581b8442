"""Class visualization: synthesize an image that maximises one class score.

Two styles:
- "cs231n" (Simonyan et al. as in the cs231n assignment): start from noise (or a
  photo), gradient ascent on s_y - l2 * ||I||^2 in the model's normalised input
  space with a normalised gradient step, random roll (jitter) before each step,
  Gaussian blur every few steps, clamp to the valid pixel range.
- "lucid" (Olah et al., Feature Visualization): the image is parameterised by a
  Fourier spectrum scaled by 1/frequency, colours are decorrelated with the
  ImageNet colour-correlation matrix and squashed by a sigmoid; every step sees a
  randomly padded, jittered, scaled and rotated copy (transformation robustness);
  Adam with lr 0.05 maximises the raw class score.

Both yield `ClassVizPreview` events every few steps and return a `ClassVizResult`
whose probability is measured on the final 8-bit image (what the PNG holds).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ModelError
from .events import Throttle
from .images import quantize
from .layers import own_thread_forward_hook

STYLES = {"lucid": "Lucid (Fourier + decorrelated colour + transforms)",
          "cs231n": "cs231n (gradient ascent + L2 + jitter + blur)"}


@dataclass(frozen=True)
class ClassVizPreview:
    step: int
    steps: int
    image: np.ndarray  # (S, S, 3) uint8
    # The latest measurement, of the 8-bit image after `measured_step` steps: the frames between
    # measurements carry it (measuring every frame by a pass of its own cost ~5 % of the run).
    target_prob: float
    score: float  # raw class score (logit), or the unit's mean activation
    top5: tuple
    measured_step: int


@dataclass(frozen=True)
class ClassVizResult:
    class_index: int
    class_name: str
    style: str
    steps: int
    image: np.ndarray  # (S, S, 3) uint8, what save_png writes
    final_prob: float  # probability of the class on the 8-bit image
    top5: tuple
    unit: tuple[str, int] | None = None  # (layer, channel) when a hidden unit was maximized
    unit_activation: float | None = None  # its mean activation on the 8-bit image

    def summary(self) -> dict:
        out = {"class": self.class_name, "class_index": self.class_index, "style": self.style,
               "steps": self.steps, "final_prob": round(self.final_prob, 4),
               "top1": self.top5[0][1] if self.top5 else None}
        if self.unit is not None:
            out.update(layer=self.unit[0], channel=self.unit[1], unit_activation=round(self.unit_activation, 4))
        return out


# ---------------------------------------------------------------- Lucid pieces
# Square root of ImageNet's RGB colour correlation (from Lucid), columns scaled to max norm 1.
_COLOR_SQRT = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32)
_COLOR_SQRT /= np.max(np.linalg.norm(_COLOR_SQRT, axis=0))


class FourierImage:
    """Image = sigmoid(colour_matrix @ irfft2(spectrum * 1/f)): a learnable spectrum."""

    def __init__(self, size: int, device, generator: torch.Generator, init_std: float = 0.01,
                 decay_power: float = 1.0, photo01: torch.Tensor | None = None):
        self.size = size
        fy = np.fft.fftfreq(size)[:, None]
        fx = np.fft.rfftfreq(size)[None, :]
        frequencies = np.sqrt(fx * fx + fy * fy)
        # Lucid scales by sqrt(w*h) and uses an unnormalised inverse FFT: together the "ortho" norm.
        scale = 1.0 / np.maximum(frequencies, 1.0 / size) ** decay_power
        self.scale = torch.tensor(scale, dtype=torch.float32, device=device)[None, :, :]
        self.color = torch.tensor(_COLOR_SQRT, device=device)
        self.color_quarter = self.color / 4.0
        if photo01 is None:
            spectrum = torch.randn((3, size, size // 2 + 1, 2), generator=generator) * init_std
            self.spectrum = spectrum.to(device).requires_grad_(True)
        else:
            self.spectrum = self._spectrum_of(photo01.to(device)).requires_grad_(True)

    def _spatial(self) -> torch.Tensor:
        complex_spectrum = torch.view_as_complex(self.spectrum.contiguous()) * self.scale
        return torch.fft.irfft2(complex_spectrum, s=(self.size, self.size), norm="ortho")

    def image(self) -> torch.Tensor:
        """(1, 3, S, S) in [0, 1]."""
        # colour matrix (with Lucid's 1/4) @ the (3, S*S) pixels: one matrix product, not an einsum
        decorrelated = (self.color_quarter @ self._spatial().reshape(3, -1)).reshape(1, 3, self.size, self.size)
        return torch.sigmoid(decorrelated)

    def _spectrum_of(self, photo01: torch.Tensor) -> torch.Tensor:
        """Invert image(): the spectrum whose image is (nearly) the photo."""
        logits = torch.logit(photo01[0].clamp(0.02, 0.98))
        spatial = torch.einsum("ij,jhw->ihw", torch.linalg.inv(self.color), logits) * 4.0
        spectrum = torch.fft.rfft2(spatial, norm="ortho") / self.scale
        return torch.view_as_real(spectrum).detach().clone()


def _random_transform(x: torch.Tensor, generator: torch.Generator, pad: int = 12, jitter: int = 8,
                      scales=(0.9, 0.95, 1.0, 1.05, 1.1), max_angle: float = 10.0) -> torch.Tensor:
    """Lucid's standard transforms: pad (grey), jitter, random scale, random rotate, jitter. The
    result has the input's size (the scale zooms the content): the network then costs what one
    ordinary forward pass costs. All five are affine maps of the pixel grid, so one matrix
    (`transform_matrix`) and one bilinear resample (`_resample`) apply them together: padding,
    cropping and resampling one by one cost ~3.4 ms a step forward and backward, ~8 % of the
    network's own pass."""

    def randint(low, high):
        return int(torch.randint(low, high + 1, (1,), generator=generator))

    small = 4  # the last jitter's range
    dx1, dy1 = randint(0, 2 * jitter), randint(0, 2 * jitter)
    scale = scales[randint(0, len(scales) - 1)]
    angle = math.radians(randint(-int(max_angle), int(max_angle)))
    dx2, dy2 = randint(0, small), randint(0, small)
    theta = transform_matrix(x.shape[-1], pad, jitter, (dx1, dy1), scale, angle, small, (dx2, dy2))
    return _resample(x, theta)


def transform_matrix(size: int, pad: int, jitter: int, shift1: tuple[int, int], scale: float, angle: float,
                     small: int, shift2: tuple[int, int]) -> list[list[float]]:
    """The 2x3 matrix (grid_sample's [-1, 1] units, pixel centres, align_corners=False) that maps
    each output position to the input position it shows, for:
    1. pad the input by `pad` grey pixels on each side;
    2. crop a (size + 2 pad - 2 jitter) square at `shift1` (0..2 jitter) from its corner;
    3. zoom by `scale` and rotate by `angle` (radians) about the crop's centre;
    4. resample that to a (size + small) square and crop a size square at `shift2` (0..small).
    Each step is affine in [-1, 1] units, so the composition is worked out by hand (step 4 first):
    output u -> (size + small) square a u + b -> rotated crop R (a u + b) -> input c R (a u + b) + e.
    """
    cropped = size + 2 * pad - 2 * jitter
    sampled = size + small
    a = size / sampled  # the output is a size window of the (size + small) square
    b = [(size + 2 * shift2[0]) / sampled - 1.0, (size + 2 * shift2[1]) / sampled - 1.0]
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale  # a zoom by `scale` samples 1/scale
    rotate = [[cos, -sin], [sin, cos]]
    c = cropped / size  # the crop, in the input's units: its size and where its centre lies
    e = [(cropped + 2 * (shift1[0] - pad)) / size - 1.0, (cropped + 2 * (shift1[1] - pad)) / size - 1.0]
    return [[c * a * rotate[row][0], c * a * rotate[row][1],
             c * (rotate[row][0] * b[0] + rotate[row][1] * b[1]) + e[row]] for row in range(2)]


def _resample(x: torch.Tensor, theta: list[list[float]]) -> torch.Tensor:
    """Bilinear resample of a (1, C, S, S) image by a 2x3 affine matrix, grey (0.5) outside it.

    grid_sample spreads its work over the batch only, so on the CPU the output rows are cut into
    one strip per thread, a batch of strips that all read the same (expanded, not copied) input,
    and the interpolation weights are computed once for all colour channels. The earlier batch of
    three single-channel images left one of two threads idle a third of the time; the strips cost
    ~0.4 ms less a step, forward and backward (EfficientNet-Lite0 at 224 px, 2 threads).
    """
    size = x.shape[-1]
    strips = torch.get_num_threads() if x.device.type == "cpu" else 1
    if size % strips:
        strips = 1
    grid = F.affine_grid(torch.tensor([theta], dtype=x.dtype, device=x.device), [1, 1, size, size],
                         align_corners=False).reshape(strips, size // strips, size, 2)
    # Grey (0.5) outside the image: sample x - 0.5 with zeros outside, then add 0.5 back.
    out = F.grid_sample((x - 0.5).expand(strips, -1, -1, -1), grid, mode="bilinear", padding_mode="zeros",
                        align_corners=False)
    # (strips, C, rows, S) -> (C, strips, rows, S) in memory: one copy, then the grey added in place
    return out.transpose(0, 1).contiguous().add_(0.5).reshape(x.shape)


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    from torchvision.transforms.functional import gaussian_blur

    radius = max(1, int(math.ceil(3 * sigma)))
    return gaussian_blur(x, [2 * radius + 1, 2 * radius + 1], [sigma, sigma])


# cs231n's reference step (25 on the normalised gradient) is in the normalised units of its
# SqueezeNet, whose ImageNet std is (0.229, 0.224, 0.225): one unit there is ~0.226 of the
# [0, 1] pixel range. A model normalised with std 0.5 (EfficientNet-Lite0) would take steps
# ~2.2x larger in pixels with the same number, so the step is rescaled to the same pixel size.
CS231N_STEP = 25.0
CS231N_INPUT_STD = (0.229 + 0.224 + 0.225) / 3.0


def cs231n_step_size(model_std) -> float:
    """The cs231n step in this model's normalised units: the same step in pixel units."""
    return CS231N_STEP * CS231N_INPUT_STD / float(np.mean(model_std))


# ---------------------------------------------------------------- the job
def class_visualization_job(classifier, target: int | str, style: str = "lucid", steps: int = 200,
                            start_image: np.ndarray | None = None, seed: int = 0, preview_every: int = 5,
                            lr: float | None = None, l2: float = 1e-3, max_jitter: int = 16,
                            blur_every: int = 10, blur_sigma: float = 0.5, decay_power: float = 1.0,
                            emit_interval_s: float = 0.4, unit: tuple[str, int] | None = None,
                            measure_interval_s: float = 1.0, measure_every: int = 25):
    """Job: ClassVizPreview events every `preview_every` steps, at most one per `emit_interval_s`;
    returns a ClassVizResult. Each preview carries the latest measurement of the image's class
    probability on its 8-bit version, made at the first and the last step and in between:
    - Lucid: every `measure_every`-th step shows the network the 8-bit image itself instead of a
      randomly transformed copy, so that step's own forward pass is the measurement (a separate
      pass cost ~5 % of the run at 2.5 previews a second) and the schedule stays the seed's;
    - cs231n: a forward pass of the 8-bit image at most once per `measure_interval_s`.

    `lr` defaults to each style's reference value (cs231n 25 on the normalised
    gradient, rescaled to this model's input std (see cs231n_step_size), Lucid 0.05 for Adam).
    `start_image`: optional (H, W, 3) uint8 photo.
    `decay_power` (Lucid): how strongly high frequencies are damped (1 = 1/f).
    `unit`: (layer path, channel) to maximize the mean activation of one hidden channel instead
    of a class score (the Deep Visualization Toolbox's hidden-unit view); `target` is then only
    the class whose probability is reported.
    """
    from .pretrained import as_classifier

    style = style.strip().lower()
    if style not in STYLES:
        raise ModelError(f"Unknown class-visualization style '{style}'. Choose one of: {', '.join(STYLES)}.")
    if steps < 1:
        raise ModelError("Class visualization needs at least one step.")
    classifier = as_classifier(classifier)  # a model name is loaded here, in the job's thread
    index = classifier.find_class(target)  # the model's own class names (a user model may have 2)
    names = classifier.class_names()

    def top5(probabilities) -> tuple:
        order = np.argsort(-np.asarray(probabilities))[:5]
        return tuple((int(i), names[int(i)], float(probabilities[i])) for i in order)
    device = classifier.device
    size = classifier.input_size
    model = classifier.model
    generator = torch.Generator().manual_seed(int(seed))
    photo = None if start_image is None else classifier.preprocess(start_image).to(device)
    mean = torch.tensor(classifier.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(classifier.std, device=device).view(1, 3, 1, 1)

    if style == "lucid":
        parameterization = FourierImage(size, device, generator, photo01=photo, decay_power=decay_power)
        # fused: one kernel for the whole update (the foreach version cost ~0.3 ms a step on CPU)
        optimizer = torch.optim.Adam([parameterization.spectrum], lr=0.05 if lr is None else lr, fused=True)
        current_image = parameterization.image
    else:
        # cs231n works on the normalised image X = (x - mean) / std, clamped to the valid range.
        low, high = (0 - mean) / std, (1 - mean) / std
        if photo is None:
            start = torch.rand((1, 3, size, size), generator=generator).to(device) * 0.2 + 0.4  # grey noise
        else:
            start = photo
        normalised = ((start - mean) / std).requires_grad_(True)
        step_size = cs231n_step_size(classifier.std) if lr is None else lr

        def current_image():
            return normalised * std + mean

    throttle = Throttle(emit_interval_s)
    measure_throttle = Throttle(measure_interval_s)
    # x -> (objective, logits): one forward pass gives both the score to raise and the probabilities
    forward = _unit_objective(model, *unit) if unit is not None else (lambda x: _class_score(model, x, index))
    latest: dict = {}

    def record(logits: torch.Tensor, score: torch.Tensor, image_step: int) -> None:
        probs = torch.softmax(logits.detach(), dim=1)[0]
        latest.update(prob=float(probs[index]), score=float(score.detach()), top5=top5(probs.cpu().numpy()),
                      step=image_step)

    def measure(step: int) -> None:
        """A forward pass of the image as the PNG holds it (8 bits); the last one is the result's."""
        with torch.no_grad():
            image_uint8 = classifier.to_uint8(current_image())
            score, logits = forward(classifier.preprocess(image_uint8))
        record(logits, score, step)
        latest["image"] = image_uint8

    def preview(step: int) -> ClassVizPreview:
        if style == "cs231n" and step > 0 and (step == steps or measure_throttle.ready()):
            measure(step)
        with torch.no_grad():
            image01 = current_image().detach()
        return ClassVizPreview(step, steps, classifier.to_uint8(image01), latest["prob"], latest["score"],
                               latest["top5"], latest["step"])

    measure(0)
    yield preview(0)
    throttle.ready(force=True)
    measure_throttle.ready(force=True)
    with torch.enable_grad():
        for step in range(1, steps + 1):
            if style == "lucid":
                optimizer.zero_grad()
                image = parameterization.image()
                measuring = step % max(1, int(measure_every)) == 0 and step < steps
                if measuring:  # the 8-bit image; its gradient passes as if through no rounding
                    view = image + (quantize(image.detach()) - image).detach()
                else:
                    view = _random_transform(image, generator)
                score, logits = forward(view)
                (-score).backward()
                optimizer.step()
                if measuring:
                    record(logits, score, step - 1)  # the image the step started from
                elif step == steps:
                    measure(step)
            else:
                ox, oy = (int(v) for v in torch.randint(-max_jitter, max_jitter + 1, (2,), generator=generator))
                rolled = torch.roll(normalised, shifts=(oy, ox), dims=(2, 3))
                goal = forward(rolled * std + mean)[0] - l2 * rolled.pow(2).sum()
                (gradient,) = torch.autograd.grad(goal, normalised)
                with torch.no_grad():
                    normalised += step_size * gradient / (gradient.norm() + 1e-12)
                    normalised.copy_(torch.max(torch.min(normalised, high), low))
                    if blur_every and step % blur_every == 0 and step < steps:
                        normalised.copy_(_gaussian_blur(normalised, blur_sigma))
            if step == steps or (step % max(1, preview_every) == 0 and throttle.ready()):
                yield preview(step)

    # Both styles measured the last step's image (in the loop): the result is that measurement.
    return ClassVizResult(index, names[index], style, steps, latest["image"], latest["prob"], latest["top5"],
                          None if unit is None else (unit[0], int(unit[1])), None if unit is None else latest["score"])


def _class_score(model, x: torch.Tensor, index: int) -> tuple[torch.Tensor, torch.Tensor]:
    logits = model(x)
    return logits[0, index], logits


def _unit_objective(model, layer: str, channel: int):
    """x -> (the mean activation of `channel` in `layer` (a module path of `model`), the logits)."""
    try:
        module = model.get_submodule(layer)
    except AttributeError:
        raise ModelError(f"The model has no layer '{layer}'.") from None
    captured: list[torch.Tensor] = []

    def hook(_module, _inputs, output):
        captured.append(output)

    def objective(x):
        captured.clear()
        handle = own_thread_forward_hook(module, hook)
        try:
            logits = model(x)
        finally:
            handle.remove()
        output = captured[-1]
        if not isinstance(output, torch.Tensor) or output.dim() < 2 or not 0 <= channel < output.shape[1]:
            raise ModelError(f"Layer '{layer}' has no channel {channel}.")
        return output[0, channel].mean(), logits

    return objective


def class_visualization(classifier, target, **options) -> ClassVizResult:
    """Run to the end (CLI, tests)."""
    from .events import run_to_end

    return run_to_end(class_visualization_job(classifier, target, **options))
