"""The convolution in numbers (CNN Explainer's walk-through): for one output position, the input
patch with its numbers, × the kernel, = the elementwise products; their sum over every input
channel, + the bias, = the value the real layer computed; then the ReLU and the max pooling that
follow, the same way. The numbers come from engine.diagram.ConvWalk (engine.conv_numbers); this
widget only paints them.

Arrow keys move the output position, Play steps through the positions with a timer. The text
shrinks to fit the width, so a 7x7 kernel still reads at 200 % type on a 1280 px projector."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QPushButton, QScrollArea, QSizePolicy, QSpinBox, QVBoxLayout,
                               QWidget)

from engine.errors import ConvScopeError
from gui import theme


def number_text(value: float, decimals: int) -> str:
    """A value as the walk-through writes it (a true minus sign, so columns line up)."""
    if not np.isfinite(value):
        return "pad"
    text = f"{value:.{decimals}f}"
    return text.replace("-", "−") if not text.lstrip("-").strip("0.") == "" else text.lstrip("-")


def parse_number(text: str) -> float:
    return float(text.replace("−", "-"))


class NumberGrids(QWidget):
    """Paints labelled grids of numbers side by side with operators between them:
    [(caption, values (k, k), decimals, padding mask or None, highlight cell or None), '×', ...]."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.parts: list = []
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        theme.notifier.changed.connect(self._fit_height)

    def set_parts(self, parts: list) -> None:
        self.parts = parts
        self._fit_height()
        self.update()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._fit_height()

    def _fit_height(self) -> None:
        """As tall as the grids need at this width (the type shrinks with the width)."""
        height = self.heightForWidth(max(1, self.width()))
        if height != self.minimumHeight():
            self.setMinimumHeight(height)
            self.updateGeometry()

    def _cells(self) -> int:
        return sum(p[1].shape[1] for p in self.parts if not isinstance(p, str))

    def _layout(self, width: float) -> tuple[QFont, float]:
        """The font, cell width and row height that fit every grid across `width` pixels (rows are
        one line high, not square: a 5x5 kernel of three-decimal numbers stays short)."""
        font = QFont(self.font())
        metrics = QFontMetricsF(font)
        widest = max((len(number_text(float(v), p[2])) for p in self.parts if not isinstance(p, str)
                      for v in np.asarray(p[1]).reshape(-1)), default=4)
        cell = metrics.horizontalAdvance("0" * max(widest, 2)) + metrics.height() * 0.5
        operators = sum(1 for p in self.parts if isinstance(p, str))
        grids = len(self.parts) - operators
        needed = self._cells() * cell + operators * metrics.height() * 2 + 4 * grids + 16
        if needed > width and needed > 0:  # shrink the type rather than cut numbers off
            factor = max(0.45, width / needed)
            font.setPointSizeF(max(6.0, font.pointSizeF() * factor))
            cell *= factor
        return font, cell, QFontMetricsF(font).height() * 1.5

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        if not self.parts:
            return QSize(400, 120)
        font, cell, row = self._layout(10_000)
        rows = max(p[1].shape[0] for p in self.parts if not isinstance(p, str))
        metrics = QFontMetricsF(font)
        width = self._cells() * cell + sum(1 for p in self.parts if isinstance(p, str)) * metrics.height() * 2
        return QSize(int(width) + 16, int(rows * row + metrics.height() * 1.6) + 8)

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt name)
        if not self.parts:
            return 120
        font, cell, row = self._layout(width)
        rows = max(p[1].shape[0] for p in self.parts if not isinstance(p, str))
        return int(rows * row + QFontMetricsF(font).height() * 1.6) + 8

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt name)
        return True

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        painter.fillRect(self.rect(), QColor(theme.theme_colour("base")))
        if not self.parts:
            painter.end()
            return
        font, cell, row = self._layout(self.width())
        painter.setFont(font)
        metrics = QFontMetricsF(font)
        text = QColor(theme.theme_colour("text"))
        muted = QColor(theme.theme_colour("muted"))
        positive, negative, mark = QColor(theme.colour(0)), QColor(theme.colour(3)), QColor(theme.colour(1))
        top = metrics.height() * 1.3
        x = 4.0
        for part in self.parts:
            if isinstance(part, str):  # an operator between two grids
                rows = max(p[1].shape[0] for p in self.parts if not isinstance(p, str))
                painter.setPen(text)
                painter.drawText(QRectF(x, top, metrics.height() * 2, rows * row), Qt.AlignCenter, part)
                x += metrics.height() * 2
                continue
            caption, values, decimals, padding, highlight = part
            values = np.asarray(values, np.float64)
            rows, cols = values.shape
            painter.setPen(text)
            painter.drawText(QRectF(x, 0, cols * cell, top), Qt.AlignCenter | Qt.AlignBottom,
                             metrics.elidedText(caption, Qt.ElideRight, cols * cell))
            finite = values[np.isfinite(values)]
            bound = float(np.abs(finite).max()) if finite.size else 1.0
            for r in range(rows):
                for c in range(cols):
                    rect = QRectF(x + c * cell, top + r * row, cell, row)
                    value = values[r, c]
                    pad = padding is not None and bool(padding[r, c])
                    if pad or not np.isfinite(value):
                        painter.fillRect(rect, QBrush(muted, Qt.BDiagPattern))
                    elif bound > 0:
                        fill = QColor(positive if value >= 0 else negative)
                        fill.setAlpha(int(150 * min(1.0, abs(value) / bound)))
                        painter.fillRect(rect, fill)
                    painter.setPen(QPen(muted, 1))
                    painter.drawRect(rect)
                    painter.setPen(muted if pad else text)
                    painter.drawText(rect, Qt.AlignCenter, number_text(float(value), decimals))
                    if highlight == (r, c):
                        painter.setPen(QPen(mark, max(2.0, theme.plot_line_width())))
                        painter.drawRect(rect.adjusted(1, 1, -1, -1))
            x += cols * cell + 4
        painter.end()


class ConvNumbersView(QWidget):
    """The walk-through of one conv layer at one output position; `set_walker(walker, (H, W))`
    with walker(y, x) -> engine.diagram.ConvWalk. `values_text` holds every number as shown."""

    position_changed = Signal(int, int)  # y, x

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFocusPolicy(Qt.StrongFocus)
        self.walker = None
        self.out_hw = (0, 0)
        self.y = self.x = 0
        self.walk = None
        self.values_text: dict[str, str] = {}
        layout = QVBoxLayout(self)
        self.title = QLabel("Click a pixel of a conv layer's map to see how it was computed.")
        self.title.setWordWrap(True)
        layout.addWidget(self.title)
        controls = QHBoxLayout()
        self.channel_label = QLabel("Input channel:")
        controls.addWidget(self.channel_label)
        self.channel_spin = QSpinBox()
        self.channel_spin.setToolTip("The grids show one input channel; the sum adds up all of them.")
        self.channel_spin.valueChanged.connect(self._show)
        controls.addWidget(self.channel_spin)
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Step through the output positions one by one (arrow keys move by hand).")
        self.play_button.toggled.connect(self._on_play)
        controls.addWidget(self.play_button)
        self.next_button = QPushButton("Next ▶")
        self.next_button.setToolTip("The next output position (→ also works).")
        self.next_button.clicked.connect(self.step_next)
        controls.addWidget(self.next_button)
        controls.addStretch(1)
        layout.addLayout(controls)
        # The grids and sums scroll when a small window (a dock at 200 % text) cannot hold them all.
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(0, 0, 0, 0)
        self.grids = NumberGrids()
        body_layout.addWidget(self.grids)
        self.sum_label = QLabel()
        self.sum_label.setWordWrap(True)
        self.sum_label.setTextFormat(Qt.RichText)
        body_layout.addWidget(self.sum_label)
        self.pool_grids = NumberGrids()
        body_layout.addWidget(self.pool_grids)
        self.after_label = QLabel()
        self.after_label.setWordWrap(True)
        self.after_label.setTextFormat(Qt.RichText)
        body_layout.addWidget(self.after_label)
        body_layout.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.scroll.setWidget(body)
        self.scroll.setFocusProxy(self)
        layout.addWidget(self.scroll, 1)
        self.timer = QTimer(self)
        self.timer.setInterval(600)  # slow enough to read the sum change
        self.timer.timeout.connect(self.step_next)

    # ------------------------------------------------------------ source and position
    def set_walker(self, walker, out_hw: tuple[int, int], y: int = 0, x: int = 0, title: str = "") -> None:
        self.walker, self.out_hw, self.title_text = walker, tuple(out_hw), title
        self.move_to(y, x)

    def refresh(self) -> None:
        """The same position again (new weights, a new probe)."""
        if self.walker is not None:
            self.move_to(self.y, self.x)

    def move_to(self, y: int, x: int) -> None:
        height, width = self.out_hw
        if not height or not width or self.walker is None:
            return
        self.y, self.x = min(max(0, y), height - 1), min(max(0, x), width - 1)
        try:
            self.walk = self.walker(self.y, self.x)
        except ConvScopeError as exc:
            self.walk = None
            self.title.setText(str(exc))
            self.grids.set_parts([])
            self.pool_grids.set_parts([])
            self.sum_label.setText("")
            self.after_label.setText("")
            return
        channels = self.walk.step.patch.shape[0]
        self.channel_spin.blockSignals(True)
        self.channel_spin.setRange(0, channels - 1)
        self.channel_spin.blockSignals(False)
        self.channel_spin.setVisible(channels > 1)
        self.channel_label.setVisible(channels > 1)
        self._show()
        self.position_changed.emit(self.y, self.x)

    def step_next(self) -> None:
        height, width = self.out_hw
        if height and width:
            index = (self.y * width + self.x + 1) % (height * width)
            self.move_to(*divmod(index, width))

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt name)
        moves = {Qt.Key_Left: (0, -1), Qt.Key_Right: (0, 1), Qt.Key_Up: (-1, 0), Qt.Key_Down: (1, 0)}
        if event.key() in moves:
            dy, dx = moves[event.key()]
            self.move_to(self.y + dy, self.x + dx)
            event.accept()
            return
        super().keyPressEvent(event)

    def _on_play(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        if playing:
            self.timer.start()
        else:
            self.timer.stop()

    # ------------------------------------------------------------ drawing
    def _show(self, *_args) -> None:
        walk = self.walk
        if walk is None:
            return
        step = walk.step
        whole = all(float(v).is_integer() for v in np.concatenate([step.patch.reshape(-1), step.kernel.reshape(-1)]))
        decimals = 0 if whole else 2
        total_decimals = 0 if whole and float(step.bias).is_integer() else 4
        channel = min(self.channel_spin.value(), step.patch.shape[0] - 1)
        _, height, width = walk.out_shape
        channels = step.patch.shape[0]
        self.title.setText(f"<b>{walk.layer}</b> map {step.channel} at row {self.y}, column {self.x} (of "
                           f"{height}×{width}), reading <b>{walk.source}</b> ({channels} channel"
                           f"{'s' if channels > 1 else ''}). Arrow keys move.")
        padding = walk.padding_mask()
        self.grids.set_parts([
            ("input", step.patch[channel], decimals, padding, None), "×",
            ("kernel", step.kernel[channel], decimals and 3, None, None), "=",
            ("products", step.products[channel], decimals and 3, padding, None),
        ])
        partial = step.products.reshape(step.products.shape[0], -1).sum(axis=1, dtype=np.float64)
        fmt = lambda v: number_text(float(v), total_decimals)  # noqa: E731
        self.values_text = {"channel_sum": fmt(partial[channel]), "total": fmt(step.total), "bias": fmt(step.bias),
                            "output": fmt(step.output), "computed": fmt(walk.computed)}
        if len(partial) > 1:
            terms = [fmt(v) if v >= 0 else f"({fmt(v)})" for v in partial[:8]]  # "+ (−0.8)", not "+ −0.8"
            shown = " + ".join(terms) + (" + …" if len(partial) > 8 else "")
            sums = (f"Σ products of channel {channel} = {fmt(partial[channel])}.<br>"
                    f"Over all {len(partial)} channels: {shown} = <b>{self.values_text['total']}</b>")
        else:
            sums = f"Σ products = <b>{self.values_text['total']}</b>"
        agree = "✓" if abs(step.output - walk.computed) <= 1e-4 * max(1.0, abs(walk.computed)) else "✗"
        self.sum_label.setText(f"{sums}<br>+ bias {self.values_text['bias']} = <b>{self.values_text['output']}</b>"
                               f" &nbsp; — the layer computed <b>{self.values_text['computed']}</b> {agree}")
        after = []
        previous = self.values_text["computed"]
        for index, (name, what, value) in enumerate(walk.after):
            self.values_text[f"after_{index}"] = fmt(value)
            formula = f"max(0, {previous})" if what.startswith("ReLU") else f"{what} of {previous}"
            after.append(f"{name}: {formula} = <b>{fmt(value)}</b>")
            previous = fmt(value)
        pool_parts = []
        if walk.pool is not None:
            pool = walk.pool
            self.values_text["pool"] = fmt(pool.output)
            self.values_text["pool_computed"] = fmt(walk.pool_computed)
            winner = (int(np.flatnonzero(pool.rows == pool.winner[0])[0]),
                      int(np.flatnonzero(pool.cols == pool.winner[1])[0]))
            mine = (int(np.flatnonzero(pool.rows == self.y)[0]), int(np.flatnonzero(pool.cols == self.x)[0]))
            pool_parts = [(walk.pool_layer, pool.window, total_decimals if decimals else 0, None, winner)]
            here = "this position's value is the winner" if mine == winner else \
                f"this position sits at row {mine[0]}, column {mine[1]} of the window"
            after.append(f"{walk.pool_layer} (max pooling) at row {pool.y}, column {pool.x}: the largest of the window "
                         f"= <b>{self.values_text['pool']}</b> ({here}); the layer computed "
                         f"<b>{self.values_text['pool_computed']}</b>")
        self.pool_grids.set_parts(pool_parts)
        self.pool_grids.setVisible(bool(pool_parts))
        self.after_label.setText("<br>".join(after))

    def shown_numbers(self) -> dict[str, float]:
        """Every number the walk-through shows, as shown (tests compare them with the layers)."""
        return {key: parse_number(text) for key, text in self.values_text.items()}
