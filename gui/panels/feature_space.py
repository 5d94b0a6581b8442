"""Feature space: how the network arranges the data (t-SNE / PCA of a layer's
features), linked back to the images.

The engine job (engine.embed.feature_space_for_run) extracts features and
optimizes the layout in the worker thread, yielding partial layouts; this panel
keeps the latest one and redraws from a QTimer. Points are coloured by true or
predicted class (or correctness), hovering shows the image, clicking sends it
to the activation / saliency tools, and a box or lasso selection shows the
selected images as a grid.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QPushButton, QScrollArea, QSpinBox, QSplitter, QVBoxLayout,
                               QWidget)

from engine import embed
from engine.embed import (PIXELS, EmbeddingPartial, FeatureSet, FeatureSpaceResult, FeaturesReady, ModelReady,
                          TSNEParams)
from engine.errors import ConvScopeError
from engine.events import LogLine, Progress
from gui import theme
from gui.panels.base import Panel
from gui.theme import colour, point_size
from gui.widgets.image_view import ImageGrid, ImageView
from gui.widgets.legend import outside_legend

DEFAULT_LAYER = "(before the classifier)"


def imagenet_available() -> bool:
    """The ImageNet lab's engine module is present (the model itself may still need its package)."""
    import importlib.util

    return importlib.util.find_spec("engine.pretrained") is not None
COLOUR_MODES = [("true class", "true"), ("predicted class", "predicted"), ("correct / wrong", "correct")]
SELECT_MODES = [("Pan / zoom", "pan"), ("Box select", "box"), ("Lasso select", "lasso")]
MAX_GRID_IMAGES = 200


class SelectViewBox(pg.ViewBox):
    """A ViewBox whose left-drag pans, or draws a box / lasso and reports it."""

    rect_selected = Signal(float, float, float, float)  # x0, y0, x1, y1 in data units
    polygon_selected = Signal(object)  # (K, 2) array in data units

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.select_mode = "pan"
        self._path: list[tuple[float, float]] = []
        self._outline = pg.PlotCurveItem(pen=pg.mkPen(theme.theme_colour("plot_fg"), width=2, style=Qt.DashLine))
        self._outline.setZValue(100)
        self.addItem(self._outline, ignoreBounds=True)

    def mouseDragEvent(self, ev, axis=None):
        if self.select_mode == "pan" or ev.button() != Qt.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        pos = self.mapSceneToView(ev.scenePos())
        if ev.isStart():
            start = self.mapSceneToView(ev.buttonDownScenePos())
            self._path = [(start.x(), start.y())]
        self._path.append((pos.x(), pos.y()))
        if self.select_mode == "box":
            (x0, y0), (x1, y1) = self._path[0], self._path[-1]
            self._outline.setData([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0])
        else:
            xs, ys = zip(*(self._path + self._path[:1]))
            self._outline.setData(list(xs), list(ys))
        if ev.isFinish():
            self._outline.setData([], [])
            if self.select_mode == "box":
                (x0, y0), (x1, y1) = self._path[0], self._path[-1]
                self.rect_selected.emit(x0, y0, x1, y1)
            else:
                self.polygon_selected.emit(np.asarray(self._path, dtype=np.float64))
            self._path = []


class EmbeddingPlot(QWidget):
    """One scatter of a 2-D layout: a scatter item per colour group (so the legend
    comes for free), an optional thumbnail mosaic, hover / click / selection."""

    point_hovered = Signal(int)  # -1 when the pointer leaves the points
    point_clicked = Signal(int)
    selection_made = Signal(object)  # np.ndarray of point indices

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.view_box = SelectViewBox(enableMenu=False)
        self.plot = pg.PlotWidget(viewBox=self.view_box)
        self.title_text, self.subtitle_text = title, ""
        self.plot.setTitle(title)
        self.plot.showGrid(x=False, y=False)
        # Under the plot, never over the clusters (issue 15).
        self.legend = outside_legend(self.plot.getPlotItem(), labelTextSize=f"{point_size(0.9):.0f}pt",
                                     colCount=5)
        layout.addWidget(self.plot)
        self.mosaic = pg.ImageItem()
        self.mosaic.setZValue(-10)
        self.mosaic.hide()
        self.plot.addItem(self.mosaic)
        self.marker = pg.ScatterPlotItem(size=16, pen=pg.mkPen(theme.theme_colour("plot_fg"), width=2.5), brush=None,
                                         symbol="o")
        self.marker.setZValue(50)
        self.plot.addItem(self.marker)
        self.items: list[pg.ScatterPlotItem] = []
        self.groups: list[tuple[str, str, np.ndarray]] = []
        self.xy: np.ndarray | None = None
        self.images: np.ndarray | None = None
        self.show_thumbnails = False
        self._last_hover = -1
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.plot.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self.view_box.rect_selected.connect(self._on_rect)
        self.view_box.polygon_selected.connect(self._on_polygon)
        self.set_axis_names("t-SNE")
        theme.notifier.changed.connect(self.set_title)  # re-measure the title at a new text size
        theme.notifier.changed.connect(self._restyle_marks)

    def _restyle_marks(self) -> None:
        """Hover ring and selection outline in the theme's foreground (visible on both backgrounds)."""
        fg = theme.theme_colour("plot_fg")
        self.marker.setPen(pg.mkPen(fg, width=2.5))
        self.view_box._outline.setPen(pg.mkPen(fg, width=2, style=Qt.DashLine))

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self.set_title()  # the title's type size follows the plot's width

    def set_axis_names(self, method: str) -> None:
        names = ("PC 1", "PC 2") if method == "PCA" else (f"{method} 1", f"{method} 2")
        self.plot.setLabel("bottom", names[0])
        self.plot.setLabel("left", names[1])

    def set_title(self, text: str | None = None, subtitle: str | None = None) -> None:
        if text is not None:
            self.title_text = text
        if subtitle is not None:
            self.subtitle_text = subtitle
        # Details in brackets and the score after them on lines of their own, so the title
        # fits a narrow plot at large text sizes; the subtitle follows the text size.
        title = self.title_text.replace(" (", "<br>(", 1).replace("), ", ")<br>", 1)
        sub = (f"<br><span style='font-size:{theme.point_size(0.85):.1f}pt'>{self.subtitle_text}</span>"
               if self.subtitle_text else "")
        self.plot.setTitle(title + sub)
        plot_item = self.plot.getPlotItem()
        # A title wider than the plot would widen the plot item past its view (the right edge,
        # legend entries included, cut off): smaller type until it fits, and no minimum width.
        available = self.plot.width() - plot_item.getAxis("left").width() - 12
        wide = plot_item.titleLabel.item.boundingRect().width()
        if self.plot.isVisible() and available > 50 and wide > available:
            self.plot.setTitle(title + sub, size=f"{theme.point_size(1.0) * available / wide:.1f}pt")
        theme.unpin_label_width(plot_item.titleLabel)
        # pyqtgraph fixes the title row at 30 px: make it as tall as the lines need.
        height = int(plot_item.titleLabel.item.boundingRect().height()) + 4
        plot_item.titleLabel.setMaximumHeight(height)
        plot_item.layout.setRowFixedHeight(0, height)

    def clear(self) -> None:
        self.xy = None
        self.set_groups([])
        self.mosaic.hide()
        self.marker.setData([], [])

    def set_groups(self, groups: list[tuple[str, str, np.ndarray]]) -> None:
        """(legend name, colour hex, point indices) per group."""
        for item in self.items:
            self.plot.removeItem(item)
        self.legend.clear()
        self.items = []
        self.groups = groups
        size = 7 if not groups or sum(len(g[2]) for g in groups) <= 2000 else 5
        for name, hex_colour, _ in groups:
            item = pg.ScatterPlotItem(size=size, pen=None, brush=pg.mkBrush(hex_colour), name=name)
            self.plot.addItem(item)
            self.items.append(item)

    def set_layout(self, xy: np.ndarray) -> None:
        self.xy = xy
        self.redraw()

    def redraw(self) -> None:
        if self.xy is None:
            for item in self.items:
                item.setData([], [])
            return
        xy = self.xy
        for item, (_, _, idx) in zip(self.items, self.groups):
            item.setData(x=xy[idx, 0], y=xy[idx, 1])
            item.setVisible(not self.show_thumbnails)
        self.legend.setVisible(not self.show_thumbnails)  # the colours are hidden under the thumbnails
        self.legend.data_changed()
        if self.show_thumbnails and self.images is not None and len(self.images) == len(xy):
            picture, (x0, y0, width, height) = embed.thumbnail_mosaic(xy, self.images, cells=32)
            if picture.shape[2] == 1:
                picture = picture[:, :, 0]
            # Image row 0 is drawn at the bottom of a y-up plot: flip so the mosaic reads upright.
            self.mosaic.setImage(np.ascontiguousarray(picture[::-1]), levels=(0, 255))
            self.mosaic.setRect(x0, y0, width, height)
            self.mosaic.show()
        else:
            self.mosaic.hide()

    def mark(self, index: int | None) -> None:
        if index is None or self.xy is None or index >= len(self.xy):
            self.marker.setData([], [])
        else:
            self.marker.setData([float(self.xy[index, 0])], [float(self.xy[index, 1])])

    def point_at_scene(self, scene_pos) -> int | None:
        if self.xy is None or not self.plot.sceneBoundingRect().contains(scene_pos):
            return None
        pos = self.view_box.mapSceneToView(scene_pos)
        pixel_w, pixel_h = self.view_box.viewPixelSize()
        return embed.nearest_point(self.xy, pos.x(), pos.y(), max_distance=8 * max(pixel_w, pixel_h))

    def _on_mouse_moved(self, scene_pos) -> None:
        index = self.point_at_scene(scene_pos)
        index = -1 if index is None else index
        if index != self._last_hover:
            self._last_hover = index
            self.point_hovered.emit(index)

    def _on_mouse_clicked(self, event) -> None:
        if event.button() != Qt.LeftButton:
            return
        index = self.point_at_scene(event.scenePos())
        if index is not None:
            self.point_clicked.emit(index)

    def _on_rect(self, x0: float, y0: float, x1: float, y1: float) -> None:
        if self.xy is not None:
            self.selection_made.emit(embed.points_in_rect(self.xy, x0, y0, x1, y1))

    def _on_polygon(self, polygon: np.ndarray) -> None:
        if self.xy is not None:
            self.selection_made.emit(embed.points_in_polygon(self.xy, polygon))


class FeatureSpacePanel(Panel):
    title = "Feature space"
    description = "t-SNE and PCA of learned features, linked to the images."

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.run = ctx.run  # the model whose features are shown (may be a quick one trained here)
        self.features: FeatureSet | None = None
        self.result: FeatureSpaceResult | None = None
        self.latest: dict[str, np.ndarray] = {}  # source -> newest layout from the job
        self.frames_received = 0
        self.selected: np.ndarray = np.zeros(0, dtype=np.int64)
        self._dirty = False
        self._build_ui()
        self.redraw_timer = QTimer(self)
        self.redraw_timer.setInterval(50)
        self.redraw_timer.timeout.connect(self._redraw_if_dirty)
        self.jobs.event.connect(self._on_event)
        self.jobs.succeeded.connect(self._on_succeeded)
        theme.notifier.changed.connect(self._apply_colours)  # class colours belong to the theme
        self.jobs.stopped.connect(self._on_stopped)
        self.jobs.failed.connect(self._on_failed)
        self.jobs.running_changed.connect(self._on_running_changed)
        ctx.run_changed.connect(self._on_run_changed)
        self._refresh_layers()
        self._on_method_changed()
        self._on_model_changed()

    # ------------------------------------------------------------ widgets
    def _build_ui(self) -> None:
        outer = QHBoxLayout(self)
        controls = QWidget()
        form_layout = QVBoxLayout(controls)

        source = QGroupBox("What to embed")
        form = QFormLayout(source)
        self.model_combo = QComboBox()
        self.model_combo.addItem("Trained model", "trained")
        if imagenet_available():
            self.model_combo.addItem("ImageNet classifier (image folder)", "imagenet")
        self.model_combo.setToolTip("Your trained network on its dataset, or the pretrained ImageNet classifier "
                                    "on a folder of photos (one sub-folder per class).")
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        form.addRow("Model", self.model_combo)
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        form.addRow("", self.model_label)
        self.folder_button = QPushButton("Image folder…")
        self.folder_button.setToolTip("A folder with one sub-folder of images per class (e.g. dog/, food/).")
        self.folder_button.clicked.connect(self._ask_folder)
        form.addRow("", self.folder_button)
        self.folder = ""
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("The layer whose outputs are the features. The default is the layer before "
                                    "the classifier; 'pixels' lays out the raw images.")
        form.addRow("Layer", self.layer_combo)
        self.split_combo = QComboBox()
        self.split_combo.addItem("validation", "val")
        self.split_combo.addItem("training", "train")
        form.addRow("Images", self.split_combo)
        self.sample_spin = QSpinBox()
        self.sample_spin.setRange(20, 5000)
        self.sample_spin.setSingleStep(250)
        self.sample_spin.setValue(1000)
        self.sample_spin.setToolTip("How many images to embed (a fixed random sample of the split).")
        form.addRow("Sample size", self.sample_spin)
        form_layout.addWidget(source)

        method_box = QGroupBox("Method")
        form = QFormLayout(method_box)
        self.method_combo = QComboBox()
        self.method_combo.addItem("t-SNE", "tsne")
        self.method_combo.addItem("PCA", "pca")
        self.method_combo.setToolTip("PCA: the two directions of largest variance (instant, linear). t-SNE: keeps "
                                     "neighbours together (non-linear; distances between clusters mean little).")
        self.method_combo.currentIndexChanged.connect(self._on_method_changed)
        form.addRow("Method", self.method_combo)
        self.perplexity_spin = QDoubleSpinBox()
        self.perplexity_spin.setRange(2, 100)
        self.perplexity_spin.setValue(30)
        self.perplexity_spin.setToolTip("Roughly how many neighbours each point keeps close (5-50 is typical).")
        form.addRow("Perplexity", self.perplexity_spin)
        self.iterations_spin = QSpinBox()
        self.iterations_spin.setRange(50, 5000)
        self.iterations_spin.setSingleStep(50)
        self.iterations_spin.setValue(750)
        self.iterations_spin.setToolTip("Gradient steps in all; the first third exaggerates attraction so "
                                        "clusters form early.")
        form.addRow("Iterations", self.iterations_spin)
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setRange(0, 100000)
        self.lr_spin.setDecimals(0)
        self.lr_spin.setSingleStep(50)
        self.lr_spin.setSpecialValueText("auto")
        self.lr_spin.setValue(0)
        self.lr_spin.setToolTip("Step size of the layout optimization; 'auto' uses N / exaggeration.")
        form.addRow("Learning rate", self.lr_spin)
        self.init_combo = QComboBox()
        self.init_combo.addItem("PCA", "pca")
        self.init_combo.addItem("random", "random")
        self.init_combo.setToolTip("Start from the PCA layout (stable, keeps global structure) or from noise.")
        form.addRow("Start from", self.init_combo)
        self.tsne_widgets = [self.perplexity_spin, self.iterations_spin, self.lr_spin, self.init_combo]
        self.compare_check = QCheckBox("Compare with pixels")
        self.compare_check.setToolTip("Lay out the same images from their pixels too, side by side.")
        form.addRow(self.compare_check)
        form_layout.addWidget(method_box)

        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Compute the features and their layout (trains a quick LeNet-5 first "
                                     "if no model has been trained yet).")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        # Start / Stop stay under the scrolling settings, always on screen; the status is the
        # first thing in the settings column.
        self.run_buttons = buttons

        view_box = QGroupBox("View")
        form = QFormLayout(view_box)
        self.colour_combo = QComboBox()
        for text, mode in COLOUR_MODES:
            self.colour_combo.addItem(text, mode)
        self.colour_combo.currentIndexChanged.connect(self._apply_colours)
        form.addRow("Colour by", self.colour_combo)
        self.select_combo = QComboBox()
        for text, mode in SELECT_MODES:
            self.select_combo.addItem(text, mode)
        self.select_combo.setToolTip("Left-drag pans, or draws a box / lasso: the images inside appear below.")
        self.select_combo.currentIndexChanged.connect(self._on_select_mode_changed)
        form.addRow("Mouse", self.select_combo)
        self.thumbnails_check = QCheckBox("Show thumbnails")
        self.thumbnails_check.setToolTip("Draw each image's thumbnail at its position in the layout.")
        self.thumbnails_check.toggled.connect(self._on_thumbnails_toggled)
        form.addRow(self.thumbnails_check)
        export = QHBoxLayout()
        self.csv_button = QPushButton("CSV…")
        self.csv_button.setToolTip("Export the layout (coordinates, true class, prediction) as CSV.")
        self.csv_button.clicked.connect(self._ask_export_csv)
        self.png_button = QPushButton("PNG…")
        self.png_button.setToolTip("Export the plot as a PNG image.")
        self.png_button.clicked.connect(self._ask_export_png)
        export.addWidget(self.csv_button)
        export.addWidget(self.png_button)
        form.addRow("Export", export)
        form_layout.addWidget(view_box)

        self.status_label = QLabel("Press Start to lay out the features.")
        self.status_label.setWordWrap(True)
        # Inside the scroll area: a word-wrapped label beside it would make the panel as tall as
        # all the settings (height-for-width layouts take the scroll area's full size hint).
        form_layout.insertWidget(0, self.status_label)
        form_layout.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidget(controls)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(330)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.settings_scroll, self.settings_host = scroll, controls
        for combo in controls.findChildren(QComboBox):
            # Elide long entries instead of widening the column past its scroll area.
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(6)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(scroll, 1)
        left_layout.addLayout(self.run_buttons)
        self.settings_column = left
        outer.addWidget(left)

        right = QSplitter(Qt.Vertical)
        plots = QWidget()
        plots_layout = QHBoxLayout(plots)
        plots_layout.setContentsMargins(0, 0, 0, 0)
        self.pixel_plot = EmbeddingPlot("Raw pixels")
        self.feature_plot = EmbeddingPlot("Trained features")
        plots_layout.addWidget(self.pixel_plot)
        plots_layout.addWidget(self.feature_plot)
        self.pixel_plot.hide()
        self.plots = {"features": self.feature_plot, "pixels": self.pixel_plot}
        for plot in self.plots.values():
            plot.point_hovered.connect(self._on_point_hovered)
            plot.point_clicked.connect(self._on_point_clicked)
            plot.selection_made.connect(self._on_selection)
        self.plots_widget = plots
        right.addWidget(plots)
        bottom = QWidget()
        bottom_layout = QHBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        self.preview = ImageView("Hover over a point to see its image")
        self.preview.setFixedWidth(260)
        bottom_layout.addWidget(self.preview)
        self.selection_grid = ImageGrid("Select points with a box or lasso (Mouse) to see their images here")
        self.selection_grid.tile_clicked.connect(self._on_tile_clicked)
        bottom_layout.addWidget(self.selection_grid, 1)
        right.addWidget(bottom)
        right.setSizes([640, 200])
        outer.addWidget(right, 1)
        self._fit_settings_width()

    def _fit_settings_width(self) -> None:
        """The settings column takes at most about 30 % of the width: at large text sizes labels go
        above their fields instead of widening the column; the plots keep the room."""
        wrap = QFormLayout.WrapAllRows if theme.current["scale"] >= 1.5 else QFormLayout.WrapLongRows
        for form in self.settings_host.findChildren(QFormLayout):
            form.setRowWrapPolicy(wrap)
        x = self.fontMetrics().horizontalAdvance("X")
        for combo in self.settings_host.findChildren(QComboBox):
            combo.setMinimumWidth(8 * x)
        self.settings_host.layout().activate()
        scrollbar = self.settings_scroll.verticalScrollBar().sizeHint().width()
        needed = self.settings_host.minimumSizeHint().width() + scrollbar + 4
        self.settings_scroll.setMinimumWidth(needed)
        width = self.width() if self.isVisible() else 1400
        self.settings_scroll.setMaximumWidth(max(needed, int(0.3 * width)))
        self.settings_column.setMaximumWidth(self.settings_scroll.maximumWidth())

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self._fit_settings_width()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._fit_settings_width()

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().changeEvent(event)
        if event.type() in (QEvent.FontChange, QEvent.StyleChange) and hasattr(self, "settings_scroll"):
            self._fit_settings_width()  # the text size changed while the app runs

    # ------------------------------------------------------------ model and layers
    def _on_run_changed(self, run) -> None:
        self.run = run
        self._refresh_layers()

    def using_imagenet(self) -> bool:
        return self.model_combo.currentData() == "imagenet"

    def _on_model_changed(self) -> None:
        imagenet = self.using_imagenet()
        self.folder_button.setVisible(imagenet)
        for widget in (self.split_combo, self.sample_spin):
            widget.setEnabled(not imagenet)
        self._refresh_layers()

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder with one sub-folder per class")
        if folder:
            self.set_folder(folder)

    def set_folder(self, folder: str) -> None:
        self.folder = str(folder)
        self._refresh_layers()

    def _refresh_layers(self) -> None:
        current = self.layer_combo.currentText()
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        self.layer_combo.addItem(DEFAULT_LAYER)
        if self.using_imagenet():
            self.model_label.setText(f"EfficientNet-Lite0 on {self.folder}" if self.folder
                                     else "Choose an image folder (one sub-folder per class).")
        elif self.run is not None:
            for name in embed.layer_names(self.run.model):
                self.layer_combo.addItem(name)
            name = self.run.name if self.run.dataset in self.run.name else f"{self.run.name} ({self.run.dataset})"
            self.model_label.setText(name)
        else:
            self.layer_combo.addItem(PIXELS)
            self.model_label.setText("none yet: Start trains a quick LeNet-5 on MNIST-5k")
        index = self.layer_combo.findText(current)
        self.layer_combo.setCurrentIndex(max(0, index))
        self.layer_combo.blockSignals(False)

    def _on_method_changed(self) -> None:
        tsne = self.method_combo.currentData() == "tsne"
        for widget in self.tsne_widgets:
            widget.setEnabled(tsne)

    # ------------------------------------------------------------ the job
    def tsne_params(self) -> TSNEParams:
        lr = self.lr_spin.value()
        return TSNEParams(perplexity=self.perplexity_spin.value(), iterations=self.iterations_spin.value(),
                          learning_rate="auto" if lr <= 0 else float(lr),
                          initialization=self.init_combo.currentData(), frame_every=10)

    def start(self) -> None:
        layer = self.layer_combo.currentText()
        options = dict(layer=None if layer == DEFAULT_LAYER else layer, split=self.split_combo.currentData(),
                       sample_size=self.sample_spin.value(), method=self.method_combo.currentData(),
                       params=self.tsne_params(), compare_pixels=self.compare_check.isChecked())
        try:
            options["params"].validate()
        except ConvScopeError as exc:
            self.ctx.show_error(exc.title, str(exc))
            return
        if self.using_imagenet() and not self.folder:
            self.ctx.show_error("No image folder", "Choose a folder with one sub-folder of images per class "
                                "(Image folder…), then press Start.")
            return
        run, dataset = self.run, (self.run.dataset if self.run is not None else self.ctx.dataset)
        if run is None and dataset not in ("mnist5k", "shapes"):
            dataset = "mnist5k"  # the quick LeNet-5 needs images at least 28 px wide
        self.result = None
        self.features = None
        self.latest = {}
        self.frames_received = 0
        self.selected = np.zeros(0, dtype=np.int64)
        self.selection_grid.clear()
        compare = options["compare_pixels"]
        self.pixel_plot.setVisible(compare)
        axis = "t-SNE" if options["method"] == "tsne" else "PCA"
        for plot in self.plots.values():
            plot.clear()
            plot.set_axis_names(axis)
        self.feature_plot.set_title("Trained features" if compare else "Features")
        self.pixel_plot.set_title("Raw pixels")
        self.status_label.setText("Starting…")
        if self.using_imagenet():
            folder = self.folder
            del options["layer"], options["split"], options["sample_size"]
            self.jobs.start(lambda: embed.imagenet_folder_feature_space_job(folder, **options))
        else:
            self.jobs.start(lambda: embed.feature_space_for_run(run, dataset, **options))

    def stop(self) -> None:
        if not self.jobs.running:
            return
        self.jobs.stop()  # -> _on_stopped

    def _on_running_changed(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        if running:
            self.redraw_timer.start()
        else:
            self.redraw_timer.stop()
            self._redraw_if_dirty()

    def _on_event(self, event) -> None:
        if isinstance(event, EmbeddingPartial):
            self.latest[event.source] = event.xy
            self.frames_received += 1
            self._dirty = True
            if event.source == "features" and event.total > 1:
                kl = "" if math.isnan(event.kl) else f", KL divergence {event.kl:.3f}"
                phase = "start layout" if event.iteration == 0 else f"iteration {event.iteration}/{event.total}"
                self.status_label.setText(f"t-SNE {phase}{kl}")
        elif isinstance(event, FeaturesReady):
            self.features = event.features
            for plot in self.plots.values():
                plot.images = event.features.images
            self._apply_colours()
        elif isinstance(event, ModelReady):
            self.run = event.run
            self._refresh_layers()
        elif isinstance(event, Progress):
            self.status_label.setText(event.message)
        elif isinstance(event, LogLine):
            self.status_label.setText(event.text)

    def _redraw_if_dirty(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        for source, xy in self.latest.items():
            plot = self.plots[source]
            if plot.groups:
                plot.set_layout(xy)

    def _on_succeeded(self, result: FeatureSpaceResult) -> None:
        self.result = result
        self.features = result.features
        self.latest["features"] = result.embedding.xy
        if result.pixel_embedding is not None:
            self.latest["pixels"] = result.pixel_embedding.xy
        self._dirty = True
        self._redraw_if_dirty()
        self.feature_plot.set_title(embed.describe(result.embedding))
        lines = [embed.describe(result.embedding) + f" ({result.embedding.seconds:.1f} s)."]
        if result.pixel_embedding is not None:
            self.pixel_plot.set_title(embed.describe(result.pixel_embedding))
            lines.append(f"Raw pixels: 5-NN accuracy {result.pixel_embedding.knn_accuracy:.3f}.")
        lines.append("Hover a point to see its image; click it to inspect it in Activations.")
        self.status_label.setText(" ".join(lines))

    def _on_stopped(self) -> None:
        self._redraw_if_dirty()
        self.status_label.setText(self.status_label.text() + " (stopped; the last frame stays)")

    def _on_failed(self, title: str, message: str) -> None:
        self.status_label.setText(f"{title}: {message}")

    # ------------------------------------------------------------ colours, hover, click, selection
    def colour_mode(self) -> str:
        return self.colour_combo.currentData()

    def _apply_colours(self) -> None:
        if self.features is None:
            return
        mode = self.colour_mode()
        if mode != "true" and self.features.predictions is None:
            mode = "true"
        groups = embed.colour_groups(self.features.labels, self.features.predictions, self.features.class_names,
                                     mode)
        named = [(name, colour(c), idx) for name, c, idx in groups]
        meaning = {"true": "colour = true class", "predicted": "colour = predicted class",
                   "correct": "colour = prediction right or wrong"}[mode]
        for source, plot in self.plots.items():
            plot.set_title(subtitle=meaning)
            plot.set_groups(named)
            if source in self.latest:
                plot.set_layout(self.latest[source])

    def _on_thumbnails_toggled(self, on: bool) -> None:
        for plot in self.plots.values():
            plot.show_thumbnails = on
            plot.redraw()

    def _on_select_mode_changed(self) -> None:
        for plot in self.plots.values():
            plot.view_box.select_mode = self.select_combo.currentData()

    def describe_point(self, index: int) -> str:
        f = self.features
        names = f.class_names
        if f.captions is not None:
            return f"{f.captions[index]} · folder {names[int(f.labels[index])]}"
        text = f"#{int(f.indices[index])} of the {f.split} images · true {names[int(f.labels[index])]}"
        if f.predictions is not None:
            pred = int(f.predictions[index])
            verdict = "right" if pred == int(f.labels[index]) else "wrong"
            text += f" · predicted {names[pred]} ({verdict})"
        return text

    def _on_point_hovered(self, index: int) -> None:
        if index < 0 or self.features is None or index >= len(self.features):
            for other in self.plots.values():
                other.mark(None)
            return
        for other in self.plots.values():
            other.mark(index)  # the same image in both plots of compare mode
        image = self.features.images[index]
        self.preview.set_image(image[:, :, 0] if image.shape[2] == 1 else image)
        self.preview.set_caption(self.describe_point(index))

    def _on_point_clicked(self, index: int) -> None:
        self.send_to_tools(index)

    def send_to_tools(self, index: int) -> None:
        """The user clicked image `index`: it becomes the current input and opens in Activations
        (the ImageNet panels keep their own photos)."""
        if self.features is None or not 0 <= index < len(self.features):
            return
        caption = self.describe_point(index)
        image = self.features.images[index].copy()
        self.ctx.set_input_image(image, caption)
        self.ctx.send_image(image, caption, "Activations", focus=False)
        self.ctx.status(f"Feature space: {caption} is now the input of Activations.")

    def select_points(self, indices: np.ndarray) -> None:
        self._on_selection(np.asarray(indices, dtype=np.int64))

    def _on_selection(self, indices: np.ndarray) -> None:
        if self.features is None:
            return
        self.selected = np.asarray(indices, dtype=np.int64)
        if len(self.selected) == 0:
            self.selection_grid.clear()
            self.selection_grid.set_caption("Nothing selected")
            return
        shown = self.selected[:MAX_GRID_IMAGES]
        self.selection_grid.set_tiles(self.features.images[shown])
        labels = self.features.labels[self.selected]
        counts = np.bincount(labels, minlength=len(self.features.class_names))
        top = [f"{self.features.class_names[c]}: {counts[c]}" for c in np.argsort(-counts)[:4] if counts[c]]
        more = f" (first {MAX_GRID_IMAGES} shown)" if len(self.selected) > MAX_GRID_IMAGES else ""
        self.selection_grid.set_caption(f"{len(self.selected)} selected{more} · true classes " + ", ".join(top)
                                        + " · click an image to inspect it")

    def _on_tile_clicked(self, tile: int) -> None:
        if 0 <= tile < len(self.selected):
            self.send_to_tools(int(self.selected[tile]))

    # ------------------------------------------------------------ export
    def _ask_export_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export embedding", "embedding.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def _ask_export_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export plot", "embedding.png", "PNG image (*.png)")
        if path:
            self.export_png(path)

    def export_csv(self, path: str) -> bool:
        if self.result is None:
            self.ctx.show_error("Nothing to export", "Compute an embedding first (Start), then export it.")
            return False
        try:
            embed.save_embedding_csv(path, self.result.embedding, self.result.features)
            if self.result.pixel_embedding is not None:
                from pathlib import Path

                pixels_path = Path(path).with_name(Path(path).stem + "_pixels.csv")
                embed.save_embedding_csv(pixels_path, self.result.pixel_embedding, self.result.pixels)
        except OSError as exc:
            self.ctx.show_error("Export failed", f"Could not write {path}: {exc.strerror or exc}.")
            return False
        self.ctx.status(f"Embedding written to {path}")
        return True

    def export_png(self, path: str) -> bool:
        if not self.plots_widget.grab().save(str(path)):
            self.ctx.show_error("Export failed", f"Could not write the picture to {path}.")
            return False
        self.ctx.status(f"Plot written to {path}")
        return True

    # ------------------------------------------------------------ workspaces, lessons, screenshots
    def save_state(self) -> dict:
        return {"model": self.model_combo.currentData(), "folder": self.folder,
                "layer": self.layer_combo.currentText(), "split": self.split_combo.currentData(),
                "sample_size": self.sample_spin.value(), "method": self.method_combo.currentData(),
                "perplexity": self.perplexity_spin.value(), "iterations": self.iterations_spin.value(),
                "learning_rate": self.lr_spin.value(), "init": self.init_combo.currentData(),
                "compare": self.compare_check.isChecked(), "colour_by": self.colour_mode(),
                "thumbnails": self.thumbnails_check.isChecked()}

    def restore_state(self, state: dict) -> None:
        def pick(combo: QComboBox, value, by_text: bool = False) -> None:
            index = combo.findText(str(value)) if by_text else combo.findData(value)
            if index >= 0:
                combo.setCurrentIndex(index)

        if "model" in state:
            pick(self.model_combo, state["model"])
        if state.get("folder"):
            self.set_folder(state["folder"])
        if "layer" in state:
            pick(self.layer_combo, state["layer"], by_text=True)
        if "split" in state:
            pick(self.split_combo, state["split"])
        if "method" in state:
            pick(self.method_combo, state["method"])
        if "init" in state:
            pick(self.init_combo, state["init"])
        if "colour_by" in state:
            pick(self.colour_combo, state["colour_by"])
        for key, spin in (("sample_size", self.sample_spin), ("perplexity", self.perplexity_spin),
                          ("iterations", self.iterations_spin), ("learning_rate", self.lr_spin)):
            if key in state:
                spin.setValue(type(spin.value())(state[key]))
        if "compare" in state:
            self.compare_check.setChecked(bool(state["compare"]))
        if "thumbnails" in state:
            self.thumbnails_check.setChecked(bool(state["thumbnails"]))

    def apply_lesson(self, setup: dict) -> None:
        """Keys as in save_state, plus start=True to compute right away."""
        self.restore_state(setup)
        if setup.get("start"):
            self.start()

    def prepare_screenshot(self) -> None:
        from gui.screenshots import wait_for

        # Real content: a LeNet-5 (the current run, or a quick one trained here) on
        # MNIST-5k, its penultimate features of 1000 validation images next to the
        # raw pixels, with a few points selected.
        self.restore_state({"method": "tsne", "sample_size": 1000, "iterations": 500, "compare": True,
                            "layer": DEFAULT_LAYER, "colour_by": "true"})
        self.start()
        wait_for(lambda: not self.jobs.running, 300)
        if self.result is not None:
            xy = self.result.embedding.xy
            seven = int(np.flatnonzero(self.features.labels == 7)[0])
            x, y = float(xy[seven, 0]), float(xy[seven, 1])
            self.select_points(embed.points_in_rect(xy, x - 4, y - 4, x + 4, y + 4))
            self._on_point_hovered(seven)
