"""Feature space panel: real jobs on the fixture LeNet-5, model -> view checks."""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from engine import embed
from engine.checkpoint import TrainedRun

JOB_TIMEOUT_MS = 240_000  # the CI machine is shared; the jobs themselves take seconds


@pytest.fixture
def panel(qtbot, ctx, trained_lenet):
    from gui.panels.feature_space import FeatureSpacePanel

    ctx.set_run(trained_lenet)
    widget = FeatureSpacePanel(ctx)
    qtbot.addWidget(widget)
    widget.resize(1300, 850)
    widget.show()
    yield widget
    widget.shutdown()
    widget.jobs.wait(10_000)


def _run(qtbot, panel, **state):
    panel.restore_state(state)
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=JOB_TIMEOUT_MS):
        panel.start()
    qtbot.waitUntil(lambda: not panel.jobs.running, timeout=10_000)


def _plotted(plot):
    """All points currently drawn by a plot's scatter items."""
    xs, ys = [], []
    for item in plot.items:
        x, y = item.getData()
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def test_pca_of_trained_features_drawn_by_class_with_legend(qtbot, panel):
    assert panel.layer_combo.findText("relu4") >= 0 and panel.layer_combo.findText("pixels") >= 0
    _run(qtbot, panel, method="pca", sample_size=300)
    result = panel.result
    assert result.features.layer == "relu4" and result.embedding.xy.shape == (300, 2)
    plot = panel.feature_plot
    assert len(plot.items) == 10  # one scatter item (and legend entry) per digit
    assert len(plot.legend.items) == 10
    x, y = _plotted(plot)
    assert len(x) == 300
    # What is drawn is the engine's layout, grouped by true class.
    for item, (_, _, idx) in zip(plot.items, plot.groups):
        gx, gy = item.getData()
        np.testing.assert_allclose(gx, result.embedding.xy[idx, 0])
        assert (result.features.labels[idx] == result.features.labels[idx][0]).all()
    assert "5-NN accuracy" in panel.status_label.text()
    assert plot.plot.getPlotItem().getAxis("bottom").labelText == "PC 1"


def test_tsne_scatter_animates_from_partial_layouts(qtbot, panel):
    drawn = []
    original = panel.feature_plot.set_layout

    def spy(xy):
        drawn.append(xy)
        original(xy)

    panel.feature_plot.set_layout = spy
    _run(qtbot, panel, method="tsne", sample_size=300, iterations=120, perplexity=20)
    # The start layout, then one frame per openTSNE chunk of each phase (exaggerated, then normal).
    params = panel.tsne_params()
    early = round(120 * params.early_exaggeration_fraction)
    assert panel.frames_received == 1 + math.ceil(early / params.frame_every) + math.ceil(
        (120 - early) / params.frame_every)
    np.testing.assert_array_equal(drawn[-1], panel.result.embedding.xy)
    x, _ = _plotted(panel.feature_plot)
    assert len(x) == 300
    assert panel.result.embedding.knn_accuracy > 0.8
    # How many frames get drawn during a run depends on the machine's speed (the redraw timer
    # runs at the eye's rate); what must hold is that a partial layout is drawn at the timer's
    # next tick, not only at the end: feed one and let the timer fire.
    partial = (panel.result.embedding.xy * 0.5).astype(np.float32)
    before = len(drawn)
    panel.on_job_event(embed.EmbeddingPartial(partial, 10, float("nan"), 120))
    panel.redraw_timer.timeout.emit()
    assert len(drawn) == before + 1
    np.testing.assert_array_equal(drawn[-1], partial)


def test_colour_by_correctness_and_prediction(qtbot, panel, trained_lenet):
    _run(qtbot, panel, method="pca", sample_size=300)
    panel.colour_combo.setCurrentIndex(panel.colour_combo.findData("correct"))
    names = [g[0] for g in panel.feature_plot.groups]
    assert names[0].startswith("correct") and names[1].startswith("wrong")
    right = len(panel.feature_plot.groups[0][2])
    assert right + len(panel.feature_plot.groups[1][2]) == 300
    expected = int((panel.features.predictions == panel.features.labels).sum())
    assert right == expected and right / 300 > 0.85
    panel.colour_combo.setCurrentIndex(panel.colour_combo.findData("predicted"))
    for _, _, idx in panel.feature_plot.groups:
        assert len(set(panel.features.predictions[idx])) == 1


def test_click_on_a_point_sends_its_image_to_the_tools(qtbot, panel, ctx):
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    _run(qtbot, panel, method="pca", sample_size=200)
    plot = panel.feature_plot
    plot.plot.getPlotItem().vb.autoRange()
    qtbot.wait(50)
    index = 17
    scene = plot.view_box.mapViewToScene(pg_point(plot.xy[index]))
    # Hit-testing maps the scene position back to the nearest point.
    found = plot.point_at_scene(scene)
    assert found is not None and np.allclose(plot.xy[found], plot.xy[index], atol=1e-3 * np.ptp(plot.xy))
    view_pos = plot.plot.mapFromScene(scene)
    with qtbot.waitSignal(ctx.input_image_changed, timeout=5000) as blocker:
        QTest.mouseClick(plot.plot.viewport(), Qt.LeftButton, Qt.NoModifier, QPoint(view_pos.x(), view_pos.y()))
    image, caption = blocker.args
    assert image.shape == (28, 28, 1) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, panel.features.images[found])
    assert f"true {panel.features.class_names[panel.features.labels[found]]}" in caption
    # Hovering shows the same image in the preview.
    plot.point_hovered.emit(found)
    np.testing.assert_array_equal(panel.preview.image(), panel.features.images[found][:, :, 0])


def pg_point(xy):
    from PySide6.QtCore import QPointF

    return QPointF(float(xy[0]), float(xy[1]))


def test_box_and_lasso_selection_fill_the_image_grid(qtbot, panel, ctx):
    _run(qtbot, panel, method="pca", sample_size=300)
    xy = panel.feature_plot.xy
    x0, y0 = np.percentile(xy, 25, axis=0)
    x1, y1 = np.percentile(xy, 75, axis=0)
    panel.select_combo.setCurrentIndex(panel.select_combo.findData("box"))
    assert panel.feature_plot.view_box.select_mode == "box"
    panel.feature_plot.view_box.rect_selected.emit(float(x0), float(y0), float(x1), float(y1))
    expected = embed.points_in_rect(xy, x0, y0, x1, y1)
    assert len(expected) > 5
    np.testing.assert_array_equal(panel.selected, expected)
    assert panel.selection_grid.count == len(expected)
    assert f"{len(expected)} selected" in panel.selection_grid.caption.text()
    triangle = np.array([[x0, y0], [x1, y0], [x0, y1]])
    panel.feature_plot.view_box.polygon_selected.emit(triangle)
    np.testing.assert_array_equal(panel.selected, embed.points_in_polygon(xy, triangle))
    with qtbot.waitSignal(ctx.input_image_changed, timeout=5000) as blocker:
        panel.selection_grid.tile_clicked.emit(0)
    np.testing.assert_array_equal(blocker.args[0], panel.features.images[panel.selected[0]])


def test_compare_mode_thumbnails_and_export(qtbot, panel, tmp_path):
    _run(qtbot, panel, method="pca", sample_size=200, compare=True)
    assert panel.pixel_plot.isVisible()
    assert panel.result.pixel_embedding is not None
    np.testing.assert_array_equal(panel.pixel_plot.xy, panel.result.pixel_embedding.xy)
    assert "raw pixels" in panel.pixel_plot.plot.getPlotItem().titleLabel.text
    panel.thumbnails_check.setChecked(True)
    assert panel.feature_plot.mosaic.isVisible() and panel.feature_plot.mosaic.image is not None
    assert not panel.feature_plot.items[0].isVisible() and not panel.feature_plot.legend.isVisible()
    panel.thumbnails_check.setChecked(False)
    assert not panel.feature_plot.mosaic.isVisible()
    assert panel.export_csv(str(tmp_path / "e.csv"))
    rows = list(csv.DictReader(open(tmp_path / "e.csv")))
    assert len(rows) == 200 and float(rows[3]["x"]) == pytest.approx(panel.result.embedding.xy[3, 0], rel=1e-4)
    assert (tmp_path / "e_pixels.csv").exists()
    assert panel.export_png(str(tmp_path / "e.png"))
    assert (tmp_path / "e.png").read_bytes()[:4] == b"\x89PNG"


def test_stop_during_tsne_keeps_the_last_frame(qtbot, panel):
    panel.restore_state({"method": "tsne", "sample_size": 300, "iterations": 5000})
    panel.start()
    qtbot.waitUntil(lambda: panel.frames_received >= 3, timeout=JOB_TIMEOUT_MS)
    with qtbot.waitSignal(panel.jobs.running_changed, timeout=5000):
        panel.stop()
    panel.jobs.wait(10_000)
    assert panel.result is None
    assert panel.feature_plot.xy is not None and len(panel.feature_plot.xy) == 300
    assert "stopped" in panel.status_label.text()
    assert panel.start_button.isEnabled()


def test_wrong_dataset_is_a_message_not_a_crash(qtbot, ctx, panel, trained_lenet):
    ctx.set_run(TrainedRun(trained_lenet.model, "digits", name="mismatch"))
    with qtbot.waitSignal(ctx.error_raised, timeout=JOB_TIMEOUT_MS) as blocker:
        panel.start()
    assert "expects images of shape" in blocker.args[1]
    qtbot.waitUntil(panel.start_button.isEnabled, timeout=10_000)  # usable again
    assert "expects images of shape" in panel.status_label.text()


def test_state_round_trip(panel, ctx):
    from gui.panels.feature_space import FeatureSpacePanel

    panel.restore_state({"layer": "fc1", "method": "pca", "sample_size": 750, "perplexity": 12, "compare": True,
                         "colour_by": "correct", "split": "train", "init": "random", "learning_rate": 200})
    state = panel.save_state()
    other = FeatureSpacePanel(ctx)
    other.restore_state(state)
    assert other.save_state() == state
    assert state["layer"] == "fc1" and state["sample_size"] == 750 and state["colour_by"] == "correct"
    other.deleteLater()


@pytest.mark.slow
def test_without_a_run_start_trains_a_quick_lenet(qtbot, qapp):
    from gui.context import AppContext
    from gui.panels.feature_space import FeatureSpacePanel

    widget = FeatureSpacePanel(AppContext())
    qtbot.addWidget(widget)
    assert widget.layer_combo.count() == 2
    widget.restore_state({"method": "pca", "sample_size": 200})
    with qtbot.waitSignal(widget.jobs.succeeded, timeout=JOB_TIMEOUT_MS):
        widget.start()
    assert widget.run is not None and widget.layer_combo.findText("relu4") >= 0
    assert widget.result.features.layer == "relu4"
    widget.shutdown()


def test_imagenet_choice_uses_a_folder_or_the_bundled_photos(qtbot, panel, ctx, tmp_path):
    panel.restore_state({"model": "imagenet"})
    assert panel.using_imagenet() and panel.folder_button.isVisible() and panel.network_choice.isVisible()
    assert [panel.layer_combo.itemText(i) for i in range(panel.layer_combo.count())] == [embed.IMAGENET_LAYER]
    assert not panel.sample_spin.isEnabled()
    assert "bundled photos" in panel.model_label.text()  # no folder: Start uses the bundled photos
    panel.set_folder(str(tmp_path))
    assert str(tmp_path) in panel.model_label.text()
    assert panel.save_state()["folder"] == str(tmp_path)
    panel.restore_state({"model": "trained"})
    assert panel.layer_combo.findText("relu4") >= 0 and panel.sample_spin.isEnabled()
    assert not panel.network_choice.isVisible()


def test_clicked_point_opens_in_activations(qtbot, panel, ctx):
    """The status line says 'click it to inspect it in Activations': the click must get there
    (through ctx.send_image, without taking the focus from Feature space)."""
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    from gui.panels.activations import ActivationsPanel

    activations = ActivationsPanel(ctx)
    qtbot.addWidget(activations)
    qtbot.waitUntil(lambda: not activations.jobs.running, timeout=JOB_TIMEOUT_MS)  # its own first sample
    _run(qtbot, panel, method="pca", sample_size=200)
    assert "inspect it in Activations" in panel.status_label.text()
    focused = []
    ctx.focus_panel_requested.connect(focused.append)
    plot = panel.feature_plot
    plot.plot.getPlotItem().vb.autoRange()
    qtbot.wait(50)
    index = 42
    view_pos = plot.plot.mapFromScene(plot.view_box.mapViewToScene(pg_point(plot.xy[index])))
    with qtbot.waitSignal(activations.jobs.succeeded, timeout=JOB_TIMEOUT_MS):
        QTest.mouseClick(plot.plot.viewport(), Qt.LeftButton, Qt.NoModifier, QPoint(view_pos.x(), view_pos.y()))
    found = plot.point_at_scene(plot.view_box.mapViewToScene(pg_point(plot.xy[index])))
    assert activations.caption == panel.describe_point(found)
    np.testing.assert_array_equal(activations.input_image[:, :, 0], panel.features.images[found][:, :, 0])
    assert focused == []
    activations.shutdown()
    activations.jobs.wait(10_000)
