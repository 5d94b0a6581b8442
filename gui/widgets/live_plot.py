"""A live curve plot: named series that grow while a job runs, redrawn from a
timer (never per event), plus faint overlays of earlier runs for comparison.

Appending only stores numbers; a shared scheduler pushes changed series into
their existing PlotDataItems with setData, one plot per tick, so the GUI thread
stays responsive however fast events arrive and however many plots are live.
"""
from __future__ import annotations

import time
import weakref

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsItem, QVBoxLayout, QWidget
from shiboken6 import isValid

from gui import theme
from gui.widgets.legend import outside_legend


class _Series:
    __slots__ = ("x", "y", "item", "dirty", "smoothing", "_ema", "top", "low")

    def __init__(self, item: pg.PlotDataItem, smoothing: float):
        self.x: list[float] = []
        self.y: list[float] = []
        self.item = item
        self.dirty = False
        self.smoothing = smoothing  # 0 = raw values; else EMA weight of the past
        self._ema: float | None = None
        self.top = 0.0  # largest finite value so far (for from_zero ranges)
        self.low = float("inf")  # smallest finite value so far (for snapped ranges)

    def append(self, x: float, y: float) -> None:
        if self.smoothing > 0:
            # Exponential moving average, bias-free start: the first point is itself.
            self._ema = y if self._ema is None or not np.isfinite(self._ema) else (
                self.smoothing * self._ema + (1.0 - self.smoothing) * y)
            y = self._ema
        self.x.append(float(x))
        self.y.append(float(y))
        if np.isfinite(y):
            self.top = max(self.top, float(y))
            self.low = min(self.low, float(y))
        self.dirty = True

    def clear(self) -> None:
        self.x.clear()
        self.y.clear()
        self._ema = None
        self.top = 0.0
        self.low = float("inf")
        self.dirty = True


class _WholeNumberAxis(pg.AxisItem):
    """Ticks only at whole numbers (epochs): no '0.2 0.4 …' between epoch 0 and 1."""

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802, N803 (pyqtgraph's names)
        levels = super().tickSpacing(minVal, maxVal, size)
        whole = [(spacing, offset) for spacing, offset in levels if spacing >= 1]
        return whole or [(1.0, 0.0)]


WholeNumberAxis = _WholeNumberAxis  # for plots over layers or epochs outside LivePlot


class _ReadableAxis(pg.AxisItem):
    """A vertical axis whose major ticks stay at least 1.25 text lines apart: a short plot at
    200 % text ran '0.2 0.4 0.6 0.8' into each other (Class visualization's probability)."""

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802, N803 (pyqtgraph's names)
        import math

        from PySide6.QtGui import QFontMetricsF
        from PySide6.QtWidgets import QApplication

        levels = super().tickSpacing(minVal, maxVal, size)
        span = maxVal - minVal
        if span <= 0 or size <= 0:
            return levels
        font = self.style.get("tickFont") or QApplication.font()
        least = 1.25 * QFontMetricsF(font).height() * span / size  # in data units
        kept = [(spacing, offset) for spacing, offset in levels if spacing >= least]
        if kept:
            return kept
        step = 10 ** math.floor(math.log10(least))
        spacing = next(m * step for m in (1, 2, 5, 10) if m * step >= least)
        return [(spacing, 0.0)]


class _RedrawScheduler:
    """One timer for every LivePlot: each tick redraws the next plot that has new
    points, is on screen and has not redrawn in the last LIVE_INTERVAL_S, round robin.

    Why one at a time: Qt delivers the repaints of plots updated in the same tick as
    one uninterrupted chain of posted events, so four plots at ~12 ms each froze
    the window for ~50–80 ms at a time. One plot per tick bounds a freeze by one
    plot's paint, and the timer stops when nothing is left to draw.
    Why at most 4 frames a second per plot while points stream in: that is plenty to
    follow a curve, and every redraw holds the GIL that the training thread needs
    (at 20 frames a second the Training view cost training ~25 % of its speed).
    Why fewer on a slow machine: a plot's frames may take at most LIVE_CPU_SHARE of one core
    (LivePlot.frame_interval_s), so the frame rate follows what a frame costs there. On a
    2-vCPU laptop even GIL-free drawing slowed a training thread by its own CPU time.
    """

    TICK_MS = 50
    LIVE_INTERVAL_S = 0.25
    LIVE_CPU_SHARE = 0.005  # of one core, per streaming plot: a 4 ms frame comes at most every 0.8 s

    def __init__(self):
        self._plots: list[weakref.ref] = []
        self._next = 0
        # Single shot, set for when the next frame is due: a timer polling every tick was ~20 calls
        # into Python a second for nothing, each taking the GIL from the training thread.
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.PreciseTimer)  # a coarse timer may fire 5 % late: a 2 s wait, 100 ms
        self._timer.timeout.connect(self._tick)

    def register(self, plot: "LivePlot") -> None:
        self._plots.append(weakref.ref(plot))

    def wake(self, plot: "LivePlot") -> None:
        """`plot` has new points: the timer fires by the time its next frame is due. A timer already
        set for a later frame of another plot (the plan's, 2 s away) must not hold this one back."""
        due_in_ms = int((plot.next_frame_due_s() - time.monotonic()) * 1000) + 1
        delay_ms = max(self.TICK_MS, due_in_ms)
        if not self._timer.isActive() or self._timer.remainingTime() > delay_ms:
            self._timer.start(delay_ms)

    def _tick(self) -> None:
        # Drop plots whose widget is gone (the Python wrapper can outlive the C++ object).
        self._plots = [ref for ref in self._plots if ref() is not None and isValid(ref())]
        count = len(self._plots)
        now = time.monotonic()
        next_due = None
        for offset in range(count):
            index = (self._next + offset) % count
            plot = self._plots[index]()
            if plot is None or not plot.wants_redraw():
                continue
            due = plot.next_frame_due_s()
            if now < due:  # drawn a moment ago: its next frame comes when due
                next_due = due if next_due is None else min(next_due, due)
                continue
            self._next = index + 1
            plot.redraw()
            self._timer.start(self.TICK_MS)  # another plot may be due: one frame's pause first
            return
        if next_due is not None:
            self._timer.start(max(self.TICK_MS, int((next_due - now) * 1000) + 1))
        # else nothing dirty on screen: sleep until the next append wakes it


_scheduler: _RedrawScheduler | None = None


def _redraw_scheduler() -> _RedrawScheduler:
    global _scheduler
    if _scheduler is None:
        _scheduler = _RedrawScheduler()
    return _scheduler


class _MeteredPlotWidget(pg.PlotWidget):
    """A PlotWidget that reports the GUI-thread CPU time of each repaint to `on_paint(seconds)`."""

    on_paint = None

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        started = time.thread_time()
        super().paintEvent(event)
        if self.on_paint is not None:
            self.on_paint(time.thread_time() - started)


class LivePlot(QWidget):
    """One plot with a title, labelled axes and a legend.

    add_series(name, colour_index, ...) once, then append(name, x, y) as often as
    you like; the shared scheduler calls `redraw()` ~10 times a second while the
    plot is on screen and has new points (set `auto_redraw = False` to drive it by hand).
    add_overlay(label, x, y, colour_index) draws a finished run's curve dashed.
    """

    def __init__(self, title: str, x_label: str, y_label: str, log_y: bool = False,
                 y_range: tuple[float, float] | None = None, from_zero: bool = False,
                 si_prefix: bool = True, whole_number_x: bool = False, y_step: float | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        axis_items = {"left": _ReadableAxis("left")}
        if whole_number_x:
            axis_items["bottom"] = _WholeNumberAxis("bottom")
        self.plot_widget = _MeteredPlotWidget(axisItems=axis_items)
        self.plot_widget.on_paint = self._paint_measured
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setTitle(title)
        self.plot.setLabel("bottom", x_label)
        self.plot.setLabel("left", y_label)
        # Plain numbers on the y axis: pyqtgraph writes accuracies of 0.7-0.9 as "700 (x0.001)"
        # and learning rates as 50 (x0.001). `si_prefix` is kept for callers; it no longer matters.
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        for side in ("left", "bottom"):
            # Major ticks only (denser, see _fit_ticks_to_text): an easier grid to read on a
            # projector, and the minor grid lines were about half the cost of every repaint.
            self.plot.getAxis(side).setStyle(maxTickLevel=0)
            # Keep each axis (with its grid lines) as a pixmap: a new point repaints the
            # region under the curve, and replaying the axes there was half of every frame.
            self.plot.getAxis(side).setCacheMode(QGraphicsItem.DeviceCoordinateCache)
        self._fit_ticks_to_text()
        theme.notifier.changed.connect(self._fit_ticks_to_text)
        self.plot.setMenuEnabled(False)
        if not whole_number_x:
            # Long runs: draw only what is visible, decimated to the pixel width (keeps peaks). A plot
            # over epochs has a few dozen points: there, clipping only re-cut every series on each
            # change of the axis range (a third of the accuracy plot's per-epoch redraw).
            self.plot.setDownsampling(auto=True, mode="peak")
            self.plot.setClipToView(True)
        if log_y:
            self.plot.setLogMode(y=True)
        # y_range fixes the y axis (accuracy: 0..1); from_zero keeps 0 at the bottom so a
        # constant learning rate reads as a flat line, not as noise around its value.
        self._y_range = y_range
        self._from_zero = from_zero
        # y_step: the y axis zooms to the data in whole steps (accuracy: 0.05), so a new point
        # rarely moves it. Auto range moved it every epoch, and redrawing the axes and their
        # labels made each such frame cost about twice a frame whose axes stay put.
        self._y_step = y_step
        self._y_span: tuple[float, float] | None = None  # the y range last set by from_zero or y_step
        if y_range is not None:
            self.plot.setYRange(*y_range, padding=0.02)
            self.plot.enableAutoRange(y=False)
        elif from_zero or y_step:
            self.plot.enableAutoRange(y=False)
            self.plot.setYRange(0, 1, padding=0)
        # Under the x axis, never over the curves (issue 15).
        self.legend = outside_legend(self.plot, labelTextSize=f"{9 * theme.current['scale']:.0f}pt")
        layout.addWidget(self.plot_widget)
        self._series: dict[str, _Series] = {}
        self._overlays: dict[str, list[pg.PlotDataItem]] = {}
        self.redraw_count = 0
        self.last_redraw_s = 0.0  # time.monotonic() of the last redraw (the scheduler paces live plots)
        self.live_interval_s = _RedrawScheduler.LIVE_INTERVAL_S  # at most one frame per this, while streaming
        self.frame_cpu_s = 0.0  # what a frame (redraw + the repaint after it) costs the GUI thread, smoothed
        self._redraw_cpu_s = 0.0  # the last redraw's share, until its repaint is measured
        self._frame_pending = False  # new points were pushed: the next repaint is a live frame to measure
        self._overlay_top = 0.0  # largest overlay value, so a from-zero axis does not cut them
        self.auto_redraw = True
        _redraw_scheduler().register(self)

    def _fit_ticks_to_text(self) -> None:
        """Twice pyqtgraph's major-tick density at normal type, fewer as the type grows
        (large labels would run into each other)."""
        density = max(1.0, 2.0 / max(1.0, theme.current["scale"]))
        for side in ("left", "bottom"):
            self.plot.getAxis(side).setTickDensity(density)

    # ----- live series
    def add_series(self, name: str, colour_index: int, width: float | None = None, alpha: float = 1.0,
                   smoothing: float = 0.0, symbol: str | None = None, in_legend: bool = True,
                   dashed: bool = False) -> None:
        colour = QColor(theme.colour(colour_index))
        colour.setAlphaF(alpha)
        pen = pg.mkPen(colour, width=width if width is not None else theme.plot_line_width(),
                       style=Qt.DashLine if dashed else Qt.SolidLine)
        kwargs = {"pen": pen, "name": name if in_legend else None}
        if symbol:
            kwargs.update(symbol=symbol, symbolSize=7, symbolBrush=colour, symbolPen=None)
        if self._y_range is not None or self._y_step:
            # Bounded values (accuracy): no guard against coordinates too large for Qt is needed, and the
            # guard re-cut every series (symbols rebuilt) each time the y axis moved.
            kwargs["dynamicRangeLimit"] = None
        item = self.plot.plot([], [], **kwargs)
        self._series[name] = _Series(item, smoothing)

    def append(self, name: str, x: float, y: float) -> None:
        fresh = not self.has_new_points()
        self._series[name].append(x, y)
        if self.auto_redraw and fresh:  # the first new point since the last frame says when the next is due
            _redraw_scheduler().wake(self)

    def frame_interval_s(self) -> float:
        """Seconds between frames while points stream in: live_interval_s, or longer where a frame
        costs more than the scheduler's share of a core."""
        return max(self.live_interval_s, self.frame_cpu_s / _RedrawScheduler.LIVE_CPU_SHARE)

    def next_frame_due_s(self) -> float:
        """time.monotonic() from which new points may be drawn."""
        return self.last_redraw_s + self.frame_interval_s()

    def has_new_points(self) -> bool:
        return any(series.dirty for series in self._series.values())

    def _paint_measured(self, seconds: float) -> None:
        if not self._frame_pending:
            return  # a first show, a resize or a cleared plot: not what a live frame costs
        self._frame_pending = False
        cost = self._redraw_cpu_s + seconds
        self._redraw_cpu_s = 0.0
        # Smoothed: one frame that also re-laid out the axes should not stall the curve for seconds.
        self.frame_cpu_s = cost if self.frame_cpu_s == 0.0 else 0.7 * self.frame_cpu_s + 0.3 * cost

    def wants_redraw(self) -> bool:
        """New points to draw, and somewhere the user can see them (a hidden tab waits)."""
        return self.auto_redraw and self.isVisible() and self.has_new_points()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if self.auto_redraw and self.has_new_points():
            _redraw_scheduler().wake(self)  # points that arrived while hidden

    def set_points(self, name: str, x, y) -> None:
        series = self._series[name]
        series.clear()
        for xi, yi in zip(x, y):
            series.append(xi, yi)
        if self.auto_redraw:
            _redraw_scheduler().wake(self)

    def series_data(self, name: str) -> tuple[list[float], list[float]]:
        series = self._series[name]
        return series.x, series.y

    def set_x_span(self, low: float, high: float) -> None:
        """Fix the x axis (e.g. to all planned epochs, so one point is not a lonely dot mid-plot)."""
        self.plot.enableAutoRange(x=False)
        self.plot.setXRange(low, high, padding=0.02)

    def follow_x(self) -> None:
        """Let the x axis follow the data again (after set_x_span)."""
        self.plot.enableAutoRange(x=True)

    def series_names(self) -> list[str]:
        return list(self._series)

    def remove_series(self, name: str) -> None:
        series = self._series.pop(name, None)
        if series is not None:
            self.plot.removeItem(series.item)
            self.legend.removeItem(series.item)

    def clear(self) -> None:
        for series in self._series.values():
            series.clear()
        self.redraw()
        # A new run's first points are drawn at once, and emptying the plot is not a live frame.
        self.last_redraw_s = 0.0
        self._frame_pending = False
        self._redraw_cpu_s = 0.0

    def redraw(self) -> None:
        """Push changed series into their plot items (GUI thread, from the timer)."""
        started = time.thread_time()
        changed = self.has_new_points()
        self.last_redraw_s = time.monotonic()
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
        if changed:
            self._fit_y()
            # Settle the auto range now, not at paint time: a range that changes while the
            # scene paints invalidates the axes and costs a second full repaint of the plot.
            self.plot.vb.prepareForPaint()
            self.legend.data_changed()  # under the axis, or inside in a corner where no point lies
            self._redraw_cpu_s += time.thread_time() - started
            self._frame_pending = True

    def _fit_y(self) -> None:
        """The y range the plot's rule asks for (from_zero or y_step); else pyqtgraph's own range."""
        if self._from_zero:
            self._fit_from_zero()
        elif self._y_step:
            self._fit_snapped()

    def _set_y_span(self, low: float, top: float, padding: float) -> None:
        if self._y_span == (low, top):
            return  # the same range again still re-laid out the axes and every series
        self._y_span = (low, top)
        self.plot.setYRange(low, top, padding=padding)

    def _fit_from_zero(self) -> None:
        top = max([series.top for series in self._series.values()] + [self._overlay_top])
        self._set_y_span(0.0, top * 1.08 if top > 0 else 1.0, padding=0)

    def _fit_snapped(self) -> None:
        lows = [series.low for series in self._series.values() if series.x]
        tops = [series.top for series in self._series.values() if series.x]
        for items in self._overlays.values():
            for item in items:
                y = item.yData
                if y is not None and len(y):
                    lows.append(float(np.min(y)))
                    tops.append(float(np.max(y)))
        finite = [(low, top) for low, top in zip(lows, tops) if np.isfinite(low) and np.isfinite(top)]
        if not finite:
            return
        step = self._y_step
        low = np.floor(min(low for low, _ in finite) / step) * step
        top = np.ceil(max(top for _, top in finite) / step) * step
        if top - low < step:  # one value (or all in one step): a step below it, 1.0 stays the top
            low = top - step
        self._set_y_span(low, top, padding=0.04)  # a point on a whole step stays clear of the edge

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
        if finite.any():
            self._overlay_top = max(self._overlay_top, float(y[finite].max()))
        self._overlays.setdefault(key, []).append(item)
        if finite.any():
            self._fit_y()

    def remove_overlay(self, key: str) -> None:
        for item in self._overlays.pop(key, []):
            self.plot.removeItem(item)
            self.legend.removeItem(item)
        tops = [float(np.max(item.yData)) for items in self._overlays.values() for item in items
                if item.yData is not None and len(item.yData)]
        self._overlay_top = max(tops, default=0.0)
        self._fit_y()

    def clear_overlays(self) -> None:
        for key in list(self._overlays):
            self.remove_overlay(key)

    def overlay_keys(self) -> list[str]:
        return list(self._overlays)
