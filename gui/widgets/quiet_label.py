"""A word-wrapped status line that changes often without laying out its window again.

QLabel.setText always asks the parent layout for a new layout, and that request climbs
to the top of the window: every status update of the Training panel (2 a second while
training) recomputed every size hint of the panel, ~200 calls into the style each, and
each call into Python takes the GIL that the training thread needs. Here the QLabel
sits in a holder without a layout, so its request stops there; the holder asks for a new
layout only when the text needs another number of lines.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QSize
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class QuietLabel(QWidget):
    """setText / text like a QLabel (always word-wrapped); `label` is the QLabel inside."""

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.label = QLabel(text, self)
        self.label.setWordWrap(True)
        policy = QSizePolicy(QSizePolicy.Preferred, QSizePolicy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    # ----- the QLabel calls the panels use
    def setText(self, text: str) -> None:  # noqa: N802 (Qt name)
        if text == self.label.text():
            return
        width = max(1, self.width())
        before = self.label.heightForWidth(width)
        self.label.setText(text)
        if self.label.heightForWidth(width) != before:
            self.updateGeometry()  # another number of lines: the layout must make room

    def text(self) -> str:
        return self.label.text()

    def setTextInteractionFlags(self, flags) -> None:  # noqa: N802 (Qt name)
        self.label.setTextInteractionFlags(flags)

    def setWordWrap(self, on: bool) -> None:  # noqa: N802 (Qt name)
        return  # always wrapped: a status line must not widen the panel

    # ----- size: the label's, asked for by the holder's layout
    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        return self.label.sizeHint()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        return self.label.minimumSizeHint()

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt name)
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt name)
        return self.label.heightForWidth(width)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self.label.setGeometry(self.rect())

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().changeEvent(event)
        if event.type() == QEvent.FontChange:  # F5, text size: the label's new font needs new room
            self.updateGeometry()
