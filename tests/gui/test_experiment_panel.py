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


def test_dog_vs_food_asks_for_a_folder_and_says_plainly_when_there_is_none(window, qtbot):
    window.create_panels()
    panel = window.show_panel("Experiment")
    panel.folder_edit.setText("")
    assert panel.select_lesson("dog_vs_food")
    assert panel.folder_edit.isVisibleTo(panel) and "dog/ and food/" in panel.headline.text()
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=60_000) as done:
        panel.run_current()
    result = done.args[0]
    assert not result.shows_point and "No photo folder" in result.reason
    assert panel.headline.text().startswith("✗ no photo folder")
    assert panel.select_lesson("overfitting") and not panel.folder_edit.isVisibleTo(panel)


def test_the_photo_folder_is_remembered_and_passed_to_the_lesson(window, qtbot, tmp_path, monkeypatch):
    from gui import settings

    window.create_panels()
    panel = window.show_panel("Experiment")
    seen = {}

    def fake_job(lesson_id, quick=False, context=None):
        seen.update(lesson=lesson_id, context=context)
        return None
        yield  # unreachable (a job is a generator)

    import engine.lessons

    monkeypatch.setattr(engine.lessons, "experiment_job", fake_job)
    panel.select_lesson("dog_vs_food")
    panel.folder_edit.setText(str(tmp_path))
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=10_000):
        panel.run_current()
    assert seen == {"lesson": "dog_vs_food", "context": {"folder": str(tmp_path)}}
    assert settings.lesson_photo_folder() == str(tmp_path)


def test_a_run_that_diverged_stays_visible_marked_with_its_curve(window, qtbot, monkeypatch):
    import engine.lessons as lessons

    def diverging_job(lesson_id, quick=False, context=None):
        yield lessons.LessonStarted(lesson_id, "Overfitting", ("plain", "big lr"), ("plain", "lr 10"))
        for run in (0, 1):
            yield lessons.LessonRunStarted(run, ("plain", "big lr")[run], ("plain", "lr 10")[run])
            for epoch in range(3 if run == 0 else 2):
                yield lessons.LessonEpoch(run, "x", 0, epoch, 1.0 / (epoch + 1), 1.2, 0.5, 0.4)
            status, error = ("ok", "") if run == 0 else ("failed", "loss became NaN at step 40")
            yield lessons.LessonRunFinished(run, "x", status, error, {"val_acc": 0.4})
        return lessons.LessonResult(lesson_id, "Overfitting", "overfitting", 0.0, "gap_points", 10.0, ">=", False,
                                    "gap 0.0 points", "run 'big lr' failed: loss became NaN at step 40")

    monkeypatch.setattr(lessons, "experiment_job", diverging_job)
    window.create_panels()
    panel = window.show_panel("Experiment")
    panel.select_lesson("overfitting")
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=10_000):
        panel.run_current()
    assert panel.runs_table.item(1, 1).text() == "FAILED: loss became NaN at step 40"
    assert panel.loss_plot.series_data("lr 10 val")[0] == [1, 2]  # its curve up to the failure
    assert panel.headline.text().startswith("✗") and "failed" in panel.headline.text()
