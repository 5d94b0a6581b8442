"""One 2-D layout of points (t-SNE / PCA of features) as a scatter: a scatter item per colour
group (so the legend comes for free), an optional thumbnail mosaic, hover, click, and box
or lasso selection."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from engine import embed
from gui import theme
from gui.theme import point_size
from gui.widgets.legend import outside_legend


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
            # Few points (a folder of photos) get larger thumbnails; the empty cells stay transparent.
            cells = int(np.clip(2 * np.ceil(np.sqrt(len(xy))), 8, 32))
            picture, (x0, y0, width, height) = embed.thumbnail_mosaic(xy, self.images, cells=cells,
                                                                      transparent=True)
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
