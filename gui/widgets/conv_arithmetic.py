"""Convolution arithmetic: input size, kernel, padding, stride and dilation ->
output size, with the formula filled in and an animated sliding window.

The numbers come from engine.conv_arithmetic (integers only); this widget only
paints them: the padded input grid on the left (padding cells hatched), the
kernel taps of the current position highlighted, and the output grid on the
right with the cell being computed. The "In numbers" tab shows the same position
computed by a real Conv2d with the same stride, padding and dilation (whole-number
input and kernel from engine.diagram.arithmetic_example), then ReLU and 2x2 max pooling.
"""
from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QPen
from PySide6.QtWidgets import (QFormLayout, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSlider,
                               QSpinBox, QTabWidget, QVBoxLayout, QWidget)

from engine.conv_arithmetic import ConvGeometry
from engine.errors import SpecError
from gui import theme
from gui.widgets.conv_numbers_view import ConvNumbersView

VIEWS = ("geometry", "numbers")


class SlidingWindowCanvas(QWidget):
    """Paints the padded input, the current kernel taps and the output grid."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.geometry_: ConvGeometry | None = None
        self.position = 0
        self.setMinimumSize(240, 160)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        theme.notifier.changed.connect(self.update)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        return QSize(560, 300)

    def set_geometry(self, geometry: ConvGeometry | None) -> None:
        self.geometry_ = geometry
        self.position = 0
        self.update()

    def positions(self) -> list[tuple[int, int]]:
        return self.geometry_.window_positions() if self.geometry_ is not None else []

    def current_window(self) -> tuple[int, int] | None:
        positions = self.positions()
        return positions[self.position % len(positions)] if positions else None

    def step(self) -> None:
        count = len(self.positions())
        if count:
            self.position = (self.position + 1) % count
            self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        fg = QColor(theme.theme_colour("text"))
        muted = QColor(theme.theme_colour("muted"))
        painter.fillRect(self.rect(), QColor(theme.theme_colour("base")))
        g = self.geometry_
        if g is None:
            painter.setPen(fg)
            painter.drawText(self.rect(), Qt.AlignCenter, "No valid convolution: see the message above.")
            return
        padded, out = g.padded_size, g.output_size()
        label_h = self.fontMetrics().height() * 1.6
        gap = max(24.0, self.width() * 0.06)
        cell = min((self.width() - gap - 16) / (padded + out), (self.height() - label_h - 8) / max(padded, 1))
        cell = max(4.0, cell)
        left = 8.0
        top = label_h
        window = self.current_window()
        taps = set(g.window_cells(*window)) if window else set()
        input_colour = QColor(theme.colour(0))
        tap_colour = QColor(theme.colour(1))
        pad_brush = QBrush(muted, Qt.BDiagPattern)
        painter.setPen(fg)
        label = f"Input {g.input_size}×{g.input_size}, pad {g.padding}"
        label_w = padded * cell + gap * 0.8
        painter.drawText(QRectF(left, 0, label_w, label_h), Qt.AlignLeft | Qt.AlignVCenter,
                         self.fontMetrics().elidedText(label, Qt.ElideRight, int(label_w)))
        for r in range(padded):
            for c in range(padded):
                rect = QRectF(left + c * cell, top + r * cell, cell, cell)
                is_pad = not (g.padding <= r < g.padding + g.input_size and g.padding <= c < g.padding + g.input_size)
                fill = QColor(input_colour)
                fill.setAlpha(40 if not is_pad else 0)
                painter.fillRect(rect, fill)
                if is_pad:
                    painter.fillRect(rect, pad_brush)
                if (r, c) in taps:
                    tap = QColor(tap_colour)
                    tap.setAlpha(200)
                    painter.fillRect(rect.adjusted(1, 1, -1, -1), tap)
                painter.setPen(QPen(muted, 1))
                painter.drawRect(rect)
        if window:
            span = g.effective_kernel
            painter.setPen(QPen(tap_colour, max(2.0, theme.plot_line_width())))
            painter.drawRect(QRectF(left + window[1] * cell, top + window[0] * cell, span * cell, span * cell))
        out_left = left + padded * cell + gap
        painter.setPen(fg)
        painter.drawText(QRectF(out_left, 0, max(out * cell, 200), label_h), Qt.AlignLeft | Qt.AlignVCenter,
                         f"Output {out}×{out}")
        out_index = self.position % max(1, out * out)
        for r in range(out):
            for c in range(out):
                rect = QRectF(out_left + c * cell, top + r * cell, cell, cell)
                if r * out + c < out_index:
                    done = QColor(theme.colour(2))
                    done.setAlpha(90)
                    painter.fillRect(rect, done)
                if r * out + c == out_index:
                    painter.fillRect(rect, tap_colour)
                painter.setPen(QPen(muted, 1))
                painter.drawRect(rect)
        painter.end()


class ConvArithmeticWidget(QWidget):
    """Controls + formula + animated canvas. `set_values(...)` sets all five at once."""

    changed = Signal(object)  # ConvGeometry or None when impossible

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("ConvArithmetic")
        # Controls on the left, the animation on the right: fits a bottom dock at 250% type.
        layout = QHBoxLayout(self)
        left = QVBoxLayout()
        layout.addLayout(left, 2)
        form = QFormLayout()
        self.spins: dict[str, QSpinBox] = {}
        specs = [
            ("input_size", "Input size", 5, 1, 16, "Width (= height) of the input feature map in pixels."),
            ("kernel", "Kernel", 3, 1, 7, "Width (= height) of the filter: how many input pixels one weight row sees."),
            ("padding", "Padding", 1, 0, 4,
             "Rings of zeros added around the input so border pixels are used as often."),
            ("stride", "Stride", 1, 1, 4,
             "How many pixels the window jumps between positions; stride 2 halves the size."),
            ("dilation", "Dilation", 1, 1, 3, "Spacing between kernel taps: a 3x3 kernel with dilation 2 spans 5x5."),
        ]
        for key, label, value, lo, hi, tip in specs:
            spin = QSpinBox()
            spin.setRange(lo, hi)
            spin.setValue(value)
            spin.setToolTip(tip)
            spin.valueChanged.connect(self._recompute)
            self.spins[key] = spin
            name = QLabel(label)
            name.setToolTip(tip)
            form.addRow(name, spin)
        left.addLayout(form)
        self.formula_label = QLabel()
        self.formula_label.setWordWrap(True)
        self.formula_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.formula_label.setToolTip("out = floor((in + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1")
        left.addWidget(self.formula_label)
        self.canvas = SlidingWindowCanvas()
        controls = QHBoxLayout()
        self.play_button = QPushButton("Pause")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Start or stop the sliding-window animation.")
        self.play_button.toggled.connect(self._on_play_toggled)
        self.step_button = QPushButton("Step")
        self.step_button.setToolTip("Move the window to its next position.")
        self.step_button.clicked.connect(self.step)
        self.speed = QSlider(Qt.Horizontal)
        self.speed.setRange(1, 10)
        self.speed.setValue(4)
        self.speed.setToolTip("Animation speed: window positions per second.")
        self.speed.valueChanged.connect(self._on_speed)
        controls.addWidget(self.play_button)
        controls.addWidget(self.step_button)
        controls.addWidget(QLabel("Speed"))
        controls.addWidget(self.speed, 1)
        left.addLayout(controls)
        left.addStretch(1)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.canvas, "Sliding window")
        self.numbers = ConvNumbersView()
        self.numbers.play_button.hide()  # the Play / Step buttons on the left drive both tabs
        self.numbers.next_button.hide()
        self.numbers.position_changed.connect(self._on_numbers_moved)
        self.tabs.addTab(self.numbers, "In numbers")
        self.tabs.setTabToolTip(1, "The same position computed by a real convolution with these settings: "
                                "input patch × kernel, summed, plus the bias, then ReLU and 2×2 max pooling.")
        self.tabs.currentChanged.connect(self._sync_numbers)
        layout.addWidget(self.tabs, 3)
        self.example = None  # engine.diagram.ArithmeticExample of the current settings
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.step)
        self._on_speed(self.speed.value())
        self.geometry_value: ConvGeometry | None = None
        self._recompute()
        self.play_button.setChecked(True)

    def values(self) -> dict[str, int]:
        return {key: spin.value() for key, spin in self.spins.items()}

    def set_values(self, view: str | None = None, **values: int) -> None:
        """The five settings; `view` 'numbers' opens the values tab, 'geometry' the sliding window."""
        if view is not None:
            if view not in VIEWS:
                raise KeyError(f"unknown view '{view}' (one of {', '.join(VIEWS)})")
            self.tabs.setCurrentIndex(VIEWS.index(view))
        for key, value in values.items():
            if key not in self.spins:
                raise KeyError(f"unknown convolution parameter '{key}'")
            spin = self.spins[key]
            spin.blockSignals(True)
            spin.setValue(int(value))
            spin.blockSignals(False)
        self._recompute()

    def _recompute(self) -> None:
        geometry = ConvGeometry(**self.values())
        try:
            out = geometry.output_size()
        except SpecError as exc:
            self.geometry_value = None
            self.formula_label.setText(f"<b>Impossible:</b> {exc}")
            self.canvas.set_geometry(None)
            self.example = None
            self.numbers.set_walker(None, (0, 0))
            self.changed.emit(None)
            return
        self.geometry_value = geometry
        g = geometry
        note = ""
        if g.leftover():
            note = (f"<br>{g.leftover()} padded column(s) on the right are never covered: the stride does not "
                    "divide the size evenly.")
        self.formula_label.setText(
            f"<b>Output size = {out}</b> &nbsp; = floor(({g.input_size} + 2·{g.padding} − {g.dilation}·({g.kernel} − 1)"
            f" − 1) / {g.stride}) + 1 &nbsp; ({out * out} window positions, kernel spans {g.effective_kernel}px){note}")
        self.canvas.set_geometry(geometry)
        # The real convolution needs torch: computed when the values tab is first shown, so the
        # window (this dock is built with it) still appears before torch is imported.
        self.example = None
        self.numbers.walker = None  # new numbers: the values tab starts over at the window's position
        self._sync_numbers()
        self.changed.emit(geometry)

    # ------------------------------------------------------------ the values tab
    def step(self) -> None:
        self.canvas.step()
        self._sync_numbers()

    def _sync_numbers(self, *_args) -> None:
        """The numbers at the window's current position (only while the tab shows)."""
        if self.geometry_value is None or self.tabs.currentWidget() is not self.numbers:
            return
        if self.example is None:
            from engine.diagram import arithmetic_example

            g = self.geometry_value
            self.example = arithmetic_example(g.input_size, g.kernel, g.padding, g.stride, g.dilation)
        out = self.example.out_size
        y, x = divmod(self.canvas.position % (out * out), out)
        if self.numbers.walker is None or self.numbers.out_hw != (out, out):
            self.numbers.set_walker(self._walk, (out, out), y, x)
        elif (self.numbers.y, self.numbers.x) != (y, x):
            self.numbers.move_to(y, x)

    def _walk(self, y: int, x: int):
        return self.example.walk(y, x)

    def _on_numbers_moved(self, y: int, x: int) -> None:
        """Arrow keys in the numbers move the window of the geometry too."""
        out = self.example.out_size if self.example is not None else 0
        if out and self.canvas.position % (out * out) != y * out + x:
            self.canvas.position = y * out + x
            self.canvas.update()

    def _on_play_toggled(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        if playing and self.isVisible():
            self.timer.start()
        else:
            self.timer.stop()

    # The animation runs only on screen: each frame is a call into Python on the GUI thread, which
    # takes the GIL from a training run (the widget lives in a panel that is usually not shown).
    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if self.play_button.isChecked():
            self.timer.start()

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().hideEvent(event)
        self.timer.stop()

    def _on_speed(self, per_second: int) -> None:
        self.timer.setInterval(int(1000 / max(1, per_second)))
