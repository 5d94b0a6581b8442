"""Layer statistics panel: per-layer activation mean / std, histograms and
gradient statistics, over training time (LayerStatsSnapshot events of the
trainer), or measured on the current model on demand."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QFontMetricsF
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSlider, QTabWidget,
                               QVBoxLayout, QWidget)

from engine.events import Progress
from engine.layer_stats import LayerStatsSnapshot
from gui import theme
from gui.widgets.paced_redraw import PacedRedraw
from gui.panels.base import Panel
from gui.widgets.fit import FitsViewportHeight, visible_area
from gui.widgets.flow import strip_box
from gui.widgets.live_plot import WholeNumberAxis
from gui.widgets.legend import outside_legend
from gui.widgets.model_chooser import ChoosesNetwork, ModelChooser, network_choice

HIST_COLUMNS = 6  # at most; fewer when the titles would run into each other (large text)


def measure_job(model, x, y):
    from engine.layer_stats import collect_layer_stats
    from engine.layers import eval_mode

    yield Progress(0, 1, "Measuring")
    with eval_mode(model):
        stats = collect_layer_stats(model, x, with_grads=True, y=y, batch_stats=True)  # BN as training sees it
    return LayerStatsSnapshot(-1, -1, stats)


def _time_colour(i: int, n: int) -> QColor:
    """Early snapshots faint, the latest with the most contrast (dark blue on white, near-white
    on black): time reads as depth of colour, every step >= 3:1 against the plot (theme.TIME_RAMPS)."""
    return theme.time_colour(1.0 if n <= 1 else i / (n - 1))


class LayerStatsPanel(ChoosesNetwork, FitsViewportHeight, Panel):
    title = "Layer statistics"
    description = "Per-layer activation and gradient statistics over training."

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.snapshots: list[LayerStatsSnapshot] = []
        self.run = None

        layout = QVBoxLayout(self)
        controls = QHBoxLayout()
        self.status = QLabel("Train with “Track layer statistics” on, or measure the current model.")
        self.status.setToolTip(self.status.text())
        # Wraps (the panel fills the window's height, FitsViewportHeight), never widens the panel.
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        layout.addWidget(self.status)  # its own row: the controls beside it would squeeze it at 200 %
        self.network_combo = network_choice("Measure the network trained here, or a pretrained ImageNet network "
                                            "on the bundled photos (its blocks, activations and gradients)")
        self.network_combo.currentIndexChanged.connect(self._on_network_changed)
        controls.addWidget(self.network_combo)
        self.model_choice = ModelChooser()
        self.model_choice.setVisible(False)
        controls.addWidget(self.model_choice)
        self.measure_button = QPushButton("Measure current model")
        self.measure_button.clicked.connect(self.measure)
        self.measure_button.setEnabled(False)
        controls.addWidget(self.measure_button)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.clear)
        controls.addWidget(self.clear_button)
        controls.addStretch(1)
        layout.addWidget(strip_box(controls))  # compact in F5

        # Two sections: the per-layer curves and the histograms. Side by side in height when that
        # leaves the histograms readable, else (200 % text) two tabs, each with the whole height.
        self.per_layer_page = QWidget()
        plots = QHBoxLayout(self.per_layer_page)
        plots.setContentsMargins(0, 0, 0, 0)
        self.act_plot = pg.PlotWidget(title="Activation std per layer",
                                     axisItems={"bottom": WholeNumberAxis("bottom")})
        self.act_plot.setLabel("bottom", "layer")
        self.act_plot.setLabel("left", "std of output")
        outside_legend(self.act_plot.getPlotItem())  # under the axis: never over the last layer's point
        self.act_plot.showGrid(x=True, y=True, alpha=0.3)
        self.grad_plot = pg.PlotWidget(title="Gradient std per layer",
                                     axisItems={"bottom": WholeNumberAxis("bottom")})
        self.grad_plot.setLabel("bottom", "layer")
        self.grad_plot.setLabel("left", "std of gradient")
        self.grad_plot.setLogMode(y=True)
        # No "(x0.001)"; the ticks are chosen in _fit_log_ticks (pyqtgraph's minor log labels stack).
        self.grad_plot.getAxis("left").enableAutoSIPrefix(False)
        for plot in (self.act_plot, self.grad_plot):
            plot.getPlotItem().vb.sigResized.connect(self._fit_layer_ticks)
        self.grad_plot.showGrid(x=True, y=True, alpha=0.3)
        plots.addWidget(self.act_plot, 1)
        plots.addWidget(self.grad_plot, 1)
        layout.addWidget(self.per_layer_page, 3)

        self.histogram_page = QWidget()
        histogram_layout = QVBoxLayout(self.histogram_page)
        histogram_layout.setContentsMargins(0, 0, 0, 0)
        slider_row = QHBoxLayout()
        slider_row.addWidget(QLabel("Histograms at:"))
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.valueChanged.connect(self._mark_dirty)
        slider_row.addWidget(self.slider, 1)
        self.snapshot_label = QLabel("")
        slider_row.addWidget(self.snapshot_label)
        histogram_layout.addLayout(slider_row)
        self.hist_view = pg.GraphicsLayoutWidget()
        self.hist_view.setObjectName("histograms_per_layer")  # the exported file's name
        histogram_layout.addWidget(self.hist_view, 1)
        layout.addWidget(self.histogram_page, 3)
        self.section_tabs = QTabWidget()
        self.section_tabs.hide()
        self.compact = False
        self._fit_status()

        self.redraws = PacedRedraw(self, self.redraw, 250)
        theme.notifier.changed.connect(self._mark_dirty)  # the time colours belong to the theme
        self.jobs.succeeded.connect(self.add_snapshot)
        ctx.training_event.connect(self.on_training_event)
        self.follow_run(self.on_run_changed)

    # Lines of text the two sections need one above the other: curves ~14, histograms 3 rows of ~6.
    STACKED_LINES = 35

    def _available_height(self) -> int:
        return visible_area(self).height()

    def _reflow(self) -> None:
        compact = self._available_height() < self.STACKED_LINES * self.fontMetrics().height()
        if compact == self.compact:
            return
        self.compact = compact
        layout = self.layout()
        if compact:
            self.section_tabs.addTab(self.per_layer_page, "Per layer")
            self.section_tabs.addTab(self.histogram_page, "Histograms")
            layout.addWidget(self.section_tabs, 1)
            self.section_tabs.show()
        else:
            self.section_tabs.clear()
            layout.removeWidget(self.section_tabs)
            self.section_tabs.hide()
            layout.addWidget(self.per_layer_page, 3)
            layout.addWidget(self.histogram_page, 3)
            self.per_layer_page.show()
            self.histogram_page.show()
        self.redraws.mark()  # the histograms' columns follow the new width

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        QTimer.singleShot(0, self._reflow)  # after the layout has settled, not inside it

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().changeEvent(event)
        if event.type() == QEvent.FontChange:
            self._fit_status()
            QTimer.singleShot(0, self._reflow)

    def _fit_status(self) -> None:
        """Two lines for the status: the panel asks for its minimum height only, which would
        squeeze a wrapped status into one line."""
        self.status.setMinimumHeight(2 * self.status.fontMetrics().lineSpacing() + 4)

    # ------------------------------------------------------------ inputs
    def _on_network_changed(self, *_args) -> None:
        imagenet = self.imagenet_mode()
        self.model_choice.setVisible(imagenet)
        self.measure_button.setText("Measure the network" if imagenet else "Measure current model")
        self.status.setText("Measures the network's stem, blocks and head on the bundled photos." if imagenet else
                            "Train with “Track layer statistics” on, or measure the current model.")
        self.measure_button.setEnabled(imagenet or self.run is not None)

    def on_run_changed(self, run) -> None:
        self.run = run
        self.measure_button.setEnabled(run is not None or self.imagenet_mode())

    def on_training_event(self, event) -> None:
        if isinstance(event, LayerStatsSnapshot):
            if event.step == 0 and self.snapshots and self.snapshots[-1].step != 0:
                self.snapshots = []  # a new training run starts a new history
            self.add_snapshot(event)

    def add_snapshot(self, snapshot: LayerStatsSnapshot) -> None:
        if self.snapshots and self.snapshots[0].stats.layer_names != snapshot.stats.layer_names:
            self.snapshots = []
        follow = self.slider.value() == self.slider.maximum()
        self.snapshots.append(snapshot)
        self.slider.setRange(0, len(self.snapshots) - 1)
        if follow:
            self.slider.setValue(len(self.snapshots) - 1)
        self.redraws.mark()

    def measure(self) -> None:
        from engine.data import load_dataset
        from engine.errors import ConvScopeError

        if self.imagenet_mode():
            from engine.layer_stats import network_layer_stats_job

            model = self.model_choice.model_name()
            self.clear()
            self.jobs.start(lambda: network_layer_stats_job(model))
            return
        if self.run is None:
            return
        try:
            data = load_dataset(self.run.dataset)
        except ConvScopeError as exc:
            self.ctx.show_error(exc.title, str(exc))
            return
        model, x, y = self.run.model, data.val_x[:256], data.val_y[:256]
        self.jobs.start(lambda: measure_job(model, x, y))

    def clear(self) -> None:
        self.snapshots = []
        self.slider.setRange(0, 0)
        self.redraws.mark()

    def _mark_dirty(self, *_args) -> None:
        self.redraws.mark()

    # ------------------------------------------------------------ drawing

    @staticmethod
    def _label(snapshot: LayerStatsSnapshot) -> str:
        if snapshot.step < 0:
            return "current model"
        return "initialization" if snapshot.step == 0 else f"epoch {snapshot.epoch + 1} (step {snapshot.step})"

    def redraw(self) -> None:
        self.act_plot.clear()
        self.grad_plot.clear()
        self.hist_view.clear()
        if not self.snapshots:
            self.snapshot_label.setText("")
            return
        names = self.snapshots[-1].stats.layer_names
        self._fit_layer_ticks()
        x = np.arange(len(names))
        n = len(self.snapshots)
        shown = range(n) if n <= 8 else sorted(set(np.linspace(0, n - 1, 8).round().astype(int)))
        width = theme.plot_line_width()
        for i in shown:
            snap = self.snapshots[i]
            pen = pg.mkPen(_time_colour(i, n), width=width * (1.6 if i == n - 1 else 1.0))
            self.act_plot.plot(x, snap.stats.act_std, pen=pen, symbol="o", symbolSize=6,
                               symbolBrush=_time_colour(i, n), name=self._label(snap))
            if snap.stats.grad_std is not None:
                grad = np.maximum(snap.stats.grad_std, 1e-12)
                self.grad_plot.plot(x, grad, pen=pen, symbol="o", symbolSize=6, symbolBrush=_time_colour(i, n))
        chosen = self.snapshots[min(self.slider.value(), n - 1)]
        self.snapshot_label.setText(self._label(chosen))
        columns = self._histogram_columns(chosen)
        for index, (counts, edges) in enumerate(chosen.stats.histograms):
            plot = self.hist_view.addPlot(row=index // columns, col=index % columns)
            plot.setTitle(f"{names[index]}<br>μ={chosen.stats.act_mean[index]:.2f} σ={chosen.stats.act_std[index]:.2f}",
                          size=f"{theme.point_size(0.9):.1f}pt")
            plot.plot(edges, counts, stepMode="center", fillLevel=0, brush=theme.colour(0), pen=pg.mkPen(theme.colour(0)))
            plot.hideAxis("left")
            plot.setMouseEnabled(False, False)

    @staticmethod
    def _text_width(text: str, relative: float = 0.9) -> float:
        font = QFont()
        font.setPointSizeF(theme.point_size(relative))
        return QFontMetricsF(font).horizontalAdvance(text)

    def _histogram_columns(self, chosen) -> int:
        """As many histograms a row as their titles allow without running into each other."""
        names = chosen.stats.layer_names
        widest = max((self._text_width(f"{name}  ") for name in names), default=0.0)
        widest = max(widest, self._text_width("μ=-0.00 σ=0.00  "))
        columns = int(max(1.0, self.hist_view.width()) // max(widest * 1.1, 1.0))
        return max(1, min(HIST_COLUMNS, columns, len(names)))

    def _fit_layer_ticks(self, *_args) -> None:
        """Layer names on the x axis, every k-th one when all of them would run together
        (large text, many layers); the others keep an unlabelled tick."""
        if not self.snapshots:
            return
        names = self.snapshots[-1].stats.layer_names
        for plot in (self.act_plot, self.grad_plot):
            axis = plot.getAxis("bottom")
            font = axis.style.get("tickFont") or QFont()
            metrics = QFontMetricsF(font)
            widest = max((metrics.horizontalAdvance(name) for name in names), default=0.0) + metrics.height()
            per_layer = plot.getPlotItem().vb.width() / max(1, len(names))
            step = max(1, int(np.ceil(widest / max(per_layer, 1.0))))
            major = [(i, names[i]) for i in range(0, len(names), step)]
            minor = [(i, "") for i in range(len(names)) if i % step]
            axis.setTicks([major, minor])
        self._fit_log_ticks()

    def _fit_log_ticks(self) -> None:
        """Gradient axis: 1, 2, 5 (or only 1) per decade, as many as the axis height holds."""
        grads = [s.stats.grad_std for s in self.snapshots if s.stats.grad_std is not None]
        if not grads:
            return
        values = np.concatenate([np.asarray(g, float) for g in grads])
        values = values[np.isfinite(values) & (values > 0)]
        if not len(values):
            return
        low, high = int(np.floor(np.log10(values.min()))), int(np.ceil(np.log10(values.max())))
        axis = self.grad_plot.getAxis("left")
        font = axis.style.get("tickFont") or QFont()
        room = self.grad_plot.getPlotItem().vb.height() / (1.8 * QFontMetricsF(font).height())
        lo_value, hi_value = values.min(), values.max()
        for mantissas in ((1, 2, 5), (1, 3), (1,)):
            ticks = [m * 10.0 ** e for e in range(low, high + 1) for m in mantissas]
            shown = [v for v in ticks if lo_value / 1.5 <= v <= hi_value * 1.5]
            if len(shown) <= max(2.0, room):
                break
        axis.setTicks([[(float(np.log10(v)), f"{v:.0e}".replace("e-0", "e-").replace("e+0", "e"))
                        for v in shown], []])

    # ------------------------------------------------------------ hooks
    def save_state(self) -> dict:
        return {"snapshot": self.slider.value()}

    def restore_state(self, state: dict) -> None:
        self.slider.setValue(int(state.get("snapshot", self.slider.value())))

    def apply_lesson(self, setup: dict) -> None:
        if setup.get("measure"):
            self.measure()
