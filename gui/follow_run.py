"""File -> Follow run…: watch a run folder that another process is writing (a headless
`train --out`, a job on another machine over a shared or synced folder). Its events go to the
Training panel, and through it to Filters and Layer statistics, as if the run were trained here;
when the run is finished its checkpoint is opened like File -> Load; a run that stopped early
(its writer said so or is gone) is reported as incomplete and its last complete epoch is opened. The folder is read by
engine.run_log (complete lines only, arrays once whole), a few hundred events per tick."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

POLL_MS = 250
EVENTS_PER_TICK = 300  # a long backlog is drawn over several ticks; the window stays responsive


class RunFollower(QObject):
    finished = Signal(str)  # the folder, once its run is complete and opened

    def __init__(self, ctx, training_panel, parent: QObject | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.training = training_panel
        self.reader = None
        self.folder: Path | None = None
        self.epochs_seen = 0
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)

    @property
    def following(self) -> bool:
        return self.timer.isActive()

    def follow(self, folder: str | Path) -> bool:
        from engine.run_log import RunLogError, RunLogReader

        self.stop()
        try:
            self.reader = RunLogReader(folder)
        except RunLogError as exc:
            self.ctx.show_error(exc.title, str(exc))
            return False
        self.folder = Path(folder)
        self.epochs_seen = 0
        self.training.begin_following(self.folder.name)
        self.ctx.status(f"Following the run in {self.folder}…")
        self.timer.start()
        self.poll()
        return True

    def stop(self) -> None:
        self.timer.stop()
        self.reader = None

    def poll(self) -> None:
        from engine.train import EpochEnd

        if self.reader is None:
            return
        try:
            events = self.reader.poll(EVENTS_PER_TICK)
        except OSError as exc:  # the folder went away (an unplugged share): say so, stop following
            self.stop()
            self.ctx.show_error("Run folder", f"Stopped following {self.folder}: {exc.strerror or exc}.")
            return
        for event in events:
            self.training.show_followed_event(event)
            if isinstance(event, EpochEnd):
                self.epochs_seen += 1
        if events:
            self.training.status_label.setText(f"Following {self.folder.name}: {self.epochs_seen} epoch(s) so far")
        caught_up = len(events) < EVENTS_PER_TICK
        if caught_up and self.reader.finished is None and self.reader.status() == "incomplete":
            self._end_incomplete()
            return
        if self.reader.finished is not None and caught_up and (self.folder / "checkpoint.pt").is_file():
            folder = self.folder
            self.stop()
            if self.training.load_checkpoint(folder):
                self.training.status_label.setText(f"Followed {folder.name} to its end: the run is open.")
            self.finished.emit(str(folder))

    def _end_incomplete(self) -> None:
        """The writer stopped early (a dead rank, Ctrl+C, a killed process): say so, and open the
        last complete epoch's checkpoint if there is one."""
        folder, sentence, kept = self.folder, self.reader.describe_end(), bool(self.reader.checkpoints)
        self.stop()
        if kept:
            self.training.load_checkpoint(folder)
        self.training.status_label.setText(sentence)
        self.ctx.status(sentence)
