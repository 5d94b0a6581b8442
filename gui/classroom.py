"""Window-level classroom features, installed on the main window in one call:
File (workspaces, export), View (presentation mode, theme, text size, cursor
highlight, lessons and convolution arithmetic docks), Help (keyboard shortcuts),
tab tooltips, and a global busy indicator in the status bar."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QShortcut
from PySide6.QtWidgets import (QApplication, QDialog, QDialogButtonBox, QDockWidget, QFileDialog, QHeaderView,
                               QLabel, QMainWindow, QProgressBar, QPushButton, QTableWidget, QTableWidgetItem,
                               QTabWidget, QVBoxLayout)

from engine.errors import ConvScopeError
from gui import export, settings, theme
from gui.workers import registry

TEXT_SIZES = (100, 125, 150, 175, 200, 250)


class Classroom(QObject):
    def __init__(self, window: QMainWindow):
        super().__init__(window)
        self.window = window
        from gui.presentation import PresentationController
        from gui.workspace import WorkspaceController

        self.presentation = PresentationController(window)
        self.workspaces = WorkspaceController(window)
        self._build_docks()
        self._build_file_menu()
        self._build_view_menu()
        self._build_help_menu()
        self._build_busy_indicator()
        self.presentation.toggled.connect(self._on_presentation_toggled)
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
    def _action(self, text: str, slot, shortcut=None, tip: str = "", checkable: bool = False) -> QAction:
        action = QAction(text, self.window)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(tip or text.replace("&", ""))
        action.setStatusTip(tip)
        action.setCheckable(checkable)
        (action.toggled if checkable else action.triggered).connect(slot)
        self.window.addAction(action)  # shortcuts keep working while the menu bar is hidden
        return action

    def _build_file_menu(self) -> None:
        menu = self.window.file_menu
        menu.setToolTipsVisible(True)
        first = menu.actions()[0] if menu.actions() else None
        ws = self.workspaces
        actions = [
            self._action("&Open workspace…", ws.open, "Ctrl+Shift+O",
                         "Open a workspace folder: architecture, runs with curves and weights, images, "
                         "panel settings."),
            self._action("&Save workspace", ws.save, "Ctrl+Alt+S",
                         "Save everything (architecture, runs, images, panel settings) into the workspace folder."),
            self._action("Save workspace &as…", ws.save_as, "Ctrl+Shift+S", "Save the workspace into a new folder."),
        ]
        for action in actions:
            menu.insertAction(first, action)
        menu.insertMenu(first, ws.recent_menu)
        menu.insertSeparator(first)
        for action in [
            self._action("&Export current view…", self.export_current_view, "Ctrl+E",
                         "Save the current panel and each of its plots and images as PNG (1920 px wide) and SVG."),
            self._action("&Copy view to clipboard", self.copy_current_view, "Ctrl+Shift+C",
                         "Copy a projector-resolution picture of the current panel, to paste into slides."),
            self._action("Export &metrics as CSV…", self.export_metrics, "Ctrl+Shift+E",
                         "Save the current panel's numbers (or the run's training curves) as a CSV table."),
        ]:
            menu.insertAction(first, action)
        menu.insertSeparator(first)
        if first is not None and first.text().replace("&", "") == "Quit" and not first.shortcuts():
            first.setShortcut(QKeySequence("Ctrl+Q"))  # the platform gave no standard Quit key
            first.setToolTip("Stop every job and close ConvScope.")

    def _build_view_menu(self) -> None:
        menu = self.window.view_menu
        menu.setToolTipsVisible(True)
        menu.addSeparator()
        self.presentation_action = self._action(
            "&Presentation mode", self._set_presentation, "F5",
            "One panel full screen with large type and thick lines, menus and tabs hidden. Esc leaves.", True)
        menu.addAction(self.presentation_action)
        self.cursor_action = self._action("Highlight &cursor", self._set_cursor_highlight, "F6",
                                          "Draw a translucent ring around the mouse pointer so a room can follow it.",
                                          True)
        menu.addAction(self.cursor_action)
        theme_menu = menu.addMenu("&Theme")
        theme_menu.setToolTipsVisible(True)
        self.theme_group = QActionGroup(self.window)
        self.theme_actions: dict[str, QAction] = {}
        for name, tip in (("light", "Dark text on a light background: best in a bright room."),
                          ("dark", "Light text on a dark background: best in a dark room or on an LCD projector.")):
            action = QAction(name.capitalize(), self.window, checkable=True)
            action.setToolTip(tip)
            action.setData(name)
            action.setChecked(theme.current["theme"] == name)
            action.triggered.connect(self._on_theme_action)
            self.theme_group.addAction(action)
            theme_menu.addAction(action)
            self.theme_actions[name] = action
        size_menu = menu.addMenu("Text &size")
        size_menu.setToolTipsVisible(True)
        self.size_group = QActionGroup(self.window)
        self.size_actions: dict[int, QAction] = {}
        for percent in TEXT_SIZES:
            action = QAction(f"{percent}%", self.window, checkable=True)
            action.setToolTip(f"All text at {percent}% (kept separately for presentation mode).")
            action.setData(percent)
            action.triggered.connect(self._on_size_action)
            self.size_group.addAction(action)
            size_menu.addAction(action)
            self.size_actions[percent] = action
        size_menu.addSeparator()
        size_menu.addAction(self._action("&Larger text", self.larger_text, QKeySequence.ZoomIn,
                                         "Make all text larger."))
        size_menu.addAction(self._action("S&maller text", self.smaller_text, QKeySequence.ZoomOut,
                                         "Make all text smaller."))
        self._check_size_action()
        menu.addSeparator()
        lessons_toggle = self.lessons_dock.toggleViewAction()
        lessons_toggle.setText("&Lessons")
        lessons_toggle.setShortcut(QKeySequence("Ctrl+L"))
        lessons_toggle.setToolTip("Guided lessons: the lecture step by step, each set up with one click.")
        self.window.addAction(lessons_toggle)
        menu.addAction(lessons_toggle)
        conv_toggle = self.conv_dock.toggleViewAction()
        conv_toggle.setText("Convolution &arithmetic")
        conv_toggle.setShortcut(QKeySequence("Ctrl+K"))
        conv_toggle.setToolTip("Output size of a convolution from kernel, padding, stride and dilation, animated.")
        self.window.addAction(conv_toggle)
        menu.addAction(conv_toggle)
        self.lessons_action, self.conv_action = lessons_toggle, conv_toggle

    def _build_help_menu(self) -> None:
        menu = self.window.help_menu
        menu.setToolTipsVisible(True)
        first = menu.actions()[0] if menu.actions() else None
        self.shortcuts_action = self._action("&Keyboard shortcuts", self.show_shortcuts, "Ctrl+/",
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
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)  # indeterminate: panels show their own progress and ETA
        self.busy_bar.setMaximumWidth(120)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setToolTip(self.busy_label.toolTip())
        self.stop_all_button = QPushButton("Stop all")
        self.stop_all_button.setToolTip("Stop every running job (each keeps what it has computed so far).")
        self.stop_all_button.clicked.connect(self.stop_all_jobs)
        for position, widget in enumerate((self.busy_label, self.busy_bar, self.stop_all_button)):
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
        for widget in (self.busy_label, self.busy_bar, self.stop_all_button):
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

    # ----- appearance
    def _apply(self, theme_name: str | None = None, percent: int | None = None) -> None:
        name = theme_name or theme.current["theme"]
        if percent is None:
            scale = theme.current["scale"]
        else:
            scale = percent / 100.0
        if self.presentation.active:
            if percent is not None:
                settings.save_presentation_scale(scale)
            _saved_theme, normal_scale = settings.load_appearance()
            settings.save_appearance(name, normal_scale)
        else:
            settings.save_appearance(name, scale)
        theme.apply_theme(QApplication.instance(), name, scale)
        self.theme_actions[theme.current["theme"]].setChecked(True)
        self._check_size_action()

    def set_theme(self, name: str) -> None:
        self._apply(theme_name=name)

    def set_text_size(self, percent: int) -> None:
        self._apply(percent=int(percent))

    def larger_text(self) -> None:
        current = round(theme.current["scale"] * 100)
        bigger = [p for p in TEXT_SIZES if p > current]
        if bigger:
            self.set_text_size(bigger[0])

    def smaller_text(self) -> None:
        current = round(theme.current["scale"] * 100)
        smaller = [p for p in TEXT_SIZES if p < current]
        if smaller:
            self.set_text_size(smaller[-1])

    def _on_theme_action(self) -> None:
        action = self.sender()
        if isinstance(action, QAction):
            self.set_theme(str(action.data()))

    def _on_size_action(self) -> None:
        action = self.sender()
        if isinstance(action, QAction):
            self.set_text_size(int(action.data()))

    def _check_size_action(self) -> None:
        percent = round(theme.current["scale"] * 100)
        for value, action in self.size_actions.items():
            action.setChecked(value == percent)

    def _set_presentation(self, on: bool) -> None:
        if on:
            self.presentation.enter()
        else:
            self.presentation.leave()

    def _on_presentation_toggled(self, on: bool) -> None:
        if self.presentation_action.isChecked() != on:  # Esc left presentation mode
            self.presentation_action.blockSignals(True)
            self.presentation_action.setChecked(on)
            self.presentation_action.blockSignals(False)
        self._check_size_action()

    def _set_cursor_highlight(self, on: bool) -> None:
        self.presentation.cursor.set_active(on)
        settings.save_cursor_highlight(on)

    # ----- export
    def _current(self):
        panel = self.window.current_panel()
        if panel is None:
            self.window.ctx.show_error("Export problem", "No panel is shown (the panels are still loading).")
        return panel

    def export_current_view(self, folder: str | Path | None = None) -> list[Path]:
        panel = self._current()
        if panel is None:
            return []
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self.window, "Export the current view into a folder",
                                                      settings.last_export_folder())
            if not folder:
                return []
        try:
            written = export.export_view(panel, folder, panel.title)
        except ConvScopeError as exc:
            self.window.ctx.show_error(exc.title, str(exc))
            return []
        settings.save_last_export_folder(folder)
        self.window.ctx.status(f"Exported {len(written)} files to {folder}")
        return written

    def copy_current_view(self) -> None:
        panel = self._current()
        if panel is None:
            return
        try:
            image = export.copy_to_clipboard(panel)
        except ConvScopeError as exc:
            self.window.ctx.show_error(exc.title, str(exc))
            return
        self.window.ctx.status(f"Copied {panel.title} to the clipboard ({image.width()}x{image.height()})")

    def export_metrics(self, path: str | Path | None = None) -> Path | None:
        panel = self._current()
        if panel is None:
            return None
        if path is None:
            default = Path(settings.last_export_folder()) / f"{export._slug(panel.title)}_metrics.csv"
            path, _ = QFileDialog.getSaveFileName(self.window, "Export metrics", str(default), "CSV (*.csv)")
            if not path:
                return None
        try:
            written = export.write_metrics_csv(path, export.metrics_table(panel, self.window.ctx.run))
        except ConvScopeError as exc:
            self.window.ctx.show_error(exc.title, str(exc))
            return None
        self.window.ctx.status(f"Metrics saved to {written}")
        return written

    # ----- shortcuts sheet
    def shortcut_rows(self) -> list[tuple[str, str, str]]:
        """(keys, what, where) for every QAction and QShortcut that has keys, collected now."""
        rows: dict[tuple[str, str], str] = {}

        def add(keys: str, text: str, where: str) -> None:
            text = text.replace("&", "").strip() or "(unnamed)"
            if keys:
                rows.setdefault((keys, text), where)

        for action in self.window.findChildren(QAction):
            if not action.shortcuts():
                continue
            owner = _owning_panel(action)
            keys = ", ".join(k.toString(QKeySequence.NativeText) for k in action.shortcuts())
            add(keys, action.text() or action.toolTip(), owner.title if owner is not None else "Window")
        for shortcut in self.window.findChildren(QShortcut):
            if shortcut.key().isEmpty():
                continue
            owner = _owning_panel(shortcut)
            keys = shortcut.key().toString(QKeySequence.NativeText)
            what = shortcut.whatsThis() or shortcut.objectName() or (
                "Leave presentation mode" if shortcut is self.presentation.escape
                else _described_by_button(owner, keys))
            add(shortcut.key().toString(QKeySequence.NativeText), what, owner.title if owner else "Window")
        return sorted(((k, t, w) for (k, t), w in rows.items()), key=lambda r: (r[2] != "Window", r[2], r[1]))

    def show_shortcuts(self) -> QDialog:
        dialog = QDialog(self.window)
        dialog.setWindowTitle("Keyboard shortcuts")
        dialog.setAttribute(Qt.WA_DeleteOnClose)
        layout = QVBoxLayout(dialog)
        rows = self.shortcut_rows()
        table = QTableWidget(len(rows), 3)
        table.setHorizontalHeaderLabels(["Keys", "Action", "Where"])
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                item = QTableWidgetItem(value)
                item.setFlags(Qt.ItemIsEnabled | Qt.ItemIsSelectable)
                table.setItem(r, c, item)
        table.verticalHeader().hide()
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(QLabel("Collected from the window now, so the list matches this version."))
        layout.addWidget(table)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(dialog.close)
        layout.addWidget(buttons)
        dialog.resize(int(640 * theme.current["scale"]), int(560 * theme.current["scale"]))
        dialog.open()
        self.shortcuts_table = table
        return dialog


def _described_by_button(owner, keys: str) -> str:
    """A panel shortcut without a description: use the button whose tooltip mentions the keys."""
    from PySide6.QtWidgets import QAbstractButton

    if owner is None:
        return ""
    for button in owner.findChildren(QAbstractButton):
        if f"({keys})" in button.toolTip() or f"{keys})" in button.toolTip():
            return button.text() or button.toolTip().split(".")[0]
    return ""


def _owning_panel(obj):
    from gui.panels.base import Panel

    parent = obj.parent()
    while parent is not None:
        if isinstance(parent, Panel):
            return parent
        parent = parent.parent()
    return None


def install_classroom(window: QMainWindow) -> Classroom:
    return Classroom(window)
