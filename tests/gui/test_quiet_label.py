"""QuietLabel: a status line whose updates do not lay out the whole window again."""
from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QSpinBox, QVBoxLayout, QWidget

from gui.widgets.quiet_label import QuietLabel


class _LayoutRequests(QObject):
    def __init__(self):
        super().__init__()
        self.count = 0

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.LayoutRequest:
            self.count += 1
        return False


def _window(qtbot):
    window = QWidget()
    layout = QVBoxLayout(window)
    for _ in range(4):
        layout.addWidget(QSpinBox())
    status = QuietLabel("Ready.")
    layout.addWidget(status)
    layout.addStretch(1)
    qtbot.addWidget(window)
    window.resize(300, 400)
    window.show()
    qtbot.waitExposed(window)
    for _ in range(3):  # the layout settles after the first show
        qtbot.wait(10)
    return window, status


def test_a_new_text_on_as_many_lines_leaves_the_layout_alone(qtbot, qapp):
    window, status = _window(qtbot)
    requests = _LayoutRequests()
    window.installEventFilter(requests)
    for step in range(5):
        status.setText(f"Epoch {step + 1}/5 · loss 0.{step}1")
        qapp.processEvents()
    assert status.text() == "Epoch 5/5 · loss 0.41"
    assert status.label.text() == status.text()
    assert requests.count == 0


def test_a_longer_text_gets_the_lines_it_needs(qtbot, qapp):
    window, status = _window(qtbot)
    one_line = status.height()
    status.setText("A long message that needs several lines in a narrow panel: " * 3)
    qtbot.waitUntil(lambda: status.height() >= 3 * one_line)
    assert status.label.height() == status.height()  # the label fills its holder
    status.setText("Short again.")
    qtbot.waitUntil(lambda: status.height() == one_line)


def test_a_larger_font_makes_room(qtbot, qapp):
    window, status = _window(qtbot)
    before = status.height()
    font = QFont(window.font())
    font.setPointSizeF(font.pointSizeF() * 2)
    window.setFont(font)  # what F5 and the text size do, through the application font
    qtbot.waitUntil(lambda: status.height() > 1.5 * before)
