"""Network (builder) panel: table model -> view, edits publish the spec, files."""
from __future__ import annotations

import json

import pytest

from engine.spec import NetworkSpec, analyze, load_preset
from gui.panels.builder import COLUMNS, ERROR_BACKGROUND, BuilderPanel

PROBLEM = COLUMNS.index("Problem")
SHAPE = COLUMNS.index("Output shape")
LAYER = COLUMNS.index("Layer")


@pytest.fixture
def panel(qtbot, ctx):
    widget = BuilderPanel(ctx)
    qtbot.addWidget(widget)
    return widget


def kinds(spec: NetworkSpec) -> list[str]:
    return [layer.kind for layer in spec.layers]


def test_starts_with_lenet5_and_publishes_it(panel, ctx):
    assert ctx.spec is not None
    assert kinds(ctx.spec) == kinds(load_preset("lenet5"))
    assert panel.table.rowCount() == len(ctx.spec.layers)
    # Row 1 is conv1 with padding 2 on 28x28: 6 x 28 x 28, 6*1*5*5+6 parameters.
    assert panel.table.item(0, SHAPE).text() == "6 x 28 x 28"
    assert panel.table.item(0, COLUMNS.index("Parameters")).text() == "156"
    assert "61,706" in panel.total_label.text()


def test_impossible_layer_row_is_marked_with_its_reason(panel, ctx, qtbot):
    # After pool2 the maps are 16 x 5 x 5: a 7x7 unpadded conv cannot fit.
    with qtbot.waitSignal(ctx.spec_changed, timeout=1000):
        panel.add_layer("conv", index=6, out_channels=8, kernel=7, padding=0)
    row = 6
    reason = panel.table.item(row, PROBLEM).text()
    assert "larger than its padded input 5x5" in reason
    assert panel.table.item(row, LAYER).background().color() == ERROR_BACKGROUND
    assert panel.table.item(row - 1, PROBLEM).text() == ""
    assert panel.table.item(row - 1, LAYER).background().color() != ERROR_BACKGROUND
    assert panel.table.item(row + 1, SHAPE).text() == "—"  # nothing known after the failure
    assert "Layer 7" in panel.total_label.text() and "impossible" in panel.total_label.text()
    # Fixing the kernel through the generated editor clears the mark.
    panel.table.selectRow(row)
    panel.editor.editors["kernel"].setValue(3)
    assert panel.table.item(row, PROBLEM).text() == ""
    assert ctx.spec.layers[row].params["kernel"] == 3


def test_linear_before_flatten_is_marked(panel):
    panel.set_spec(NetworkSpec("t", (1, 8, 8), 10, []))
    panel.add_layer("linear", units=10)
    assert "add a Flatten" in panel.table.item(0, PROBLEM).text()


def test_add_remove_reorder_duplicate_change_spec_and_table(panel, ctx):
    start = kinds(ctx.spec)
    panel.table.selectRow(0)
    panel.add_combo.setCurrentIndex(panel.add_combo.findData("batchnorm"))
    panel.add_layer_clicked()
    assert kinds(ctx.spec) == start[:1] + ["batchnorm"] + start[1:]
    assert panel.table.item(1, LAYER).text() == "BatchNorm"
    assert panel.selected_index() == 1

    panel.move_down()  # batchnorm now after relu1
    assert kinds(ctx.spec)[1:3] == ["relu", "batchnorm"]
    assert panel.table.item(2, LAYER).text() == "BatchNorm"
    panel.move_up()
    assert kinds(ctx.spec)[1:3] == ["batchnorm", "relu"]

    panel.table.selectRow(0)
    panel.duplicate_selected()
    assert kinds(ctx.spec)[:2] == ["conv", "conv"]
    assert panel.table.rowCount() == len(start) + 2
    # The duplicated conv sees 6 channels: 6*6*5*5+6 parameters.
    assert panel.table.item(1, COLUMNS.index("Parameters")).text() == "906"

    panel.remove_selected()
    panel.table.selectRow(1)
    panel.remove_selected()
    assert kinds(ctx.spec) == start
    assert panel.table.rowCount() == len(start)


def test_dragging_a_row_moves_the_layer(panel, ctx):
    start = kinds(ctx.spec)
    panel.table.selectRow(6)  # flatten
    panel.table.row_dragged.emit(6, 0)
    assert kinds(ctx.spec) == ["flatten"] + start[:6] + start[7:]
    assert panel.table.item(0, LAYER).text() == "Flatten" and panel.selected_index() == 0
    assert "needs image-shaped input" in panel.table.item(1, PROBLEM).text()  # conv after flatten


def test_buttons_enable_with_selection(panel):
    panel.table.selectRow(0)
    assert not panel.up_button.isEnabled() and panel.down_button.isEnabled()
    panel.table.selectRow(panel.table.rowCount() - 1)
    assert panel.up_button.isEnabled() and not panel.down_button.isEnabled()


def test_editors_are_generated_with_ranges_and_tooltips(panel):
    panel.table.selectRow(0)
    editors = panel.editor.editors
    assert set(editors) == {"out_channels", "kernel", "stride", "padding"}
    assert editors["kernel"].minimum() == 1 and editors["kernel"].maximum() == 64
    assert "Filter width" in editors["kernel"].toolTip()
    dropout_row = None
    panel.add_layer("dropout")
    dropout_row = panel.selected_index()
    assert panel.editor.editors["p"].maximum() == pytest.approx(0.99)
    panel.editor.editors["p"].setValue(0.25)
    assert panel.spec.layers[dropout_row].params["p"] == pytest.approx(0.25)


def test_preset_load_through_combo(panel, ctx, qtbot):
    panel.preset_combo.setCurrentIndex(panel.preset_combo.findData("mlp"))
    with qtbot.waitSignal(ctx.spec_changed, timeout=1000):
        panel.preset_combo.activated.emit(panel.preset_combo.currentIndex())
    assert kinds(ctx.spec) == kinds(load_preset("mlp"))
    assert panel.table.rowCount() == len(load_preset("mlp").layers)


def test_preset_adapts_to_dataset_shape(panel, ctx):
    ctx.dataset_info = {"name": "shapes", "input_shape": (3, 32, 32), "num_classes": 5}
    ctx.set_dataset("shapes")
    assert tuple(ctx.spec.input_shape) == (3, 32, 32)
    panel.load_preset("lenet5")
    assert tuple(ctx.spec.input_shape) == (3, 32, 32) and ctx.spec.num_classes == 5
    assert ctx.spec.layers[-1].params["units"] == 5
    assert not any(info.error for info in analyze(ctx.spec))


def test_json_round_trip(panel, ctx, tmp_path):
    panel.add_layer("dropout", index=7, p=0.3)
    path = tmp_path / "net.json"
    assert panel.save_json(path)
    saved = json.loads(path.read_text())
    assert saved["layers"][7] == {"kind": "dropout", "p": 0.3}
    panel.load_preset("mlp")
    assert panel.load_json(path)
    assert ctx.spec.to_dict() == NetworkSpec.load(path).to_dict()
    assert kinds(ctx.spec)[7] == "dropout"


def test_bad_json_file_gives_clear_message_and_keeps_network(panel, ctx, tmp_path):
    before = ctx.spec.to_dict()
    broken = tmp_path / "broken.json"
    broken.write_text("{ not json")
    assert not panel.load_json(broken)
    title, message = ctx.last_error
    assert "broken.json" in message and "not valid JSON" in message
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"layers": [{"kind": "transformer"}]}))
    assert not panel.load_json(foreign)
    assert "Unknown layer kind 'transformer'" in ctx.last_error[1]
    assert ctx.spec.to_dict() == before


def test_state_round_trip(panel, qtbot, ctx):
    panel.load_preset("vgg_small")
    state = panel.save_state()
    other = BuilderPanel(ctx)
    qtbot.addWidget(other)
    other.restore_state(state)
    assert other.spec.to_dict() == panel.spec.to_dict()


def test_follows_a_spec_set_elsewhere_and_ignores_its_own_echo(panel, ctx, qtbot):
    other = load_preset("mlp").adapted_to((1, 28, 28), 10)
    assert kinds(other) != kinds(panel.spec)
    published = []
    ctx.spec_changed.connect(published.append)
    ctx.set_spec(other)  # e.g. a workspace restore or a lesson
    assert kinds(panel.spec) == kinds(other)
    assert panel.table.rowCount() == len(other.layers)
    assert len(published) == 1  # following it did not publish again
    panel.add_layer("relu", index=0)  # an own edit publishes once and stays
    assert len(published) == 2 and kinds(ctx.spec) == kinds(panel.spec)
    assert panel.table.rowCount() == len(other.layers) + 1


def test_every_shortcut_is_described_for_the_help_sheet(panel):
    from PySide6.QtGui import QShortcut

    shortcuts = panel.findChildren(QShortcut)
    assert len(shortcuts) >= 7
    assert all(shortcut.whatsThis() for shortcut in shortcuts)
