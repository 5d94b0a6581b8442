"""Image widgets: one picture, or a clickable grid of tiles. They only display
uint8 arrays the engine prepared (engine.imaging does the tiling)."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from engine.imaging import tile_images, tile_index_at


def theme_pad_value() -> int:
    """Grey level for gaps between tiles: the theme's button colour, set apart from
    both the background and black / white pixels, and dark in the dark theme."""
    from gui import theme

    colour = QColor(theme.theme_colour("button"))
    return int(round(0.299 * colour.red() + 0.587 * colour.green() + 0.114 * colour.blue()))


class _CaptionedImage(QWidget):
    """A caption above a pyqtgraph view holding one image item: aspect locked,
    y down, no axes, no mouse panning. Clicks on the image go to _on_click."""

    def __init__(self, caption: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.caption = QLabel(caption)
        self.caption.setAlignment(Qt.AlignCenter)
        self.caption.setWordWrap(True)
        layout.addWidget(self.caption)
        self.graphics = pg.GraphicsLayoutWidget()
        self.view = self.graphics.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view.setMouseEnabled(False, False)
        self.item = pg.ImageItem()
        self.view.addItem(self.item)
        layout.addWidget(self.graphics, 1)
        self.item.mouseClickEvent = self._on_click

    def set_caption(self, text: str) -> None:
        self.caption.setText(text)

    def _on_click(self, event) -> None:
        raise NotImplementedError


class ImageView(_CaptionedImage):
    """One image, aspect ratio locked, no axes, with a caption above it.

    set_image takes (H, W) or (H, W, 3|4) uint8. Clicking reports the pixel.
    """

    clicked = Signal(int, int)  # x, y in image pixels

    def __init__(self, caption: str = "", parent: QWidget | None = None):
        super().__init__(caption, parent)
        self.overlay = pg.ImageItem()  # optional heat-map on top (opacity set by owner)
        self.overlay.setZValue(10)
        self.view.addItem(self.overlay)
        self._image: np.ndarray | None = None

    def set_image(self, image: np.ndarray | None, levels: tuple[float, float] | None = None) -> None:
        self._image = image
        if image is None:
            self.item.clear()
            return
        self.item.setImage(np.ascontiguousarray(image), autoLevels=levels is None and image.dtype != np.uint8,
                           levels=levels if levels is not None else ((0, 255) if image.dtype == np.uint8 else None))
        self.view.autoRange(padding=0.01)

    def set_overlay(self, rgba: np.ndarray | None, opacity: float = 0.5) -> None:
        if rgba is None:
            self.overlay.clear()
            return
        self.overlay.setImage(np.ascontiguousarray(rgba), levels=(0, 255))
        if self._image is not None:
            h, w = self._image.shape[:2]
            self.overlay.setRect(0, 0, w, h)
        self.overlay.setOpacity(opacity)

    def image(self) -> np.ndarray | None:
        return self._image

    def _on_click(self, event) -> None:
        pos = event.pos()
        self.clicked.emit(int(pos.x()), int(pos.y()))
        event.accept()


class ImageGrid(_CaptionedImage):
    """A grid of equally sized tiles (filters, feature maps, patches, galleries).

    set_tiles takes (N, H, W) or (N, H, W, 3) uint8; tile_clicked(i) and
    tile_hovered(i) report tiles (-1 when the pointer leaves them).
    """

    tile_clicked = Signal(int)
    tile_hovered = Signal(int)

    def __init__(self, caption: str = "", parent: QWidget | None = None):
        super().__init__(caption, parent)
        self.item.setAcceptHoverEvents(True)
        self.item.hoverEvent = self._on_hover
        self._tile_shape = (0, 0)
        self._grid = (0, 0)
        self._count = 0
        self._pad = 1
        self._last_hover = -1

    @property
    def count(self) -> int:
        return self._count

    def set_tiles(self, tiles: np.ndarray, columns: int | None = None, pad: int = 1,
                  pad_value: int | None = None) -> None:
        """pad_value: grey level of the gaps between tiles; by default one matching
        the current theme (a white grid glares in the dark theme)."""
        tiles = np.asarray(tiles)
        if pad_value is None:
            pad_value = theme_pad_value()
        mosaic, grid = tile_images(tiles, columns, pad, pad_value=pad_value)
        self._tile_shape = tuple(tiles.shape[1:3]) if tiles.ndim >= 3 else (0, 0)
        self._grid, self._count, self._pad = grid, len(tiles), pad
        image = mosaic[:, :, 0] if mosaic.shape[2] == 1 else mosaic
        self.item.setImage(np.ascontiguousarray(image), levels=(0, 255))
        self.view.autoRange(padding=0.01)

    def clear(self) -> None:
        self.item.clear()
        self._count = 0

    def tile_at(self, x: float, y: float) -> int | None:
        index = tile_index_at(x, y, self._tile_shape, self._grid, self._pad)
        return index if index is not None and index < self._count else None

    def _on_click(self, event) -> None:
        index = self.tile_at(event.pos().x(), event.pos().y())
        if index is not None:
            self.tile_clicked.emit(index)
        event.accept()

    def _on_hover(self, event) -> None:
        index = -1
        if not event.isExit():
            found = self.tile_at(event.pos().x(), event.pos().y())
            index = -1 if found is None else found
        if index != self._last_hover:
            self._last_hover = index
            self.tile_hovered.emit(index)
