"""Mistakes panel: the confusion matrix on the validation set and a gallery of
the most confidently wrong examples (true class, prediction, confidence)."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QProgressBar, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

from engine.events import Progress
from engine.imaging import nearest_upscale
from gui import theme
from gui.panels.base import Panel
from gui.widgets.fit import FitsViewportHeight
from gui.widgets.flow import as_strip
from gui.widgets.run_hint import NoModelHint, PageStack

ICON_SIZE = 96


def _pixmap(image: np.ndarray) -> QPixmap:
    image = np.ascontiguousarray(image if image.shape[2] == 3 else np.repeat(image, 3, axis=2))
    h, w, _ = image.shape
    qimage = QImage(image.data, w, h, 3 * w, QImage.Format_RGB888).copy()
    return QPixmap.fromImage(qimage)


class MistakesPanel(FitsViewportHeight, Panel):
    title = "Mistakes"
    description = "Confusion matrix and the most confidently wrong validation images."

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.run = None
        self.result = None
        self._texts: list[pg.TextItem] = []

        layout = QVBoxLayout(self)
        controls = QHBoxLayout()
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.setToolTip("Classify the validation set with the current model.")
        self.evaluate_button.clicked.connect(self.evaluate)
        controls.addWidget(self.evaluate_button)
        controls.addWidget(QLabel("Shown:"))
        self.count_spin = QSpinBox()
        self.count_spin.setRange(1, 200)
        self.count_spin.setValue(32)
        controls.addWidget(self.count_spin)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        controls.addWidget(self.progress, 1)
        layout.addWidget(as_strip(controls))  # wraps instead of widening the panel
        self.summary = QLabel("")
        layout.addWidget(self.summary)

        self.stack = PageStack()
        self.hint = NoModelHint(ctx)
        self.stack.addWidget(self.hint)
        content = QWidget()
        row = QHBoxLayout(content)
        # the axis labels say rows are true, columns predicted
        self.matrix_plot = pg.PlotWidget(title="Confusion matrix")
        self.matrix_plot.setLabel("bottom", "predicted class")
        self.matrix_plot.setLabel("left", "true class")
        self.matrix_plot.setAspectLocked(True)
        self.matrix_plot.invertY(True)
        self.matrix_plot.setMouseEnabled(False, False)
        self.matrix_image = pg.ImageItem(axisOrder="row-major")  # rows = true class, as in the matrix
        self.matrix_image.setColorMap(pg.colormap.get("CET-L12") if "CET-L12" in pg.colormap.listMaps() else
                                      pg.ColorMap([0, 1], [QColor("#f7fbff"), QColor("#08306b")]))
        self.matrix_plot.addItem(self.matrix_image)
        # Refit whenever the view changes size (a window resize, a larger text size
        # squeezing the plot), or the aspect lock leaves the last column outside.
        self.matrix_plot.getViewBox().sigResized.connect(self._fit_matrix)
        theme.notifier.changed.connect(self._on_theme_changed)
        row.addWidget(self.matrix_plot, 1)
        gallery_box = QVBoxLayout()
        gallery_box.addWidget(QLabel("Most confidently wrong (most confident first):"))
        self.gallery = QListWidget()
        self.gallery.setViewMode(QListWidget.IconMode)
        self.gallery.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
        self.gallery.setResizeMode(QListWidget.Adjust)
        self.gallery.setMovement(QListWidget.Static)
        self.gallery.setSpacing(6)
        self.gallery.setWordWrap(True)
        gallery_box.addWidget(self.gallery, 1)
        row.addLayout(gallery_box, 1)
        self.stack.addWidget(content)
        layout.addWidget(self.stack, 1)

        self.jobs.event.connect(self.on_event)
        self.jobs.succeeded.connect(self.show_result)
        self.jobs.running_changed.connect(self._on_running)
        self.follow_run(self.on_run_changed)

    def on_run_changed(self, run) -> None:
        if run is None:
            return
        self.run = run
        self.stack.setCurrentIndex(1)
        self.evaluate()

    def evaluate(self) -> None:
        from engine.introspect import run_mistakes

        if self.run is None:
            return
        run, count = self.run, self.count_spin.value()
        self.jobs.start(lambda: run_mistakes(run, count))

    def _on_running(self, running: bool) -> None:
        self.evaluate_button.setEnabled(not running)

    def on_event(self, event) -> None:
        if isinstance(event, Progress):
            self.progress.setValue(int(event.fraction * 1000))
            self.progress.setFormat(event.message)

    def show_result(self, result) -> None:
        self.result = result
        self.progress.setValue(1000)
        self.progress.setFormat("Done")
        matrix = result.confusion
        k = len(result.class_names)
        # Log-like scale so the off-diagonal errors are visible next to the large diagonal.
        self.matrix_image.setImage(np.log1p(matrix.astype(np.float32)), levels=(0, np.log1p(max(1, matrix.max()))))
        for item in self._texts:
            self.matrix_plot.removeItem(item)
        self._texts = []
        high = np.log1p(max(1, matrix.max()))
        font = self._cell_font(k)
        if k <= 30:
            for i in range(k):
                for j in range(k):
                    value = int(matrix[i, j])
                    dark = np.log1p(value) > 0.55 * high
                    text = pg.TextItem(str(value), color="w" if dark else "k", anchor=(0.5, 0.5))
                    text.setFont(font)
                    text.setPos(j + 0.5, i + 0.5)
                    self.matrix_plot.addItem(text)
                    self._texts.append(text)
        ticks = [[(i + 0.5, name) for i, name in enumerate(result.class_names)]]
        self.matrix_plot.getAxis("bottom").setTicks(ticks)
        self.matrix_plot.getAxis("left").setTicks(ticks)
        self._fit_matrix()
        wrong = int(matrix.sum() - np.trace(matrix))
        self.summary.setText(f"<b>{self.run.name if self.run else ''}</b> on {int(matrix.sum())} validation images: "
                             f"accuracy {result.accuracy:.1%}, {wrong} wrong.")
        self.gallery.clear()
        self._fit_gallery_grid()
        for image, true, pred, conf, p_true in zip(result.images, result.true_labels, result.predicted,
                                                   result.confidence, result.true_probability):
            big = nearest_upscale(image, max(1, ICON_SIZE // max(image.shape[:2])))
            item = QListWidgetItem(QIcon(_pixmap(big)),
                                   f"true {result.class_names[true]}\npred {result.class_names[pred]} {conf:.0%}")
            item.setToolTip(f"True class {result.class_names[true]} got {p_true:.1%}; "
                            f"predicted {result.class_names[pred]} with {conf:.1%}.")
            item.setTextAlignment(Qt.AlignHCenter)
            self.gallery.addItem(item)

    @staticmethod
    def _cell_font(k: int) -> QFont:
        # Smaller numbers for more classes, all following the text size (gui.theme).
        font = QFont()
        font.setPointSizeF(theme.point_size(max(0.7, 1.4 - 0.04 * k)))
        return font

    def _fit_matrix(self, *_args) -> None:
        if self.result is not None:
            k = len(self.result.class_names)
            self.matrix_plot.setRange(xRange=(0, k), yRange=(0, k), padding=0.02)

    def _fit_gallery_grid(self) -> None:
        # Icon mode wraps captions at the icon's width: make each cell wide enough for
        # its longest caption line at the current text size, so "pred 2 100%" stays one line.
        if self.result is None:
            return
        metrics = self.gallery.fontMetrics()
        longest = max((metrics.horizontalAdvance(f"pred {name} 100%") for name in self.result.class_names),
                      default=ICON_SIZE)
        width = max(ICON_SIZE, longest) + 12
        self.gallery.setGridSize(QSize(width, ICON_SIZE + 2 * metrics.height() + 16))

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().changeEvent(event)
        if event.type() == QEvent.FontChange:
            # The theme's signal can come before the gallery has its new font (F5): measure again
            # once it has, or the captions are elided ("pred …").
            QTimer.singleShot(0, self._fit_gallery_grid)

    def _on_theme_changed(self) -> None:
        self._fit_gallery_grid()
        if self.result is not None:
            font = self._cell_font(len(self.result.class_names))
            for text in self._texts:
                text.setFont(font)
            self._fit_matrix()

    def save_state(self) -> dict:
        return {"count": self.count_spin.value()}

    def restore_state(self, state: dict) -> None:
        self.count_spin.setValue(int(state.get("count", self.count_spin.value())))

    def apply_lesson(self, setup: dict) -> None:
        self.restore_state(setup)
        if self.run is not None:
            self.evaluate()
