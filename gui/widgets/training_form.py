"""The Training panel's settings form, generated from engine.train_settings.TRAIN_SETTINGS:
every setting with in_form=True, in group boxes by Setting.group in schema order, its editor
from gui/widgets/setting_editor.py (range, step, special text at the minimum, help). Under
the schedule settings: the learning-rate plan the engine computes, with other schedules to
compare. The form only shows values; the panel decides what a change means.
"""
from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGridLayout, QGroupBox, QLabel, QScrollArea,
                               QVBoxLayout, QWidget)

from engine.device import available_devices
from engine.errors import ConvScopeError
from engine.schedules import SCHEDULE_LABELS, learning_rate_plan
from engine.schema import Setting, groups
from engine.train_settings import TRAIN_SETTINGS, TrainSettings
from gui import theme
from gui.widgets.live_plot import LivePlot
from gui.widgets.setting_editor import editor_value, make_editor, make_label, set_editor_value

SCHEDULE_GROUP = "Learning-rate schedule"
GROUP_TIPS = {"Data for this run": "Knobs that provoke overfitting: fewer training images, noisy labels."}
COMPARE_SCHEDULES = ("step", "exponential", "inverse_time", "cosine")
PLAN_POINTS = 2000  # at most this many points whatever the run length: the GUI thread never computes every step


def form_settings() -> tuple[Setting, ...]:
    """The settings the form shows: the schema's in-form ones, the device choices cut to the
    devices this computer has."""
    devices = set(available_devices())
    out = []
    for setting in TRAIN_SETTINGS:
        if not setting.in_form:
            continue
        if setting.name == "device":
            setting = replace(setting, choices=tuple(c for c in setting.choices if c[0] in devices))
        out.append(setting)
    return tuple(out)


class TrainingForm(QScrollArea):
    """A scrollable column of group boxes; `changed` fires on every edit by the user."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.schema = form_settings()
        self._by_name = {setting.name: setting for setting in self.schema}
        self.editors: dict[str, QWidget] = {}
        self.rows: dict[str, tuple[QLabel, QWidget]] = {}
        self.schedule_compare: dict[str, QCheckBox] = {}
        self.context_label = QLabel()
        self.context_label.setWordWrap(True)
        host = self.host = QWidget()
        layout = QVBoxLayout(host)
        layout.setContentsMargins(0, 0, 4, 0)
        # Inside the scroll area with the settings, so at large text sizes it does not
        # take the settings' room for good.
        layout.addWidget(self.context_label)
        for title, settings in groups(self.schema):
            box = QGroupBox(title)
            if title in GROUP_TIPS:
                box.setToolTip(GROUP_TIPS[title])
            form = QFormLayout(box)
            form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
            # At large text sizes a label goes above its field instead of clipping the field.
            form.setRowWrapPolicy(QFormLayout.WrapLongRows)
            for setting in settings:
                editor = make_editor(setting, self._emit_changed)
                label = make_label(setting)
                form.addRow(label, editor)
                self.editors[setting.name] = editor
                self.rows[setting.name] = (label, editor)
            if title == SCHEDULE_GROUP:
                self._add_schedule_plot(form)
            layout.addWidget(box)
        layout.addStretch(1)
        self.setWidgetResizable(True)
        self.setWidget(host)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        for combo in host.findChildren(QComboBox):
            # Elide long entries instead of widening the settings column.
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)

    def _add_schedule_plot(self, form: QFormLayout) -> None:
        self.lr_plot = LivePlot("Learning rate schedule", "epoch", "learning rate", from_zero=True, si_prefix=False)
        # The 'used so far' trace on the plan moves slowly along a curve already drawn: every 2 s is plenty.
        self.lr_plot.live_interval_s = 2.0
        self.lr_plot.add_series("planned", 3)
        self.lr_plot.add_series("used", 0, width=3.5)
        # Tall enough for the "learning rate" axis label at any text size.
        self.lr_plot.setMinimumHeight(int(180 * max(1.0, theme.current["scale"])))
        self.lr_plot.setToolTip("The learning rate of every step, computed by the engine from these "
                                "settings before training; the run follows exactly this curve.")
        form.addRow(self.lr_plot)
        # Lay other schedules over the plan (same lr, epochs and decay settings) to compare them.
        # One column of check boxes: a row of four is wider than the settings column at 200 %.
        compare_row = QGridLayout()
        compare_row.addWidget(QLabel("Compare:"), 0, 0)
        for number, name in enumerate(COMPARE_SCHEDULES):
            label = SCHEDULE_LABELS.get(name, name)
            box = QCheckBox(label)
            box.setToolTip(f"Overlay the {label} schedule (dashed) with these settings.")
            box.toggled.connect(self._emit_changed)
            compare_row.addWidget(box, 1 + number, 0)
            self.schedule_compare[name] = box
        compare_row.setColumnStretch(1, 1)
        form.addRow(compare_row)

    def _emit_changed(self, *_args) -> None:
        self.changed.emit()

    # ------------------------------------------------------------------ values
    def values(self) -> dict:
        """The form's TrainSettings values (None where a setting shows its none_label)."""
        return {name: editor_value(self._by_name[name], editor) for name, editor in self.editors.items()}

    def set_values(self, values: dict) -> None:
        """Show the known settings among `values` (others are ignored) without emitting `changed`."""
        for name, value in values.items():
            if name in self.editors:
                set_editor_value(self._by_name[name], self.editors[name], value)

    def update_dependents(self, values: dict) -> None:
        """Show a setting only where it matters (Setting.only_when), switch off what the other
        choices make moot, and show the lecture's numbers next to dropout and L2."""
        for name, setting in self._by_name.items():
            if setting.only_when is not None:
                other, allowed = setting.only_when
                for widget in self.rows[name]:
                    widget.setVisible(values.get(other) in allowed)
        sgd = values.get("optimizer") == "sgd"
        self.editors["momentum"].setEnabled(sgd)
        self.editors["nesterov"].setEnabled(sgd and values.get("momentum", 0) > 0)
        self.editors["init_constant"].setEnabled(values.get("init") == "constant")
        self.editors["elastic_beta"].setEnabled(values.get("elastic_net", 0) > 0)
        drop = values.get("dropout")
        self.editors["dropout"].setSuffix("" if drop is None else f"  (keep p = {1 - drop:.2f})")
        l2 = values.get("l2") or 0.0
        self.editors["l2"].setSuffix(f"  (= wd {2 * l2:.6g})" if l2 else "")
        cuda = "cuda" in available_devices()
        self.editors["amp"].setEnabled(cuda and values.get("device") in ("auto", "cuda"))

    # ------------------------------------------------------------------ the schedule plot
    def show_plan(self, settings: TrainSettings, steps_per_epoch: int, keep_used: bool) -> str | None:
        """Plot the learning rate of every step of `settings` and the ticked schedules to compare;
        the engine's message when it cannot plan them, else None. `keep_used`: a run is using
        the plan, so its 'used' line stays."""
        try:
            epochs, curve = learning_rate_plan(settings, steps_per_epoch, max_points=PLAN_POINTS)
        except ConvScopeError as exc:
            return str(exc)
        self.lr_plot.set_points("planned", epochs.tolist(), curve.tolist())
        if not keep_used:  # a finished run's "used" line belongs to the old plan
            self.lr_plot.set_points("used", [], [])
        self.lr_plot.clear_overlays()
        for index, (name, box) in enumerate(self.schedule_compare.items()):
            if box.isChecked() and name != settings.schedule:
                other = TrainSettings(**{**settings.to_dict(), "schedule": name})
                try:
                    x, y = learning_rate_plan(other, steps_per_epoch, max_points=PLAN_POINTS)
                except ConvScopeError:
                    continue
                self.lr_plot.add_overlay(f"compare:{name}", SCHEDULE_LABELS.get(name, name), x, y, 4 + index)
        self.lr_plot.redraw()
        return None

    # ------------------------------------------------------------------ width
    def fit_width(self) -> None:
        """As wide as the widest row needs at the current text size (no clipped field), and no
        wider: the plots beside the form get the rest."""
        wrap = QFormLayout.WrapAllRows if theme.current["scale"] >= 1.5 else QFormLayout.WrapLongRows
        for form in self.host.findChildren(QFormLayout):
            form.setRowWrapPolicy(wrap)  # at large text sizes labels go above their fields
        x = self.fontMetrics().horizontalAdvance("X")
        for combo in self.host.findChildren(QComboBox):
            combo.setMinimumWidth(12 * x)  # an explicit minimum: long entries elide instead of widening the column
        self.host.layout().activate()
        scrollbar = self.verticalScrollBar().sizeHint().width()
        self.setMinimumWidth(self.host.minimumSizeHint().width() + scrollbar + 4)
