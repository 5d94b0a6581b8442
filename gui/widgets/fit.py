"""Panels that fill the window's height instead of growing past it (issue 15).

The window holds each panel in a resizable QScrollArea. Once any label in a panel wraps
its words, the scroll area sizes the panel by heightForWidth, which adds up the size
*hints* of the plots and images (a pyqtgraph view asks for about its scene's size): at
200 % text on 1280x800 that made panels a few hundred pixels taller than the window, so
their images went below the fold behind a vertical scroll bar although their minimum
size fitted. With this mixin the panel asks for its minimum height only: it fills the
visible height when that is enough and scrolls only when even its minimum does not fit.
"""
from __future__ import annotations

from PySide6.QtCore import QSize


class FitsViewportHeight:
    """Mixin for a QWidget panel (put it before the QWidget base class)."""

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt name)
        return self.minimumSizeHint().height()


def visible_area(widget) -> QSize:
    """The size the window shows of `widget`'s panel: the viewport of the nearest enclosing
    QScrollArea (the window's panel scroll), or the widget's own size outside one."""
    from PySide6.QtWidgets import QScrollArea

    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QScrollArea):
        parent = parent.parentWidget()
    return parent.viewport().size() if parent is not None else widget.size()
