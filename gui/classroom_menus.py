"""The classroom's File and View menus (gui.classroom wires them onto the main window).

File: workspaces (open, save, save as, recent) and export of the current view (PNG/SVG
files, clipboard, metrics CSV). View: presentation mode, cursor highlight, theme, text
size, and the Lessons and Convolution arithmetic docks.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QFileDialog, QMainWindow

from engine.errors import ConvScopeError
from gui import export, settings, theme

TEXT_SIZES = (100, 125, 150, 175, 200, 250)


def window_action(window: QMainWindow, text: str, slot, shortcut=None, tip: str = "",
                  checkable: bool = False) -> QAction:
    """A menu action whose keys work anywhere in `window`."""
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    action.setToolTip(tip or text.replace("&", ""))
    action.setStatusTip(tip)
    action.setCheckable(checkable)
    (action.toggled if checkable else action.triggered).connect(slot)
    window.addAction(action)  # shortcuts keep working while the menu bar is hidden
    return action


class FileMenu(QObject):
    """Workspace and export actions, put above the File menu's own entries (Quit)."""

    def __init__(self, window: QMainWindow, workspaces):
        super().__init__(window)
        self.window = window
        menu = window.file_menu
        menu.setToolTipsVisible(True)
        first = menu.actions()[0] if menu.actions() else None
        ws = workspaces
        actions = [
            window_action(window, "&Open workspace…", ws.open, "Ctrl+Shift+O",
                          "Open a workspace folder: architecture, runs with curves and weights, images, "
                          "panel settings."),
            window_action(window, "&Save workspace", ws.save, "Ctrl+Alt+S",
                          "Save everything (architecture, runs, images, panel settings) into the workspace folder."),
            window_action(window, "Save workspace &as…", ws.save_as, "Ctrl+Shift+S",
                          "Save the workspace into a new folder."),
        ]
        for action in actions:
            menu.insertAction(first, action)
        menu.insertMenu(first, ws.recent_menu)
        menu.insertSeparator(first)
        for action in [
            window_action(window, "&Export current view…", self.export_current_view, "Ctrl+E",
                          "Save the current panel and each of its plots and images as PNG (1920 px wide) and SVG."),
            window_action(window, "&Copy view to clipboard", self.copy_current_view, "Ctrl+Shift+C",
                          "Copy a projector-resolution picture of the current panel, to paste into slides."),
            window_action(window, "Export &metrics as CSV…", self.export_metrics, "Ctrl+Shift+E",
                          "Save the current panel's numbers (or the run's training curves) as a CSV table."),
        ]:
            menu.insertAction(first, action)
        menu.insertSeparator(first)
        if first is not None and first.text().replace("&", "") == "Quit" and not first.shortcuts():
            first.setShortcut(QKeySequence("Ctrl+Q"))  # the platform gave no standard Quit key
            first.setToolTip("Stop every job and close ConvScope.")

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


class ViewMenu(QObject):
    """Presentation mode, cursor highlight, theme and text size (saved in the settings), and
    the toggles of the two docks, appended to the View menu."""

    def __init__(self, window: QMainWindow, presentation, lessons_dock: QDockWidget, conv_dock: QDockWidget):
        super().__init__(window)
        self.window = window
        self.presentation = presentation
        menu = window.view_menu
        menu.setToolTipsVisible(True)
        menu.addSeparator()
        self.presentation_action = window_action(
            window, "&Presentation mode", self._set_presentation, "F5",
            "One panel full screen with large type and thick lines, menus and tabs hidden. Esc leaves.", True)
        menu.addAction(self.presentation_action)
        self.cursor_action = window_action(window, "Highlight &cursor", self._set_cursor_highlight, "F6",
                                           "Draw a translucent ring around the mouse pointer so a room can follow "
                                           "it.", True)
        menu.addAction(self.cursor_action)
        self._build_theme_menu(menu.addMenu("&Theme"))
        self._build_size_menu(menu.addMenu("Text &size"))
        menu.addSeparator()
        self.lessons_action = self._dock_toggle(
            lessons_dock, "&Lessons", "Ctrl+L", "Guided lessons: the lecture step by step, each set up with one click.")
        menu.addAction(self.lessons_action)
        self.conv_action = self._dock_toggle(
            conv_dock, "Convolution &arithmetic", "Ctrl+K",
            "Output size of a convolution from kernel, padding, stride and dilation, animated.")
        menu.addAction(self.conv_action)
        presentation.toggled.connect(self._on_presentation_toggled)

    def _build_theme_menu(self, theme_menu) -> None:
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

    def _build_size_menu(self, size_menu) -> None:
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
        size_menu.addAction(window_action(self.window, "&Larger text", self.larger_text, QKeySequence.ZoomIn,
                                          "Make all text larger."))
        size_menu.addAction(window_action(self.window, "S&maller text", self.smaller_text, QKeySequence.ZoomOut,
                                          "Make all text smaller."))
        self._check_size_action()

    def _dock_toggle(self, dock: QDockWidget, text: str, keys: str, tip: str) -> QAction:
        toggle = dock.toggleViewAction()
        toggle.setText(text)
        toggle.setShortcut(QKeySequence(keys))
        toggle.setToolTip(tip)
        self.window.addAction(toggle)
        return toggle

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

    # ----- presentation and cursor
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
