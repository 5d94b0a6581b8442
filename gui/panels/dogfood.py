"""Dog vs Food panel: turn the 1000-class ImageNet classifier into a 2-class one.

Left: the class groups (which ImageNet classes make "dog" and "food"; editable,
saved as JSON), the test and training folders, and the two ways to get a
2-class model: the zero-shot remap (sum the group probabilities) and a new
fine-tuned final layer (backbone frozen, features cached). One photo can be
run through the remap to see which breed or dish won inside each group.
Right: overall and per-group accuracy, the confusion matrix, live curves of
the fine-tuning, and every test image sorted by the first group's score, with
mistakes framed in red; clicking one opens it in the saliency tool.

All arithmetic happens in engine.transfer jobs; this panel only shows events.
"""
from __future__ import annotations

import math
import tempfile
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QProgressBar, QPushButton, QScrollArea, QSpinBox, QSplitter, QTabWidget,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from engine.errors import ConvScopeError
from engine.events import Progress
from engine.pretrained import class_names
from engine.transfer import (ClassGroup, ClassGroups, DogFoodReport, FineTuneResult, SingleImageRemap,
                             TransferBatchEnd, TransferEpochEnd, bundled_photo_job, finetune_job, group_files,
                             load_groups, mark_tiles, single_image_job, zero_shot_job)
from gui.panels.base import Panel
from gui.theme import point_size
from gui.widgets.class_picker import ClassPicker
from gui.widgets.image_view import ImageGrid, ImageView
from gui.widgets.live_plot import LivePlot

OPEN_IMAGE = "Open image…"
MAX_SKIPPED_IN_TOOLTIP = 25


def _percent(value: float | None) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}%"


class DogFoodPanel(Panel):
    title = "Dog vs Food"
    description = "Turn the 1000-class classifier into a 2-class one."

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.groups: ClassGroups = load_groups()
        self.groups_source = "dog_vs_food"
        self.report: DogFoodReport | None = None
        self.finetune_result: FineTuneResult | None = None
        self.single_result: SingleImageRemap | None = None
        self.single_image: np.ndarray | None = None
        self.single_caption = ""
        self._class_names: list[str] | None = None
        self._gallery_order = np.zeros(0, dtype=np.int64)
        self._job_kind = ""
        self._job_active = False
        self.model_name = "efficientnet_lite0"
        self.classifier = None  # None: the jobs load `model_name` (tests may set a small stand-in)
        self.jobs_ended = 0  # counts finished jobs (success, failure or stop), so callers can wait on results
        self._demo_dir: tempfile.TemporaryDirectory | None = None
        self._build()
        self._load_class_names()
        self.jobs.event.connect(self._on_event)
        self.jobs.succeeded.connect(self._on_succeeded)
        self.jobs.running_changed.connect(self._on_running_changed)
        self.jobs.stopped.connect(self._on_stopped)
        self._refresh_groups()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        outer = QHBoxLayout(self)
        splitter = QSplitter(Qt.Horizontal)
        outer.addWidget(splitter)

        controls = QWidget()
        left = QVBoxLayout(controls)
        left.addWidget(self._build_groups_box())
        left.addWidget(self._build_folders_box())
        left.addWidget(self._build_run_box())
        left.addStretch(1)
        self.controls_layout = left
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(controls)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
        self.controls, self.controls_scroll = controls, scroll
        splitter.addWidget(scroll)

        right = QSplitter(Qt.Vertical)
        top = QWidget()
        top_layout = QHBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        self.results_box = self._build_results_box()
        top_layout.addWidget(self.results_box, 1)
        top_layout.addWidget(self._build_photo_box())
        self.top_layout = top_layout
        self.photo_in_controls = False  # narrow windows (1280 px at 200 %) move "One photo" under the controls
        right.addWidget(top)
        self.loss_plot = LivePlot("Fine-tuning loss", "epoch", "cross-entropy loss", whole_number_x=True)
        self.loss_plot.plot.getAxis("left").enableAutoSIPrefix(False)
        self.loss_plot.add_series("batch loss", 8, alpha=0.5, width=1.0)
        self.loss_plot.add_series("train loss", 0, symbol="o")
        self.loss_plot.add_series("held-out loss", 1, symbol="s")
        self.acc_plot = LivePlot("Fine-tuning accuracy", "epoch", "accuracy", whole_number_x=True)
        self.acc_plot.add_series("train accuracy", 0, symbol="o")
        self.acc_plot.add_series("held-out accuracy", 1, symbol="s")
        self.acc_plot.plot.setYRange(0, 1.05)
        curves = QWidget()
        curves_layout = QHBoxLayout(curves)
        curves_layout.setContentsMargins(0, 0, 0, 0)
        curves_layout.addWidget(self.loss_plot)
        curves_layout.addWidget(self.acc_plot)
        self.gallery = ImageGrid("Test images appear here, sorted by dog score.")
        self.gallery.tile_clicked.connect(self._on_tile_clicked)
        self.gallery.tile_hovered.connect(self._on_tile_hovered)
        # Tabs give the gallery and the two curves the full width, even at 200% text size.
        self.bottom_tabs = QTabWidget()
        self.bottom_tabs.addTab(self.gallery, "Test images")
        self.bottom_tabs.addTab(curves, "Fine-tuning curves")
        right.addWidget(self.bottom_tabs)
        self.right_splitter = right
        em = self.fontMetrics().horizontalAdvance("M")
        right.setSizes([max(380, 24 * em), 520])  # the results need more height at large text sizes
        splitter.addWidget(right)
        splitter.setSizes([460, 940])
        splitter.setStretchFactor(1, 1)
        self._fit_to_text_size()

    def _fit_to_text_size(self) -> None:
        """Minimum widths follow the text size (100% to 200%), so no control is clipped."""
        em = self.fontMetrics().horizontalAdvance("M")
        scrollbar = self.controls_scroll.verticalScrollBar().sizeHint().width()
        self.controls_scroll.setMinimumWidth(self.controls.minimumSizeHint().width() + scrollbar + 4)
        if hasattr(self, "photo_in_controls"):
            self._reflow()
        self.results_box.setMinimumWidth(16 * em)
        self.photo_box.setMinimumWidth(max(15 * em, self.photo_box.minimumSizeHint().width()))
        self.photo_box.setMaximumWidth(24 * em)
        self.photo_view.setFixedHeight(11 * em)
        if self.report is not None:
            self._fit_confusion_table()

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.FontChange and hasattr(self, "controls_scroll"):
            self._fit_to_text_size()  # the text size changed while the app runs

    def _build_groups_box(self) -> QGroupBox:
        box = QGroupBox("Class groups")
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        self.groups_combo = QComboBox()
        self.groups_combo.setToolTip("Class-group files in resources/class_groups")
        for stem in group_files():
            self.groups_combo.addItem(stem)
        self.groups_combo.setCurrentText("dog_vs_food")
        self.groups_combo.activated.connect(self._on_groups_file_chosen)
        row.addWidget(self.groups_combo, 1)
        open_button = QPushButton("Open…")
        open_button.clicked.connect(self._on_open_groups)
        save_button = QPushButton("Save as…")
        save_button.clicked.connect(self._on_save_groups)
        row.addWidget(open_button)
        row.addWidget(save_button)
        layout.addLayout(row)

        self.group_list = QListWidget()
        self.group_list.setMaximumHeight(64)
        self.group_list.setToolTip("Double-click a group to rename it.")
        self.group_list.currentRowChanged.connect(self._on_group_selected)
        self.group_list.itemChanged.connect(self._on_group_renamed)
        layout.addWidget(self.group_list)
        row = QHBoxLayout()
        add_group = QPushButton("Add group")
        add_group.clicked.connect(self._on_add_group_clicked)
        remove_group = QPushButton("Remove group")
        remove_group.clicked.connect(self._on_remove_group_clicked)
        row.addWidget(add_group)
        row.addWidget(remove_group)
        layout.addLayout(row)

        self.class_list = QListWidget()
        self.class_list.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.class_list.setMinimumHeight(90)
        self.class_list.setMaximumHeight(130)
        layout.addWidget(self.class_list)
        row = QHBoxLayout()
        self.class_picker = ClassPicker()
        self.class_picker.setToolTip("Type part of a class name (e.g. 'beagle') or an index, then press Add")
        self.class_picker.setMinimumContentsLength(14)
        row.addWidget(self.class_picker, 1)
        self.add_class_button = QPushButton("Add")
        self.add_class_button.setToolTip("Add the chosen ImageNet class to the selected group")
        self.add_class_button.clicked.connect(self._on_add_class_clicked)
        row.addWidget(self.add_class_button)
        remove_class = QPushButton("Remove")
        remove_class.setToolTip("Remove the selected classes from the group")
        remove_class.clicked.connect(self._on_remove_classes_clicked)
        row.addWidget(remove_class)
        layout.addLayout(row)
        return box

    def _folder_row(self, placeholder: str) -> tuple[QHBoxLayout, QLineEdit]:
        row = QHBoxLayout()
        edit = QLineEdit()
        edit.setPlaceholderText(placeholder)
        button = QPushButton("Browse…")
        button.clicked.connect(partial(self._browse_folder, edit))
        row.addWidget(edit, 1)
        row.addWidget(button)
        return row, edit

    def _build_folders_box(self) -> QGroupBox:
        box = QGroupBox("Folders")
        layout = QFormLayout(box)
        box.setToolTip("Each folder holds one sub-folder per group: dog/ and food/, or test-dog/ and test-food/ "
                       "(any case, plural allowed).")
        row, self.test_dir_edit = self._folder_row("folder with dog/ and food/ sub-folders")
        layout.addRow("Test:", row)
        row, self.train_dir_edit = self._folder_row("for fine-tuning only")
        layout.addRow("Train:", row)
        return box

    def _build_run_box(self) -> QGroupBox:
        box = QGroupBox("Make a 2-class model")
        layout = QVBoxLayout(box)
        self.zero_shot_button = QPushButton("Evaluate zero-shot remap")
        self.zero_shot_button.setToolTip("Sum the softmax probabilities of each group's classes, renormalise, "
                                         "predict the largest. No training.")
        self.zero_shot_button.clicked.connect(self.start_zero_shot)
        layout.addWidget(self.zero_shot_button)
        form = QFormLayout()
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 500)
        self.epochs_spin.setValue(30)
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(4)
        self.lr_spin.setRange(0.0001, 1.0)
        self.lr_spin.setSingleStep(0.001)
        self.lr_spin.setValue(0.003)
        self.unfreeze_check = QCheckBox("also train the last block (slower)")
        form.addRow("Epochs:", self.epochs_spin)
        form.addRow("Learning rate:", self.lr_spin)
        form.addRow(self.unfreeze_check)
        layout.addLayout(form)
        buttons = QHBoxLayout()
        self.finetune_button = QPushButton("Fine-tune new head")
        self.finetune_button.setToolTip("Replace the 1000-way final layer by a new N-way one and train it on the "
                                        "training folder; the backbone stays frozen and its features are cached.")
        self.finetune_button.clicked.connect(self.start_finetune)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self._on_stop_clicked)
        buttons.addWidget(self.finetune_button, 1)
        buttons.addWidget(self.stop_button)
        layout.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        layout.addWidget(self.progress)
        self.status_label = QLabel("Choose a test folder, then evaluate.")
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)
        self.skipped_label = QLabel("")
        self.skipped_label.setWordWrap(True)
        layout.addWidget(self.skipped_label)
        return box

    def _build_photo_box(self) -> QGroupBox:
        box = QGroupBox("One photo")
        self.photo_box = box
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        self.photo_combo = QComboBox()
        from engine.images import bundled_photos

        self.photo_combo.addItems(list(bundled_photos()) + [OPEN_IMAGE])
        self.photo_combo.setCurrentText("coffee")
        self.photo_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.photo_combo.setMinimumContentsLength(7)  # photo names stay readable
        row.addWidget(self.photo_combo, 1)
        self.classify_button = QPushButton("Classify")
        self.classify_button.clicked.connect(self._on_classify_photo_clicked)
        row.addWidget(self.classify_button)
        layout.addLayout(row)
        self.photo_view = ImageView("")
        layout.addWidget(self.photo_view)
        self.photo_label = QLabel("One photo through the remap: which group wins, and which ImageNet class won "
                                  "inside each group.")
        self.photo_label.setWordWrap(True)
        self.photo_label.setTextFormat(Qt.RichText)
        self.photo_label.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        layout.addWidget(self._scrolling(self.photo_label), 1)
        return box

    @staticmethod
    def _scrolling(content: QWidget) -> QScrollArea:
        """Wrapped text scrolls when space is short instead of being squeezed on top of itself."""
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)  # text wraps to the width instead
        scroll.setWidget(content)
        return scroll

    def _build_results_box(self) -> QGroupBox:
        box = QGroupBox("Results on the test folder")
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        QVBoxLayout(box).addWidget(self._scrolling(content))
        self.accuracy_label = QLabel("No evaluation yet.")
        font = QFont(self.accuracy_label.font())
        font.setPointSizeF(point_size(1.35))
        font.setBold(True)
        self.accuracy_label.setFont(font)
        self.accuracy_label.setWordWrap(True)
        layout.addWidget(self.accuracy_label)
        self.per_group_label = QLabel("")
        self.per_group_label.setTextFormat(Qt.RichText)
        self.per_group_label.setWordWrap(True)
        layout.addWidget(self.per_group_label)
        confusion_title = QLabel("Confusion matrix (rows: true group, columns: predicted)")
        confusion_title.setWordWrap(True)
        layout.addWidget(confusion_title)
        self.confusion_table = QTableWidget(0, 0)
        self.confusion_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.confusion_table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.confusion_table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.confusion_table.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.confusion_table.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
        layout.addWidget(self.confusion_table)
        layout.addStretch(1)
        return box

    def _fit_confusion_table(self) -> None:
        """Size the table to its headers and cells: every header fits, every row shows."""
        table = self.confusion_table
        table.resizeRowsToContents()
        header = table.horizontalHeader()
        metrics = header.fontMetrics()
        widest = max((metrics.horizontalAdvance(line) for c in range(table.columnCount())
                      for line in table.horizontalHeaderItem(c).text().split("\n")), default=0)
        column = widest + metrics.horizontalAdvance("M")
        header.setMinimumSectionSize(column)
        frame = 2 * table.frameWidth()
        needed = table.verticalHeader().sizeHint().width() + column * table.columnCount() + frame
        # A narrow table scrolls sideways on its own, so the text above still wraps to the box width.
        scrollbar = table.horizontalScrollBar().sizeHint().height() if needed > table.width() else 0
        rows = sum(table.rowHeight(r) for r in range(table.rowCount()))
        table.setFixedHeight(header.sizeHint().height() + rows + frame + scrollbar)

    def _available_width(self) -> int:
        """The width the window gives the panel (the panel itself never gets narrower than its minimum)."""
        parent = self.parentWidget()
        while parent is not None and not isinstance(parent, QScrollArea):
            parent = parent.parentWidget()
        return parent.viewport().width() if parent is not None else self.width()

    def _reflow(self) -> None:
        """Three columns where they fit; otherwise "One photo" goes under the controls (which scroll
        vertically), so nothing needs a sideways scroll bar."""
        needed = (self.controls_scroll.minimumWidth() + self.results_box.minimumWidth()
                  + self.photo_box.minimumWidth() + 48)
        narrow = self._available_width() < needed
        if narrow == self.photo_in_controls:
            return
        self.photo_in_controls = narrow
        if narrow:
            self.top_layout.removeWidget(self.photo_box)
            self.controls_layout.insertWidget(self.controls_layout.count() - 1, self.photo_box)
        else:
            self.controls_layout.removeWidget(self.photo_box)
            self.top_layout.addWidget(self.photo_box)
        self.photo_box.show()
        self._fit_to_text_size()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        parent = self.parentWidget()
        while parent is not None and not isinstance(parent, QScrollArea):
            parent = parent.parentWidget()
        if parent is not None and not self.property("watching_viewport"):
            self.setProperty("watching_viewport", True)
            parent.viewport().installEventFilter(self)
        self._reflow()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Resize:  # the PanelScroll viewport: the width the window gives
            self._reflow()
        return super().eventFilter(watched, event)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._reflow()
        if self.report is not None:
            self._fit_confusion_table()  # room for a sideways scroll bar only when the table is too narrow

    # ------------------------------------------------------------------ class groups
    def _load_class_names(self) -> None:
        try:
            self._class_names = list(class_names())
        except ConvScopeError as exc:
            self._class_names = []
            self.status_label.setText(str(exc))

    def _class_label(self, index: int) -> str:
        if self._class_names and 0 <= index < len(self._class_names):
            return f"{index}  {self._class_names[index]}"
        return str(index)

    def _refresh_groups(self, select: int = 0) -> None:
        self.group_list.blockSignals(True)
        self.group_list.clear()
        for group in self.groups.groups:
            item = QListWidgetItem(group.name)
            item.setFlags(item.flags() | Qt.ItemIsEditable)
            item.setToolTip(f"{len(group.classes)} ImageNet classes")
            self.group_list.addItem(item)
        self.group_list.blockSignals(False)
        self.group_list.setCurrentRow(min(max(select, 0), len(self.groups.groups) - 1))
        self._refresh_classes()
        self.gallery.set_caption(self._gallery_caption())

    def _current_group(self) -> ClassGroup | None:
        row = self.group_list.currentRow()
        return self.groups.groups[row] if 0 <= row < len(self.groups.groups) else None

    def _refresh_classes(self) -> None:
        self.class_list.clear()
        group = self._current_group()
        if group is None:
            return
        for index in group.classes:
            item = QListWidgetItem(self._class_label(index))
            item.setData(Qt.UserRole, index)
            self.class_list.addItem(item)

    def _on_group_selected(self, _row: int) -> None:
        self._refresh_classes()

    def _on_group_renamed(self, item: QListWidgetItem) -> None:
        row = self.group_list.row(item)
        name = item.text().strip()
        if not name:
            item.setText(self.groups.groups[row].name)
            return
        self.groups.groups[row].name = name
        self.gallery.set_caption(self._gallery_caption())

    def _on_groups_file_chosen(self, _index: int) -> None:
        self.load_groups_from(self.groups_combo.currentText())

    def load_groups_from(self, name_or_path: str) -> bool:
        try:
            groups = load_groups(name_or_path)
        except ConvScopeError as exc:
            self.ctx.show_error(exc.title, str(exc))
            return False
        self.groups, self.groups_source = groups, str(name_or_path)
        self._refresh_groups()
        self.ctx.status(f"Class groups: {groups.title}")
        return True

    def _on_open_groups(self) -> None:
        from engine.transfer import GROUPS_DIR

        path, _ = QFileDialog.getOpenFileName(self, "Open class groups", str(GROUPS_DIR), "Class groups (*.json)")
        if path:
            self.load_groups_from(path)

    def _on_save_groups(self) -> None:
        from engine.transfer import GROUPS_DIR

        path, _ = QFileDialog.getSaveFileName(self, "Save class groups", str(GROUPS_DIR / "my_groups.json"),
                                              "Class groups (*.json)")
        if path:
            self.save_groups_to(path)

    def save_groups_to(self, path: str | Path) -> bool:
        path = Path(path)
        if path.suffix.lower() != ".json":
            path = path.with_suffix(".json")
        try:
            self.groups.title = self.groups.title or path.stem
            self.groups.save(path)
        except ConvScopeError as exc:
            self.ctx.show_error(exc.title, str(exc))
            return False
        except OSError as exc:
            self.ctx.show_error("Could not save", f"{path} could not be written ({exc}).")
            return False
        self.groups_source = str(path)
        from engine.transfer import GROUPS_DIR

        if self.groups_combo.findText(path.stem) < 0 and path.parent.resolve() == GROUPS_DIR.resolve():
            self.groups_combo.addItem(path.stem)  # saved next to the shipped files: offer it in the list
        self.ctx.status(f"Saved class groups to {path}")
        return True

    def _on_add_group_clicked(self) -> None:
        self.add_group(f"group {len(self.groups.groups) + 1}")
        self.group_list.editItem(self.group_list.item(self.group_list.count() - 1))

    def add_group(self, name: str) -> None:
        self.groups.groups.append(ClassGroup(name, []))
        self._refresh_groups(select=len(self.groups.groups) - 1)

    def _on_remove_group_clicked(self) -> None:
        row = self.group_list.currentRow()
        if row < 0:
            return
        if len(self.groups.groups) <= 2:
            self.ctx.show_error("Class groups", "At least two groups are needed; edit this one instead.")
            return
        del self.groups.groups[row]
        self._refresh_groups(select=row - 1)

    def _on_add_class_clicked(self) -> None:
        index = self.class_picker.class_index()
        if index >= 0:
            self.add_class(index)

    def add_class(self, index: int) -> bool:
        """Add an ImageNet class to the selected group (refused if another group has it)."""
        group = self._current_group()
        if group is None:
            return False
        for other in self.groups.groups:
            if index in other.classes:
                if other is not group:
                    self.ctx.show_error("Class groups", f"{self._class_label(index)} is already in '{other.name}'. "
                                                        "A class can belong to one group only.")
                return False
        group.classes = sorted(group.classes + [int(index)])
        self._refresh_classes()
        self.ctx.status(f"Added {self._class_label(index)} to '{group.name}' ({len(group.classes)} classes)")
        return True

    def _on_remove_classes_clicked(self) -> None:
        group = self._current_group()
        if group is None:
            return
        chosen = {item.data(Qt.UserRole) for item in self.class_list.selectedItems()}
        group.classes = [c for c in group.classes if c not in chosen]
        self._refresh_classes()

    # ------------------------------------------------------------------ jobs
    def _browse_folder(self, edit: QLineEdit) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder", edit.text() or str(Path.home()))
        if folder:
            edit.setText(folder)

    def _checked_groups(self) -> ClassGroups | None:
        try:
            return self.groups.copy().validate()
        except ConvScopeError as exc:
            self.ctx.show_error(exc.title, str(exc))
            return None

    def _busy(self) -> bool:
        """One job at a time in this panel: starting another would silently abandon the running one
        (a fine-tune lost to a click on Classify)."""
        if not self._job_active:
            return False
        self.status_label.setText(f"A {self._job_kind or 'job'} is running: wait for it or press Stop first.")
        return True

    def start_zero_shot(self) -> bool:
        if self._busy():
            return False
        test_dir = self.test_dir_edit.text().strip()
        if not test_dir:
            self.ctx.show_error("No test folder", "Choose a test folder with one sub-folder per group "
                                                  "(e.g. dog/ and food/).")
            return False
        groups = self._checked_groups()
        if groups is None:
            return False
        self._job_kind = "zero-shot"
        self.status_label.setText("Zero-shot remap: loading the model…")
        self.jobs.start(partial(zero_shot_job, test_dir, groups, self.classifier, self.model_name))
        return True

    def start_finetune(self) -> bool:
        if self._busy():
            return False
        train_dir = self.train_dir_edit.text().strip()
        if not train_dir:
            self.ctx.show_error("No training folder", "Choose a training folder with one sub-folder per group "
                                                      "(e.g. dog/ and food/) to fine-tune a new head.")
            return False
        groups = self._checked_groups()
        if groups is None:
            return False
        test_dir = self.test_dir_edit.text().strip() or None
        self._job_kind = "fine-tune"
        for plot in (self.loss_plot, self.acc_plot):
            plot.clear()
        self.bottom_tabs.setCurrentIndex(1)  # watch the curves while it learns
        self.status_label.setText("Fine-tuning: loading the model…")
        self.jobs.start(partial(finetune_job, train_dir, groups, test_dir, self.classifier, self.model_name,
                                epochs=self.epochs_spin.value(),
                                lr=self.lr_spin.value(), unfreeze_last_block=self.unfreeze_check.isChecked()))
        return True

    def classify_photo(self, image: np.ndarray, caption: str) -> bool:
        if self._busy():
            return False
        groups = self._checked_groups()
        if groups is None:
            return False
        self.single_image, self.single_caption = image, caption
        self.photo_view.set_image(image)
        self.photo_label.setText(f"Classifying {caption}…")
        self._job_kind = "photo"
        self.jobs.start(partial(single_image_job, image, groups, self.classifier, self.model_name))
        return True

    def classify_bundled_photo(self, name: str) -> bool:
        """Load a photo that ships offline and classify it, both in a job (the GUI never waits)."""
        if self._busy():
            return False
        groups = self._checked_groups()
        if groups is None:
            return False
        self.single_image, self.single_caption = None, name
        self.photo_label.setText(f"Loading and classifying {name}…")
        self._job_kind = "photo"
        self.jobs.start(partial(bundled_photo_job, name, groups, self.classifier, self.model_name))
        return True

    def _on_classify_photo_clicked(self) -> None:
        name = self.photo_combo.currentText()
        if name != OPEN_IMAGE:
            self.classify_bundled_photo(name)
            return
        from engine.images import load_image

        from gui.widgets.image_source import IMAGE_FILTER

        path, _ = QFileDialog.getOpenFileName(self, "Open an image", str(Path.home()), IMAGE_FILTER)
        if not path:
            return
        try:
            image = load_image(path)
        except ConvScopeError as exc:
            self.ctx.show_error(exc.title, str(exc))
            return
        self.classify_photo(image, Path(path).name)

    def _on_stop_clicked(self) -> None:
        self.jobs.stop()  # -> _on_stopped

    def _on_stopped(self) -> None:
        self.status_label.setText("Stopped.")
        self.jobs_ended += 1

    def _on_job_failed(self, title: str, message: str) -> None:
        super()._on_job_failed(title, message)
        self.status_label.setText(f"{title}: {message}")
        self.progress.setValue(0)
        self.jobs_ended += 1

    def run_and_wait(self, start, timeout_s: float) -> bool:
        """Start a job with `start()` and process events until its result was shown (screenshots, tests)."""
        from gui.screenshots import wait_for

        before = self.jobs_ended
        return bool(start()) and wait_for(lambda: self.jobs_ended > before, timeout_s)

    def _on_running_changed(self, running: bool) -> None:
        # Busy from the start until the GUI has taken the job's end (not the thread's: a quick job's
        # thread can finish before its result reaches this panel).
        self._job_active = running
        self.stop_button.setEnabled(running)
        for button in (self.zero_shot_button, self.finetune_button, self.classify_button):
            button.setEnabled(not running)
        if not running and self.progress.value() < self.progress.maximum() and self._job_kind:
            self.progress.setValue(0)

    def _on_event(self, event) -> None:
        if isinstance(event, Progress):
            self.progress.setValue(int(event.fraction * self.progress.maximum()))
            if event.message:
                self.status_label.setText(event.message)
        elif isinstance(event, TransferBatchEnd):
            self.loss_plot.append("batch loss", event.step / event.steps_per_epoch, event.loss)
        elif isinstance(event, TransferEpochEnd):
            self.loss_plot.append("train loss", event.epoch, event.train_loss)
            self.acc_plot.append("train accuracy", event.epoch, event.train_acc)
            if not math.isnan(event.val_loss):
                self.loss_plot.append("held-out loss", event.epoch, event.val_loss)
                self.acc_plot.append("held-out accuracy", event.epoch, event.val_acc)
            self.progress.setValue(int(event.epoch / event.epochs * self.progress.maximum()))
            held_out = "" if math.isnan(event.val_acc) else f", held-out accuracy {_percent(event.val_acc)}"
            self.status_label.setText(f"Fine-tuning epoch {event.epoch}/{event.epochs}: train loss "
                                      f"{event.train_loss:.3f}, accuracy {_percent(event.train_acc)}{held_out}")

    def _on_succeeded(self, result) -> None:
        self.jobs_ended += 1
        self.progress.setValue(self.progress.maximum())
        if isinstance(result, DogFoodReport):
            self.show_report(result)
        elif isinstance(result, FineTuneResult):
            self.finetune_result = result
            head = result.head
            counts = ", ".join(f"{n} {name}" for name, n in result.train_counts.items())
            self.status_label.setText(
                f"New {len(head.group_names)}-way head trained on {counts} in {head.train_seconds:.1f} s "
                f"({len(head.history['train_loss'])} epochs"
                f"{', last block unfrozen' if head.tail is not None else ''}).")
            if result.report is not None:
                self.show_report(result.report, result.train_skipped)
            else:
                self._show_skipped([], result.train_skipped)
        elif isinstance(result, SingleImageRemap):
            self.show_single(result)

    # ------------------------------------------------------------------ results
    def _gallery_caption(self) -> str:
        first = self.groups.names[0] if self.groups.groups else "first group"
        if self.report is None:
            return f"Test images appear here, sorted by {first} score."
        first = self.report.group_names[0]
        return (f"{self.report.mode} — test images sorted by {first} score (highest first). Green frame: right, "
                f"red frame with a cross: mistake. Click one to see it in Saliency.")

    def show_report(self, report: DogFoodReport, train_skipped=()) -> None:
        self.report = report
        ev = report.evaluation
        self.accuracy_label.setText(f"{report.mode}: {_percent(ev.accuracy)} correct of {ev.n} test images")
        rows = "".join(
            f"<tr><td><b>{name}</b>&nbsp;&nbsp;</td><td align='right'>{_percent(acc)}</td>"
            f"<td>&nbsp;of&nbsp;{count}</td></tr>"
            for name, acc, count in zip(ev.group_names, ev.per_group_accuracy, ev.per_group_count))
        extra = ""
        if report.group_mass is not None and len(report.group_mass):
            extra = (f"<p>Mean probability inside the groups: {_percent(float(np.mean(report.group_mass)))} "
                     f"(the rest went to other ImageNet classes).</p>")
        self.per_group_label.setText(f"<table>{rows}</table>{extra}")
        self._show_confusion(ev.confusion, ev.group_names)
        self._gallery_order = report.order_by_score(0)
        self.bottom_tabs.setCurrentIndex(0)
        if len(self._gallery_order):
            tiles = mark_tiles(report.thumbnails[self._gallery_order], report.correct[self._gallery_order])
            columns = max(4, int(math.ceil(math.sqrt(len(tiles) * 2.2))))
            self.gallery.set_tiles(tiles, columns=columns, pad=3)
        else:
            self.gallery.clear()
        self.gallery.set_caption(self._gallery_caption())
        self._show_skipped(report.skipped, train_skipped)
        if self._job_kind == "zero-shot":
            self.status_label.setText(f"Zero-shot remap evaluated on {ev.n} images.")

    def _show_confusion(self, confusion: np.ndarray, names: list[str]) -> None:
        size = len(names)
        table = self.confusion_table
        table.setRowCount(size)
        table.setColumnCount(size)
        table.setVerticalHeaderLabels([f"true {n}" for n in names])
        table.setHorizontalHeaderLabels([f"predicted\n{n}" for n in names])
        largest = max(1, int(confusion.max())) if confusion.size else 1
        for r in range(size):
            for c in range(size):
                count = int(confusion[r, c])
                item = QTableWidgetItem(str(count))
                item.setTextAlignment(Qt.AlignCenter)
                strength = count / largest
                if count and r == c:
                    item.setBackground(QBrush(QColor.fromRgbF(0.0, 0.62, 0.45, 0.15 + 0.55 * strength)))
                elif count:
                    item.setBackground(QBrush(QColor.fromRgbF(0.84, 0.16, 0.0, 0.15 + 0.55 * strength)))
                font = item.font()
                font.setBold(True)
                font.setPointSizeF(point_size(1.3))
                item.setFont(font)
                table.setItem(r, c, item)
        self._fit_confusion_table()

    def _show_skipped(self, skipped, train_skipped=()) -> None:
        parts = []
        for label, items in (("test", skipped), ("training", train_skipped)):
            if not items:
                continue
            counts: dict[str, int] = {}
            for item in items:
                counts[item.reason] = counts.get(item.reason, 0) + 1
            reasons = ", ".join(f"{n} {reason}" for reason, n in counts.items())
            parts.append(f"Skipped {len(items)} {label} file{'s' if len(items) != 1 else ''}: {reasons}.")
        self.skipped_label.setText(" ".join(parts) if parts else "No files skipped.")
        listing = [f"{Path(item.path).name}: {item.detail or item.reason}"
                   for item in list(skipped) + list(train_skipped)]
        more = len(listing) - MAX_SKIPPED_IN_TOOLTIP
        self.skipped_label.setToolTip("\n".join(listing[:MAX_SKIPPED_IN_TOOLTIP]) + (f"\n… and {more} more" if more > 0
                                                                                       else ""))

    def show_single(self, result: SingleImageRemap) -> None:
        self.single_result = result
        if result.image is not None:
            self.single_image = result.image
            self.photo_view.set_image(result.image)
        winner = result.group_names[result.prediction]
        scores = " · ".join(f"{name} {_percent(float(p))}" for name, p in zip(result.group_names, result.scores))
        inside = (f"{_percent(result.inside)} of the 1000-class probability falls inside the groups"
                  + (" — the photo may be neither." if result.inside < 0.3 else "."))
        winners = "<br>".join(f"{name}: <i>{w.name}</i> {_percent(w.prob)}"
                              for name, w in zip(result.group_names, result.winners))
        top = ", ".join(f"{w.name} {_percent(w.prob)}" for w in result.top_classes[:3])
        self.photo_label.setText(f"<b>{self.single_caption}: {winner}</b><br>{scores}<br>{inside}<br>"
                                 f"Best class per group:<br>{winners}<br>1000-class top 3: {top}")

    def _tile_index(self, tile: int) -> int | None:
        if self.report is None or not 0 <= tile < len(self._gallery_order):
            return None
        return int(self._gallery_order[tile])

    def _describe(self, index: int) -> str:
        report = self.report
        scores = ", ".join(f"{name} {_percent(float(p))}" for name, p in zip(report.group_names, report.scores[index]))
        truth = report.group_names[int(report.labels[index])]
        verdict = "right" if report.correct[index] else "MISTAKE"
        return f"{Path(report.paths[index]).name} (true {truth}): {scores} — {verdict}"

    def _on_tile_hovered(self, tile: int) -> None:
        index = self._tile_index(tile)
        self.gallery.set_caption(self._gallery_caption() if index is None else self._describe(index))

    def _on_tile_clicked(self, tile: int) -> None:
        index = self._tile_index(tile)
        if index is None:
            return
        from engine.images import load_image

        try:
            image = load_image(self.report.paths[index])
        except ConvScopeError as exc:
            self.ctx.show_error(exc.title, str(exc))
            return
        self.ctx.send_image(image, self._describe(index), "Saliency")  # the user clicked: open it there

    # ------------------------------------------------------------------ workspaces, lessons, screenshots
    def save_state(self) -> dict:
        return {"groups": self.groups.to_dict(), "groups_source": self.groups_source,
                "test_dir": self.test_dir_edit.text(), "train_dir": self.train_dir_edit.text(),
                "epochs": self.epochs_spin.value(), "lr": self.lr_spin.value(),
                "unfreeze_last_block": self.unfreeze_check.isChecked(), "photo": self.photo_combo.currentText()}

    def restore_state(self, state: dict) -> None:
        if not state:
            return
        if isinstance(state.get("groups"), dict):
            try:
                self.groups = ClassGroups.from_dict(state["groups"], "the saved workspace")
                self.groups_source = str(state.get("groups_source", ""))
            except ConvScopeError as exc:
                self.ctx.show_error(exc.title, str(exc))
            stem = Path(self.groups_source).stem
            if self.groups_combo.findText(stem) >= 0:
                self.groups_combo.setCurrentText(stem)
            self._refresh_groups()
        self.test_dir_edit.setText(str(state.get("test_dir", "")))
        self.train_dir_edit.setText(str(state.get("train_dir", "")))
        self.epochs_spin.setValue(int(state.get("epochs", self.epochs_spin.value())))
        self.lr_spin.setValue(float(state.get("lr", self.lr_spin.value())))
        self.unfreeze_check.setChecked(bool(state.get("unfreeze_last_block", False)))
        if self.photo_combo.findText(str(state.get("photo", ""))) >= 0:
            self.photo_combo.setCurrentText(str(state["photo"]))

    def apply_lesson(self, setup: dict) -> None:
        """Keys: groups (file name), test_dir, train_dir, photo (bundled photo name),
        mode ('collapse' = zero-shot remap, 'finetune')."""
        if "groups" in setup:
            if self.groups_combo.findText(str(setup["groups"])) >= 0:
                self.groups_combo.setCurrentText(str(setup["groups"]))
            self.load_groups_from(str(setup["groups"]))
        if "test_dir" in setup:
            self.test_dir_edit.setText(str(setup["test_dir"]))
        if "train_dir" in setup:
            self.train_dir_edit.setText(str(setup["train_dir"]))
        mode = str(setup.get("mode", "collapse")).lower()
        if mode in ("finetune", "fine-tune"):
            if self.train_dir_edit.text().strip():
                self.start_finetune()
            else:
                self.status_label.setText("Choose a training folder (one sub-folder per group), then "
                                          "press 'Fine-tune new head'.")
            return
        if "photo" in setup:
            # Loading, model and classification all run in a job: the lesson dock must not freeze.
            name = str(setup["photo"])
            if self.photo_combo.findText(name) >= 0:
                self.photo_combo.setCurrentText(name)
            self.classify_bundled_photo(name)
        elif self.test_dir_edit.text().strip():
            self.start_zero_shot()

    def build_demo_folders(self) -> Path:
        """Small test and train folders from photos that ship offline (cat vs vehicle:
        no dog photo ships with any installed package), plus a few broken files."""
        from engine.transfer import cat_vs_vehicle_photos, make_demo_folder

        if self._demo_dir is None:
            self._demo_dir = tempfile.TemporaryDirectory(prefix="convscope_dogfood_")
        root = Path(self._demo_dir.name)
        photos = cat_vs_vehicle_photos()
        if not (root / "test").exists():
            make_demo_folder(root / "test", photos, per_class=10, seed=1)
            make_demo_folder(root / "train", photos, per_class=12, seed=2, broken_files=False)
        return root

    def prepare_screenshot(self) -> None:
        from gui.screenshots import wait_for

        try:
            root = self.build_demo_folders()
        except ConvScopeError as exc:
            self.status_label.setText(str(exc))
            return
        self.groups_combo.setCurrentText("cat_vs_vehicle")
        self.load_groups_from("cat_vs_vehicle")
        self.test_dir_edit.setText(str(root / "test"))
        self.train_dir_edit.setText(str(root / "train"))
        self.epochs_spin.setValue(20)
        self.run_and_wait(self.start_finetune, 240)
        self.run_and_wait(self.start_zero_shot, 120)
        self.photo_combo.setCurrentText("chelsea")
        self.run_and_wait(partial(self.classify_bundled_photo, "chelsea"), 60)
        wait_for(lambda: False, 0.3)  # let the plots redraw
        self.status_label.setText("Demo: cat vs vehicle folders built from the photos that ship offline "
                                  "(no dog photos ship with the installed packages).")

    def shutdown(self) -> None:
        super().shutdown()
        if self._demo_dir is not None:
            self.jobs.wait(2000)
            self._demo_dir.cleanup()
            self._demo_dir = None
