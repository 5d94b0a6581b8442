"""Help -> Keyboard shortcuts: every QAction and QShortcut of the window that has keys,
collected when asked (so the sheet matches this version), shown as a table."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHeaderView, QLabel, QMainWindow, QTableWidget,
                               QTableWidgetItem, QVBoxLayout)

from gui import theme


def shortcut_rows(window: QMainWindow, escape: QShortcut | None = None) -> list[tuple[str, str, str]]:
    """(keys, what, where) for every QAction and QShortcut of `window` that has keys; `escape`
    is presentation mode's own Esc shortcut, which has no text of its own."""
    rows: dict[tuple[str, str], str] = {}

    def add(keys: str, text: str, where: str) -> None:
        text = text.replace("&", "").strip() or "(unnamed)"
        if keys:
            rows.setdefault((keys, text), where)

    for action in window.findChildren(QAction):
        if not action.shortcuts():
            continue
        owner = _owning_panel(action)
        keys = ", ".join(k.toString(QKeySequence.NativeText) for k in action.shortcuts())
        add(keys, action.text() or action.toolTip(), owner.title if owner is not None else "Window")
    for shortcut in window.findChildren(QShortcut):
        if shortcut.key().isEmpty():
            continue
        owner = _owning_panel(shortcut)
        keys = shortcut.key().toString(QKeySequence.NativeText)
        what = shortcut.whatsThis() or shortcut.objectName() or (
            "Leave presentation mode" if shortcut is escape else _described_by_button(owner, keys))
        add(shortcut.key().toString(QKeySequence.NativeText), what, owner.title if owner else "Window")
    return sorted(((k, t, w) for (k, t), w in rows.items()), key=lambda r: (r[2] != "Window", r[2], r[1]))


def open_shortcuts_dialog(window: QMainWindow, rows: list[tuple[str, str, str]]) -> tuple[QDialog, QTableWidget]:
    """Open (non-modal, deleted on close) a dialog listing `rows`; returns it and its table."""
    dialog = QDialog(window)
    dialog.setWindowTitle("Keyboard shortcuts")
    dialog.setAttribute(Qt.WA_DeleteOnClose)
    layout = QVBoxLayout(dialog)
    table = QTableWidget(len(rows), 3)
    table.setHorizontalHeaderLabels(["Keys", "Action", "Where"])
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            item = QTableWidgetItem(value)
            item.setFlags(Qt.ItemIsEnabled | Qt.ItemIsSelectable)
            table.setItem(r, c, item)
    table.verticalHeader().hide()
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    layout.addWidget(QLabel("Collected from the window now, so the list matches this version."))
    layout.addWidget(table)
    buttons = QDialogButtonBox(QDialogButtonBox.Close)
    buttons.rejected.connect(dialog.close)
    layout.addWidget(buttons)
    dialog.resize(int(640 * theme.current["scale"]), int(560 * theme.current["scale"]))
    dialog.open()
    return dialog, table


def _described_by_button(owner, keys: str) -> str:
    """A panel shortcut without a description: use the button whose tooltip mentions the keys."""
    from PySide6.QtWidgets import QAbstractButton

    if owner is None:
        return ""
    for button in owner.findChildren(QAbstractButton):
        if f"({keys})" in button.toolTip() or f"{keys})" in button.toolTip():
            return button.text() or button.toolTip().split(".")[0]
    return ""


def _owning_panel(obj):
    from gui.panels.base import Panel

    parent = obj.parent()
    while parent is not None:
        if isinstance(parent, Panel):
            return parent
        parent = parent.parent()
    return None
