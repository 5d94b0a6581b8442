"""Network panel: build a CNN layer by layer.

The layer list is an engine NetworkSpec; every edit re-runs engine.spec.analyze
(cheap shape arithmetic, no tensors) so the table always shows each layer's
output shape, parameters and receptive field, and marks the first impossible
layer with its reason before any training. Every change is published with
ctx.set_spec.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSplitter,
                               QVBoxLayout, QWidget)

from engine.errors import ConvScopeError, SpecError
from engine.spec import LAYER_TYPES, LayerSpec, NetworkSpec, analyze, load_preset
from gui.panels.base import Panel
from gui.widgets.layer_table import (COLUMNS, ERROR_BACKGROUND, LayerEditor, LayerTable,  # noqa: F401 (tests)
                                     network_summary, shape_text)
from gui.widgets.preset_chooser import PresetChooser
from gui.widgets.shortcuts import add_shortcuts


class _DatasetShapeJob:
    """Job factory: the input shape and class count of a dataset (cached by the engine)."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self):
        return self._job()

    def _job(self):
        from engine.data import load_dataset

        data = load_dataset(self.name)
        return self.name, tuple(data.input_shape), data.num_classes
        yield  # unreachable: makes this a generator (a job that only returns)


class BuilderPanel(Panel):
    title = "Network"
    description = "Build a CNN layer by layer with live output shapes and parameter counts."

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.spec = self._initial_spec()
        self.infos = []
        self._build_ui()
        self.jobs.succeeded.connect(self._on_dataset_shape)
        ctx.dataset_changed.connect(self._on_dataset_changed)
        self._publishing = False
        # Follow a spec set elsewhere (workspace restore, lessons, other panels).
        ctx.spec_changed.connect(self._on_context_spec)
        self._refresh(select=0)
        self._publish()

    def _initial_spec(self) -> NetworkSpec:
        if self.ctx.spec is not None:
            return self.ctx.spec.copy()
        try:
            return load_preset("lenet5")
        except ConvScopeError:
            return NetworkSpec(name="empty")

    # ----- UI
    def _build_ui(self) -> None:
        root = QVBoxLayout(self)

        top = QHBoxLayout()
        top.addWidget(QLabel("Preset:"))
        self.preset_combo = PresetChooser("lenet5" if self.ctx.spec is None else "")
        self.preset_combo.activated.connect(self._on_preset_chosen)
        top.addWidget(self.preset_combo)
        self.load_button = QPushButton("Load JSON…")
        self.load_button.setToolTip("Open an architecture saved as JSON (Ctrl+O).")
        self.load_button.clicked.connect(self._on_load_clicked)
        self.save_button = QPushButton("Save JSON…")
        self.save_button.setToolTip("Save this architecture as JSON (Ctrl+S).")
        self.save_button.clicked.connect(self._on_save_clicked)
        top.addWidget(self.load_button)
        top.addWidget(self.save_button)
        self.input_label = QLabel()
        self.input_label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self.input_label.setWordWrap(True)  # wraps instead of widening the panel at large text sizes
        self.input_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.input_label.setToolTip("The network's input and output follow the dataset chosen in the Data panel.")
        top.addWidget(self.input_label, 1)
        root.addLayout(top)

        splitter = QSplitter(Qt.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.table = LayerTable()
        self.table.row_dragged.connect(self.move_layer)
        self.table.itemSelectionChanged.connect(self._on_selection_changed)
        left_layout.addWidget(self.table, 1)
        self.total_label = QLabel()
        self.total_label.setWordWrap(True)
        font = self.total_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.total_label.setFont(font)
        left_layout.addWidget(self.total_label)

        buttons = QHBoxLayout()
        self.add_combo = QComboBox()
        for kind, layer_type in LAYER_TYPES.items():
            self.add_combo.addItem(layer_type.label, kind)
            self.add_combo.setItemData(self.add_combo.count() - 1, layer_type.help, Qt.ToolTipRole)
        self.add_combo.setToolTip("Layer type to insert below the selected layer.")
        self.add_button = self._button("Add", "Insert the chosen layer type below the selected row (Ctrl+N).",
                                       self.add_layer_clicked)
        self.remove_button = self._button("Remove", "Delete the selected layer (Delete).", self.remove_selected)
        self.up_button = self._button("Move up", "Move the selected layer up (Ctrl+Up; or drag the row).",
                                      self.move_up)
        self.down_button = self._button("Move down", "Move the selected layer down (Ctrl+Down).", self.move_down)
        self.duplicate_button = self._button("Duplicate", "Insert a copy of the selected layer below it (Ctrl+D).",
                                             self.duplicate_selected)
        buttons.addWidget(self.add_combo)
        for button in (self.add_button, self.remove_button, self.up_button, self.down_button,
                       self.duplicate_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        left_layout.addLayout(buttons)
        splitter.addWidget(left)

        self.editor = LayerEditor()
        # No fixed pixel minimum: the form's own minimum (longest label + spin box) grows with the text size.
        self.editor.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Expanding)
        self.editor.changed.connect(self._on_param_changed)
        splitter.addWidget(self.editor)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        root.addWidget(splitter, 1)

        add_shortcuts(self, ((QKeySequence.Delete, self.remove_selected, "Remove the selected layer"),
                             ("Ctrl+Up", self.move_up, "Move the selected layer up"),
                             ("Ctrl+Down", self.move_down, "Move the selected layer down"),
                             ("Ctrl+D", self.duplicate_selected, "Duplicate the selected layer"),
                             ("Ctrl+N", self.add_layer_clicked, "Add a layer below the selected one"),
                             ("Ctrl+O", self._on_load_clicked, "Load an architecture from JSON"),
                             ("Ctrl+S", self._on_save_clicked, "Save the architecture as JSON")))

    def _button(self, text: str, tip: str, slot) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    # ----- model -> view
    def selected_index(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def _refresh(self, select: int | None = None) -> None:
        self.infos = analyze(self.spec)
        self.table.show_layers(self.infos, self.spec.layers)
        self.total_label.setText(network_summary(self.infos, len(self.spec.layers)))
        self.preset_combo.sync(self.spec, getattr(self, "_dataset_shape", None))
        c = " x ".join(str(v) for v in self.spec.input_shape)
        self.input_label.setText(f"Input {c} · {self.spec.num_classes} classes · dataset: {self.ctx.dataset}")
        if select is not None and self.spec.layers:
            select = max(0, min(select, len(self.spec.layers) - 1))
            self.table.selectRow(select)
        self._on_selection_changed()

    def _on_selection_changed(self) -> None:
        index = self.selected_index()
        has = index is not None
        for button in (self.remove_button, self.duplicate_button):
            button.setEnabled(has)
        self.up_button.setEnabled(has and index > 0)
        self.down_button.setEnabled(has and index < len(self.spec.layers) - 1)
        if has and index < len(self.spec.layers):
            if self.editor.editors and self.editor.property("row") == index and \
                    self.editor.property("kind") == self.spec.layers[index].kind:
                return  # same layer: keep the editor (and its keyboard focus)
            self.editor.setProperty("row", index)
            self.editor.setProperty("kind", self.spec.layers[index].kind)
            self.editor.show_layer(self.spec.layers[index], self.infos[index].name)
        else:
            self.editor.setProperty("row", -1)
            self.editor.show_layer(None)

    def _publish(self) -> None:
        self._publishing = True  # our own echo through ctx.spec_changed is ignored
        try:
            self.ctx.set_spec(self.spec.copy())
        finally:
            self._publishing = False

    def _on_context_spec(self, spec) -> None:
        if self._publishing or not isinstance(spec, NetworkSpec) or spec == self.spec:
            return
        self.spec = spec.copy()
        self.editor.setProperty("row", -1)
        self._refresh(0)

    def _changed(self, select: int | None) -> None:
        self.editor.setProperty("row", -1)  # the layer at a row may be another one now
        self._refresh(select)
        self._publish()

    # ----- edits (each changes self.spec, refreshes, publishes)
    def set_spec(self, spec: NetworkSpec) -> None:
        self.spec = spec.copy()
        self._changed(0)

    def add_layer(self, kind: str, index: int | None = None, **params) -> None:
        if kind not in LAYER_TYPES:
            raise SpecError(f"Unknown layer kind '{kind}'.")
        if index is None:
            selected = self.selected_index()
            index = len(self.spec.layers) if selected is None else selected + 1
        self.spec.layers.insert(index, LayerSpec(kind, dict(params)))
        self._changed(index)

    def add_layer_clicked(self) -> None:
        self.add_layer(self.add_combo.currentData())

    def remove_selected(self) -> None:
        index = self.selected_index()
        if index is None:
            return
        del self.spec.layers[index]
        self._changed(min(index, len(self.spec.layers) - 1))

    def move_up(self) -> None:
        self._move(-1)

    def move_down(self) -> None:
        self._move(1)

    def _move(self, step: int) -> None:
        index = self.selected_index()
        if index is None or not 0 <= index + step < len(self.spec.layers):
            return
        layers = self.spec.layers
        layers[index], layers[index + step] = layers[index + step], layers[index]
        self._changed(index + step)

    def move_layer(self, source: int, target: int) -> None:
        """Move the layer at row `source` to row `target` (drag and drop)."""
        layers = self.spec.layers
        if not (0 <= source < len(layers) and 0 <= target < len(layers)) or source == target:
            return
        layers.insert(target, layers.pop(source))
        self._changed(target)

    def duplicate_selected(self) -> None:
        index = self.selected_index()
        if index is None:
            return
        layer = self.spec.layers[index]
        self.spec.layers.insert(index + 1, LayerSpec(layer.kind, dict(layer.params)))
        self._changed(index + 1)

    def set_layer_param(self, index: int, name: str, value) -> None:
        self.spec.layers[index].params[name] = value
        self._refresh(index)
        self._publish()

    def _on_param_changed(self, name: str, value) -> None:
        index = self.selected_index()
        if index is not None:
            self.set_layer_param(index, name, value)

    # ----- presets, files, datasets
    def _on_preset_chosen(self, _index: int) -> None:
        name = self.preset_combo.currentData()
        if name:
            self.load_preset(name)

    def load_preset(self, name: str) -> None:
        try:
            preset = load_preset(name)
        except ConvScopeError as exc:
            self.ctx.show_error(exc.title, str(exc))
            return
        self.preset_combo.preset_name = name
        self.set_spec(self._adapt(preset))
        self.ctx.status(f"Loaded preset {name}: {preset.name}")

    def _adapt(self, spec: NetworkSpec) -> NetworkSpec:
        """Fit a preset or file to the current dataset's image shape and classes."""
        shape = getattr(self, "_dataset_shape", None)
        if shape is None:
            return spec
        return spec.adapted_to(shape[0], shape[1])

    def save_json(self, path: str | Path) -> bool:
        try:
            self.spec.save(path)
        except (OSError, ConvScopeError) as exc:
            self.ctx.show_error("Cannot save architecture", f"Could not write {path}: {exc}")
            return False
        self.ctx.status(f"Saved architecture to {path}")
        return True

    def load_json(self, path: str | Path) -> bool:
        try:
            spec = NetworkSpec.load(path)
        except ConvScopeError as exc:
            self.ctx.show_error(exc.title, f"{Path(path).name}: {exc}")
            return False
        self.set_spec(spec)
        self.ctx.status(f"Loaded architecture from {path}")
        return True

    def _on_save_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save architecture", f"{self.spec.name}.json",
                                              "Architecture (*.json)")
        if path:
            self.save_json(path)

    def _on_load_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load architecture", "", "Architecture (*.json);;All files (*)")
        if path:
            self.load_json(path)

    def _on_dataset_changed(self, name: str) -> None:
        info = getattr(self.ctx, "dataset_info", None)
        if isinstance(info, dict) and info.get("name") == name:
            self._apply_dataset_shape(name, tuple(info["input_shape"]), int(info["num_classes"]))
        elif name != "image_folder":  # a folder needs its root: only the Data panel can load it
            self.jobs.start(_DatasetShapeJob(name))

    def _on_dataset_shape(self, result) -> None:
        if isinstance(result, tuple) and len(result) == 3:
            self._apply_dataset_shape(*result)

    def _apply_dataset_shape(self, name: str, input_shape: tuple, num_classes: int) -> None:
        self._dataset_shape = (input_shape, num_classes)
        if tuple(self.spec.input_shape) == tuple(input_shape) and self.spec.num_classes == num_classes:
            self._refresh(self.selected_index())
            return
        self.set_spec(self.spec.adapted_to(input_shape, num_classes))
        self.ctx.status(f"Network adapted to {name}: input {shape_text(input_shape)}, {num_classes} classes")

    # ----- workspaces, lessons, screenshots
    def save_state(self) -> dict:
        return {"spec": self.spec.to_dict()}

    def restore_state(self, state: dict) -> None:
        data = state.get("spec") if isinstance(state, dict) else None
        if data:
            try:
                self.set_spec(NetworkSpec.from_dict(data))
            except SpecError as exc:
                self.ctx.show_error(exc.title, f"The saved network could not be restored: {exc}")

    def apply_lesson(self, setup: dict) -> None:
        if setup.get("preset"):
            self.load_preset(setup["preset"])
        if setup.get("spec"):
            self.restore_state({"spec": setup["spec"]})
