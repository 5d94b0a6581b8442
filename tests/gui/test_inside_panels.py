"""The "Inside" panels: filters, activations, top patches, layer statistics,
initialization lab and mistakes, driven offscreen with a trained LeNet-5."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from engine.introspect import conv_weights

TIMEOUT = 60_000


@pytest.fixture
def run_ctx(ctx, trained_lenet):
    return ctx


def _wait_job(qtbot, panel, timeout=TIMEOUT):
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=timeout):
        pass


def test_panels_without_a_model_show_the_hint(qtbot, ctx):
    from gui.panels.activations import ActivationsPanel
    from gui.panels.filters import FiltersPanel
    from gui.panels.mistakes import MistakesPanel
    from gui.panels.top_patches import TopPatchesPanel

    for cls in (FiltersPanel, ActivationsPanel, TopPatchesPanel, MistakesPanel):
        panel = cls(ctx)
        qtbot.addWidget(panel)
        assert panel.stack.currentIndex() == 0
        assert "Train a network in the Training tab or load a checkpoint" in panel.hint.label.text()
    with qtbot.waitSignal(ctx.focus_panel_requested, timeout=2000) as blocker:
        qtbot.mouseClick(panel.hint.train_button, Qt.LeftButton)
    assert blocker.args == ["Training"]


def test_hint_reports_a_broken_checkpoint(qtbot, ctx, tmp_path):
    from gui.panels.filters import FiltersPanel

    panel = FiltersPanel(ctx)
    qtbot.addWidget(panel)
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(b"not a checkpoint")
    with qtbot.waitSignal(ctx.error_raised, timeout=2000):
        panel.hint.load_path(str(bad))
    assert ctx.run is None and panel.stack.currentIndex() == 0


def test_filters_follow_the_run_and_live_snapshots(qtbot, ctx, trained_lenet):
    from engine.train import FiltersSnapshot
    from gui.panels.filters import FiltersPanel

    panel = FiltersPanel(ctx)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    ctx.set_run(trained_lenet)
    assert panel.stack.currentIndex() == 1
    assert [panel.layer_combo.itemText(i) for i in range(panel.layer_combo.count())] == ["conv1", "conv2"]
    qtbot.waitUntil(lambda: panel.grid.count == 6, timeout=3000)
    assert "6 filters of 1×5×5" in panel.grid.caption.text()
    # No snapshot from training yet: nothing to compare with.
    assert not panel.initial_grid.isVisibleTo(panel) and not panel.change_grid.isVisibleTo(panel)
    # A live snapshot from training replaces the weights and is drawn by the timer.
    weights = conv_weights(trained_lenet.model)
    zeros = {k: np.zeros_like(v) for k, v in weights.items()}
    # Hidden (another tab on screen), it keeps the snapshots but spends no time drawing them.
    panel.hide()
    ctx.training_event.emit(FiltersSnapshot(0, 0, zeros))
    ctx.training_event.emit(FiltersSnapshot(40, 0, weights))
    qtbot.wait(300)  # several of its intervals: its timer does not even tick while hidden
    assert not panel.redraws.timer.isActive()
    assert panel.redraws.dirty and "training step 40" not in panel.grid.caption.text()
    panel.show()  # shown again: the latest snapshot is drawn by the timer
    qtbot.waitUntil(lambda: "training step 40" in panel.grid.caption.text(), timeout=3000)
    assert panel.initial_grid.isVisibleTo(panel) and panel.change_grid.isVisibleTo(panel)
    assert np.all(panel.initial["conv1"] == 0)
    assert "Change (current − start)" in panel.change_grid.caption.text()
    assert panel.change_grid.count == 6
    # Unticking "Compare with start" hides both comparison grids again.
    panel.compare_check.setChecked(False)
    qtbot.waitUntil(lambda: not panel.initial_grid.isVisibleTo(panel), timeout=3000)
    assert not panel.change_grid.isVisibleTo(panel)
    panel.compare_check.setChecked(True)
    qtbot.waitUntil(lambda: panel.initial_grid.isVisibleTo(panel), timeout=3000)
    panel.mode_combo.setCurrentIndex(panel.mode_combo.findData("per_input"))
    panel.layer_combo.setCurrentText("conv2")
    qtbot.waitUntil(lambda: panel.grid.count == 16 * 6, timeout=3000)
    state = panel.save_state()
    other = FiltersPanel(ctx)
    qtbot.addWidget(other)
    other.restore_state(state)
    assert other.save_state() == state


def test_activations_for_sample_drawing_and_click(qtbot, ctx, trained_lenet):
    from gui.panels.activations import ActivationsPanel

    panel = ActivationsPanel(ctx)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(ctx.input_image_changed, timeout=TIMEOUT):
        ctx.set_run(trained_lenet)
    assert set(panel.layer_grids) == {name for name, _ in trained_lenet.model.named_layers()}
    assert panel.layer_grids["conv1"].count == 6 and panel.layer_grids["conv2"].count == 16
    assert panel.input_image.shape == (28, 28, 3)
    # Next sample: the input published to the context changes.
    before = ctx.input_image.copy()
    with qtbot.waitSignal(ctx.input_image_changed, timeout=TIMEOUT):
        qtbot.mouseClick(panel.next_button, Qt.LeftButton)
    assert panel.index_spin.value() == 1 and not np.array_equal(before, ctx.input_image)
    # A drawn digit becomes the input.
    panel.canvas.stroke([(100, 30), (100, 170)])
    with qtbot.waitSignal(ctx.input_image_changed, timeout=TIMEOUT) as blocker:
        panel.show_drawing()
    assert blocker.args[1] == "Your drawing"
    assert ctx.input_image[:, 12:16].mean() > ctx.input_image[:, :5].mean()  # the vertical stroke, centred
    # Clicking a map enlarges it.
    panel._show_enlarged("conv2", 5)
    assert panel.enlarged_view.image() is not None and "conv2, map 5" in panel.enlarged_view.caption.text()


def test_activations_refuse_a_broken_file(qtbot, ctx, trained_lenet, tmp_path):
    from gui.panels.activations import ActivationsPanel

    panel = ActivationsPanel(ctx)
    qtbot.addWidget(panel)
    ctx.set_run(trained_lenet)
    _wait_job(qtbot, panel)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG broken")
    with qtbot.waitSignal(ctx.error_raised, timeout=TIMEOUT):
        panel.show_file(str(bad))
    assert panel.input_image is not None  # the previous input is kept
    # A real RGB file of another size is converted to the model's 1x28x28 input.
    from engine.images import save_png

    picture = np.zeros((90, 60, 3), dtype=np.uint8)
    picture[20:70, 25:35] = 255
    good = tmp_path / "stroke.png"
    save_png(good, picture)
    with qtbot.waitSignal(ctx.input_image_changed, timeout=TIMEOUT) as blocker:
        panel.show_file(str(good))
    assert blocker.args[1] == "stroke.png"
    assert ctx.input_image.shape == (28, 28, 3) and ctx.input_image[:, 13].mean() > ctx.input_image[:, 2].mean()
    assert panel.layer_grids["conv1"].count == 6


def test_top_patches_job_fills_grids(qtbot, ctx, trained_lenet):
    from gui.panels.top_patches import TopPatchesPanel

    panel = TopPatchesPanel(ctx)
    qtbot.addWidget(panel)
    ctx.set_run(trained_lenet)
    assert panel.layer_combo.currentText() == "conv2"
    panel.limit_spin.setValue(300)
    panel.k_spin.setValue(4)
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=TIMEOUT):
        qtbot.mouseClick(panel.find_button, Qt.LeftButton)
    assert panel.result.patches.shape[:2] == (16, 4)
    assert panel.all_grid.count == 16 and panel.channel_grid.count == 4
    assert panel.progress.value() == 1000
    panel.select_channel(7)
    assert "channel 7" in panel.channel_grid.caption.text()


def test_layer_stats_from_training_events_and_measure(qtbot, ctx, trained_lenet, mnist5k):
    from engine.layer_stats import LayerStatsSnapshot, collect_layer_stats
    from gui.panels.layer_stats import LayerStatsPanel

    panel = LayerStatsPanel(ctx)
    qtbot.addWidget(panel)
    stats = collect_layer_stats(trained_lenet.model, mnist5k.val_x[:32], with_grads=True, y=mnist5k.val_y[:32])
    ctx.training_event.emit(LayerStatsSnapshot(0, 0, stats))
    ctx.training_event.emit(LayerStatsSnapshot(63, 0, stats))
    assert len(panel.snapshots) == 2
    panel.redraw()
    assert len(panel.act_plot.listDataItems()) == 2 and len(panel.grad_plot.listDataItems()) == 2
    assert panel.snapshot_label.text().startswith("epoch 1")
    ctx.set_run(trained_lenet)
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=TIMEOUT):
        qtbot.mouseClick(panel.measure_button, Qt.LeftButton)
    assert len(panel.snapshots) == 3 and panel.snapshots[-1].step == -1


def test_init_lab_shows_vanishing_then_stable(qtbot, ctx):
    from gui.panels.init_lab import InitLabPanel

    panel = InitLabPanel(ctx)
    qtbot.addWidget(panel)
    panel.debounce.stop()
    panel.restore_state({"nonlinearity": "tanh", "init": "small", "batch_norm": False, "layers": 6, "width": 200})
    panel.debounce.stop()
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=TIMEOUT):
        panel.run_experiment()
    std = panel.std_plot.listDataItems()[0].getData()[1]
    assert len(std) == 6 and std[-1] < 0.01 * std[0]
    assert "shrink toward 0" in panel.summary.text()
    panel.init_combo.setCurrentIndex(panel.init_combo.findData("xavier"))
    panel.debounce.stop()
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=TIMEOUT):
        panel.run_experiment()
    std = panel.std_plot.listDataItems()[0].getData()[1]
    assert std[-1] > 0.3 * std[0]
    assert "healthy" in panel.summary.text()


def test_init_lab_waits_until_shown_and_nothing_starts_after_shutdown(qtbot, ctx):
    from gui.panels.init_lab import InitLabPanel

    panel = InitLabPanel(ctx)
    qtbot.addWidget(panel)
    qtbot.wait(300)  # longer than the debounce: nothing may start before the panel is seen
    assert not panel.debounce.isActive() and not panel.jobs.running and panel.result is None
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=TIMEOUT):
        panel.show()
    assert panel.result is not None
    panel.layers_spin.setValue(panel.layers_spin.value() + 1)  # schedules a re-run ...
    panel.shutdown()  # ... which closing cancels
    qtbot.wait(300)
    assert not panel.debounce.isActive() and not panel.jobs.running


def test_mistakes_confusion_and_gallery(qtbot, ctx, trained_lenet, mnist5k):
    from gui.panels.mistakes import MistakesPanel

    panel = MistakesPanel(ctx)
    qtbot.addWidget(panel)
    panel.count_spin.setValue(10)
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=TIMEOUT):
        ctx.set_run(trained_lenet)
    assert panel.result.confusion.sum() == len(mnist5k.val_y)
    assert panel.gallery.count() == 10
    first = panel.gallery.item(0).text()
    assert first.startswith(f"true {panel.result.class_names[panel.result.true_labels[0]]}")
    assert len(panel._texts) == 100  # a count in every cell of the 10 x 10 matrix
    # The heat map's row i is true class i: its colours follow the counts.
    shown = panel.matrix_image.image
    assert np.array_equal(np.argsort(shown, axis=1)[:, -1], np.argmax(panel.result.confusion, axis=1))
    assert np.allclose(shown, np.log1p(panel.result.confusion))
    assert "accuracy" in panel.summary.text()


def test_mistakes_matrix_refits_on_resize_and_numbers_follow_text_size(qtbot, ctx, trained_lenet, monkeypatch):
    from gui import theme
    from gui.panels.mistakes import MistakesPanel

    panel = MistakesPanel(ctx)
    qtbot.addWidget(panel)
    panel.resize(1200, 700)
    panel.show()
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=TIMEOUT):
        ctx.set_run(trained_lenet)
    k = len(panel.result.class_names)
    panel.resize(700, 500)  # narrower: the aspect-locked view must still show every column
    qtbot.waitUntil(lambda: panel.matrix_plot.getViewBox().viewRange()[0][1] >= k - 0.01, timeout=3000)
    (x_low, x_high), (y_low, y_high) = panel.matrix_plot.getViewBox().viewRange()
    assert x_low <= 0.01 and x_high >= k - 0.01 and y_low <= 0.01 and y_high >= k - 0.01
    small = panel._texts[0].textItem.font().pointSizeF()
    monkeypatch.setitem(theme.current, "scale", 2.0)
    theme.notifier.changed.emit()
    assert panel._texts[0].textItem.font().pointSizeF() == pytest.approx(2 * small)


def test_draw_canvas_draws_with_the_mouse(qtbot):
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    from gui.widgets.draw_canvas import DrawCanvas

    canvas = DrawCanvas(size=100, pen_width=6)
    qtbot.addWidget(canvas)
    assert canvas.is_empty()

    def send(kind, x, y, buttons):
        point = QPointF(x, y)
        event = QMouseEvent(kind, point, canvas.mapToGlobal(point), Qt.LeftButton, buttons, Qt.NoModifier)
        QApplication.sendEvent(canvas, event)

    with qtbot.waitSignal(canvas.drawing_finished, timeout=2000):
        send(QMouseEvent.MouseButtonPress, 20, 50, Qt.LeftButton)
        send(QMouseEvent.MouseMove, 50, 50, Qt.LeftButton)
        send(QMouseEvent.MouseMove, 80, 50, Qt.LeftButton)
        send(QMouseEvent.MouseButtonRelease, 80, 50, Qt.NoButton)
    drawing = canvas.drawing()
    assert drawing.shape == (100, 100)
    assert drawing[50, 20:80].min() > 200 and drawing[10, :].max() == 0  # a horizontal line, nothing elsewhere
    canvas.clear()
    assert canvas.is_empty()


def test_layer_statistics_measure_batch_norm_as_training_sees_it():
    """Before any training a batch-norm net's running statistics are the defaults (mean 0,
    variance 1): measured with them the small-init signal seems to vanish layer after layer,
    although training normalizes with the batch's own statistics and sees a healthy spread."""
    import torch

    from engine.events import run_to_end
    from engine.initialization import apply_init
    from engine.model import ConvNet
    from engine.spec import load_preset
    from engine.train import insert_batchnorm
    from gui.panels.layer_stats import measure_job

    torch.manual_seed(0)
    model = ConvNet(insert_batchnorm(load_preset("deep_tanh_10x500")))
    apply_init(model, "small")
    running = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    x = torch.randn(256, 1, 28, 28)
    y = torch.randint(0, 10, (256,))
    stats = run_to_end(measure_job(model, x, y)).stats
    tanh_std = [s for name, s in zip(stats.layer_names, stats.act_std) if "tanh" in name]
    assert len(tanh_std) >= 9 and min(tanh_std) > 0.3, tanh_std  # healthy in every layer, as training sees it
    for key, value in running.items():  # measuring must not move the running statistics
        assert torch.equal(model.state_dict()[key], value), key
