"""Diagram panel: the whole network for one probe image, left to right, as it is now: one column of
feature maps per layer with its shape, fully connected layers as bars, the prediction at the end.
While the network trains it follows the training (a few redraws a second, each drawn from a copy
of the weights in this panel's own thread), beside the loss and accuracy; click a map to open it
large with its filter, its top patches and the convolution in numbers.

What it draws: the live training's latest snapshot, else the current run, else the network being
built (untrained weights)."""
from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QCheckBox, QVBoxLayout, QWidget

from gui.panels.base import Panel
from gui.widgets.diagram_view import DiagramView
from gui.widgets.fit import FitsViewportHeight
from gui.widgets.flow import control_strip
from gui.widgets.quiet_label import QuietLabel
from gui import theme
from gui.widgets.image_view import theme_pad_value
from gui.widgets.live_plot import LivePlot
from gui.widgets.probe_picker import ProbePicker
from gui.widgets.run_hint import NoModelHint, PageStack

REDRAW_MS = 250  # at most four diagrams a second: as fast as the eye follows, and little CPU
NO_NETWORK_TEXT = "No network yet. Build one in the Network panel, train it, or load a checkpoint."


class DiagramPanel(FitsViewportHeight, Panel):
    title = "Diagram"
    description = "The whole network for one image, every layer's maps, live while it trains."

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        from gui.workers import JobSlot

        self.snapshot = None  # the live training's latest engine.train.ModelSnapshot
        self.training = False
        self.probe = None  # engine.diagram.Probe
        self.probe_choice: tuple[str, object] = ("sample", 0)
        self.diagram = None
        self.dialog = None
        self.diagrams_shown = 0
        self.last_problem = ""
        self.drawn_caption = ""
        self._dirty = False
        self._step = 0

        layout = QVBoxLayout(self)
        self.picker = ProbePicker(self)
        self.picker.probe_chosen.connect(self.choose_probe)
        self.every_check = QCheckBox("Every layer")
        self.every_check.setToolTip("One column per layer (ReLU, batch norm, flatten too). Off: each conv or "
                                    "fully connected layer with its activation in one column.")
        self.every_check.toggled.connect(self.request_redraw)
        self.controls = control_strip(*self.picker.items(), self.every_check)
        layout.addWidget(self.controls)

        self.stack = PageStack()
        self.hint = NoModelHint(ctx, NO_NETWORK_TEXT)
        self.stack.addWidget(self.hint)
        content = QWidget()
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(0, 0, 0, 0)
        self.view = DiagramView()
        self.view.map_clicked.connect(self.open_map)
        content_layout.addWidget(self.view, 4)
        self.curves = LivePlot("", "step", "", from_zero=True)  # the legend names the two curves
        self.curves.add_series("loss", 0)
        self.curves.add_series("val accuracy", 2)
        self._fit_strip()
        theme.notifier.changed.connect(self._fit_strip)  # 200 % text: the strip keeps room for its axis
        content_layout.addWidget(self.curves, 1)
        self.stack.addWidget(content)
        layout.addWidget(self.stack, 1)
        self.status = QuietLabel("")  # rewritten with each live frame while a run trains
        layout.addWidget(self.status)

        self.diagram_jobs = JobSlot(self)  # failures become the hint's text, not a message box per edit
        self.diagram_jobs.succeeded.connect(self._on_diagram)
        self.diagram_jobs.failed.connect(self._on_diagram_failed)
        self.probe_jobs = JobSlot(self)
        self.probe_jobs.succeeded.connect(self._on_probe)
        self.probe_jobs.failed.connect(self._on_probe_failed)
        self.timer = QTimer(self)
        self.timer.setInterval(REDRAW_MS)
        self.timer.timeout.connect(self._redraw_if_due)  # runs while the panel is shown (showEvent)
        ctx.training_event.connect(self.on_training_event)
        ctx.spec_changed.connect(self.request_redraw)
        ctx.dataset_changed.connect(self._on_dataset_changed)
        self.follow_run(self.on_run_changed)
        self.request_redraw()

    # ------------------------------------------------------------ what to draw

    def _fit_strip(self) -> None:
        """A strip: the diagram gets the height, the curves 4.5-6 lines of the current text (axis and title)."""
        from PySide6.QtGui import QFontMetrics
        from PySide6.QtWidgets import QApplication

        line = QFontMetrics(QApplication.font()).height()  # the text size as it is now (it follows F5, 200 %)
        self.curves.setMinimumHeight(int(line * 4.5))
        self.curves.setMaximumHeight(line * 6)
    def network(self):
        """('snapshot', ModelSnapshot) | ('run', TrainedRun) | ('spec', NetworkSpec) | (None, None)."""
        if self.snapshot is not None:
            return "snapshot", self.snapshot
        if self.ctx.run is not None:
            return "run", self.ctx.run
        if self.ctx.spec is not None:
            return "spec", self.ctx.spec
        return None, None

    def _input_shape(self):
        kind, source = self.network()
        spec = {"snapshot": lambda: source.spec, "run": lambda: source.spec, "spec": lambda: source}.get(kind)
        return tuple(spec().input_shape) if spec else None

    def _dataset(self) -> str | None:
        kind, source = self.network()
        return source.dataset if kind == "run" else self.ctx.dataset

    def on_training_event(self, event) -> None:
        name = type(event).__name__
        if name == "TrainStarted" and event.member == 0:
            self.training = True
            self.snapshot = None
            self.curves.clear()
            self._step = 0
        elif name == "ModelSnapshot":
            self.snapshot = event
            self.request_redraw()
        elif name == "BatchEnd":
            self._step = event.step
            self.curves.append("loss", event.step, event.smoothed_loss)
        elif name == "EpochEnd" and event.val_acc == event.val_acc:  # NaN: not validated this epoch
            self.curves.append("val accuracy", self._step, event.val_acc)

    def on_run_changed(self, run) -> None:
        self.training = False
        self.snapshot = None  # the finished (or loaded) run replaces the live copies
        self.request_redraw()

    def _on_dataset_changed(self, _name: str) -> None:
        self.probe = None
        self.request_redraw()

    def choose_probe(self, source: str, payload) -> None:
        self.probe_choice = (source, payload)
        self.probe = None
        self.request_redraw()

    # ------------------------------------------------------------ drawing
    def request_redraw(self, *_args) -> None:
        self._dirty = True

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self.timer.start()
        self._redraw_if_due()

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().hideEvent(event)
        self.timer.stop()  # a hidden panel's timer only took GIL time from training

    def _redraw_if_due(self) -> None:
        """Start the next diagram when one is due, the panel is on screen and none is being drawn
        (snapshots that arrive meanwhile collapse into the latest one)."""
        if not self._dirty or not self.isVisible() or self.diagram_jobs.running or self.probe_jobs.running:
            return
        shape = self._input_shape()
        if shape is None:
            self.stack.setCurrentIndex(0)
            self.hint.label.setText(NO_NETWORK_TEXT)
            self._dirty = False
            return
        if self.probe is None or tuple(self.probe.tensor.shape) != shape:
            from engine.diagram import probe_job

            source, payload = self.probe_choice
            dataset = self._dataset()
            self.probe_jobs.start(lambda: probe_job(source, payload, shape, dataset))
            return
        self._dirty = False
        self._start_diagram()

    def _start_diagram(self) -> None:
        from engine.diagram import diagram_job, diagram_of_spec_job

        kind, source = self.network()
        probe, every, pad = self.probe, self.every_check.isChecked(), theme_pad_value()
        self.drawn_caption = probe.caption  # the probe may change before this diagram arrives
        names = probe.class_names
        if kind == "snapshot":
            self.diagram_jobs.start(lambda: diagram_job(None, probe.tensor, names, every, source, pad))
        elif kind == "run":
            self.diagram_jobs.start(lambda: diagram_job(source.model, probe.tensor, names, every, None, pad))
        else:
            self.diagram_jobs.start(lambda: diagram_of_spec_job(source, probe.tensor, every, pad))

    def _on_probe(self, probe) -> None:
        self.probe = probe
        self._dirty = True
        self._redraw_if_due()

    def _on_probe_failed(self, title: str, message: str) -> None:
        self.last_problem = message
        self.status.setText(f"{title}: {message}")
        if self.probe_choice[0] != "sample":  # the user's own file or drawing: say so loudly
            self.ctx.show_error(title, message)
        self.probe_choice = ("sample", self.picker.index_spin.value())

    def _on_diagram(self, diagram) -> None:
        self.diagram = diagram
        self.diagrams_shown += 1
        self.last_problem = ""
        self.stack.setCurrentIndex(1)
        self.view.set_diagram(diagram)
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.set_diagram(diagram)
        kind, source = self.network()
        what = {"snapshot": f"training step {diagram.step}, live", "run": f"trained run {getattr(source, 'name', '')}",
                "spec": "untrained network (weights at initialization)"}.get(kind, "")
        self.status.setText(f"{self.drawn_caption} → {what}. Click a feature map to open it large.")

    def _on_diagram_failed(self, title: str, message: str) -> None:
        self.last_problem = message
        self.diagram = None
        self.view.clear()
        self.stack.setCurrentIndex(0)
        self.hint.label.setText(f"{title}: {message}")

    # ------------------------------------------------------------ the large view
    def open_map(self, column_index: int, tile: int) -> None:
        from gui.widgets.map_dialog import LayerMapDialog

        if self.diagram is None:
            return
        if self.dialog is None:
            self.dialog = LayerMapDialog(self.ctx, self)
            screen = self.screen().availableGeometry() if self.screen() is not None else None
            if screen is not None:
                self.dialog.resize(int(screen.width() * 0.8), int(screen.height() * 0.8))
        self.dialog.show_map(self.diagram, column_index, tile)
        self.dialog.show()
        self.dialog.raise_()

    # ------------------------------------------------------------ hooks
    def shutdown(self) -> None:
        self.timer.stop()
        self.diagram_jobs.stop()
        self.probe_jobs.stop()
        if self.dialog is not None:
            self.dialog.close()
        super().shutdown()

    def save_state(self) -> dict:
        source, payload = self.probe_choice
        return {"index": self.picker.index_spin.value(), "every_layer": self.every_check.isChecked(),
                **({"image_file": payload} if source == "file" else {})}

    def restore_state(self, state: dict) -> None:
        self.every_check.setChecked(bool(state.get("every_layer", False)))
        if state.get("image_file"):
            self.choose_probe("file", str(state["image_file"]))
        else:
            self.picker.index_spin.setValue(int(state.get("index", self.picker.index_spin.value())))

    def apply_lesson(self, setup: dict) -> None:
        self.restore_state(setup)
