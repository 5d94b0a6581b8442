"""Top patches panel (Zeiler & Fergus): for a chosen layer, the dataset patches
that excite each channel most, cropped to the unit's receptive field; all
channels of the layer at once, and one channel enlarged. The network is the trained
run, or a pretrained / loaded ImageNet network over an image folder (the bundled
photos by default), whose patches come with their deconvnet projections."""
from __future__ import annotations

from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

from engine.events import Progress
from engine.imaging import nearest_upscale
from gui.panels.base import Panel
from gui.widgets.fit import FitsViewportHeight
from gui.widgets.flow import as_strip
from gui.widgets.image_view import ImageGrid
from gui.widgets.model_chooser import ChoosesNetwork, ModelChooser, network_choice
from gui.widgets.run_hint import NoModelHint, PageStack


class TopPatchesPanel(ChoosesNetwork, FitsViewportHeight, Panel):
    title = "Top patches"
    description = "The dataset patches that excite each channel most (Zeiler & Fergus)."

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.run = None
        self.result = None  # engine.introspect.TopPatches

        self.index = None  # engine.top_index.TopIndex of the ImageNet network
        self.overview = None
        self.folder: str | None = None  # None: the bundled photos
        self._layers_of = ""  # the ImageNet model whose layers fill the layer list

        layout = QVBoxLayout(self)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Network:"))
        self.network_combo = network_choice("The network trained here, or a pretrained ImageNet network "
                                            "(its top patches over the bundled photos or a folder of yours)")
        self.network_combo.currentIndexChanged.connect(self._on_network_changed)
        controls.addWidget(self.network_combo)
        self.model_choice = ModelChooser()
        self.model_choice.currentIndexChanged.connect(self._on_network_changed)
        controls.addWidget(self.model_choice)
        self.folder_button = QPushButton("Images: bundled photos")
        self.folder_button.setToolTip("Where the ImageNet network's top patches come from: the bundled photos "
                                      "(crops and flips), or a folder of yours")
        self.folder_button.clicked.connect(self._choose_folder)
        controls.addWidget(self.folder_button)
        controls.addWidget(QLabel("Layer:"))
        self.layer_combo = QComboBox()
        controls.addWidget(self.layer_combo)
        controls.addWidget(QLabel("Top k:"))
        self.k_spin = QSpinBox()
        self.k_spin.setRange(1, 36)
        self.k_spin.setValue(9)
        controls.addWidget(self.k_spin)
        self.limit_label = QLabel("Images:")
        controls.addWidget(self.limit_label)
        self.limit_spin = QSpinBox()
        self.limit_spin.setRange(100, 100000)
        self.limit_spin.setSingleStep(500)
        self.limit_spin.setValue(4000)
        controls.addWidget(self.limit_spin)
        self.find_button = QPushButton("Find top patches")
        self.find_button.clicked.connect(self.find)
        controls.addWidget(self.find_button)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.jobs.stop)
        self.stop_button.setEnabled(False)
        controls.addWidget(self.stop_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        controls.addStretch(1)
        layout.addWidget(as_strip(controls))  # wraps instead of widening the panel
        layout.addWidget(self.progress)

        self.stack = PageStack()
        self.hint = NoModelHint(ctx)
        self.stack.addWidget(self.hint)
        content = QWidget()
        row = QHBoxLayout(content)
        self.all_grid = ImageGrid("All channels: click one to enlarge it")
        self.all_grid.tile_clicked.connect(self.select_channel)
        row.addWidget(self.all_grid, 3)
        right = QVBoxLayout()
        channel_row = QHBoxLayout()
        channel_row.addWidget(QLabel("Channel:"))
        self.channel_spin = QSpinBox()
        self.channel_spin.setRange(0, 0)
        self.channel_spin.valueChanged.connect(self.select_channel)
        channel_row.addWidget(self.channel_spin)
        channel_row.addStretch(1)
        right.addLayout(channel_row)
        self.channel_grid = ImageGrid("")
        right.addWidget(self.channel_grid, 1)
        self.values_label = QLabel("")
        self.values_label.setWordWrap(True)
        right.addWidget(self.values_label)
        row.addLayout(right, 2)
        self.stack.addWidget(content)
        layout.addWidget(self.stack, 1)

        self.jobs.event.connect(self.on_event)
        self.jobs.succeeded.connect(self.on_result)
        self.jobs.running_changed.connect(self._on_running)
        self.follow_run(self.on_run_changed)
        self._show_network_controls()

    # ------------------------------------------------------------ which network
    def _show_network_controls(self) -> None:
        imagenet = self.imagenet_mode()
        self.model_choice.setVisible(imagenet)
        self.folder_button.setVisible(imagenet)
        self.limit_spin.setVisible(not imagenet)  # the run's training images; the ImageNet view uses the folder
        self.limit_label.setVisible(not imagenet)

    def _on_network_changed(self, *_args) -> None:
        self.jobs.stop()
        self._show_network_controls()
        self.result = self.index = self.overview = None
        self.all_grid.clear()
        self.channel_grid.clear()
        if self.imagenet_mode():
            from engine.top_index import model_layers_job

            self.stack.setCurrentIndex(1)
            self.layer_combo.clear()
            self.values_label.setText("Loading the network's layers…")
            model = self.model_choice.model_name()
            self.jobs.start(lambda: model_layers_job(model))
        elif self.run is not None:
            self.on_run_changed(self.run)
        else:
            self.stack.setCurrentIndex(0)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A folder of images (sub-folders count too)")
        if folder:
            self.set_folder(folder)

    def set_folder(self, folder: str | None) -> None:
        from pathlib import Path

        self.folder = folder or None
        self.folder_button.setText(f"Images: {Path(folder).name}/" if folder else "Images: bundled photos")
        self.folder_button.setToolTip(folder or "The bundled photos, their crops and flips")
        self.index = self.overview = None

    def on_run_changed(self, run) -> None:
        from engine.introspect import spatial_layer_names

        if run is None:
            return
        self.run = run
        if self.imagenet_mode():
            return  # the ImageNet network's view stays as it is
        self.jobs.stop()
        self.result = None
        self.all_grid.clear()
        self.channel_grid.clear()
        layers = spatial_layer_names(run.model)
        current = self.layer_combo.currentText()
        self.layer_combo.clear()
        self.layer_combo.addItems(layers)
        convs = [n for n in layers if n.startswith("conv")]
        if current in layers:
            self.layer_combo.setCurrentText(current)
        elif len(convs) > 1:
            self.layer_combo.setCurrentText(convs[1])  # conv2: patterns richer than edges
        elif convs:
            self.layer_combo.setCurrentText(convs[0])
        self.stack.setCurrentIndex(1 if layers else 0)
        if not layers:
            self.hint.label.setText("This model has no convolutional layers: its units see the whole image, "
                                    "so there are no patches to crop.")
        self.values_label.setText("Press “Find top patches” to scan the training images.")

    def find(self) -> None:
        from engine.introspect import run_top_patches

        layer = self.layer_combo.currentText()
        if self.imagenet_mode():
            from engine.top_index import find_job

            layer = self.layer_combo.currentData()  # the module path (the text adds its shape)
            if not layer:
                return
            model, folder, k = self.model_choice.model_name(), self.folder, self.k_spin.value()
            self.progress.setValue(0)
            self.jobs.start(lambda: find_job(model, layer, folder, k))
            return
        if self.run is None or not layer:
            return
        run, k, limit = self.run, self.k_spin.value(), self.limit_spin.value()
        self.progress.setValue(0)
        self.jobs.start(lambda: run_top_patches(run, layer, k=k, limit=limit))

    def _on_running(self, running: bool) -> None:
        self.find_button.setEnabled(not running)
        self.stop_button.setEnabled(running)

    def on_event(self, event) -> None:
        if isinstance(event, Progress):
            self.progress.setValue(int(event.fraction * 1000))
            self.progress.setFormat(event.message)

    def on_result(self, result) -> None:
        from engine.top_index import ModelLayers

        if isinstance(result, ModelLayers):
            self._on_model_layers(result)
            return
        if isinstance(result, tuple):
            self._on_index(*result)
            return
        if isinstance(result, list):
            self._on_channel_patches(result)
            return
        self.result = result
        self.progress.setValue(1000)
        self.progress.setFormat(f"Scanned {self.limit_spin.value()} images")
        zoom = max(1, 40 // result.receptive_field)
        blocks, columns = result.all_channels_mosaic(upscale=zoom)
        self.all_grid.set_tiles(blocks, columns, pad=6)
        self.all_grid.set_caption(f"{result.layer}: top {result.patches.shape[1]} patches of each of "
                                  f"{result.channels} channels ({result.receptive_field}×{result.receptive_field} "
                                  "px receptive field). Click a block to enlarge it.")
        self.channel_spin.blockSignals(True)
        self.channel_spin.setRange(0, result.channels - 1)
        self.channel_spin.blockSignals(False)
        self.select_channel(min(self.channel_spin.value(), result.channels - 1))

    # ------------------------------------------------------------ the ImageNet network
    def _on_model_layers(self, found) -> None:
        self._layers_of = found.model
        current = self.layer_combo.currentText()
        self.layer_combo.clear()
        for name, shape in found.layers:
            self.layer_combo.addItem(f"{name}  ({shape[0]}×{shape[1]}×{shape[2]})", name)
        names = [name for name, _ in found.layers]
        middle = [n for n in names if n.count(".") == 1]
        pick = current if current in names else (middle[len(middle) // 2] if middle else names[0] if names else "")
        if pick:
            self.layer_combo.setCurrentIndex(names.index(pick))
        self.values_label.setText(f"{found.label}: {len(names)} layers with feature maps. Choose one and press "
                                  "“Find top patches”.")

    def _on_index(self, index, overview) -> None:
        self.index, self.overview = index, overview
        self.progress.setValue(1000)
        where = "cached index" if index.from_cache else f"{index.seconds:.1f} s"
        self.progress.setFormat(f"{len(index.sources)} images ({where})")
        self.all_grid.set_tiles(overview.tiles, pad=3)
        skipped = f"; skipped {sum(index.skipped.values())} files" if index.skipped else ""
        self.all_grid.set_caption(f"{index.layer}: the strongest patch of each of {len(overview.channels)} channels "
                                  f"over {len(index.sources)} images{skipped}. Click one to see its top "
                                  f"{index.top_k} with their projections.")
        self.channel_spin.blockSignals(True)
        self.channel_spin.setRange(0, index.channels - 1)
        self.channel_spin.blockSignals(False)
        self.select_channel(min(self.channel_spin.value(), index.channels - 1))

    def _on_channel_patches(self, patches) -> None:
        import numpy as np

        from engine.images import resize_center_crop

        if not patches:
            self.channel_grid.clear()
            return
        tiles = []
        for patch in patches:  # each patch beside its projection, as in Zeiler & Fergus's figure
            tiles += [resize_center_crop(patch.patch, 96), resize_center_crop(patch.projection, 96)]
        self.channel_grid.set_tiles(np.stack(tiles), columns=6, pad=4)  # three pairs a row: wide, like the panel
        from engine.deconv import METHOD_LABELS

        self.channel_grid.set_caption(f"{self.index.layer}, channel {self.channel_spin.value()}: each patch beside "
                                      f"its {METHOD_LABELS.get(patches[0].method, patches[0].method)} projection")
        values = ", ".join(f"{p.activation:.2f}" for p in patches)
        self.values_label.setText(f"Activations: {values}")
        self.progress.setValue(1000)
        self.progress.setFormat(f"Channel {self.channel_spin.value()}: {len(patches)} patches")

    def select_channel(self, channel: int) -> None:
        if self.imagenet_mode():
            if self.index is None or self.overview is None:
                return
            if 0 <= channel < len(self.overview.channels) and self.sender() is self.all_grid:
                channel = self.overview.channels[channel]  # a tile of the overview: its channel
            if not 0 <= channel < self.index.channels:
                return
            self.channel_spin.blockSignals(True)
            self.channel_spin.setValue(channel)
            self.channel_spin.blockSignals(False)
            from engine.top_index import channel_job

            model, index, folder = self.model_choice.model_name(), self.index, self.folder
            self.progress.setValue(0)
            self.jobs.start(lambda: channel_job(model, index, channel, folder))
            return
        if self.result is None or not 0 <= channel < self.result.channels:
            return
        if self.channel_spin.value() != channel:
            self.channel_spin.blockSignals(True)
            self.channel_spin.setValue(channel)
            self.channel_spin.blockSignals(False)
        zoom = max(1, 120 // self.result.receptive_field)
        tiles = self.result.channel_tiles(channel)
        tiles = tiles.reshape(tiles.shape[:3]) if tiles.shape[-1] == 1 else tiles
        import numpy as np

        self.channel_grid.set_tiles(np.stack([nearest_upscale(t, zoom) for t in tiles]), pad=4)
        self.channel_grid.set_caption(f"{self.result.layer}, channel {channel}: strongest first")
        values = ", ".join(f"{v:.2f}" for v in self.result.values[channel])
        self.values_label.setText(f"Activations: {values}")

    def save_state(self) -> dict:
        return {"layer": self.layer_combo.currentData() or self.layer_combo.currentText(), "k": self.k_spin.value(),
                "limit": self.limit_spin.value(), "channel": self.channel_spin.value(),
                "network": self.network_combo.currentData(), "model": self.model_choice.model_name()}

    def restore_state(self, state: dict) -> None:
        if state.get("network") == "imagenet":
            self.model_choice.set_model_name(str(state.get("model", "")))
            self.network_combo.setCurrentIndex(self.network_combo.findData("imagenet"))
        if state.get("layer"):
            self.layer_combo.setCurrentText(str(state["layer"]))
        self.k_spin.setValue(int(state.get("k", self.k_spin.value())))
        self.limit_spin.setValue(int(state.get("limit", self.limit_spin.value())))
        self.channel_spin.setValue(int(state.get("channel", 0)))

    def apply_lesson(self, setup: dict) -> None:
        self.restore_state(setup)
        if setup.get("run") and self.run is not None:
            self.find()

