"""The views of Dog vs Food: the folders and run controls, the evaluation (accuracy per
group and the confusion matrix), the gallery of test images sorted by score, the
fine-tuning curves and one photo through the remap. They only take input and show
engine.transfer results; the panel runs the jobs."""
from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QCheckBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout,
                               QLabel, QLineEdit, QProgressBar, QPushButton, QScrollArea, QSpinBox, QVBoxLayout,
                               QWidget)

from engine.errors import ConvScopeError
from engine.transfer import DogFoodReport, SingleImageRemap, mark_tiles
from gui.theme import point_size
from gui.widgets.confusion_table import ConfusionTable
from gui.widgets.elided_combo import ElidedComboBox
from gui.widgets.image_view import ImageGrid, ImageView

OPEN_IMAGE = "Open image…"
CAMERA = "Camera…"  # a live camera (or a recording); Freeze classifies the frame
MAX_SKIPPED_IN_TOOLTIP = 25


def percent(value: float | None) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}%"


def scrolling(content: QWidget) -> QScrollArea:
    """Wrapped text scrolls when space is short instead of being squeezed on top of itself."""
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QScrollArea.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)  # text wraps to the width instead
    scroll.setWidget(content)
    return scroll


def skipped_text(skipped, train_skipped=()) -> tuple[str, str]:
    """(one line counting the skipped files by reason, a tooltip listing them)."""
    parts = []
    for label, items in (("test", skipped), ("training", train_skipped)):
        if not items:
            continue
        counts: dict[str, int] = {}
        for item in items:
            counts[item.reason] = counts.get(item.reason, 0) + 1
        reasons = ", ".join(f"{n} {reason}" for reason, n in counts.items())
        parts.append(f"Skipped {len(items)} {label} file{'s' if len(items) != 1 else ''}: {reasons}.")
    listing = [f"{Path(item.path).name}: {item.detail or item.reason}" for item in list(skipped) + list(train_skipped)]
    more = len(listing) - MAX_SKIPPED_IN_TOOLTIP
    tooltip = "\n".join(listing[:MAX_SKIPPED_IN_TOOLTIP]) + (f"\n… and {more} more" if more > 0 else "")
    return (" ".join(parts) if parts else "No files skipped."), tooltip


class EvaluationBox(QGroupBox):
    """Overall and per-group accuracy and the confusion matrix of one evaluation."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Results on the test folder", parent)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        QVBoxLayout(self).addWidget(scrolling(content))
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
        self.confusion_table = ConfusionTable()
        layout.addWidget(self.confusion_table)
        layout.addStretch(1)

    def show_report(self, report: DogFoodReport) -> None:
        ev = report.evaluation
        # The big line is just the number (readable from the back of the room in a narrow column);
        # what it measures goes on the normal-size line under it.
        self.accuracy_label.setText(f"{percent(ev.accuracy)} correct")
        self.accuracy_label.setToolTip(f"{report.mode}: {percent(ev.accuracy)} correct of {ev.n} test images")
        rows = "".join(
            f"<tr><td><b>{name}</b>&nbsp;&nbsp;</td><td align='right'>{percent(acc)}</td>"
            f"<td>&nbsp;of&nbsp;{count}</td></tr>"
            for name, acc, count in zip(ev.group_names, ev.per_group_accuracy, ev.per_group_count))
        extra = ""
        if report.group_mass is not None and len(report.group_mass):
            extra = (f"<p>Mean probability inside the groups: {percent(float(np.mean(report.group_mass)))} "
                     f"(the rest went to other ImageNet classes).</p>")
        self.per_group_label.setText(f"{report.mode}, {ev.n} test images:<table>{rows}</table>{extra}")
        self.confusion_table.show_matrix(ev.confusion, ev.group_names)


class ReportGallery(ImageGrid):
    """Every test image sorted by the first group's score, mistakes framed in red. Hover
    describes an image; a click sends `image_chosen(image, description)` (or `failed`)."""

    image_chosen = Signal(object, str)
    failed = Signal(str, str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Test images appear here, sorted by dog score.", parent)
        self.report: DogFoodReport | None = None
        self.order = np.zeros(0, dtype=np.int64)
        self.first_group = "first group"
        self.tile_clicked.connect(self._on_tile_clicked)
        self.tile_hovered.connect(self._on_tile_hovered)

    def caption_text(self) -> str:
        if self.report is None:
            return f"Test images appear here, sorted by {self.first_group} score."
        return (f"{self.report.mode} — test images sorted by {self.report.group_names[0]} score (highest first). "
                "Green frame: right, red frame with a cross: mistake. Click one to see it in Saliency.")

    def set_first_group(self, name: str) -> None:
        self.first_group = name
        self.set_caption(self.caption_text())

    def show_report(self, report: DogFoodReport) -> None:
        self.report = report
        self.order = report.order_by_score(0)
        if len(self.order):
            tiles = mark_tiles(report.thumbnails[self.order], report.correct[self.order])
            columns = max(4, int(math.ceil(math.sqrt(len(tiles) * 2.2))))
            self.set_tiles(tiles, columns=columns, pad=3)
        else:
            self.clear()
        self.set_caption(self.caption_text())

    def tile_index(self, tile: int) -> int | None:
        if self.report is None or not 0 <= tile < len(self.order):
            return None
        return int(self.order[tile])

    def describe(self, index: int) -> str:
        report = self.report
        scores = ", ".join(f"{name} {percent(float(p))}" for name, p in zip(report.group_names, report.scores[index]))
        truth = report.group_names[int(report.labels[index])]
        verdict = "right" if report.correct[index] else "MISTAKE"
        return f"{Path(report.paths[index]).name} (true {truth}): {scores} — {verdict}"

    def _on_tile_hovered(self, tile: int) -> None:
        index = self.tile_index(tile)
        self.set_caption(self.caption_text() if index is None else self.describe(index))

    def _on_tile_clicked(self, tile: int) -> None:
        index = self.tile_index(tile)
        if index is None:
            return
        from engine.images import load_image

        try:
            image = load_image(self.report.paths[index])
        except ConvScopeError as exc:
            self.failed.emit(exc.title, str(exc))
            return
        self.image_chosen.emit(image, self.describe(index))


class OnePhotoBox(QGroupBox):
    """A bundled photo or a file through the remap: which group wins, and which class inside each."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("One photo", parent)
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.photo_combo = ElidedComboBox(min_chars=7)  # photo names stay readable, elided where narrow
        from engine.images import bundled_photos

        self.photo_combo.addItems(list(bundled_photos()) + [OPEN_IMAGE, CAMERA])
        self.photo_combo.setCurrentText("coffee")
        row.addWidget(self.photo_combo, 1)
        self.classify_button = QPushButton("Classify")
        row.addWidget(self.classify_button)
        layout.addLayout(row)
        self.photo_view = ImageView("")
        layout.addWidget(self.photo_view)
        self.photo_label = QLabel("One photo through the remap: which group wins, and which ImageNet class won "
                                  "inside each group.")
        self.photo_label.setWordWrap(True)
        self.photo_label.setTextFormat(Qt.RichText)
        self.photo_label.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        layout.addWidget(scrolling(self.photo_label), 1)

    def show_single(self, result: SingleImageRemap, caption: str) -> None:
        if result.image is not None:
            self.photo_view.set_image(result.image)
        winner = result.group_names[result.prediction]
        scores = " · ".join(f"{name} {percent(float(p))}" for name, p in zip(result.group_names, result.scores))
        inside = (f"{percent(result.inside)} of the 1000-class probability falls inside the groups"
                  + (" — the photo may be neither." if result.inside < 0.3 else "."))
        winners = "<br>".join(f"{name}: <i>{w.name}</i> {percent(w.prob)}"
                              for name, w in zip(result.group_names, result.winners))
        top = ", ".join(f"{w.name} {percent(w.prob)}" for w in result.top_classes[:3])
        self.photo_label.setText(f"<b>{caption}: {winner}</b><br>{scores}<br>{inside}<br>"
                                 f"Best class per group:<br>{winners}<br>1000-class top 3: {top}")


class FineTuneCurves(QWidget):
    """Loss and accuracy of the new head while it learns: per batch, per epoch, held out."""

    def __init__(self, parent: QWidget | None = None):
        from gui.widgets.live_plot import LivePlot

        super().__init__(parent)
        self.loss_plot = LivePlot("Fine-tuning loss", "epoch", "cross-entropy loss", whole_number_x=True)
        self.loss_plot.plot.getAxis("left").enableAutoSIPrefix(False)
        self.loss_plot.add_series("batch loss", 8, alpha=0.5, width=1.0)
        self.loss_plot.add_series("train loss", 0, symbol="o")
        self.loss_plot.add_series("held-out loss", 1, symbol="s")
        self.acc_plot = LivePlot("Fine-tuning accuracy", "epoch", "accuracy", whole_number_x=True)
        self.acc_plot.add_series("train accuracy", 0, symbol="o")
        self.acc_plot.add_series("held-out accuracy", 1, symbol="s")
        self.acc_plot.plot.setYRange(0, 1.05)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.loss_plot)
        layout.addWidget(self.acc_plot)

    def clear(self) -> None:
        for plot in (self.loss_plot, self.acc_plot):
            plot.clear()

    def add_batch(self, event) -> None:
        self.loss_plot.append("batch loss", event.step / event.steps_per_epoch, event.loss)

    def add_epoch(self, event) -> None:
        self.loss_plot.append("train loss", event.epoch, event.train_loss)
        self.acc_plot.append("train accuracy", event.epoch, event.train_acc)
        if not math.isnan(event.val_loss):
            self.loss_plot.append("held-out loss", event.epoch, event.val_loss)
            self.acc_plot.append("held-out accuracy", event.epoch, event.val_acc)


class FoldersBox(QGroupBox):
    """The test folder and the training folder (one sub-folder per group), each with Browse…."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Folders", parent)
        layout = QFormLayout(self)
        self.setToolTip("Each folder holds one sub-folder per group: dog/ and food/, or test-dog/ and test-food/ "
                       "(any case, plural allowed).")
        row, self.test_dir_edit = self._folder_row("folder with dog/ and food/ sub-folders")
        layout.addRow("Test:", row)
        row, self.train_dir_edit = self._folder_row("for fine-tuning only")
        layout.addRow("Train:", row)

    def _folder_row(self, placeholder: str) -> tuple[QHBoxLayout, QLineEdit]:
        row = QHBoxLayout()
        edit = QLineEdit()
        edit.setPlaceholderText(placeholder)
        button = QPushButton("Browse…")
        button.clicked.connect(partial(self._browse_folder, edit))
        row.addWidget(edit, 1)
        row.addWidget(button)
        return row, edit

    def _browse_folder(self, edit: QLineEdit) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder", edit.text() or str(Path.home()))
        if folder:
            edit.setText(folder)


class RunBox(QGroupBox):
    """The two ways to a 2-class model (zero-shot remap, fine-tuned head), Stop, progress and status."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Make a 2-class model", parent)
        layout = QVBoxLayout(self)
        self.zero_shot_button = QPushButton("Evaluate zero-shot remap")
        self.zero_shot_button.setToolTip("Sum the softmax probabilities of each group's classes, renormalise, "
                                         "predict the largest. No training.")
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
        self.unfreeze_check = QCheckBox("also train the last block")
        self.unfreeze_check.setToolTip("Slower: the last block of the backbone learns too (its features are not "
                                       "cached).")
        form.addRow("Epochs:", self.epochs_spin)
        form.addRow("Learning rate:", self.lr_spin)
        form.addRow(self.unfreeze_check)
        layout.addLayout(form)
        buttons = QHBoxLayout()
        self.finetune_button = QPushButton("Fine-tune new head")
        self.finetune_button.setToolTip("Replace the 1000-way final layer by a new N-way one and train it on the "
                                        "training folder; the backbone stays frozen and its features are cached.")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
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
