"""Pieces the ImageNet panels (Predict, Saliency, Adversarial, Class visualization) share."""
from __future__ import annotations

from typing import Callable

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from engine.errors import ConvScopeError
from gui.widgets.image_source import ImageSourceBar, dropped_path
from gui.widgets.model_chooser import ModelChooser


def fit_without_scrolling(panel: QWidget) -> None:
    """Word-wrapped labels give the layout height-for-width, and the window's scroll area
    then sizes the panel to its preferred height (taller than the screen). Single-line
    labels that may be cut (full text in the tooltip) let the images shrink instead."""
    for label in panel.findChildren(QLabel):
        if label.wordWrap():
            label.setWordWrap(False)
            label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)


def source_and_model_row(panel, on_image: Callable) -> QHBoxLayout:
    """Photo / file / paste bar and the model choice; sets panel.source and panel.model_choice."""
    row = QHBoxLayout()
    panel.source = ImageSourceBar()
    panel.source.image_chosen.connect(on_image)
    panel.source.failed.connect(panel.ctx.show_error)
    row.addWidget(panel.source)
    row.addWidget(QLabel("Model:"))
    # Beside Photo / Open file / Paste / Camera the chooser fits 1280 px at 200 % text only this narrow;
    # it takes whatever width is left (the whole name on a wider screen), elided below that.
    panel.model_choice = ModelChooser()
    panel.model_choice.setMinimumContentsLength(14)
    row.addWidget(panel.model_choice, 1)
    return row


def add_run_stop(row: QHBoxLayout, panel, run_text: str, on_run: Callable) -> None:
    """Run and Stop buttons; sets panel.run_button and stop_button (the panel provides stop)."""
    panel.run_button = QPushButton(run_text)
    panel.run_button.clicked.connect(on_run)
    row.addWidget(panel.run_button)
    panel.stop_button = QPushButton("Stop")
    panel.stop_button.setEnabled(False)
    panel.stop_button.clicked.connect(panel.stop)
    row.addWidget(panel.stop_button)


class StatusLine(QLabel):
    """Status beside the buttons, on up to two lines: it wraps at word boundaries where one line
    is too narrow (1280 px at 200 %) and elides only what two lines cannot hold; the whole text
    is in its tooltip, text() returns it and elided() says whether any of it is hidden. Two lines
    are always reserved, so a long result does not move the images."""

    LINES = 2

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self._full = ""
        self._shown = ""
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.setAlignment(Qt.AlignLeft | Qt.AlignVCenter)
        self.setText(text)

    def setText(self, text: str, tooltip: str | None = None) -> None:  # noqa: N802 (Qt name)
        self._full = str(text)
        self.setToolTip(self._full if tooltip is None else tooltip)
        self._wrap()

    def text(self) -> str:
        return self._full

    def shown_text(self) -> str:
        """What is on screen (lines joined by a space)."""
        return self._shown

    def elided(self) -> bool:
        return self._shown != self._full

    def _lines(self, width: int) -> list[str]:
        metrics = self.fontMetrics()
        words, lines = self._full.split(" "), []
        while words and len(lines) < self.LINES - 1:
            line = words.pop(0)
            while words and metrics.horizontalAdvance(f"{line} {words[0]}") <= width:
                line = f"{line} {words.pop(0)}"
            if metrics.horizontalAdvance(line) > width:  # one word wider than the line
                words.insert(0, line)
                break
            lines.append(line)
        if words:
            lines.append(metrics.elidedText(" ".join(words), Qt.ElideRight, width))
        return lines

    def _wrap(self) -> None:
        lines = self._lines(max(0, self.contentsRect().width()))
        self._shown = " ".join(lines)
        super().setText("\n".join(lines))

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._wrap()

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().changeEvent(event)
        if event.type() == event.Type.FontChange:
            self._wrap()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        metrics = self.fontMetrics()
        return QSize(metrics.horizontalAdvance(self._full) + 4, self.LINES * metrics.lineSpacing())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        metrics = self.fontMetrics()
        return QSize(metrics.horizontalAdvance("Step 10…"), self.LINES * metrics.lineSpacing())


def add_run_stop_save(row: QHBoxLayout, panel, run_text: str, on_run: Callable, hint: str) -> None:
    """Run / Stop / Save PNG… buttons and a status line; sets panel.run_button,
    stop_button, save_button and status (the panel provides stop and save_png_dialog)."""
    add_run_stop(row, panel, run_text, on_run)
    panel.save_button = QPushButton("Save PNG…")
    panel.save_button.setEnabled(False)
    panel.save_button.clicked.connect(panel.save_png_dialog)
    row.addWidget(panel.save_button)
    panel.status = StatusLine(hint)
    row.addWidget(panel.status, 1)


def save_png_or_report(ctx, path: str, image: np.ndarray | None) -> None:
    """Write the image; a failure becomes a message, success a status line."""
    from engine.images import save_png

    if image is None:
        return
    try:
        save_png(path, image)
    except (OSError, ConvScopeError) as exc:
        ctx.show_error("Could not save", f"{path}: {exc}")
        return
    ctx.status(f"Saved {path}")


class SentImages:
    """Mixin for an ImageNet panel with set_image(image, caption): an image another panel sends
    here because the user asked ("Inspect in Saliency", "Fool it") becomes its photo. Connect
    ctx.image_sent to _on_image_sent; images sent to other panels are ignored."""

    def _on_image_sent(self, image, caption: str, panel_title: str) -> None:
        if panel_title == self.title and image is not None:
            self.set_image(image, caption)


class ImageFileDrops:
    """Mixin for a panel with an ImageSourceBar: a dropped image file loads through it."""

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if dropped_path(event):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt name)
        path = dropped_path(event)
        if path:
            self.source.load_path(path)
