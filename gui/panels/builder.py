"""Network panel: build a CNN layer by layer.

The layer list is an engine NetworkSpec; every edit re-runs engine.spec.analyze
(cheap shape arithmetic, no tensors) so the table always shows each layer's
output shape, parameters and receptive field, and marks the first impossible
layer with its reason before any training. Every change is published with
ctx.set_spec.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QGroupBox, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSizePolicy,
                               QSpinBox, QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from engine.errors import ConvScopeError, SpecError
from engine.spec import (LAYER_TYPES, LayerSpec, NetworkSpec, analyze, list_presets, load_preset,
                         total_params)
from gui.panels.base import Panel
from gui.theme import fit_table_to_font, follow_font
from gui.widgets.shortcuts import add_shortcuts
from gui.widgets.setting_editor import make_editor, make_label, set_editor_value

ERROR_BACKGROUND = QColor("#fbd3cc")
ERROR_FOREGROUND = QColor("#8a1c0c")
COLUMNS = ["#", "Name", "Layer", "Output shape", "Parameters", "Receptive field", "Problem"]


def _shape_text(shape) -> str:
    return "—" if shape is None else " x ".join(str(v) for v in shape)


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


class LayerTable(QTableWidget):
    """The layer table; dragging a row onto another reports (from, to) instead of
    letting Qt shuffle cells, so the spec stays the single source of truth."""

    row_dragged = Signal(int, int)  # source row, destination row

    def __init__(self, rows: int, columns: int, parent: QWidget | None = None):
        super().__init__(rows, columns, parent)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(True)
        self.setDragDropMode(QAbstractItemView.InternalMove)
        self.setDefaultDropAction(Qt.MoveAction)

    def fit_free_columns(self) -> None:
        """The key columns size to their contents; "Layer" and "Problem" share what is left
        (elided, full text in their tooltips), so no horizontal scroll bar hides the key columns."""
        layer, problem = COLUMNS.index("Layer"), COLUMNS.index("Problem")
        header = self.horizontalHeader()
        used = sum(header.sectionSize(c) for c in range(self.columnCount())
                   if c not in (layer, problem) and not self.isColumnHidden(c))
        free = max(0, self.viewport().width() - used)
        metrics = self.fontMetrics()
        floor = metrics.horizontalAdvance("Conv…") + 12
        if self.isColumnHidden(problem):
            header.resizeSection(layer, max(floor, free))
            return
        want = max((metrics.horizontalAdvance(self.item(r, problem).text()) + 12
                    for r in range(self.rowCount()) if self.item(r, problem)), default=0)
        bold = QFont(header.font())
        bold.setBold(True)  # header labels are drawn bold
        marker = max(metrics.horizontalAdvance("⚠ Kernel…") + 12,
                     QFontMetrics(bold).horizontalAdvance("Problem") + 24)
        width = max(marker, min(want, free // 2))
        header.resizeSection(problem, width)
        header.resizeSection(layer, max(floor, free - width))

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self.fit_free_columns()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt name)
        rows = self.selectionModel().selectedRows()
        if event.source() is not self or not rows:
            event.ignore()
            return
        target = self.rowAt(int(event.position().y()))
        if target < 0:
            target = self.rowCount() - 1
        event.setDropAction(Qt.IgnoreAction)  # the panel rebuilds the rows from the spec
        event.accept()
        if target != rows[0].row():
            self.row_dragged.emit(rows[0].row(), target)


class LayerEditor(QGroupBox):
    """Spin boxes generated from LAYER_TYPES[kind].params, with min/max and help tooltips."""

    changed = Signal(str, object)  # parameter name, new value

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Selected layer", parent)
        self._layout = QVBoxLayout(self)
        self.help_label = QLabel("Select a layer to edit its parameters.")
        self.help_label.setWordWrap(True)
        self._layout.addWidget(self.help_label)
        self.form = QFormLayout()
        self._layout.addLayout(self.form)
        self._layout.addStretch(1)
        self.editors: dict[str, QSpinBox | QDoubleSpinBox] = {}

    def show_layer(self, layer: LayerSpec | None, name: str = "") -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors = {}
        if layer is None:
            self.setTitle("Selected layer")
            self.help_label.setText("Select a layer to edit its parameters.")
            return
        layer_type = LAYER_TYPES[layer.kind]
        self.setTitle(f"{name}: {layer_type.label}")
        self.help_label.setText(layer_type.help + ("" if layer_type.params else "\n\nThis layer has no settings."))
        for setting in layer_type.params:  # editors from the layer's schema (engine.spec LAYER_TYPES)
            editor = make_editor(setting, self._on_value_changed)
            set_editor_value(setting, editor, layer.get(setting.name))
            self.editors[setting.name] = editor
            self.form.addRow(make_label(setting), editor)

    def _on_value_changed(self, value) -> None:
        name = self.sender().property("setting_name")
        self.changed.emit(str(name), value)


class BuilderPanel(Panel):
    title = "Network"
    description = "Build a CNN layer by layer with live output shapes and parameter counts."

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.spec = self._initial_spec()
        self._preset_name = "lenet5" if self.ctx.spec is None else ""  # the preset the network came from
        self._preset_cache: dict[str, NetworkSpec] = {}
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
        self.preset_combo = QComboBox()
        self.preset_combo.addItem("(choose a preset)", "")
        for name in list_presets():
            self.preset_combo.addItem(name, name)
        self.preset_combo.setToolTip("Load a classic architecture, adapted to the current dataset's image size "
                                     "and number of classes.")
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
        self.table = LayerTable(0, len(COLUMNS))
        self.table.row_dragged.connect(self.move_layer)
        # Two-line headers: at 200 % text the key columns are as narrow as their numbers.
        self.table.setHorizontalHeaderLabels([{"Output shape": "Output\nshape", "Receptive field": "Receptive\nfield"}
                                              .get(name, name) for name in COLUMNS])
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        # One line per row: an impossible layer's reason is elided in its cell and
        # given in full in the cell's tooltip and the summary line below.
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.ElideRight)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.Fixed)
        # The key columns (name, output shape, parameters, receptive field) size to their
        # contents; the long "Layer" description stretches into what is left and is elided
        # (full text in its tooltip), so no horizontal scroll bar hides the key columns.
        header = self.table.horizontalHeader()
        header.setMinimumSectionSize(8)
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(COLUMNS.index("Layer"), QHeaderView.Interactive)
        header.setSectionResizeMode(COLUMNS.index("Problem"), QHeaderView.Interactive)
        header.setStretchLastSection(False)
        header.sectionResized.connect(self._on_section_resized)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        follow_font(self.table)
        header.setToolTip("Receptive field: how many input pixels (per side) one output unit sees.")
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
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.infos))
        for row, info in enumerate(self.infos):
            rf = "—" if info.receptive_field is None else f"{info.receptive_field} x {info.receptive_field}"
            if info.receptive_field is not None and info.out_shape is not None and len(info.out_shape) == 1:
                rf = "whole image"
            values = [str(row + 1), info.name, info.label, _shape_text(info.out_shape),
                      f"{info.params:,}", rf, f"⚠ {info.error}" if info.error else ""]
            for column, text in enumerate(values):
                item = QTableWidgetItem(text)
                if column in (0, 4):
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if info.error:
                    item.setBackground(QBrush(ERROR_BACKGROUND))
                    item.setForeground(QBrush(ERROR_FOREGROUND))
                    item.setToolTip(info.error)
                elif column == 2:
                    item.setToolTip(f"{text}\n{LAYER_TYPES[self.spec.layers[row].kind].help}")
                self.table.setItem(row, column, item)
        fit_table_to_font(self.table)
        # The Problem column is a short marker (the reason is in the row's tooltip and the summary line).
        problem = COLUMNS.index("Problem")
        self.table.setColumnHidden(problem, not any(info.error for info in self.infos))
        self.table.fit_free_columns()
        self.table.blockSignals(False)
        errors = [info for info in self.infos if info.error]
        total = total_params(self.infos)
        if errors:  # nothing after an impossible layer has a shape, so its parameters are unknown
            text = (f"<b>Parameters: at least {total:,}</b> (counted up to the impossible layer) · "
                    f"{len(self.spec.layers)} layers")
        else:
            text = f"<b>Total parameters: {total:,}</b> · {len(self.spec.layers)} layers"
        if not self.spec.layers:
            text += " · <span style='color:#8a1c0c'>The network has no layers: add some or pick a preset.</span>"
        elif errors:
            bad = errors[0]
            text += (f" · <span style='color:#8a1c0c'><b>Layer {bad.index + 1} ({bad.name}) is impossible:</b> "
                     f"{bad.error}</span>")
        else:
            text += " · <span style='color:#1b6e3a'>Shapes fit: ready to train.</span>"
        self.total_label.setText(text)
        self._sync_preset_combo()
        c = " x ".join(str(v) for v in self.spec.input_shape)
        self.input_label.setText(f"Input {c} · {self.spec.num_classes} classes · dataset: {self.ctx.dataset}")
        if select is not None and self.spec.layers:
            select = max(0, min(select, len(self.spec.layers) - 1))
            self.table.selectRow(select)
        self._on_selection_changed()

    def _on_section_resized(self, column: int, _old: int, _new: int) -> None:
        if COLUMNS[column] not in ("Layer", "Problem"):  # a key column measured its contents again
            self.table.fit_free_columns()

    def _sync_preset_combo(self) -> None:
        """The combo names the preset while the network is that preset (adapted to the dataset);
        after an edit it says the network is custom."""
        name = self._preset_name
        if name:
            if name not in self._preset_cache:
                try:
                    self._preset_cache[name] = load_preset(name)
                except ConvScopeError:
                    self._preset_cache[name] = None
            preset = self._preset_cache[name]
            shape = getattr(self, "_dataset_shape", None)
            if preset is None:
                name = ""
            else:
                adapted = preset.adapted_to(shape[0], shape[1]) if shape else preset
                if self.spec.layers != adapted.layers and self.spec.layers != preset.layers:
                    name = ""
        index = self.preset_combo.findData(name) if name else -1
        self.preset_combo.setItemText(0, "(choose a preset)" if self.spec.layers == [] else "(custom network)")
        self.preset_combo.setCurrentIndex(max(0, index))

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
        self._preset_name = name
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
        self.ctx.status(f"Network adapted to {name}: input {_shape_text(input_shape)}, {num_classes} classes")

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
