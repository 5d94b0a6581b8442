"""The Training panel's finished runs: one row each (overlay tick with the run's number,
validation accuracy, epochs, throughput, name, key settings) and the checkpoint buttons.
Ticking a row asks for its curves (overlay_toggled); the panel draws them."""
from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from engine.schedules import SCHEDULE_LABELS
from gui import theme


def key_settings(settings: dict) -> str:
    """The settings that tell two runs apart, in a few words."""
    opt = settings.get("optimizer", "?")
    if opt == "sgd" and settings.get("momentum", 0) > 0:
        opt = "SGD+Nesterov" if settings.get("nesterov") else f"SGD m={settings.get('momentum'):g}"
    parts = [opt, f"lr {settings.get('lr', 0):g}", SCHEDULE_LABELS.get(settings.get("schedule"), "")]
    if settings.get("batchnorm"):
        parts.append("BN")
    if settings.get("weight_decay"):
        parts.append(f"L2 {settings['weight_decay']:g}")
    if settings.get("l1"):
        parts.append(f"L1 {settings['l1']:g}")
    if settings.get("dropout") is not None:
        parts.append(f"dropout {settings['dropout']:g}")
    if settings.get("init", "default") != "default":
        parts.append(f"init {settings['init']}")
    if settings.get("ensemble", 1) > 1:
        parts.append(f"K={settings['ensemble']}")
    if settings.get("snapshot_ensemble", 0) >= 2:
        parts.append(f"snapshots={settings['snapshot_ensemble']}")
    return " · ".join(p for p in parts if p)


def _number(value, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, (int, float)) and math.isfinite(value) else "—"


class RunsTable(QWidget):
    """The finished runs (kept for comparing) and Save / Load checkpoint, Clear runs."""

    overlay_toggled = Signal(int, bool)  # row, shown: the user ticked or unticked a run

    # The key columns (overlay with the run's number, accuracy, epochs) first, sized to their text;
    # the long run name and settings share what is left, elided (full text in the tooltip), so the
    # table never scrolls sideways at 200 % on 1280x800.
    COLUMNS = ["Overlay", "Val acc", "Epochs", "Images/s", "Run", "Settings"]
    KEY_COLUMNS = (0, 1, 2)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.runs: list[dict] = []  # name, settings, history, summary, key
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setMinimumSectionSize(8)
        for column in (4, 5):
            header.setSectionResizeMode(column, QHeaderView.Stretch)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.table.setTextElideMode(Qt.ElideRight)
        self.table.setToolTip("Finished runs: tick Overlay to draw their curves dashed under the live run.")
        self.table.itemChanged.connect(self._on_item_changed)
        theme.follow_font(self.table)
        layout.addWidget(self.table)
        buttons = QHBoxLayout()
        self.save_button = self._button("Save checkpoint…", "Save the latest trained model with its architecture, "
                                        "settings and curves.")
        self.load_button = self._button("Load checkpoint…", "Open a saved run folder (or checkpoint.pt): the "
                                        "other panels use its model.")
        self.clear_button = self._button("Clear runs", "Forget the finished runs listed here (saved checkpoints "
                                         "stay on disk).")
        for button in (self.save_button, self.load_button, self.clear_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)

    @staticmethod
    def _button(text: str, tip: str) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        return button

    def add(self, name: str, settings: dict, history: dict, summary: dict | None = None) -> dict:
        """A finished run as row '#n name'; returns its entry."""
        number = len(self.runs) + 1
        entry = {"name": f"#{number} {name}", "settings": dict(settings), "history": dict(history),
                 "summary": dict(summary or {}), "key": f"run{number}"}
        self.runs.append(entry)
        self._add_row(entry)
        return entry

    def _add_row(self, entry: dict) -> None:
        row = self.table.rowCount()
        self.table.blockSignals(True)
        self.table.insertRow(row)
        check = QTableWidgetItem()
        check.setFlags(Qt.ItemIsUserCheckable | Qt.ItemIsEnabled | Qt.ItemIsSelectable)
        check.setCheckState(Qt.Unchecked)
        check.setText(entry["name"].split(" ", 1)[0])  # "#2": which curves are this run's
        check.setToolTip("Draw this run's curves (dashed) for comparison.")
        self.table.setItem(row, 0, check)
        history, summary, settings = entry["history"], entry["summary"], entry["settings"]
        val = summary.get("ensemble_val_acc", summary.get("val_acc"))
        if val is None and history.get("val_acc"):
            finite = [v for v in history["val_acc"] if v is not None and math.isfinite(v)]
            val = finite[-1] if finite else None
        epochs = len(history.get("epoch", [])) or settings.get("epochs", "")
        texts = [_number(val, ".1%"), str(epochs), _number(summary.get("images_per_sec"), ",.0f"),
                 entry["name"].split(" ", 1)[-1], key_settings(settings)]  # its "#n" is in the Overlay column
        for column, text in enumerate(texts, start=1):
            item = QTableWidgetItem(text)
            item.setToolTip(f"{entry['name']}: {key_settings(settings)}")
            self.table.setItem(row, column, item)
        self.table.blockSignals(False)

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() == 0:
            self.overlay_toggled.emit(item.row(), item.checkState() == Qt.Checked)

    def set_ticked(self, index: int, shown: bool) -> None:
        """Tick or untick a row without emitting overlay_toggled."""
        item = self.table.item(index, 0)
        if item is not None and (item.checkState() == Qt.Checked) != shown:
            self.table.blockSignals(True)
            item.setCheckState(Qt.Checked if shown else Qt.Unchecked)
            self.table.blockSignals(False)

    def clear(self) -> None:
        self.runs.clear()
        self.table.setRowCount(0)
