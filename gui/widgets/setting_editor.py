"""Editors generated from engine.schema.Setting: the Training form and the layer editor build
their spin boxes, check boxes and choosers here, so range, step, labels and help come from
the one schema the CLI and settings files use too."""
from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLabel, QSpinBox, QWidget

from engine.schema import Setting

INT_LIMIT = 2**31 - 1  # what a QSpinBox can hold
FLOAT_LIMIT = 1e9  # a spin box needs a finite range; no setting without a maximum needs more


def make_editor(setting: Setting, on_change=None) -> QWidget:
    """A widget for `setting`. A setting that may be None (or whose 0 means 'off') shows that
    meaning as the text at the minimum of its spin box."""
    if setting.kind is bool:
        editor = QCheckBox()
        signal = editor.toggled
    elif setting.choices:
        editor = QComboBox()
        for value, label in setting.choices:
            editor.addItem(label, value)
        signal = editor.currentIndexChanged
    else:
        editor = QSpinBox() if setting.kind is int else QDoubleSpinBox()
        low, high = _spin_range(setting)
        if setting.kind is float:
            editor.setDecimals(setting.decimals)
            editor.setSingleStep(setting.step or 0.1)
        elif setting.step:
            editor.setSingleStep(int(setting.step))
        editor.setRange(low, high)
        special = setting.none_label or setting.zero_label
        if special:
            editor.setSpecialValueText(special)
        editor.setKeyboardTracking(False)  # typing "128" must not publish 1, 12, 128
        signal = editor.valueChanged
    range_text = setting.range_text()
    editor.setToolTip(setting.help + (f" ({range_text}; default {setting.default})" if range_text else ""))
    editor.setProperty("setting_name", setting.name)
    if on_change is not None:
        signal.connect(on_change)
    return editor


def make_label(setting: Setting) -> QLabel:
    label = QLabel(setting.display_label)
    label.setToolTip(setting.help)
    return label


def _spin_range(setting: Setting) -> tuple[float, float]:
    limit = INT_LIMIT if setting.kind is int else FLOAT_LIMIT
    low = -limit if setting.minimum is None else setting.minimum
    high = limit if setting.maximum is None else min(setting.maximum, limit)
    if setting.kind is float and setting.low_open:
        low += 10 ** -setting.decimals  # the smallest value the box can show above an open minimum
    if setting.kind is float and setting.high_open:
        high -= 10 ** -setting.decimals
    if setting.none_label:  # one step below the minimum stands for None
        low -= (setting.step or 1) if setting.kind is float else 1
    if setting.kind is int:
        return int(max(low, -INT_LIMIT)), int(high)
    return float(low), float(high)


def editor_value(setting: Setting, editor: QWidget):
    if setting.kind is bool:
        return editor.isChecked()
    if setting.choices:
        return editor.currentData()
    value = editor.value()
    if setting.none_label and value == editor.minimum():
        return None
    return value


def set_editor_value(setting: Setting, editor: QWidget, value) -> None:
    """Show `value` without emitting the editor's change signal."""
    editor.blockSignals(True)
    try:
        if setting.kind is bool:
            editor.setChecked(bool(value))
        elif setting.choices:
            index = editor.findData(value)
            if index >= 0:
                editor.setCurrentIndex(index)
        elif value is None:
            editor.setValue(editor.minimum())
        else:
            editor.setValue(value)
    finally:
        editor.blockSignals(False)
