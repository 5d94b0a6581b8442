"""Presentation mode (F5): one panel full screen, chrome hidden, large type,
thick lines; Esc leaves. Also the cursor highlight (a translucent ring that
follows the mouse so a room can see where the instructor points)."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPoint, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QCursor, QFont, QKeySequence, QPainter, QPen, QShortcut
from PySide6.QtWidgets import QApplication, QDockWidget, QMainWindow, QTabWidget, QWidget

from gui import settings, theme


class CursorHighlight(QWidget):
    """A mouse-transparent overlay over the whole window that paints a ring at the cursor.

    Polls the cursor position (30 Hz) instead of needing mouse tracking on every
    child widget."""

    RADIUS = 28

    def __init__(self, window: QWidget):
        super().__init__(window)
        self.setObjectName("CursorHighlight")
        self.setAttribute(Qt.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WA_NoSystemBackground)
        self.setFocusPolicy(Qt.NoFocus)
        self._window = window
        self.position: QPoint | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(33)
        self._timer.timeout.connect(self._follow)
        self.hide()

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def set_active(self, active: bool) -> None:
        # The window's events pass through Python only while the highlight is on (each such call
        # takes the GIL, which a training run needs).
        if active:
            self._window.installEventFilter(self)  # installing twice keeps one filter
            self.setGeometry(self._window.rect())
            self.show()
            self.raise_()
            self._timer.start()
            self._follow()
        else:
            self._window.removeEventFilter(self)
            self._timer.stop()
            self.hide()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if watched is self._window and event.type() == QEvent.Resize and self.isVisible():
            self.setGeometry(self._window.rect())
            self.raise_()
        return False

    def set_position(self, point: QPoint) -> None:
        """Cursor position in window coordinates (tests and the poller)."""
        if point != self.position:
            old = self.position
            self.position = point
            r = int(self.RADIUS * theme.current["scale"]) + 8
            if old is not None:
                self.update(old.x() - r, old.y() - r, 2 * r, 2 * r)
            self.update(point.x() - r, point.y() - r, 2 * r, 2 * r)

    def _follow(self) -> None:
        self.set_position(self.mapFromGlobal(QCursor.pos()))

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if self.position is None:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        radius = self.RADIUS * theme.current["scale"]
        fill = QColor("#F0E442")  # Okabe-Ito yellow: visible on light and dark
        fill.setAlpha(90)
        ring = QColor("#D55E00")
        ring.setAlpha(200)
        painter.setBrush(fill)
        painter.setPen(QPen(ring, 3 * theme.current["scale"]))
        painter.drawEllipse(QRectF(self.position.x() - radius, self.position.y() - radius, 2 * radius, 2 * radius))
        painter.end()


class PresentationController(QObject):
    """Enters and leaves presentation mode on a QMainWindow with a `tabs` QTabWidget."""

    toggled = Signal(bool)

    def __init__(self, window: QMainWindow):
        super().__init__(window)
        self.window = window
        self.active = False
        self._hidden: list[QWidget] = []
        self._was_maximized = False
        self._was_fullscreen = False
        self.cursor = CursorHighlight(window)
        # Esc leaves; only enabled while presenting so panels keep Esc otherwise.
        self.escape = QShortcut(QKeySequence(Qt.Key_Escape), window)
        self.escape.setContext(Qt.WindowShortcut)
        self.escape.setEnabled(False)
        self.escape.activated.connect(self.leave)

    def toggle(self) -> None:
        self.leave() if self.active else self.enter()

    def enter(self) -> None:
        if self.active:
            return
        self.active = True
        self._was_maximized = self.window.isMaximized()
        self._was_fullscreen = self.window.isFullScreen()
        self._hidden = [w for w in self._chrome() if w.isVisible() or not w.isHidden()]
        for widget in self._hidden:
            widget.hide()
        app = QApplication.instance()
        theme.apply_theme(app, theme.current["theme"], settings.load_presentation_scale(), presenting=True)
        self._compact_strips()
        self.window.showFullScreen()
        self.escape.setEnabled(True)
        self.window.statusBar()  # keep the object alive; it is hidden above
        self.toggled.emit(True)

    def leave(self) -> None:
        if not self.active:
            return
        self.active = False
        for widget in self._hidden:
            widget.show()
        self._hidden = []
        self._restore_strips()
        app = QApplication.instance()
        _theme, scale = settings.load_appearance()
        theme.apply_theme(app, theme.current["theme"], scale, presenting=False)
        if not self._was_fullscreen:
            self.window.showMaximized() if self._was_maximized else self.window.showNormal()
        self.escape.setEnabled(False)
        self.toggled.emit(False)

    # Control rows (gui.widgets.flow control strips) get 3/4 of the F5 text size: the room on a
    # projector goes to the images and plots, the controls become a compact strip above them.
    STRIP = "ControlStrip"

    def _compact_strips(self) -> None:
        scale = max(1.0, 0.75 * theme.current["scale"])  # about 1.3 at the usual F5 size of 1.75
        for strip in self.window.findChildren(QWidget, self.STRIP):
            font = QFont(strip.font())
            font.setPointSizeF(theme.BASE_POINT_SIZE * scale)
            strip.setFont(font)
            strip.setProperty("convscope_base_point_size", theme.BASE_POINT_SIZE * scale / theme.current["scale"])

    def _restore_strips(self) -> None:
        for strip in self.window.findChildren(QWidget, self.STRIP):
            strip.setFont(QFont())  # inherit the window's font again
            strip.setAttribute(Qt.WA_SetFont, False)
            strip.setProperty("convscope_base_point_size", None)

    def _chrome(self) -> list[QWidget]:
        """Menu bar, status bar, tab bars and docks: everything but the current panel."""
        chrome: list[QWidget] = [self.window.menuBar(), self.window.statusBar()]
        for tabs in self.window.findChildren(QTabWidget):
            if tabs.objectName() == "main-tabs" or tabs is getattr(self.window, "tabs", None) \
                    or tabs.objectName().startswith("group:"):
                chrome.append(tabs.tabBar())
        # Docks are chrome, except teaching content the instructor opened: the convolution
        # arithmetic animation stays on screen in F5.
        chrome += [dock for dock in self.window.findChildren(QDockWidget) if dock.parent() is self.window
                   and dock.objectName() != "ConvArithmeticDock"]
        return chrome
