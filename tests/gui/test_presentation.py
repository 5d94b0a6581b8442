import time

import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtGui import QColor, QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import QApplication, QDockWidget, QLabel, QVBoxLayout, QWidget

from gui import theme


@pytest.fixture
def plot_dock(window):
    """A real pyqtgraph plot and a label with its own font, created before any theme change."""
    host = QWidget()
    layout = QVBoxLayout(host)
    plot = pg.PlotWidget(title="Loss")
    plot.setLabel("bottom", "epoch")
    curve = plot.plot([0, 1, 2], [3, 1, 0.5], pen=pg.mkPen(theme.colour(0), width=theme.plot_line_width()))
    faint = plot.plot([0, 1, 2], [2, 2, 2], pen=pg.mkPen(theme.colour(1), width=theme.plot_line_width() / 2))
    heading = QLabel("Heading")
    font = QFont(heading.font())
    font.setPointSizeF(theme.point_size(2.0))
    heading.setFont(font)
    layout.addWidget(heading)
    layout.addWidget(plot)
    dock = QDockWidget("test plot", window)
    dock.setWidget(host)
    window.addDockWidget(Qt.BottomDockWidgetArea, dock)
    yield plot, curve, faint, heading
    window.classroom.set_theme("light")
    window.classroom.set_text_size(100)


def test_both_themes_are_high_contrast():
    for name, colours in theme.THEMES.items():
        assert theme.contrast_ratio(colours["text"], colours["window"]) >= 7.0, name
        assert theme.contrast_ratio(colours["text"], colours["base"]) >= 7.0, name
        assert theme.contrast_ratio(colours["plot_fg"], colours["plot_bg"]) >= 7.0, name
        assert theme.contrast_ratio(colours["muted"], colours["base"]) >= 4.5, name


def test_theme_and_text_size_apply_live_to_existing_widgets_and_persist(window, plot_dock):
    plot, curve, faint, heading = plot_dock
    window.classroom.set_theme("light")
    window.classroom.set_text_size(100)
    heading_before = heading.font().pointSizeF()
    width_before = curve.opts["pen"].widthF()
    faint_before = faint.opts["pen"].widthF()
    window.classroom.set_text_size(200)
    window.classroom.set_theme("dark")
    assert QApplication.font().pointSizeF() == pytest.approx(theme.BASE_POINT_SIZE * 2)
    assert heading.font().pointSizeF() == pytest.approx(heading_before * 2)
    assert curve.opts["pen"].widthF() == pytest.approx(width_before * 2)
    assert faint.opts["pen"].widthF() == pytest.approx(faint_before * 2)  # stays half as thick as the main curve
    assert plot.backgroundBrush().color() == QColor(theme.THEMES["dark"]["plot_bg"])
    axis = plot.getPlotItem().getAxis("bottom")
    assert axis.style["tickFont"].pointSizeF() == pytest.approx(theme.point_size(0.9))
    assert axis.textPen().color() == QColor(theme.THEMES["dark"]["plot_fg"])
    assert window.classroom.size_actions[200].isChecked()
    assert window.classroom.theme_actions["dark"].isChecked()
    assert QSettings().value("appearance/theme") == "dark"
    assert float(QSettings().value("appearance/scale")) == 2.0


def test_f5_presents_one_panel_full_screen_and_escape_leaves(window, qtbot):
    window.classroom.set_text_size(100)
    panel = window.show_panel("Training")
    QSettings().setValue("presentation/scale", 1.75)
    qtbot.keyClick(window, Qt.Key_F5)
    controller = window.classroom.presentation
    assert controller.active
    assert window.menuBar().isHidden() and window.statusBar().isHidden()
    assert window.tabs.tabBar().isHidden()
    assert all(sub.tabBar().isHidden() for sub in window._group_tabs.values())
    assert window.isFullScreen()
    assert panel.isVisible() and window.current_panel() is panel
    assert theme.current["scale"] == pytest.approx(1.75) and theme.current["presenting"]
    assert theme.plot_line_width() == pytest.approx(2.0 * 1.75 * theme.PRESENTATION_LINE_BOOST)
    assert window.classroom.presentation_action.isChecked()
    qtbot.keyClick(window, Qt.Key_Escape)
    assert not controller.active
    assert not window.menuBar().isHidden() and not window.statusBar().isHidden()
    assert not window.tabs.tabBar().isHidden()
    assert theme.current["scale"] == pytest.approx(1.0) and not theme.current["presenting"]
    assert not window.classroom.presentation_action.isChecked()


def test_text_size_in_presentation_mode_is_kept_for_presentations_only(window, qtbot):
    window.classroom.set_text_size(125)
    window.classroom.presentation.enter()
    window.classroom.set_text_size(250)
    assert theme.current["scale"] == pytest.approx(2.5)
    window.classroom.presentation.leave()
    assert theme.current["scale"] == pytest.approx(1.25)
    window.classroom.presentation.enter()
    assert theme.current["scale"] == pytest.approx(2.5)
    window.classroom.presentation.leave()
    window.classroom.set_text_size(100)


def test_cursor_highlight_draws_a_ring_where_the_cursor_is(window, qtbot):
    window.resize(900, 600)
    qtbot.keyClick(window, Qt.Key_F6)
    overlay = window.classroom.presentation.cursor
    assert overlay.active and overlay.isVisible()
    assert overlay.geometry() == window.rect()
    overlay.set_position(QPoint(300, 250))
    image = window.grab().toImage()
    centre = QColor(image.pixel(300, 250))
    far = QColor(image.pixel(600, 250 if 600 < image.width() else 10))
    # translucent Okabe-Ito yellow over the window: clearly more yellow (red+green >> blue) at the centre
    assert centre.red() + centre.green() - 2 * centre.blue() > far.red() + far.green() - 2 * far.blue() + 40
    assert QSettings().value("presentation/cursor_highlight") in (True, "true")
    window.resize(1000, 650)  # the ring's overlay follows the window while it is on
    qtbot.waitUntil(lambda: overlay.geometry() == window.rect(), timeout=5000)
    qtbot.keyClick(window, Qt.Key_F6)
    assert not overlay.active and overlay.isHidden()


def test_shortcut_sheet_lists_window_and_panel_shortcuts_collected_at_runtime(window, qtbot):
    panel = window.panel("Filters")
    extra = QShortcut(QKeySequence("Ctrl+Shift+F9"), panel)
    extra.setWhatsThis("Next filter (test)")
    rows = window.classroom.shortcut_rows()
    keys = {(k, what, where) for k, what, where in rows}
    assert ("F5", "Presentation mode", "Window") in keys
    assert ("Esc", "Leave presentation mode", "Window") in keys
    assert ("Ctrl+Shift+F9", "Next filter (test)", "Filters") in keys
    dialog = window.classroom.show_shortcuts()
    table = window.classroom.shortcuts_table
    shown = {table.item(r, 0).text() for r in range(table.rowCount())}
    assert {"F5", "F6", "Ctrl+L", "Ctrl+K", "Ctrl+Shift+F9"} <= shown
    dialog.close()


def test_status_bar_shows_a_busy_indicator_while_any_job_runs(window, qtbot):
    def endless():
        while True:
            time.sleep(0.005)
            yield 0

    from gui.workers import registry

    classroom = window.classroom
    for panel in window.panels:  # some panels compute something as soon as they appear
        panel.jobs.stop()
    qtbot.waitUntil(lambda: not registry.live(), timeout=60000)
    assert classroom.refresh_busy() == 0 and classroom.busy_label.isHidden()
    window.panels[2].jobs.start(endless)
    window.panels[5].jobs.start(endless)
    qtbot.waitUntil(lambda: classroom.refresh_busy() == 2, timeout=3000)
    assert classroom.busy_label.text() == "2 jobs running"
    assert not classroom.busy_label.isHidden() and not classroom.stop_all_button.isHidden()
    # Nothing animates while jobs run: an indeterminate progress bar repaints ~50 times a second.
    from PySide6.QtWidgets import QProgressBar

    assert not [bar for bar in window.findChildren(QProgressBar) if bar.maximum() == 0 and bar.isVisible()]
    qtbot.mouseClick(classroom.stop_all_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: classroom.refresh_busy() == 0, timeout=3000)
    assert classroom.busy_label.isHidden()


def test_window_level_controls_have_tooltips(window):
    classroom = window.classroom
    for action in [classroom.presentation_action, classroom.cursor_action, classroom.lessons_action,
                   classroom.conv_action, classroom.shortcuts_action, *classroom.theme_actions.values(),
                   *classroom.size_actions.values()]:
        assert len(action.toolTip()) > 12, action.text()
    for menu in (window.file_menu, window.view_menu):
        for action in menu.actions():
            if not action.isSeparator() and action.menu() is None:
                assert action.toolTip() and action.toolTip() != action.text().replace("&", ""), action.text()
    for index in range(window.tabs.count()):
        assert window.tabs.tabToolTip(index), window.tabs.tabText(index)


def test_check_boxes_and_radio_buttons_grow_with_the_text(window):
    from PySide6.QtWidgets import QStyle

    window.classroom.set_text_size(100)
    small = QApplication.style().pixelMetric(QStyle.PM_IndicatorWidth)
    window.classroom.set_text_size(250)
    try:
        assert QApplication.style().pixelMetric(QStyle.PM_IndicatorWidth) == round(small * 2.5)
        assert QApplication.style().pixelMetric(QStyle.PM_ExclusiveIndicatorWidth) > small * 2
    finally:
        window.classroom.set_text_size(100)
