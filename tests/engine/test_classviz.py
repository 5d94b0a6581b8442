import math

import numpy as np
import pytest
import torch

from engine.classviz import (ClassVizPreview, FourierImage, _resample, class_visualization, class_visualization_job,
                             transform_matrix)
from engine.errors import ModelError
from engine.events import run_to_end
from engine.images import load_image, save_png
from engine.pretrained import load_classifier
from imagenet_test_helpers import tiny_classifier


@pytest.fixture(scope="module")
def tiny():
    return tiny_classifier()


@pytest.mark.parametrize("style", ["cs231n", "lucid"])
def test_ascent_raises_the_class_score(tiny, style):
    events = []
    result = run_to_end(class_visualization_job(tiny, 42, style=style, steps=30, preview_every=5,
                                                emit_interval_s=0, lr=None if style == "lucid" else 2.0),
                        events.append)
    previews = [e for e in events if isinstance(e, ClassVizPreview)]
    assert previews[0].step == 0 and previews[-1].step == 30
    assert [p.step for p in previews] == [0, 5, 10, 15, 20, 25, 30]
    assert previews[-1].score > previews[0].score
    assert result.image.shape == (32, 32, 3) and result.image.dtype == np.uint8
    assert result.final_prob == pytest.approx(float(tiny.probabilities(result.image)[0][42]), abs=1e-6)


def test_same_seed_same_image(tiny):
    first = class_visualization(tiny, 3, style="cs231n", steps=5, seed=7)
    second = class_visualization(tiny, 3, style="cs231n", steps=5, seed=7)
    assert np.array_equal(first.image, second.image)


def test_fourier_parameterisation_inverts_a_photo():
    photo = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 0.8 + 0.1
    image = FourierImage(32, "cpu", torch.Generator(), photo01=photo).image()
    assert image.shape == (1, 3, 32, 32)
    assert float((image.detach() - photo).abs().max()) < 1e-3


def test_start_from_photo_keeps_it_at_step_zero(tiny):
    photo = np.random.default_rng(0).integers(30, 220, (32, 32, 3), dtype=np.uint8)
    events = []
    run_to_end(class_visualization_job(tiny, 1, style="cs231n", steps=1, start_image=photo), events.append)
    assert np.abs(events[0].image.astype(int) - photo.astype(int)).max() <= 1


def test_errors(tiny):
    with pytest.raises(ModelError, match="style"):
        class_visualization(tiny, 1, style="dreamy")
    with pytest.raises(ModelError, match="at least one step"):
        class_visualization(tiny, 1, steps=0)


MUST_SHOW = ["flamingo", "tarantula", "king penguin", "strawberry", "mushroom", "throne"]


@pytest.mark.slow
@pytest.mark.parametrize("name", MUST_SHOW)
def test_class_visualizations_are_recognised(tmp_path, name):
    classifier = load_classifier()
    result = class_visualization(classifier, name, style="lucid", steps=200)
    save_png(tmp_path / "viz.png", result.image)
    reloaded = classifier.predict(load_image(tmp_path / "viz.png"), k=1)[0]
    print(f"CLASSVIZ {name}: p {result.final_prob:.3f}, reloaded {reloaded.name} {reloaded.prob:.3f}")
    assert reloaded.name == name and reloaded.prob >= 0.9


@pytest.mark.parametrize("style", ["cs231n", "lucid"])
def test_a_hidden_unit_can_be_maximized(tiny, style):
    """The Toolbox's hidden-unit view: the same optimization on one channel's mean activation."""
    events = []
    result = run_to_end(class_visualization_job(tiny, 0, style=style, steps=30, preview_every=10, emit_interval_s=0,
                                                lr=None if style == "lucid" else 2.0, unit=("net.3", 5)),
                        events.append)
    previews = [e for e in events if isinstance(e, ClassVizPreview)]
    assert previews[-1].score > previews[0].score  # the preview's score is the unit's activation here
    assert result.unit == ("net.3", 5) and result.summary()["channel"] == 5
    with torch.no_grad():  # the reported activation is the channel's mean on the saved 8-bit image
        out = tiny.model.net[:4](tiny.model.normalize(tiny.preprocess(result.image)))
    assert result.unit_activation == pytest.approx(float(out[0, 5].mean()), rel=1e-5)


def test_a_missing_unit_is_refused(tiny):
    with pytest.raises(ModelError, match="no layer 'net.99'"):
        class_visualization(tiny, 0, steps=2, unit=("net.99", 0))
    with pytest.raises(ModelError, match="no channel 99"):
        class_visualization(tiny, 0, steps=2, unit=("net.3", 99))


def test_lucid_measures_the_8_bit_image_within_its_own_steps(tiny):
    """Every measure_every-th Lucid step shows the network the 8-bit image instead of a transformed
    copy: that step's forward pass measures the image the step started from. Frames between
    measurements carry the latest one; the first and last step are measured by a pass of their own."""
    events = []
    run_to_end(class_visualization_job(tiny, 42, style="lucid", steps=12, preview_every=1, emit_interval_s=0,
                                       measure_every=5), events.append)
    previews = [e for e in events if isinstance(e, ClassVizPreview)]
    assert [p.step for p in previews] == list(range(13))
    assert [p.measured_step for p in previews] == [0] * 5 + [4] * 5 + [9] * 2 + [12]
    assert [p.step for p in previews if p.measured_step == p.step] == [0, 12]
    for measured in (4, 9, 12):  # the probability of that step's own frame, as the PNG would hold it
        frame = previews[measured]
        carrier = next(p for p in previews if p.measured_step == measured)
        expected = float(tiny.probabilities(frame.image)[0][42])
        assert carrier.target_prob == pytest.approx(expected, abs=1e-5)
    assert not np.array_equal(previews[1].image, previews[0].image)  # the frames show the image move
    # Measurements follow the steps, not the clock: with hardly any frames, the same image.
    quiet = class_visualization(tiny, 42, style="lucid", steps=12, preview_every=1, emit_interval_s=1e9,
                                measure_every=5)
    assert np.array_equal(quiet.image, previews[-1].image)


def test_cs231n_measures_at_most_once_an_interval(tiny):
    events = []
    run_to_end(class_visualization_job(tiny, 42, style="cs231n", steps=30, preview_every=5, emit_interval_s=0,
                                       measure_interval_s=1e9, lr=2.0), events.append)
    previews = [e for e in events if isinstance(e, ClassVizPreview)]
    assert [p.measured_step for p in previews] == [0, 0, 0, 0, 0, 0, 30]
    assert all(p.target_prob == previews[0].target_prob for p in previews[1:-1])
    assert previews[-1].target_prob == pytest.approx(float(tiny.probabilities(previews[-1].image)[0][42]), abs=1e-5)
    every = []
    run_to_end(class_visualization_job(tiny, 42, style="cs231n", steps=10, preview_every=5, emit_interval_s=0,
                                       measure_interval_s=0, lr=2.0), every.append)
    assert all(p.measured_step == p.step for p in every if isinstance(p, ClassVizPreview))


def _composed_by_steps(size, pad, jitter, shift1, scale, angle, small, shift2):
    """The same transform as a product of 3x3 matrices, one per step, between pixel coordinates
    (centres) and grid_sample's [-1, 1] units: an independent derivation of transform_matrix."""
    def pixels_to_unit(n, shift_x=0.0, shift_y=0.0):
        return np.array([[2.0 / n, 0.0, (2.0 * shift_x + 1.0) / n - 1.0],
                         [0.0, 2.0 / n, (2.0 * shift_y + 1.0) / n - 1.0], [0.0, 0.0, 1.0]])

    cropped, sampled = size + 2 * pad - 2 * jitter, size + small
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    rotate = np.array([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]])
    return (pixels_to_unit(size, shift1[0] - pad, shift1[1] - pad) @ np.linalg.inv(pixels_to_unit(cropped))
            @ rotate @ pixels_to_unit(sampled, *shift2) @ np.linalg.inv(pixels_to_unit(size)))[:2]


def test_transform_matrix_matches_the_steps_composed_one_by_one():
    rng = np.random.default_rng(0)
    for _ in range(100):
        args = (int(rng.integers(16, 300)), 12, 8, tuple(int(v) for v in rng.integers(0, 17, 2)),
                float(rng.choice([0.9, 0.95, 1.0, 1.05, 1.1])), math.radians(int(rng.integers(-10, 11))), 4,
                tuple(int(v) for v in rng.integers(0, 5, 2)))
        np.testing.assert_allclose(transform_matrix(*args), _composed_by_steps(*args), atol=1e-12)


def test_transform_pads_with_grey_and_keeps_the_centre():
    white = torch.ones(1, 3, 64, 64)
    # the first crop at the padded image's corner, zoomed out: the top-left corner shows padding
    out = _resample(white, transform_matrix(64, 12, 8, (0, 0), 0.9, 0.0, 4, (0, 0)))
    assert out.shape == white.shape
    assert float(out[0, :, 0, 0].sub(0.5).abs().max()) < 1e-6
    assert float(out[0, :, 28:36, 28:36].sub(1.0).abs().max()) < 1e-6


def test_resample_in_row_strips_equals_one_pass():
    """Strips per CPU thread: the same pixels and the same gradient as one batch of one."""
    image = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(1), requires_grad=True)
    theta = transform_matrix(48, 12, 8, (3, 11), 1.05, math.radians(7), 4, (1, 3))
    upstream = torch.randn(1, 3, 48, 48, generator=torch.Generator().manual_seed(2))
    threads = torch.get_num_threads()
    results = []
    try:
        for count in (1, 2, 4):
            torch.set_num_threads(count)
            out = _resample(image, theta)
            (gradient,) = torch.autograd.grad(out, image, upstream)
            results.append((out.detach(), gradient))
    finally:
        torch.set_num_threads(threads)
    for out, gradient in results[1:]:
        torch.testing.assert_close(out, results[0][0], atol=1e-6, rtol=0)
        torch.testing.assert_close(gradient, results[0][1], atol=1e-5, rtol=0)
