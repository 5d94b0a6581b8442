"""Experiment panel: a lesson's experiment from the window shows every run and the
same measured effect as the headless command."""
from gui.workers import registry


def test_run_the_experiment_from_the_lessons_dock_shows_runs_and_effect(window, qtbot):
    dock = window.classroom.lessons_dock
    widget = dock.widget_
    ids = [lesson.id for lesson in widget.lessons]
    widget.select(ids.index("overfitting"))
    assert widget.experiment_button.isVisibleTo(widget)
    window.create_panels()
    panel = window.panel("Experiment")
    panel.run_current = lambda quick=True, _run=panel.run_current: _run(quick=True)  # the suite's quick mode
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=300_000) as done:
        widget.experiment_button.click()
    result = done.args[0]
    assert window.current_panel() is panel
    assert result.summary in panel.headline.text()
    assert panel.headline.text().startswith("✓" if result.shows_point else "✗")
    assert panel.runs_table.rowCount() == len(result.runs)
    for row, run in enumerate(result.runs):
        assert panel.runs_table.item(row, 1).text() == ("ok" if run.status == "ok" else f"FAILED: {run.error}")
        assert panel.runs_table.item(row, 3).text() == f"{100 * run.figures['val_acc']:.1f}"
    # Each run's validation curve has one point per epoch it trained.
    first = result.runs[0]
    xs, ys = panel.loss_plot.series_data(f"{panel._labels[0]} val")
    assert len(xs) == len(first.curves["val_loss"]) and ys[-1] == first.curves["val_loss"][-1]
    qtbot.waitUntil(lambda: not registry.live(), timeout=30_000)


def test_an_unknown_lesson_is_a_message_not_a_crash(window):
    window.create_panels()
    panel = window.show_panel("Experiment")
    panel.run_lesson("no_such_lesson")
    assert "no experiment" in window.ctx.last_error[1]
    assert not panel.jobs.running
