"""Base class of every panel (one panel per file)."""
from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QWidget

from engine.events import Progress
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


class _SlotWiring(QObject):
    """One JobSlot wired to its panel: buttons, Progress to the status line, counted ends."""

    def __init__(self, panel: "JobPanel", slot: JobSlot, on_event, on_succeeded):
        super().__init__(panel)
        self.panel, self.slot = panel, slot
        self.on_event, self.on_succeeded = on_event, on_succeeded
        self.run_buttons: list = []
        self.stop_buttons: list = []
        self.active = False  # from the start until the panel has shown the job's end (its thread may run on)
        slot.event.connect(self._event)
        slot.succeeded.connect(self._succeeded)
        slot.failed.connect(self._failed)
        slot.stopped.connect(self._stopped)
        slot.running_changed.connect(self._running_changed)

    def _event(self, event) -> None:
        if isinstance(event, Progress):
            self.panel.show_progress(event)
        self.on_event(event)

    def _succeeded(self, result) -> None:
        self.on_succeeded(result)
        self.panel.jobs_succeeded += 1
        self._ended()

    def _failed(self, title: str, message: str) -> None:
        self.panel.job_failed(title, message)
        self._ended()

    def _stopped(self) -> None:
        if self.panel.stopped_text is not None:
            self.panel.show_status(self.panel.stopped_text)
        self.panel.job_stopped()
        self._ended()

    def _ended(self) -> None:
        self.active = False
        self.panel.jobs_ended += 1

    def _running_changed(self, running: bool) -> None:
        if running:
            self.active = True
        for button in self.run_buttons:
            button.setEnabled(not running)
        for button in self.stop_buttons:
            button.setEnabled(running)
        self.panel.job_running_changed(running)


class JobPanel(Panel):
    """A panel that runs jobs, wired once here (after Orange3's ConcurrentWidgetMixin).

    Each JobSlot gets: its Run buttons off and Stop buttons on while a job runs
    (`set_job_buttons`), Progress events on the status line (`status_line`, a label the
    panel sets), "Stopped." (`stopped_text`) when the user stops it, and every end
    (success, failure or stop) counted in `jobs_ended` (`jobs_succeeded` counts the
    successes) after the panel has shown it, so tests and screenshots can wait on it.
    Subclasses implement `on_job_event(event)` and `on_job_succeeded(result)`, and may
    override the hooks `job_failed`, `job_stopped` and `job_running_changed`.
    A panel whose jobs are independent adds a slot per kind with `add_job_slot`.
    """

    stopped_text: str | None = "Stopped."  # None: the panel words it in job_stopped

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.jobs_ended = 0
        self.jobs_succeeded = 0
        self.status_line = None  # a QLabel for progress and stop messages (set by the panel)
        self._wirings: dict[JobSlot, _SlotWiring] = {}
        self._wirings[self.jobs] = _SlotWiring(self, self.jobs, self.on_job_event, self.on_job_succeeded)

    def add_job_slot(self, on_event, on_succeeded) -> JobSlot:
        """A second, independent job slot (its jobs do not cancel the main slot's)."""
        slot = JobSlot(self)
        slot.failed.connect(self._on_job_failed)
        self._wirings[slot] = _SlotWiring(self, slot, on_event, on_succeeded)
        return slot

    def set_job_buttons(self, run=(), stop=(), slot: JobSlot | None = None) -> None:
        """Buttons that start (off while running) and stop (on while running) `slot`'s jobs."""
        wiring = self._wirings[slot or self.jobs]
        wiring.run_buttons, wiring.stop_buttons = list(run), list(stop)
        running = wiring.slot.running
        for button in wiring.run_buttons:
            button.setEnabled(not running)
        for button in wiring.stop_buttons:
            button.setEnabled(running)

    def job_slots(self) -> list[JobSlot]:
        return list(self._wirings)

    @property
    def job_running(self) -> bool:
        """A job's thread is running (it may still be finishing after its end was shown)."""
        return any(slot.running for slot in self._wirings)

    @property
    def job_active(self) -> bool:
        """A job has started and its end (result, failure or stop) has not been shown yet."""
        return any(wiring.active for wiring in self._wirings.values())

    def stop(self) -> None:
        """Stop every job of this panel (their later events are dropped as stale)."""
        for slot in self._wirings:
            slot.stop()

    def shutdown(self) -> None:
        for slot in self._wirings:
            slot.stop()

    def run_and_wait(self, start, timeout_s: float) -> bool:
        """Call `start()` (True when it started a job) and process events until that job's
        end was shown here (screenshots, tests)."""
        from gui.screenshots import wait_for

        before = self.jobs_ended
        return bool(start()) and wait_for(lambda: self.jobs_ended > before, timeout_s)

    # Hooks.
    def on_job_event(self, event) -> None:
        pass

    def on_job_succeeded(self, result) -> None:
        pass

    def show_status(self, text: str) -> None:
        if self.status_line is not None:
            self.status_line.setText(text)

    def show_progress(self, event: Progress) -> None:
        if event.message:
            self.show_status(event.message)

    def job_failed(self, title: str, message: str) -> None:
        """After the message box (Panel shows it): the panel may show the failure too."""

    def job_stopped(self) -> None:
        pass

    def job_running_changed(self, running: bool) -> None:
        pass
