"""Activations panel: pick an input (dataset sample, image file, drag-and-drop or
a digit drawn with the mouse) and see every layer's feature maps; click a map to
enlarge it next to the input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import (QCheckBox, QFileDialog, QGridLayout, QGroupBox, QHBoxLayout, QLabel,
                               QPushButton, QScrollArea, QSpinBox, QVBoxLayout, QWidget)

from engine.events import Progress
from engine.imaging import nearest_upscale
from gui import theme
from gui.panels.base import Panel
from gui.widgets.fit import FitsViewportHeight
from gui.widgets.draw_canvas import DrawCanvas
from gui.widgets.flow import control_strip
from gui.widgets.image_view import ImageGrid
from gui.widgets.model_chooser import ChoosesNetwork, network_choice
from gui.widgets.network_activations import NetworkActivations, input_and_enlarged_views
from gui.widgets.run_hint import NoModelHint, PageStack

IMAGENET_PAGE = 2


def activations_job(model, source: str, payload, input_shape, per_map: bool):
    """Prepare the input and every layer's maps off the GUI thread."""
    from engine.errors import DataError
    from engine.images import load_image
    from engine.introspect import drawn_digit_to_input, feature_maps_for, image_to_input, input_to_display

    yield Progress(0, 1, "Computing feature maps")
    if source == "sample":
        x = payload
    elif source == "file":
        x = image_to_input(load_image(payload), input_shape)
    elif source == "image":
        x = image_to_input(payload, input_shape)
    elif source == "drawing":
        x = drawn_digit_to_input(payload, input_shape)
    else:
        raise DataError(f"Unknown input source {source}.")
    model.eval()
    return input_to_display(x), feature_maps_for(model, x, per_map)


class ActivationsPanel(ChoosesNetwork, FitsViewportHeight, Panel):
    title = "Activations"
    description = "Every layer's feature maps for one input."

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.run = None
        self.data = None
        self.maps = []  # engine.introspect.FeatureMaps per layer
        self.input_image: np.ndarray | None = None
        self.caption = ""
        self.selected: tuple[str, int] | None = None
        self.layer_grids: dict[str, ImageGrid] = {}
        self.setAcceptDrops(True)

        outer = QVBoxLayout(self)
        self.network_combo = network_choice("The network trained here (every layer), or a pretrained ImageNet network "
                                            "or your own (one chosen layer's maps of a photo).")
        self.network = NetworkActivations(self)
        # The network side's parts under the names ChoosesNetwork, tests and the layout checks use.
        self.model_choice, self.net_layer_combo = self.network.model_choice, self.network.layer_combo
        self.photo_combo, self.net_open_button = self.network.photo_combo, self.network.open_button
        self.camera_button, self.net_per_map_check = self.network.camera_button, self.network.per_map_check
        self.net_widgets, self.net_jobs = self.network.widgets, self.network.layer_jobs
        self.net_input_view, self.net_enlarged_view = self.network.input_view, self.network.enlarged_view
        self.net_grid = self.network.grid
        self.network_strip = control_strip("Network:", self.network_combo, self.model_choice,
                                           "Layer:", self.net_layer_combo, "Photo:", self.photo_combo,
                                           self.net_open_button, self.camera_button, self.net_per_map_check)
        outer.addWidget(self.network_strip)
        self.stack = PageStack()
        self.hint = NoModelHint(ctx)
        self.stack.addWidget(self.hint)
        content = QWidget()
        row = QHBoxLayout(content)

        # The controls column scrolls on its own when the text is large: the input and the maps
        # (the point of the panel) must never go below the fold with them.
        left_host = QWidget()
        left = QVBoxLayout(left_host)
        left.setContentsMargins(0, 0, 0, 0)
        source_box = QGroupBox("Input")
        source = QGridLayout(source_box)
        source.addWidget(QLabel("Validation image #"), 0, 0)
        self.index_spin = QSpinBox()
        self.index_spin.setRange(0, 0)
        self.index_spin.valueChanged.connect(self.show_sample)
        source.addWidget(self.index_spin, 0, 1)
        self.prev_button = QPushButton("◀ Previous")
        self.prev_button.clicked.connect(self._previous)
        self.next_button = QPushButton("Next ▶")
        self.next_button.clicked.connect(self._next)
        source.addWidget(self.prev_button, 1, 0)
        source.addWidget(self.next_button, 1, 1)
        self.open_button = QPushButton("Open image file…")
        self.open_button.clicked.connect(self._open_file)
        source.addWidget(self.open_button, 2, 0, 1, 2)
        drop = QLabel("…or drop an image file here")
        drop.setAlignment(Qt.AlignCenter)
        source.addWidget(drop, 3, 0, 1, 2)
        left.addWidget(source_box)

        draw_box = QGroupBox("Draw a digit")
        draw = QVBoxLayout(draw_box)
        self.canvas = DrawCanvas()
        self.canvas.drawing_finished.connect(self.show_drawing)
        draw.addWidget(self.canvas, 0, Qt.AlignHCenter)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.canvas.clear)
        draw.addWidget(self.clear_button)
        left.addWidget(draw_box)
        self.per_map_check = QCheckBox("Scale each map on its own")
        self.per_map_check.setToolTip("Off: one colour scale per layer (weak maps look dark). On: every map "
                                      "stretched to its own range.")
        self.per_map_check.toggled.connect(self.recompute)
        left.addWidget(self.per_map_check)
        left.addStretch(1)
        self.controls_scroll = QScrollArea()
        self.controls_scroll.setWidgetResizable(True)
        self.controls_scroll.setFrameShape(QScrollArea.NoFrame)
        self.controls_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.controls_scroll.setWidget(left_host)
        row.addWidget(self.controls_scroll, 0)

        middle, self.input_view, self.enlarged_view = input_and_enlarged_views("Input")
        row.addLayout(middle, 1)

        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.maps_host = QWidget()
        self.maps_layout = QVBoxLayout(self.maps_host)
        self.scroll.setWidget(self.maps_host)
        row.addWidget(self.scroll, 2)
        self.stack.addWidget(content)
        self.stack.addWidget(self.network.page)
        self._fit_controls_width()
        outer.addWidget(self.stack, 1)
        self.network_combo.currentIndexChanged.connect(self._on_network_changed)
        self.model_choice.currentIndexChanged.connect(self._on_network_changed)
        self.net_per_map_check.toggled.connect(self.per_map_check.setChecked)  # one setting, two places
        self._show_network_widgets()

        self._pending: tuple[str, object, str] | None = None
        self.jobs.succeeded.connect(self.on_maps_ready)
        ctx.image_sent.connect(self._on_image_sent)  # an image the user clicked in Feature space
        self.follow_run(self.on_run_changed)

    def _fit_controls_width(self) -> None:
        """The controls column is as wide as its content at this text size (no sideways scroll)."""
        bar = self.controls_scroll.verticalScrollBar().sizeHint().width()
        self.controls_scroll.setMinimumWidth(self.controls_scroll.widget().minimumSizeHint().width() + bar + 2)

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().changeEvent(event)
        if event.type() in (QEvent.FontChange, QEvent.StyleChange) and hasattr(self, "controls_scroll"):
            self._fit_controls_width()

    # ------------------------------------------------------------ model and data
    def on_run_changed(self, run) -> None:
        from engine.data import load_dataset
        from engine.errors import ConvScopeError

        if run is None:
            return
        self.run = run
        try:
            self.data = load_dataset(run.dataset)
        except ConvScopeError as exc:
            self.data = None
            self.ctx.show_error(exc.title, str(exc))
        self.index_spin.blockSignals(True)
        self.index_spin.setRange(0, max(0, len(self.data.val_x) - 1) if self.data is not None else 0)
        self.index_spin.blockSignals(False)
        self._build_layer_grids()
        if self.imagenet_mode():
            return  # the trained run's page waits until the user switches back
        self.stack.setCurrentIndex(1)
        if self._pending is None or self._pending[0] == "sample":
            self.show_sample(self.index_spin.value())
        else:
            self.recompute()

    def _build_layer_grids(self) -> None:
        while self.maps_layout.count():
            item = self.maps_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.layer_grids = {}
        for name, _module in self.run.model.named_layers():
            grid = ImageGrid(name)
            grid.setMinimumHeight(int(max(230, 160 * theme.current["scale"])))  # the caption grows with the text
            grid.tile_clicked.connect(self._on_tile_clicked)
            self.layer_grids[name] = grid
            self.maps_layout.addWidget(grid)
        self.maps_layout.addStretch(1)

    # ------------------------------------------------------------ inputs
    def show_sample(self, index: int) -> None:
        if self.data is None:
            return
        index = int(min(max(index, 0), len(self.data.val_x) - 1))
        label = self.data.class_names[int(self.data.val_y[index])]
        self._start("sample", self.data.val_x[index], f"Validation image #{index} (label {label})")

    def _previous(self) -> None:
        self.index_spin.setValue(max(0, self.index_spin.value() - 1))

    def _next(self) -> None:
        self.index_spin.setValue(min(self.index_spin.maximum(), self.index_spin.value() + 1))

    def _open_file(self) -> None:
        from gui.widgets.image_source import IMAGE_FILTER

        path, _ = QFileDialog.getOpenFileName(self, "Open an image", "", IMAGE_FILTER)
        if path:
            self.show_file(path)

    def _open_camera(self) -> None:
        self.network.open_camera()

    @property
    def camera(self):
        """The camera dialog (made on first use)."""
        return self.network.camera

    def show_file(self, path: str) -> None:
        self._start("file", str(path), Path(path).name)

    def show_image(self, image: np.ndarray, caption: str = "image") -> None:
        self._start("image", np.asarray(image), caption)

    def _on_image_sent(self, image, caption: str, panel_title: str) -> None:
        if panel_title == self.title and image is not None:
            self.show_image(image, caption)

    def show_drawing(self) -> None:
        if self.canvas.is_empty():
            return
        self._start("drawing", self.canvas.drawing(), "Your drawing")

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.show_file(urls[0].toLocalFile())
            event.acceptProposedAction()

    def recompute(self, *_args) -> None:
        if self.imagenet_mode():
            self.network.recompute()
        elif self._pending is not None:
            self._start(*self._pending)

    # ------------------------------------------------------------ an ImageNet network
    @property
    def network_result(self):
        """engine.network_views.NetworkMaps shown on the ImageNet page."""
        return self.network.result

    def _show_network_widgets(self) -> None:
        imagenet = self.imagenet_mode()
        for widget in self.net_widgets:
            widget.setVisible(imagenet)
        for label in self.network_strip.findChildren(QLabel):
            if label.text() in ("Layer:", "Photo:"):
                label.setVisible(imagenet)

    def _on_network_changed(self, *_args) -> None:
        self._show_network_widgets()
        if not self.imagenet_mode():
            self.net_jobs.stop()
            self.jobs.stop()
            self.stack.setCurrentIndex(1 if self.run is not None else 0)
            self.recompute()
            return
        self.stack.setCurrentIndex(IMAGENET_PAGE)
        self.jobs.stop()
        self.network.load_layers()

    def set_network_layer(self, path: str) -> None:
        self.network.set_layer(path)

    def shutdown(self) -> None:
        self.net_jobs.stop()
        super().shutdown()

    def _start(self, source: str, payload, caption: str) -> None:
        if self.imagenet_mode():
            self.network.start(source, payload, caption)
            return
        self._pending = (source, payload, caption)
        if self.run is None:
            return
        model, shape, per_map = self.run.model, tuple(self.run.spec.input_shape), self.per_map_check.isChecked()
        self.caption = caption
        self.jobs.start(lambda: activations_job(model, source, payload, shape, per_map))

    # ------------------------------------------------------------ results
    def on_maps_ready(self, result) -> None:
        from engine.network_views import NetworkMaps

        if isinstance(result, NetworkMaps):
            if self.imagenet_mode():
                self.network.show_maps(result)
            return
        image, maps = result
        self.input_image = image
        self.maps = maps
        self.input_view.set_image(nearest_upscale(image, max(1, 224 // max(image.shape[:2]))))
        self.input_view.set_caption(f"Input: {self.caption}")
        self.ctx.set_input_image(image, self.caption)
        for fm in maps:
            grid = self.layer_grids.get(fm.layer)
            if grid is None:
                continue
            grid.set_tiles(fm.maps, pad=1 if fm.maps.shape[-1] < 16 else 2)
            shape = "×".join(str(v) for v in fm.raw.shape)
            kind = f"{fm.maps.shape[0]} maps" if fm.spatial else f"{fm.raw.size} units (as a square)"
            grid.set_caption(f"<b>{fm.layer}</b> · {shape} · {kind} · range [{fm.vmin:.2f}, {fm.vmax:.2f}]")
        if self.selected is not None:
            self._show_enlarged(*self.selected)

    def _on_tile_clicked(self, index: int) -> None:
        grid = self.sender()
        layer = next((name for name, g in self.layer_grids.items() if g is grid), None)
        if layer is not None:
            self._show_enlarged(layer, index)

    def _show_enlarged(self, layer: str, index: int) -> None:
        fm = next((m for m in self.maps if m.layer == layer), None)
        if fm is None or index >= fm.maps.shape[0]:
            return
        self.selected = (layer, index)
        tile = fm.maps[index]
        self.enlarged_view.set_image(nearest_upscale(tile, max(1, 224 // max(tile.shape))))
        what = f"map {index}" if fm.spatial else "all units"
        self.enlarged_view.set_caption(f"{layer}, {what} (bright = strong activation)")

    # ------------------------------------------------------------ hooks
    def save_state(self) -> dict:
        return {"index": self.index_spin.value(), "per_map": self.per_map_check.isChecked(),
                "network": self.network_combo.currentData(), "model": self.model_choice.model_name(),
                "layer": self.net_layer_combo.currentData() or ""}

    def restore_state(self, state: dict) -> None:
        if state.get("network") == "imagenet":
            self.show_network(str(state.get("model") or self.model_choice.model_name()))
        elif state.get("network") == "run" and self.imagenet_mode():
            self.network_combo.setCurrentIndex(self.network_combo.findData("run"))
        self.per_map_check.setChecked(bool(state.get("per_map", False)))
        self.index_spin.setValue(int(state.get("index", 0)))

    def apply_lesson(self, setup: dict) -> None:
        self.restore_state(setup)
        if setup.get("image_file"):
            self.show_file(setup["image_file"])

