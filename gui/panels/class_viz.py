"""Class visualization panel: what image does the network think is most "flamingo"?

Gradient ascent on one class score, from noise (or the current photo), in two
styles: cs231n (L2 penalty, jitter, periodic blur, clamp) and Lucid (Fourier
parameterisation, decorrelated colour, random transforms, Adam). Live preview
every few steps; stop any time; save the PNG. The engine job does all the math.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QFileDialog, QHBoxLayout, QLabel, QSpinBox,
                               QSplitter, QVBoxLayout, QWidget)

from engine.classviz import STYLES, ClassVizPreview, ClassVizResult, class_visualization_job
from gui.widgets.flow import strip_box
from gui.panels.base import JobPanel
from gui.panels.imagenet_common import add_run_stop_save, fit_without_scrolling, save_png_or_report
from gui.widgets.class_picker import ClassPicker
from gui.widgets.elided_combo import ElidedComboBox
from gui.widgets.image_view import ImageView
from gui.widgets.live_plot import LivePlot
from gui.widgets.model_chooser import ModelChooser
from gui.widgets.prediction_bars import PredictionBars


class ClassVizPanel(JobPanel):
    title = "Class visualization"
    description = "Synthesize the image that maximises a class score."
    stopped_text = "Stopped: the last preview can still be saved."

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.photo: np.ndarray | None = None
        self.photo_caption = ""
        self.preview: ClassVizPreview | None = None
        self._last_measured: int | None = None  # the step of the last measurement on the curve
        self.result: ClassVizResult | None = None
        self.classifier = None  # None: jobs load the chosen model; tests may set a small stand-in
        self._build()
        fit_without_scrolling(self)
        self.status_line = self.status
        self.set_job_buttons(run=[self.run_button], stop=[self.stop_button])
        ctx.image_sent.connect(self._on_image_sent)  # only a photo the user sent here (from Predict)

    def _build(self) -> None:
        page = QVBoxLayout(self)
        # The control rows in one strip: F5 gives it the compact text size, the images the large one.
        outer = QVBoxLayout()
        row = QHBoxLayout()
        row.addWidget(QLabel("Class:"))
        self.class_picker = ClassPicker()
        self.class_picker.set_class(130)  # flamingo
        row.addWidget(self.class_picker)
        row.addWidget(QLabel("Style:"))
        self.style = ElidedComboBox(min_chars=16)  # elided, the full names in the list and the tooltip
        for key, label in STYLES.items():
            self.style.addItem(label, key)
        row.addWidget(self.style)
        row.addStretch(1)
        outer.addLayout(row)
        row = QHBoxLayout()  # a second line: one line overflows a projector at large text
        row.addWidget(QLabel("Steps:"))
        self.steps = QSpinBox()
        self.steps.setRange(1, 5000)
        self.steps.setValue(200)
        row.addWidget(self.steps)
        row.addWidget(QLabel("Seed:"))
        self.seed = QSpinBox()
        self.seed.setRange(0, 99999)
        row.addWidget(self.seed)
        row.addWidget(QLabel("Model:"))
        self.model_choice = ModelChooser()
        row.addWidget(self.model_choice)
        row.addStretch(1)
        outer.addLayout(row)

        row = QHBoxLayout()
        self.from_photo = QCheckBox("Start from the current photo")
        self.from_photo.setEnabled(False)
        self.from_photo.setToolTip("In Predict, choose a photo and press \u201cClass visualization from it\u201d")
        row.addWidget(self.from_photo)
        add_run_stop_save(row, self, "Start", self.start, "Pick a class and press Start.")
        outer.addLayout(row)

        page.addWidget(strip_box(outer))
        outer = page

        splitter = QSplitter(Qt.Horizontal)
        self.view = ImageView("Synthesized image")
        splitter.addWidget(self.view)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        self.bars = PredictionBars("What the model sees")
        right_layout.addWidget(self.bars, 1)
        self.curve = LivePlot("Class probability while optimising", "step", "probability", y_range=(0, 1))
        self.curve.add_series("class probability", 3)
        right_layout.addWidget(self.curve, 1)
        splitter.addWidget(right)
        splitter.setSizes([650, 550])
        outer.addWidget(splitter, 1)

    def _on_image_sent(self, image, caption: str, panel_title: str) -> None:
        if panel_title == self.title:
            self.set_start_photo(image, caption)
            self.from_photo.setChecked(True)  # the user sent it here to start from it

    def set_start_photo(self, image, caption: str = "") -> None:
        if image is None:
            return
        self.photo = np.asarray(image)
        self.photo_caption = caption
        self.from_photo.setEnabled(True)
        self.from_photo.setText(f"Start from the photo ({caption or 'image'})")

    def start(self) -> None:
        target = self.class_picker.class_index()
        style = self.style.currentData()
        steps = self.steps.value()
        seed = self.seed.value()
        start = self.photo if self.from_photo.isChecked() and self.photo is not None else None
        model = self.classifier or self.model_choice.model_name()
        self.result = None
        self.save_button.setEnabled(False)
        self.curve.clear()
        self._last_measured = None
        self.curve.set_x_span(0, steps)
        self.status.setText("Loading the model…")
        self.jobs.start(lambda: class_visualization_job(model, target, style=style, steps=steps, start_image=start,
                                                        seed=seed, preview_every=5))

    def on_job_event(self, event) -> None:
        if not isinstance(event, ClassVizPreview):
            return
        self.preview = event
        name = self.class_picker.currentText().split(": ", 1)[-1]
        self.view.set_image(event.image)
        self.view.set_caption(f"'{name}', step {event.step}/{event.steps}: p = {event.target_prob:.3f}")
        if event.measured_step != self._last_measured:  # frames between measurements carry the last one
            self._last_measured = event.measured_step
            self.bars.set_predictions(event.top5, highlight=self.class_picker.class_index())
            self.curve.append("class probability", event.measured_step, event.target_prob)
        self.status.setText(f"Step {event.step} of {event.steps}: class score {event.score:.1f}, "
                            f"probability {event.target_prob:.3f} (measured at step {event.measured_step})")
        self.save_button.setEnabled(True)

    def on_job_succeeded(self, result) -> None:
        if isinstance(result, ClassVizResult):
            self.result = result
            self.view.set_caption(f"'{result.class_name}', {result.steps} steps: p = {result.final_prob:.3f}")
            self.view.setToolTip(f"'{result.class_name}' after {result.steps} steps ({result.style}): "
                                 f"p = {result.final_prob:.3f} on the saved 8-bit image")
            self.status.setText(f"Done: the model sees '{result.top5[0][1]}' with p = {result.top5[0][2]:.3f}.")

    def current_image(self) -> np.ndarray | None:
        if self.result is not None:
            return self.result.image
        return None if self.preview is None else self.preview.image

    def save_png_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the class visualization", "class_visualization.png",
                                              "PNG (*.png)")
        if path:
            self.save_png(path)

    def save_png(self, path: str) -> None:
        save_png_or_report(self.ctx, path, self.current_image())


    # ------------------------------------------------------------------ workspaces and lessons
    def save_state(self) -> dict:
        state = {"target": self.class_picker.class_index(), "style": self.style.currentData(),
                 "steps": self.steps.value(), "seed": self.seed.value(), "from_photo": self.from_photo.isChecked(),
                 "model": self.model_choice.model_name()}
        if self.photo is not None:
            state.update(photo=self.photo, photo_caption=self.photo_caption)  # its own start photo
        return state

    def restore_state(self, state: dict) -> None:
        if isinstance(state.get("photo"), np.ndarray):
            self.set_start_photo(state["photo"], str(state.get("photo_caption", "")))
        if int(state.get("target", -1)) >= 0:
            self.class_picker.set_class(int(state["target"]))
        position = self.style.findData(state.get("style", "lucid"))
        if position >= 0:
            self.style.setCurrentIndex(position)
        self.steps.setValue(int(state.get("steps", 200)))
        self.seed.setValue(int(state.get("seed", 0)))
        self.from_photo.setChecked(bool(state.get("from_photo", False)) and self.from_photo.isEnabled())
        if state.get("model"):
            self.model_choice.set_model_name(state["model"])

    def apply_lesson(self, setup: dict) -> None:
        """setup: {"target": "king penguin" (or "class_index": 145), "style": "cs231n" (or "method"),
        "steps": 100, "run": true}."""
        from engine.pretrained import find_class

        state = self.save_state()
        state.pop("photo", None)
        state.update({k: v for k, v in setup.items() if k in ("style", "steps", "seed", "from_photo")})
        if setup.get("method") and "style" not in setup:
            state["style"] = setup["method"]
        target = setup.get("target", setup.get("class_index"))
        if target is not None:
            state["target"] = find_class(target)
        self.restore_state(state)
        if setup.get("run"):
            self.start()
