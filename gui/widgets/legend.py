"""A plot legend that never covers data: it sits outside the plot area, in a strip
under the x axis, as many entries a line as the plot's width allows.

`outside_legend(plot_item)` puts one in a PlotItem and makes it the item's legend,
so named items added to the plot appear in it as with `addLegend`. anchor() and
setOffset() are ignored (the layout places it), so code written for a floating
legend keeps working.
"""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QSizeF, Qt

LEGEND_ROW = 4  # PlotItem's layout: 0 title, 1 top axis, 2 view, 3 bottom axis


class OutsideLegend(pg.LegendItem):
    def __init__(self, **kwargs):
        kwargs.pop("offset", None)
        super().__init__(offset=None, **kwargs)
        self._plot_item = None
        self.setSizePolicy(pg.QtWidgets.QSizePolicy.Preferred, pg.QtWidgets.QSizePolicy.Fixed)

    # ----- placement is the layout's job
    def anchor(self, *args, **kwargs) -> None:  # noqa: D102 (floating legends only)
        return

    def autoAnchor(self, *args, **kwargs) -> None:  # noqa: N802 (pyqtgraph name)
        return

    def mouseDragEvent(self, ev) -> None:  # noqa: N802 (Qt name)
        ev.ignore()

    def attach(self, plot_item: pg.PlotItem) -> None:
        self._plot_item = plot_item
        plot_item.layout.addItem(self, LEGEND_ROW, 0, 1, 3)
        plot_item.layout.setAlignment(self, Qt.AlignHCenter | Qt.AlignVCenter)
        plot_item.legend = self
        plot_item.geometryChanged.connect(self.fit_columns)

    # ----- size: as many entries a line as fit, height of the lines it needs
    def _entry_widths(self) -> list[float]:
        def width(item) -> float:
            return max(item.width(), item.effectiveSizeHint(Qt.PreferredSize).width())

        return [width(sample) + width(label) + 3 * 2 for sample, label in self.items]

    def fit_columns(self) -> None:
        if self._plot_item is None or not self.items:
            self.updateSize()
            return
        available = max(50.0, self._plot_item.width() - 20)
        widest = max(self._entry_widths())
        columns = max(1, min(len(self.items), int(available // max(widest, 1.0))))
        if columns != self.columnCount:
            self.setColumnCount(columns)  # -> updateSize
        else:
            self.updateSize()

    def updateSize(self) -> None:  # noqa: N802 (pyqtgraph name)
        if self.size is not None:
            return
        visible = self.isVisible() and bool(self.items)
        if not visible:
            self.setMinimumSize(QSizeF(0, 0))
            self.setMaximumHeight(0)
            self.setPreferredSize(QSizeF(0, 0))
        else:
            width, height = self._content_size()
            self.setMaximumHeight(height)
            self.setMinimumSize(QSizeF(0, height))
            self.setPreferredSize(QSizeF(width, height))
            self.resize(QSizeF(width, height))  # now; the plot layout then gives it its strip
        self.updateGeometry()
        if self._plot_item is not None:
            self._plot_item.layout.invalidate()

    def _content_size(self) -> tuple[float, float]:
        """Width and height of the entries (pyqtgraph's own sum)."""
        width = height = 0.0
        for row in range(self.layout.rowCount()):
            row_width = row_height = 0.0
            for column in range(self.layout.columnCount()):
                item = self.layout.itemAt(row, column)
                if item:  # the size it asks for: a relabelled entry has not been laid out yet
                    hint = item.effectiveSizeHint(Qt.PreferredSize)
                    row_width += max(item.width(), hint.width()) + 3
                    row_height = max(row_height, item.height(), hint.height())
            width, height = max(width, row_width), height + row_height
        return width + 8, height + 4

    def addItem(self, item, name) -> None:  # noqa: N802 (pyqtgraph name)
        super().addItem(item, name)
        self.fit_columns()

    def setVisible(self, visible: bool) -> None:  # noqa: N802 (Qt name)
        super().setVisible(visible)
        self.updateSize()  # a hidden legend leaves no empty strip

    def show(self) -> None:
        self.setVisible(True)

    def hide(self) -> None:
        self.setVisible(False)


def outside_legend(plot_item: pg.PlotItem, **kwargs) -> OutsideLegend:
    """A legend under `plot_item`'s x axis (kwargs as for pg.LegendItem: labelTextSize,
    brush, pen, colCount, ...)."""
    legend = OutsideLegend(**kwargs)
    legend.attach(plot_item)
    return legend
