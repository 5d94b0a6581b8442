"""Filters panel: every conv layer's learned filters as a tile grid on one shared
colour scale, refreshed live while training (watch edge detectors form), next
to the same layer at initialization."""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout,
                               QWidget)

from engine.introspect import colour_bar, conv_weights, filter_change, filter_grid
from gui.panels.base import Panel
from gui.widgets.fit import FitsViewportHeight
from gui.widgets.flow import control_strip
from gui.widgets.image_view import ImageGrid
from gui.widgets.model_chooser import ChoosesNetwork, ModelChooser, network_choice
from gui.widgets.paced_redraw import PacedRedraw
from gui.widgets.run_hint import NoModelHint, PageStack

MODES = [("auto", "Auto: pictures / channel mean"), ("mean", "Mean over input channels"),
         ("per_input", "Each input channel")]


class FiltersPanel(ChoosesNetwork, FitsViewportHeight, Panel):
    title = "Filters"
    description = "Every conv layer's learned filters, live while training."

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.weights: dict[str, np.ndarray] = {}  # current filters, layer -> (out, in, k, k)
        self.initial: dict[str, np.ndarray] = {}  # filters at step 0 of the latest training
        self.step: int | None = None
        self.network_name = ""  # label of the ImageNet network whose filters are shown

        layout = QVBoxLayout(self)
        self.network_combo = network_choice("The network trained here (live while it trains), or a pretrained ImageNet "
                                            "network or your own: its first layer's colour filters are edge and blob "
                                            "detectors.")
        self.model_choice = ModelChooser(ctx=ctx)
        self.model_choice.setVisible(False)
        self.network_combo.currentIndexChanged.connect(self._on_network_changed)
        self.model_choice.currentIndexChanged.connect(self._on_network_changed)
        self.jobs.succeeded.connect(self._on_network_filters)
        self.layer_combo = QComboBox()
        self.layer_combo.currentIndexChanged.connect(self._mark_dirty)
        self.mode_combo = QComboBox()
        self.mode_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.mode_combo.setMinimumContentsLength(22)
        self.mode_combo.setToolTip("Auto: a first layer's filters as grey or colour pictures, deeper layers as the "
                                   "mean over their input channels. Each input channel: one row per filter.")
        for key, label in MODES:
            self.mode_combo.addItem(label, key)
        self.mode_combo.currentIndexChanged.connect(self._mark_dirty)
        self.zoom_spin = QSpinBox()
        self.zoom_spin.setRange(1, 32)
        self.zoom_spin.setValue(8)
        self.zoom_spin.valueChanged.connect(self._mark_dirty)
        self.compare_check = QCheckBox("Compare with start")
        self.compare_check.setToolTip("Show the filters at initialization (step 0 of training) next to the "
                                      "current ones, on the same colour scale.")
        self.compare_check.setChecked(True)
        self.compare_check.toggled.connect(self._mark_dirty)
        # Wraps onto a second line instead of widening the panel (200 % text on 1280x800).
        self.controls = control_strip("Network:", self.network_combo, self.model_choice,
                                      "Layer:", self.layer_combo, "Show:", self.mode_combo, "Zoom:", self.zoom_spin,
                                      self.compare_check)
        layout.addWidget(self.controls)

        self.stack = PageStack()
        self.hint = NoModelHint(ctx)
        self.stack.addWidget(self.hint)
        content = QWidget()
        content_layout = QVBoxLayout(content)
        grids = QHBoxLayout()
        self.grid = ImageGrid("Current filters")
        self.initial_grid = ImageGrid("At initialization")
        grids.addWidget(self.grid, 1)
        grids.addWidget(self.initial_grid, 1)
        self.change_grid = ImageGrid("Change since initialization")
        grids.addWidget(self.change_grid, 1)
        content_layout.addLayout(grids, 1)
        legend = QHBoxLayout()
        self.legend_low = QLabel("−")
        self.legend = QLabel()
        self.legend.setFixedHeight(22)
        self.legend.setScaledContents(True)
        self.legend_high = QLabel("+")
        legend.addWidget(self.legend_low)
        legend.addWidget(self.legend, 1)
        legend.addWidget(self.legend_high)
        content_layout.addLayout(legend)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        content_layout.addWidget(self.info)
        self.stack.addWidget(content)
        layout.addWidget(self.stack, 1)

        self.redraws = PacedRedraw(self, self.redraw, 200)  # at most 5 a second, however fast snapshots come
        ctx.training_event.connect(self.on_training_event)
        self.follow_run(self.on_run_changed)

    # ------------------------------------------------------------ inputs
    def _on_network_changed(self, *_args) -> None:
        imagenet = self.imagenet_mode()
        self.model_choice.setVisible(imagenet)
        self.compare_check.setEnabled(not imagenet)
        if imagenet:
            from engine.network_views import network_filters_job

            name = self.model_choice.model_name()
            self.info.setText(f"Loading {self.model_choice.currentText()}…")
            self.jobs.start(lambda: network_filters_job(name))
            return
        self.jobs.stop()
        self.network_name = ""
        if self.ctx.run is not None:
            self.set_weights(conv_weights(self.ctx.run.model), step=None)
        else:
            self.weights = {}
            self.layer_combo.clear()
            self.stack.setCurrentIndex(0)

    def _on_network_filters(self, result) -> None:
        if not self.imagenet_mode():
            return
        self.network_name = result.label
        kernel = int(result.weights[result.first_layer].shape[-1])
        self.zoom_spin.setValue(max(self.zoom_spin.value(), 48 // max(1, kernel)))  # 3×3 stems: tiles of 48 px
        self.set_weights(result.weights, step=None)
        self.layer_combo.setCurrentText(result.first_layer)  # the RGB layer first
        self.redraws.mark()

    def on_run_changed(self, run) -> None:
        if run is None or self.imagenet_mode():
            return
        self.set_weights(conv_weights(run.model), step=None)

    def on_training_event(self, event) -> None:
        if self.imagenet_mode():
            return
        filters = getattr(event, "filters", None)
        if not isinstance(filters, dict) or type(event).__name__ != "FiltersSnapshot":
            return
        if event.step == 0 or not self.initial:
            self.initial = {k: np.asarray(v) for k, v in filters.items()}
        self.set_weights(filters, step=event.step)

    def set_weights(self, weights: dict, step: int | None) -> None:
        self.weights = {k: np.asarray(v) for k, v in weights.items() if np.asarray(v).ndim == 4}
        self.step = step
        names = list(self.weights)
        if names != [self.layer_combo.itemText(i) for i in range(self.layer_combo.count())]:
            current = self.layer_combo.currentText()
            self.layer_combo.blockSignals(True)
            self.layer_combo.clear()
            self.layer_combo.addItems(names)
            if current in names:
                self.layer_combo.setCurrentText(current)
            self.layer_combo.blockSignals(False)
        self.stack.setCurrentIndex(1 if self.weights else 0)
        if not self.weights:
            self.hint.label.setText("This model has no convolutional layers, so it has no filters to show.")
        self.redraws.mark()

    def _mark_dirty(self, *_args) -> None:
        self.redraws.mark()

    # ------------------------------------------------------------ drawing

    def redraw(self) -> None:
        layer = self.layer_combo.currentText()
        if layer not in self.weights:
            return
        mode = self.mode_combo.currentData()
        zoom = self.zoom_spin.value()
        imagenet = self.imagenet_mode()
        initial = self.initial.get(layer) if self.compare_check.isChecked() and not imagenet else None
        if initial is not None and initial.shape != self.weights[layer].shape:
            initial = None
        # One colour scale for both grids, so the change is visible as contrast.
        bound = float(np.abs(self.weights[layer]).max())
        if initial is not None:
            bound = max(bound, float(np.abs(initial).max()))
        current = filter_grid(layer, self.weights[layer], mode, zoom, scale=bound)
        self.grid.set_tiles(current.tiles, current.columns, pad=max(1, zoom // 3))
        out_c, in_c, k, _ = current.shape
        when = "trained model" if self.step is None else f"training step {self.step}"
        if imagenet:
            when = self.network_name
        self.grid.set_caption(f"{layer}: {out_c} filters of {in_c}×{k}×{k} ({when})")
        self.initial_grid.setVisible(initial is not None)
        self.change_grid.setVisible(initial is not None)
        change_text = ""
        if initial is not None:
            start = filter_grid(layer, initial, mode, zoom, scale=bound)
            self.initial_grid.set_tiles(start.tiles, start.columns, pad=max(1, zoom // 3))
            self.initial_grid.set_caption(f"{layer} at initialization (step 0), same colour scale")
            delta, relative = filter_change(self.weights[layer], initial)
            change = filter_grid(layer, delta, mode, zoom)  # its own scale: small changes stay visible
            self.change_grid.set_tiles(change.tiles, change.columns, pad=max(1, zoom // 3))
            self.change_grid.set_caption(f"Change (current − start), scale ±{change.scale:.3f}")
            change_text = f" Training changed {layer}'s weights by {relative:.0%} of their initial size."
        bar = np.ascontiguousarray(colour_bar(bound, 8, 256))
        self.legend.setPixmap(QPixmap.fromImage(QImage(bar.data, 256, 8, 256, QImage.Format_Grayscale8).copy()))
        self.legend_low.setText(f"{-bound:+.3f}")
        self.legend_high.setText(f"{bound:+.3f}")
        mode_text = {"rgb": "colour filters (R, G, B weights)", "grey": "grey filters",
                     "mean": "mean over the input channels",
                     "per_input": "one row per filter, one column per input channel"}
        first = imagenet and in_c == 3
        network_text = (f" {self.network_name}'s first layer looks at the RGB pixels: edge, colour and blob "
                        "detectors." if first else "")
        self.info.setText(f"Mid-grey = 0, white = positive, black = negative weights; {mode_text[current.mode]}."
                          + change_text + network_text)

    # ------------------------------------------------------------ hooks
    def save_state(self) -> dict:
        return {"layer": self.layer_combo.currentText(), "mode": self.mode_combo.currentData(),
                "zoom": self.zoom_spin.value(), "compare": self.compare_check.isChecked(),
                "network": self.network_combo.currentData(), "model": self.model_choice.model_name()}

    def restore_state(self, state: dict) -> None:
        if state.get("network") == "imagenet":
            self.show_network(str(state.get("model") or self.model_choice.model_name()))
        elif state.get("network") == "run":
            self.network_combo.setCurrentIndex(self.network_combo.findData("run"))
        if state.get("layer"):
            self.layer_combo.setCurrentText(str(state["layer"]))
        index = self.mode_combo.findData(state.get("mode", "auto"))
        if index >= 0:
            self.mode_combo.setCurrentIndex(index)
        self.zoom_spin.setValue(int(state.get("zoom", self.zoom_spin.value())))
        self.compare_check.setChecked(bool(state.get("compare", True)))
        self.redraws.mark()

    def apply_lesson(self, setup: dict) -> None:
        self.restore_state(setup)

