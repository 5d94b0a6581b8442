"""Keyboard shortcuts of a panel, each described for Help -> Keyboard shortcuts."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QWidget


def add_shortcuts(widget: QWidget, entries) -> list[QShortcut]:
    """One QShortcut per (keys, slot, what) entry, active while `widget` or a child has the
    focus; `what` is the text the help sheet lists."""
    shortcuts = []
    for keys, slot, what in entries:
        shortcut = QShortcut(QKeySequence(keys), widget)
        shortcut.setWhatsThis(what)  # Help -> Keyboard shortcuts lists it
        shortcut.setContext(Qt.WidgetWithChildrenShortcut)
        shortcut.activated.connect(slot)
        shortcuts.append(shortcut)
    return shortcuts
