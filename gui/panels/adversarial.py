"""Adversarial panel: change a photo invisibly so the classifier sees another class.

Iterative targeted attack (normalised-gradient SGD with momentum), FGSM or PGD
with an L-infinity budget in 0-255 pixel units. Live: original, adversarial,
the difference magnified, the prediction bars before and after, the target
probability per step and the largest pixel change. Saving writes the 8-bit
crop; the engine measured every probability on exactly those pixels.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import (QCheckBox, QDoubleSpinBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel,
                               QSpinBox, QVBoxLayout, QWidget)

from engine.adversarial import ATTACKS, AttackResult, AttackStep, attack_job
from gui.widgets.flow import strip_box
from gui.panels.base import JobPanel
from gui.panels.imagenet_common import (ImageFileDrops, SentImages, add_run_stop_save, fit_without_scrolling,
                                        save_png_or_report, source_and_model_row)
from gui.widgets.class_picker import ClassPicker
from gui.widgets.elided_combo import ElidedComboBox
from gui.widgets.image_view import ImageView
from gui.widgets.live_plot import LivePlot
from gui.widgets.prediction_bars import PredictionBars


class AdversarialPanel(SentImages, ImageFileDrops, JobPanel):
    title = "Adversarial"
    description = "Fool a pretrained classifier with an invisible change."
    stopped_text = "Stopped: the last step is shown."

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.image: np.ndarray | None = None
        self.caption = ""
        self.result: AttackResult | None = None
        self.last_step: AttackStep | None = None
        self.classifier = None  # None: jobs load the chosen model; tests may set a small stand-in
        self.setAcceptDrops(True)
        self._build()
        fit_without_scrolling(self)
        self.status_line = self.status
        self.set_job_buttons(run=[self.run_button], stop=[self.stop_button])
        ctx.image_sent.connect(self._on_image_sent)  # only an image the user sent here (Predict: "Fool it")

    def _build(self) -> None:
        page = QVBoxLayout(self)
        # The control rows in one strip: F5 gives it the compact text size, the images the large one.
        outer = QVBoxLayout()
        outer.addLayout(source_and_model_row(self, self.set_image))

        row = QHBoxLayout()
        row.addWidget(QLabel("Method:"))
        self.method = ElidedComboBox(min_chars=16)  # elided, the full names in the list and the tooltip
        for key, label in ATTACKS.items():
            self.method.addItem(label, key)
        self.method.currentIndexChanged.connect(self._on_method_changed)
        row.addWidget(self.method)
        self.targeted = QCheckBox("Target class:")
        self.targeted.setChecked(True)
        self.targeted.setToolTip("FGSM and PGD can also just push away from the predicted class")
        row.addWidget(self.targeted)
        self.class_picker = ClassPicker()
        self.class_picker.set_class(130)  # flamingo
        row.addWidget(self.class_picker)
        row.addStretch(1)
        outer.addLayout(row)
        row = QHBoxLayout()  # a second line: one line overflows a projector at large text
        row.addWidget(QLabel("Max change ε (0-255):"))
        self.epsilon = QDoubleSpinBox()
        self.epsilon.setRange(0.5, 255)
        self.epsilon.setDecimals(1)
        self.epsilon.setValue(8.0)
        self.epsilon.setToolTip("Largest change of any pixel channel, in 0-255 units (8 = 3%)")
        row.addWidget(self.epsilon)
        self.limit_change = QCheckBox("limit")
        self.limit_change.setChecked(True)
        self.limit_change.setToolTip("Iterative attack: keep every pixel within ε of the original")
        row.addWidget(self.limit_change)
        row.addWidget(QLabel("Steps:"))
        self.steps = QSpinBox()
        self.steps.setRange(1, 1000)
        self.steps.setValue(100)
        row.addWidget(self.steps)
        row.addStretch(1)
        outer.addLayout(row)

        row = QHBoxLayout()
        add_run_stop_save(row, self, "Fool the model", self.start_attack,
                          "Choose a photo and a target class, then fool the model.")
        outer.addLayout(row)

        page.addWidget(strip_box(outer))
        outer = page

        grid = QGridLayout()
        self.original_view = ImageView("Original")
        self.adversarial_view = ImageView("Adversarial")
        self.difference_view = ImageView("Difference (magnified)")
        grid.addWidget(self.original_view, 0, 0)
        grid.addWidget(self.adversarial_view, 0, 1)
        grid.addWidget(self.difference_view, 0, 2)
        self.bars_before = PredictionBars("Before")
        self.bars_after = PredictionBars("After")
        grid.addWidget(self.bars_before, 1, 0)
        grid.addWidget(self.bars_after, 1, 1)
        self.curve = LivePlot("Probability per step", "step", "probability", y_range=(0, 1))
        self.curve.add_series("target", 3)
        self.curve.add_series("original class", 0)
        grid.addWidget(self.curve, 1, 2)
        grid.setRowStretch(0, 1)  # the bars and the probability plot need as much room as the images
        grid.setRowStretch(1, 1)
        outer.addLayout(grid, 1)
        self._on_method_changed()

    # ------------------------------------------------------------------ inputs
    def set_image(self, image, caption: str = "") -> None:
        """A new photo (the user chose it): everything derived from the previous one is cleared."""
        if image is None:
            return
        self.jobs.stop()  # an attack on the previous photo must not draw over this one
        self.image = np.asarray(image)
        self.caption = caption
        self.result = None
        self.last_step = None
        self.save_button.setEnabled(False)
        self.original_view.set_image(self.image)
        self.original_view.set_caption(f"Original: {caption}")
        self.adversarial_view.set_image(None)
        self.adversarial_view.set_caption("Adversarial")
        self.difference_view.set_image(None)
        self.difference_view.set_caption("Difference (magnified)")
        self.bars_before.set_predictions([])
        self.bars_after.set_predictions([])
        self.bars_after.set_title("After")
        self.curve.clear()
        self.status.setText("Choose a target class, then fool the model.")

    def _on_method_changed(self) -> None:
        method = self.method.currentData()
        iterative = method == "iterative"
        self.targeted.setEnabled(not iterative)
        if iterative:
            self.targeted.setChecked(True)
        self.limit_change.setEnabled(iterative)
        self.steps.setEnabled(method != "fgsm")

    def start_attack(self) -> None:
        if self.image is None:
            self.ctx.show_error("No image", "Choose a photo, open a file, drop or paste an image first.")
            return
        method = self.method.currentData()
        target = self.class_picker.class_index() if self.targeted.isChecked() else None
        epsilon = self.epsilon.value()
        if method == "iterative" and not self.limit_change.isChecked():
            epsilon = None
        steps = None if method == "fgsm" else self.steps.value()
        image, model = self.image, self.classifier or self.model_choice.model_name()
        self.result = None
        self.save_button.setEnabled(False)
        self.curve.clear()
        self.status.setText("Loading the model…")
        self.jobs.start(lambda: attack_job(model, image, method=method, target=target, epsilon_255=epsilon,
                                           steps=steps))

    # ------------------------------------------------------------------ results
    def on_job_event(self, event) -> None:
        if not isinstance(event, AttackStep):
            return
        self.last_step = event
        target = self.class_picker.class_index() if self.targeted.isChecked() else None
        if event.step == 0:
            self.original_view.set_image(event.adversarial)
            self.original_view.set_caption(f"Original: {event.top5[0][1]} ({event.top5[0][2]:.1%})")
            self.bars_before.set_predictions(event.top5, highlight=target)
        self.adversarial_view.set_image(event.adversarial)
        self.adversarial_view.set_caption(f"Adversarial: {event.top5[0][1]} ({event.top5[0][2]:.1%})")
        self.difference_view.set_image(event.difference)
        self.difference_view.set_caption(f"Difference ×{event.magnification:.0f}, max {event.linf_255:.0f}/255")
        self.bars_after.set_predictions(event.top5, highlight=target)
        self.bars_after.set_title(f"After step {event.step}")
        if target is not None:
            self.curve.append("target", event.step, event.target_prob)
        self.curve.append("original class", event.step, event.original_prob)
        self.status.setText(f"Step {event.step}: max pixel change {event.linf_255:.0f}/255"
                            + (f", target p = {event.target_prob:.3f}" if target is not None else ""))

    def on_job_succeeded(self, result) -> None:
        if not isinstance(result, AttackResult):
            return
        self.result = result
        self.save_button.setEnabled(True)
        verdict = "fooled" if result.success else "not fooled (try more steps or a larger ε)"
        target = f" into '{result.target_name}' (p = {result.target_prob:.3f})" if result.target_name else ""
        text = (f"{result.original_name} → {result.final_name}: {verdict}{target}; "
                f"{result.steps} steps, max pixel change {result.linf_255:.0f}/255.")
        self.status.setText(text, f"{text} Probabilities are measured on the 8-bit image that Save writes.")

    def save_png_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the adversarial image", "adversarial.png", "PNG (*.png)")
        if path:
            self.save_png(path)

    def save_png(self, path: str) -> None:
        save_png_or_report(self.ctx, path, None if self.result is None else self.result.adversarial)


    # ------------------------------------------------------------------ workspaces and lessons
    def save_state(self) -> dict:
        state = {"method": self.method.currentData(), "target": self.class_picker.class_index(),
                 "targeted": self.targeted.isChecked(), "epsilon": self.epsilon.value(),
                 "limit": self.limit_change.isChecked(), "steps": self.steps.value(),
                 "model": self.model_choice.model_name()}
        if self.image is not None:
            state.update(image=self.image, caption=self.caption)  # the panel keeps its own photo
        return state

    def restore_state(self, state: dict) -> None:
        position = self.method.findData(state.get("method", "iterative"))
        if position >= 0:
            self.method.setCurrentIndex(position)
        if "target" in state and int(state["target"]) >= 0:
            self.class_picker.set_class(int(state["target"]))
        self.targeted.setChecked(bool(state.get("targeted", True)) or self.method.currentData() == "iterative")
        self.epsilon.setValue(float(state.get("epsilon", 8.0)))
        self.limit_change.setChecked(bool(state.get("limit", True)))
        self.steps.setValue(int(state.get("steps", 100)))
        if state.get("model"):
            self.model_choice.set_model_name(state["model"])
        if isinstance(state.get("image"), np.ndarray):
            self.set_image(state["image"], str(state.get("caption", "")))

    def apply_lesson(self, setup: dict) -> None:
        """setup: {"photo": "coffee", "target": "flamingo" (or "target_class": 130), "method": "iterative"
        ("fooling" means the same), "epsilon": 8, "steps": 100, "run": true}."""
        from engine.pretrained import find_class

        state = self.save_state()
        state.pop("image", None)  # a lesson's photo comes below; the current one stays otherwise
        state.update({k: v for k, v in setup.items() if k in ("method", "epsilon", "steps", "limit", "targeted")})
        aliases = {"fooling": "iterative", "targeted": "iterative", "fgsm": "fgsm", "pgd": "pgd"}
        state["method"] = aliases.get(str(state.get("method", "iterative")).lower(), state.get("method"))
        target = setup.get("target", setup.get("target_class"))
        if target is not None:
            state["target"] = find_class(target)
        self.restore_state(state)
        if setup.get("photo"):
            self.source.choose_bundled(setup["photo"])
        if setup.get("run"):
            self.start_attack()
