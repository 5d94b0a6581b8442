"""Redraw a view at a pace the eye needs, not at the pace its data arrives.

Live data (filter snapshots, layer statistics) can arrive many times a second while training;
each redraw holds the GIL the training thread needs. `PacedRedraw.mark()` only notes the change;
a timer redraws at most once per interval, and not at all while the view is hidden (the change
waits until it is shown)."""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget


class PacedRedraw(QObject):
    def __init__(self, view: QWidget, redraw: Callable[[], None], interval_ms: int):
        super().__init__(view)
        self._view = view
        self._redraw = redraw
        self._dirty = False
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.redraw_if_dirty)
        view.installEventFilter(self)  # shown again: draw what changed meanwhile

    @property
    def dirty(self) -> bool:
        return self._dirty

    def mark(self, *_args) -> None:
        """Something changed: redraw on the next tick (or once the view is shown)."""
        self._dirty = True
        if not self.timer.isActive() and self._view.isVisible():
            self.timer.start()

    def redraw_if_dirty(self) -> None:
        if not self._dirty:
            self.timer.stop()  # nothing to draw: sleep until the next mark()
            return
        if not self._view.isVisible():
            self.timer.stop()  # hidden: the change waits for the view to be shown (eventFilter)
            return
        self._dirty = False
        self._redraw()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Show and self._dirty and not self.timer.isActive():
            self.timer.start()
        return False
