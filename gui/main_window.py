"""The main window: one tab per panel group, menus, status bar, persistence."""
from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QPainter
from PySide6.QtWidgets import (QFrame, QLabel, QMainWindow, QMessageBox, QScrollArea, QStatusBar, QTabWidget,
                               QVBoxLayout, QWidget)

import engine
from gui.context import AppContext
from gui.panels import PANELS, panel_class
from gui.panels.base import Panel
from gui.workers import registry


class PanelHost(QWidget):
    """A tab's content: 'Loading…' until its panel (and torch) has been imported."""

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = title
        self.panel: Panel | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._loading = QLabel(f"Loading {title}…")
        self._loading.setAlignment(Qt.AlignCenter)
        self._layout.addWidget(self._loading)

    def set_panel(self, panel: Panel) -> None:
        self._layout.removeWidget(self._loading)
        self._loading.hide()  # deleteLater alone waits for the event loop; hide it now
        self._loading.deleteLater()
        # A panel wider or taller than the window (large type on a projector) scrolls
        # instead of pushing the window past the screen edge.
        scroll = QScrollArea()
        scroll.setObjectName("PanelScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setWidget(panel)
        self._layout.addWidget(scroll)
        self.panel = panel


class ElidingStatusBar(QStatusBar):
    """A status bar whose message ends in "…" with a gap before the busy indicator and the
    device labels: Qt's own cuts the text off mid-character right against them (200 % text)."""

    GAP = 12

    def message_rect(self):
        right = self.width() - self.GAP
        for child in self.findChildren(QWidget, options=Qt.FindDirectChildrenOnly):
            if child.isVisible():  # while a message shows, only the permanent widgets (and the grip) are
                right = min(right, child.x() - self.GAP)
        return self.rect().adjusted(6, 0, 0, 0).intersected(self.rect().adjusted(0, 0, right - self.width(), 0))

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        message = self.currentMessage()
        if not message:
            super().paintEvent(event)
            return
        rect = self.message_rect()
        painter = QPainter(self)
        painter.setPen(self.palette().windowText().color())
        painter.drawText(rect, Qt.AlignLeading | Qt.AlignVCenter | Qt.TextSingleLine,
                         self.fontMetrics().elidedText(message, Qt.ElideRight, max(0, rect.width())))
        painter.end()


class MainWindow(QMainWindow):
    """lazy=True (the app) shows the window first and creates the panels right
    after, so the window appears before torch is imported; tests use lazy=False."""

    panels_ready = Signal()

    def __init__(self, ctx: AppContext | None = None, restore_settings: bool = True, lazy: bool = False):
        super().__init__()
        self.ctx = ctx or AppContext(self)
        self.setWindowTitle("ConvScope — see inside convolutional networks")
        self.resize(1400, 900)
        self.panels: list[Panel] = []
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self._group_tabs: dict[str, QTabWidget] = {}
        self._hosts: list[PanelHost] = []
        self._build_tabs()
        self.setCentralWidget(self.tabs)
        self._build_menus()
        self._build_status_bar()
        from gui.classroom import install_classroom  # presentation, lessons, workspaces, export

        self.classroom = install_classroom(self)
        self.ctx.error_raised.connect(self._show_error)
        self.ctx.status_message.connect(self._show_status)
        self.ctx.focus_panel_requested.connect(self.show_panel)
        self._closing = False
        if restore_settings:
            self._restore_settings()
        if lazy:
            QTimer.singleShot(30, self.create_panels)  # after the first frame is painted
        else:
            self.create_panels()

    # ----- construction
    def _build_tabs(self) -> None:
        group_sizes: dict[str, int] = {}
        for group, *_ in PANELS:
            group_sizes[group] = group_sizes.get(group, 0) + 1
        for group, title, _module, _cls in PANELS:
            host = PanelHost(title)
            self._hosts.append(host)
            if group_sizes[group] == 1:
                self.tabs.addTab(host, group)
                continue
            if group not in self._group_tabs:
                sub = QTabWidget()
                sub.setObjectName(f"group:{group}")
                self._group_tabs[group] = sub
                self.tabs.addTab(sub, group)
            self._group_tabs[group].addTab(host, title)
        # A status message belongs to the panel that wrote it: switching panels clears it.
        self.tabs.currentChanged.connect(self._on_panel_switched)
        for sub in self._group_tabs.values():
            sub.currentChanged.connect(self._on_panel_switched)

    def _on_panel_switched(self, _index: int) -> None:
        self.statusBar().clearMessage()

    def create_panels(self) -> None:
        """Import and build every panel into its tab (idempotent)."""
        if self.panels:
            return
        from engine.device import configure_threads, start_warm_up

        configure_threads(reserve=1)  # one core stays with the GUI thread
        for host, (_group, _title, module, cls) in zip(self._hosts, PANELS):
            panel = panel_class(module, cls)(self.ctx)
            panel.setObjectName(cls)
            host.set_panel(panel)
            self.panels.append(panel)
        self._refresh_memory()
        self.panels_ready.emit()
        # Torch's lazy imports now, while the user looks at the window, not in the first run.
        start_warm_up()
        self._freeze_when_warm()

    def _freeze_when_warm(self) -> None:
        """Once torch's warm-up has imported what training needs: one collection, then move the
        ~385,000 start-up objects out of the garbage collector's sight (gc.freeze). A full
        collection on the GUI thread then takes ~0 ms instead of ~190 ms: no stall mid-training."""
        from engine.device import warm_up_finished

        if not warm_up_finished() or registry.live():  # the one slow collection waits for a quiet moment
            QTimer.singleShot(250, self, self._freeze_when_warm)
            return
        import gc

        gc.collect()
        gc.freeze()

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        follow_action = QAction("&Follow run…", self)
        follow_action.setToolTip("Watch a run folder another process is writing (python main.py train --out DIR)")
        follow_action.triggered.connect(self._follow_run)
        file_menu.addAction(follow_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.Quit)
        quit_action.setToolTip("Close ConvScope (it asks first if there is unsaved work)")
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

    def follower(self):
        """The File -> Follow run controller (made on first use)."""
        if getattr(self, "_follower", None) is None:
            from gui.follow_run import RunFollower

            self._follower = RunFollower(self.ctx, self.panel("Training"), self)
        return self._follower

    def _follow_run(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        folder = QFileDialog.getExistingDirectory(self, "Follow a run folder (written by train --out)")
        if folder and self.follower().follow(folder):
            self.show_panel("Training")

    def _build_status_bar(self) -> None:
        self.setStatusBar(ElidingStatusBar())
        self.statusBar().messageChanged.connect(self.statusBar().setToolTip)  # the whole message on hover
        self.device_label = QLabel("")
        self.memory_label = QLabel("")
        self.statusBar().addPermanentWidget(self.device_label)
        self.statusBar().addPermanentWidget(self.memory_label)
        self._memory_timer = QTimer(self)
        self._memory_timer.setInterval(2000)
        self._memory_timer.timeout.connect(self._refresh_memory)
        self._memory_timer.start()

    def _refresh_memory(self) -> None:
        if not self.panels:
            return  # torch is not imported yet
        from engine.device import describe_device, memory_report

        self.device_label.setText(describe_device())
        self.memory_label.setText(memory_report())

    # ----- navigation
    def panel(self, title_or_class: str) -> Panel:
        for panel in self.panels:
            if panel.title == title_or_class or type(panel).__name__ == title_or_class:
                return panel
        raise KeyError(title_or_class)

    def show_panel(self, title_or_class: str) -> Panel:
        panel = self.panel(title_or_class)
        host = next(h for h in self._hosts if h.panel is panel)
        for sub in self._group_tabs.values():
            index = sub.indexOf(host)
            if index >= 0:
                sub.setCurrentIndex(index)
                self.tabs.setCurrentWidget(sub)
                return panel
        self.tabs.setCurrentWidget(host)
        return panel

    def current_panel(self) -> Panel | None:
        widget = self.tabs.currentWidget()
        if isinstance(widget, QTabWidget):
            widget = widget.currentWidget()
        return widget.panel if isinstance(widget, PanelHost) else None

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
        classroom = getattr(self, "classroom", None)
        if not self._closing and classroom is not None and not classroom.workspaces.confirm_discard("closing"):
            event.ignore()
            return
        if not self._closing:
            self._closing = True
            self._memory_timer.stop()
            self.save_settings()
            self.shutdown()
        super().closeEvent(event)

