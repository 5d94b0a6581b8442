import numpy as np
import pytest
import torch

from engine.attribution import (METHODS, attribute, compute_saliency, guided_backprop, method_key,
                                normalize_for_display, overlay, saliency_job, vanilla_gradient)
from engine.errors import ModelError
from engine.events import Progress, run_to_end
from imagenet_test_helpers import tiny_classifier


@pytest.fixture(scope="module")
def tiny():
    return tiny_classifier()


@pytest.fixture
def image():
    return torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def test_vanilla_is_max_abs_channel_gradient_of_raw_score(tiny, image):
    saliency = vanilla_gradient(tiny.model, image, 7)
    x = image.clone().requires_grad_(True)
    tiny.model(x)[0, 7].backward()
    expected = x.grad[0].abs().max(dim=0).values
    assert saliency.shape == (32, 32)
    assert torch.allclose(saliency, expected)


def test_vanilla_of_linear_model_is_the_weight():
    weight = torch.randn(1000, 3 * 4 * 4)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 1000))
    model[1].weight.data = weight
    saliency = vanilla_gradient(model, torch.rand(1, 3, 4, 4), 3)
    assert torch.allclose(saliency, weight[3].view(3, 4, 4).abs().amax(0))


def test_guided_backprop_differs_and_leaves_model_untouched(tiny, image):
    before = vanilla_gradient(tiny.model, image, 5)
    guided = guided_backprop(tiny.model, image, 5)
    after = vanilla_gradient(tiny.model, image, 5)
    assert torch.equal(before, after)  # the original model keeps ordinary gradients
    assert guided.shape == (32, 32) and not torch.allclose(guided, before)


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_gives_a_display_map(tiny, image, method):
    options = {"window": 8, "stride": 4} if method == "occlusion" else {}  # a 32 px window would hide everything
    result = compute_saliency(tiny, image, method, target=12, **options)
    assert result.target == 12 and result.method == method
    assert result.display.shape == (32, 32) and result.display.dtype == np.float32
    assert 0 <= result.display.min() and result.display.max() <= 1 and result.display.max() > 0
    assert np.isfinite(result.raw).all()


def test_occlusion_finds_the_only_informative_region():
    # Score = mean brightness of the top-left 8x8 corner: only that area matters.
    class Corner(torch.nn.Module):
        def forward(self, x):
            return x[:, :, :8, :8].mean(dim=(1, 2, 3))[:, None].repeat(1, 1000)

    raw = attribute(Corner(), torch.ones(1, 3, 32, 32), "occlusion", 0, window=8, stride=8)
    assert raw[:8, :8].min() > 0 and float(raw[16:, 16:].abs().max()) == 0


def test_job_uses_one_class_for_all_methods(tiny, image):
    events = []
    maps = run_to_end(saliency_job(tiny, image, ["vanilla", "gradcam"]), events.append)
    assert set(maps) == {"vanilla", "gradcam"}
    assert maps["vanilla"].target == maps["gradcam"].target == int(tiny.logits(image).argmax())
    assert isinstance(events[0], Progress) and isinstance(events[-1], Progress) and events[-1].fraction == 1


def test_names_normalisation_and_overlay():
    assert method_key("Grad-CAM") == "gradcam" and method_key("ig") == "integrated_gradients"
    with pytest.raises(ModelError, match="Unknown saliency method"):
        method_key("magic")
    flat = normalize_for_display(np.zeros((4, 4)), "vanilla")
    assert flat.max() == 0
    base = np.zeros((4, 4, 3), np.uint8)
    blended = overlay(base, np.ones((4, 4)), opacity=1.0)
    assert blended.shape == (4, 4, 3) and blended.max() > 200
    assert np.array_equal(overlay(base, np.ones((4, 4)), opacity=0.0), base)


# ------------------------------------------------------------------ independent oracles
# captum for the hand-written methods (vanilla gradient, guided backprop), hand computations for the
# methods that call captum themselves (so captum is not checked against itself).

def _relu_net(seed: int = 3) -> torch.nn.Module:
    """A tiny all-ReLU CNN (captum's GuidedBackprop overrides nn.ReLU modules only)."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(6, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(8 * 8 * 8, 10), torch.nn.ReLU(), torch.nn.Linear(10, 5),
    ).eval()


@pytest.fixture
def small_image():
    return torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(4))


@pytest.mark.parametrize("target", [0, 3])
def test_vanilla_matches_captum_saliency(small_image, target):
    from captum.attr import Saliency

    model = _relu_net()
    expected = Saliency(model).attribute(small_image.clone(), target=target, abs=True)[0].amax(dim=0)
    assert torch.allclose(vanilla_gradient(model, small_image, target), expected, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("target", [1, 3])
def test_guided_backprop_matches_captum(small_image, target):
    from captum.attr import GuidedBackprop

    model = _relu_net()
    guided = guided_backprop(model, small_image, target)
    expected = GuidedBackprop(model).attribute(small_image.clone(), target=target)[0].abs().amax(dim=0)
    assert guided.abs().max() > 0
    assert torch.allclose(guided, expected, atol=1e-7, rtol=1e-5)
    assert not torch.allclose(guided, vanilla_gradient(model, small_image, target))


def test_guided_backprop_through_relu6_by_hand():
    # score = w2 . relu6(W1 x): guided gradient = W1^T (max(w2, 0) * [0 < W1 x < 6]), per pixel max |.| over channels.
    torch.manual_seed(5)
    w1 = torch.randn(12, 3 * 4 * 4) * 3  # pre-activations on both sides of 0 and above 6
    w2 = torch.randn(2, 12)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 12, bias=False), torch.nn.ReLU6(),
                                torch.nn.Linear(12, 2, bias=False)).eval()
    model[1].weight.data, model[3].weight.data = w1.clone(), w2.clone()
    x = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(6))
    pre = w1 @ x.flatten()
    active = (pre > 0) & (pre < 6)
    assert active.any() and not active.all() and (pre >= 6).any()
    by_hand = (w1.T @ (w2[1].clamp(min=0) * active)).view(3, 4, 4).abs().amax(dim=0)
    assert torch.allclose(guided_backprop(model, x, 1), by_hand, atol=1e-6)


def test_integrated_gradients_by_hand_riemann_sum(small_image):
    model = _relu_net()
    target, baseline = 2, 0.2
    raw = attribute(model, small_image, "integrated_gradients", target, steps=200, baseline=baseline)
    # midpoint rule with many steps along the straight path from the baseline image
    steps = 400
    base = torch.full_like(small_image, baseline)
    alphas = (torch.arange(steps, dtype=torch.float32) + 0.5) / steps
    path = (base + alphas.view(-1, 1, 1, 1) * (small_image - base)).requires_grad_(True)
    model(path)[:, target].sum().backward()
    by_hand = ((small_image - base)[0] * path.grad.mean(dim=0)).abs().sum(dim=0)
    # ReLU kinks along the path: the two quadratures agree to about 1% of the map's peak
    assert torch.allclose(raw, by_hand, atol=0.01 * float(by_hand.max()), rtol=0.02)
    assert float(by_hand.max()) > 0


def test_integrated_gradients_of_linear_model_is_input_times_weight():
    weight = torch.randn(4, 48)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 4, bias=False))
    model[1].weight.data = weight
    x = torch.rand(1, 3, 4, 4)
    expected = (x[0] * weight[1].view(3, 4, 4)).abs().sum(dim=0)
    assert torch.allclose(attribute(model, x, "integrated_gradients", 1), expected, atol=1e-5)


def test_gradcam_by_hand(small_image):
    model = _relu_net()
    layer, target = model[4], 1  # the last conv block's ReLU output, 8 maps of 8x8
    raw = attribute(model, small_image, "gradcam", target, layer=layer)
    store = {}
    handle = layer.register_forward_hook(lambda m, i, out: store.setdefault("a", out))
    x = small_image.clone().requires_grad_(True)
    score = model(x)[0, target]
    handle.remove()
    (grads,) = torch.autograd.grad(score, store["a"])
    alpha = grads.mean(dim=(2, 3), keepdim=True)  # global-average-pooled gradients per map
    cam = torch.relu((alpha * store["a"]).sum(dim=1, keepdim=True))
    by_hand = torch.nn.functional.interpolate(cam, size=(16, 16), mode="bilinear", align_corners=False)[0, 0]
    assert raw.shape == (16, 16) and float(by_hand.detach().max()) > 0
    assert torch.allclose(raw, by_hand.clamp(min=0), atol=1e-6, rtol=1e-4)


def test_occlusion_by_hand(small_image):
    model = _relu_net()
    target, window, stride, fill = 4, 8, 4, 0.5
    raw = attribute(model, small_image, "occlusion", target, window=window, stride=stride, fill=fill)
    with torch.no_grad():
        full = model(small_image)[0, target]
        total = torch.zeros(3, 16, 16)
        count = torch.zeros(3, 16, 16)
        for top in range(0, 16 - window + 1, stride):
            for left in range(0, 16 - window + 1, stride):
                hidden = small_image.clone()
                hidden[:, :, top:top + window, left:left + window] = fill
                total[:, top:top + window, left:left + window] += full - model(hidden)[0, target]
                count[:, top:top + window, left:left + window] += 1
    by_hand = (total / count).mean(dim=0)
    assert torch.allclose(raw, by_hand, atol=1e-6, rtol=1e-4)


def test_smoothgrad_by_hand():
    # A linear score has the same gradient everywhere: any noise leaves the map at |w| (max over channels).
    weight = torch.randn(3, 48)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 3))
    model[1].weight.data = weight
    raw = attribute(model, torch.rand(1, 3, 4, 4), "smoothgrad", 2, samples=8, noise_level=0.3)
    assert torch.allclose(raw, weight[2].view(3, 4, 4).abs().amax(dim=0), atol=1e-6)


def test_smoothgrad_tends_to_vanilla_as_noise_vanishes(small_image):
    # Non-linear model: with noise the map differs from the vanilla gradient; without, it is the same map.
    model = _relu_net()
    samples, level, target = 8, 0.15, 3
    torch.manual_seed(11)
    raw = attribute(model, small_image, "smoothgrad", target, samples=samples, noise_level=level)
    assert not torch.allclose(raw, vanilla_gradient(model, small_image, target))
    assert raw.shape == (16, 16) and torch.isfinite(raw).all() and raw.max() > 0
    # with almost no noise it is the vanilla map
    tiny_noise = attribute(model, small_image, "smoothgrad", target, samples=4, noise_level=1e-7)
    assert torch.allclose(tiny_noise, vanilla_gradient(model, small_image, target), atol=1e-6, rtol=1e-4)
