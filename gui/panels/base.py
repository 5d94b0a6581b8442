"""Base class of every panel (one panel per file)."""
from __future__ import annotations

from PySide6.QtWidgets import QWidget

from gui.context import AppContext
from gui.workers import JobSlot


class Panel(QWidget):
    """A tab of the main window. Subclasses set `title` and build their widgets.

    Each panel owns one JobSlot (`self.jobs`): starting a job cancels the old
    one; failures become a message box through the context, never a traceback.
    """

    title = "Panel"
    group = ""  # tab group in the main window ("" = its own top-level tab)
    description = ""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.jobs = JobSlot(self)
        self.jobs.failed.connect(self._on_job_failed)

    def follow_run(self, handler) -> None:
        """Call handler(run) for every trained model the app switches to, starting with
        the current one if there is one (the Inside panels show whichever run is current)."""
        self.ctx.run_changed.connect(handler)
        if self.ctx.run is not None:
            handler(self.ctx.run)

    def _on_job_failed(self, title: str, message: str) -> None:
        self.ctx.show_error(title, message)

    def shutdown(self) -> None:
        """Stop this panel's jobs (the window waits for all of them on close)."""
        self.jobs.stop()

    # Workspaces and lessons call these; panels override what they keep.
    def save_state(self) -> dict:
        return {}

    def restore_state(self, state: dict) -> None:
        pass

    def apply_lesson(self, setup: dict) -> None:
        pass

    def prepare_screenshot(self) -> None:
        """Put meaningful content on screen for `main.py screenshots` (may run short jobs)."""
