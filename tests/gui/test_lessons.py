import re

import pytest

from gui.lessons import LessonFileError, apply_lesson, load_lessons
from gui.panels import PANELS

LECTURE_ORDER = ["Convolution arithmetic", "LeNet-5", "Overfitting and regularization",
                 "Weight initialization and batch norm", "Dropout", "Ensembles", "What feature maps mean",
                 "t-SNE of the feature space", "Saliency maps", "Adversarial examples", "Class visualization",
                 "Dog vs food"]


def _sentences(text: str) -> int:
    return len([s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s])


def test_lessons_follow_the_lecture_and_name_real_panels():
    lessons = load_lessons()
    assert [lesson.title for lesson in lessons] == LECTURE_ORDER
    titles = {title for _group, title, *_ in PANELS}
    for lesson in lessons:
        assert 2 <= _sentences(lesson.text) <= 4, lesson.title
        assert lesson.steps, lesson.title
        for step in lesson.steps:
            assert step.panel in titles, (lesson.title, step.panel)
        assert lesson.focus in titles


def _stop_and_drain_jobs(window, qtbot, timeout_ms=120000):
    """Stop every job the lessons started and wait until their threads have ended
    (a job that is inside one long call, e.g. loading a dataset, ends when it returns)."""
    from gui.workers import registry

    for panel in window.panels:
        panel.jobs.stop()
    qtbot.waitUntil(lambda: not registry.live(), timeout=timeout_ms)


def test_every_lesson_sets_up_its_panels_without_error(window, qtbot):
    dock = window.classroom.lessons_dock
    for index, lesson in enumerate(dock.widget_.lessons):
        dock.widget_.select(index)
        assert dock.widget_.current() is lesson
        problems = dock.set_up(lesson)
        assert problems == [], (lesson.title, problems)
        assert window.ctx.last_error is None, (lesson.title, window.ctx.last_error)
        assert window.current_panel().title == lesson.focus
    _stop_and_drain_jobs(window, qtbot)
    assert window.ctx.last_error is None, window.ctx.last_error


@pytest.mark.slow
def test_every_lesson_runs_the_jobs_it_starts_to_the_end_without_error(window, qtbot):
    """Slow: waits for each lesson's jobs (dataset loads, pretrained models) to finish."""
    from gui.workers import registry

    dock = window.classroom.lessons_dock
    for lesson in dock.widget_.lessons:
        assert dock.set_up(lesson) == [], lesson.title
        qtbot.waitUntil(lambda: not registry.live(), timeout=180000)
        assert window.ctx.last_error is None, (lesson.title, window.ctx.last_error)


def test_set_up_button_opens_the_conv_arithmetic_tool_with_the_lesson_values(window, qtbot):
    from PySide6.QtCore import Qt

    dock = window.classroom.lessons_dock
    dock.show()
    dock.widget_.select(0)
    assert dock.widget_.tool_button.isVisibleTo(dock)
    qtbot.mouseClick(dock.widget_.setup_button, Qt.LeftButton)
    assert window.current_panel().title == "Network"
    assert window.classroom.conv_dock.isVisible()
    lesson = dock.widget_.current()
    assert window.classroom.conv_widget.values() == lesson.conv
    dock.widget_.next()
    assert dock.widget_.current().title == "LeNet-5"
    assert not dock.widget_.tool_button.isVisibleTo(dock)
    _stop_and_drain_jobs(window, qtbot)


def test_a_failing_panel_is_named_and_the_others_are_still_set_up(window, qtbot, monkeypatch):
    lesson = next(lesson for lesson in load_lessons() if lesson.id == "lenet5")
    calls = []
    data_panel = window.panel("Data")

    def broken(setup):
        raise ValueError("no such dataset widget")

    monkeypatch.setattr(data_panel, "apply_lesson", broken)
    training = window.panel("Training")
    original = training.apply_lesson
    monkeypatch.setattr(training, "apply_lesson", lambda setup: (calls.append(setup), original(setup)))
    problems = apply_lesson(window, lesson)
    assert len(problems) == 1 and problems[0].startswith("Data could not be set up")
    assert calls and calls[0]["settings"]["epochs"] == 5
    assert window.ctx.last_error[0] == "Lesson: LeNet-5"
    assert window.current_panel() is training
    _stop_and_drain_jobs(window, qtbot)


def test_a_broken_lessons_file_is_a_clear_error(tmp_path):
    path = tmp_path / "lessons.json"
    path.write_text('{"format": "convscope-lessons", "lessons": [{"id": "x", "title": "X"}]}')
    with pytest.raises(LessonFileError, match="Lesson 1 .* incomplete"):
        load_lessons(path)
