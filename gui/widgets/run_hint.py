"""Shared bits of the "Inside" panels: the hint shown until a trained model
exists, and a short real training run for screenshots."""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QStackedWidget, QVBoxLayout, QWidget

NO_MODEL_TEXT = "No trained model yet. Train a network in the Training tab or load a checkpoint."


class _Page(QWidget):
    """One page of a PageStack: it has a size only while it is the current page."""

    def __init__(self, content: QWidget, stack: QStackedWidget):
        super().__init__()
        self._stack = stack
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(content)

    def _current(self) -> bool:
        return self._stack.currentWidget() is self

    def sizeHint(self):  # noqa: N802 (Qt name)
        return super().sizeHint() if self._current() else QSize(0, 0)

    def minimumSizeHint(self):  # noqa: N802 (Qt name)
        return super().minimumSizeHint() if self._current() else QSize(0, 0)

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt name)
        return super().heightForWidth(width) if self._current() else 0


class PageStack(QStackedWidget):
    """A stacked widget as large as its current page only. QStackedWidget takes the largest page,
    height-for-width included, so the short "no model yet" hint made a panel scroll because the
    hidden content page, word-wrapped, would be 1000 px high. Pages keep their indices."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.currentChanged.connect(self._on_current_changed)

    def addWidget(self, widget: QWidget) -> int:  # noqa: N802 (Qt name)
        return super().addWidget(_Page(widget, self))

    def _on_current_changed(self, _index: int) -> None:
        for number in range(self.count()):
            self.widget(number).updateGeometry()
        self.updateGeometry()


class NoModelHint(QWidget):
    """'No model yet' with buttons to go to training or open a checkpoint."""

    run_loaded = Signal(object)

    def __init__(self, ctx, text: str = NO_MODEL_TEXT, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        layout = QVBoxLayout(self)
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        self.label.setAlignment(Qt.AlignCenter)
        font = self.label.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        self.label.setFont(font)
        layout.addStretch(1)
        layout.addWidget(self.label)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.train_button = QPushButton("Go to Training")
        self.train_button.clicked.connect(self._go_training)
        self.load_button = QPushButton("Load checkpoint…")
        self.load_button.clicked.connect(self._load)
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.load_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        layout.addStretch(2)

    def _go_training(self) -> None:
        self.ctx.focus_panel_requested.emit("Training")

    def _load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a ConvScope checkpoint", "",
                                              "Checkpoints (*.pt);;All files (*)")
        if path:
            self.load_path(path)

    def load_path(self, path: str) -> None:
        from engine.checkpoint import load_run
        from engine.errors import ConvScopeError

        try:
            run = load_run(path)
        except ConvScopeError as exc:
            self.ctx.show_error(exc.title, str(exc))
            return
        self.ctx.set_run(run)


def ensure_demo_run(panel, timeout_s: float = 120.0, track_layer_stats: bool = False, on_event=None):
    """For screenshots: if no model exists yet, train LeNet-5 on MNIST-5k for two
    epochs with the real trainer (a couple of seconds) and publish it. Returns the run."""
    from engine.data import load_dataset
    from engine.spec import load_preset
    from engine.train import TrainSettings, train_job
    from gui.screenshots import wait_for
    from gui.workers import JobSlot

    if panel.ctx.run is not None and not track_layer_stats:
        return panel.ctx.run
    slot = JobSlot(panel)
    done = _Outcome()
    if on_event is not None:
        slot.event.connect(on_event)
    slot.succeeded.connect(done.succeeded)
    slot.failed.connect(done.failed)
    data = load_dataset("mnist5k")
    settings = TrainSettings(epochs=2, track_layer_stats=track_layer_stats)
    slot.start(lambda: train_job(load_preset("lenet5"), data, settings))
    wait_for(done.finished, timeout_s)
    slot.wait(2000)
    if done.result is not None:
        panel.ctx.set_run(done.result.run)
    return panel.ctx.run


class _Outcome:
    def __init__(self):
        self.result = None
        self.ended = False

    def succeeded(self, result) -> None:
        self.result, self.ended = result, True

    def failed(self, _title: str, _message: str) -> None:
        self.ended = True

    def finished(self) -> bool:
        return self.ended
