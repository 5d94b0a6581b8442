"""The Network panel's layer table (one row per layer: output shape, parameters, receptive
field, the first impossible layer marked with its reason), its summary line, and the editor
of the selected layer's settings. They show engine.spec.analyze's results; the panel owns
the spec and every edit."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics
from PySide6.QtWidgets import (QAbstractItemView, QDoubleSpinBox, QFormLayout, QGroupBox, QHeaderView, QLabel,
                               QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from engine.spec import LAYER_TYPES, LayerSpec, total_params
from gui.theme import fit_table_to_font, follow_font
from gui.widgets.setting_editor import make_editor, make_label, set_editor_value

ERROR_BACKGROUND = QColor("#fbd3cc")
ERROR_FOREGROUND = QColor("#8a1c0c")
COLUMNS = ["#", "Name", "Layer", "Output shape", "Parameters", "Receptive field", "Problem"]


def shape_text(shape) -> str:
    return "—" if shape is None else " x ".join(str(v) for v in shape)


def network_summary(infos, layer_count: int) -> str:
    """The line under the table (rich text): total parameters, layers, and whether the shapes fit."""
    errors = [info for info in infos if info.error]
    total = total_params(infos)
    if errors:  # nothing after an impossible layer has a shape, so its parameters are unknown
        text = f"<b>Parameters: at least {total:,}</b> (counted up to the impossible layer) · {layer_count} layers"
    else:
        text = f"<b>Total parameters: {total:,}</b> · {layer_count} layers"
    if not layer_count:
        text += " · <span style='color:#8a1c0c'>The network has no layers: add some or pick a preset.</span>"
    elif errors:
        bad = errors[0]
        text += (f" · <span style='color:#8a1c0c'><b>Layer {bad.index + 1} ({bad.name}) is impossible:</b> "
                 f"{bad.error}</span>")
    else:
        text += " · <span style='color:#1b6e3a'>Shapes fit: ready to train.</span>"
    return text


class LayerTable(QTableWidget):
    """The layer table; dragging a row onto another reports (from, to) instead of
    letting Qt shuffle cells, so the spec stays the single source of truth."""

    row_dragged = Signal(int, int)  # source row, destination row

    def __init__(self, parent: QWidget | None = None):
        super().__init__(0, len(COLUMNS), parent)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(True)
        self.setDragDropMode(QAbstractItemView.InternalMove)
        self.setDefaultDropAction(Qt.MoveAction)
        # Two-line headers: at 200 % text the key columns are as narrow as their numbers.
        self.setHorizontalHeaderLabels([{"Output shape": "Output\nshape", "Receptive field": "Receptive\nfield"}
                                        .get(name, name) for name in COLUMNS])
        self.verticalHeader().setVisible(False)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setAlternatingRowColors(True)
        # One line per row: an impossible layer's reason is elided in its cell and
        # given in full in the cell's tooltip and the summary line below.
        self.setWordWrap(False)
        self.setTextElideMode(Qt.ElideRight)
        self.verticalHeader().setSectionResizeMode(QHeaderView.Fixed)
        # The key columns (name, output shape, parameters, receptive field) size to their
        # contents; the long "Layer" description stretches into what is left and is elided
        # (full text in its tooltip), so no horizontal scroll bar hides the key columns.
        header = self.horizontalHeader()
        header.setMinimumSectionSize(8)
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(COLUMNS.index("Layer"), QHeaderView.Interactive)
        header.setSectionResizeMode(COLUMNS.index("Problem"), QHeaderView.Interactive)
        header.setStretchLastSection(False)
        header.sectionResized.connect(self._on_section_resized)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        follow_font(self)
        header.setToolTip("Receptive field: how many input pixels (per side) one output unit sees.")

    def show_layers(self, infos, layers: list[LayerSpec]) -> None:
        """One row per engine.spec.analyze info of `layers`; impossible layers marked in red."""
        self.blockSignals(True)
        self.setRowCount(len(infos))
        for row, info in enumerate(infos):
            rf = "—" if info.receptive_field is None else f"{info.receptive_field} x {info.receptive_field}"
            if info.receptive_field is not None and info.out_shape is not None and len(info.out_shape) == 1:
                rf = "whole image"
            values = [str(row + 1), info.name, info.label, shape_text(info.out_shape),
                      f"{info.params:,}", rf, f"⚠ {info.error}" if info.error else ""]
            for column, text in enumerate(values):
                item = QTableWidgetItem(text)
                if column in (0, 4):
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if info.error:
                    item.setBackground(QBrush(ERROR_BACKGROUND))
                    item.setForeground(QBrush(ERROR_FOREGROUND))
                    item.setToolTip(info.error)
                elif column == 2:
                    item.setToolTip(f"{text}\n{LAYER_TYPES[layers[row].kind].help}")
                self.setItem(row, column, item)
        fit_table_to_font(self)
        # The Problem column is a short marker (the reason is in the row's tooltip and the summary line).
        problem = COLUMNS.index("Problem")
        self.setColumnHidden(problem, not any(info.error for info in infos))
        self.fit_free_columns()
        self.blockSignals(False)

    def _on_section_resized(self, column: int, _old: int, _new: int) -> None:
        if COLUMNS[column] not in ("Layer", "Problem"):  # a key column measured its contents again
            self.fit_free_columns()

    def fit_free_columns(self) -> None:
        """The key columns size to their contents; "Layer" and "Problem" share what is left
        (elided, full text in their tooltips), so no horizontal scroll bar hides the key columns."""
        layer, problem = COLUMNS.index("Layer"), COLUMNS.index("Problem")
        header = self.horizontalHeader()
        used = sum(header.sectionSize(c) for c in range(self.columnCount())
                   if c not in (layer, problem) and not self.isColumnHidden(c))
        free = max(0, self.viewport().width() - used)
        metrics = self.fontMetrics()
        floor = metrics.horizontalAdvance("Conv…") + 12
        if self.isColumnHidden(problem):
            header.resizeSection(layer, max(floor, free))
            return
        want = max((metrics.horizontalAdvance(self.item(r, problem).text()) + 12
                    for r in range(self.rowCount()) if self.item(r, problem)), default=0)
        bold = QFont(header.font())
        bold.setBold(True)  # header labels are drawn bold
        marker = max(metrics.horizontalAdvance("⚠ Kernel…") + 12,
                     QFontMetrics(bold).horizontalAdvance("Problem") + 24)
        width = max(marker, min(want, free // 2))
        header.resizeSection(problem, width)
        header.resizeSection(layer, max(floor, free - width))

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self.fit_free_columns()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt name)
        rows = self.selectionModel().selectedRows()
        if event.source() is not self or not rows:
            event.ignore()
            return
        target = self.rowAt(int(event.position().y()))
        if target < 0:
            target = self.rowCount() - 1
        event.setDropAction(Qt.IgnoreAction)  # the panel rebuilds the rows from the spec
        event.accept()
        if target != rows[0].row():
            self.row_dragged.emit(rows[0].row(), target)


class LayerEditor(QGroupBox):
    """Spin boxes generated from LAYER_TYPES[kind].params, with min/max and help tooltips."""

    changed = Signal(str, object)  # parameter name, new value

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Selected layer", parent)
        self._layout = QVBoxLayout(self)
        self.help_label = QLabel("Select a layer to edit its parameters.")
        self.help_label.setWordWrap(True)
        self._layout.addWidget(self.help_label)
        self.form = QFormLayout()
        self._layout.addLayout(self.form)
        self._layout.addStretch(1)
        self.editors: dict[str, QSpinBox | QDoubleSpinBox] = {}

    def show_layer(self, layer: LayerSpec | None, name: str = "") -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors = {}
        if layer is None:
            self.setTitle("Selected layer")
            self.help_label.setText("Select a layer to edit its parameters.")
            return
        layer_type = LAYER_TYPES[layer.kind]
        self.setTitle(f"{name}: {layer_type.label}")
        self.help_label.setText(layer_type.help + ("" if layer_type.params else "\n\nThis layer has no settings."))
        for setting in layer_type.params:  # editors from the layer's schema (engine.spec LAYER_TYPES)
            editor = make_editor(setting, self._on_value_changed)
            set_editor_value(setting, editor, layer.get(setting.name))
            self.editors[setting.name] = editor
            self.form.addRow(make_label(setting), editor)

    def _on_value_changed(self, value) -> None:
        name = self.sender().property("setting_name")
        self.changed.emit(str(name), value)
