"""A combo box narrower than its entries that shows the current entry elided, not cut.

With AdjustToMinimumContentsLengthWithIcon a combo keeps the row narrow enough for a projector
(1280 px at 200 % text), but Qt's styles then cut the current text at the edge ("cat_vs_vehicl").
ElidedComboBox draws it with an ellipsis ("cat_vs_veh…") and, while it is elided, its tooltip
starts with the whole entry.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QComboBox, QStyle, QStyleOptionComboBox, QStylePainter, QToolTip


class ElidedComboBox(QComboBox):
    def __init__(self, parent=None, min_chars: int | None = None):
        super().__init__(parent)
        self.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        if min_chars is not None:
            self.setMinimumContentsLength(min_chars)

    def _style_option(self) -> QStyleOptionComboBox:
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        return option

    def _text_width(self, option: QStyleOptionComboBox) -> int:
        field = self.style().subControlRect(QStyle.CC_ComboBox, option, QStyle.SC_ComboBoxEditField, self)
        icon = option.iconSize.width() + 4 if not option.currentIcon.isNull() else 0
        return max(0, field.width() - icon)

    def shown_text(self) -> str:
        """The current entry as drawn: elided where the box is too narrow."""
        option = self._style_option()
        return self.fontMetrics().elidedText(option.currentText, Qt.ElideRight, self._text_width(option))

    def elided(self) -> bool:
        return not self.isEditable() and self.shown_text() != self.currentText()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if self.isEditable():  # the line edit shows (and scrolls) the text itself
            super().paintEvent(event)
            return
        painter = QStylePainter(self)
        option = self._style_option()
        painter.drawComplexControl(QStyle.CC_ComboBox, option)
        option.currentText = self.fontMetrics().elidedText(option.currentText, Qt.ElideRight,
                                                           self._text_width(option))
        painter.drawControl(QStyle.CE_ComboBoxLabel, option)

    def tooltip_text(self) -> str:
        """The tooltip shown: the whole entry first while it is elided, then the box's own tooltip."""
        own = self.toolTip()
        if not self.elided():
            return own
        return self.currentText() + (f"\n\n{own}" if own else "")

    def event(self, event) -> bool:
        if event.type() == QEvent.ToolTip and self.elided():
            QToolTip.showText(event.globalPos(), self.tooltip_text(), self)
            return True
        return super().event(event)
