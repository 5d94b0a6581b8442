"""The main window: one tab per panel group, menus, status bar, persistence."""
from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QTabWidget

import engine
from engine.device import describe_device, memory_report
from gui.context import AppContext
from gui.panels import panel_classes
from gui.panels.base import Panel
from gui.workers import registry


class MainWindow(QMainWindow):
    def __init__(self, ctx: AppContext | None = None, restore_settings: bool = True):
        super().__init__()
        self.ctx = ctx or AppContext(self)
        self.setWindowTitle("ConvScope — see inside convolutional networks")
        self.resize(1400, 900)
        self.panels: list[Panel] = []
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self._group_tabs: dict[str, QTabWidget] = {}
        self._build_panels()
        self.setCentralWidget(self.tabs)
        self._build_menus()
        self._build_status_bar()
        self.ctx.error_raised.connect(self._show_error)
        self.ctx.status_message.connect(self._show_status)
        self.ctx.focus_panel_requested.connect(self.show_panel)
        self._closing = False
        if restore_settings:
            self._restore_settings()

    # ----- construction
    def _build_panels(self) -> None:
        for group, panel_class in panel_classes():
            panel = panel_class(self.ctx)
            panel.setObjectName(panel_class.__name__)
            self.panels.append(panel)
            members = [cls for g, cls in panel_classes() if g == group] if group else [panel_class]
            if len(members) == 1:
                self.tabs.addTab(panel, group or panel.title)
                continue
            if group not in self._group_tabs:
                sub = QTabWidget()
                sub.setObjectName(f"group:{group}")
                self._group_tabs[group] = sub
                self.tabs.addTab(sub, group)
            self._group_tabs[group].addTab(panel, panel.title)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.Quit)
        quit_action.triggered.connect(self.close)
        self.file_menu = file_menu
        file_menu.addAction(quit_action)

        self.view_menu = self.menuBar().addMenu("&View")
        for index in range(self.tabs.count()):
            action = QAction(self.tabs.tabText(index), self)
            action.setShortcut(QKeySequence(f"Ctrl+{index + 1}") if index < 9 else QKeySequence())
            action.triggered.connect(lambda _=False, i=index: self.tabs.setCurrentIndex(i))  # noqa: E731 GUI-thread only
            self.view_menu.addAction(action)

        self.help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About ConvScope", self)
        about.triggered.connect(self._about)
        self.help_menu.addAction(about)

    def _build_status_bar(self) -> None:
        self.device_label = QLabel(describe_device())
        self.memory_label = QLabel(memory_report())
        self.statusBar().addPermanentWidget(self.device_label)
        self.statusBar().addPermanentWidget(self.memory_label)
        self._memory_timer = QTimer(self)
        self._memory_timer.setInterval(2000)
        self._memory_timer.timeout.connect(self._refresh_memory)
        self._memory_timer.start()

    def _refresh_memory(self) -> None:
        self.memory_label.setText(memory_report())

    # ----- navigation
    def panel(self, title_or_class: str) -> Panel:
        for panel in self.panels:
            if panel.title == title_or_class or type(panel).__name__ == title_or_class:
                return panel
        raise KeyError(title_or_class)

    def show_panel(self, title_or_class: str) -> Panel:
        panel = self.panel(title_or_class)
        for group, sub in self._group_tabs.items():
            index = sub.indexOf(panel)
            if index >= 0:
                sub.setCurrentIndex(index)
                self.tabs.setCurrentWidget(sub)
                return panel
        self.tabs.setCurrentWidget(panel)
        return panel

    def current_panel(self) -> Panel | None:
        widget = self.tabs.currentWidget()
        if isinstance(widget, QTabWidget):
            widget = widget.currentWidget()
        return widget if isinstance(widget, Panel) else None

    # ----- messages
    def _show_error(self, title: str, message: str) -> None:
        self.statusBar().showMessage(f"{title}: {message}", 10000)
        box = QMessageBox(QMessageBox.Warning, title, message, QMessageBox.Ok, self)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()  # not exec(): never block the event loop (or a test)
        self._last_box = box

    def _show_status(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def _about(self) -> None:
        QMessageBox.about(self, "About ConvScope",
                          f"<b>ConvScope {engine.__version__}</b><p>See inside convolutional neural networks: "
                          "build, train, inspect, and misuse backpropagation on a pretrained classifier. "
                          "Works offline.</p>")

    # ----- persistence and shutdown
    def _restore_settings(self) -> None:
        settings = QSettings()
        geometry = settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = settings.value("window/state")
        if state is not None:
            self.restoreState(state)
        tab = settings.value("window/tab")
        if tab is not None:
            try:
                self.tabs.setCurrentIndex(int(tab))
            except (TypeError, ValueError):
                pass

    def save_settings(self) -> None:
        settings = QSettings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        settings.setValue("window/tab", self.tabs.currentIndex())
        settings.sync()

    def shutdown(self, timeout_ms: int = 2000) -> bool:
        """Stop every job and wait (bounded). True if all workers ended in time."""
        for panel in self.panels:
            panel.shutdown()
        return registry.stop_all(timeout_ms)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if not self._closing:
            self._closing = True
            self._memory_timer.stop()
            self.save_settings()
            self.shutdown()
        super().closeEvent(event)

