"""Workspaces in the window: collect every panel's save_state() and the shared
context (architecture, run, input image), write them through engine.workspace,
and restore them into a window (a fresh launch included). Recent workspaces go
in the File menu (QSettings)."""
from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from engine.errors import ConvScopeError
from gui import settings, theme

if TYPE_CHECKING:
    from engine.workspace import Workspace

# engine.workspace imports torch: loaded on first use so the window shows before torch is imported.
SUFFIX = ".convscope"  # same as engine.workspace.SUFFIX (a test checks)

log = logging.getLogger("convscope.workspace")


def collect_workspace(window) -> "Workspace":
    """Everything worth keeping from `window` as an engine Workspace."""
    from engine.user_model import registered_user_models
    from engine.workspace import Workspace, WorkspaceError, user_models_to_save

    ctx = window.ctx
    states: dict[str, dict] = {}
    for panel in window.panels:
        try:
            states[panel.title] = panel.save_state() or {}
        except Exception as exc:
            log.error("save_state failed in %s:\n%s", panel.title, traceback.format_exc())
            raise WorkspaceError(f"The {panel.title} panel could not save its state ({type(exc).__name__}: {exc}).") \
                from exc
    images = {}
    if ctx.input_image is not None:
        images["input"] = (np.asarray(ctx.input_image), ctx.input_caption or "")
    runs = [ctx.run] if ctx.run is not None else []
    current = window.current_panel()
    # Every model added in this session is listed in every chooser: all of them are kept.
    user_models = user_models_to_save([dict(spec, name=name) for name, _label, spec in registered_user_models()],
                                      getattr(ctx, "missing_user_models", []))
    return Workspace(spec=ctx.spec, dataset=ctx.dataset or "", runs=runs, current_run=0 if runs else None,
                     images=images, panel_states=states, user_models=user_models,
                     settings={"theme": theme.current["theme"], "scale": theme.current["scale"],
                               "current_panel": current.title if current is not None else None})


def restore_workspace(window, ws: "Workspace") -> list[str]:
    """Put a loaded workspace into `window`; returns problems (panels that refused their state,
    models of the user's whose files are gone)."""
    from engine.user_model import user_model_label
    from engine.workspace import register_workspace_models

    if hasattr(window, "create_panels"):
        window.create_panels()
    ctx = window.ctx
    problems = register_workspace_models(ws)  # before the panels: their states name these models
    ctx.missing_user_models = list(ws.missing_user_models)  # kept for the next save
    for entry in ws.user_models:
        ctx.add_user_model(entry["name"], user_model_label(entry))
    if ws.dataset and ws.dataset != ctx.dataset:
        ctx.set_dataset(ws.dataset)
    if ws.spec is not None:
        ctx.set_spec(ws.spec)
    if ws.current_run is not None:
        ctx.set_run(ws.runs[ws.current_run])
    if "input" in ws.images:
        image, caption = ws.images["input"]
        ctx.set_input_image(image, caption)
    titles = {p.title: p for p in window.panels}
    for title, state in ws.panel_states.items():
        panel = titles.get(title)
        if panel is None:
            problems.append(f"This version has no '{title}' panel; its saved state was skipped.")
            continue
        if not isinstance(state, dict):
            problems.append(f"{title}: the saved state is not a set of named settings; it was skipped.")
            continue
        try:
            panel.restore_state(state)
        except ConvScopeError as exc:
            problems.append(f"{title}: {exc}")
        except Exception as exc:  # a panel bug must not lose the rest of the workspace
            log.error("restore_state failed in %s:\n%s", title, traceback.format_exc())
            problems.append(f"{title} could not restore its state ({type(exc).__name__}: {exc}).")
    if ws.spec is not None and (ctx.spec is None or ctx.spec.to_dict() != ws.spec.to_dict()):
        # A panel republished another architecture while restoring: the saved one is the truth.
        problems_spec = ctx.spec is not None
        ctx.set_spec(ws.spec)
        if problems_spec:
            log.info("a panel's saved architecture differed from the workspace's; kept the workspace's")
    current = ws.settings.get("current_panel")
    if current in titles:
        window.show_panel(current)
    return problems


class WorkspaceController(QObject):
    """File menu actions: Open, Save, Save as, Recent workspaces, and the unsaved-work question.

    Work counts as unsaved when a run was trained or loaded, the architecture was edited
    or the input image changed since the last save or open, or a training job is running.
    Only an interactive window asks (`interactive`, set by run_gui); scripts, tests and
    screenshots never block on a dialog. `ask` can be replaced (tests)."""

    saved = Signal(str)
    opened = Signal(str)

    SAVE, DISCARD, CANCEL = "save", "discard", "cancel"

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.path: Path | None = None
        self.interactive = False
        self.ask = self._ask_with_dialog
        ctx = window.ctx
        self._clean_run = ctx.run
        self._clean_image = ctx.input_image
        self._clean_spec = ctx.spec.to_dict() if ctx.spec is not None else None
        ctx.spec_changed.connect(self._on_spec_changed)
        self.recent_menu = QMenu("Open &recent workspace", window)
        self.recent_menu.setToolTipsVisible(True)
        self.recent_menu.aboutToShow.connect(self.rebuild_recent_menu)
        self.rebuild_recent_menu()

    # ----- unsaved work
    def _on_spec_changed(self, spec) -> None:
        if self._clean_spec is None and spec is not None:
            self._clean_spec = spec.to_dict()  # the first architecture shown is the starting point

    def mark_clean(self) -> None:
        ctx = self.window.ctx
        self._clean_run, self._clean_image = ctx.run, ctx.input_image
        self._clean_spec = ctx.spec.to_dict() if ctx.spec is not None else None

    def unsaved_work(self) -> list[str]:
        """What would be lost, in words (empty when nothing would)."""
        ctx = self.window.ctx
        lost = []
        if self._training_running():
            lost.append("a training run in progress")
        if ctx.run is not None and ctx.run is not self._clean_run:
            lost.append(f"the run '{ctx.run.name}'")
        if ctx.spec is not None and self._clean_spec is not None and ctx.spec.to_dict() != self._clean_spec:
            lost.append("the edited architecture")
        if ctx.input_image is not None and ctx.input_image is not self._clean_image:
            lost.append("the chosen input image")
        return lost

    def _training_running(self) -> bool:
        for panel in getattr(self.window, "panels", []):
            if panel.title == "Training" and getattr(panel, "jobs", None) is not None and panel.jobs.running:
                return True
        return False

    def confirm_discard(self, doing: str) -> bool:
        """Before closing or opening: True to go on (saved, discarded or nothing to lose)."""
        lost = self.unsaved_work()
        if not lost or not self.interactive:
            return True
        answer = self.ask(f"Save your work before {doing}?",
                          "Not saved yet: " + ", ".join(lost) + ". Save it as a workspace first?")
        if answer == self.SAVE:
            return self.save()  # a run still training is not in it: going on stops it, as asked
        return answer == self.DISCARD

    def _ask_with_dialog(self, question: str, detail: str) -> str:
        box = QMessageBox(QMessageBox.Warning, "Unsaved work", question, parent=self.window)
        box.setInformativeText(detail)
        save = box.addButton("Save…", QMessageBox.AcceptRole)
        discard = box.addButton("Don't save", QMessageBox.DestructiveRole)
        cancel = box.addButton(QMessageBox.Cancel)
        box.setDefaultButton(save)
        box.setEscapeButton(cancel)
        box.exec()
        clicked = box.clickedButton()
        return self.SAVE if clicked is save else self.DISCARD if clicked is discard else self.CANCEL

    def _ask_folder_choice(self, message: str, suggestion: Path) -> bool:
        """The target holds other files: offer the suggested new folder inside it."""
        if not self.interactive:
            return False
        box = QMessageBox(QMessageBox.Warning, "Workspace problem", message, parent=self.window)
        inside = box.addButton(f"Save in {suggestion.name} inside it", QMessageBox.AcceptRole)
        box.addButton(QMessageBox.Cancel)
        box.exec()
        return box.clickedButton() is inside

    # ----- non-interactive (tests, the recent menu)
    def save_to(self, folder: str | Path) -> Path | None:
        from engine.workspace import NotAWorkspaceError, save_workspace

        try:
            try:
                folder = save_workspace(folder, collect_workspace(self.window))
            except NotAWorkspaceError as exc:
                if not self._ask_folder_choice(str(exc), exc.suggestion):
                    raise
                folder = save_workspace(exc.suggestion, collect_workspace(self.window))
        except ConvScopeError as exc:
            self.window.ctx.show_error(exc.title, str(exc))
            return None
        except OSError as exc:  # e.g. a disk that filled up inside a library's own write
            self.window.ctx.show_error("Workspace problem", f"Saving to {folder} failed: {exc.strerror or exc}.")
            return None
        self.mark_clean()
        self.path = Path(folder)
        settings.add_recent_workspace(folder)
        self.rebuild_recent_menu()
        self.window.ctx.status(f"Workspace saved to {folder}")
        self.saved.emit(str(folder))
        return self.path

    def open_from(self, folder: str | Path) -> bool:
        try:
            from engine.workspace import load_workspace

            ws = load_workspace(folder)
        except ConvScopeError as exc:
            self.window.ctx.show_error(exc.title, str(exc))
            return False
        # A job still running (a training run) would replace the restored run when it ends.
        from gui.workers import registry

        for panel in getattr(self.window, "panels", []):
            if getattr(panel, "jobs", None) is not None and panel.jobs.running:
                panel.jobs.stop()
        registry.stop_all(timeout_ms=5000)
        problems = restore_workspace(self.window, ws)
        self.mark_clean()
        self.path = Path(folder)
        settings.add_recent_workspace(folder)
        self.rebuild_recent_menu()
        if problems:
            self.window.ctx.show_error("Workspace partly restored", "\n".join(problems))
        else:
            self.window.ctx.status(f"Workspace opened: {folder}")
        self.opened.emit(str(folder))
        return True

    # ----- dialogs
    def save(self) -> bool:
        if self.path is None:
            return self.save_as()
        return self.save_to(self.path) is not None

    def save_as(self) -> bool:
        path, _ = QFileDialog.getSaveFileName(self.window, "Save workspace as a folder",
                                              str(Path.home() / f"lesson{SUFFIX}"),
                                              f"ConvScope workspace folder (*{SUFFIX});;Any folder name (*)")
        return bool(path) and self.save_to(path) is not None

    def open(self) -> None:
        if not self.confirm_discard("opening another workspace"):
            return
        folder = QFileDialog.getExistingDirectory(self.window, "Open workspace folder", str(Path.home()))
        if folder:
            self.open_from(folder)

    def rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = settings.recent_workspaces()
        for path in recent:
            action = QAction(Path(path).name, self.recent_menu)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.setData(path)
            action.triggered.connect(self._open_recent)
            self.recent_menu.addAction(action)
        if not recent:
            empty = self.recent_menu.addAction("(no workspaces yet)")
            empty.setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            clear = self.recent_menu.addAction("Clear list")
            clear.triggered.connect(self._clear_recent)

    def _open_recent(self) -> None:
        action = self.sender()
        path = action.data() if isinstance(action, QAction) else None
        if not path or not self.confirm_discard("opening another workspace"):
            return
        if not Path(path).exists():
            settings.remove_recent_workspace(path)
            self.rebuild_recent_menu()
            self.window.ctx.show_error("Workspace problem", f"{path} no longer exists; it was removed from the list.")
            return
        self.open_from(path)

    def _clear_recent(self) -> None:
        for path in settings.recent_workspaces():
            settings.remove_recent_workspace(path)
        self.rebuild_recent_menu()
