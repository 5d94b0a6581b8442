"""Window-level classroom features, installed on the main window in one call:
File (workspaces, export) and View (presentation mode, theme, text size, cursor
highlight, lessons and convolution arithmetic docks) from gui.classroom_menus, Help
(keyboard shortcuts, gui.shortcuts_dialog), tab tooltips, and a global busy indicator
in the status bar."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDialog, QDockWidget, QLabel, QMainWindow, QPushButton, QTabWidget

from gui import settings, theme
from gui.classroom_menus import FileMenu, ViewMenu, window_action
from gui.shortcuts_dialog import open_shortcuts_dialog
from gui.shortcuts_dialog import shortcut_rows as collect_shortcut_rows
from gui.workers import registry


class Classroom(QObject):
    def __init__(self, window: QMainWindow):
        super().__init__(window)
        self.window = window
        from gui.presentation import PresentationController
        from gui.workspace import WorkspaceController

        self.presentation = PresentationController(window)
        self.workspaces = WorkspaceController(window)
        self._build_docks()
        self.file_actions = FileMenu(window, self.workspaces)
        self.view_actions = ViewMenu(window, self.presentation, self.lessons_dock, self.conv_dock)
        # The View menu's actions under the names the tests and the window use.
        view = self.view_actions
        self.presentation_action, self.cursor_action = view.presentation_action, view.cursor_action
        self.theme_actions, self.size_actions = view.theme_actions, view.size_actions
        self.theme_group, self.size_group = view.theme_group, view.size_group
        self.lessons_action, self.conv_action = view.lessons_action, view.conv_action
        self._build_help_menu()
        self._build_busy_indicator()
        if getattr(window, "panels_ready", None) is not None:
            window.panels_ready.connect(self._on_panels_ready)
        self._on_panels_ready()
        window.tabs.currentChanged.connect(self.restyle_current_panel)
        # Temporary status messages must not run into the device / memory labels.
        for label in (getattr(window, "device_label", None), getattr(window, "memory_label", None)):
            if label is not None:
                label.setContentsMargins(12, 0, 4, 0)
        if settings.load_cursor_highlight():
            self.cursor_action.setChecked(True)

    # ----- docks
    def _build_docks(self) -> None:
        from gui.lessons import LessonFileError, LessonsDock
        from gui.widgets.conv_arithmetic import ConvArithmeticWidget

        try:
            self.lessons_dock = LessonsDock(self.window)
        except LessonFileError as exc:
            self.lessons_dock = QDockWidget("Lessons", self.window)
            self.lessons_dock.setObjectName("LessonsDock")
            self.lessons_dock.setWidget(QLabel(str(exc)))
        self.window.addDockWidget(Qt.RightDockWidgetArea, self.lessons_dock)
        self.lessons_dock.hide()
        self.conv_dock = QDockWidget("Convolution arithmetic", self.window)
        self.conv_dock.setObjectName("ConvArithmeticDock")
        self.conv_widget = ConvArithmeticWidget()
        self.conv_dock.setWidget(self.conv_widget)
        self.window.addDockWidget(Qt.BottomDockWidgetArea, self.conv_dock)
        self.conv_dock.hide()

    def show_conv_arithmetic(self, values: dict | None = None) -> None:
        if values:
            self.conv_widget.set_values(**values)
        self.conv_dock.show()
        self.conv_dock.raise_()

    # ----- menus
    def _build_help_menu(self) -> None:
        menu = self.window.help_menu
        menu.setToolTipsVisible(True)
        first = menu.actions()[0] if menu.actions() else None
        self.shortcuts_action = window_action(self.window, "&Keyboard shortcuts", self.show_shortcuts, "Ctrl+/",
                                              "Every keyboard shortcut of the window and the current panels.")
        menu.insertAction(first, self.shortcuts_action)
        guided = QAction("&Guided lessons", self.window)
        guided.setToolTip("Open the lessons side panel.")
        guided.triggered.connect(self.lessons_dock.show)
        menu.insertAction(first, guided)
        conv = QAction("&Convolution arithmetic", self.window)
        conv.setToolTip("Open the convolution arithmetic widget.")
        conv.triggered.connect(self._show_conv_from_menu)
        menu.insertAction(first, conv)
        menu.insertSeparator(first)

    def _show_conv_from_menu(self) -> None:
        self.show_conv_arithmetic()

    # ----- status bar: one busy indicator for every job of the application
    def _build_busy_indicator(self) -> None:
        bar = self.window.statusBar()
        self.busy_label = QLabel("")
        self.busy_label.setToolTip("Background jobs (training, embeddings, attacks...) running right now.")
        # No animated "busy" bar: its ~50 frames a second cost the GUI thread ~4 % of a core during every
        # job (training included, which needs that GIL time); panels show their own progress and ETA.
        self.stop_all_button = QPushButton("Stop all")
        self.stop_all_button.setToolTip("Stop every running job (each keeps what it has computed so far).")
        self.stop_all_button.clicked.connect(self.stop_all_jobs)
        for position, widget in enumerate((self.busy_label, self.stop_all_button)):
            bar.insertPermanentWidget(position, widget)
            widget.hide()
        self.busy_timer = QTimer(self)
        self.busy_timer.setInterval(250)
        self.busy_timer.timeout.connect(self.refresh_busy)
        self.busy_timer.start()

    def refresh_busy(self) -> int:
        count = len(registry.live())
        busy = count > 0
        self.busy_label.setText(f"{count} job{'s' if count != 1 else ''} running" if busy else "")
        for widget in (self.busy_label, self.stop_all_button):
            widget.setVisible(busy)
        return count

    def stop_all_jobs(self) -> None:
        for panel in getattr(self.window, "panels", []):
            panel.jobs.stop()
        self.refresh_busy()

    def _on_panels_ready(self) -> None:
        self.set_tab_tooltips()
        for sub in self.window.findChildren(QTabWidget):
            if sub.objectName().startswith("group:") and not sub.property("convscope_restyle"):
                sub.setProperty("convscope_restyle", True)
                sub.currentChanged.connect(self.restyle_current_panel)
        for panel in getattr(self.window, "panels", []):
            theme.restyle_views_in(panel)

    def restyle_current_panel(self, *_args) -> None:
        """Plots a panel made after the last theme change get the current look when shown."""
        panel = self.window.current_panel()
        if panel is not None:
            theme.restyle_views_in(panel)

    # ----- tooltips
    def set_tab_tooltips(self) -> None:
        """Each tab explains its panel in one sentence (panel.description)."""
        tabs: QTabWidget = self.window.tabs
        for panel in getattr(self.window, "panels", []):
            text = panel.description or panel.title
            for container in [tabs, *self.window.findChildren(QTabWidget)]:
                for index in range(container.count()):
                    page = container.widget(index)
                    if page is panel or getattr(page, "panel", None) is panel:
                        container.setTabToolTip(index, text)
        for index in range(tabs.count()):
            page = tabs.widget(index)
            if isinstance(page, QTabWidget) and not tabs.tabToolTip(index):
                names = [page.tabText(i) for i in range(page.count())]
                tabs.setTabToolTip(index, "Panels: " + ", ".join(names))
        # The View menu's "go to tab" actions and the window's own actions explain themselves too.
        tab_tips = {tabs.tabText(i): tabs.tabToolTip(i) for i in range(tabs.count())}
        for action in self.window.view_menu.actions():
            name = action.text().replace("&", "")
            if name in tab_tips:
                action.setToolTip(f"Show the {name} tab. {tab_tips[name]}".strip())
        for action in self.window.help_menu.actions():
            plain = action.text().replace("&", "")
            if plain.startswith("About") and action.toolTip() == plain:
                action.setToolTip("Version, and what ConvScope is for.")

    # ----- the menus' actions, for lessons, tests and scripts
    def set_theme(self, name: str) -> None:
        self.view_actions.set_theme(name)

    def set_text_size(self, percent: int) -> None:
        self.view_actions.set_text_size(percent)

    def larger_text(self) -> None:
        self.view_actions.larger_text()

    def smaller_text(self) -> None:
        self.view_actions.smaller_text()

    def export_current_view(self, folder: str | Path | None = None) -> list[Path]:
        return self.file_actions.export_current_view(folder)

    def copy_current_view(self) -> None:
        self.file_actions.copy_current_view()

    def export_metrics(self, path: str | Path | None = None) -> Path | None:
        return self.file_actions.export_metrics(path)

    # ----- shortcuts sheet
    def shortcut_rows(self) -> list[tuple[str, str, str]]:
        """(keys, what, where) for every QAction and QShortcut that has keys, collected now."""
        return collect_shortcut_rows(self.window, self.presentation.escape)

    def show_shortcuts(self) -> QDialog:
        dialog, self.shortcuts_table = open_shortcuts_dialog(self.window, self.shortcut_rows())
        return dialog


def install_classroom(window: QMainWindow) -> Classroom:
    return Classroom(window)
