"""Training panel: every in-form training setting of the schema as a form (gui/widgets/
training_form.py), the learning-rate curve before training, and the live run (loss,
accuracy, learning rate, throughput, progress with ETA: gui/widgets/training_curves.py),
pause / resume / stop, compare runs (gui/widgets/training_runs.py), ensembles, checkpoints.

Event handlers only store numbers; the LivePlot widgets and a 10 Hz status
timer redraw, so the window stays responsive while the worker trains.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSplitter, QVBoxLayout,
                               QWidget)

from engine.checkpoint import load_run, save_run
from engine.errors import ConvScopeError
from engine.schedules import steps_per_epoch_for
from engine.spec import analyze, total_params
from engine.train import TrainResult, TrainSettings, train_job
from engine.train_settings import TRAIN_SETTINGS
from gui.panels.base import Panel
from gui.widgets.quiet_label import QuietLabel
from gui.widgets.shortcuts import add_shortcuts
from gui.widgets.training_curves import TrainingCurves, format_seconds, status_text
from gui.widgets.training_form import TrainingForm
from gui.widgets.training_runs import RunsTable

# Settings the Data panel owns (shared through ctx.data_options): the schema's "Data" group
# but the dataset, which is ctx.dataset.
DATA_FIELDS = tuple(s.name for s in TRAIN_SETTINGS if s.group == "Data" and s.name != "dataset")
DEFAULT_TRAIN_IMAGES = 4000  # MNIST-5k's training split, until the Data panel reports the real size


class _TrainingJob:
    """Job factory: load the dataset (cached by the engine) in the worker, then train."""

    def __init__(self, spec, dataset: str, settings: TrainSettings, options: dict | None = None):
        self.spec = spec.copy()
        self.dataset = dataset
        self.settings = settings
        self.options = dict(options or {})  # e.g. an image folder's root and size

    def __call__(self):
        return self._run()

    def _run(self):
        from engine.data import load_dataset

        data = load_dataset(self.dataset, **self.options)
        return (yield from train_job(self.spec, data, self.settings))


class TrainingPanel(Panel):
    title = "Training"
    description = "Train the network live: SGD, momentum, learning-rate schedules, regularization, ensembles."

    RUN_COLUMNS = RunsTable.COLUMNS
    KEY_RUN_COLUMNS = RunsTable.KEY_COLUMNS

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.last_result: TrainResult | None = None
        self._build_ui()
        self.set_settings(TrainSettings().to_dict())
        self.jobs.event.connect(self._on_event)
        self.jobs.succeeded.connect(self._on_succeeded)
        self.jobs.stopped.connect(self._on_stopped)
        self.jobs.failed.connect(self._on_failed)
        self.jobs.running_changed.connect(self._update_buttons)
        self.jobs.paused_changed.connect(self._update_buttons)
        ctx.spec_changed.connect(self._on_context_changed)
        ctx.dataset_changed.connect(self._on_context_changed)
        if hasattr(ctx, "data_options_changed"):
            ctx.data_options_changed.connect(self._on_context_changed)
        self._status_timer = QTimer(self)
        # 2 Hz: a progress bar repaints at once on every new value, holding the GIL training needs.
        self._status_timer.setInterval(500)
        self._status_timer.timeout.connect(self._refresh_status)
        self._update_buttons()
        self._on_context_changed()

    # ------------------------------------------------------------------ UI
    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self.form.fit_width()  # measured once the fonts and styles are final

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().changeEvent(event)
        if event.type() in (QEvent.FontChange, QEvent.StyleChange) and hasattr(self, "form"):
            self.form.fit_width()  # the text size changed while the app runs

    def _build_ui(self) -> None:
        root = QHBoxLayout(self)
        splitter = QSplitter(Qt.Horizontal)
        root.addWidget(splitter)

        # Left: the settings form (scrollable) and the run controls.
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.form = self.settings_scroll = TrainingForm()
        self.form.changed.connect(self._on_settings_changed)
        self.form_host, self.editors, self.rows = self.form.host, self.form.editors, self.form.rows
        self.context_label, self.lr_plot = self.form.context_label, self.form.lr_plot
        self.schedule_compare = self.form.schedule_compare
        left_layout.addWidget(self.form, 1)
        self.problems_label = QLabel()
        self.problems_label.setWordWrap(True)
        self.problems_label.setStyleSheet("color: #8a1c0c;")
        self.problems_label.hide()  # shown only when there is a problem: the settings get the room
        left_layout.addWidget(self.problems_label)

        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Train the network from the Network panel with these settings (Ctrl+Return).")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Pause or resume the run between two batches (Ctrl+P).")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the run; curves so far stay on screen (Ctrl+.).")
        for button, slot in ((self.start_button, self.start_training), (self.pause_button, self.toggle_pause),
                             (self.stop_button, self.stop_training)):
            button.clicked.connect(slot)
            buttons.addWidget(button)
        left_layout.addLayout(buttons)
        add_shortcuts(self, (("Ctrl+Return", self.start_training, "Start training"),
                             ("Ctrl+Enter", self.start_training, "Start training (keypad Enter)"),
                             ("Ctrl+P", self.toggle_pause, "Pause / resume training"),
                             ("Ctrl+.", self.stop_training, "Stop training")))
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        left_layout.addWidget(self.progress)
        self.status_label = QuietLabel("Ready.")  # changes twice a second while training
        left_layout.addWidget(self.status_label)
        self.form.fit_width()
        splitter.addWidget(left)

        # Right: loss and accuracy, and tabs with the runs table, ensemble, learning rate, throughput.
        self.runs = RunsTable()
        self.runs.overlay_toggled.connect(self.set_overlay)
        self.runs.save_button.clicked.connect(self._on_save_clicked)
        self.runs.load_button.clicked.connect(self._on_load_clicked)
        self.runs.clear_button.clicked.connect(self.clear_runs)
        self.runs_table, self.save_button = self.runs.table, self.runs.save_button
        self.load_button, self.clear_runs_button = self.runs.load_button, self.runs.clear_button
        self.curves = TrainingCurves(self.runs, self.lr_plot)
        self.loss_plot, self.acc_plot = self.curves.loss_plot, self.curves.acc_plot
        self.run_lr_plot, self.speed_plot = self.curves.run_lr_plot, self.curves.speed_plot
        self.ensemble_table, self.result_tabs = self.curves.ensemble_table, self.curves.result_tabs
        splitter.addWidget(self.curves)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([400, 1000])

    @property
    def finished_runs(self) -> list[dict]:
        """name, settings, history, summary of every finished run (kept for comparing)."""
        return self.runs.runs

    # ------------------------------------------------------------------ settings <-> form
    def form_values(self) -> dict:
        return self.form.values()

    def settings(self) -> TrainSettings:
        """TrainSettings from the form plus the dataset and data options the Data panel shares."""
        values = self.form_values()
        values["dataset"] = self.ctx.dataset
        options = getattr(self.ctx, "data_options", None) or {}
        for name in DATA_FIELDS:
            if name in options:
                values[name] = options[name]
        return TrainSettings(**values)

    def set_settings(self, values: dict) -> None:
        """Put known TrainSettings fields into the form (others are ignored)."""
        self.form.set_values(values)
        self._on_settings_changed()

    def _on_settings_changed(self) -> None:
        self.form.update_dependents(self.form_values())
        try:
            settings = self.settings()
            problems = settings.problems()
        except (TypeError, ValueError) as exc:
            settings, problems = None, [str(exc)]
        if settings is not None and not problems:
            steps = steps_per_epoch_for(self._train_images(), settings.batch_size)
            problem = self.form.show_plan(settings, steps, keep_used=self.jobs.running)
            problems = [problem] if problem else []
        self.problems_label.setText("\n".join(problems))
        self.problems_label.setVisible(bool(problems))

    def _train_images(self) -> int:
        info = getattr(self.ctx, "dataset_info", None)
        if isinstance(info, dict) and info.get("name") == self.ctx.dataset and info.get("n_train"):
            return int(info["n_train"])
        return DEFAULT_TRAIN_IMAGES

    def _on_context_changed(self, *_args) -> None:
        spec = self.ctx.spec
        if spec is None:
            network = "no network yet (build one in the Network panel)"
        else:
            infos = analyze(spec)
            bad = next((i for i in infos if i.error), None)
            network = f"{spec.name} ({total_params(infos):,} parameters)"
            if bad is not None:
                network += f" — layer {bad.index + 1} is impossible, see the Network panel"
        options = getattr(self.ctx, "data_options", None) or {}
        preprocessing = options.get("normalization", TrainSettings.normalization).replace("_", " ")
        augment = [name for name in DATA_FIELDS if name != "normalization" and options.get(name)]
        self.context_label.setText(
            f"<b>Network:</b> {network}<br><b>Data:</b> {self.ctx.dataset} · {preprocessing} · "
            f"augmentation: {', '.join(augment) if augment else 'none'} <i>(set in the Data panel)</i>")
        self._on_settings_changed()

    # ------------------------------------------------------------------ run control
    def start_training(self) -> None:
        if self.jobs.running:
            return
        spec = self.ctx.spec
        if spec is None:
            self.ctx.show_error("No network", "Build or load a network in the Network panel first.")
            return
        bad = next((info for info in analyze(spec) if info.error), None)
        if bad is not None or not spec.layers:
            reason = f"Layer {bad.index + 1} ({bad.name}): {bad.error}" if bad else "The network has no layers."
            self.ctx.show_error("Impossible architecture", f"{reason} Fix it in the Network panel first.")
            return
        try:
            settings = self.settings()
        except (TypeError, ValueError) as exc:
            self.ctx.show_error("Training settings", str(exc))
            return
        problems = settings.problems()
        if problems:
            self.ctx.show_error("Training settings", " ".join(problems))
            return
        self.curves.reset()
        self.progress.setValue(0)
        self.progress.setFormat("starting…")
        self.status_label.setText("Loading data and building the model…")
        info = getattr(self.ctx, "dataset_info", None)
        options = info.get("options") if isinstance(info, dict) and info.get("name") == self.ctx.dataset else None
        self.jobs.start(_TrainingJob(spec, self.ctx.dataset, settings, options))
        self._status_timer.start()

    def toggle_pause(self) -> None:
        if not self.jobs.running:
            return
        if self.jobs.paused:
            self.jobs.resume()
        else:
            self.jobs.pause()

    def stop_training(self) -> None:
        if self.jobs.running:
            self.jobs.stop()  # -> _on_stopped

    def _update_buttons(self, *_args) -> None:
        running = self.jobs.running
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.stop_button.setEnabled(running)
        self.pause_button.setText("Resume" if running and self.jobs.paused else "Pause")
        self.form_host.setEnabled(not running)  # settings are fixed while a run uses them
        self.load_button.setEnabled(not running)

    # ------------------------------------------------------------------ events (store only; timers draw)
    def _on_event(self, event) -> None:
        self.ctx.training_event.emit(event)
        self.curves.handle(event)

    # A run another process writes (gui/follow_run.py): its events arrive here instead of from a job.
    def begin_following(self, name: str) -> None:
        self.curves.reset()
        self.progress.setFormat(f"following {name}")

    def show_followed_event(self, event) -> None:
        from engine.train import BatchEnd

        self._on_event(event)
        if isinstance(event, BatchEnd):
            self.progress.setValue(int(event.fraction * 1000))

    def _refresh_status(self) -> None:
        live = self.curves.live
        if not live or not self.jobs.running:
            return
        fraction = live.get("fraction", 0.0)
        self.progress.setValue(int(fraction * 200) * 5)  # steps of 0.5 %: fewer repaints
        self.progress.setFormat(f"{fraction:.0%} · ETA {format_seconds(live.get('eta', float('nan')))}")
        prefix = "Paused · " if self.jobs.paused else ""
        self.status_label.setText(prefix + status_text(live))

    # ------------------------------------------------------------------ endings
    def _finish(self, message: str, progress_text: str = "stopped") -> None:
        self._status_timer.stop()
        self.curves.end_run()
        self.status_label.setText(message)
        self.progress.setFormat(progress_text)
        self._update_buttons()

    def _on_succeeded(self, result) -> None:
        if not isinstance(result, TrainResult):
            return
        self.last_result = result
        self.progress.setValue(1000)
        summary = result.summary
        self.add_finished_run(result.run.name, result.run.settings, result.run.history, summary)
        self.ctx.set_run(result.run)
        train_acc, val_acc = summary.get("train_acc", float("nan")), summary.get("val_acc", float("nan"))
        history = result.run.history
        if history.get("train_eval_acc"):  # measured like validation (dropout and augmentation off)
            train_acc = history["train_eval_acc"][-1]
        text = (f"Finished: train acc {train_acc:.1%}, val acc {val_acc:.1%}, "
                f"gap {100 * (train_acc - val_acc):.1f} points, "
                f"{summary.get('images_per_sec', float('nan')):,.0f} images/s, {summary.get('seconds', 0):.1f} s")
        if "ensemble_val_acc" in summary:
            text += f"; ensemble val acc {summary['ensemble_val_acc']:.1%}"
        self._finish(text, "100% · done")
        self.ctx.status(text)

    def _on_stopped(self) -> None:
        self._finish("Stopped. The curves so far stay on screen.")

    def _on_failed(self, title: str, message: str) -> None:
        # The base class already shows the message box; keep the curves, free the buttons.
        self._finish(f"{title}: {message}", "failed")

    # ------------------------------------------------------------------ compare runs
    def add_finished_run(self, name: str, settings: dict, history: dict, summary: dict | None = None) -> None:
        self.runs.add(name, settings, history, summary)

    def set_overlay(self, index: int, shown: bool) -> None:
        self.runs.set_ticked(index, shown)
        self.curves.show_run(self.finished_runs[index], index, shown)

    def clear_runs(self) -> None:
        for index in range(len(self.finished_runs)):
            self.set_overlay(index, False)
        self.runs.clear()

# ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, folder: str | Path) -> bool:
        run = self.ctx.run
        if run is None:
            self.ctx.show_error("Nothing to save", "Train a network (or load one) before saving a checkpoint.")
            return False
        try:
            save_run(folder, run)
        except (ConvScopeError, OSError) as exc:
            title = exc.title if isinstance(exc, ConvScopeError) else "Checkpoint problem"
            self.ctx.show_error(title, f"Could not save to {folder}: {exc}")
            return False
        self.ctx.status(f"Saved {run.name} to {folder}")
        return True

    def load_checkpoint(self, path: str | Path) -> bool:
        try:
            run = load_run(path)
        except ConvScopeError as exc:
            self.ctx.show_error(exc.title, str(exc))
            return False
        except OSError as exc:
            self.ctx.show_error("Checkpoint problem", f"Could not read {path}: {exc}")
            return False
        self.add_finished_run(f"{run.name} (loaded)", run.settings, run.history,
                              (run.history.get("summary") or [{}])[0])
        self.ctx.set_run(run)
        self.ctx.status(f"Loaded {run.name} from {path}")
        return True

    def _on_save_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save run into folder")
        if folder:
            self.save_checkpoint(folder)

    def _on_load_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open run folder")
        if folder:
            self.load_checkpoint(folder)

    # ------------------------------------------------------------------ workspaces, lessons, screenshots
    def save_state(self) -> dict:
        return {"settings": self.form_values(),
                "runs": [{k: entry[k] for k in ("name", "settings", "history", "summary")}
                         for entry in self.finished_runs]}

    def restore_state(self, state: dict) -> None:
        if not isinstance(state, dict):
            return
        if isinstance(state.get("settings"), dict):
            self.set_settings(state["settings"])
        if isinstance(state.get("runs"), list):
            self.clear_runs()
            for entry in state["runs"]:
                if isinstance(entry, dict):
                    name = str(entry.get("name", "run")).split(" ", 1)[-1]
                    self.add_finished_run(name, entry.get("settings") or {}, entry.get("history") or {},
                                          entry.get("summary") or {})

    def apply_lesson(self, setup: dict) -> None:
        if isinstance(setup.get("settings"), dict):
            self.set_settings(setup["settings"])
        if setup.get("start"):
            self.start_training()
