"""Experiment panel: a lesson's experiment run in one click, its runs side by side.

The engine (engine/lessons.py) runs every run of the lesson with the same seed and
measures the lecture's point; this panel draws each run's per-epoch loss and accuracy
(training solid, validation dashed, as in the lesson command's PNG), lists the runs (a
failed or diverged run stays, marked, with its curve up to the failure) and shows the
measured effect in large type,
e.g. "gap 18.4 points -> 8.8 with L2", with the threshold it must reach.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QProgressBar, QPushButton, QSplitter, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from engine.events import Progress
from gui import settings, theme
from gui.panels.base import Panel
from gui.widgets.flow import as_strip
from gui.widgets.image_view import ImageView
from gui.widgets.live_plot import LivePlot

RUN_COLUMNS = ("Run", "Status", "Train acc %", "Val acc %", "Gap (points)", "Val loss", "Seconds")


def _lesson_engine():
    # engine.lessons pulls in numpy and, for its jobs, torch: imported when first used.
    from engine import lessons

    return lessons


class _Pane(QWidget):
    """A splitter pane that asks only for its minimum: the panel then fits the window's height
    (its word-wrapped headline makes the window size it by height-for-width, which adds up the
    panes' size hints, and full-size plot hints made the whole panel scroll at 1280x800)."""

    def sizeHint(self):  # noqa: N802 (Qt name)
        return self.minimumSizeHint()


class ExperimentPanel(Panel):
    title = "Experiment"
    description = "Run a lesson's experiment: every run side by side and the measured effect."

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.result = None
        self.lesson_id: str | None = None
        self._series: dict[tuple[int, int], str] = {}  # (run, member) -> series label
        self._labels: list[str] = []
        self._step_series: set[int] = set()
        self._measures: dict[str, str] = {}  # lesson id -> measure name
        self._kinds: dict[str, str] = {}  # lesson id -> 'training', 'imagenet', 'features', ...

        layout = QVBoxLayout(self)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Lesson:"))
        self.lesson_combo = QComboBox()
        self.lesson_combo.setToolTip("The lessons that have an experiment, in lecture order.")
        self.lesson_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.lesson_combo.setMinimumContentsLength(16)
        controls.addWidget(self.lesson_combo, 1)
        self.run_button = QPushButton("Run the experiment")
        self.run_button.setToolTip("Train every run of this lesson (same seed) and measure its point.")
        self.run_button.clicked.connect(self.run_current)
        controls.addWidget(self.run_button)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        controls.addWidget(self.stop_button)
        layout.addWidget(as_strip(controls))  # wraps instead of widening the panel
        # Dog vs food: no package ships dog photos, so the lesson runs on the user's own folder.
        folder_row = QHBoxLayout()
        self.folder_label = QLabel("Photo folder (dog/ and food/ inside):")
        self.folder_edit = QLineEdit(settings.lesson_photo_folder())
        self.folder_edit.setPlaceholderText("a folder with dog/ and food/ (or test-dog/ and test-food/) sub-folders")
        self.folder_button = QPushButton("Choose…")
        self.folder_button.clicked.connect(self._choose_folder)
        for widget in (self.folder_label, self.folder_edit, self.folder_button):
            folder_row.addWidget(widget, 1 if widget is self.folder_edit else 0)
        layout.addLayout(folder_row)
        self.lesson_combo.currentIndexChanged.connect(self._on_lesson_changed)

        self.headline = QLabel("Choose a lesson and press Run the experiment.")
        self.headline.setWordWrap(True)
        self.headline.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.headline.setObjectName("ExperimentHeadline")
        self._style_headline()
        layout.addWidget(self.headline)
        self.criteria_label = QLabel("")
        self.criteria_label.setWordWrap(True)
        self.criteria_label.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        layout.addWidget(self.progress)

        splitter = QSplitter(Qt.Vertical)
        plots = _Pane()
        row = QHBoxLayout(plots)
        row.setContentsMargins(0, 0, 0, 0)
        # No legends over the data: the runs table names each colour; dashed = validation.
        self.loss_plot = LivePlot("Loss", "epoch", "loss", whole_number_x=True)
        self.acc_plot = LivePlot("Accuracy %", "epoch", "accuracy %", whole_number_x=True)
        for plot in (self.loss_plot, self.acc_plot):
            plot.legend.hide()
        self.step_plot = LivePlot("Loss per step", "step", "loss")
        self.step_plot.hide()  # only the mini-batch lesson sends per-step losses
        # Regularization lessons: how many weights L1 drives to (almost) zero.
        self.weights_plot = LivePlot("Weights: log10 |w|", "log10 |w|", "count", si_prefix=False)
        self.weights_plot.hide()
        for plot in (self.loss_plot, self.acc_plot, self.step_plot, self.weights_plot):
            plot.plot_widget.setMinimumHeight(120)  # the runs table must fit below at 200 % on 800 px
            row.addWidget(plot, 1)
        self.image_view = ImageView()
        self.image_view.hide()  # the ImageNet lessons show their picture here
        row.addWidget(self.image_view, 1)
        splitter.addWidget(plots)
        self.runs_table = QTableWidget(0, len(RUN_COLUMNS))
        # Two-line headers and an elided run name / status: at 200 % on 1280x800 the one-line headers
        # pushed Val acc and Gap behind a horizontal scroll bar.
        self.runs_table.setHorizontalHeaderLabels([name.replace(" ", "\n", 1) for name in RUN_COLUMNS])
        self.runs_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.runs_table.verticalHeader().setVisible(False)
        self.runs_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.runs_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        self.runs_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.Stretch)
        self.runs_table.horizontalHeader().setMinimumSectionSize(8)
        self.runs_table.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.runs_table.setMinimumHeight(self.fontMetrics().height() * 4)
        theme.follow_font(self.runs_table)  # rows follow the text size
        self.runs_table.setToolTip("Each run's name is in its curves' colour; solid lines are training, "
                                   "dashed lines validation.")
        bottom = _Pane()
        bottom_row = QHBoxLayout(bottom)
        bottom_row.setContentsMargins(0, 0, 0, 0)
        bottom_row.addWidget(self.runs_table, 3)
        bottom_row.addWidget(self.criteria_label, 2)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        layout.addWidget(splitter, 1)

        self.jobs.event.connect(self._on_event)
        self.jobs.succeeded.connect(self._on_result)
        self.jobs.failed.connect(self._on_failed)
        self.jobs.stopped.connect(self._on_stopped)
        self.jobs.running_changed.connect(self._on_running_changed)
        theme.notifier.changed.connect(self._style_headline)
        self._fill_lessons()
        self._on_lesson_changed()

    # ----- lessons
    def _fill_lessons(self) -> None:
        try:
            lessons = _lesson_engine().experiments()
        except Exception as exc:  # a broken lessons file must not break the window
            self.headline.setText(f"The lesson experiments cannot be read: {exc}")
            self.run_button.setEnabled(False)
            return
        for exp in lessons:
            self.lesson_combo.addItem(exp.title, exp.lesson_id)
            self._measures[exp.lesson_id] = exp.measure
            self._kinds[exp.lesson_id] = exp.kind

    def _needs_folder(self) -> bool:
        return self._measures.get(str(self.lesson_combo.currentData() or "")) == "dog_vs_food"

    def _on_lesson_changed(self, *_args) -> None:
        for widget in (self.folder_label, self.folder_edit, self.folder_button):
            widget.setVisible(self._needs_folder())
        if self._needs_folder() and not self.folder_edit.text().strip():
            self.headline.setText("Dog vs food needs your own photos: choose a folder with two sub-folders, "
                                  "dog/ and food/ (or test-dog/ and test-food/), at least 5 photos each.")

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder with dog/ and food/ sub-folders",
                                                  self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def select_lesson(self, lesson_id: str) -> bool:
        index = self.lesson_combo.findData(lesson_id)
        if index >= 0:
            self.lesson_combo.setCurrentIndex(index)
        return index >= 0

    def run_lesson(self, lesson_id: str, quick: bool = False) -> None:
        if not self.select_lesson(lesson_id):
            self.ctx.show_error("Lesson problem", f"The lesson '{lesson_id}' has no experiment.")
            return
        self.run_current(quick=quick)

    def run_current(self, quick: bool = False) -> None:
        lesson_id = self.lesson_combo.currentData()
        if not lesson_id:
            return
        self.lesson_id = str(lesson_id)
        context = {}
        if self._needs_folder():
            folder = self.folder_edit.text().strip()
            if folder:
                settings.save_lesson_photo_folder(folder)
                context["folder"] = folder
        self._reset()
        # Curves and the runs table belong to training experiments; the others show pictures.
        training = self._kinds.get(self.lesson_id) == "training"
        for widget in (self.loss_plot, self.acc_plot, self.runs_table):
            widget.setVisible(training)
        self.headline.setText(f"Running: {self.lesson_combo.currentText()}…")
        self.jobs.start(lambda: _lesson_engine().experiment_job(self.lesson_id, quick=quick, context=context))

    def stop(self) -> None:
        self.jobs.stop()

    # ----- drawing
    def _style_headline(self) -> None:
        font = QFont(self.font())
        font.setPointSizeF(theme.point_size(1.25))
        font.setBold(True)
        self.headline.setFont(font)

    def _reset(self) -> None:
        self.result = None
        self._series.clear()
        self._labels = []
        self._step_series.clear()
        for plot in (self.loss_plot, self.acc_plot, self.step_plot, self.weights_plot):
            for name in plot.series_names():
                plot.remove_series(name)
        self.step_plot.hide()
        self.weights_plot.hide()
        self.image_view.hide()
        self.runs_table.setRowCount(0)
        self.criteria_label.setText("")
        self.progress.setValue(0)

    def _series_for(self, run: int, member: int) -> str:
        key = (run, member)
        if key not in self._series:
            label = self._labels[run] if run < len(self._labels) else f"run {run + 1}"
            if member:
                label = f"{label} #{member + 1}"
            colour = run if not member else run + 2 * member
            for plot in (self.loss_plot, self.acc_plot):
                plot.add_series(f"{label} train", colour, in_legend=False)
                plot.add_series(f"{label} val", colour, dashed=True)
            self._series[key] = label
        return self._series[key]

    def _on_event(self, event) -> None:
        lessons = _lesson_engine()
        if isinstance(event, lessons.LessonStarted):
            self._labels = [str(label or name) for name, label in zip(event.run_names, event.run_labels)]
            self.runs_table.setRowCount(len(self._labels))
            for row, label in enumerate(self._labels):
                self._set_row(row, [label, "waiting"])
                self._colour_run_name(row)
        elif isinstance(event, lessons.LessonRunStarted):
            self._set_row(event.run, [self._labels[event.run] if event.run < len(self._labels) else event.label,
                                      "training…"])
        elif isinstance(event, lessons.LessonEpoch):
            label = self._series_for(event.run, event.member)
            x = event.epoch + 1
            for plot, train, val, scale in ((self.loss_plot, event.train_loss, event.val_loss, 1.0),
                                            (self.acc_plot, event.train_acc, event.val_acc, 100.0)):
                plot.append(f"{label} train", x, train * scale)
                plot.append(f"{label} val", x, val * scale)
        elif isinstance(event, lessons.LessonStep):
            if self._measures.get(self.lesson_id or "") != "batch_noise":
                return  # per-step noise is the mini-batch lesson's point; elsewhere it crowds the view
            if event.run not in self._step_series:
                self._step_series.add(event.run)
                label = self._labels[event.run] if event.run < len(self._labels) else f"run {event.run + 1}"
                self.step_plot.add_series(label, event.run)
                self.step_plot.legend.hide()  # the table names the colours
                self.step_plot.show()
            label = self._labels[event.run] if event.run < len(self._labels) else f"run {event.run + 1}"
            self.step_plot.append(label, event.step, event.loss)
        elif isinstance(event, lessons.LessonRunFinished):
            self._fill_run_row(event.run, event.status, event.error, event.figures)
        elif isinstance(event, lessons.LessonImage):
            self.image_view.set_image(np.asarray(event.image))
            self.image_view.show()
        elif isinstance(event, Progress):
            self.progress.setValue(int(1000 * event.fraction))
            self.progress.setFormat(event.message or "")

    def _colour_run_name(self, row: int) -> None:
        """The run's name in its curve colour: the table is the plots' legend."""
        item = self.runs_table.item(row, 0)
        if item is not None:
            from PySide6.QtGui import QBrush, QColor

            item.setForeground(QBrush(QColor(theme.colour(row))))
            font = item.font()
            font.setBold(True)
            item.setFont(font)

    def _set_row(self, row: int, values: list) -> None:
        if row >= self.runs_table.rowCount():
            self.runs_table.setRowCount(row + 1)
        for column, value in enumerate(values):
            self.runs_table.setItem(row, column, QTableWidgetItem(str(value)))

    def _fill_run_row(self, row: int, status: str, error: str, figures: dict) -> None:
        def number(key, scale=1.0, digits=1):
            value = figures.get(key)
            return "" if value is None else f"{float(value) * scale:.{digits}f}"

        label = self._labels[row] if row < len(self._labels) else f"run {row + 1}"
        status_text = "ok" if status == "ok" else f"FAILED: {error}"
        self._set_row(row, [label, status_text, number("train_acc", 100), number("val_acc", 100),
                            number("gap_points"), number("val_loss", 1, 3), number("seconds", 1, 1)])
        self._colour_run_name(row)
        if status != "ok":
            item = self.runs_table.item(row, 1)
            item.setForeground(Qt.red)
            item.setToolTip(error)

    def _on_result(self, result) -> None:
        if not isinstance(result, _lesson_engine().LessonResult):
            return
        self.result = result
        mark = "✓" if result.shows_point else "✗"
        text = f"{mark} {result.summary}"
        if not result.shows_point and result.reason:
            text += f" — {result.reason}"
        self.headline.setText(text)
        self.criteria_label.setText("\n".join(
            [f"{'✓' if c.met else '✗'} {c.text}" for c in result.criteria]
            + (["", "Curves: solid = training, dashed = validation; colours as in the table."]
               if self._kinds.get(result.lesson_id) == "training" else [])))
        for row, run in enumerate(result.runs):
            self._fill_run_row(row, run.status, run.error, {**run.figures, "seconds": run.seconds})
        self._show_weight_histograms(result)
        for name, image in (result.images or {}).items():
            self.image_view.set_image(np.asarray(image))
            self.image_view.show()
            break
        self.progress.setValue(1000)
        self.progress.setFormat(f"done in {result.seconds:.1f} s")
        self.ctx.status(f"Experiment: {result.summary}")

    def _show_weight_histograms(self, result) -> None:
        if result.measure != "sparsity":
            return
        for index, run in enumerate(result.runs):
            hist = run.curves.get("weight_log10_hist")
            if hist is None:
                continue
            counts, edges = hist
            centres = (np.asarray(edges[:-1]) + np.asarray(edges[1:])) / 2
            share = run.figures.get("share_below_1e-3")
            label = run.label or run.name
            if share is not None:
                label += f" ({100 * share:.0f} % below 1e-3)"
            self.weights_plot.add_series(label, index, symbol="o")
            self.weights_plot.set_points(label, centres.tolist(), np.asarray(counts, dtype=float).tolist())
        self.weights_plot.show()

    def _on_failed(self, title: str, message: str) -> None:
        self.headline.setText(f"✗ The experiment stopped: {message}")

    def _on_stopped(self) -> None:
        self.headline.setText("Stopped. Press Run the experiment to start again.")

    def _on_running_changed(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.lesson_combo.setEnabled(not running)

    # ----- workspaces and lessons
    def save_state(self) -> dict:
        return {"lesson": self.lesson_combo.currentData() or ""}

    def restore_state(self, state: dict) -> None:
        if state.get("lesson"):
            self.select_lesson(str(state["lesson"]))

    def apply_lesson(self, setup: dict) -> None:
        unknown = set(setup) - {"lesson", "run"}
        if unknown:
            from engine.errors import ConvScopeError

            raise ConvScopeError(f"Unknown Experiment setting(s): {', '.join(sorted(unknown))}.")
        if setup.get("lesson"):
            self.select_lesson(str(setup["lesson"]))
            if setup.get("run"):
                self.run_current()
