"""Lessons as verified experiments.

resources/lesson_experiments.json holds one "experiment" per lesson, in lecture
order, joined to the window's lessons (resources/lessons.json) by id: the whole
state it needs (dataset, network, training settings; anything it does not name
is a lesson default, so the result does not depend on what ran before), the
runs it makes (a comparison uses the same seed in every run), the measure that
shows the lecture's point and the criteria (thresholds) the measure must meet.
An unknown key anywhere in an experiment is a `LessonError`.

`experiment_job(lesson_id, quick=False)` runs one experiment as a job (see
engine/events.py): it yields `LessonStarted`, then per run `LessonRunStarted`,
`LessonEpoch` (per-epoch train / validation loss and accuracy, for curves),
`LessonStep` (throttled per-step loss), `LessonRunFinished` (a run that diverged
is kept, marked failed, with its curve up to the failure), `Progress` and
`LessonImage` (pictures of the ImageNet lessons), and returns a `LessonResult`:
the runs' figures, the measured effect, its threshold, `shows_point` and a
one-line summary such as "gap 18.4 points -> 8.8 with L2".

Kinds: 'training' (runs of engine.train.train_job compared by a measure),
'features' (one trained network, then t-SNE or top images), 'init_lab' and
'imagenet' (the pretrained classifier: saliency, fooling, class visualization,
dog vs food). `panel_setup(exp)` gives a training experiment's complete state
as the window's Set up steps.

The package: catalog (experiments as data, the measure registry), records (events and
results), runner (the job), and one module per family of measures: training, features
(init lab, t-SNE, top images), imagenet.
"""

from __future__ import annotations

from .catalog import (
    ENTRY_KEYS,
    EXPERIMENTS_PATH,
    EXPERIMENT_KEYS,
    Experiment,
    LESSON_TRAIN_DEFAULTS,
    LessonError,
    MEASURES,
    MeasureInfo,
    RUN_KEYS,
    RunPlan,
    experiments,
    get_experiment,
    lesson_names,
    load_experiment_entries,
    panel_setup,
    parse_experiment,
)
from .records import (
    Criterion,
    LessonEpoch,
    LessonImage,
    LessonResult,
    LessonRunFinished,
    LessonRunStarted,
    LessonStarted,
    LessonStep,
    RunRecord,
)
from .runner import experiment_job, run_experiment
from . import training  # noqa: F401 (registers its measures)
from . import features  # noqa: F401 (registers its measures)
from . import imagenet  # noqa: F401 (registers its measures)
from . import diagram  # noqa: F401 (registers its measures)
from .imagenet import ONE_PHOTO_OVERLAP, box_in_crop, colour_overlap

__all__ = [
    "Criterion",
    "ENTRY_KEYS",
    "EXPERIMENTS_PATH",
    "EXPERIMENT_KEYS",
    "Experiment",
    "LESSON_TRAIN_DEFAULTS",
    "LessonEpoch",
    "LessonError",
    "LessonImage",
    "LessonResult",
    "LessonRunFinished",
    "LessonRunStarted",
    "LessonStarted",
    "LessonStep",
    "MEASURES",
    "MeasureInfo",
    "ONE_PHOTO_OVERLAP",
    "RUN_KEYS",
    "RunPlan",
    "RunRecord",
    "box_in_crop",
    "colour_overlap",
    "experiment_job",
    "experiments",
    "get_experiment",
    "lesson_names",
    "load_experiment_entries",
    "panel_setup",
    "parse_experiment",
    "run_experiment",
]
