"""ElidedComboBox: a combo narrower than its entry shows it with an ellipsis (Qt's styles cut it at
the edge) and its tooltip starts with the whole entry; a wide one shows it as it is."""
from __future__ import annotations

from gui.widgets.elided_combo import ElidedComboBox


def test_a_narrow_combo_elides_its_entry_and_the_tooltip_has_it_whole(qtbot):
    combo = ElidedComboBox(min_chars=5)
    qtbot.addWidget(combo)
    combo.addItems(["cat_vs_vehicle_with_a_long_name", "dog"])
    combo.setToolTip("Class-group files")
    combo.setFixedWidth(combo.minimumSizeHint().width())
    combo.show()
    assert combo.elided()
    assert combo.shown_text().endswith("…") and combo.shown_text() != combo.currentText()
    assert combo.tooltip_text() == "cat_vs_vehicle_with_a_long_name\n\nClass-group files"
    combo.grab()  # paints through the elided path without errors
    combo.setCurrentIndex(1)
    assert not combo.elided() and combo.shown_text() == "dog" and combo.tooltip_text() == "Class-group files"


def test_a_wide_combo_shows_its_entry_as_it_is(qtbot):
    combo = ElidedComboBox()
    qtbot.addWidget(combo)
    combo.addItem("EfficientNet-Lite0 (embedded)")
    combo.setFixedWidth(combo.fontMetrics().horizontalAdvance(combo.currentText()) * 2 + 80)
    combo.show()
    assert not combo.elided() and combo.shown_text() == combo.currentText()
