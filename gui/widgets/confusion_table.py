"""A confusion matrix as a table of counts (rows: true class, columns: predicted), green on
the diagonal and red off it, sized so every header and row shows in full at any text size."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from gui.theme import point_size


class ConfusionTable(QTableWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(0, 0, parent)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)

    def show_matrix(self, confusion: np.ndarray, names: list[str]) -> None:
        size = len(names)
        self.setRowCount(size)
        self.setColumnCount(size)
        self.setVerticalHeaderLabels([f"true {n}" for n in names])
        self.setHorizontalHeaderLabels([f"predicted\n{n}" for n in names])
        largest = max(1, int(confusion.max())) if confusion.size else 1
        for r in range(size):
            for c in range(size):
                count = int(confusion[r, c])
                item = QTableWidgetItem(str(count))
                item.setTextAlignment(Qt.AlignCenter)
                strength = count / largest
                if count and r == c:
                    item.setBackground(QBrush(QColor.fromRgbF(0.0, 0.62, 0.45, 0.15 + 0.55 * strength)))
                elif count:
                    item.setBackground(QBrush(QColor.fromRgbF(0.84, 0.16, 0.0, 0.15 + 0.55 * strength)))
                font = item.font()
                font.setBold(True)
                font.setPointSizeF(point_size(1.3))
                item.setFont(font)
                self.setItem(r, c, item)
        self.fit()

    def fit(self) -> None:
        """Size the table to its headers and cells: every header fits, every row shows."""
        if self.columnCount() == 0:
            return
        self.resizeRowsToContents()
        header = self.horizontalHeader()
        metrics = header.fontMetrics()
        widest = max((metrics.horizontalAdvance(line) for c in range(self.columnCount())
                      for line in self.horizontalHeaderItem(c).text().split("\n")), default=0)
        column = widest + metrics.horizontalAdvance("M")
        header.setMinimumSectionSize(column)
        frame = 2 * self.frameWidth()
        needed = self.verticalHeader().sizeHint().width() + column * self.columnCount() + frame
        # A narrow table scrolls sideways on its own, so the text above it still wraps to the box width.
        scrollbar = self.horizontalScrollBar().sizeHint().height() if needed > self.width() else 0
        rows = sum(self.rowHeight(r) for r in range(self.rowCount()))
        self.setFixedHeight(header.sizeHint().height() + rows + frame + scrollbar)
