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
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QScrollArea, QSplitter, QTabWidget,
                               QVBoxLayout, QWidget)

from engine.errors import ConvScopeError
from engine.events import Progress
from engine.pretrained import class_names
from engine.transfer import (ClassGroups, DogFoodReport, FineTuneResult, SingleImageRemap, TransferBatchEnd,
                             TransferEpochEnd, bundled_photo_job, finetune_job, single_image_job, zero_shot_job)
from gui.panels.base import JobPanel
from gui.widgets.class_groups_editor import ClassGroupsEditor
from gui.widgets.dogfood_views import (CAMERA, OPEN_IMAGE, EvaluationBox, FineTuneCurves, FoldersBox, OnePhotoBox,
                                       ReportGallery, RunBox, percent, skipped_text)
from gui.widgets.fit import visible_area


class DogFoodPanel(JobPanel):
    title = "Dog vs Food"
    description = "Turn the 1000-class classifier into a 2-class one."

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.report: DogFoodReport | None = None
        self.finetune_result: FineTuneResult | None = None
        self.single_result: SingleImageRemap | None = None
        self.single_image: np.ndarray | None = None
        self.single_caption = ""
        self._job_kind = ""
        self.model_name = "efficientnet_lite0"
        self.classifier = None  # None: the jobs load `model_name` (tests may set a small stand-in)
        self._build()
        self._load_class_names()
        self.status_line = self.status_label
        self.set_job_buttons(run=[self.zero_shot_button, self.finetune_button, self.classify_button],
                             stop=[self.stop_button])
        self.groups_editor.refresh()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        outer = QHBoxLayout(self)
        splitter = QSplitter(Qt.Horizontal)
        outer.addWidget(splitter)

        controls = QWidget()
        left = QVBoxLayout(controls)
        self.groups_editor = ClassGroupsEditor()
        self.groups_editor.failed.connect(self.ctx.show_error)
        self.groups_editor.status.connect(self.ctx.status)
        self.groups_editor.groups_changed.connect(self._on_groups_changed)
        # The editor's widgets and edits, under the names the panel has always offered (tests, lessons).
        for name in ("groups_combo", "group_list", "class_list", "class_picker", "add_class_button",
                     "load_groups_from", "save_groups_to", "add_group", "add_class"):
            setattr(self, name, getattr(self.groups_editor, name))
        left.addWidget(self.groups_editor)
        self.folders_box, self.run_box = FoldersBox(), RunBox()
        self.run_box.zero_shot_button.clicked.connect(self.start_zero_shot)
        self.run_box.finetune_button.clicked.connect(self.start_finetune)
        self.run_box.stop_button.clicked.connect(self.stop)
        for box, names in ((self.folders_box, ("test_dir_edit", "train_dir_edit")),
                           (self.run_box, ("zero_shot_button", "epochs_spin", "lr_spin", "unfreeze_check",
                                           "finetune_button", "stop_button", "progress", "status_label",
                                           "skipped_label"))):
            for name in names:
                setattr(self, name, getattr(box, name))
        left.addWidget(self.folders_box)
        left.addWidget(self.run_box)
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
        self.results_box = EvaluationBox()
        top_layout.addWidget(self.results_box, 1)
        self.photo_box = OnePhotoBox()
        self.photo_box.classify_button.clicked.connect(self._on_classify_photo_clicked)
        top_layout.addWidget(self.photo_box)
        # The views' widgets, under the names the panel has always offered (tests, lessons, layout).
        for view, names in ((self.results_box, ("accuracy_label", "per_group_label", "confusion_table")),
                            (self.photo_box, ("photo_combo", "classify_button", "photo_view", "photo_label"))):
            for name in names:
                setattr(self, name, getattr(view, name))
        self.top_layout = top_layout
        self.photo_in_controls = False  # narrow windows (1280 px at 200 %) move "One photo" under the controls
        right.addWidget(top)
        self.curves = FineTuneCurves()
        self.loss_plot, self.acc_plot = self.curves.loss_plot, self.curves.acc_plot
        self.gallery = ReportGallery()
        self.gallery.image_chosen.connect(self._on_gallery_image_chosen)
        self.gallery.failed.connect(self.ctx.show_error)
        # Tabs give the gallery and the two curves the full width, even at 200% text size.
        self.bottom_tabs = QTabWidget()
        self.bottom_tabs.addTab(self.gallery, "Test images")
        self.bottom_tabs.addTab(self.curves, "Fine-tuning curves")
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
        self.results_box.setMinimumWidth(15 * em)
        self.photo_box.setMinimumWidth(max(15 * em, self.photo_box.minimumSizeHint().width()))
        self.photo_box.setMaximumWidth(24 * em)
        # A quarter of the visible height at most: on 1280x800 at 200 % the gallery keeps its room.
        self.photo_view.setFixedHeight(max(5 * em, min(11 * em, visible_area(self).height() // 4)))
        if self.report is not None:
            self.confusion_table.fit()

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.FontChange and hasattr(self, "controls_scroll"):
            self._fit_to_text_size()  # the text size changed while the app runs

    def _reflow(self) -> None:
        """Three columns where they fit; otherwise "One photo" goes under the controls (which scroll
        vertically), so nothing needs a sideways scroll bar."""
        needed = (self.controls_scroll.minimumWidth() + self.results_box.minimumWidth()
                  + self.photo_box.minimumWidth() + 48)
        narrow = visible_area(self).width() < needed
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
        if event.type() == QEvent.Resize:  # the PanelScroll viewport: the size the window gives
            self._fit_to_text_size()
        return super().eventFilter(watched, event)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._reflow()
        if self.report is not None:
            self.confusion_table.fit()  # room for a sideways scroll bar only when the table is too narrow

    # ------------------------------------------------------------------ class groups (the editor)
    def _load_class_names(self) -> None:
        try:
            self.groups_editor.set_class_names(class_names())
        except ConvScopeError as exc:
            self.status_label.setText(str(exc))

    @property
    def groups(self) -> ClassGroups:
        return self.groups_editor.groups

    @groups.setter
    def groups(self, groups: ClassGroups) -> None:
        self.groups_editor.set_groups(groups)

    @property
    def groups_source(self) -> str:
        return self.groups_editor.groups_source

    def _on_groups_changed(self) -> None:
        self.gallery.set_first_group(self.groups.names[0] if self.groups.groups else "first group")

    def _busy(self) -> bool:
        """One job at a time in this panel: starting another would silently abandon the running one
        (a fine-tune lost to a click on Classify)."""
        if not self.job_active:
            return False
        self.status_label.setText(f"A {self._job_kind or 'job'} is running: wait for it or press Stop first.")
        return True

    def _ready(self, folder: str | None = None, missing: tuple[str, str] = ("", "")) -> ClassGroups | None:
        """The checks before every job: none running, the folder given (when one is needed), valid
        groups. Returns a validated copy of the groups, or None after saying what is wrong."""
        if self._busy():
            return None
        if folder is not None and not folder:
            self.ctx.show_error(*missing)
            return None
        try:
            return self.groups_editor.checked_groups()
        except ConvScopeError as exc:
            self.ctx.show_error(exc.title, str(exc))
            return None

    def start_zero_shot(self) -> bool:
        test_dir = self.test_dir_edit.text().strip()
        groups = self._ready(test_dir, ("No test folder", "Choose a test folder with one sub-folder per group "
                                                          "(e.g. dog/ and food/)."))
        if groups is None:
            return False
        self._job_kind = "zero-shot"
        self.status_label.setText("Zero-shot remap: loading the model…")
        self.jobs.start(partial(zero_shot_job, test_dir, groups, self.classifier, self.model_name))
        return True

    def start_finetune(self) -> bool:
        train_dir = self.train_dir_edit.text().strip()
        groups = self._ready(train_dir, ("No training folder", "Choose a training folder with one sub-folder per "
                                                               "group (e.g. dog/ and food/) to fine-tune a new head."))
        if groups is None:
            return False
        test_dir = self.test_dir_edit.text().strip() or None
        self._job_kind = "fine-tune"
        self.curves.clear()
        self.bottom_tabs.setCurrentIndex(1)  # watch the curves while it learns
        self.status_label.setText("Fine-tuning: loading the model…")
        self.jobs.start(partial(finetune_job, train_dir, groups, test_dir, self.classifier, self.model_name,
                                epochs=self.epochs_spin.value(),
                                lr=self.lr_spin.value(), unfreeze_last_block=self.unfreeze_check.isChecked()))
        return True

    def classify_photo(self, image: np.ndarray, caption: str) -> bool:
        groups = self._ready()
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
        groups = self._ready()
        if groups is None:
            return False
        self.single_image, self.single_caption = None, name
        self.photo_label.setText(f"Loading and classifying {name}…")
        self._job_kind = "photo"
        self.jobs.start(partial(bundled_photo_job, name, groups, self.classifier, self.model_name))
        return True

    def open_camera(self) -> None:
        """The live camera: it shows dog vs food on every frame; Freeze classifies the frame here."""
        from gui.widgets.camera import CameraDialog

        if getattr(self, "camera", None) is None:
            self.camera = CameraDialog(self.model_name or "efficientnet_lite0", self)
            self.camera.frozen.connect(self.classify_photo)
        self.camera.show()
        self.camera.raise_()

    def _on_classify_photo_clicked(self) -> None:
        name = self.photo_combo.currentText()
        if name == CAMERA:
            self.open_camera()
            return
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

    def job_failed(self, title: str, message: str) -> None:
        self.status_label.setText(f"{title}: {message}")
        self.progress.setValue(0)

    def job_running_changed(self, running: bool) -> None:
        if not running and self.progress.value() < self.progress.maximum() and self._job_kind:
            self.progress.setValue(0)

    def show_progress(self, event: Progress) -> None:
        self.progress.setValue(int(event.fraction * self.progress.maximum()))
        super().show_progress(event)

    def on_job_event(self, event) -> None:
        if isinstance(event, TransferBatchEnd):
            self.curves.add_batch(event)
        elif isinstance(event, TransferEpochEnd):
            self.curves.add_epoch(event)
            self.progress.setValue(int(event.epoch / event.epochs * self.progress.maximum()))
            held_out = "" if math.isnan(event.val_acc) else f", held-out accuracy {percent(event.val_acc)}"
            self.status_label.setText(f"Fine-tuning epoch {event.epoch}/{event.epochs}: train loss "
                                      f"{event.train_loss:.3f}, accuracy {percent(event.train_acc)}{held_out}")

    def on_job_succeeded(self, result) -> None:
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

    # ------------------------------------------------------------------ results (the views show them)
    def show_report(self, report: DogFoodReport, train_skipped=()) -> None:
        self.report = report
        self.results_box.show_report(report)
        self.bottom_tabs.setCurrentIndex(0)
        self.gallery.show_report(report)
        self._show_skipped(report.skipped, train_skipped)
        if self._job_kind == "zero-shot":
            self.status_label.setText(f"Zero-shot remap evaluated on {report.evaluation.n} images.")

    def _show_skipped(self, skipped, train_skipped=()) -> None:
        text, tooltip = skipped_text(skipped, train_skipped)
        self.skipped_label.setText(text)
        self.skipped_label.setToolTip(tooltip)

    def show_single(self, result: SingleImageRemap) -> None:
        self.single_result = result
        if result.image is not None:
            self.single_image = result.image
        self.photo_box.show_single(result, self.single_caption)

    def _on_gallery_image_chosen(self, image, description: str) -> None:
        self.ctx.send_image(image, description, "Saliency")  # the user clicked: open it there

    # ------------------------------------------------------------------ workspaces and lessons
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
                groups = ClassGroups.from_dict(state["groups"], "the saved workspace")
                self.groups_editor.set_groups(groups, str(state.get("groups_source", "")))
            except ConvScopeError as exc:
                self.ctx.show_error(exc.title, str(exc))
            self.groups_editor.choose_file(Path(self.groups_source).stem)
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
            self.groups_editor.choose_file(str(setup["groups"]))
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

