"""An image grid whose rows carry text labels (class names) on the left, sized so the names
are never cut off whatever the text size (the Data panel's samples, one row per class)."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QWidget

from engine.imaging import nearest_upscale
from gui import theme
from gui.widgets.image_view import ImageGrid

SMALL_IMAGE_PX = 28  # images smaller than MNIST's are upscaled to about this size


def zoom_for(size: int) -> int:
    """The whole-number upscale that shows a `size`-pixel image at about MNIST's size."""
    return max(1, SMALL_IMAGE_PX // max(size, 1))


def upscale_tiles(tiles, scale: int):
    """(N, H, W[, C]) tiles, each `scale` times larger by repeating pixels (crisp on a projector)."""
    if scale <= 1 or tiles.ndim != 4:
        return tiles
    return nearest_upscale(tiles.transpose(1, 2, 0, 3), scale).transpose(2, 0, 1, 3)


class LabelledGrid(ImageGrid):
    """An ImageGrid whose rows carry text labels (class names) on the left."""

    def __init__(self, caption: str = "", parent: QWidget | None = None):
        super().__init__(caption, parent)
        self._labels: list[pg.TextItem] = []
        self.view.sigResized.connect(self._fit_labels)

    def set_rows(self, tiles, columns: int, row_labels: list[str], scale: int = 1) -> None:
        for item in self._labels:
            self.view.removeItem(item)
        self._labels = []
        tiles = upscale_tiles(tiles, scale)  # small images (8x8 digits) stay crisp on a projector
        self.set_tiles(tiles, columns=columns)
        tile_h, tile_w = tiles.shape[1:3]
        height, width = self.item.image.shape[:2]
        font = QFont()
        font.setPointSizeF(theme.point_size(0.9))  # follows the text size like the rest of the window
        for row, text in enumerate(row_labels):
            label = pg.TextItem(text, anchor=(1.0, 0.5), color=pg.getConfigOption("foreground"))
            label.setFont(font)
            label.setPos(-2, 1 + row * (tile_h + 1) + tile_h / 2)
            self.view.addItem(label, ignoreBounds=True)
            self._labels.append(label)
        self._fit_labels()

    def _fit_labels(self, *_args) -> None:
        """Leave room on the left for the longest row name, measured in screen pixels
        and converted to image pixels at the view's current scale (the names do
        not zoom with the image, so a fixed image-pixel margin clips them)."""
        if self.item.image is None:
            return
        height, width = self.item.image.shape[:2]
        if not self._labels:
            self.view.setRange(xRange=(0, width), yRange=(0, height), padding=0.01)
            return
        text_px = max(label.textItem.boundingRect().width() for label in self._labels) + 8
        view_w, view_h = max(self.view.width(), 1.0), max(self.view.height(), 1.0)
        by_height = text_px * height / view_h
        by_width = text_px * width / max(view_w - text_px, 1.0)
        margin = min(max(by_height, by_width), width * 3)
        self.view.setRange(xRange=(-margin, width), yRange=(0, height), padding=0.01)
