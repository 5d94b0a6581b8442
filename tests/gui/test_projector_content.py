"""Projector-grade layout with content (issue 15): the panels as a class sees them after training.

test_projector_layout checks the panels as first opened (no model). Here one window trains two
tiny LeNet-5 runs on the bundled MNIST subset (the first overlaid on the second), computes the
Activations, Mistakes and Top patches results, and then checks Training, Activations, Filters,
Mistakes and Top patches at 1280x800 and 1920x1080, 100 % and 200 % text, light and dark, and in
F5: no scroll bar around the panel, the key widgets fully on screen, the runs table's key columns
in view and unclipped, plot titles not cut, no legend over a plotted point; and the status bar's
message ends before the busy indicator.
"""
from __future__ import annotations

import time

import pytest
from test_projector_layout import (_cell_problems, _settle, check_control_strips, check_panel, check_plots,
                                   present, stop_presenting)

SIZES = [(1280, 800), (1920, 1080)]
SCALES = [1.0, 2.0]
THEMES = ["dark", "light"]

KEY_WIDGETS = {
    "Training": ["start_button", "stop_button", "progress", "loss_plot", "acc_plot", "runs_table"],
    "Activations": ["input_view", "enlarged_view", "scroll"],
    "Filters": ["layer_combo", "compare_check", "grid", "initial_grid", "change_grid"],
    "Mistakes": ["evaluate_button", "summary", "matrix_plot", "gallery"],
    "Top patches": ["find_button", "all_grid", "channel_grid"],
}


def _wait(predicate, what: str, timeout_s: float = 180.0) -> None:
    """Process events until a job's result has arrived (the bound only stops a hung test)."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    end = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        app.processEvents()
        time.sleep(0.01)
    app.processEvents()


@pytest.fixture(scope="module")
def trained_window(qapp):
    from gui.app import create_application
    from gui.main_window import MainWindow
    from gui.theme import apply_theme
    from gui.workers import registry

    from engine.spec import load_preset

    app = create_application()
    apply_theme(app, "dark", 1.0)
    win = MainWindow(restore_settings=False)
    win.resize(1280, 800)
    win.show()
    win.ctx.set_spec(load_preset("lenet5"))
    training = win.show_panel("Training")
    for epochs, batchnorm in ((1, False), (2, True)):
        runs = len(training.finished_runs)
        training.set_settings({"epochs": epochs, "batchnorm": batchnorm, "train_subset": 600, "seed": 0,
                               "lr": 0.05})
        training.start_training()
        _wait(lambda: len(training.finished_runs) > runs and not training.jobs.running, "a training run")
    training.set_overlay(0, True)

    activations = win.show_panel("Activations")
    _wait(lambda: bool(activations.maps) and not activations.jobs.running, "the feature maps")
    first = next(iter(activations.layer_grids))
    activations._show_enlarged(first, 0)  # as a click on the first map does
    win.show_panel("Filters")
    mistakes = win.show_panel("Mistakes")
    mistakes.evaluate()
    _wait(lambda: mistakes.result is not None and not mistakes.jobs.running, "the evaluation")
    patches = win.show_panel("Top patches")
    patches.limit_spin.setValue(500)
    patches.find()
    _wait(lambda: patches.result is not None and not patches.jobs.running, "the top patches")
    _wait(lambda: not registry.live(), "every job to end")
    state = {"theme": "dark", "scale": 1.0, "size": (1280, 800)}

    def configure(theme_name: str, scale: float, size: tuple[int, int]) -> None:
        if (state["theme"], state["scale"]) != (theme_name, scale):
            apply_theme(app, theme_name, scale)
            state.update(theme=theme_name, scale=scale)
        if state["size"] != size:
            win.resize(*size)
            state["size"] = size
        _settle(app)

    yield win, configure
    win.close()
    registry.stop_all(timeout_ms=60_000)
    apply_theme(app, "light", 1.0)


def _check_with_content(window, title: str) -> None:
    panel = window.panel(title)
    check_panel(window, panel, title, KEY_WIDGETS[title], no_vertical_scroll=True)
    check_plots(panel, title)
    if title == "Mistakes":  # every caption line fits its cell ("pred 2 100%", not "pred …")
        metrics = panel.gallery.fontMetrics()
        longest = max(metrics.horizontalAdvance(f"pred {name} 100%") for name in panel.result.class_names)
        assert panel.gallery.gridSize().width() >= longest, (panel.gallery.gridSize().width(), longest)
    if title == "Training":
        table = panel.runs_table
        assert table.rowCount() == 2
        assert not table.horizontalScrollBar().isVisible(), "runs table: horizontal scroll bar"
        problems = _cell_problems(table, list(panel.KEY_RUN_COLUMNS))
        assert not problems, "runs table: " + "; ".join(problems)
        labels = [label.text for _sample, label in panel.loss_plot.legend.items]
        assert any(text.startswith("#1") for text in labels), f"run #1 is not overlaid: {labels}"


def _cases():
    for theme_name in THEMES:
        for scale in SCALES:
            for size in SIZES:
                for title in KEY_WIDGETS:
                    case = f"{title.replace(' ', '_')}-{size[0]}x{size[1]}-{int(scale * 100)}-{theme_name}"
                    yield pytest.param(theme_name, scale, size, title, id=case)


@pytest.mark.parametrize("theme_name,scale,size,title", list(_cases()))
def test_panel_with_content_fits_the_projector(trained_window, theme_name, scale, size, title):
    from PySide6.QtWidgets import QApplication

    window, configure = trained_window
    configure(theme_name, scale, size)
    window.show_panel(title)
    _settle(QApplication.instance(), 0.15)
    _check_with_content(window, title)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("title", list(KEY_WIDGETS))
def test_panel_with_content_fits_in_presentation_mode(trained_window, title, size):
    window, configure = trained_window
    configure("dark", 1.0, (1280, 800))
    panel = window.show_panel(title)
    present(window, size)
    try:
        _check_with_content(window, title)
        check_control_strips(window, panel, title)
    finally:
        stop_presenting(window)


def test_status_message_ends_before_the_busy_indicator(trained_window):
    """A long status message at 200 % on 1280x800 is elided before the busy indicator and the
    device labels instead of running into them."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    window, configure = trained_window
    configure("dark", 2.0, (1280, 800))
    classroom = window.classroom
    bar = window.statusBar()
    classroom.busy_label.setText("1 job running")
    for widget in (classroom.busy_label, classroom.stop_all_button):
        widget.show()
    try:
        bar.showMessage("Finished: train acc 88.8%, val acc 92.5%, gap -3.8 points, 4,270 images/s, 2.2 s " * 2)
        _settle(QApplication.instance(), 0.1)
        rect = bar.message_rect()
        assert rect.right() <= classroom.busy_label.x() - 6, (rect.right(), classroom.busy_label.x())
        shown = bar.fontMetrics().elidedText(bar.currentMessage(), Qt.ElideRight, rect.width())
        assert shown.endswith("…") and bar.fontMetrics().horizontalAdvance(shown) <= rect.width()
        assert bar.toolTip() == bar.currentMessage()
    finally:
        bar.clearMessage()
        classroom.refresh_busy()
