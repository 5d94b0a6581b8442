"""Predict panel: what does a pretrained ImageNet classifier see in a photo?

Bundled photos, any file, drag-and-drop or paste; the 224 px crop the model
actually sees and its top-5 as bars, updated for every image. The image goes on
to Saliency, Adversarial or Class visualization only when the user asks (the
buttons under the bars); no other panel changes it.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QGridLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QSplitter,
                               QVBoxLayout, QWidget)

from engine.images import bundled_photos
from engine.pretrained import PredictionResult, predict_job
from gui.widgets.flow import strip_box
from gui.panels.base import JobPanel
from gui.panels.imagenet_common import ImageFileDrops, SentImages, source_and_model_row
from gui.widgets.fit import FitsViewportHeight
from gui.widgets.image_view import ImageView
from gui.widgets.prediction_bars import PredictionBars


class ImageNetPredictPanel(FitsViewportHeight, SentImages, ImageFileDrops, JobPanel):
    title = "Predict"
    description = "Top-5 predictions of a pretrained ImageNet classifier."
    stopped_text = ""  # a stopped prediction was for an image that is gone: nothing to say

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.image: np.ndarray | None = None
        self.caption = ""
        self.result: PredictionResult | None = None
        self._stale = False
        self.classifier = None  # None: jobs load the chosen model; tests may set a small stand-in
        self.setAcceptDrops(True)
        self._build()
        self.status_line = self.status
        ctx.image_sent.connect(self._on_image_sent)

    def _build(self) -> None:
        page = QVBoxLayout(self)
        # The control rows in one strip: F5 gives it the compact text size, the images the large one.
        outer = QVBoxLayout()
        outer.addLayout(source_and_model_row(self, self._on_image_chosen))
        self.model_choice.currentIndexChanged.connect(self._on_model_changed)

        page.addWidget(strip_box(outer))
        outer = page

        splitter = QSplitter(Qt.Horizontal)
        self.photo_list = QListWidget()
        self.photo_list.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        for name in bundled_photos():
            item = QListWidgetItem(name.replace("_", " "))
            item.setData(Qt.UserRole, name)
            self.photo_list.addItem(item)
        self.photo_list.itemClicked.connect(self._on_list_clicked)
        self._fit_list_width()
        splitter.addWidget(self.photo_list)
        self.view = ImageView("Drop, paste or open an image; the model sees this 224 px crop")
        splitter.addWidget(self.view)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        self.bars = PredictionBars("Top-5 predictions")
        right_layout.addWidget(self.bars, 1)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        right_layout.addWidget(self.status)
        send = QGridLayout()  # two a line: three in one overflow a projector at large text
        self.send_buttons: dict[str, QPushButton] = {}
        for title, text, tip in (("Saliency", "Inspect in Saliency", "Which pixels matter for the prediction"),
                                 ("Adversarial", "Fool it (Adversarial)", "Change this photo invisibly so the "
                                  "model sees another class"),
                                 ("Class visualization", "Class visualization from it",
                                  "Start a class visualization from this photo")):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.setEnabled(False)
            button.setProperty("panel_title", title)
            button.clicked.connect(self._on_send_clicked)
            send.addWidget(button, len(self.send_buttons) // 2, len(self.send_buttons) % 2)
            self.send_buttons[title] = button
        right_layout.addLayout(send)
        splitter.addWidget(right)
        splitter.setSizes([180, 520, 460])
        outer.addWidget(splitter, 1)

    def _fit_list_width(self) -> None:
        """As wide as the longest photo name at this text size (names were cut at 200 %)."""
        metrics = self.photo_list.fontMetrics()
        widest = max((metrics.horizontalAdvance(self.photo_list.item(i).text())
                      for i in range(self.photo_list.count())), default=100)
        self.photo_list.setFixedWidth(widest + self.photo_list.verticalScrollBar().sizeHint().width() + 16)

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().changeEvent(event)
        if event.type() == event.Type.FontChange and hasattr(self, "photo_list"):
            self._fit_list_width()

    # ------------------------------------------------------------------ inputs
    def _on_list_clicked(self, item: QListWidgetItem) -> None:
        self.source.choose_bundled(item.data(Qt.UserRole))

    def _on_image_chosen(self, image, caption: str) -> None:
        self.set_image(image, caption)
        self.ctx.set_input_image(image, caption)  # the user's latest choice (workspaces); no panel follows

    def send_to(self, panel_title: str) -> None:
        """Open this panel's photo in another ImageNet panel (only ever on the user's request)."""
        if self.image is not None:
            self.ctx.send_image(self.image, self.caption, panel_title)

    def _on_send_clicked(self) -> None:
        self.send_to(self.sender().property("panel_title"))

    def _on_model_changed(self) -> None:
        if self.image is not None:
            self.predict()

    def set_image(self, image: np.ndarray, caption: str = "") -> None:
        self.image = np.asarray(image)
        self.caption = caption
        self.result = None  # everything derived from the previous image goes with it
        self.bars.set_title("Top-5 predictions")
        self.bars.set_predictions([])
        self.status.setText("")
        for button in self.send_buttons.values():
            button.setEnabled(True)
        self.view.set_image(self.image)
        self.view.set_caption(f"{caption} ({self.image.shape[1]}x{self.image.shape[0]})")
        # Images shared by other tabs are classified when this tab is shown (the model loads lazily).
        if self.isVisible():
            self.predict()
        else:
            self.jobs.stop()  # a result for the previous image must not land on this one
            self._stale = True

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale and self.image is not None:
            self.predict()

    def predict(self) -> None:
        self._stale = False
        image, model = self.image, self.classifier or self.model_choice.model_name()
        self.status.setText("Classifying…")
        self.jobs.start(lambda: predict_job(image, model))

    # ------------------------------------------------------------------ results
    def on_job_event(self, event) -> None:
        if isinstance(event, PredictionResult):
            self.result = event
            self.view.set_image(event.crop)
            self.view.set_caption(f"{self.caption}: the {event.crop.shape[1]} px crop the model sees")
            best = event.top[0]
            self.bars.set_title(f"Top-5: {best[1]} ({best[2]:.1%})")
            self.bars.set_predictions(event.top)

    def on_job_succeeded(self, result) -> None:
        if isinstance(result, PredictionResult):
            self.status.setText(f"{self.model_choice.currentText()}: {result.seconds * 1000:.0f} ms per image")


    # ------------------------------------------------------------------ workspaces and lessons
    def save_state(self) -> dict:
        photo = self.source.photos.currentData() or ""
        state = {"model": self.model_choice.model_name(), "photo": photo}
        if self.image is not None:
            state.update(image=self.image, caption=self.caption)  # a file or a sent image, too
        return state

    def restore_state(self, state: dict) -> None:
        if state.get("model"):
            self.model_choice.set_model_name(state["model"])
        if isinstance(state.get("image"), np.ndarray):
            self.set_image(state["image"], str(state.get("caption", "")))
        elif state.get("photo"):
            self.source.choose_bundled(state["photo"])

    def apply_lesson(self, setup: dict) -> None:
        """setup: {"photo": "coffee"} or {"image": path}, optional {"model": name}."""
        if setup.get("model"):
            self.model_choice.set_model_name(setup["model"])
        if setup.get("image"):
            self.source.load_path(setup["image"])
        elif setup.get("photo"):
            self.source.choose_bundled(setup["photo"])
