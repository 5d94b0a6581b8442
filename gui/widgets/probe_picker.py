"""Where the diagram's probe image comes from: a validation image by number, an image file, or a
digit drawn with the mouse (in a small dialog). Emits probe_chosen(source, payload); the engine
turns it into the network's input (engine.diagram.probe_job)."""
from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QLabel, QPushButton, QSpinBox, QVBoxLayout,
                               QWidget)

from gui.widgets.draw_canvas import DrawCanvas
from gui.widgets.image_source import IMAGE_FILTER


class DrawDigitDialog(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Draw a digit")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Draw a digit with the mouse, white on black like MNIST."))
        self.canvas = DrawCanvas()
        layout.addWidget(self.canvas, 0, Qt.AlignHCenter)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        clear = buttons.addButton("Clear", QDialogButtonBox.ResetRole)
        clear.clicked.connect(self.canvas.clear)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


class ProbePicker(QObject):
    """The controls (`items()` for a control_strip of the panel) and what they choose."""

    probe_chosen = Signal(str, object)  # 'sample' | 'file' | 'drawing', index / path / (H, W) uint8 drawing

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.parent_widget = parent
        self.index_spin = QSpinBox()
        self.index_spin.setRange(0, 99999)
        self.index_spin.setToolTip("Which validation image the network is shown.")
        self.index_spin.valueChanged.connect(self._on_index)
        self.previous_button = QPushButton("◀")
        self.previous_button.setToolTip("The previous validation image.")
        self.previous_button.clicked.connect(self.previous)
        self.next_button = QPushButton("▶")
        self.next_button.setToolTip("The next validation image.")
        self.next_button.clicked.connect(self.next)
        self.open_button = QPushButton("Open image…")
        self.open_button.setToolTip("Show the network an image file (resized to its input).")
        self.open_button.clicked.connect(self.open_file)
        self.draw_button = QPushButton("Draw…")
        self.draw_button.setToolTip("Draw a digit with the mouse and show it to the network.")
        self.draw_button.clicked.connect(self.draw)

    def items(self) -> list:
        return ["Validation image #", self.index_spin, self.previous_button, self.next_button, self.open_button,
                self.draw_button]

    def _on_index(self, index: int) -> None:
        self.probe_chosen.emit("sample", int(index))

    def previous(self) -> None:
        self.index_spin.setValue(self.index_spin.value() - 1)

    def next(self) -> None:
        self.index_spin.setValue(self.index_spin.value() + 1)

    def open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.parent_widget, "Show the network an image", "", IMAGE_FILTER)
        if path:
            self.probe_chosen.emit("file", path)

    def draw(self) -> None:
        dialog = DrawDigitDialog(self.parent_widget)
        if dialog.exec() == QDialog.Accepted and not dialog.canvas.is_empty():
            self.probe_chosen.emit("drawing", dialog.canvas.drawing())
