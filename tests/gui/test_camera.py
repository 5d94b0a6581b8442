"""The Camera source (issue 19): a folder of frames played live through the classifier, Freeze
hands the frame to the panel's image source, a bad source leaves the last frame and says why,
and closing stops the capture."""
from __future__ import annotations

import threading

import numpy as np

from engine.images import load_bundled_photo, save_png
from engine.transfer.demo import photo_variants

TIMEOUT = 180_000


def _frames(folder, count=40):
    folder.mkdir()
    for i, view in enumerate(photo_variants(load_bundled_photo("coffee"), count, seed=2)):
        save_png(folder / f"{i:03d}.png", view)
    return folder


def test_camera_frames_predictions_freeze_and_close(qtbot, tmp_path):
    from gui.widgets.image_source import ImageSourceBar

    bar = ImageSourceBar()
    qtbot.addWidget(bar)
    chosen = []
    bar.image_chosen.connect(lambda image, caption: chosen.append((image, caption)))
    bar.open_camera()
    dialog = bar.camera
    with qtbot.waitSignal(dialog.jobs.event, timeout=TIMEOUT):
        dialog.start(str(_frames(tmp_path / "frames")))
    qtbot.waitUntil(lambda: "frames/s" in dialog.result_label.text(), timeout=TIMEOUT)
    assert "espresso" in dialog.result_label.text() and "food" in dialog.result_label.text()
    dialog.freeze()
    assert chosen and chosen[-1][1] == "camera frame" and chosen[-1][0].shape[2] == 3
    assert np.array_equal(chosen[-1][0], dialog.last_frame)
    dialog.close()
    assert not dialog.jobs.running
    assert not any(t.name == "convscope-capture" and t.is_alive() for t in threading.enumerate())


def test_a_source_that_fails_keeps_the_last_frame_and_says_why(qtbot, tmp_path):
    from gui.widgets.camera import CameraDialog

    dialog = CameraDialog("efficientnet_lite0")
    qtbot.addWidget(dialog)
    empty = tmp_path / "empty"
    empty.mkdir()
    with qtbot.waitSignal(dialog.jobs.failed, timeout=TIMEOUT):
        dialog.start(str(empty))
    assert "holds no image frames" in dialog.result_label.text()
    assert dialog.last_frame is None and not dialog.freeze_button.isEnabled()
    dialog.close()


def test_a_frozen_camera_frame_goes_to_activations(qtbot, ctx, tmp_path):
    from gui.panels.activations import ActivationsPanel

    panel = ActivationsPanel(ctx)
    qtbot.addWidget(panel)
    panel.show()
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=TIMEOUT):
        panel.show_network("efficientnet_lite0")
    assert panel.camera_button.isVisible()
    panel._open_camera()
    with qtbot.waitSignal(panel.camera.jobs.event, timeout=TIMEOUT):
        panel.camera.start(str(_frames(tmp_path / "frames", 10)))
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=TIMEOUT):
        panel.camera.freeze()
    assert panel.network_result.top1[1] == "espresso"
    panel.camera.close()
    assert panel.camera.jobs.wait(TIMEOUT)


def test_dog_vs_food_classifies_a_frozen_camera_frame(qtbot, ctx, tmp_path):
    from gui.panels.dogfood import DogFoodPanel
    from gui.widgets.dogfood_views import CAMERA

    panel = DogFoodPanel(ctx)
    qtbot.addWidget(panel)
    panel.show()
    panel.photo_combo.setCurrentText(CAMERA)
    panel.photo_box.classify_button.click()
    with qtbot.waitSignal(panel.camera.jobs.event, timeout=TIMEOUT):
        panel.camera.start(str(_frames(tmp_path / "frames", 10)))
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=TIMEOUT):
        panel.camera.freeze()
    assert "camera frame: food" in panel.photo_label.text()
    panel.camera.close()
    assert panel.camera.jobs.wait(TIMEOUT)


def test_live_activations_of_a_chosen_layer(qtbot, tmp_path):
    from gui.widgets.camera import CameraDialog

    dialog = CameraDialog("efficientnet_lite0")
    qtbot.addWidget(dialog)
    dialog.mode_combo.setCurrentIndex(dialog.mode_combo.findData("activations"))
    dialog.layer_edit.setText("conv_stem")
    frames = []
    dialog.jobs.event.connect(frames.append)
    with qtbot.waitSignal(dialog.jobs.event, timeout=TIMEOUT):
        dialog.start(str(_frames(tmp_path / "frames", 6)))
    assert "conv_stem" in dialog.overlay.caption.text() and frames[0].overlay is not None
    assert frames[0].overlay.ndim >= 2 and frames[0].overlay.dtype == np.uint8  # the 32 stem maps, tiled
    dialog.layer_edit.setText("blocks.99")
    with qtbot.waitSignal(dialog.jobs.failed, timeout=TIMEOUT):
        dialog.restart()
    assert "no layer 'blocks.99'" in dialog.result_label.text()
    dialog.close()
