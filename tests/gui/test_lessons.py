import re

import pytest

from gui.lessons import LessonFileError, apply_lesson, experiment_ids, load_lessons
from gui.panels import PANELS

LECTURE_ORDER = ["Convolution arithmetic", "LeNet-5", "What a conv layer computes", "All layers while it learns",
                 "Overfitting", "L2 regularization", "L1 and elastic net",
                 "Mini-batch SGD", "Mean subtraction", "Data augmentation", "Momentum", "Learning-rate decay",
                 "Dropout", "Weight initialization", "Batch normalization", "Ensembles and snapshot ensembles",
                 "What intermediate layers mean", "t-SNE of the feature space", "Dog vs food", "Saliency maps",
                 "Adversarial examples", "Class visualization"]


def _sentences(text: str) -> int:
    return len([s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s])


def test_lessons_follow_the_lecture_and_name_real_panels():
    lessons = load_lessons()
    assert [lesson.title for lesson in lessons] == LECTURE_ORDER
    titles = {title for _group, title, *_ in PANELS}
    for lesson in lessons:
        assert 2 <= _sentences(lesson.text) <= 4, lesson.title
        assert lesson.steps or lesson.id in experiment_ids(), lesson.title
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


def test_every_lecture_goal_has_an_experiment_in_the_lessons_dock():
    """Every lesson after the four introductions (convolution arithmetic, LeNet-5, what a conv layer
    computes, all layers while it learns: tools to look with, nothing to measure) runs a measured
    experiment."""
    lessons = load_lessons()
    assert {lesson.id for lesson in lessons[4:]} <= experiment_ids()
    assert len(lessons[4:]) >= 17


def test_a_key_no_panel_reads_is_an_error(tmp_path):
    path = tmp_path / "lessons.json"
    path.write_text('{"format": "convscope-lessons", "lessons": [{"id": "x", "title": "X", "text": "T.", '
                    '"setup": [{"panel": "Training", "setup": {"compare": true}}]}]}')
    with pytest.raises(LessonFileError, match="Training panel does not read compare"):
        load_lessons(path)
    path.write_text('{"format": "convscope-lessons", "lessons": [{"id": "x", "title": "X", "text": "T.", '
                    '"focus": "Training", "colour": "red"}]}')
    with pytest.raises(LessonFileError, match="unknown key.*colour"):
        load_lessons(path)


def _lesson_state(window, lesson):
    """What a lesson sets or resets: every panel's reset keys, the keys its steps name,
    the dataset and architecture when the lesson names them."""
    from gui.lessons import RESET_KEYS, experiment_steps

    steps = experiment_steps(lesson) + list(lesson.steps)
    named = {}
    for step in steps:
        named.setdefault(step.panel, set()).update(step.setup)
    state = {}
    for panel in window.panels:
        saved = panel.save_state() or {}
        keys = set(RESET_KEYS.get(panel.title, ())) | (named.get(panel.title, set()) & set(saved))
        state[panel.title] = {k: saved[k] for k in sorted(keys) if k in saved}
    if "Data" in named:
        state["dataset"] = window.panel("Data").current_dataset()
    if "Network" in named:
        state["spec"] = window.ctx.spec.to_dict() if window.ctx.spec is not None else None
    return state


def test_every_lesson_looks_the_same_after_all_the_others_as_after_a_fresh_start(window, qtbot):
    """Set up only sets what it names and resets the rest, so a lesson's state does not depend
    on what ran before: lessons set up in lecture order in a new window give the same state
    as the same lessons set up in reverse order after all of them in another window."""
    from gui.main_window import MainWindow
    from gui.workers import registry

    lessons = window.classroom.lessons_dock.widget_.lessons
    window.create_panels()
    for lesson in lessons:
        assert apply_lesson(window, lesson) == [], lesson.title
    _stop_and_drain_jobs(window, qtbot)
    fresh = MainWindow(restore_settings=False)
    qtbot.addWidget(fresh)
    try:
        fresh.create_panels()
        fresh_states = {}
        for lesson in lessons:
            assert apply_lesson(fresh, lesson) == [], lesson.title
            fresh_states[lesson.id] = _lesson_state(fresh, lesson)
            _stop_and_drain_jobs(fresh, qtbot)
        for lesson in reversed(lessons):  # now after all the others, in the other order
            assert apply_lesson(window, lesson) == [], lesson.title
            assert _lesson_state(window, lesson) == fresh_states[lesson.id], lesson.title
            _stop_and_drain_jobs(window, qtbot)
    finally:
        fresh.close()
        qtbot.waitUntil(lambda: not registry.live(), timeout=120000)
