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
from PySide6.QtWidgets import QLabel, QSplitter, QTabWidget, QVBoxLayout, QWidget

from engine.data import dataset_description, dataset_names
from engine.data_preview import AugmentationPreview, DatasetOverview, augmentation_preview_job, dataset_overview_job
from gui.panels.base import Panel
from gui.widgets.dataset_chooser import FOLDER_DATASET, TORCHVISION_DATASETS, DatasetChooser
from gui.widgets.data_options import AUGMENT_SETTINGS, AugmentationForm, PreprocessingBox
from gui.widgets.fit import FitsViewportHeight, visible_area
from gui.widgets.image_view import ImageGrid
from gui.widgets.labelled_grid import LabelledGrid, upscale_tiles, zoom_for
from gui.workers import JobSlot


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
        if not self.chooser.select(ctx.dataset):
            self.chooser.update_fields()
        self._publish_options()

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        root = QVBoxLayout(self)
        chooser = self.chooser = DatasetChooser()
        chooser.activated.connect(self._on_dataset_activated)
        chooser.folder_chosen.connect(self._on_folder_chosen)
        chooser.load_button.clicked.connect(self.load_current)
        self.dataset_combo, self.folder_edit, self.size_spin = chooser.dataset_combo, chooser.folder_edit, \
            chooser.size_spin
        self.browse_button, self.download_check, self.load_button = chooser.browse_button, chooser.download_check, \
            chooser.load_button
        root.addWidget(chooser)
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
        return visible_area(self).height()

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
        return self.chooser.current_dataset()

    def dataset_options(self) -> dict:
        return self.chooser.dataset_options()

    def normalization(self) -> str:
        return self.preprocessing.value()

    def augment_options(self) -> dict:
        return self.augmentation.values()

    def data_options(self) -> dict:
        return {"normalization": self.normalization(), **self.augment_options()}

    def _on_dataset_activated(self) -> None:
        name = self.current_dataset()
        if name == FOLDER_DATASET and not self.chooser.folder():
            self.chooser.browse()
        if name not in TORCHVISION_DATASETS:  # torchvision waits for Load: it may need the download box
            self.load_current()

    def _on_folder_chosen(self) -> None:
        if self.current_dataset() == FOLDER_DATASET:
            self.load_current()

    # ------------------------------------------------------------------ loading (a job)
    def load_dataset(self, name: str, options: dict | None = None) -> None:
        if not self.chooser.select(name, options):
            self.ctx.show_error("Data problem", f"Unknown dataset '{name}'. Available: {', '.join(dataset_names())}.")
            return
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
        scale = zoom_for(h)
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
        tiles = upscale_tiles(result.tiles, zoom_for(result.tiles.shape[1]))
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
        if not self.chooser.select(str(name), {**options, "root": options.get("root", "")}):
            self.ctx.show_error("Data problem", f"The workspace names an unknown dataset '{name}'.")
            return
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
