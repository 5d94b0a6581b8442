"""A small canvas to draw a digit with the mouse (white strokes on black, like MNIST)."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget


class DrawCanvas(QWidget):
    """Draw with the left mouse button; `drawing()` returns the (H, W) uint8 picture.

    drawing_finished fires when a stroke ends (mouse released)."""

    drawing_finished = Signal()

    def __init__(self, size: int = 196, pen_width: int = 16, parent: QWidget | None = None):
        super().__init__(parent)
        self._image = QImage(size, size, QImage.Format_Grayscale8)
        self._image.fill(0)
        self.pen_width = pen_width
        self._last: QPointF | None = None
        self.setFixedSize(size, size)
        self.setSizePolicy(QSizePolicy.Fixed, QSizePolicy.Fixed)
        self.setCursor(Qt.CrossCursor)
        self.setToolTip("Draw a digit with the mouse (left button). Right-click clears.")

    def clear(self) -> None:
        self._image.fill(0)
        self.update()

    def is_empty(self) -> bool:
        return not self.drawing().any()

    def drawing(self) -> np.ndarray:
        """(H, W) uint8, 255 where drawn."""
        width, height = self._image.width(), self._image.height()
        view = np.frombuffer(self._image.constBits(), dtype=np.uint8, count=self._image.sizeInBytes())
        return view.reshape(height, self._image.bytesPerLine())[:, :width].copy()

    def stroke(self, points: list[tuple[float, float]]) -> None:
        """Draw a polyline (used by tests and lessons as if the mouse drew it)."""
        painter = QPainter(self._image)
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setPen(QPen(QColor(255, 255, 255), self.pen_width, Qt.SolidLine, Qt.RoundCap, Qt.RoundJoin))
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            painter.drawLine(QPointF(x0, y0), QPointF(x1, y1))
        if len(points) == 1:
            painter.drawPoint(QPointF(*points[0]))
        painter.end()
        self.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.RightButton:
            self.clear()
            return
        if event.button() == Qt.LeftButton:
            self._last = event.position()
            self.stroke([(self._last.x(), self._last.y())])

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._last is not None and event.buttons() & Qt.LeftButton:
            point = event.position()
            self.stroke([(self._last.x(), self._last.y()), (point.x(), point.y())])
            self._last = point

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._last is not None and event.button() == Qt.LeftButton:
            self._last = None
            self.drawing_finished.emit()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.drawImage(QPoint(0, 0), self._image)
        painter.setPen(QPen(QColor("#888888"), 1))
        painter.drawRect(0, 0, self.width() - 1, self.height() - 1)
        painter.end()
