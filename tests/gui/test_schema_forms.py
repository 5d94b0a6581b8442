"""The Training form and the Data panel's preprocessing / augmentation editors are generated
from engine.train_settings.TRAIN_SETTINGS (issue 16): exactly the schema's settings, with its
ranges, labels and choices, and a value set in an editor reaches TrainSettings unchanged."""
from __future__ import annotations

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QSpinBox, QWidget

from engine.device import available_devices
from engine.schema import groups
from engine.train_settings import TRAIN_SETTINGS, train_setting
from gui.panels.data import DataPanel
from gui.panels.training import TrainingPanel
from gui.widgets.setting_editor import FLOAT_LIMIT, INT_LIMIT
from gui.workers import registry

IN_FORM = [s for s in TRAIN_SETTINGS if s.in_form]
AUGMENT = ("hflip", "crop", "scale", "rotation", "colour_jitter", "hue_jitter")


@pytest.fixture
def panel(qtbot, ctx):
    widget = TrainingPanel(ctx)
    qtbot.addWidget(widget)
    yield widget


@pytest.fixture
def data_panel(qtbot, ctx):
    widget = DataPanel(ctx)
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()
    qtbot.waitUntil(lambda: not registry.live(), timeout=15000)


def expected_range(setting) -> tuple[float, float]:
    """The spin box range a Setting asks for, written out independently of setting_editor."""
    is_float = setting.kind is float
    low = setting.minimum if setting.minimum is not None else (-FLOAT_LIMIT if is_float else -INT_LIMIT)
    high = setting.maximum if setting.maximum is not None else (FLOAT_LIMIT if is_float else INT_LIMIT)
    high = min(high, FLOAT_LIMIT if is_float else INT_LIMIT)
    if is_float and setting.low_open:
        low += 10 ** -setting.decimals
    if is_float and setting.high_open:
        high -= 10 ** -setting.decimals
    if setting.none_label:  # one step below the minimum means None
        low -= setting.step if is_float else 1
    return low, high


def check_editor(setting, editor, choices=None) -> None:
    if setting.kind is bool:
        assert isinstance(editor, QCheckBox), setting.name
    elif setting.choices:
        assert isinstance(editor, QComboBox), setting.name
        shown = [(editor.itemData(i), editor.itemText(i)) for i in range(editor.count())]
        assert shown == list(choices if choices is not None else setting.choices), setting.name
    else:
        assert isinstance(editor, QDoubleSpinBox if setting.kind is float else QSpinBox), setting.name
        low, high = expected_range(setting)
        assert editor.minimum() == pytest.approx(low), setting.name
        assert editor.maximum() == pytest.approx(high), setting.name
        if setting.kind is float:
            assert editor.decimals() == setting.decimals, setting.name
        if setting.step:
            assert editor.singleStep() == pytest.approx(setting.step), setting.name
        special = setting.none_label or setting.zero_label
        assert editor.specialValueText() == special, setting.name


def other_value(setting):
    """A value in range that is not the default, as a user would pick it."""
    if setting.kind is bool:
        return not setting.default
    if setting.choices:
        values = [value for value in setting.choice_values if value != setting.default]
        if setting.name == "device":
            values = [value for value in values if value in available_devices()]
        return values[0]
    step = setting.step or (0.1 if setting.kind is float else 1)
    base = setting.default if setting.default is not None else setting.minimum
    value = base + step
    if setting.maximum is not None and value > setting.maximum:
        value = base - step
    return round(value, setting.decimals) if setting.kind is float else int(value)


def set_in_editor(setting, editor, value) -> None:
    """What a user's click or typing does (the editor's change signal fires)."""
    if setting.kind is bool:
        editor.setChecked(value)
    elif setting.choices:
        editor.setCurrentIndex(editor.findData(value))
    else:
        editor.setValue(value)


def test_the_training_form_shows_exactly_the_schemas_in_form_settings_grouped_in_order(panel):
    assert list(panel.editors) == [s.name for s in IN_FORM]  # schema order, nothing else
    titles = [box.title() for box in panel.form_host.findChildren(QGroupBox)]
    assert titles == [title for title, _settings in groups(tuple(IN_FORM))]
    for box in panel.form_host.findChildren(QGroupBox):
        names = [w.property("setting_name") for w in box.findChildren(QWidget) if w.property("setting_name")]
        assert names == [s.name for s in IN_FORM if s.group == box.title()]
    for setting in IN_FORM:
        label, editor = panel.rows[setting.name]
        assert label.text() == setting.display_label
        devices = [(v, t) for v, t in setting.choices if v in available_devices()]
        check_editor(setting, editor, devices if setting.name == "device" else None)


def test_a_value_set_in_the_training_form_reaches_train_settings_unchanged(panel):
    values = {}
    for setting in IN_FORM:
        value = other_value(setting)
        set_in_editor(setting, panel.editors[setting.name], value)
        values[setting.name] = value
    settings = panel.settings()
    for name, value in values.items():
        got = getattr(settings, name)
        assert got == (pytest.approx(value) if isinstance(value, float) else value), name
        assert type(got) is type(value), name
    other = TrainingPanel(panel.ctx)
    other.set_settings(settings.to_dict())
    assert other.form_values() == panel.form_values()
    other.deleteLater()


def test_special_values_at_the_minimum(panel):
    panel.set_settings({"dropout": None, "seed": None, "train_subset": 0, "snapshot_ensemble": 0})
    assert panel.editors["dropout"].text() == "as in network" and panel.editors["seed"].text() == "random"
    assert panel.editors["train_subset"].text() == "all" and panel.editors["snapshot_ensemble"].text() == "off"
    settings = panel.settings()
    assert settings.dropout is None and settings.seed is None
    assert settings.train_subset == 0 and settings.snapshot_ensemble == 0
    panel.editors["dropout"].setValue(0.0)  # one step up from 'as in network': no dropout at all
    assert panel.settings().dropout == 0.0 and "keep p = 1.00" in panel.editors["dropout"].text()


def test_only_when_shows_a_setting_only_for_its_schedules(panel):
    panel.show()
    for schedule in train_setting("schedule").choice_values:
        panel.set_settings({"schedule": schedule})
        for setting in IN_FORM:
            if setting.only_when is not None:
                other, allowed = setting.only_when
                assert other == "schedule"
                assert panel.editors[setting.name].isVisibleTo(panel) == (schedule in allowed), \
                    (schedule, setting.name)


def test_the_data_panels_editors_come_from_the_schema_and_reach_train_settings(data_panel, panel, ctx):
    normalization = train_setting("normalization")
    assert list(data_panel.normalization_buttons) == list(normalization.choice_values)
    assert [b.text() for b in data_panel.normalization_buttons.values()] == [t for _v, t in normalization.choices]
    assert data_panel.normalization() == normalization.default
    form = data_panel.augmentation.layout()
    labels = [form.itemAt(row, QFormLayout.LabelRole).widget().text() for row in range(len(AUGMENT))]
    assert labels == [train_setting(name).display_label for name in AUGMENT]
    assert {s.name for s in TRAIN_SETTINGS if s.group == "Data"} == {"dataset", "normalization", *AUGMENT}
    for name in AUGMENT:
        check_editor(train_setting(name), data_panel.augmentation.editors[name])
    data_panel.normalization_buttons["per_channel"].setChecked(True)
    values = {}
    for name in AUGMENT:
        setting = train_setting(name)
        values[name] = other_value(setting)
        set_in_editor(setting, data_panel.augmentation.editors[name], values[name])
    assert data_panel.data_options() == {"normalization": "per_channel", **values}
    settings = panel.settings()  # the Training panel reads them from the context
    assert settings.normalization == "per_channel"
    for name, value in values.items():
        assert getattr(settings, name) == value, name
    assert not settings.problems()  # the engine accepts every value the Data panel offers
    for name in AUGMENT[1:]:  # the largest value each editor offers is one the engine takes
        assert train_setting(name).problem(data_panel.augmentation.editors[name].maximum()) is None, name
