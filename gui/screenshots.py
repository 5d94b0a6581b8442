"""`python main.py screenshots --out DIR`: every panel and the whole window as PNGs."""
from __future__ import annotations

import os
import time
from pathlib import Path

from engine.fileio import slug


def wait_for(predicate, timeout_s: float = 30.0) -> bool:
    """Process events until predicate() is true or the timeout passes."""
    from PySide6.QtWidgets import QApplication

    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        QApplication.processEvents()
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def render_screenshots(out_dir: str | Path, width: int = 1400, height: int = 900,
                       theme: str = "light", scale: float = 1.0, panels: list[str] | None = None) -> list[Path]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from gui.app import create_application
    from gui.main_window import MainWindow
    from gui.theme import apply_theme

    app = create_application()
    apply_theme(app, theme, scale)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    window = MainWindow(restore_settings=False)
    window.resize(width, height)
    window.show()
    wait_for(lambda: False, 0.2)
    written = []
    try:
        for number, panel in enumerate(window.panels, start=1):
            if panels and panel.title not in panels and type(panel).__name__ not in panels:
                continue
            window.show_panel(panel.title)
            wait_for(lambda: False, 0.1)
            panel.prepare_screenshot()
            wait_for(lambda: False, 0.3)
            window.classroom.restyle_current_panel()  # plots made by prepare_screenshot
            path = out / f"{number:02d}_{slug(panel.title, 'panel')}.png"
            window.grab().save(str(path))
            written.append(path)
        window.show_panel(window.panels[0].title)
        wait_for(lambda: False, 0.1)
        path = out / "00_window.png"
        window.grab().save(str(path))
        written.append(path)
        if not panels or "Lessons" in panels:
            written.append(_lessons_screenshot(window, out))
    finally:
        window.close()
    return written


def _lessons_screenshot(window, out: Path) -> Path:
    """The guided-lessons dock and the convolution arithmetic dock beside the Network panel."""
    from PySide6.QtCore import Qt

    classroom = window.classroom
    classroom.lessons_dock.show()
    classroom.lessons_dock.widget_.select(0)
    classroom.show_conv_arithmetic(classroom.lessons_dock.widget_.current().conv)
    classroom.conv_widget.play_button.setChecked(False)
    for _ in range(5):
        classroom.conv_widget.canvas.step()
    window.show_panel("Network")
    window.resizeDocks([classroom.conv_dock], [window.height() // 3], Qt.Vertical)
    window.resizeDocks([classroom.lessons_dock], [window.width() // 4], Qt.Horizontal)
    wait_for(lambda: False, 0.3)
    path = out / "99_lessons.png"
    window.grab().save(str(path))
    classroom.lessons_dock.hide()
    classroom.conv_dock.hide()
    return path
