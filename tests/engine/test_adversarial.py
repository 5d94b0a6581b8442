import numpy as np
import pytest
import torch

from engine.adversarial import AttackStep, attack, attack_job, magnified_difference, quantize
from engine.errors import ModelError
from engine.events import run_to_end
from engine.images import load_bundled_photo, load_image, save_png
from engine.pretrained import load_classifier
from imagenet_test_helpers import tiny_classifier


@pytest.fixture(scope="module")
def tiny():
    return tiny_classifier()


@pytest.fixture
def photo():
    return np.random.default_rng(3).integers(0, 256, (40, 48, 3), dtype=np.uint8)


@pytest.mark.parametrize("method", ["iterative", "pgd", "fgsm"])
def test_attacks_respect_budget_and_8bit_grid(tiny, photo, method):
    events = []
    result = run_to_end(attack_job(tiny, photo, method=method, target=5, epsilon_255=3, steps=20,
                                   emit_interval_s=0), events.append)
    change = np.abs(result.adversarial.astype(int) - result.original.astype(int))
    assert change.max() <= 3 and result.linf_255 == change.max()
    assert result.adversarial.dtype == np.uint8 and result.adversarial.shape == (32, 32, 3)
    assert isinstance(events[0], AttackStep) and events[0].step == 0 and events[0].linf_255 == 0
    assert [e.step for e in events] == sorted(e.step for e in events)
    # The reported probability is that of the 8-bit image itself.
    reported = tiny.probabilities(result.adversarial)[0][5]
    assert abs(reported - result.target_prob) < 1e-5
    assert result.steps <= (1 if method == "fgsm" else 20)


def test_iterative_attack_raises_the_target_on_tiny_model(tiny, photo):
    result = attack(tiny, photo, method="iterative", target=321, epsilon_255=None, steps=60, lr=0.5)
    with torch.no_grad():
        before = tiny.logits(tiny.preprocess(result.original))[0]
        after = tiny.logits(tiny.preprocess(result.adversarial))[0]
    assert float(after[321]) > float(before[321]) + 0.1  # the raw target score climbs
    rank_before = int((before > before[321]).sum())
    rank_after = int((after > after[321]).sum())
    assert rank_after < rank_before - 200  # and overtakes hundreds of classes
    assert result.steps == 60 and not result.success  # a random net is not fooled to p > 0.9


def test_untargeted_fgsm_moves_away_from_the_prediction(tiny, photo):
    result = attack(tiny, photo, method="fgsm", epsilon_255=32)
    probs_before = tiny.probabilities(result.original)[0]
    probs_after = tiny.probabilities(result.adversarial)[0]
    assert probs_after[result.original_index] < probs_before[result.original_index]
    assert np.isnan(result.target_prob) and result.target_index is None


def test_bad_requests_are_plain_errors(tiny, photo):
    with pytest.raises(ModelError, match="needs a target"):
        attack(tiny, photo, method="iterative")
    with pytest.raises(ModelError, match="Unknown attack"):
        attack(tiny, photo, method="deepfool", target=1)
    with pytest.raises(ModelError, match="0-255"):
        attack(tiny, photo, method="pgd", target=1, epsilon_255=300)
    with pytest.raises(ModelError, match="No ImageNet class"):
        attack(tiny, photo, method="pgd", target="unicornfish", epsilon_255=8)


def test_quantize_and_difference_image():
    x = torch.tensor([0.1234, 0.5, 1.3, -0.2])
    assert torch.allclose(quantize(x) * 255, torch.round(quantize(x) * 255))
    assert float(quantize(x).max()) == 1.0 and float(quantize(x).min()) == 0.0
    original = np.full((2, 2, 3), 100, np.uint8)
    adversarial = original.copy()
    adversarial[0, 0, 0] = 104
    diff, magnification = magnified_difference(adversarial, original)
    assert diff[0, 0, 0] == 255 and diff[1, 1, 1] == 128 and magnification == pytest.approx(127.5 / 4)


def test_coffee_becomes_flamingo_and_the_png_still_fools(tmp_path):
    classifier = load_classifier()
    result = attack(classifier, load_bundled_photo("coffee"), method="iterative", target="flamingo", epsilon_255=8)
    assert result.success and result.steps <= 100 and result.target_prob >= 0.9
    assert result.linf_255 <= 8
    save_png(tmp_path / "fooled.png", result.adversarial)
    reloaded = classifier.predict(load_image(tmp_path / "fooled.png"), k=1)[0]
    assert reloaded.name == "flamingo" and reloaded.prob >= 0.9


SWEEP_PHOTOS = ["coffee", "chelsea", "astronaut", "rocket", "china"]
SWEEP_TARGETS = ["flamingo", "tarantula", "king penguin", "strawberry", "throne", "goldfish"]


@pytest.mark.slow
@pytest.mark.parametrize("photo_name", SWEEP_PHOTOS)
@pytest.mark.parametrize("target", SWEEP_TARGETS)
def test_attack_sweep(tmp_path, photo_name, target):
    classifier = load_classifier()
    result = attack(classifier, load_bundled_photo(photo_name), method="iterative", target=target, epsilon_255=8)
    save_png(tmp_path / "fooled.png", result.adversarial)
    reloaded = classifier.predict(load_image(tmp_path / "fooled.png"), k=1)[0]
    print(f"SWEEP {photo_name} -> {target}: steps {result.steps}, p {result.target_prob:.3f}, "
          f"linf {result.linf_255:.0f}, reloaded {reloaded.name} {reloaded.prob:.3f}")
    assert result.success and result.linf_255 <= 8
    assert reloaded.name == result.target_name and reloaded.prob >= 0.9
