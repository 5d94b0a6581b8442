"""Initialization lab: the lecture's demo. Unit-gaussian data through a deep
stack of fully connected layers; choose the nonlinearity, the weight
initialization and batch norm, and watch the activations collapse to zero,
saturate, or stay healthy layer by layer."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QCheckBox, QComboBox, QGridLayout, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout

from engine.init_lab import LAB_INIT_LABELS, LAB_INITS, NONLINEARITIES, InitLabConfig, init_lab_job
from gui import theme
from gui.panels.base import Panel
from gui.widgets.fit import FitsViewportHeight
from gui.widgets.live_plot import WholeNumberAxis

HIST_COLUMNS = 5


class InitLabPanel(FitsViewportHeight, Panel):
    title = "Initialization lab"
    description = "How weight initialization and batch norm shape activations layer by layer."

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.result = None
        layout = QVBoxLayout(self)
        # Two rows of controls so the row fits 1280 px at 200 % text.
        controls_grid = QGridLayout()
        controls = QHBoxLayout()
        controls_2 = QHBoxLayout()
        controls_grid.addLayout(controls, 0, 0)
        controls_grid.addLayout(controls_2, 1, 0)
        controls.addWidget(QLabel("Nonlinearity:"))
        self.nonlinearity_combo = QComboBox()
        self.nonlinearity_combo.addItems(list(NONLINEARITIES))
        controls.addWidget(self.nonlinearity_combo)
        controls.addWidget(QLabel("Weights:"))
        self.init_combo = QComboBox()
        self.init_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.init_combo.setMinimumContentsLength(16)
        for key in LAB_INITS:
            self.init_combo.addItem(LAB_INIT_LABELS[key], key)
        controls.addWidget(self.init_combo)
        self.bn_check = QCheckBox("Batch norm")
        self.bn_check.setToolTip("Insert batch normalization before each nonlinearity.")
        controls.addStretch(1)
        controls = controls_2
        controls.addWidget(self.bn_check)
        controls.addWidget(QLabel("Layers:"))
        self.layers_spin = QSpinBox()
        self.layers_spin.setRange(1, 30)
        self.layers_spin.setValue(10)
        controls.addWidget(self.layers_spin)
        controls.addWidget(QLabel("Units:"))
        self.width_spin = QSpinBox()
        self.width_spin.setRange(10, 2000)
        self.width_spin.setSingleStep(50)
        self.width_spin.setValue(500)
        controls.addWidget(self.width_spin)
        controls.addStretch(1)
        layout.addLayout(controls_grid)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)

        plots = QHBoxLayout()
        self.std_plot = pg.PlotWidget(title="Activation std per layer",
                                     axisItems={"bottom": WholeNumberAxis("bottom")})
        self.std_plot.setLabel("bottom", "layer")
        self.std_plot.setLabel("left", "std")
        self.std_plot.showGrid(x=True, y=True, alpha=0.3)
        self.mean_plot = pg.PlotWidget(title="Activation mean per layer",
                                     axisItems={"bottom": WholeNumberAxis("bottom")})
        self.mean_plot.setLabel("bottom", "layer")
        self.mean_plot.setLabel("left", "mean")
        self.mean_plot.showGrid(x=True, y=True, alpha=0.3)
        plots.addWidget(self.mean_plot, 1)
        plots.addWidget(self.std_plot, 1)
        layout.addLayout(plots, 2)
        self.hist_view = pg.GraphicsLayoutWidget()
        self.hist_view.setObjectName("histograms_per_layer")  # the exported file's name
        layout.addWidget(self.hist_view, 3)

        # Changing any control re-runs the experiment shortly after (debounced).
        self.debounce = QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(150)
        self.debounce.timeout.connect(self.run_experiment)
        for combo in (self.nonlinearity_combo, self.init_combo):
            combo.currentIndexChanged.connect(self._schedule)
        self.bn_check.toggled.connect(self._schedule)
        self.layers_spin.valueChanged.connect(self._schedule)
        self.width_spin.valueChanged.connect(self._schedule)
        self.jobs.succeeded.connect(self.show_result)
        # The first experiment runs when the panel is first shown, not at window
        # creation: a job started at launch would delay closing the window.
        self._shown_once = False
        self._closed = False

    def config(self) -> InitLabConfig:
        return InitLabConfig(self.nonlinearity_combo.currentText(), self.init_combo.currentData(),
                             self.bn_check.isChecked(), self.layers_spin.value(), self.width_spin.value())

    def _schedule(self, *_args) -> None:
        if self._shown_once and not self._closed:
            self.debounce.start()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            self._schedule()

    def shutdown(self) -> None:
        # A pending debounce must not start a job after the window stopped them all.
        self._closed = True
        self.debounce.stop()
        super().shutdown()

    def run_experiment(self) -> None:
        config = self.config()
        self.jobs.start(lambda: init_lab_job(config))

    def show_result(self, result) -> None:
        self.result = result
        stats = result.stats
        layers = np.arange(1, len(stats) + 1)
        pen = pg.mkPen(theme.colour(0), width=theme.plot_line_width())
        self.std_plot.clear()
        self.mean_plot.clear()
        self.std_plot.plot(layers, stats.act_std, pen=pen, symbol="o", symbolBrush=theme.colour(0))
        self.mean_plot.plot(layers, stats.act_mean, pen=pg.mkPen(theme.colour(1), width=theme.plot_line_width()),
                            symbol="s", symbolBrush=theme.colour(1))
        self.std_plot.setYRange(0, max(1.0, float(stats.act_std.max()) * 1.1) if np.isfinite(stats.act_std.max())
                                else 1.0)
        self.hist_view.clear()
        for index, (counts, edges) in enumerate(stats.histograms):
            plot = self.hist_view.addPlot(row=index // HIST_COLUMNS, col=index % HIST_COLUMNS)
            plot.setTitle(f"layer {index + 1}<br>σ={stats.act_std[index]:.3g}", size=f"{theme.point_size(0.9):.0f}pt")
            plot.plot(edges, counts, stepMode="center", fillLevel=0, brush=theme.colour(0),
                      pen=pg.mkPen(theme.colour(0)))
            plot.hideAxis("left")
            plot.setMouseEnabled(False, False)
        c = result.config
        first, last = stats.act_std[0], stats.act_std[-1]
        if last < 0.01 * max(first, 1e-12) or last < 1e-3:
            verdict = "activations shrink toward 0 layer by layer: gradients vanish too, the deep layers cannot learn."
        elif (c.nonlinearity == "tanh"
              and np.mean(stats.histograms[-1][0][[0, -1]]) > 0.2 * stats.histograms[-1][0].max()):
            verdict = "tanh units saturate at −1 / +1: their local gradient is zero, learning stalls."
        elif last > 10 * max(first, 1e-12):
            verdict = "activations explode layer by layer."
        else:
            verdict = "the spread of the activations stays healthy through the stack."
        self.summary.setText(
            f"<b>{c.layers} × {c.width} {c.nonlinearity}</b>, {LAB_INIT_LABELS[c.init]} weights"
            f"{', batch norm' if c.batch_norm else ''}, {c.samples} unit-gaussian inputs: {verdict} "
            f"(std layer 1 = {first:.3g}, layer {len(stats)} = {last:.3g})")

    def save_state(self) -> dict:
        c = self.config()
        return {"nonlinearity": c.nonlinearity, "init": c.init, "batch_norm": c.batch_norm, "layers": c.layers,
                "width": c.width}

    def restore_state(self, state: dict) -> None:
        if state.get("nonlinearity") in NONLINEARITIES:
            self.nonlinearity_combo.setCurrentText(state["nonlinearity"])
        index = self.init_combo.findData(state.get("init"))
        if index >= 0:
            self.init_combo.setCurrentIndex(index)
        self.bn_check.setChecked(bool(state.get("batch_norm", self.bn_check.isChecked())))
        self.layers_spin.setValue(int(state.get("layers", self.layers_spin.value())))
        self.width_spin.setValue(int(state.get("width", self.width_spin.value())))
        self._schedule()

    def apply_lesson(self, setup: dict) -> None:
        self.restore_state(setup)
