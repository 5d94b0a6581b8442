"""Diagram panel and the convolution in numbers (issue 20), checked model -> view: the numbers the
widgets show equal the real layers' outputs, the diagram follows real training events, clicking a map
opens it large, and bad input is a message."""
from __future__ import annotations

import numpy as np
import pytest
import torch


def _shown_panel(qtbot, ctx):
    from gui.panels.diagram import DiagramPanel

    panel = DiagramPanel(ctx)
    qtbot.addWidget(panel)
    panel.resize(1280, 800)
    panel.show()
    return panel


def _real_outputs(model, probe):
    outputs = {}
    with torch.no_grad():
        x = model.normalize(probe[None])
        for name, module in model.features.named_children():
            x = module(x)
            outputs[name] = x[0].numpy()
    return outputs


def test_diagram_of_the_run_and_the_numbers_the_large_view_shows(qtbot, ctx, trained_lenet, tmp_path):
    ctx.set_run(trained_lenet)
    panel = _shown_panel(qtbot, ctx)
    qtbot.waitUntil(lambda: panel.diagrams_shown >= 1, timeout=60000)
    diagram = panel.diagram
    assert panel.stack.currentIndex() == 1
    assert [c.title for c in diagram.columns] == ["input", "conv1 + relu1", "pool1", "conv2 + relu2",
                                                  "pool2 + flatten1", "fc1 + relu3", "fc2 + relu4", "fc3"]
    assert [c.shape for c in diagram.columns][1:5] == [(6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5)]
    assert len(panel.view._images) == len(diagram.columns)
    # Clicking map 3 of conv2 opens it large.
    panel.view.clicked_at(3, *_tile_centre(diagram.columns[3], 3))
    dialog = panel.dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.channel == 3 and dialog.conv == "conv2"
    assert dialog.map_view.image().shape == (10, 10)
    assert dialog.filter_grid.count == 6  # one tile per input channel of the filter
    # A click on a pixel: the numbers, as the widget shows them, equal the real layers' outputs.
    real = _real_outputs(trained_lenet.model, panel.probe.tensor)
    for y, x in [(0, 0), (4, 7), (9, 9), (9, 0)]:
        dialog.select_pixel(x, y)
        assert dialog.tabs.currentIndex() == 2
        shown = dialog.numbers.shown_numbers()
        assert shown["output"] == pytest.approx(real["conv2"][3, y, x], abs=1e-4)
        assert shown["computed"] == pytest.approx(real["conv2"][3, y, x], abs=1e-4)
        assert shown["after_0"] == pytest.approx(real["relu2"][3, y, x], abs=1e-4)
        pool = dialog.numbers.walk.pool
        assert shown["pool"] == pytest.approx(real["pool2"][3, pool.y, pool.x], abs=1e-4)
        assert shown["total"] + shown["bias"] == pytest.approx(shown["output"], abs=2e-4)
    # Exported: the map views as PNG and the numbers as vectors.
    written = dialog.export_to(str(tmp_path))
    numbers = [path for path in written if path.name.endswith("_numbers.svg")]
    assert numbers and "<svg" in numbers[0].read_text()[:2000]
    # Arrow keys step through the positions.
    from PySide6.QtCore import Qt

    dialog.select_pixel(2, 5)
    qtbot.keyClick(dialog.numbers, Qt.Key_Right)
    assert (dialog.numbers.y, dialog.numbers.x) == (5, 3)
    assert dialog.numbers.shown_numbers()["output"] == pytest.approx(real["conv2"][3, 5, 3], abs=1e-4)
    dialog.close()


def _tile_centre(column, tile):
    rows, cols = column.grid
    h, w = column.tile_shape
    r, c = divmod(tile, cols)
    return column.pad + c * (w + column.pad) + w / 2, column.pad + r * (h + column.pad) + h / 2


@pytest.mark.parametrize("values", [dict(input_size=7, kernel=3, padding=1, stride=2, dilation=1),
                                    dict(input_size=6, kernel=3, padding=0, stride=1, dilation=2),
                                    dict(input_size=8, kernel=4, padding=2, stride=3, dilation=1)])
def test_arithmetic_widget_numbers_equal_a_real_conv_with_its_geometry(qtbot, values):
    from torch import nn

    from gui.widgets.conv_arithmetic import ConvArithmeticWidget

    widget = ConvArithmeticWidget()
    qtbot.addWidget(widget)
    widget.play_button.setChecked(False)
    widget.set_values(view="numbers", **values)
    example = widget.example
    conv = dict(example.layers)["conv"]
    independent = nn.functional.conv2d(torch.from_numpy(example.outputs["input"])[None], conv.weight, conv.bias,
                                       values["stride"], values["padding"], values["dilation"])[0, 0].detach().numpy()
    out = example.out_size
    assert independent.shape == (out, out)
    seen = set()
    for _ in range(out * out):
        shown = widget.numbers.shown_numbers()
        y, x = widget.numbers.y, widget.numbers.x
        assert (y * out + x) == widget.canvas.position % (out * out)  # the same position as the geometry
        assert shown["output"] == independent[y, x] == shown["computed"]
        assert shown["after_0"] == max(0.0, float(independent[y, x]))
        if "pool" in shown:
            relu = np.maximum(independent, 0)
            pool = widget.numbers.walk.pool
            assert shown["pool"] == relu[2 * pool.y:2 * pool.y + 2, 2 * pool.x:2 * pool.x + 2].max()
        seen.add((y, x))
        widget.step()
    assert len(seen) == out * out


def test_diagram_follows_real_training_events(qtbot, ctx):
    from engine.data import load_dataset
    from engine.events import run_to_end
    from engine.spec import load_preset
    from engine.train import TrainSettings, train_job

    ctx.set_spec(load_preset("lenet5"))
    panel = _shown_panel(qtbot, ctx)
    qtbot.waitUntil(lambda: panel.diagrams_shown >= 1, timeout=60000)  # the untrained network first
    assert panel.diagram.step == 0
    events = []
    data = load_dataset("mnist5k")
    run_to_end(train_job(load_preset("lenet5"), data, TrainSettings(epochs=1, snapshot_every_steps=20, seed=0,
                                                                     event_interval_s=0.0)), events.append)
    snapshots = [e for e in events if type(e).__name__ == "ModelSnapshot"]
    assert len(snapshots) >= 2
    for event in events:
        ctx.training_event.emit(event)
    last = snapshots[-1].step
    qtbot.waitUntil(lambda: panel.diagram is not None and panel.diagram.step == last, timeout=60000)
    assert "training step" in panel.status.text()
    assert panel.curves.series_data("loss")[0]  # the loss strip got the batches
    # The snapshot's weights, not the untrained ones: the output column is that model's prediction.
    from engine.diagram import model_from_snapshot

    model = model_from_snapshot(snapshots[-1].spec, snapshots[-1].state)
    with torch.no_grad():
        expected = torch.softmax(model(panel.probe.tensor[None]), 1)[0].numpy()
    np.testing.assert_allclose(panel.diagram.columns[-1].values, expected, atol=1e-5)


def test_bad_input_is_a_message_not_a_crash(qtbot, ctx, tmp_path):
    from engine.spec import LayerSpec, NetworkSpec

    panel = _shown_panel(qtbot, ctx)
    assert panel.stack.currentIndex() == 0  # no network, no run: the hint
    qtbot.waitUntil(lambda: not panel._dirty, timeout=5000)
    assert "No network yet" in panel.hint.label.text()
    broken = NetworkSpec("broken", (1, 28, 28), 10, [LayerSpec("conv", {"out_channels": 4, "kernel": 7}),
                                                      LayerSpec("maxpool", {"kernel": 30, "stride": 30}),
                                                      LayerSpec("flatten", {}), LayerSpec("linear", {"units": 10})])
    ctx.set_spec(broken)
    qtbot.waitUntil(lambda: panel.last_problem != "", timeout=60000)
    assert panel.stack.currentIndex() == 0 and "Layer 2" in panel.hint.label.text()
    bad = tmp_path / "not_an_image.png"
    bad.write_bytes(b"no picture here")
    panel.choose_probe("file", str(bad))
    qtbot.waitUntil(lambda: ctx.last_error is not None, timeout=60000)
    assert panel.probe_choice[0] == "sample"  # back to a dataset image


def test_the_two_lessons_open_the_numbers_and_train_under_the_diagram(window, qtbot):
    from gui.lessons import load_lessons

    dock = window.classroom.lessons_dock
    lessons = {lesson.id: lesson for lesson in load_lessons()}
    dock.set_up(lessons["conv_numbers"])
    dock.open_tool(lessons["conv_numbers"])
    widget = window.classroom.conv_widget
    assert window.classroom.conv_dock.isVisible() and widget.tabs.currentWidget() is widget.numbers
    assert widget.numbers.walk is not None and "output" in widget.numbers.values_text
    assert dock.set_up(lessons["diagram_live"]) == []
    panel = window.current_panel()
    assert panel.title == "Diagram"
    # One click trained it: the diagram follows the live training, then shows the trained run.
    qtbot.waitUntil(lambda: panel.diagram is not None and panel.diagram.step not in (None, 0), timeout=120000)
    qtbot.waitUntil(lambda: window.ctx.run is not None, timeout=180000)
    qtbot.waitUntil(lambda: panel.diagram is not None and panel.diagram.step is None, timeout=60000)
    assert window.ctx.last_error is None
