"""A row of controls that wraps onto more lines instead of widening its panel (issue 15).

At 200 % text on a 1280 px screen a panel's control row ("Layer: … Show: … Zoom: …")
is wider than the window; in a FlowLayout the controls that do not fit go to the next
line. `control_strip(*items)` builds one: strings become labels, and a label stays on
the same line as the control after it (a (label, widget) pair is one item).
"""
from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLayout, QSizePolicy, QWidget, QWidgetItem


class FlowLayout(QLayout):
    """Qt's flow-layout example: items left to right, wrapping at the right edge."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 6):
        super().__init__(parent)
        self._items: list[QWidgetItem] = []
        self.setSpacing(spacing)
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item) -> None:  # noqa: N802 (Qt name)
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int):  # noqa: N802 (Qt name)
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int):  # noqa: N802 (Qt name)
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self):  # noqa: N802 (Qt name)
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt name)
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt name)
        return self._arrange(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802 (Qt name)
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        visible = self._visible()
        width = sum(item.sizeHint().width() for item in visible) + self.spacing() * max(0, len(visible) - 1)
        height = max((item.sizeHint().height() for item in self._visible()), default=0)
        margins = self.contentsMargins()
        return QSize(width + margins.left() + margins.right(), height + margins.top() + margins.bottom())

    def minimumSize(self) -> QSize:  # noqa: N802 (Qt name)
        size = QSize()
        for item in self._visible():
            size = size.expandedTo(item.minimumSize())
        margins = self.contentsMargins()
        return size + QSize(margins.left() + margins.right(), margins.top() + margins.bottom())

    def _visible(self) -> list:
        return [item for item in self._items if not (item.widget() is not None and item.widget().isHidden())]

    def _arrange(self, rect: QRect, move: bool) -> int:
        margins = self.contentsMargins()
        area = rect.adjusted(margins.left(), margins.top(), -margins.right(), -margins.bottom())
        x, y, line_height = area.x(), area.y(), 0
        line: list[tuple] = []

        def place_line() -> None:
            for item, position, hint in line:  # each line's items centred on the line
                offset = (line_height - hint.height()) // 2
                item.setGeometry(QRect(position + QPoint(0, offset), hint))

        for item in self._visible():
            hint = item.sizeHint()
            if line and x + hint.width() > area.right() + 1:
                if move:
                    place_line()
                x, y, line = area.x(), y + line_height + self.spacing(), []
                line_height = 0
            if hint.width() > area.width():  # a long text wraps within the line instead
                width = max(1, area.width())
                height = item.heightForWidth(width) if item.hasHeightForWidth() else hint.height()
                hint = QSize(width, max(height, hint.height() if not item.hasHeightForWidth() else 0))
            line.append((item, QPoint(x, y), hint))
            x += hint.width() + self.spacing()
            line_height = max(line_height, hint.height())
        if move:
            place_line()
        return y + line_height - rect.y() + margins.bottom()


def control_strip(*items, parent: QWidget | None = None) -> QWidget:
    """A wrapping row: str -> a label kept with the next widget; QWidget -> as is."""
    strip = QWidget(parent)
    strip.setObjectName("ControlStrip")
    flow = FlowLayout(strip)
    pending: str | None = None
    for item in items:
        if isinstance(item, str):
            pending = item
            continue
        if pending is not None:
            pair = QWidget()
            row = QHBoxLayout(pair)
            row.setContentsMargins(0, 0, 0, 0)
            label = QLabel(pending)
            label.setBuddy(item)
            row.addWidget(label)
            row.addWidget(item)
            flow.addWidget(pair)
            pending = None
        else:
            flow.addWidget(item)
    policy = QSizePolicy(QSizePolicy.Preferred, QSizePolicy.Preferred)
    policy.setHeightForWidth(True)
    strip.setSizePolicy(policy)
    return strip


def as_strip(row: QHBoxLayout, parent: QWidget | None = None) -> QWidget:
    """The widgets of an already built control row, as a control_strip (stretches dropped;
    a label ending in ':' stays with the widget after it)."""
    items = []
    while row.count():
        item = row.takeAt(0)
        if item.widget() is not None:
            items.append(item.widget())
    strip = QWidget(parent)
    strip.setObjectName("ControlStrip")
    flow = FlowLayout(strip)
    index = 0
    while index < len(items):
        widget = items[index]
        follower = items[index + 1] if index + 1 < len(items) else None
        if isinstance(widget, QLabel) and widget.text().endswith(":") and follower is not None:
            pair = QWidget()
            pair_row = QHBoxLayout(pair)
            pair_row.setContentsMargins(0, 0, 0, 0)
            pair_row.addWidget(widget)
            pair_row.addWidget(follower)
            flow.addWidget(pair)
            index += 2
            continue
        flow.addWidget(widget)
        index += 1
    policy = QSizePolicy(QSizePolicy.Preferred, QSizePolicy.Preferred)
    policy.setHeightForWidth(True)
    strip.setSizePolicy(policy)
    return strip


def strip_box(layout) -> QWidget:
    """Control rows that already fit (built as a layout) in one widget marked as a control strip,
    so F5 gives them the compact text size."""
    box = QWidget()
    box.setObjectName("ControlStrip")
    layout.setContentsMargins(0, 0, 0, 0)
    box.setLayout(layout)
    return box
