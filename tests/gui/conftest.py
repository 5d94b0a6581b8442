"""GUI fixtures: isolated QSettings and the whole main window."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory, qapp):
    """QSettings go to a temporary folder, never the user's real preferences."""
    from PySide6.QtCore import QCoreApplication, QSettings

    folder = tmp_path_factory.mktemp("settings")
    QSettings.setDefaultFormat(QSettings.IniFormat)
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(folder))
    QCoreApplication.setOrganizationName("ConvScopeTest")
    QCoreApplication.setApplicationName("ConvScopeTest")
    yield folder


@pytest.fixture
def ctx(qapp):
    from gui.context import AppContext

    return AppContext()


@pytest.fixture
def window(qtbot):
    """The whole main window, shown offscreen, closed (all jobs stopped) after the test."""
    from gui.app import create_application
    from gui.main_window import MainWindow

    create_application()
    win = MainWindow(restore_settings=False)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()
    # close() asked every job to stop and waited 2 s; a job inside one long step
    # (e.g. loading the ImageNet model) stops at its next yield: wait for that.
    from gui.workers import registry

    registry.stop_all(timeout_ms=60_000)
