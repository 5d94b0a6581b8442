"""Panels never change each other's inputs behind the user's back.

A demo prepared in the ImageNet panels (a photo in Predict, sent on to Saliency and
Adversarial by the user, an adversarial example computed) stays exactly as it was
when a network is trained and Activations publishes its MNIST input. An image goes
from one panel to another only through the user's "Inspect in Saliency" / "Fool it"
buttons, and a new input clears everything derived from the old one."""
from __future__ import annotations

import numpy as np
import pytest

from tests.engine.imagenet_test_helpers import tiny_classifier

JOB_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def tiny():
    return tiny_classifier()


@pytest.fixture
def photo():
    return np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)


def _panel(qtbot, ctx, cls, tiny=None):
    panel = cls(ctx)
    if tiny is not None:
        panel.classifier = tiny
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    return panel


@pytest.fixture
def imagenet(qtbot, ctx, tiny):
    from gui.panels.adversarial import AdversarialPanel
    from gui.panels.class_viz import ClassVizPanel
    from gui.panels.imagenet_predict import ImageNetPredictPanel
    from gui.panels.saliency import SaliencyPanel

    panels = {cls.title: _panel(qtbot, ctx, cls, tiny)
              for cls in (ImageNetPredictPanel, SaliencyPanel, AdversarialPanel, ClassVizPanel)}
    yield panels
    for panel in panels.values():
        panel.jobs.stop()
        panel.jobs.wait(20_000)


def _prepare_demo(qtbot, ctx, imagenet, photo):
    """Photo in Predict, sent by the user to Saliency (computed) and Adversarial (attacked)."""
    predict, saliency, adversarial = imagenet["Predict"], imagenet["Saliency"], imagenet["Adversarial"]
    with qtbot.waitSignal(predict.jobs.succeeded, timeout=JOB_TIMEOUT_MS):
        predict.source.image_chosen.emit(photo, "demo photo")  # as if picked in the photo bar
    assert predict.bars.predictions()
    # Nothing reached the other panels on its own.
    assert saliency.image is None and adversarial.image is None and imagenet["Class visualization"].photo is None

    focused = []
    ctx.focus_panel_requested.connect(focused.append)
    with qtbot.waitSignal(saliency.jobs.succeeded, timeout=JOB_TIMEOUT_MS):
        predict.send_buttons["Saliency"].click()
    assert focused == ["Saliency"] and saliency.maps
    assert adversarial.image is None  # only the panel the user named gets the photo
    predict.send_buttons["Adversarial"].click()
    assert focused == ["Saliency", "Adversarial"]
    assert np.array_equal(adversarial.image, photo) and adversarial.caption == "demo photo"
    adversarial.restore_state({"method": "pgd", "target": 5, "targeted": True, "epsilon": 4, "steps": 8})
    with qtbot.waitSignal(adversarial.jobs.succeeded, timeout=JOB_TIMEOUT_MS):
        adversarial.run_button.click()
    assert adversarial.result is not None and "→" in adversarial.status.text()


def _snapshot(imagenet):
    predict, saliency, adversarial = imagenet["Predict"], imagenet["Saliency"], imagenet["Adversarial"]
    return {
        "predict": (predict.image.copy(), predict.caption, predict.bars.predictions(), predict.view.image().copy()),
        "saliency": (saliency.image.copy(), saliency.caption, dict(saliency.maps),
                     saliency.input_view.caption.text(), saliency.bars.predictions()),
        "adversarial": (adversarial.image.copy(), adversarial.caption, adversarial.result,
                        adversarial.status.text(), adversarial.original_view.caption.text(),
                        adversarial.adversarial_view.image().copy(),
                        [np.array(a) for a in adversarial.curve.series_data("original class")]),
        "classviz": (imagenet["Class visualization"].photo,),
    }


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a is b or a == b


def _assert_same(before, after):
    for key in before:
        for position, (a, b) in enumerate(zip(before[key], after[key])):
            assert _same(a, b), (key, position)


def test_training_a_network_leaves_the_prepared_imagenet_demo_alone(qtbot, ctx, imagenet, photo, trained_lenet):
    from gui.panels.activations import ActivationsPanel

    _prepare_demo(qtbot, ctx, imagenet, photo)
    before = _snapshot(imagenet)
    activations = _panel(qtbot, ctx, ActivationsPanel)
    # A run arrives (trained or loaded): Activations computes and publishes its MNIST input.
    with qtbot.waitSignal(ctx.input_image_changed, timeout=JOB_TIMEOUT_MS):
        ctx.set_run(trained_lenet)
    assert ctx.input_image.shape[:2] == (28, 28)
    # Any other panel publishing a current input changes nothing either.
    ctx.set_input_image(np.zeros((28, 28, 3), np.uint8), "a digit")
    qtbot.wait(200)
    for panel in imagenet.values():
        assert not panel.jobs.running  # nothing was recomputed
    _assert_same(before, _snapshot(imagenet))
    assert "fooled" in imagenet["Adversarial"].status.text() or "not fooled" in imagenet["Adversarial"].status.text()
    activations.jobs.wait(10_000)


def test_a_new_input_clears_what_was_derived_from_the_old_one(qtbot, ctx, imagenet, photo):
    _prepare_demo(qtbot, ctx, imagenet, photo)
    adversarial, saliency = imagenet["Adversarial"], imagenet["Saliency"]
    other = np.full((40, 40, 3), 200, np.uint8)
    ctx.send_image(other, "grey square", "Adversarial")
    assert np.array_equal(adversarial.image, other)
    assert adversarial.result is None and adversarial.last_step is None
    assert adversarial.adversarial_view.image() is None and adversarial.difference_view.image() is None
    assert adversarial.bars_before.predictions() == [] and adversarial.bars_after.predictions() == []
    assert len(adversarial.curve.series_data("original class")[0]) == 0
    assert "→" not in adversarial.status.text() and "fooled" not in adversarial.status.text()
    assert "grey square" in adversarial.original_view.caption.text()
    assert not adversarial.save_button.isEnabled()
    # Saliency: the old maps and bars go at once, the new ones follow.
    saliency.hide()  # off screen: nothing is computed until it is shown
    ctx.send_image(other, "grey square", "Saliency", focus=False)
    assert saliency.maps == {} and saliency.bars.predictions() == []
    assert all(view.image() is None for view in saliency.views.values())
    assert saliency.input_view.caption.text() == "grey square"
    # Predict: new image, no stale bars or status.
    predict = imagenet["Predict"]
    predict.hide()
    ctx.send_image(other, "grey square", "Predict", focus=False)
    assert predict.result is None and predict.bars.predictions() == [] and predict.status.text() == ""


def test_panels_keep_their_own_photos_in_saved_state(qtbot, ctx, imagenet, tiny, photo):
    """Workspaces: each ImageNet panel saves and restores its own photo (no shared input needed)."""
    from gui.panels.adversarial import AdversarialPanel
    from gui.panels.class_viz import ClassVizPanel
    from gui.panels.saliency import SaliencyPanel

    imagenet["Saliency"].hide()
    ctx.send_image(photo, "kept", "Saliency", focus=False)
    ctx.send_image(photo[::2, ::2].copy(), "kept small", "Adversarial", focus=False)
    ctx.send_image(photo, "start here", "Class visualization", focus=False)
    for cls, attribute in ((SaliencyPanel, "image"), (AdversarialPanel, "image"), (ClassVizPanel, "photo")):
        state = imagenet[cls.title].save_state()
        fresh = cls(ctx)
        fresh.classifier = tiny
        qtbot.addWidget(fresh)  # never shown: nothing is computed
        fresh.restore_state(state)
        assert np.array_equal(getattr(fresh, attribute), getattr(imagenet[cls.title], attribute)), cls.title
    assert fresh.from_photo.isChecked() and "start here" in fresh.from_photo.text()


def test_an_image_sent_to_activations_opens_there_only(qtbot, ctx, imagenet, photo, trained_lenet, mnist5k):
    """Feature space's click sends its image to Activations (focus stays); the ImageNet panels keep theirs."""
    from gui.panels.activations import ActivationsPanel

    predict = imagenet["Predict"]
    with qtbot.waitSignal(predict.jobs.succeeded, timeout=JOB_TIMEOUT_MS):
        predict.set_image(photo, "demo photo")
    activations = _panel(qtbot, ctx, ActivationsPanel)
    with qtbot.waitSignal(ctx.input_image_changed, timeout=JOB_TIMEOUT_MS):
        ctx.set_run(trained_lenet)
    focused = []
    ctx.focus_panel_requested.connect(focused.append)
    digit = (mnist5k.val_x[5, 0].numpy() * 255).astype(np.uint8)[:, :, None]
    with qtbot.waitSignal(activations.jobs.succeeded, timeout=JOB_TIMEOUT_MS):
        ctx.send_image(digit, "clicked point", "Activations", focus=False)
    assert activations.caption == "clicked point" and focused == []
    assert np.array_equal(predict.image, photo) and predict.caption == "demo photo"
    activations.jobs.wait(10_000)
