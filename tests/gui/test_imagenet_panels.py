"""ImageNet panels driven offscreen. A tiny random 1000-class CNN stands in for
the pretrained model where only the plumbing is under test; the Predict test
uses the real embedded model."""
from __future__ import annotations

import numpy as np
import pytest

from engine.images import load_image
from tests.engine.imagenet_test_helpers import tiny_classifier

JOB_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def tiny():
    return tiny_classifier()


@pytest.fixture
def photo():
    return np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)


def _finish_jobs(panel) -> None:
    """Stop the panel's job and wait for its thread: a job's end reaches the panel a moment
    before its thread has finished, and the leftover-thread guard must not race that."""
    panel.shutdown()
    for slot in panel.job_slots():
        slot.wait(10_000)


def _panel(qtbot, ctx, cls, tiny=None):
    panel = cls(ctx)
    panel.classifier = tiny
    qtbot.addWidget(panel, before_close_func=_finish_jobs)
    panel.resize(1200, 800)
    panel.show()
    return panel


def test_predict_panel_shows_espresso_and_shares_the_image(qtbot, ctx):
    from gui.panels.imagenet_predict import ImageNetPredictPanel

    panel = _panel(qtbot, ctx, ImageNetPredictPanel)
    with qtbot.waitSignal(ctx.input_image_changed, timeout=5000):
        with qtbot.waitSignal(panel.jobs.succeeded, timeout=JOB_TIMEOUT_MS):
            panel.source.choose_bundled("coffee")
    assert panel.bars.predictions()[0][1] == "espresso"
    assert len(panel.bars.predictions()) == 5
    assert panel.view.image().shape == (224, 224, 3)
    assert ctx.input_image is panel.image and ctx.input_caption == "coffee"
    # an image sent by another panel is classified too
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=JOB_TIMEOUT_MS):
        ctx.send_image(np.zeros((30, 40, 3), np.uint8), "black", "Predict")
    assert panel.caption == "black" and panel.jobs_succeeded == 2


def test_broken_file_gives_a_message_and_keeps_the_image(qtbot, ctx, tmp_path, tiny, photo):
    from gui.panels.imagenet_predict import ImageNetPredictPanel

    panel = _panel(qtbot, ctx, ImageNetPredictPanel, tiny)
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=JOB_TIMEOUT_MS):
        panel.set_image(photo, "noise")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    with qtbot.waitSignal(ctx.error_raised, timeout=5000):
        panel.source.load_path(str(broken))
    assert "broken.png" in ctx.last_error[1]
    assert panel.image is not None and panel.caption == "noise"


def test_class_picker_finds_names_and_indices(qtbot):
    from gui.widgets.class_picker import ClassPicker

    picker = ClassPicker(allow_predicted=True)
    qtbot.addWidget(picker)
    assert picker.class_index() == -1 and picker.count() == 1001
    with qtbot.waitSignal(picker.class_changed, timeout=2000) as blocker:
        picker.lineEdit().setText("king penguin")
        picker.lineEdit().editingFinished.emit()
    assert blocker.args == [145] and picker.class_index() == 145
    picker.lineEdit().setText("130")
    picker.lineEdit().editingFinished.emit()
    assert picker.class_index() == 130
    picker.lineEdit().setText("no such thing at all")
    picker.lineEdit().editingFinished.emit()
    assert picker.class_index() == 130  # unchanged
    picker.completer().setCompletionPrefix("penguin")
    assert picker.completer().completionCount() >= 1  # matches inside names


def test_saliency_panel_shows_each_selected_method(qtbot, ctx, tiny, photo):
    from gui.panels.saliency import SaliencyPanel

    panel = _panel(qtbot, ctx, SaliencyPanel, tiny)
    for key, box in panel.method_boxes.items():
        box.blockSignals(True)
        box.setChecked(key in ("vanilla", "gradcam"))
        box.blockSignals(False)
    panel._show_selected_views()
    panel.class_picker.set_class(7)
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=JOB_TIMEOUT_MS):
        ctx.send_image(photo, "noise", "Saliency")  # the user sent it here
    assert set(panel.maps) == {"vanilla", "gradcam"}
    assert all(m.target == 7 for m in panel.maps.values())
    assert panel.views["vanilla"].isVisible() and not panel.views["occlusion"].isVisible()
    assert panel.views["gradcam"].overlay.image is not None
    # The plain map (grey, white = strong, as in Simonyan et al.) beside each overlay.
    from gui.panels.saliency import plain_map

    plain = panel.plain_views["vanilla"].image()
    assert plain.ndim == 2 and plain.dtype == np.uint8
    assert np.array_equal(plain, plain_map(panel.maps["vanilla"].display))
    assert panel.plain_views["gradcam"].isVisible() and not panel.plain_views["occlusion"].isVisible()
    for key in ("vanilla", "gradcam"):  # side by side: plain map left of its overlay, same row
        plain_pos = panel.grid.getItemPosition(panel.grid.indexOf(panel.plain_views[key]))
        overlay_pos = panel.grid.getItemPosition(panel.grid.indexOf(panel.views[key]))
        assert plain_pos[0] == overlay_pos[0] and plain_pos[1] + 1 == overlay_pos[1]
    panel.opacity.setValue(20)
    assert panel.views["vanilla"].overlay.opacity() == pytest.approx(0.2)
    state = panel.save_state()
    other = _panel(qtbot, ctx, SaliencyPanel, tiny)
    with qtbot.waitSignal(other.jobs.succeeded, timeout=JOB_TIMEOUT_MS):
        other.restore_state(state)  # the panel's own photo comes back and is explained again
    assert np.array_equal(other.image, photo) and other.caption == "noise"
    assert other.selected_methods() == ["vanilla", "gradcam"] and other.class_picker.class_index() == 7
    assert other.opacity.value() == 20


def test_adversarial_panel_runs_live_and_saves_the_8bit_image(qtbot, ctx, tiny, photo, tmp_path):
    from gui.panels.adversarial import AdversarialPanel

    panel = _panel(qtbot, ctx, AdversarialPanel, tiny)
    panel.set_image(photo, "noise")
    panel.restore_state({"method": "pgd", "target": 5, "targeted": True, "epsilon": 4, "steps": 15})
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=JOB_TIMEOUT_MS):
        panel.run_button.click()
    result = panel.result
    assert result is not None and result.linf_255 <= 4 and result.target_index == 5
    assert panel.adversarial_view.image() is not None and panel.difference_view.image() is not None
    assert panel.bars_before.predictions() and panel.bars_after.predictions()
    assert panel.curve.series_data("target")[0][0] == 0  # the curve starts at step 0
    assert panel.save_button.isEnabled()
    panel.save_png(str(tmp_path / "adv.png"))
    assert np.array_equal(load_image(tmp_path / "adv.png"), result.adversarial)


def test_adversarial_panel_without_image_explains(qtbot, ctx, tiny):
    from gui.panels.adversarial import AdversarialPanel

    panel = _panel(qtbot, ctx, AdversarialPanel, tiny)
    with qtbot.waitSignal(ctx.error_raised, timeout=2000):
        panel.run_button.click()
    assert "image" in ctx.last_error[1].lower() and not panel.jobs.running


def test_class_viz_panel_previews_stops_and_saves(qtbot, ctx, tiny, tmp_path):
    from gui.panels.class_viz import ClassVizPanel

    panel = _panel(qtbot, ctx, ClassVizPanel, tiny)
    panel.restore_state({"target": 9, "style": "cs231n", "steps": 10})
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=JOB_TIMEOUT_MS):
        panel.run_button.click()
    assert panel.result is not None and panel.result.class_index == 9 and panel.result.steps == 10
    assert panel.view.image().shape == (32, 32, 3)
    panel.save_png(str(tmp_path / "viz.png"))
    assert np.array_equal(load_image(tmp_path / "viz.png"), panel.result.image)

    # a long run can be stopped any time; the last preview stays and can be saved
    panel.restore_state({"target": 9, "style": "lucid", "steps": 5000})
    qtbot.waitUntil(panel.run_button.isEnabled, timeout=10_000)  # the first worker has fully ended
    with qtbot.waitSignal(panel.jobs.event, timeout=JOB_TIMEOUT_MS):
        panel.run_button.click()
    panel.stop_button.click()
    assert not panel.jobs.running and "Stopped" in panel.status.text()
    from gui.workers import registry

    qtbot.waitUntil(lambda: not registry.live(), timeout=JOB_TIMEOUT_MS)  # the worker really ends
    assert panel.result is None and panel.preview is not None and panel.save_button.isEnabled()
    assert panel.preview.step < 5000


def test_class_viz_curve_gets_each_measurement_once_at_its_step(qtbot, ctx, tiny):
    from gui.panels.class_viz import ClassVizPanel

    panel = _panel(qtbot, ctx, ClassVizPanel, tiny)
    panel.restore_state({"target": 9, "style": "lucid", "steps": 60})
    frames = []
    panel.jobs.event.connect(frames.append)
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=JOB_TIMEOUT_MS):
        panel.run_button.click()
    steps, probabilities = panel.curve.series_data("class probability")
    carried = sorted({frame.measured_step for frame in frames})
    assert steps == carried and steps[0] == 0 and steps[-1] == 60  # one point per measurement, at its step
    assert set(steps) <= {0, 24, 49, 60}  # Lucid measures within every 25th step (the image it started from)
    last = next(frame for frame in frames if frame.measured_step == 60)
    assert probabilities[-1] == pytest.approx(last.target_prob)


def test_class_viz_can_start_from_the_shared_photo(qtbot, ctx, tiny, photo):
    from gui.panels.class_viz import ClassVizPanel

    panel = _panel(qtbot, ctx, ClassVizPanel, tiny)
    assert not panel.from_photo.isEnabled()
    ctx.send_image(photo, "noise", "Class visualization")
    assert panel.from_photo.isEnabled()
    panel.restore_state({"target": 1, "style": "cs231n", "steps": 1, "from_photo": True})
    events = []
    panel.jobs.event.connect(events.append)
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=JOB_TIMEOUT_MS):
        panel.run_button.click()
    first = events[0].image.astype(int)
    expected = tiny.to_uint8(tiny.preprocess(photo)).astype(int)
    assert np.abs(first - expected).max() <= 1


def test_lesson_setups_configure_the_panels(qtbot, ctx, tiny):
    from gui.panels.adversarial import AdversarialPanel
    from gui.panels.class_viz import ClassVizPanel
    from gui.panels.saliency import SaliencyPanel

    saliency, adversarial, classviz = SaliencyPanel(ctx), AdversarialPanel(ctx), ClassVizPanel(ctx)
    for panel in (saliency, adversarial, classviz):
        qtbot.addWidget(panel)  # never shown: nothing is computed
    saliency.apply_lesson({"photo": "chelsea", "method": "gradient", "target": "tabby"})
    assert saliency.selected_methods() == ["vanilla"] and saliency.class_picker.class_index() == 281
    assert saliency.image is not None and not saliency.jobs.running
    adversarial.apply_lesson({"photo": "coffee", "method": "fooling", "target_class": 368, "epsilon": 2})
    state = adversarial.save_state()
    assert (state["method"], state["target"], state["epsilon"]) == ("iterative", 368, 2.0)
    assert adversarial.image.shape == (400, 600, 3)
    classviz.apply_lesson({"class_index": 76, "method": "cs231n", "steps": 100})
    assert classviz.save_state()["target"] == 76 and classviz.save_state()["style"] == "cs231n"
