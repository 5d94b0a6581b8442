"""PacedRedraw: at most one redraw per interval, none while the view is hidden, and no timer
ticking for a hidden view (each tick is a call into Python that takes the GIL from training)."""
from PySide6.QtWidgets import QWidget

from gui.widgets.paced_redraw import PacedRedraw


def test_a_hidden_view_waits_without_a_timer_and_draws_once_shown(qtbot):
    view = QWidget()
    qtbot.addWidget(view)
    drawn = []
    paced = PacedRedraw(view, lambda: drawn.append(1), interval_ms=20)
    paced.mark()
    paced.mark()
    assert paced.dirty and not paced.timer.isActive() and drawn == []
    view.show()
    qtbot.waitUntil(lambda: drawn == [1], timeout=5000)  # the changes so far, drawn once
    assert not paced.dirty
    qtbot.waitUntil(lambda: not paced.timer.isActive(), timeout=5000)  # nothing left: it sleeps
    paced.mark()
    qtbot.waitUntil(lambda: drawn == [1, 1], timeout=5000)
    view.hide()
    paced.mark()
    qtbot.wait(100)
    assert drawn == [1, 1] and not paced.timer.isActive()
