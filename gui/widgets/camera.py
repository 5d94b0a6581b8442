"""The Camera source: a live preview of a camera (or a video file / folder of frames, to rehearse
with a recording), the classifier's view of every frame (top-5 and dog vs food, the saliency map
or a layer's maps) with frames per second, and Freeze, which hands the current frame to the
panel as if it had been opened from a file. Capture and the model run in a job (engine.live);
closing the dialog stops them."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton,
                               QVBoxLayout, QWidget)

from gui.widgets.image_view import ImageView
from gui.workers import JobSlot

CAMERAS = 4  # camera indices offered; OpenCV cannot list devices portably


class CameraDialog(QDialog):
    frozen = Signal(object, str)  # (H, W, 3) uint8, caption

    def __init__(self, model_name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Camera")
        self.model_name = model_name
        self.last_frame: np.ndarray | None = None
        self.source: str | None = None
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(QLabel("Source:"))
        self.source_combo = QComboBox()
        for index in range(CAMERAS):
            self.source_combo.addItem(f"Camera {index}", str(index))
        self.source_combo.addItem("Video file…", "video")
        self.source_combo.addItem("Folder of frames…", "folder")
        self.source_combo.activated.connect(self._on_source_chosen)
        row.addWidget(self.source_combo)
        row.addWidget(QLabel("Show:"))
        self.mode_combo = QComboBox()
        for mode, label in (("predict", "Predictions"), ("saliency", "Saliency"), ("gradcam", "Grad-CAM"),
                            ("activations", "Activations")):
            self.mode_combo.addItem(label, mode)
        self.mode_combo.activated.connect(lambda *_: self.restart())
        row.addWidget(self.mode_combo)
        self.layer_label = QLabel("Layer:")
        self.layer_edit = QLineEdit("blocks.2")
        self.layer_edit.setToolTip("The layer whose maps are shown: its module path in the network, e.g. "
                                   "conv_stem, blocks.2 or blocks.3.0.conv_pw")
        self.layer_edit.setMaximumWidth(self.fontMetrics().horizontalAdvance("blocks.3.0.conv_pwl") + 16)
        self.layer_edit.editingFinished.connect(self.restart)
        row.addWidget(self.layer_label)
        row.addWidget(self.layer_edit)
        self.freeze_button = QPushButton("Freeze")
        self.freeze_button.setToolTip("Use the current frame as the panel's image")
        self.freeze_button.setEnabled(False)
        self.freeze_button.clicked.connect(self.freeze)
        row.addWidget(self.freeze_button)
        row.addStretch(1)
        layout.addLayout(row)
        views = QHBoxLayout()
        self.preview = ImageView("Live")
        self.overlay = ImageView("")
        views.addWidget(self.preview, 1)
        views.addWidget(self.overlay, 1)
        layout.addLayout(views, 1)
        self.result_label = QLabel("Choose a source.")
        self.result_label.setWordWrap(True)
        layout.addWidget(self.result_label)
        self.jobs = JobSlot(self)
        self.jobs.event.connect(self._on_frame)
        self.jobs.failed.connect(self._on_failed)
        self.jobs.succeeded.connect(self._on_ended)
        self.resize(900, 520)
        self.layer_label.setVisible(False)
        self.layer_edit.setVisible(False)

    # ------------------------------------------------------------ source
    def _on_source_chosen(self, position: int) -> None:
        kind = self.source_combo.itemData(position)
        if kind == "video":
            path, _ = QFileDialog.getOpenFileName(self, "A video to play", "", "Videos (*.mp4 *.avi *.mov *.mkv "
                                                                                 "*.webm);;All files (*)")
            source = path or None
        elif kind == "folder":
            source = QFileDialog.getExistingDirectory(self, "A folder of frames (played in name order)") or None
        else:
            source = kind
        if source:
            self.start(source)

    def start(self, source: str) -> None:
        self.source = str(source)
        self.restart()

    def restart(self) -> None:
        from engine.live import live_job

        if self.source is None:
            return
        model, source, mode = self.model_name, self.source, self.mode_combo.currentData()
        layer = self.layer_edit.text().strip() or "blocks.2"
        self.layer_label.setVisible(mode == "activations")
        self.layer_edit.setVisible(mode == "activations")
        self.overlay.set_caption({"predict": "", "saliency": "Saliency: |gradient of the top class| per pixel",
                                  "gradcam": "Grad-CAM of the top class (last feature map)",
                                  "activations": f"The maps of layer {layer}"}[mode])
        self.overlay.set_image(None)
        self.result_label.setText("Starting…")
        self.jobs.start(lambda: live_job(model, source, mode, layer=layer))

    def stop(self) -> None:
        self.jobs.stop()

    # ------------------------------------------------------------ frames
    def _on_frame(self, frame) -> None:
        from engine.live import LiveFrame

        if not isinstance(frame, LiveFrame):
            return
        self.last_frame = frame.image
        self.freeze_button.setEnabled(True)
        self.preview.set_image(frame.image)
        if frame.overlay is not None:
            overlay = frame.overlay
            if overlay.dtype != np.uint8:
                overlay = (np.clip(overlay, 0, 1) * 255).astype(np.uint8)
            self.overlay.set_image(overlay)
        guesses = ", ".join(f"{name} {probability:.0%}" for _i, name, probability in frame.top5)
        food = "" if frame.dog_vs_food is None else \
            f" · dog {frame.dog_vs_food[0]:.0%} / food {frame.dog_vs_food[1]:.0%}"
        self.result_label.setText(f"{guesses}{food} · {frame.fps:.1f} frames/s ({frame.milliseconds:.0f} ms)")

    def _on_failed(self, title: str, message: str) -> None:
        self.result_label.setText(message)  # the last frame stays on screen

    def _on_ended(self, summary) -> None:
        self.result_label.setText(f"The source ended: {summary.frames} frames shown at {summary.fps:.1f}/s, "
                                  f"{summary.dropped_share:.0%} dropped.")

    def freeze(self) -> None:
        if self.last_frame is not None:
            self.frozen.emit(self.last_frame.copy(), "camera frame")

    def done(self, result: int) -> None:  # closing stops capture at once
        self.stop()
        self.jobs.wait(2000)
        super().done(result)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.stop()
        self.jobs.wait(2000)
        super().closeEvent(event)
