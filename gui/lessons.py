"""Guided lessons: a side dock that walks through the lecture in order.

Each lesson (resources/lessons.json) has a few sentences for students and a
"Set up" button that brings the right panels to front and calls their
`apply_lesson(setup)`. A panel that cannot be set up produces a message naming
it; the other panels are still set up and the window stays usable.
"""
from __future__ import annotations

import json
import logging
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDockWidget, QHBoxLayout, QLabel, QPushButton, QTextBrowser,
                               QVBoxLayout, QWidget)

from engine.errors import ConvScopeError

log = logging.getLogger("convscope.lessons")
LESSONS_PATH = Path(__file__).resolve().parent.parent / "resources" / "lessons.json"
KNOWN_TOOLS = {"conv_arithmetic"}
LESSON_ENTRY_KEYS = {"id", "title", "text", "setup", "focus", "tool", "conv"}

# What each panel's apply_lesson reads. A lesson naming anything else is an error: a key
# no panel reads would silently do nothing in front of the class.
LESSON_KEYS: dict[str, frozenset[str]] = {
    "Network": frozenset({"preset", "spec"}),
    "Data": frozenset({"dataset", "dataset_options", "data", "settings"}),
    "Training": frozenset({"settings", "start"}),
    "Experiment": frozenset({"lesson", "run"}),
    "Filters": frozenset({"layer", "mode", "zoom", "compare"}),
    "Activations": frozenset({"index", "per_map", "image_file"}),
    "Top patches": frozenset({"layer", "channel", "k", "limit", "run"}),
    "Layer statistics": frozenset({"measure"}),
    "Initialization lab": frozenset({"nonlinearity", "init", "batch_norm", "layers", "width"}),
    "Mistakes": frozenset({"count"}),
    "Diagram": frozenset({"index", "every_layer", "image_file"}),
    "Feature space": frozenset({"model", "folder", "layer", "split", "method", "init", "colour_by", "sample_size",
                                "perplexity", "iterations", "learning_rate", "thumbnails", "compare", "start"}),
    "Predict": frozenset({"photo", "image", "model"}),
    "Saliency": frozenset({"photo", "methods", "method", "target", "target_class", "opacity"}),
    "Adversarial": frozenset({"photo", "target", "target_class", "method", "epsilon", "steps", "limit", "targeted",
                              "run"}),
    "Class visualization": frozenset({"target", "class_index", "style", "method", "steps", "seed", "from_photo",
                                      "run"}),
    "Dog vs Food": frozenset({"groups", "test_dir", "train_dir", "photo", "mode"}),
}

# Before a lesson is set up, these parts of each panel's saved state go back to the values
# the panel had when the window built it, so a lesson looks the same whatever ran before
# (after "Ensembles", "Overfitting" must not train five members). Only settings are reset:
# nothing here starts a job, loads a dataset or drops a trained run.
RESET_KEYS: dict[str, tuple[str, ...]] = {
    "Training": ("settings",),
    "Data": ("normalization", "hflip", "crop", "scale", "rotation", "colour_jitter", "hue_jitter"),
    "Initialization lab": ("nonlinearity", "init", "batch_norm", "layers", "width"),
    "Filters": ("mode", "zoom", "compare"),
    "Top patches": ("k", "limit"),
    "Mistakes": ("count",),
    "Feature space": ("split", "method", "init", "colour_by", "sample_size", "perplexity", "iterations",
                      "learning_rate", "thumbnails", "compare"),
    "Saliency": ("methods", "opacity", "target"),
    "Adversarial": ("epsilon", "limit", "method", "steps", "target", "targeted"),
    "Class visualization": ("seed", "steps", "style", "target", "from_photo"),
}


@dataclass(frozen=True)
class LessonStep:
    panel: str
    setup: dict


@dataclass(frozen=True)
class Lesson:
    id: str
    title: str
    text: str
    steps: tuple[LessonStep, ...]
    focus: str | None = None
    tool: str | None = None
    conv: dict = field(default_factory=dict)


class LessonFileError(ConvScopeError):
    title = "Lessons file problem"


def load_lessons(path: str | Path = LESSONS_PATH) -> list[Lesson]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise LessonFileError(f"{path.name} cannot be read: {exc}") from exc
    if data.get("format") != "convscope-lessons":
        raise LessonFileError(f"{path.name} is not a ConvScope lessons file.")
    lessons = []
    for number, entry in enumerate(data.get("lessons", []), start=1):
        if not isinstance(entry, dict):
            raise LessonFileError(f"Lesson {number} in {path.name} is not an object.")
        unknown = set(entry) - LESSON_ENTRY_KEYS
        if unknown:
            raise LessonFileError(f"Lesson {number} in {path.name} has unknown key(s): {', '.join(sorted(unknown))}.")
        for step in entry.get("setup", []):
            panel = step.get("panel") if isinstance(step, dict) else None
            if panel not in LESSON_KEYS:
                raise LessonFileError(f"Lesson '{entry.get('id')}' sets up an unknown panel '{panel}'.")
            unknown = set(step) - {"panel", "setup"} or set(step.get("setup", {})) - LESSON_KEYS[panel]
            if unknown:
                raise LessonFileError(f"Lesson '{entry.get('id')}': the {panel} panel does not read "
                                      f"{', '.join(sorted(unknown))} "
                                      f"(it reads {', '.join(sorted(LESSON_KEYS[panel]))}).")
        try:
            steps = tuple(LessonStep(str(s["panel"]), dict(s.get("setup", {}))) for s in entry.get("setup", []))
            lesson = Lesson(str(entry["id"]), str(entry["title"]), str(entry["text"]), steps,
                            entry.get("focus"), entry.get("tool"), dict(entry.get("conv", {})))
        except (KeyError, TypeError, ValueError) as exc:
            raise LessonFileError(f"Lesson {number} in {path.name} is incomplete ({exc}).") from exc
        if lesson.tool is not None and lesson.tool not in KNOWN_TOOLS:
            raise LessonFileError(f"Lesson '{lesson.title}' asks for an unknown tool '{lesson.tool}'.")
        lessons.append(lesson)
    return lessons


_experiment_ids: set[str] | None = None


def experiment_ids() -> set[str]:
    """Ids of the lessons that have an experiment. Only the ids are read here (the window
    must not import torch before its first frame); the engine checks each experiment whole
    when it runs, and a test checks the file."""
    global _experiment_ids
    if _experiment_ids is None:
        try:
            from engine.lessons import EXPERIMENTS_PATH

            entries = json.loads(EXPERIMENTS_PATH.read_text(encoding="utf-8")).get("experiments", [])
            _experiment_ids = {str(e["id"]) for e in entries if isinstance(e, dict) and "id" in e}
        except (OSError, ValueError, AttributeError, KeyError, TypeError):
            log.error("lesson experiments unreadable:\n%s", traceback.format_exc())
            _experiment_ids = set()
    return _experiment_ids


def capture_fresh_states(window) -> None:
    """Remember the parts of each panel's state that lessons reset (call once panels exist)."""
    if getattr(window, "lesson_fresh_states", None):
        return
    fresh = {}
    for panel in getattr(window, "panels", []):
        keys = RESET_KEYS.get(panel.title)
        if keys:
            state = panel.save_state() or {}
            fresh[panel.title] = {k: state[k] for k in keys if k in state}
    window.lesson_fresh_states = fresh


def reset_to_fresh_states(window) -> list[str]:
    problems = []
    fresh = getattr(window, "lesson_fresh_states", None) or {}
    titles = {p.title: p for p in getattr(window, "panels", [])}
    for title, values in fresh.items():
        panel = titles.get(title)
        if panel is None or not values:
            continue
        try:
            if title == "Data":  # its restore_state would load a dataset: only the options go back
                panel.set_data_options(values)
            elif title == "Training":
                panel.set_settings(values["settings"])
            else:
                panel.restore_state(dict(values))
        except Exception as exc:  # a panel bug must not stop the lesson
            log.error("lesson reset failed in %s:\n%s", title, traceback.format_exc())
            problems.append(f"{title} could not be reset ({type(exc).__name__}: {exc}).")
    return problems


def experiment_steps(lesson: Lesson) -> list[LessonStep]:
    """A lesson with an experiment also sets up its dataset, network and first run's settings
    (engine.lessons.panel_setup), so Start in the Training panel reproduces that run, and
    selects it in the Experiment panel. The machine settings (device, event rates) stay the
    user's."""
    if lesson.id not in experiment_ids():
        return []
    from engine.lessons import get_experiment, panel_setup

    steps = []
    for step in panel_setup(get_experiment(lesson.id)):
        setup = dict(step["setup"])
        if step["panel"] == "Training":
            machine_only = ("device", "event_interval_s", "snapshot_every_steps", "track_layer_stats")
            setup["settings"] = {k: v for k, v in setup["settings"].items() if k not in machine_only}
        steps.append(LessonStep(step["panel"], setup))
    steps.append(LessonStep("Experiment", {"lesson": lesson.id}))
    return steps


def apply_lesson(window, lesson: Lesson) -> list[str]:
    """Set up every panel of `lesson` in `window`; returns the problems (also shown to the user)."""
    if hasattr(window, "create_panels"):
        window.create_panels()  # the app builds panels lazily; a lesson needs them now
    capture_fresh_states(window)
    problems: list[str] = reset_to_fresh_states(window)
    try:
        steps = experiment_steps(lesson) + list(lesson.steps)
    except ConvScopeError as exc:
        problems.append(str(exc))
        steps = list(lesson.steps)
    for step in steps:
        try:
            panel = window.show_panel(step.panel)
        except KeyError:
            problems.append(f"There is no panel called '{step.panel}'.")
            continue
        unknown = set(step.setup) - LESSON_KEYS.get(step.panel, frozenset())
        if unknown:
            problems.append(f"{step.panel} does not read {', '.join(sorted(unknown))}.")
            continue
        try:
            panel.apply_lesson(dict(step.setup))
        except ConvScopeError as exc:
            problems.append(f"{step.panel}: {exc}")
        except Exception as exc:  # a panel bug must not stop the lesson or crash the window
            log.error("apply_lesson failed in %s:\n%s", step.panel, traceback.format_exc())
            problems.append(f"{step.panel} could not be set up ({type(exc).__name__}: {exc}).")
    if lesson.focus:
        try:
            window.show_panel(lesson.focus)
        except KeyError:
            problems.append(f"There is no panel called '{lesson.focus}'.")
    if problems:
        window.ctx.show_error(f"Lesson: {lesson.title}", "\n".join(problems))
    else:
        window.ctx.status(f"Lesson set up: {lesson.title}")
    return problems


class LessonsWidget(QWidget):
    """The lesson picker (a compact drop-down, so the explanation gets the room),
    the selected lesson's text and its buttons."""

    setup_requested = Signal(object)  # Lesson
    tool_requested = Signal(object)  # Lesson
    experiment_requested = Signal(object)  # Lesson

    def __init__(self, lessons: list[Lesson], parent: QWidget | None = None):
        super().__init__(parent)
        self.lessons = lessons
        layout = QVBoxLayout(self)
        self.picker = QComboBox()
        self.picker.setToolTip("The lecture in order; pick a topic to read about it.")
        for number, lesson in enumerate(lessons, start=1):
            self.picker.addItem(f"{number}. {lesson.title}")
        self.picker.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.picker.setMinimumContentsLength(12)
        self.picker.currentIndexChanged.connect(self._show)
        layout.addWidget(self.picker)
        self.text = QTextBrowser()
        self.text.setOpenExternalLinks(False)
        self.text.setMinimumHeight(self.fontMetrics().height() * 6)
        layout.addWidget(self.text, 1)
        self.panels_label = QLabel()
        self.panels_label.setWordWrap(True)
        layout.addWidget(self.panels_label)
        self.setup_button = QPushButton("Set up")
        self.setup_button.setToolTip("Bring the lesson's panels to front with its dataset, network and settings.")
        self.setup_button.clicked.connect(self._on_setup)
        self.tool_button = QPushButton("Convolution arithmetic")
        self.tool_button.setToolTip("Show the interactive convolution arithmetic widget.")
        self.tool_button.clicked.connect(self._on_tool)
        self.experiment_button = QPushButton("Run the experiment")
        self.experiment_button.setToolTip("Run this lesson's experiment (every run with the same seed) and "
                                          "show the runs side by side with the measured effect.")
        self.experiment_button.clicked.connect(self._on_experiment)
        layout.addWidget(self.setup_button)
        layout.addWidget(self.experiment_button)
        layout.addWidget(self.tool_button)
        nav = QHBoxLayout()
        self.previous_button = QPushButton("◀ Previous")
        self.previous_button.setToolTip("The previous lesson.")
        self.previous_button.clicked.connect(self.previous)
        self.next_button = QPushButton("Next ▶")
        self.next_button.setToolTip("The next lesson.")
        self.next_button.clicked.connect(self.next)
        nav.addWidget(self.previous_button)
        nav.addWidget(self.next_button)
        layout.addLayout(nav)
        if lessons:
            self._show(0)

    def current(self) -> Lesson | None:
        row = self.picker.currentIndex()
        return self.lessons[row] if 0 <= row < len(self.lessons) else None

    def select(self, index: int) -> None:
        self.picker.setCurrentIndex(max(0, min(index, len(self.lessons) - 1)))

    def next(self) -> None:
        self.select(self.picker.currentIndex() + 1)

    def previous(self) -> None:
        self.select(self.picker.currentIndex() - 1)

    def _show(self, row: int) -> None:
        lesson = self.current()
        if lesson is None:
            return
        self.text.setHtml(f"<h3>{row + 1}. {lesson.title}</h3><p>{lesson.text}</p>")
        panels = [s.panel for s in lesson.steps]
        self.panels_label.setText("Sets up: " + ", ".join(dict.fromkeys(panels)) if panels else "")
        self.tool_button.setVisible(lesson.tool == "conv_arithmetic")
        self.experiment_button.setVisible(lesson.id in experiment_ids())
        self.previous_button.setEnabled(row > 0)
        self.next_button.setEnabled(row < len(self.lessons) - 1)

    def _on_setup(self) -> None:
        lesson = self.current()
        if lesson is not None:
            self.setup_requested.emit(lesson)
            if lesson.tool:
                self.tool_requested.emit(lesson)

    def _on_experiment(self) -> None:
        lesson = self.current()
        if lesson is not None:
            self.experiment_requested.emit(lesson)

    def _on_tool(self) -> None:
        lesson = self.current()
        if lesson is not None:
            self.tool_requested.emit(lesson)


class LessonsDock(QDockWidget):
    """The lessons side dock of the main window."""

    def __init__(self, window, lessons: list[Lesson] | None = None):
        super().__init__("Lessons", window)
        self.setObjectName("LessonsDock")
        self.window_ = window
        self.widget_ = LessonsWidget(lessons if lessons is not None else load_lessons())
        self.setWidget(self.widget_)
        self.widget_.setup_requested.connect(self.set_up)
        self.widget_.tool_requested.connect(self.open_tool)
        self.widget_.experiment_requested.connect(self.run_experiment)
        self.last_problems: list[str] = []

    def set_up(self, lesson: Lesson) -> list[str]:
        self.last_problems = apply_lesson(self.window_, lesson)
        return self.last_problems

    def run_experiment(self, lesson: Lesson) -> None:
        """Show the Experiment panel and run the lesson's experiment there."""
        if hasattr(self.window_, "create_panels"):
            self.window_.create_panels()
        try:
            panel = self.window_.show_panel("Experiment")
        except KeyError:
            self.window_.ctx.show_error("Lesson problem", "This window has no Experiment panel.")
            return
        panel.run_lesson(lesson.id)

    def open_tool(self, lesson: Lesson) -> None:
        opener = getattr(self.window_, "classroom", None)
        if lesson.tool == "conv_arithmetic" and opener is not None:
            opener.show_conv_arithmetic(lesson.conv)
