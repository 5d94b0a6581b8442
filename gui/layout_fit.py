"""Shared layout helper for panels that must fit the window without scrolling."""
from __future__ import annotations

from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


def fit_without_scrolling(panel: QWidget) -> None:
    """Word-wrapped labels give the layout height-for-width, and the window's scroll area
    then sizes the panel to its preferred height (taller than the screen). Single-line
    labels that may be cut (full text in the tooltip) let the images shrink instead."""
    for label in panel.findChildren(QLabel):
        if label.wordWrap():
            label.setWordWrap(False)
            label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
