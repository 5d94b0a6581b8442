"""One feature map of the diagram, large: the map itself (click a pixel), the filter that made it,
its top patches over the training images, and the convolution in numbers at the clicked pixel.
It follows the diagram: while the network trains, the map, the filter and the numbers change with
every snapshot."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import (QDialog, QFileDialog, QHBoxLayout, QLabel, QPushButton, QTabWidget, QVBoxLayout,
                               QWidget)

from engine.errors import ConvScopeError
from gui import theme
from gui.widgets.conv_numbers_view import ConvNumbersView
from gui.widgets.image_view import ImageGrid, ImageView
from gui.workers import JobSlot

NUMBERS_TAB = 2


class LayerMapDialog(QDialog):
    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Feature map")
        self.diagram = None
        self.column = None
        self.channel = 0
        self.position: tuple[int, int] | None = None  # (y, x) of the clicked pixel
        layout = QVBoxLayout(self)
        self.header = QLabel()
        self.header.setWordWrap(True)
        layout.addWidget(self.header)
        self.tabs = QTabWidget()
        layout.addWidget(self.tabs, 1)

        map_page = QWidget()
        row = QHBoxLayout(map_page)
        self.map_view = ImageView("Click a pixel to see how it was computed")
        self.map_view.clicked.connect(self.select_pixel)
        self.marker = pg.QtWidgets.QGraphicsRectItem()
        self.marker.setZValue(20)
        self.marker.setVisible(False)
        self.map_view.view.addItem(self.marker)
        row.addWidget(self.map_view, 3)
        self.filter_grid = ImageGrid("The filter (one tile per input channel)")
        row.addWidget(self.filter_grid, 2)
        self.tabs.addTab(map_page, "Map and filter")

        patches_page = QWidget()
        patches = QVBoxLayout(patches_page)
        self.patches_button = QPushButton("Find top patches")
        self.patches_button.setToolTip("Scan the training images for the patches that excite this map most "
                                       "(Zeiler & Fergus).")
        self.patches_button.clicked.connect(self.find_top_patches)
        patches.addWidget(self.patches_button)
        self.patches_grid = ImageGrid("")
        patches.addWidget(self.patches_grid, 1)
        self.tabs.addTab(patches_page, "Top patches")

        self.numbers = ConvNumbersView()
        self.numbers.position_changed.connect(self._mark)
        self.tabs.addTab(self.numbers, "In numbers")

        buttons = QHBoxLayout()
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save this window and its pictures as PNG, the numbers also as SVG.")
        self.export_button.clicked.connect(self._export)
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons.addWidget(close)
        layout.addLayout(buttons)

        self.patch_jobs = JobSlot(self)
        self.patch_jobs.succeeded.connect(self._on_patches)
        self.patch_jobs.failed.connect(self.ctx.show_error)
        self.patch_jobs.running_changed.connect(self._on_patches_running)

    # ------------------------------------------------------------ what is shown
    def show_map(self, diagram, column_index: int, channel: int) -> None:
        """Open map `channel` of column `column_index` of `diagram`."""
        self.column = diagram.columns[column_index]
        self.channel = channel
        self.position = None
        self.patches_grid.clear()
        self.patches_grid.set_caption("")
        self.set_diagram(diagram)
        self.tabs.setCurrentIndex(0)

    def set_diagram(self, diagram) -> None:
        """A new diagram (a training snapshot, another probe): the same map, redrawn."""
        from engine.diagram import conv_layer_of, shown_layer

        if self.column is None:
            return
        column = diagram.column_of(self.column.layers[0])
        if column is None or column.layers != self.column.layers:
            self.close()  # the network changed under the open map
            return
        self.diagram, self.column = diagram, column
        layer = shown_layer(diagram.model, column.layers)
        maps = diagram.layer_maps(layer, per_map=True)
        self.channel = min(self.channel, len(maps) - 1)
        self.map_view.set_image(maps[self.channel])
        low, high = diagram.map_range(layer, self.channel)
        self.map_view.set_caption(f"Values {low:.3g} (black) to {high:.3g} (white). Click a pixel to see how it "
                                  "was computed." if high > low else
                                  f"Every value is {low:.3g} for this image (the map is off). Click a pixel "
                                  "to see why.")
        when = "trained network" if diagram.step is None else f"training step {diagram.step}"
        self.header.setText(f"<b>{column.title}</b>, map {self.channel} of {len(maps)} "
                            f"({maps.shape[1]}×{maps.shape[2]}), {when}. Each map on its own scale: black = its "
                            "lowest value, white = its highest.")
        self.setWindowTitle(f"{column.title}, map {self.channel}")
        self.conv = conv_layer_of(diagram, column)
        self.tabs.setTabEnabled(NUMBERS_TAB, self.conv is not None)
        self._show_filter()
        trained = diagram.step is None and self.ctx.run is not None
        self.patches_button.setEnabled(trained and not self.patch_jobs.running)
        if not trained:
            self.patches_grid.set_caption("Top patches scan the training images with the trained network: "
                                          "available when training has finished.")
        if self.conv is not None:
            y, x = self.position or (maps.shape[1] // 2, maps.shape[2] // 2)
            self.numbers.set_walker(self._walk, maps.shape[1:], y, x)
        self._mark()

    def _walk(self, y: int, x: int):
        from engine.diagram import conv_walk

        return conv_walk(self.diagram, self.conv, self.channel, y, x)

    def _show_filter(self) -> None:
        from engine.diagram import layer_filters
        from engine.introspect import filter_grid

        if self.conv is None:
            self.filter_grid.clear()
            self.filter_grid.set_caption(f"{self.column.layers[0]} has no filters: it takes the maximum (or mean) "
                                         "of each window of the layer before.")
            return
        kernel = layer_filters(self.diagram, self.conv, self.channel)
        zoom = max(1, 48 // kernel.shape[-1])
        grid = filter_grid(self.conv, kernel[None], mode="per_input", upscale=zoom)
        self.filter_grid.set_tiles(grid.tiles, min(grid.columns, 8), pad=max(1, zoom // 3))
        self.filter_grid.set_caption(f"Its filter: {kernel.shape[0]} input channel(s) × {kernel.shape[1]}×"
                                     f"{kernel.shape[2]}, scale ±{grid.scale:.3f} (grey = 0)")

    def select_pixel(self, x: int, y: int) -> None:
        """A click on the large map: the convolution in numbers at that pixel."""
        if self.conv is None:
            return
        self.position = (y, x)
        self.numbers.move_to(y, x)
        self.tabs.setCurrentIndex(NUMBERS_TAB)
        self.numbers.setFocus()

    def _mark(self, *_args) -> None:
        if self.conv is None or self.numbers.walk is None:
            self.marker.setVisible(False)
            return
        self.position = (self.numbers.y, self.numbers.x)
        pen = pg.mkPen(theme.colour(1), width=max(2.0, theme.plot_line_width()))
        pen.setCosmetic(True)
        self.marker.setPen(pen)
        self.marker.setRect(QRectF(self.numbers.x, self.numbers.y, 1, 1))
        self.marker.setVisible(True)

    # ------------------------------------------------------------ top patches
    def find_top_patches(self) -> None:
        from engine.diagram import shown_layer
        from engine.introspect import run_top_patches

        run = self.ctx.run
        if run is None or self.column is None:
            return
        layer = shown_layer(self.diagram.model, self.column.layers)
        self.patches_grid.set_caption("Scanning the training images…")
        self.patch_jobs.start(lambda: run_top_patches(run, layer, k=9, limit=2000))

    def _on_patches_running(self, running: bool) -> None:
        self.patches_button.setEnabled(not running and self.diagram is not None and self.diagram.step is None)

    def _on_patches(self, result) -> None:
        from engine.imaging import nearest_upscale

        if self.channel >= result.channels:
            return
        tiles = result.channel_tiles(self.channel)
        tiles = tiles.reshape(tiles.shape[:3]) if tiles.shape[-1] == 1 else tiles
        zoom = max(1, 96 // result.receptive_field)
        self.patches_grid.set_tiles(np.stack([nearest_upscale(t, zoom) for t in tiles]), pad=4)
        values = ", ".join(f"{v:.2f}" for v in result.values[self.channel])
        self.patches_grid.set_caption(f"{result.layer}, map {self.channel}: the {len(tiles)} training patches "
                                      f"({result.receptive_field}×{result.receptive_field} px) it likes most, "
                                      f"strongest first ({values})")

    # ------------------------------------------------------------ export
    def _export(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export the feature map into a folder")
        if folder:
            self.export_to(folder)

    def export_to(self, folder: str) -> list[Path]:
        from gui import export

        prefix = self.windowTitle()
        try:
            written = export.export_view(self, folder, prefix=prefix)
            if self.numbers.walk is not None:
                written.append(export_widget_svg(self.numbers, Path(folder) / f"{export._slug(prefix)}_numbers.svg"))
        except ConvScopeError as exc:
            self.ctx.show_error(exc.title, str(exc))
            return []
        return written

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.numbers.play_button.setChecked(False)
        self.patch_jobs.stop()
        super().closeEvent(event)


def export_widget_svg(widget: QWidget, path: Path) -> Path:
    """A painted widget (the numbers) as vectors (QWidget.render needs its target offset)."""
    from PySide6.QtCore import QPoint

    from gui.export import write_svg

    return write_svg(path, widget.size(), lambda painter: widget.render(painter, QPoint(0, 0)))
