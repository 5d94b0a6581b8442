"""Data panel: choose the dataset (embedded, an image folder, or torchvision
MNIST / Fashion-MNIST / CIFAR-10 from a local folder), see its train/validation
split and samples per class, pick the preprocessing (mean image subtraction or
per-channel normalization) and the augmentation, with a live preview of
augmented samples computed by the engine.

Loading runs as a job, so a big folder never freezes the window. The choices
reach the Training panel through ctx.set_data_options; the loaded dataset's
shape reaches the Network panel through ctx.dataset_info + ctx.set_dataset.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton,
                               QScrollArea, QSpinBox, QSplitter, QTabWidget, QVBoxLayout, QWidget)

from engine.data import dataset_description, dataset_names
from engine.data_preview import AugmentationPreview, DatasetOverview, augmentation_preview_job, dataset_overview_job
from engine.imaging import nearest_upscale
from gui.panels.base import Panel
from gui.widgets.data_options import AUGMENT_SETTINGS, AugmentationForm, PreprocessingBox
from gui.widgets.fit import FitsViewportHeight
from gui.widgets.flow import as_strip
from gui.widgets.image_view import ImageGrid
from gui.widgets.labelled_grid import LabelledGrid
from gui.workers import JobSlot

FOLDER_DATASET = "image_folder"
TORCHVISION_DATASETS = ("mnist", "fashion_mnist", "cifar10")

class _Job:
    """A picklable-free job factory: calls fn(*args) in the worker."""

    def __init__(self, fn, *args, **kwargs):
        self.fn, self.args, self.kwargs = fn, args, kwargs

    def __call__(self):
        return self.fn(*self.args, **self.kwargs)


class DataPanel(FitsViewportHeight, Panel):
    title = "Data"
    description = "Datasets, train/validation split, sample grids, preprocessing and augmentation preview."

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.preview_jobs = JobSlot(self)
        self.preview_jobs.failed.connect(self._on_job_failed)
        self.overview: DatasetOverview | None = None
        self.loaded_key: tuple | None = None
        self._preview_seed = 0
        self._loaded_once = False
        self._build_ui()
        self.jobs.event.connect(self._on_load_progress)
        self.jobs.succeeded.connect(self._on_loaded)
        self.jobs.failed.connect(self._on_load_failed)
        self.preview_jobs.succeeded.connect(self._on_preview)
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(150)  # spin-box scrolling coalesces into one preview job
        self._preview_timer.timeout.connect(self.refresh_preview)
        index = self.dataset_combo.findData(ctx.dataset)
        self.dataset_combo.setCurrentIndex(max(0, index))
        self._on_dataset_choice_changed()
        self._publish_options()

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        root = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(QLabel("Dataset:"))
        self.dataset_combo = QComboBox()
        for name in dataset_names():
            self.dataset_combo.addItem(dataset_description(name), name)
        self.dataset_combo.setToolTip("Embedded datasets work offline; an image folder or a torchvision dataset "
                                      "is read from a folder on this computer.")
        self.dataset_combo.activated.connect(self._on_dataset_activated)
        top.addWidget(self.dataset_combo, 1)
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("folder…")
        self.folder_edit.setToolTip("Image folder: one sub-folder per class. Torchvision: the folder that holds "
                                    "(or will hold) the dataset files.")
        top.addWidget(self.folder_edit, 2)
        self.browse_button = QPushButton("Browse…")
        self.browse_button.setToolTip("Pick the folder.")
        self.browse_button.clicked.connect(self._on_browse)
        top.addWidget(self.browse_button)
        self.size_label = QLabel("size")
        self.size_spin = QSpinBox()
        self.size_spin.setRange(8, 256)
        self.size_spin.setValue(32)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("Image folder: every image is scaled (shorter side) and centre-cropped to this size.")
        top.addWidget(self.size_label)
        top.addWidget(self.size_spin)
        self.download_check = QCheckBox("Download if missing")
        self.download_check.setToolTip("Only when ticked, and only if the network is reachable: fetch the "
                                       "torchvision files into the folder.")
        top.addWidget(self.download_check)
        self.load_button = QPushButton("Load")
        self.load_button.setToolTip("Load the chosen dataset (in the background).")
        self.load_button.clicked.connect(self.load_current)
        top.addWidget(self.load_button)
        root.addWidget(as_strip(top))  # wraps instead of widening the panel
        self.info_label = QLabel("No dataset loaded yet.")
        self.info_label.setWordWrap(True)
        font = self.info_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.info_label.setFont(font)
        root.addWidget(self.info_label)

        splitter = QSplitter(Qt.Horizontal)
        self.sample_grid = LabelledGrid("Training samples, one row per class")
        self.sample_grid.setMinimumWidth(360)
        splitter.addWidget(self.sample_grid)

        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        prep_box = self.preprocessing = PreprocessingBox()
        prep_box.changed.connect(self._publish_options)
        self.normalization_group, self.normalization_buttons = prep_box.group, prep_box.buttons
        self.mean_view, self.removed_view = prep_box.mean_view, prep_box.removed_view
        self.channel_label = prep_box.channel_label
        middle_layout.addWidget(prep_box, 1)
        splitter.addWidget(middle)

        right = QWidget()
        right_layout = self._right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        aug_box = self.augmentation = AugmentationForm()
        aug_box.changed.connect(self._on_augment_changed)
        editors = aug_box.editors
        self.hflip_check, self.crop_spin, self.scale_spin = editors["hflip"], editors["crop"], editors["scale"]
        self.rotation_spin, self.jitter_spin, self.hue_spin = (editors["rotation"], editors["colour_jitter"],
                                                               editors["hue_jitter"])
        self.resample_button = aug_box.resample_button
        self.resample_button.clicked.connect(self.resample)
        right_layout.addWidget(aug_box)
        self.preview_grid = ImageGrid("Augmentation preview: original (left), then random variants")
        self.preview_grid.setMinimumHeight(220)
        right_layout.addWidget(self.preview_grid, 1)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setStretchFactor(2, 2)
        root.addWidget(splitter, 1)
        # Where three columns do not fit the height (200 % text on 1280x800), preprocessing and
        # augmentation become two tabs beside the samples, the augmentation form beside its preview.
        self.columns, self.middle_column, self.right_column = splitter, middle, right
        self.detail_tabs = QTabWidget()
        self.detail_tabs.hide()
        self.compact = False

    def _available_height(self) -> int:
        parent = self.parentWidget()
        while parent is not None and not isinstance(parent, QScrollArea):
            parent = parent.parentWidget()
        return parent.viewport().height() if parent is not None else self.height()

    def _reflow(self) -> None:
        """Three columns when they fit the height, else samples beside two tabs."""
        if not hasattr(self, "columns"):
            return
        available = self._available_height()
        width = max(200, self.width())
        header = (self.dataset_combo.sizeHint().height() + self.info_label.heightForWidth(width)
                  + 3 * self.layout().spacing() + 2 * self.layout().contentsMargins().top())
        self._right_layout.setDirection(QVBoxLayout.TopToBottom)
        stacked = self.right_column.minimumSizeHint().height()
        compact = header + stacked > available
        if compact == self.compact:
            if not compact:
                return
        self.compact = compact
        if compact:
            self._right_layout.setDirection(QVBoxLayout.LeftToRight)
            if self.detail_tabs.count() == 0:
                self.detail_tabs.addTab(self.middle_column, "Preprocessing")
                self.detail_tabs.addTab(self.right_column, "Augmentation")
                self.columns.insertWidget(1, self.detail_tabs)
                self.detail_tabs.show()
        elif self.detail_tabs.count():
            self.detail_tabs.clear()  # the pages stay alive: the splitter takes them back
            self.columns.insertWidget(1, self.middle_column)
            self.columns.insertWidget(2, self.right_column)
            self.middle_column.show()
            self.right_column.show()
            self.detail_tabs.setParent(None)
            self.detail_tabs.hide()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        QTimer.singleShot(0, self._reflow)  # after the layout has settled, not inside it

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().changeEvent(event)
        if event.type() == QEvent.FontChange:
            QTimer.singleShot(0, self._reflow)

    # ------------------------------------------------------------------ choices
    def current_dataset(self) -> str:
        return str(self.dataset_combo.currentData())

    def dataset_options(self) -> dict:
        name = self.current_dataset()
        if name == FOLDER_DATASET:
            return {"root": self.folder_edit.text().strip(), "size": self.size_spin.value()}
        if name in TORCHVISION_DATASETS:
            options = {"download": self.download_check.isChecked()}
            if self.folder_edit.text().strip():
                options["root"] = self.folder_edit.text().strip()
            return options
        return {}

    def normalization(self) -> str:
        return self.preprocessing.value()

    def augment_options(self) -> dict:
        return self.augmentation.values()

    def data_options(self) -> dict:
        return {"normalization": self.normalization(), **self.augment_options()}

    def _on_dataset_choice_changed(self) -> None:
        name = self.current_dataset()
        needs_folder = name == FOLDER_DATASET or name in TORCHVISION_DATASETS
        for widget in (self.folder_edit, self.browse_button):
            widget.setVisible(needs_folder)
        self.size_label.setVisible(name == FOLDER_DATASET)
        self.size_spin.setVisible(name == FOLDER_DATASET)
        self.download_check.setVisible(name in TORCHVISION_DATASETS)
        if name in TORCHVISION_DATASETS and not self.folder_edit.text():
            try:
                from engine.data import default_data_root

                self.folder_edit.setPlaceholderText(default_data_root())
            except ImportError:
                pass

    def _on_dataset_activated(self, _index: int) -> None:
        self._on_dataset_choice_changed()
        name = self.current_dataset()
        if name == FOLDER_DATASET and not self.folder_edit.text().strip():
            self._on_browse()
        if name not in TORCHVISION_DATASETS:  # torchvision waits for Load: it may need the download box
            self.load_current()

    def _on_browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the dataset folder", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)
            if self.current_dataset() == FOLDER_DATASET:
                self.load_current()

    # ------------------------------------------------------------------ loading (a job)
    def load_dataset(self, name: str, options: dict | None = None) -> None:
        index = self.dataset_combo.findData(name)
        if index < 0:
            self.ctx.show_error("Data problem", f"Unknown dataset '{name}'. Available: {', '.join(dataset_names())}.")
            return
        self.dataset_combo.setCurrentIndex(index)
        options = dict(options or {})
        if "root" in options:
            self.folder_edit.setText(str(options["root"]))
        if "size" in options:
            self.size_spin.setValue(int(options["size"]))
        if "download" in options:
            self.download_check.setChecked(bool(options["download"]))
        self._on_dataset_choice_changed()
        self.load_current()

    def load_current(self) -> None:
        name = self.current_dataset()
        options = self.dataset_options()
        if name == FOLDER_DATASET and not options.get("root"):
            self.info_label.setText("Choose a folder with one sub-folder per class (Browse…).")
            return
        self._loaded_once = True
        self.load_button.setEnabled(False)
        self.info_label.setText(f"Loading {dataset_description(name)}…")
        self.jobs.start(_Job(dataset_overview_job, name, options, 10))

    def _on_load_progress(self, event) -> None:
        message = getattr(event, "message", "")
        if message:
            self.info_label.setText(message)

    def _on_load_failed(self, title: str, message: str) -> None:
        self.load_button.setEnabled(True)
        self.info_label.setText(f"<span style='color:#8a1c0c'><b>{title}:</b> {message}</span>")

    def _on_loaded(self, result) -> None:
        self.load_button.setEnabled(True)
        if not isinstance(result, DatasetOverview):
            return
        self.overview = result
        name = self.current_dataset()
        options = self.dataset_options()
        self._show_overview(result)
        self.ctx.dataset_info = {"name": name, "options": options, "input_shape": tuple(result.input_shape),
                                 "num_classes": result.num_classes, "class_names": list(result.class_names),
                                 "n_train": result.n_train, "n_val": result.n_val}
        key = (name, tuple(sorted(options.items())))
        if key != self.loaded_key or self.ctx.dataset != name:
            self.loaded_key = key
            self.ctx.set_dataset(name)
        self.refresh_preview()

    def _show_overview(self, o: DatasetOverview) -> None:
        c, h, w = o.input_shape
        shape = f"{c} x {h} x {w}"
        text = (f"<b>{o.description or o.name}</b> · Train <b>{o.n_train:,}</b> · Validation <b>{o.n_val:,}</b> · "
                f"{o.num_classes} classes · images {shape}")
        smallest = min(o.train_counts) if o.train_counts else 0
        text += f" · fewest training images in a class: {smallest}"
        if o.skipped:
            reasons = ", ".join(f"{count} {reason}" for reason, count in o.skipped_reasons.items())
            text += f"<br><span style='color:#8a1c0c'>{o.skipped} file(s) skipped: {reasons}</span>"
        self.info_label.setText(text)
        scale = max(1, 28 // max(h, 1))
        # Balanced classes: the name alone (the counts would take a third of the grid at 200 %).
        balanced = len(set(o.train_counts)) <= 1 and len(set(o.val_counts)) <= 1
        labels = [name if balanced else f"{name} ({o.train_counts[i]}/{o.val_counts[i]})"
                  for i, name in enumerate(o.class_names)]
        self.sample_grid.set_rows(o.samples, o.per_class, labels, scale)
        counts = "; ".join(f"{name}: {o.train_counts[i]}/{o.val_counts[i]}" for i, name in enumerate(o.class_names))
        self.sample_grid.setToolTip(f"Each row is one class. Training/validation images per class: {counts}.")
        self.preprocessing.show_overview(o, scale)

    # ------------------------------------------------------------------ options and preview
    def _on_augment_changed(self, *_args) -> None:
        self._publish_options()
        self._preview_timer.start()

    def _publish_options(self) -> None:
        if hasattr(self.ctx, "set_data_options"):
            self.ctx.set_data_options(self.data_options())

    def resample(self) -> None:
        self._preview_seed += 1
        self.refresh_preview()

    def refresh_preview(self) -> None:
        if self.overview is None:
            return
        self.preview_jobs.start(_Job(augmentation_preview_job, self.current_dataset(), self.dataset_options(),
                                     self.augment_options(), 5, 7, self._preview_seed))

    def _on_preview(self, result) -> None:
        if not isinstance(result, AugmentationPreview):
            return
        tiles = result.tiles
        h = tiles.shape[1]
        scale = max(1, 28 // max(h, 1))
        if scale > 1:
            tiles = nearest_upscale(tiles.transpose(1, 2, 0, 3), scale).transpose(2, 0, 1, 3)
        self.preview_grid.set_tiles(tiles, columns=result.copies + 1)

    # ------------------------------------------------------------------ lifecycle, workspaces, lessons
    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        # Load the default dataset the first time the panel is seen (not at start-up:
        # the window must not wait for data it may never need).
        if not self._loaded_once:
            self.load_current()

    def shutdown(self) -> None:
        self._preview_timer.stop()  # a pending preview must not start after close
        self.preview_jobs.stop()
        super().shutdown()

    def save_state(self) -> dict:
        return {"dataset": self.current_dataset(), "options": self.dataset_options(), **self.data_options()}

    def restore_state(self, state: dict) -> None:
        """A workspace never downloads and never reads a folder outside it on its own: the
        built-in datasets load at once; a folder or torchvision dataset waits for Load."""
        if not isinstance(state, dict):
            return
        self.set_data_options(state)
        name = state.get("dataset")
        if not name:
            return
        options = dict(state.get("options") or {}) if isinstance(state.get("options"), dict) else {}
        options.pop("download", None)
        self.download_check.setChecked(False)
        if str(name) != FOLDER_DATASET and str(name) not in TORCHVISION_DATASETS:
            self.load_dataset(str(name), options)
            return
        index = self.dataset_combo.findData(str(name))
        if index < 0:
            self.ctx.show_error("Data problem", f"The workspace names an unknown dataset '{name}'.")
            return
        self.dataset_combo.setCurrentIndex(index)
        self.folder_edit.setText(str(options.get("root", "")))
        if "size" in options:
            try:
                self.size_spin.setValue(int(options["size"]))
            except (TypeError, ValueError, OverflowError):
                pass
        self._on_dataset_choice_changed()
        where = options.get("root") or "its default folder"
        self.info_label.setText(f"This workspace used {dataset_description(str(name))} from {where}. "
                                "Click Load to read it (nothing outside the workspace is read or downloaded "
                                "until you do).")

    def set_data_options(self, values: dict) -> None:
        """Apply normalization / augmentation values (TrainSettings names); others are ignored."""
        if "normalization" in values:
            self.preprocessing.set_value(values["normalization"])
        self.augmentation.set_values(values)
        self._on_augment_changed()

    def apply_lesson(self, setup: dict) -> None:
        data_values = dict(setup.get("data") or {})
        settings = setup.get("settings") or {}
        for name in ("normalization", *AUGMENT_SETTINGS):
            if name in settings and name not in data_values:
                data_values[name] = settings[name]
        if data_values:
            self.set_data_options(data_values)
        if setup.get("dataset"):
            self.load_dataset(str(setup["dataset"]), setup.get("dataset_options") or {})

    def prepare_screenshot(self) -> None:
        from gui.screenshots import wait_for

        self.set_data_options({"normalization": "mean_image", "crop": 3, "rotation": 15.0, "scale": 0.1})
        if self.overview is None or self.current_dataset() != "mnist5k":
            self.load_dataset("mnist5k")
        wait_for(lambda: self.overview is not None and not self.jobs.running, 120)
        wait_for(lambda: self.preview_grid.count > 0 and not self.preview_jobs.running, 60)
