"""Horizontal probability bars for top-k predictions, painted directly so long
class names never clip and the numbers stay readable on a projector."""
from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from gui import theme


class PredictionBars(QWidget):
    """set_predictions([(index, name, prob), ...]); `highlight` colours one class (e.g. the target)."""

    def __init__(self, title: str = "Top-5 predictions", parent=None):
        super().__init__(parent)
        self.title = title
        self._rows: list[tuple[int, str, float]] = []
        self._highlight: int | None = None
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        self._fit_minimum()
        theme.notifier.changed.connect(self.update)

    ROWS = 5  # top-5
    ROW_LINES = 1.0  # the tightest a row may be, in lines of text

    def _fit_minimum(self) -> None:
        """Room for the title and all five rows at the current text size: a row drawn below the
        widget's edge was cut off at 200 % text (Saliency showed two of five)."""
        line = QFontMetrics(self.font()).height()
        self.setMinimumHeight(int(line * 1.3 + self.ROWS * line * self.ROW_LINES) + 2)

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().changeEvent(event)
        if event.type() == event.Type.FontChange:
            self._fit_minimum()

    def set_predictions(self, rows, highlight: int | None = None) -> None:
        self._rows = [(int(i), str(n), float(p)) for i, n, p in rows]
        self._highlight = highlight
        self.update()

    def predictions(self) -> list[tuple[int, str, float]]:
        return list(self._rows)

    def set_title(self, title: str) -> None:
        self.title = title
        self.update()

    def sizeHint(self):
        from PySide6.QtCore import QSize

        line = QFontMetrics(self.font()).height()
        return QSize(360, int(line * 1.7 * 6 + line))

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        metrics = QFontMetrics(self.font())
        line = metrics.height()
        text_colour = QColor(theme.theme_colour("text"))
        painter.setPen(text_colour)
        bold = self.font()
        bold.setBold(True)
        painter.setFont(bold)
        painter.drawText(QRectF(0, 0, self.width(), line * 1.3), Qt.AlignLeft | Qt.AlignVCenter, self.title)
        painter.setFont(self.font())
        if not self._rows:
            painter.setPen(QColor(theme.theme_colour("muted")))
            painter.drawText(QRectF(0, line * 1.5, self.width(), line * 1.5), Qt.AlignLeft, "No image yet")
            return
        top = line * 1.3
        # Rows share the height (never below ROW_LINES lines of text, never past the bottom edge).
        share = (self.height() - top) / max(self.ROWS, len(self._rows))
        row_height = max(line * self.ROW_LINES, min(line * 2.2, share))
        value_width = metrics.horizontalAdvance("100.0%") + 8
        name_width = min(max(metrics.horizontalAdvance(name) for _, name, _ in self._rows) + 12, self.width() * 0.5)
        bar_space = max(10.0, self.width() - name_width - value_width)
        for row, (index, name, prob) in enumerate(self._rows):
            y = top + row * row_height
            painter.setPen(text_colour)
            elided = metrics.elidedText(name, Qt.ElideRight, int(name_width - 8))
            painter.drawText(QRectF(0, y, name_width - 8, row_height), Qt.AlignRight | Qt.AlignVCenter, elided)
            colour = QColor(theme.colour(3 if index == self._highlight else 0))
            painter.fillRect(QRectF(name_width, y + row_height * 0.15, bar_space * max(0.0, min(1.0, prob)),
                                    row_height * 0.7), colour)
            painter.drawText(QRectF(name_width + bar_space * min(1.0, prob) + 4, y, value_width, row_height),
                             Qt.AlignLeft | Qt.AlignVCenter, f"{prob:.1%}")
        painter.end()
