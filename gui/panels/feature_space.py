"""Feature space: how the network arranges the data (t-SNE / PCA of a layer's
features), linked back to the images.

The engine job (engine.embed.feature_space_for_run) extracts features and
optimizes the layout in the worker thread, yielding partial layouts; this panel
keeps the latest one and redraws from a QTimer. Points are coloured by true or
predicted class (or correctness), hovering shows the image, clicking sends it
to the activation / saliency tools, and a box or lasso selection shows the
selected images as a grid.
"""
from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QPushButton, QScrollArea,
                               QVBoxLayout, QWidget)

from engine import embed
from engine.embed import (PIXELS, EmbeddingPartial, FeatureSet, FeatureSpaceResult, FeaturesReady, ModelReady,
                          TSNEParams)
from engine.errors import ConvScopeError
from engine.events import LogLine
from gui import theme
from gui.panels.base import JobPanel
from gui.widgets.embedding_settings import method_box, restore_settings, settings_state, source_box, view_box
from gui.widgets.embedding_view import EmbeddingView

DEFAULT_LAYER = "(before the classifier)"


class FeatureSpacePanel(JobPanel):
    title = "Feature space"
    description = "t-SNE and PCA of learned features, linked to the images."
    stopped_text = None  # job_stopped appends to the last status instead

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.run = ctx.run  # the model whose features are shown (may be a quick one trained here)
        self.result: FeatureSpaceResult | None = None
        self.frames_received = 0
        self._build_ui()
        self.redraw_timer = QTimer(self)
        self.redraw_timer.setInterval(50)
        self.redraw_timer.timeout.connect(self.view.redraw_if_dirty)
        theme.notifier.changed.connect(self._apply_colours)  # class colours belong to the theme
        self.status_line = self.status_label
        self.set_job_buttons(run=[self.start_button], stop=[self.stop_button])
        ctx.run_changed.connect(self._on_run_changed)
        self._refresh_layers()
        self._on_method_changed()
        self._on_model_changed()

    # ------------------------------------------------------------ widgets
    def _build_ui(self) -> None:
        outer = QHBoxLayout(self)
        controls = QWidget()
        form_layout = QVBoxLayout(controls)

        form_layout.addWidget(source_box(self))
        form_layout.addWidget(method_box(self))

        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Compute the features and their layout (trains a quick LeNet-5 first "
                                     "if no model has been trained yet).")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        # Start / Stop stay under the scrolling settings, always on screen; the status is the
        # first thing in the settings column.
        self.run_buttons = buttons

        form_layout.addWidget(view_box(self))

        self.status_label = QLabel("Press Start to lay out the features.")
        self.status_label.setWordWrap(True)
        # Inside the scroll area: a word-wrapped label beside it would make the panel as tall as
        # all the settings (height-for-width layouts take the scroll area's full size hint).
        form_layout.insertWidget(0, self.status_label)
        form_layout.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidget(controls)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(330)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.settings_scroll, self.settings_host = scroll, controls
        for combo in controls.findChildren(QComboBox):
            # Elide long entries instead of widening the column past its scroll area.
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(6)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(scroll, 1)
        left_layout.addLayout(self.run_buttons)
        self.settings_column = left
        outer.addWidget(left)

        self.view = EmbeddingView(self.ctx)
        # The view's parts under the names tests, screenshots and the layout checks use.
        self.plots, self.plots_widget = self.view.plots, self.view.plots_widget
        self.feature_plot, self.pixel_plot = self.view.feature_plot, self.view.pixel_plot
        self.preview, self.selection_grid = self.view.preview, self.view.selection_grid
        outer.addWidget(self.view, 1)
        self._fit_settings_width()

    def _fit_settings_width(self) -> None:
        """The settings column takes at most about 30 % of the width: at large text sizes labels go
        above their fields instead of widening the column; the plots keep the room."""
        wrap = QFormLayout.WrapAllRows if theme.current["scale"] >= 1.5 else QFormLayout.WrapLongRows
        for form in self.settings_host.findChildren(QFormLayout):
            form.setRowWrapPolicy(wrap)
        x = self.fontMetrics().horizontalAdvance("X")
        for combo in self.settings_host.findChildren(QComboBox):
            combo.setMinimumWidth(8 * x)
        self.settings_host.layout().activate()
        scrollbar = self.settings_scroll.verticalScrollBar().sizeHint().width()
        needed = self.settings_host.minimumSizeHint().width() + scrollbar + 4
        self.settings_scroll.setMinimumWidth(needed)
        width = self.width() if self.isVisible() else 1400
        self.settings_scroll.setMaximumWidth(max(needed, int(0.3 * width)))
        self.settings_column.setMaximumWidth(self.settings_scroll.maximumWidth())

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self._fit_settings_width()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._fit_settings_width()

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().changeEvent(event)
        if event.type() in (QEvent.FontChange, QEvent.StyleChange) and hasattr(self, "settings_scroll"):
            self._fit_settings_width()  # the text size changed while the app runs

    # ------------------------------------------------------------ model and layers
    def _on_run_changed(self, run) -> None:
        self.run = run
        self._refresh_layers()

    def using_imagenet(self) -> bool:
        return self.model_combo.currentData() == "imagenet"

    def _on_model_changed(self) -> None:
        imagenet = self.using_imagenet()
        for widget in (self.folder_button, self.bundled_button, self.network_choice, self.network_label):
            widget.setVisible(imagenet)
        for widget in (self.split_combo, self.sample_spin):
            widget.setEnabled(not imagenet)
        # On photos the true class is the sub-folder, and the network's guesses are its own classes.
        texts = (("folder", "network's guess", "correct / wrong (not for photos)") if imagenet
                 else ("true class", "predicted class", "correct / wrong"))
        for index, text in enumerate(texts):
            self.colour_combo.setItemText(index, text)
        correct = self.colour_combo.model().item(2)
        correct.setEnabled(not imagenet)
        if imagenet and self.colour_combo.currentIndex() == 2:
            self.colour_combo.setCurrentIndex(0)
        self._refresh_layers()

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of photos (one sub-folder per class, or loose)")
        if folder:
            self.set_folder(folder)

    def set_folder(self, folder: str) -> None:
        self.folder = str(folder)
        self._refresh_layers()

    def use_bundled_photos(self) -> None:
        self.set_folder("")

    def set_network(self, name: str) -> None:
        """Lay out the ImageNet network `name`'s features of photos (a chooser name, 'user:1' too)."""
        self.model_combo.setCurrentIndex(self.model_combo.findData("imagenet"))
        self.network_choice.set_model_name(name)

    def _refresh_layers(self) -> None:
        current = self.layer_combo.currentText()
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        self.layer_combo.addItem(DEFAULT_LAYER)
        if self.using_imagenet():
            network = self.network_choice.currentText()
            photos = self.folder if self.folder else "the bundled photos (or choose an image folder)"
            self.layer_combo.setItemText(0, embed.IMAGENET_LAYER)
            self.model_label.setText(f"{network}, penultimate features of {photos}")
        elif self.run is not None:
            for name in embed.layer_names(self.run.model):
                self.layer_combo.addItem(name)
            name = self.run.name if self.run.dataset in self.run.name else f"{self.run.name} ({self.run.dataset})"
            self.model_label.setText(name)
        else:
            self.layer_combo.addItem(PIXELS)
            self.model_label.setText("none yet: Start trains a quick LeNet-5 on MNIST-5k")
        index = self.layer_combo.findText(current)
        self.layer_combo.setCurrentIndex(max(0, index))
        self.layer_combo.blockSignals(False)

    def _on_method_changed(self) -> None:
        tsne = self.method_combo.currentData() == "tsne"
        for widget in self.tsne_widgets:
            widget.setEnabled(tsne)

    # ------------------------------------------------------------ the job
    def tsne_params(self) -> TSNEParams:
        lr = self.lr_spin.value()
        return TSNEParams(perplexity=self.perplexity_spin.value(), iterations=self.iterations_spin.value(),
                          learning_rate="auto" if lr <= 0 else float(lr),
                          initialization=self.init_combo.currentData())

    def start(self) -> None:
        layer = self.layer_combo.currentText()
        options = dict(layer=None if layer == DEFAULT_LAYER else layer, split=self.split_combo.currentData(),
                       sample_size=self.sample_spin.value(), method=self.method_combo.currentData(),
                       params=self.tsne_params(), compare_pixels=self.compare_check.isChecked())
        try:
            options["params"].validate()
        except ConvScopeError as exc:
            self.ctx.show_error(exc.title, str(exc))
            return
        run, dataset = self.run, (self.run.dataset if self.run is not None else self.ctx.dataset)
        if run is None and dataset not in ("mnist5k", "shapes"):
            dataset = "mnist5k"  # the quick LeNet-5 needs images at least 28 px wide
        self.result = None
        self.frames_received = 0
        compare = options["compare_pixels"]
        self.view.reset(options["method"], compare)
        self.status_label.setText("Starting…")
        if self.using_imagenet():
            folder, network = self.folder or None, self.network_choice.model_name()
            del options["layer"], options["split"], options["sample_size"]
            self.feature_plot.set_title("Features" if not compare else "Network features")
            self.jobs.start(lambda: embed.folder_feature_space_job(folder, network, **options))
        else:
            self.jobs.start(lambda: embed.feature_space_for_run(run, dataset, **options))

    def job_running_changed(self, running: bool) -> None:
        if running:
            self.redraw_timer.start()
        else:
            self.redraw_timer.stop()
            self.view.redraw_if_dirty()

    def on_job_event(self, event) -> None:
        if isinstance(event, EmbeddingPartial):
            self.view.set_layout(event.source, event.xy)
            self.frames_received += 1
            if event.source == "features" and event.total > 1:
                kl = "" if math.isnan(event.kl) else f", KL divergence {event.kl:.3f}"
                phase = "start layout" if event.iteration == 0 else f"iteration {event.iteration}/{event.total}"
                self.status_label.setText(f"t-SNE {phase}{kl}")
        elif isinstance(event, FeaturesReady):
            self.view.set_features(event.features, self.colour_mode())
        elif isinstance(event, ModelReady):
            self.run = event.run
            self._refresh_layers()
        elif isinstance(event, LogLine):
            self.status_label.setText(event.text)

    def on_job_succeeded(self, result: FeatureSpaceResult) -> None:
        self.result = result
        self.view.features = result.features
        self.view.set_layout("features", result.embedding.xy)
        if result.pixel_embedding is not None:
            self.view.set_layout("pixels", result.pixel_embedding.xy)
        self.view.redraw_if_dirty()
        self.feature_plot.set_title(embed.describe(result.embedding))
        lines = [embed.describe(result.embedding) + f" ({result.embedding.seconds:.1f} s)."]
        if result.pixel_embedding is not None:
            self.pixel_plot.set_title(embed.describe(result.pixel_embedding))
            lines.append(f"Raw pixels: 5-NN accuracy {result.pixel_embedding.knn_accuracy:.3f}.")
        lines.append("Hover a point to see its image; click it to inspect it in Activations.")
        self.status_label.setText(" ".join(lines))

    def job_stopped(self) -> None:
        self.view.redraw_if_dirty()
        self.status_label.setText(self.status_label.text() + " (stopped; the last frame stays)")

    def job_failed(self, title: str, message: str) -> None:
        self.status_label.setText(f"{title}: {message}")

    # ------------------------------------------------------------ the view (hover, click, selection)
    @property
    def features(self) -> FeatureSet | None:
        return self.view.features

    @property
    def selected(self) -> np.ndarray:
        return self.view.selected

    def colour_mode(self) -> str:
        return self.colour_combo.currentData()

    def _apply_colours(self) -> None:
        self.view.apply_colours(self.colour_mode())

    def _on_thumbnails_toggled(self, on: bool) -> None:
        self.view.show_thumbnails(on)

    def _on_select_mode_changed(self) -> None:
        self.view.set_select_mode(self.select_combo.currentData())

    def describe_point(self, index: int) -> str:
        return self.view.describe_point(index)

    def show_point(self, index: int) -> None:
        self.view.show_point(index)

    def send_to_tools(self, index: int) -> None:
        self.view.send_to_tools(index)

    def select_points(self, indices: np.ndarray) -> None:
        self.view.select_points(indices)

    # ------------------------------------------------------------ export
    def _ask_export_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export embedding", "embedding.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def _ask_export_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export plot", "embedding.png", "PNG image (*.png)")
        if path:
            self.export_png(path)

    def export_csv(self, path: str) -> bool:
        if self.result is None:
            self.ctx.show_error("Nothing to export", "Compute an embedding first (Start), then export it.")
            return False
        try:
            embed.save_embedding_csv(path, self.result.embedding, self.result.features)
            if self.result.pixel_embedding is not None:
                from pathlib import Path

                pixels_path = Path(path).with_name(Path(path).stem + "_pixels.csv")
                embed.save_embedding_csv(pixels_path, self.result.pixel_embedding, self.result.pixels)
        except OSError as exc:
            self.ctx.show_error("Export failed", f"Could not write {path}: {exc.strerror or exc}.")
            return False
        self.ctx.status(f"Embedding written to {path}")
        return True

    def export_png(self, path: str) -> bool:
        return self.view.export_png(path)

    # ------------------------------------------------------------ workspaces, lessons
    def save_state(self) -> dict:
        return settings_state(self)

    def restore_state(self, state: dict) -> None:
        restore_settings(self, state)

    def apply_lesson(self, setup: dict) -> None:
        """Keys as in save_state, plus start=True to compute right away."""
        self.restore_state(setup)
        if setup.get("start"):
            self.start()
