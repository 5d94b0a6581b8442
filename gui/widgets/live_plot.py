"""A live curve plot: named series that grow while a job runs, redrawn from a
QTimer (never per event), plus faint overlays of earlier runs for comparison.

Appending only stores numbers; the timer pushes changed series into their
existing PlotDataItems with setData, so the GUI thread stays responsive however
fast events arrive.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QVBoxLayout, QWidget

from gui import theme


class _Series:
    __slots__ = ("x", "y", "item", "dirty", "smoothing", "_ema", "top")

    def __init__(self, item: pg.PlotDataItem, smoothing: float):
        self.x: list[float] = []
        self.y: list[float] = []
        self.item = item
        self.dirty = False
        self.smoothing = smoothing  # 0 = raw values; else EMA weight of the past
        self._ema: float | None = None
        self.top = 0.0  # largest finite value so far (for from_zero ranges)

    def append(self, x: float, y: float) -> None:
        if self.smoothing > 0:
            # Exponential moving average, bias-free start: the first point is itself.
            self._ema = y if self._ema is None or not np.isfinite(self._ema) else (
                self.smoothing * self._ema + (1.0 - self.smoothing) * y)
            y = self._ema
        self.x.append(float(x))
        self.y.append(float(y))
        if y > self.top and np.isfinite(y):
            self.top = float(y)
        self.dirty = True

    def clear(self) -> None:
        self.x.clear()
        self.y.clear()
        self._ema = None
        self.top = 0.0
        self.dirty = True


class LivePlot(QWidget):
    """One plot with a title, labelled axes and a legend.

    add_series(name, colour_index, ...) once, then append(name, x, y) as often as
    you like; `redraw()` runs ~15 times a second while the widget lives.
    add_overlay(label, x, y, colour_index) draws a finished run's curve dashed.
    """

    def __init__(self, title: str, x_label: str, y_label: str, log_y: bool = False,
                 refresh_hz: float = 15.0, y_range: tuple[float, float] | None = None, from_zero: bool = False,
                 si_prefix: bool = True, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.plot_widget = pg.PlotWidget()
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setTitle(title)
        self.plot.setLabel("bottom", x_label)
        self.plot.setLabel("left", y_label)
        if not si_prefix:  # learning rates read better as 0.05 than as 50 (x0.001)
            self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setMenuEnabled(False)
        # Long runs: draw only what is visible, decimated to the pixel width (keeps peaks).
        self.plot.setDownsampling(auto=True, mode="peak")
        self.plot.setClipToView(True)
        if log_y:
            self.plot.setLogMode(y=True)
        # y_range fixes the y axis (accuracy: 0..1); from_zero keeps 0 at the bottom so a
        # constant learning rate reads as a flat line, not as noise around its value.
        self._y_range = y_range
        self._from_zero = from_zero
        if y_range is not None:
            self.plot.setYRange(*y_range, padding=0.02)
            self.plot.enableAutoRange(y=False)
        elif from_zero:
            self.plot.enableAutoRange(y=False)
            self.plot.setYRange(0, 1, padding=0)
        self.legend = self.plot.addLegend(offset=(-10, 10), labelTextSize=f"{9 * theme.current['scale']:.0f}pt")
        layout.addWidget(self.plot_widget)
        self._series: dict[str, _Series] = {}
        self._overlays: dict[str, list[pg.PlotDataItem]] = {}
        self.redraw_count = 0
        self.timer = QTimer(self)
        self.timer.setInterval(int(1000 / refresh_hz))
        self.timer.timeout.connect(self.redraw)
        self.timer.start()

    # ----- live series
    def add_series(self, name: str, colour_index: int, width: float | None = None, alpha: float = 1.0,
                   smoothing: float = 0.0, symbol: str | None = None, in_legend: bool = True) -> None:
        colour = QColor(theme.colour(colour_index))
        colour.setAlphaF(alpha)
        pen = pg.mkPen(colour, width=width if width is not None else theme.plot_line_width())
        kwargs = {"pen": pen, "name": name if in_legend else None}
        if symbol:
            kwargs.update(symbol=symbol, symbolSize=7, symbolBrush=colour, symbolPen=None)
        item = self.plot.plot([], [], **kwargs)
        self._series[name] = _Series(item, smoothing)

    def append(self, name: str, x: float, y: float) -> None:
        self._series[name].append(x, y)

    def set_points(self, name: str, x, y) -> None:
        series = self._series[name]
        series.clear()
        for xi, yi in zip(x, y):
            series.append(xi, yi)

    def series_data(self, name: str) -> tuple[list[float], list[float]]:
        series = self._series[name]
        return series.x, series.y

    def set_x_span(self, low: float, high: float) -> None:
        """Fix the x axis (e.g. to all planned epochs, so one point is not a lonely dot mid-plot)."""
        self.plot.enableAutoRange(x=False)
        self.plot.setXRange(low, high, padding=0.02)

    def series_names(self) -> list[str]:
        return list(self._series)

    def clear(self) -> None:
        for series in self._series.values():
            series.clear()
        self.redraw()

    def redraw(self) -> None:
        """Push changed series into their plot items (GUI thread, from the timer)."""
        changed = any(series.dirty for series in self._series.values())
        for series in self._series.values():
            if series.dirty:
                series.dirty = False
                if series.x:
                    # NaN/inf would break the auto range; a diverging run just stops its curve.
                    y = np.asarray(series.y, dtype=float)
                    finite = np.isfinite(y)
                    series.item.setData(np.asarray(series.x, dtype=float)[finite], y[finite])
                else:
                    series.item.setData([], [])
                self.redraw_count += 1
        if changed and self._from_zero:
            top = max((series.top for series in self._series.values()), default=0.0)
            self.plot.setYRange(0, top * 1.08 if top > 0 else 1.0, padding=0)

    # ----- overlays of earlier runs
    def add_overlay(self, key: str, label: str, x, y, colour_index: int, dashed: bool = True,
                    symbol: str | None = None) -> None:
        colour = theme.colour(colour_index)
        pen = pg.mkPen(colour, width=theme.plot_line_width() * 0.8, style=Qt.DashLine if dashed else Qt.SolidLine)
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        finite = np.isfinite(y)
        kwargs = {"symbol": symbol, "symbolSize": 7, "symbolBrush": None, "symbolPen": pg.mkPen(colour, width=1.5)} \
            if symbol else {}
        item = self.plot.plot(x[finite], y[finite], pen=pen, name=label, **kwargs)
        item.setZValue(-1)
        self._overlays.setdefault(key, []).append(item)

    def remove_overlay(self, key: str) -> None:
        for item in self._overlays.pop(key, []):
            self.plot.removeItem(item)
            self.legend.removeItem(item)

    def clear_overlays(self) -> None:
        for key in list(self._overlays):
            self.remove_overlay(key)

    def overlay_keys(self) -> list[str]:
        return list(self._overlays)
