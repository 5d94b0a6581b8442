"""Application start-up: QApplication, theme, main window."""
from __future__ import annotations

import logging
import sys

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication


def create_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (reused if one exists) with names for QSettings and the theme."""
    from engine.memory import limit_heap_arenas, reuse_freed_buffers
    from gui import theme as theming
    from gui.settings import load_appearance
    from gui.workers import job_threads

    limit_heap_arenas()  # before any job thread: fewer arenas, less memory kept after each job
    reuse_freed_buffers()  # within a job; each job's end hands the free pages back
    job_threads.prepare()  # next: the first job thread takes the second arena (not the GUI thread's)
    existing = QApplication.instance()
    app = existing or QApplication(argv if argv is not None else sys.argv[:1])
    QCoreApplication.setOrganizationName("ConvScope")
    QCoreApplication.setApplicationName("ConvScope")
    name, scale = load_appearance()
    # Re-applying an unchanged theme would walk every live widget for nothing
    # (and touch widgets already scheduled for deletion): only do it when needed.
    unchanged = (theming.current.get("theme") == name and abs(theming.current.get("scale", 0) - scale) < 1e-9
                 and isinstance(app.style(), theming.ConvScopeStyle))
    if existing is None or not unchanged:
        theming.apply_theme(app, name, scale)
    _collect_garbage_on_the_gui_thread(app)
    return app


def _collect_garbage_on_the_gui_thread(app: QApplication) -> None:
    """Python's cyclic garbage collector runs in whichever thread happens to
    allocate. Run in a job's thread, it destroyed Qt objects from closed widgets
    there and deadlocked with the GUI thread (seen in the test suite: a worker in
    ~QObject waiting for the GIL, the GUI thread waiting for Qt's mutex). pyqtgraph's
    GarbageCollector turns automatic collection off and collects on a 1 s timer in
    the GUI thread, with the usual generation thresholds."""
    if getattr(app, "_convscope_gc", None) is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        app._convscope_gc = GarbageCollector(interval=1.0)


def run_gui(argv: list[str] | None = None, quit_after_show: bool = False) -> int:
    """Open the window. quit_after_show (for the start-up benchmark) prints the
    seconds from process start to the first shown frame, then exits."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = create_application(argv)
    from gui.main_window import MainWindow

    window = MainWindow(lazy=True)  # panels (and torch) load just after the first frame
    window.classroom.workspaces.interactive = not quit_after_show  # a person is there to answer
    window.show()
    if quit_after_show:
        from PySide6.QtCore import QTimer

        def report_and_quit() -> None:
            print(f"shown_after_s={seconds_since_process_start():.3f}", flush=True)
            window.close()
            app.quit()

        QTimer.singleShot(0, report_and_quit)  # runs once the first show has been processed
    code = app.exec()
    # The window closed within its bound, but a job may still be inside one long
    # step (it stops at its next yield). Let it finish so Qt never destroys a
    # running thread at exit.
    from gui.workers import registry

    registry.stop_all(timeout_ms=120_000)
    return code


def seconds_since_process_start() -> float:
    import time

    import psutil

    return time.time() - psutil.Process().create_time()
