"""Saliency panel: which pixels matter for a class score?

Several attribution methods side by side for the same image and the same
class (the predicted one, or any class from the searchable picker): each as the
plain map (grey, white = strong, as in Simonyan et al.) beside the map overlaid
on the 224 px crop with an opacity slider, under one title spanning the pair. Up to
four methods two pairs a row, five or six three a row: two rows fit 1280x800 at
200 % text. The maps come from engine.attribution jobs; this panel only shows them.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QSlider, QSplitter,
                               QVBoxLayout, QWidget)

from engine.attribution import METHODS, SaliencyInput, SaliencyMap, overlay_rgba, saliency_job
from gui.widgets.flow import strip_box
from gui.panels.base import JobPanel
from gui.panels.imagenet_common import (ImageFileDrops, SentImages, add_run_stop, fit_without_scrolling,
                                        source_and_model_row)
from gui.widgets.class_picker import ClassPicker
from gui.widgets.fit import FitsViewportHeight
from gui.widgets.image_view import ImageView
from gui.widgets.prediction_bars import PredictionBars

DEFAULT_METHODS = ("vanilla", "smoothgrad", "guided_backprop", "gradcam")


def plain_map(display: np.ndarray) -> np.ndarray:
    """(H, W) uint8 grey image of a map in [0, 1]: black = no effect, white = strongest."""
    return (np.clip(np.asarray(display, dtype=np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)


class SaliencyPanel(FitsViewportHeight, SentImages, ImageFileDrops, JobPanel):
    title = "Saliency"
    description = "Which pixels matter for a class score."

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.image: np.ndarray | None = None
        self.caption = ""
        self.crop: np.ndarray | None = None
        self.maps: dict[str, SaliencyMap] = {}
        self._stale = False
        self.classifier = None  # None: jobs load the chosen model; tests may set a small stand-in
        self.setAcceptDrops(True)
        self._build()
        fit_without_scrolling(self)
        for title in self.titles.values():
            # A method's name wraps onto a second line rather than being cut at both ends
            # ("Integrated Gradients" over a pair of small maps at 200 %); FitsViewportHeight keeps the
            # panel's height.
            title.setWordWrap(True)
        self.status_line = self.status
        self.set_job_buttons(run=[self.run_button], stop=[self.stop_button])
        ctx.image_sent.connect(self._on_image_sent)  # only an image the user sent here ("Inspect in Saliency")

    def _build(self) -> None:
        page = QVBoxLayout(self)
        # The control rows in one strip: F5 gives it the compact text size, the images the large one.
        outer = QVBoxLayout()
        outer.addLayout(source_and_model_row(self, self.set_image))

        row = QHBoxLayout()
        row.addWidget(QLabel("Explain class:"))
        self.class_picker = ClassPicker(allow_predicted=True)
        self.class_picker.class_changed.connect(self._on_settings_changed)
        row.addWidget(self.class_picker)
        row.addStretch(1)
        outer.addLayout(row)
        # Three methods per line: six in one line do not fit a projector's width at large text.
        row = QHBoxLayout()
        row.addWidget(QLabel("Methods:"), 0, Qt.AlignTop)
        boxes = QGridLayout()
        self.method_boxes: dict[str, QCheckBox] = {}
        for position, (key, label) in enumerate(METHODS.items()):
            box = QCheckBox(label)
            box.setChecked(key in DEFAULT_METHODS)
            box.toggled.connect(self._on_settings_changed)
            self.method_boxes[key] = box
            boxes.addWidget(box, position // 3, position % 3)
        row.addLayout(boxes)
        row.addStretch(1)
        outer.addLayout(row)

        row = QHBoxLayout()
        add_run_stop(row, self, "Compute", self.compute)
        row.addWidget(QLabel("Overlay opacity:"))
        self.opacity = QSlider(Qt.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(70)
        self.opacity.setMaximumWidth(220)
        self.opacity.valueChanged.connect(self._apply_opacity)
        row.addWidget(self.opacity)
        self.status = QLabel("Choose a photo, drop or paste an image.")
        self.status.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)  # cut, never widens the panel
        row.addWidget(self.status, 1)
        outer.addLayout(row)

        page.addWidget(strip_box(outer))
        outer = page

        splitter = QSplitter(Qt.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        self.input_view = ImageView("Input (224 px crop)")
        left_layout.addWidget(self.input_view, 2)
        self.bars = PredictionBars("Top-5 predictions")
        left_layout.addWidget(self.bars, 1)
        splitter.addWidget(left)
        grid_host = QWidget()
        self.grid = QGridLayout(grid_host)
        self.views: dict[str, ImageView] = {}  # the map over the photo
        self.plain_views: dict[str, ImageView] = {}  # the map alone, grey
        # One title over each pair: a caption per image would need a long word's width ("SmoothGrad")
        # under each of six images in a row.
        self.titles: dict[str, QLabel] = {}
        for key, label in METHODS.items():
            self.titles[key] = QLabel(label)
            self.titles[key].setAlignment(Qt.AlignCenter)
            self.titles[key].setToolTip(f"{label}: the map alone (white = strongest effect on the class "
                                        "score), then over the photo")
            self.plain_views[key] = ImageView()
            self.views[key] = ImageView()
            for view in (self.plain_views[key], self.views[key]):
                view.caption.hide()
        splitter.addWidget(grid_host)
        splitter.setSizes([330, 900])
        outer.addWidget(splitter, 1)
        self._show_selected_views()

    # ------------------------------------------------------------------ inputs
    def set_image(self, image, caption: str = "") -> None:
        """A new photo (the user chose it): the maps, bars and captions of the previous one go."""
        if image is None:
            return
        self.jobs.stop()
        self.image = np.asarray(image)
        self.caption = caption
        self._clear_results()
        self.input_view.set_image(self.image)
        self.input_view.set_caption(caption or "Input")
        self._request_compute()

    def _clear_results(self) -> None:
        self.crop = None
        self.maps = {}
        self.bars.set_predictions([])
        self.status.setText("")
        for key, view in self.views.items():
            view.set_overlay(None)
            view.set_image(None)
            self.plain_views[key].set_image(None)
            self.titles[key].setText(METHODS[key])

    def _on_settings_changed(self, *_args) -> None:
        self._show_selected_views()
        if self.image is not None:
            self._request_compute()

    def _request_compute(self) -> None:
        # Saliency costs several backward passes: compute only while the panel is on screen.
        if self.isVisible():
            self.compute()
        else:
            self._stale = True

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale and self.image is not None:
            self.compute()

    def selected_methods(self) -> list[str]:
        return [key for key, box in self.method_boxes.items() if box.isChecked()]

    def _show_selected_views(self) -> None:
        """The selected methods, each its title over plain map then overlay; two methods a row, three
        for five or six (three rows would need a scroll bar at 1280x800, 200 % text)."""
        selected = self.selected_methods()
        for key in METHODS:
            for widget in (self.titles[key], self.plain_views[key], self.views[key]):
                self.grid.removeWidget(widget)
                widget.setVisible(key in selected)
        per_row = 3 if len(selected) > 4 else 2
        for position, key in enumerate(selected):
            row, column = (position // per_row) * 2, (position % per_row) * 2
            self.grid.addWidget(self.titles[key], row, column, 1, 2)
            self.grid.addWidget(self.plain_views[key], row + 1, column)
            self.grid.addWidget(self.views[key], row + 1, column + 1)
        rows, columns = 2 * -(-len(selected) // per_row), 2 * min(per_row, len(selected))
        for row in range(self.grid.rowCount()):  # the images share the height, titles take a line or two
            self.grid.setRowStretch(row, 1 if row < rows and row % 2 else 0)
        for column in range(self.grid.columnCount()):
            self.grid.setColumnStretch(column, 1 if column < columns else 0)

    def compute(self) -> None:
        self._stale = False
        if self.image is None:
            self.ctx.show_error("No image", "Choose a photo, open a file, drop or paste an image first.")
            return
        methods = self.selected_methods()
        if not methods:
            self.ctx.show_error("No method", "Tick at least one saliency method.")
            return
        image, model = self.image, self.classifier or self.model_choice.model_name()
        target = self.class_picker.class_index()
        target = None if target < 0 else target
        self.maps = {}
        for key, view in self.views.items():
            view.set_overlay(None)
            self.plain_views[key].set_image(None)
        self.jobs.start(lambda: saliency_job(model, image, methods, target))

    # ------------------------------------------------------------------ results
    def on_job_event(self, event) -> None:
        if isinstance(event, SaliencyInput):
            self.crop = event.crop
            self.input_view.set_image(event.crop)
            self.input_view.set_caption(f"'{event.target_name}' (p = {event.target_prob:.0%})")
            self.input_view.setToolTip(f"{self.caption}: explaining '{event.target_name}' "
                                       f"(p = {event.target_prob:.1%})")
            self.bars.set_predictions(event.top5, highlight=event.target)
            for key, view in self.views.items():
                view.set_image(event.crop)
                self.titles[key].setText(f"{METHODS[key]}: computing…")
        elif isinstance(event, SaliencyMap):
            self.maps[event.method] = event
            view = self.views[event.method]
            view.set_overlay(overlay_rgba(event.display), self.opacity.value() / 100)
            view.setToolTip(f"{event.label} over the photo, {event.seconds:.1f} s")
            self.titles[event.method].setText(event.label)
            plain = self.plain_views[event.method]
            plain.set_image(plain_map(event.display))
            plain.setToolTip(f"{event.label}: the map alone (white = strongest effect on the class score)")

    def _apply_opacity(self, value: int) -> None:
        for key in self.maps:
            self.views[key].overlay.setOpacity(value / 100)


    # ------------------------------------------------------------------ workspaces and lessons
    def save_state(self) -> dict:
        state = {"methods": self.selected_methods(), "target": self.class_picker.class_index(),
                 "opacity": self.opacity.value(), "model": self.model_choice.model_name()}
        if self.image is not None:
            state.update(image=self.image, caption=self.caption)  # the panel keeps its own photo
        return state

    def restore_state(self, state: dict) -> None:
        for key, box in self.method_boxes.items():
            box.blockSignals(True)
            box.setChecked(key in state.get("methods", DEFAULT_METHODS))
            box.blockSignals(False)
        self._show_selected_views()
        if "opacity" in state:
            self.opacity.setValue(int(state["opacity"]))
        if state.get("model"):
            self.model_choice.set_model_name(state["model"])
        self.class_picker.blockSignals(True)
        self.class_picker.set_class(int(state.get("target", -1)))
        self.class_picker.blockSignals(False)
        if isinstance(state.get("image"), np.ndarray):
            self.set_image(state["image"], str(state.get("caption", "")))

    def apply_lesson(self, setup: dict) -> None:
        """setup: {"photo": "chelsea", "methods": [...] or "method": "gradient", "target": "tabby" or index}."""
        from engine.attribution import method_key
        from engine.pretrained import find_class

        methods = setup.get("methods") or ([setup["method"]] if setup.get("method") else list(DEFAULT_METHODS))
        target = setup.get("target", setup.get("target_class"))
        self.restore_state({"methods": [method_key(m) for m in methods],
                            "target": find_class(target) if target not in (None, "") else -1,
                            "opacity": setup.get("opacity", self.opacity.value())})
        if setup.get("photo"):
            self.source.choose_bundled(setup["photo"])
