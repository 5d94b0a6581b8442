from PySide6.QtCore import Qt

from engine.conv_arithmetic import output_size
from gui.widgets.conv_arithmetic import ConvArithmeticWidget


def test_controls_show_the_output_size_and_formula(qtbot):
    widget = ConvArithmeticWidget()
    qtbot.addWidget(widget)
    widget.set_values(input_size=7, kernel=3, padding=1, stride=2, dilation=1)
    assert "Output size = 4" in widget.formula_label.text()
    assert output_size(7, 3, 1, 2, 1) == 4
    widget.spins["dilation"].setValue(2)  # through the spin box, as a student would
    expected = output_size(7, 3, 1, 2, 2)
    assert f"Output size = {expected}" in widget.formula_label.text()
    assert widget.canvas.geometry_.dilation == 2
    assert len(widget.canvas.positions()) == expected * expected


def test_impossible_settings_explain_themselves_and_recover(qtbot):
    widget = ConvArithmeticWidget()
    qtbot.addWidget(widget)
    widget.set_values(input_size=3, kernel=7, padding=0, stride=1, dilation=1)
    assert "Impossible" in widget.formula_label.text() and "no position fits" in widget.formula_label.text()
    assert widget.canvas.geometry_ is None
    widget.spins["padding"].setValue(2)
    assert "Output size = 1" in widget.formula_label.text()


def test_the_window_slides_on_its_own_and_steps_on_demand(qtbot):
    widget = ConvArithmeticWidget()
    qtbot.addWidget(widget)
    widget.resize(600, 500)
    widget.show()
    widget.set_values(input_size=5, kernel=3, padding=0, stride=1, dilation=1)
    widget.speed.setValue(10)
    first = widget.canvas.current_window()
    qtbot.waitUntil(lambda: widget.canvas.current_window() != first, timeout=2000)
    qtbot.mouseClick(widget.play_button, Qt.LeftButton)  # pause
    assert not widget.timer.isActive() and widget.play_button.text() == "Play"
    before = widget.canvas.position
    qtbot.mouseClick(widget.step_button, Qt.LeftButton)
    assert widget.canvas.position == (before + 1) % 9
    image = widget.canvas.grab().toImage()
    assert image.width() > 100  # painted without error at this size


def test_the_animation_stops_while_hidden_and_goes_on_when_shown(qtbot):
    widget = ConvArithmeticWidget()
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    assert widget.play_button.isChecked() and widget.timer.isActive()
    widget.hide()  # e.g. its dock closed, or another tab in front: no frames nobody sees
    assert not widget.timer.isActive() and widget.play_button.isChecked()
    widget.show()
    assert widget.timer.isActive()


def test_reachable_from_the_window_menus(window, qtbot):
    assert not window.classroom.conv_dock.isVisible()
    window.classroom.conv_action.trigger()
    assert window.classroom.conv_dock.isVisible()
    assert any("Convolution arithmetic" in a.text().replace("&", "") for a in window.help_menu.actions())
