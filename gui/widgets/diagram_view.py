"""The network drawn left to right: one column per layer (engine.diagram.DiagramColumn), its
feature-map thumbnails or unit bars, its name above and its shape below. One pyqtgraph scene,
so File -> Export writes the whole diagram as one PNG and one SVG.

Live updates only set images when the columns keep their sizes (a training snapshot), so a
refresh costs the GUI thread a few image uploads; labels are rebuilt only when the network or
the text size changes."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtGui import QColor, QFont, QFontMetricsF
from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

from gui import theme


class _ColumnImage(pg.ImageItem):
    """One column's picture; a click reports (column, tile)."""

    def __init__(self, view: "DiagramView", index: int):
        super().__init__()
        self.diagram_view, self.index = view, index

    def mouseClickEvent(self, event) -> None:  # noqa: N802 (pyqtgraph name)
        self.diagram_view.clicked_at(self.index, event.pos().x(), event.pos().y())
        event.accept()


class DiagramView(QWidget):
    map_clicked = Signal(int, int)  # column index, map (tile) index

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setToolTip("The network for the probe image, input on the left. Click a feature map to "
                                 "open it large with its filters, top patches and the convolution in numbers.")
        self.view = self.graphics.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view.setMouseEnabled(False, False)
        layout.addWidget(self.graphics, 1)
        self.diagram = None
        self._images: list[_ColumnImage] = []
        self._texts: list[pg.TextItem] = []
        self._notes: list[pg.TextItem] = []
        self._unit_labels: list[pg.TextItem] = []
        self._layout_key = None
        self._selection = pg.QtWidgets.QGraphicsRectItem()
        self._selection.setZValue(20)
        self._selection.setVisible(False)
        self.view.addItem(self._selection)
        self.selected: tuple[int, int] | None = None
        theme.notifier.changed.connect(self._relayout)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._relayout()

    # ------------------------------------------------------------ content
    def set_diagram(self, diagram) -> None:
        """Show an engine.diagram.Diagram; only the pictures change when its layout is the same."""
        self.diagram = diagram
        key = tuple((c.title, c.image.shape, c.unit_labels) for c in diagram.columns)
        if key != self._layout_key:
            self._layout_key = key
            self._build()
        for item, column in zip(self._images, diagram.columns):
            item.setImage(np.ascontiguousarray(column.image), levels=(0, 255), autoLevels=False)
        for note, column in zip(self._notes, diagram.columns):
            if note.textItem.toPlainText() != self._note_text(column):
                note.setText(self._note_text(column))
        self._place_selection()

    def clear(self) -> None:
        self.diagram = None
        self._layout_key = None
        self._remove_items()

    @staticmethod
    def _note_text(column) -> str:
        """The shape, and the note only where it says more than the shape."""
        shape = "×".join(str(v) for v in column.shape)
        if column.note.startswith("predicts"):
            return f"{shape}\n→ {column.note.removeprefix('predicts ')}"
        return f"{shape}\n{column.note}" if " of " in column.note else shape

    def _remove_items(self) -> None:
        for item in self._images + self._texts + self._notes + self._unit_labels:
            self.view.removeItem(item)
        self._images, self._texts, self._notes, self._unit_labels = [], [], [], []

    def _relayout(self) -> None:
        if self.diagram is not None:
            self._layout_key = None
            self.set_diagram(self.diagram)

    def _font(self, relative: float = 1.0) -> QFont:
        font = QFont(QApplication.font())
        font.setPointSizeF(font.pointSizeF() * relative)
        return font

    def _label_width_px(self, column) -> float:
        """The widest line of a column's title and note, in pixels."""
        title, note = QFontMetricsF(self._font(1.0)), QFontMetricsF(self._font(0.9))
        lines = [title.horizontalAdvance(column.layers[0])]
        if len(column.layers) > 1:
            lines.append(note.horizontalAdvance("+ " + " + ".join(column.layers[1:])))
        lines += [note.horizontalAdvance(line) for line in self._note_text(column).split("\n")]
        return max(lines)

    def _gaps(self, tallest: float) -> tuple[list[float], float, float, float]:
        """Scene-unit gaps between the columns so neighbouring labels never touch (labels keep their
        size in pixels: u = scene units per pixel, from fitting the height), the spare width spread
        evenly; returns (gaps, left margin, right margin, top and bottom margins in pixels as u)."""
        columns = self.diagram.columns
        metrics = QFontMetricsF(self._font(1.0))
        height_px, width_px = max(1, self.graphics.height()), max(1, self.graphics.width())
        top_px, bottom_px = metrics.height() * 2.3 + 6, metrics.height() * 2.0 + 6
        u = tallest / max(0.35, 1.0 - (top_px + bottom_px) / height_px) / height_px
        labels = [self._label_width_px(c) for c in columns]
        widths = [c.image.shape[1] for c in columns]
        unit_labels = max((QFontMetricsF(self._font(0.8)).horizontalAdvance(t) for t in columns[-1].unit_labels),
                          default=0.0)
        for _ in range(8):  # fitted to the height first; if that is too wide, fit the width (labels keep pixels)
            gaps = [max(12.0, (labels[i] + labels[i + 1]) / 2 * u + 16 * u - (widths[i] + widths[i + 1]) / 2)
                    for i in range(len(columns) - 1)]
            left = max(8 * u, labels[0] / 2 * u - widths[0] / 2 + 8 * u)
            right = max(8 * u + unit_labels * u, labels[-1] / 2 * u - widths[-1] / 2 + 8 * u)
            needed = left + sum(widths) + sum(gaps) + right
            if needed <= width_px * u * 1.001:
                break
            u = needed / width_px
        spare = width_px * u - (left + sum(widths) + sum(gaps) + right)
        if spare > 0 and gaps:
            gaps = [g + spare / (len(gaps) + 1) for g in gaps]
            left += spare / (len(gaps) + 1) / 2
            right += spare / (len(gaps) + 1) / 2
        return gaps, left, right, u, top_px, bottom_px

    def _build(self) -> None:
        """Columns side by side, centred vertically, a gap wide enough for the labels between them."""
        self._remove_items()
        columns = self.diagram.columns
        tallest = max(c.image.shape[0] for c in columns)
        gaps, left, right, u, top_px, bottom_px = self._gaps(tallest)
        text_colour = QColor(theme.theme_colour("plot_fg"))
        x = 0.0
        for index, column in enumerate(columns):
            height, width = column.image.shape[:2]
            top = (tallest - height) / 2
            item = _ColumnImage(self, index)
            item.setImage(np.ascontiguousarray(column.image), levels=(0, 255), autoLevels=False)
            item.setRect(QRectF(x, top, width, height))  # after the image: setRect scales the image's own size
            self.view.addItem(item)
            self._images.append(item)
            centre = x + width / 2
            title = pg.TextItem(color=text_colour, anchor=(0.5, 1.0))
            title.setFont(self._font(1.0))
            rest = " + ".join(column.layers[1:])
            title.setHtml(f"<div style='text-align:center'>{column.layers[0]}"
                          + (f"<br><span style='font-size:small'>+ {rest}</span>" if rest else "") + "</div>")
            title.setPos(centre, top - 4 * u)
            note = pg.TextItem(self._note_text(column), color=text_colour, anchor=(0.5, 0.0))
            note.setFont(self._font(0.9))
            note.setPos(centre, top + height + 4 * u)
            for text in (title, note):
                self.view.addItem(text)
            self._texts.append(title)
            self._notes.append(note)
            if column.unit_labels:  # class names beside the output bars
                row = column.tile_shape[0]
                # Rows thinner than a line of text: every k-th name, and always the predicted one.
                every = max(1, math.ceil(QFontMetricsF(self._font(0.8)).height() * 0.9 * u / max(row, 1e-9)))
                for unit, label in enumerate(column.unit_labels):
                    predicted = self.diagram.predicted
                    if unit != predicted and (unit % every or abs(unit - predicted) < every):
                        continue
                    text = pg.TextItem(label, color=text_colour, anchor=(0.0, 0.5))
                    text.setFont(self._font(0.8))
                    text.setPos(x + width + 3 * u, top + (unit + 0.5) * row)
                    self.view.addItem(text)
                    self._unit_labels.append(text)
            x += width + (gaps[index] if index < len(gaps) else 0.0)
        self.view.setRange(QRectF(-left, -top_px * u, x + left + right, tallest + (top_px + bottom_px) * u),
                           padding=0)

    # ------------------------------------------------------------ clicks
    def clicked_at(self, index: int, x: float, y: float) -> None:
        if self.diagram is None or index >= len(self.diagram.columns):
            return
        column = self.diagram.columns[index]
        tile = column.tile_at(x, y)
        if tile is None or column.kind == "units":
            return
        self.selected = (index, tile)
        self._place_selection()
        self.map_clicked.emit(index, tile)

    def _place_selection(self) -> None:
        if self.selected is None or self.diagram is None or self.selected[0] >= len(self._images):
            self._selection.setVisible(False)
            return
        index, tile = self.selected
        column = self.diagram.columns[index]
        if tile >= column.shown:
            self._selection.setVisible(False)
            return
        rows, cols = column.grid
        h, w = column.tile_shape
        r, c = divmod(tile, cols)
        rect = self._images[index].mapRectToParent(QRectF(column.pad + c * (w + column.pad) - 1,
                                                          column.pad + r * (h + column.pad) - 1, w + 2, h + 2))
        pen = pg.mkPen(theme.colour(1), width=max(2.0, theme.plot_line_width()))
        pen.setCosmetic(True)
        self._selection.setPen(pen)
        self._selection.setRect(rect)
        self._selection.setVisible(True)

    def column_rect(self, index: int) -> QRectF:
        """Where column `index` lies in the scene (tests click there)."""
        return self._images[index].mapRectToScene(self._images[index].boundingRect())
