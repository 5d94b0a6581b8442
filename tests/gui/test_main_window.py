import time

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QTabWidget

from engine.errors import SpecError
from gui.main_window import MainWindow
from gui.panels import PANELS


def endless():
    while True:
        time.sleep(0.005)
        yield 0


def test_window_has_every_panel_menus_and_device_status(window):
    assert len(window.panels) == len(PANELS)
    titles = [window.menuBar().actions()[i].text() for i in range(3)]
    assert titles == ["&File", "&View", "&Help"]
    assert "CPU" in window.device_label.text() or "CUDA" in window.device_label.text()
    for panel in window.panels:
        assert window.show_panel(panel.title) is panel
        assert window.current_panel() is panel


def test_close_stops_all_jobs_within_two_seconds(window, qtbot):
    for panel in window.panels[:3]:
        panel.jobs.start(endless)
    qtbot.wait(50)
    start = time.monotonic()
    window.close()
    assert time.monotonic() - start < 2.0
    assert all(not panel.jobs.running for panel in window.panels)


def test_engine_error_is_shown_as_message_and_window_stays_usable(window, qtbot):
    def broken():
        raise SpecError("Layer 2 (MaxPool2d): Pooling window 6x6 is larger than its input 4x4.")
        yield  # pragma: no cover

    panel = window.panels[0]
    panel.jobs.start(broken)
    qtbot.waitUntil(lambda: window.ctx.last_error is not None, timeout=5000)
    assert window.ctx.last_error[0] == "Impossible architecture"
    assert "larger than its input" in window._last_box.text()
    window.show_panel(window.panels[1].title)
    assert window.current_panel() is window.panels[1]


def test_layout_persists_across_launches(qtbot, isolated_settings):
    first = MainWindow()
    qtbot.addWidget(first)
    first.resize(1000, 700)
    first.show()
    first.tabs.setCurrentIndex(3)
    first.close()
    assert QSettings().value("window/tab") is not None
    second = MainWindow()
    qtbot.addWidget(second)
    assert second.tabs.currentIndex() == 3
    assert isinstance(second.tabs.widget(3), QTabWidget)  # the "Inside" group
    second.close()


def test_lazy_window_shows_before_panels_then_builds_them(qtbot):
    lazy = MainWindow(restore_settings=False, lazy=True)
    qtbot.addWidget(lazy)
    lazy.show()
    assert lazy.panels == []  # nothing heavy imported before the first frame
    with qtbot.waitSignal(lazy.panels_ready, timeout=60000):
        pass
    assert len(lazy.panels) == len(PANELS)
    assert lazy.show_panel("Filters").title == "Filters"
    lazy.close()


def test_start_up_fast_path_prints_time_to_shown_window():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "main.py", "gui", "--quit-after-show"], cwd=root,
                            capture_output=True, text=True, timeout=300,
                            env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "shown_after_s=" in result.stdout


def test_window_shows_before_torch_is_imported():
    """The start-up promise (< 3 s to a shown window) rests on this: nothing the
    window needs before its first frame may import torch."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys\n"
        "from gui.app import create_application\n"
        "from gui.main_window import MainWindow\n"
        "app = create_application()\n"
        "w = MainWindow(restore_settings=False, lazy=True)\n"
        "w.show(); app.processEvents()\n"
        "heavy = [m for m in ('torch', 'torchvision', 'timm', 'sklearn') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
        "import engine.workspace, gui.workspace\n"
        "assert gui.workspace.SUFFIX == engine.workspace.SUFFIX\n"
        "assert not heavy, heavy\n"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300,
                            env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]


def test_garbage_is_collected_on_the_gui_thread_only(qtbot):
    import gc
    import weakref

    from gui.app import create_application

    from PySide6.QtCore import QCoreApplication, QEvent

    create_application()
    assert not gc.isenabled()  # no collection inside a job's thread
    # Earlier tests' widgets die first (their deallocations lower the generation-0 count).
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    gc.collect()

    class Node:
        pass

    first, second = Node(), Node()
    first.other, second.other = second, first  # a cycle: only the cyclic collector frees it
    probe = weakref.ref(first)
    del first, second
    alive = [Node() for _ in range(20 * gc.get_threshold()[0])]  # well past a generation-0 collection
    qtbot.waitUntil(lambda: probe() is None, timeout=5000)  # the GUI-thread timer collected it
    assert len(alive) > gc.get_threshold()[0]
