"""The ImageNet-network side of the Activations panel: the network strip's controls (model,
layer, bundled photo, open, camera), its page (the photo as the network sees it, one layer's
maps, an enlarged map) and the job that lists the chosen network's layers.

The maps themselves run in the panel's job slot, so that a new input, trained run or network
always replaces the job before it; the panel hands NetworkMaps results to show_maps.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from engine.events import Progress
from engine.imaging import nearest_upscale
from gui.widgets.image_view import ImageGrid, ImageView
from gui.widgets.model_chooser import ModelChooser
from gui.workers import JobSlot

DEFAULT_PHOTO = "coffee"


def imagenet_activations_job(model: str, source: str, payload, layer: str, per_map: bool):
    """An ImageNet network's maps of one photo at `layer` (engine.network_views), off the GUI thread."""
    from engine.errors import DataError
    from engine.images import load_bundled_photo, load_image
    from engine.network_views import network_maps_job

    yield Progress(0, 1, "Reading the photo")
    if source == "file":
        image = load_image(payload, max_side=1024)
    elif source == "image":
        image = np.asarray(payload)
    elif source == "bundled":
        image = load_bundled_photo(payload)
    else:
        raise DataError("An ImageNet network looks at photos: open an image file, drop one here or pick a "
                        "bundled photo (drawings and dataset samples go to the trained run).")
    return (yield from network_maps_job(model, image, layer, per_map))


def input_and_enlarged_views(input_caption: str) -> tuple[QVBoxLayout, ImageView, ImageView]:
    """The column both pages of Activations show: the input above one enlarged map."""
    column = QVBoxLayout()
    input_view = ImageView(input_caption)
    enlarged_view = ImageView("Click a feature map to enlarge it")
    column.addWidget(input_view, 1)
    column.addWidget(enlarged_view, 1)
    return column, input_view, enlarged_view


class NetworkActivations(QObject):
    """Given the Activations panel: its `jobs`, `imagenet_mode()`, `recompute()`, `_open_file()`,
    `show_image()`, `_on_job_failed()` and (when maps start) `per_map_check`."""

    def __init__(self, panel):
        super().__init__(panel)
        self.panel = panel
        self.model_choice = ModelChooser(ctx=panel.ctx)
        self.layer_combo = QComboBox()
        self.layer_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.layer_combo.setMinimumContentsLength(16)
        self.layer_combo.setToolTip("The layer (real module path) whose feature maps are shown.")
        self.photo_combo = QComboBox()
        from engine.images import bundled_photos

        for name in bundled_photos():
            self.photo_combo.addItem(name.replace("_", " "), name)
        self.photo_combo.setCurrentIndex(max(0, self.photo_combo.findData(DEFAULT_PHOTO)))
        self.open_button = QPushButton("Open photo…")
        self.open_button.clicked.connect(panel._open_file)
        self.camera_button = QPushButton("Camera…")
        self.camera_button.setToolTip("A live camera (or video): watch the network react, Freeze a frame to see "
                                      "its maps here")
        self.camera_button.clicked.connect(self.open_camera)
        self.camera = None
        self.per_map_check = QCheckBox("Each map on its own scale")
        self.per_map_check.setToolTip("Stretch every map to its own range (weak channels show their pattern).")
        self.widgets = [self.model_choice, self.layer_combo, self.photo_combo, self.open_button,
                        self.camera_button, self.per_map_check]
        self.page = self._build_page()
        self.layers: list[tuple[str, tuple]] = []
        self.result = None  # engine.network_views.NetworkMaps shown on the page
        self.caption = ""
        self.pending: tuple[str, object, str] | None = None  # the input to show once the layers are known
        self.layer_jobs = JobSlot(self)  # the layer list of the chosen network
        self.layer_jobs.succeeded.connect(self._on_layers)
        self.layer_jobs.failed.connect(panel._on_job_failed)
        self.layer_combo.currentIndexChanged.connect(panel.recompute)
        self.photo_combo.activated.connect(self.show_chosen_photo)

    def _build_page(self) -> QWidget:
        page = QWidget()
        row = QHBoxLayout(page)
        left, self.input_view, self.enlarged_view = input_and_enlarged_views("The photo as the network sees it")
        row.addLayout(left, 1)
        self.grid = ImageGrid("Feature maps")
        self.grid.tile_clicked.connect(self.show_enlarged)
        row.addWidget(self.grid, 2)
        return page

    # ------------------------------------------------------------ network, layer, photo
    def load_layers(self) -> None:
        """List the chosen network's layers (a job); the pending input starts when they arrive."""
        from engine.network_views import network_layers_job

        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()  # the new network's layers arrive with network_layers_job
        self.layer_combo.blockSignals(False)
        name = self.model_choice.model_name()
        self.grid.set_caption(f"Loading {self.model_choice.currentText()}…")
        self.layer_jobs.start(lambda: network_layers_job(name))

    def _on_layers(self, result) -> None:
        name, _label, layers = result
        if not self.panel.imagenet_mode() or name != self.model_choice.model_name():
            return
        self.layers = layers
        current = self.layer_combo.currentData()
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        for path, shape in layers:
            self.layer_combo.addItem(f"{path}  ({'×'.join(map(str, shape))})", path)
        paths = [path for path, _shape in layers]
        default = current if current in paths else ("blocks.3" if "blocks.3" in paths else paths[len(paths) // 3])
        self.layer_combo.setCurrentIndex(paths.index(default))
        self.layer_combo.blockSignals(False)
        if self.pending is None:
            self.show_chosen_photo()
        else:
            self.panel.recompute()

    def show_chosen_photo(self, *_args) -> None:
        name = self.photo_combo.currentData() or DEFAULT_PHOTO
        self.start("bundled", name, f"{self.photo_combo.currentText()} (bundled photo)")

    def set_layer(self, path: str) -> None:
        index = self.layer_combo.findData(path)
        if index >= 0:
            self.layer_combo.setCurrentIndex(index)

    def open_camera(self) -> None:
        from gui.widgets.camera import CameraDialog

        if self.camera is None:
            self.camera = CameraDialog(self.model_choice.model_name(), self.panel)
            self.camera.frozen.connect(self.panel.show_image)
        self.camera.model_name = self.model_choice.model_name()
        self.camera.show()
        self.camera.raise_()

    # ------------------------------------------------------------ maps
    def recompute(self) -> None:
        if self.pending is not None:
            self.start(*self.pending)

    def start(self, source: str, payload, caption: str) -> None:
        self.pending = (source, payload, caption)
        layer = self.layer_combo.currentData()
        if not layer:
            return  # the layer list is loading: it starts this input when it arrives
        model, per_map = self.model_choice.model_name(), self.panel.per_map_check.isChecked()
        self.caption = caption
        self.panel.jobs.start(lambda: imagenet_activations_job(model, source, payload, layer, per_map))

    def show_maps(self, result) -> None:
        from engine.network_views import MAX_MAPS

        self.result = result
        self.input_view.set_image(result.crop)
        index, name, prob = result.top1
        self.input_view.set_caption(f"{self.caption} · {result.label} sees: {name} ({prob:.0%})")
        fm = result.maps
        self.grid.set_tiles(fm.maps, pad=1 if fm.maps.shape[-1] < 16 else 2)
        shape = "×".join(str(v) for v in fm.raw.shape[1:])
        shown = (f"first {fm.maps.shape[0]} of {result.channels} maps" if result.channels > MAX_MAPS
                 else f"{result.channels} maps")
        self.grid.set_caption(f"<b>{result.layer}</b> of {result.label} · {shown} of {shape} · "
                              f"range [{fm.vmin:.2f}, {fm.vmax:.2f}] · click a map to enlarge it")
        self.show_enlarged(0)

    def show_enlarged(self, index: int) -> None:
        result = self.result
        if result is None or index >= result.maps.maps.shape[0]:
            return
        tile = result.maps.maps[index]
        self.enlarged_view.set_image(nearest_upscale(tile, max(1, 224 // max(tile.shape))))
        self.enlarged_view.set_caption(f"{result.layer}, channel {index} (bright = strong activation)")
