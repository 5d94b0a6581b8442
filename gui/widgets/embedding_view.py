"""The plots side of the Feature space panel: the feature (and raw-pixel) scatter plots, the
hovered image's preview and the grid of selected images.

It keeps the newest layout of each plot and the images they show; hovering marks the same
image in both plots, clicking (a point or a grid tile) sends the image to Activations, and
a box or lasso selection fills the grid. The panel owns the settings and the job.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QSplitter, QWidget

from engine import embed
from engine.embed import FeatureSet
from gui.theme import colour
from gui.widgets.embedding_plot import EmbeddingPlot
from gui.widgets.image_view import ImageGrid, ImageView

MAX_GRID_IMAGES = 200

COLOUR_MEANINGS = {"true": "colour = true class", "predicted": "colour = predicted class",
                   "correct": "colour = prediction right or wrong"}
# A network's own guesses on photos: the true class is the sub-folder.
OWN_CLASSES_COLOUR_MEANINGS = {"true": "colour = folder", "predicted": "colour = the network's top-1 guess"}


class EmbeddingView(QSplitter):
    """Scatter plots above, hovered image and selection grid below."""

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(Qt.Vertical, parent)
        self.ctx = ctx
        self.features: FeatureSet | None = None
        self.latest: dict[str, np.ndarray] = {}  # source -> newest layout from the job
        self.selected: np.ndarray = np.zeros(0, dtype=np.int64)
        self._dirty = False

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
            plot.point_hovered.connect(self.show_point)
            plot.point_clicked.connect(self.send_to_tools)
            plot.selection_made.connect(self.select_points)
        self.plots_widget = plots
        self.addWidget(plots)
        bottom = QWidget()
        bottom_layout = QHBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        self.preview = ImageView("Hover over a point to see its image")
        self.preview.setFixedWidth(260)
        bottom_layout.addWidget(self.preview)
        self.selection_grid = ImageGrid("Select points with a box or lasso (Mouse) to see their images here")
        self.selection_grid.tile_clicked.connect(self._on_tile_clicked)
        bottom_layout.addWidget(self.selection_grid, 1)
        self.addWidget(bottom)
        self.setSizes([640, 200])

    # ------------------------------------------------------------ layouts
    def reset(self, method: str, compare_pixels: bool) -> None:
        """Forget the last embedding before a new job: empty plots named for `method`."""
        self.features = None
        self.latest = {}
        self.selected = np.zeros(0, dtype=np.int64)
        self.selection_grid.clear()
        self.pixel_plot.setVisible(compare_pixels)
        axis = "t-SNE" if method == "tsne" else "PCA"
        for plot in self.plots.values():
            plot.clear()
            plot.set_axis_names(axis)
        self.feature_plot.set_title("Trained features" if compare_pixels else "Features")
        self.pixel_plot.set_title("Raw pixels")

    def set_features(self, features: FeatureSet, colour_mode: str) -> None:
        self.features = features
        for plot in self.plots.values():
            plot.images = features.images
        self.apply_colours(colour_mode)

    def set_layout(self, source: str, xy: np.ndarray) -> None:
        """Keep the newest layout of `source`; redraw_if_dirty draws it (the panel's timer)."""
        self.latest[source] = xy
        self._dirty = True

    def redraw_if_dirty(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        for source, xy in self.latest.items():
            plot = self.plots[source]
            if plot.groups:
                plot.set_layout(xy)

    # ------------------------------------------------------------ colours and view options
    def apply_colours(self, mode: str) -> None:
        if self.features is None:
            return
        own_classes = self.features.prediction_names is not None  # a network's guesses on photos
        if (mode != "true" and self.features.predictions is None) or (mode == "correct" and own_classes):
            mode = "true"
        groups = embed.colour_groups(self.features.labels, self.features.predictions, self.features.class_names,
                                     mode, self.features.prediction_names)
        named = [(name, colour(c), idx) for name, c, idx in groups]
        meaning = (OWN_CLASSES_COLOUR_MEANINGS if own_classes else COLOUR_MEANINGS)[mode]
        for source, plot in self.plots.items():
            plot.set_title(subtitle=meaning)
            plot.set_groups(named)
            if source in self.latest:
                plot.set_layout(self.latest[source])

    def show_thumbnails(self, on: bool) -> None:
        for plot in self.plots.values():
            plot.show_thumbnails = on
            plot.redraw()

    def set_select_mode(self, mode: str) -> None:
        for plot in self.plots.values():
            plot.view_box.select_mode = mode

    # ------------------------------------------------------------ hover, click, selection
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

    def show_point(self, index: int) -> None:
        if index < 0 or self.features is None or index >= len(self.features):
            for other in self.plots.values():
                other.mark(None)
            return
        for other in self.plots.values():
            other.mark(index)  # the same image in both plots of compare mode
        image = self.features.images[index]
        self.preview.set_image(image[:, :, 0] if image.shape[2] == 1 else image)
        self.preview.set_caption(self.describe_point(index))

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
        """Show the images at `indices` (a box or lasso selection) in the grid."""
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
    def export_png(self, path: str) -> bool:
        if not self.plots_widget.grab().save(str(path)):
            self.ctx.show_error("Export failed", f"Could not write the picture to {path}.")
            return False
        self.ctx.status(f"Plot written to {path}")
        return True
