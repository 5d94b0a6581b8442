"""A plot legend that never covers data (issue 15).

It sits outside the plot area, in a strip under the x axis with as many entries a
line as the plot's width allows. When that strip would take more than a third of a
small plot's data area (large text, many entries), it moves inside the plot area, to
a corner where no plotted point lies (re-chosen whenever the data change); when no
corner is free it goes back under the axis (a smaller plot, but no hidden data) unless
that would leave the plot too small to read: then it stays in the corner with the
fewest points, on a see-through background.

`outside_legend(plot_item)` makes one the PlotItem's legend, so named items added to
the plot appear in it as with `addLegend`. anchor() / setOffset() from code written
for pyqtgraph's floating legend are ignored: this legend places itself.
"""
from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSizeF, Qt

LEGEND_ROW = 4  # PlotItem's layout: 0 title, 1 top axis, 2 view, 3 bottom axis
MAX_STRIP_SHARE = 0.34  # of the data area + strip; a taller legend goes inside, into a free corner
MIN_DATA_SHARE, MIN_DATA_PIXELS = 0.4, 70  # what a strip must leave to the data, else the corner
MARGIN = 6  # pixels between an inside legend and the plot's edge
# Corners in order of preference when several are free: (x, y) with 1 = right / bottom.
CORNERS = ((1, 0), (0, 0), (1, 1), (0, 1))


class OutsideLegend(pg.LegendItem):
    _plot_item = None
    inside = False
    _placing = False

    def __init__(self, **kwargs):
        kwargs.pop("offset", None)
        if kwargs.get("brush") is None:  # see-through: a point under an inside legend still shows
            from PySide6.QtGui import QColor

            from gui import theme

            background = QColor(theme.theme_colour("plot_bg"))
            background.setAlpha(170)
            kwargs["brush"] = pg.mkBrush(background)
        super().__init__(offset=None, **kwargs)
        self._plot_item: pg.PlotItem | None = None
        self.inside = False
        self.corner: tuple[int, int] | None = None
        self._placing = False
        self._no_free_corner = False  # inside was tried and every corner had points: stay under the axis
        self._no_free_since = 0.0
        self.setSizePolicy(pg.QtWidgets.QSizePolicy.Preferred, pg.QtWidgets.QSizePolicy.Fixed)

    # ----- placement is this class's job
    def anchor(self, *args, **kwargs) -> None:  # noqa: D102 (pyqtgraph's floating legend only)
        return

    def autoAnchor(self, *args, **kwargs) -> None:  # noqa: N802 (pyqtgraph name)
        return

    def mouseDragEvent(self, ev) -> None:  # noqa: N802 (Qt name)
        ev.ignore()

    def attach(self, plot_item: pg.PlotItem) -> None:
        self._plot_item = plot_item
        plot_item.legend = self
        self._go_outside()
        plot_item.geometryChanged.connect(self._on_resized)
        plot_item.vb.sigResized.connect(self._reposition)
        plot_item.vb.sigRangeChanged.connect(self._reposition)

    def _go_outside(self) -> None:
        plot_item = self._plot_item
        if self.parentItem() is not plot_item:
            self.setParentItem(plot_item)
        plot_item.layout.addItem(self, LEGEND_ROW, 0, 1, 3)
        plot_item.layout.setAlignment(self, Qt.AlignHCenter | Qt.AlignVCenter)
        plot_item.layout.activate()  # placed now: a grab right after must not find it where it was
        self.inside = False
        self.corner = None
        self.setZValue(0)

    def _go_inside(self) -> None:
        plot_item = self._plot_item
        plot_item.layout.removeItem(self)
        plot_item.layout.activate()  # the view takes the strip's room now (corners are measured on it)
        self.setParentItem(plot_item.vb)
        self.setZValue(1000)  # above the curves
        self.inside = True

    def _on_resized(self, *_args) -> None:
        self._no_free_corner = False  # another size: the corners may be free now
        self.place()

    def place(self, *_args) -> None:
        """Outside when the strip fits in a third of the plot's height, else inside in the
        emptiest corner. Called on resize, on new entries and whenever the data change."""
        plot_item = self._plot_item
        if plot_item is None or self._placing:
            return
        self._placing = True
        try:
            self._fit_columns(plot_item.width() - 20)
            _width, height = self._content_size()
            data_area = plot_item.vb.height() + (0 if self.inside else self.geometry().height())
            outside = (not self.items or not self.isVisible() or data_area <= 0
                       or (self._no_free_corner and self._strip_leaves_room(height, data_area))
                       or height <= MAX_STRIP_SHARE * data_area)
            if outside and self.inside:
                self._go_outside()
            elif not outside and not self.inside:
                self._go_inside()
            if self.inside:
                self._fit_columns(0.6 * plot_item.vb.width())
            self.updateSize()
        finally:
            self._placing = False
        if self.inside:
            self._reposition()

    # ----- inside: the corner with the fewest plotted points under the box
    def _plotted_points(self) -> np.ndarray:
        """(N, 2) positions, in the view box's pixels, of every plotted point and the
        midpoints of the curves' segments."""
        vb = self._plot_item.vb
        chunks = []
        for item in self._plot_item.items:
            if not isinstance(item, (pg.PlotDataItem, pg.ScatterPlotItem)) or not item.isVisible():
                continue
            x, y = item.getData()
            if x is None or len(x) == 0:
                continue
            x, y = np.asarray(x, float), np.asarray(y, float)
            finite = np.isfinite(x) & np.isfinite(y)
            x, y = x[finite], y[finite]
            if len(x) > 1 and isinstance(item, pg.PlotDataItem):
                x, y = np.concatenate([x, (x[1:] + x[:-1]) / 2]), np.concatenate([y, (y[1:] + y[:-1]) / 2])
            transform, ok = item.itemTransform(vb)
            if not ok:
                continue
            px = transform.m11() * x + transform.m21() * y + transform.dx()
            py = transform.m12() * x + transform.m22() * y + transform.dy()
            chunks.append(np.column_stack([px, py]))
        return np.concatenate(chunks) if chunks else np.zeros((0, 2))

    def data_changed(self) -> None:
        """The data changed: an inside legend moves to the corner now emptiest. Whether it is inside
        depends on sizes only, so an outside legend stays put (placing again relaid out the whole
        plot on every live frame: ~30 % of the Training view's GUI time while training) unless it
        went under the axis for want of a free corner: that is tried again at most once a second."""
        if self._no_free_corner:
            if time.monotonic() - self._no_free_since < 1.0:
                return
            self._no_free_corner = False
            self.place()
        elif self.inside:
            self._reposition()

    def reposition(self) -> None:
        """An inside legend moves to the corner that is now emptiest."""
        self._reposition()

    def _reposition(self, *_args) -> None:
        if not self.inside or self._plot_item is None:
            return
        vb = self._plot_item.vb
        rect = vb.boundingRect()
        width, height = self.width(), self.height()
        points = self._plotted_points()
        best, best_count = CORNERS[0], None
        for corner in CORNERS:
            x = rect.left() + MARGIN if corner[0] == 0 else rect.right() - MARGIN - width
            y = rect.top() + MARGIN if corner[1] == 0 else rect.bottom() - MARGIN - height
            count = int(np.count_nonzero((points[:, 0] >= x) & (points[:, 0] <= x + width)
                                         & (points[:, 1] >= y) & (points[:, 1] <= y + height)))
            if best_count is None or count < best_count:
                best, best_count = corner, count
                best_pos = (x, y)
            if count == 0:
                break
        if best_count and not self._placing:
            strip = self._content_size_for_columns(self._plot_item.width() - 20)
            if self._strip_leaves_room(strip, rect.height()):
                self._no_free_corner = True  # every corner covers data: under the axis after all
                self._no_free_since = time.monotonic()
                self.place()
                return
        self.corner = best
        self.setPos(*best_pos)

    @staticmethod
    def _strip_leaves_room(strip_height: float, data_area: float) -> bool:
        left = data_area - strip_height
        return left >= MIN_DATA_PIXELS and left >= MIN_DATA_SHARE * data_area

    def _content_size_for_columns(self, available: float) -> float:
        """Height of the legend as a strip under the axis (entries as many a line as fit)."""
        if not self.items:
            return 0.0
        widest = max(self._entry_widths())
        columns = max(1, min(len(self.items), int(max(50.0, available) // max(widest + 16, 1.0))))
        rows = -(-len(self.items) // columns)
        row_height = max(max(s.effectiveSizeHint(Qt.PreferredSize).height(),
                             label.effectiveSizeHint(Qt.PreferredSize).height()) for s, label in self.items)
        return rows * row_height + 4

    # ----- size: as many entries a line as fit, height of the lines it needs
    def _entry_widths(self) -> list[float]:
        def width(item) -> float:  # what it asks for (a laid-out label may be stretched wider)
            return item.effectiveSizeHint(Qt.PreferredSize).width()

        return [width(sample) + width(label) + 3 * 2 for sample, label in self.items]

    def _fit_columns(self, available: float) -> None:
        if not self.items:
            return
        widest = max(self._entry_widths())
        # + the grid's spacing and margins, so the last column is never cut
        columns = max(1, min(len(self.items), int(max(50.0, available) // max(widest + 16, 1.0))))
        if columns != self.columnCount:
            self.setColumnCount(columns)

    def fit_columns(self) -> None:  # kept for callers of the first version
        self.place()

    def _content_size(self) -> tuple[float, float]:
        """Width and height of the entries (pyqtgraph's own sum)."""
        width = height = 0.0
        for row in range(self.layout.rowCount()):
            row_width = row_height = 0.0
            for column in range(self.layout.columnCount()):
                item = self.layout.itemAt(row, column)
                if item:  # the size it asks for: a relabelled entry may not be laid out yet
                    hint = item.effectiveSizeHint(Qt.PreferredSize)
                    row_width += hint.width() + 3
                    row_height = max(row_height, hint.height())
            width, height = max(width, row_width), height + row_height
        return width + 8, height + 4

    def updateSize(self) -> None:  # noqa: N802 (pyqtgraph name)
        if self.size is not None:
            return
        width, height = self._content_size()
        if not self.inside and not (self.isVisible() and self.items):
            self.setMinimumSize(QSizeF(0, 0))
            self.setMaximumHeight(0)
            self.setPreferredSize(QSizeF(0, 0))
        elif self.inside:
            self.setMinimumSize(QSizeF(0, 0))
            self.setMaximumHeight(height)
            self.setPreferredSize(QSizeF(width, height))
            self.resize(QSizeF(width, height))
        else:
            self.setMaximumHeight(height)
            self.setMinimumSize(QSizeF(0, height))
            self.setPreferredSize(QSizeF(width, height))
            self.resize(QSizeF(width, height))  # now; the plot layout then gives it its strip
        self.updateGeometry()
        if self._plot_item is not None:
            self._plot_item.layout.invalidate()
            if not self.inside:
                self._plot_item.layout.activate()
            if not self._placing:
                self.place()

    def addItem(self, item, name) -> None:  # noqa: N802 (pyqtgraph name)
        super().addItem(item, name)
        self.place()

    def setVisible(self, visible: bool) -> None:  # noqa: N802 (Qt name)
        super().setVisible(visible)
        self.updateSize()  # a hidden legend leaves no empty strip

    def show(self) -> None:
        self.setVisible(True)

    def hide(self) -> None:
        self.setVisible(False)


def outside_legend(plot_item: pg.PlotItem, **kwargs) -> OutsideLegend:
    """A legend under `plot_item`'s x axis (kwargs as for pg.LegendItem: labelTextSize,
    brush, pen, colCount, ...); inside, in the emptiest corner, when the plot is too small."""
    legend = OutsideLegend(**kwargs)
    legend.attach(plot_item)
    return legend
