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
