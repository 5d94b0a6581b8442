"""Training panel: every TrainSettings field as a form, the learning-rate curve
before training, and the live run (loss, accuracy, learning rate, throughput,
progress with ETA), pause / resume / stop, compare runs, ensembles, checkpoints.

Event handlers only store numbers; the LivePlot widgets and a 10 Hz status
timer redraw, so the window stays responsive while the worker trains.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QGridLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton,
                               QScrollArea, QSpinBox, QSplitter, QTableWidget, QTableWidgetItem, QTabWidget,
                               QVBoxLayout, QWidget)

from engine.checkpoint import load_run, save_run
from engine.device import available_devices
from engine.errors import ConvScopeError
from engine.initialization import INIT_LABELS, INIT_SCHEMES
from engine.schedules import SCHEDULE_LABELS, SCHEDULES, learning_rate_plan, steps_per_epoch_for
from engine.spec import analyze, total_params
from engine.train import (BatchEnd, EnsembleResult, EpochEnd, MemberFinished, TrainResult, TrainSettings,
                          TrainStarted, train_job)
from gui import theme
from gui.panels.base import Panel
from gui.widgets.live_plot import LivePlot

# Settings the Data panel owns (shared through ctx.data_options).
DATA_FIELDS = ("normalization", "hflip", "crop", "scale", "rotation", "colour_jitter", "hue_jitter")
DEFAULT_TRAIN_IMAGES = 4000  # MNIST-5k's training split, until the Data panel reports the real size


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str  # 'int' | 'float' | 'bool' | 'choice'
    tip: str
    minimum: float = 0
    maximum: float = 1
    step: float = 1
    decimals: int = 3
    choices: tuple = ()  # (value, label) pairs
    special: str = ""  # text shown at the minimum (which then means None / off)
    schedules: tuple = ()  # only shown for these schedules


GROUPS: list[tuple[str, list[Field]]] = [
    ("Optimizer", [
        Field("optimizer", "Optimizer", "choice", "SGD follows the gradient (with momentum if above 0); "
              "Adam adapts the step size of every weight.", choices=(("sgd", "SGD"), ("adam", "Adam"))),
        Field("lr", "Learning rate", "float", "Base step size: too small learns slowly, too large diverges "
              "(SGD ~0.05, Adam ~0.001).", 0.00001, 1000.0, 0.01, 5),
        Field("momentum", "Momentum", "float", "Fraction of the previous update kept (SGD): smooths and speeds up "
              "descent; 0 is plain SGD.", 0.0, 0.999, 0.05, 3),
        Field("nesterov", "Nesterov", "bool", "Nesterov momentum: take the gradient at the look-ahead point "
              "(SGD with momentum only)."),
        Field("batch_size", "Batch size", "int", "Images per mini-batch, i.e. per optimizer step.", 1, 8192),
        Field("epochs", "Epochs", "int", "Passes over the whole training set.", 1, 1000),
    ]),
    ("Learning-rate schedule", [
        Field("schedule", "Schedule", "choice", "How the learning rate changes during training (plotted below).",
              choices=tuple((s, SCHEDULE_LABELS.get(s, s)) for s in SCHEDULES)),
        Field("step_size", "Step every (epochs)", "float", "Step decay: epochs between two drops.",
              0.1, 1000.0, 1.0, 2, schedules=("step",)),
        Field("gamma", "Drop factor", "float", "Step decay: the learning rate is multiplied by this at each drop.",
              0.01, 1.0, 0.05, 3, schedules=("step",)),
        Field("decay", "Decay rate k", "float", "Exponential exp(-k t) or 1/t decay 1/(1 + k t), t in epochs.",
              0.0, 100.0, 0.1, 3, schedules=("exponential", "inverse_time")),
        Field("lr_min", "Minimum lr", "float", "Cosine / SGDR: the learning rate at the bottom of each cycle.",
              0.0, 1000.0, 0.001, 5, schedules=("cosine", "sgdr")),
        Field("sgdr_cycle_epochs", "Cycle length (epochs)", "float", "SGDR: length of the first cosine cycle "
              "before the warm restart.", 0.1, 1000.0, 0.5, 2, schedules=("sgdr",)),
        Field("sgdr_mult", "Cycle multiplier", "float", "SGDR: each cycle is this many times longer than the last.",
              1.0, 10.0, 0.5, 2, schedules=("sgdr",)),
        Field("warmup_epochs", "Warm-up (epochs)", "float", "Ramp the learning rate up linearly over the first "
              "epochs (0 = none).", 0.0, 100.0, 0.5, 2),
    ]),
    ("Regularization, init", [
        Field("l2", "L2 lambda", "float", "The lecture's L2: adds lambda * sum W^2 (Conv/Linear weights) to the "
              "loss. Its gradient 2 lambda W is the same as weight decay 2 x lambda.", 0.0, 1.0, 0.0001, 6),
        Field("weight_decay", "Weight decay", "float", "Coupled weight decay: every step w -= lr * wd * w "
              "(= the lecture's L2 with lambda = wd / 2; the two add up).", 0.0, 1.0, 0.0001, 6),
        Field("l1", "L1", "float", "L1 regularization: adds lambda1 * sum |w| to the loss, pushing weights to "
              "exactly zero.", 0.0, 1.0, 0.0001, 6),
        Field("elastic_net", "Elastic net", "float", "Adds lambda * sum(beta w^2 + |w|) to the loss: L1 and L2 "
              "together.", 0.0, 1.0, 0.0001, 6),
        Field("elastic_beta", "Elastic net beta", "float", "Weight of the squared term inside the elastic net.",
              0.0, 100.0, 0.1, 3),
        Field("dropout", "Dropout (drop prob.)", "float", "The probability of DROPPING a unit in every Dropout "
              "layer (at the minimum: the values from the Network panel). The lecture's p is the probability of "
              "KEEPING a unit: keep p = 1 - this value, shown next to it.", -0.05, 0.95, 0.05, 2,
              special="as in network"),
        Field("init", "Weight init", "choice", "How Conv/Linear weights start: small random numbers vanish in deep "
              "nets, Xavier/He keep activations alive.", choices=tuple((s, INIT_LABELS.get(s, s)) for s in INIT_SCHEMES)),
        Field("init_constant", "Constant value", "float", "The value of every weight for the 'Constant' "
              "initialization.", -10.0, 10.0, 0.01, 4),
        Field("batchnorm", "Batch norm", "bool", "Insert BatchNorm after every conv and hidden linear layer "
              "that lacks one."),
    ]),
    ("Data for this run", [
        Field("train_subset", "Training images", "int", "Train on only this many images of the training split "
              "(the same ones for the same seed): few images and many epochs overfit.", 0, 1_000_000, 50,
              special="all"),
        Field("label_noise", "Label noise %", "float", "Give this percentage of the training images a random wrong "
              "label: the network can only fit them by memorizing.", 0.0, 100.0, 5.0, 1),
        Field("eval_train_each_epoch", "Measure train accuracy", "bool", "After every epoch also measure loss and "
              "accuracy on the training images with dropout and augmentation off, so the train/validation gap "
              "compares like with like (costs one pass over the training set)."),
    ]),
    ("Ensembles", [
        Field("ensemble", "Independent models K", "int", "Train K models from different random seeds and average "
              "their predictions (1 = a single model).", 1, 50),
        Field("snapshot_ensemble", "Snapshot ensemble K", "int", "Keep the model at the end of the last K SGDR "
              "cycles of one run and average them (needs the SGDR schedule).", 0, 50, special="off"),
    ]),
    ("Device, seed", [
        Field("device", "Device", "choice", "Where to train: auto picks CUDA, then Apple MPS, then the CPU.",
              choices=tuple((d, d.upper() if d != "auto" else "auto") for d in available_devices())),
        Field("amp", "Mixed precision", "bool", "float16 autocast on CUDA: faster on modern GPUs, ignored elsewhere."),
        Field("seed", "Seed", "int", "Random seed: the same seed gives the same run on the CPU (at the minimum: a "
              "fresh random seed).", -1, 2**31 - 1, special="random"),
        Field("track_layer_stats", "Layer statistics", "bool", "Record activation/gradient statistics each epoch "
              "for the Layer stats panel (slightly slower)."),
    ]),
]


class _TrainingJob:
    """Job factory: load the dataset (cached by the engine) in the worker, then train."""

    def __init__(self, spec, dataset: str, settings: TrainSettings, options: dict | None = None):
        self.spec = spec.copy()
        self.dataset = dataset
        self.settings = settings
        self.options = dict(options or {})  # e.g. an image folder's root and size

    def __call__(self):
        return self._run()

    def _run(self):
        from engine.data import load_dataset

        data = load_dataset(self.dataset, **self.options)
        return (yield from train_job(self.spec, data, self.settings))


def _fmt_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "—"
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _key_settings(settings: dict) -> str:
    opt = settings.get("optimizer", "?")
    if opt == "sgd" and settings.get("momentum", 0) > 0:
        opt = "SGD+Nesterov" if settings.get("nesterov") else f"SGD m={settings.get('momentum'):g}"
    parts = [opt, f"lr {settings.get('lr', 0):g}", SCHEDULE_LABELS.get(settings.get("schedule"), "")]
    if settings.get("batchnorm"):
        parts.append("BN")
    if settings.get("weight_decay"):
        parts.append(f"L2 {settings['weight_decay']:g}")
    if settings.get("l1"):
        parts.append(f"L1 {settings['l1']:g}")
    if settings.get("dropout") is not None:
        parts.append(f"dropout {settings['dropout']:g}")
    if settings.get("init", "default") != "default":
        parts.append(f"init {settings['init']}")
    if settings.get("ensemble", 1) > 1:
        parts.append(f"K={settings['ensemble']}")
    if settings.get("snapshot_ensemble", 0) >= 2:
        parts.append(f"snapshots={settings['snapshot_ensemble']}")
    return " · ".join(p for p in parts if p)


class TrainingPanel(Panel):
    title = "Training"
    description = "Train the network live: SGD, momentum, learning-rate schedules, regularization, ensembles."

    # The key columns (overlay with the run's number, accuracy, epochs) first, sized to their text;
    # the long run name and settings share what is left, elided (full text in the tooltip), so the
    # table never scrolls sideways at 200 % on 1280x800.
    RUN_COLUMNS = ["Overlay", "Val acc", "Epochs", "Images/s", "Run", "Settings"]
    KEY_RUN_COLUMNS = (0, 1, 2)

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.editors: dict[str, QWidget] = {}
        self.rows: dict[str, tuple[QLabel, QWidget]] = {}
        self.finished_runs: list[dict] = []  # name, settings, history, summary (kept for comparing)
        self.last_result: TrainResult | None = None
        self._live = {}  # latest progress numbers, drawn by the status timer
        self._member_offset_steps = 0
        self._member_offset_epochs = 0
        self._build_ui()
        self.set_settings(TrainSettings().to_dict())
        self.jobs.event.connect(self._on_event)
        self.jobs.succeeded.connect(self._on_succeeded)
        self.jobs.stopped.connect(self._on_stopped)
        self.jobs.failed.connect(self._on_failed)
        self.jobs.running_changed.connect(self._update_buttons)
        self.jobs.paused_changed.connect(self._update_buttons)
        ctx.spec_changed.connect(self._on_context_changed)
        ctx.dataset_changed.connect(self._on_context_changed)
        if hasattr(ctx, "data_options_changed"):
            ctx.data_options_changed.connect(self._on_context_changed)
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(100)
        self._status_timer.timeout.connect(self._refresh_status)
        self._update_buttons()
        self._on_context_changed()

    # ------------------------------------------------------------------ UI
    def _style_legends(self) -> None:
        """Legends in the corner the curves leave free, see-through so a curve under
        them still shows: loss falls (top right is free), accuracy rises (bottom right)."""
        background = QColor(theme.theme_colour("plot_bg"))
        background.setAlpha(150)
        corners = ((self.loss_plot, (1, 0), (-10, 10)), (self.acc_plot, (1, 1), (-10, -10)),
                   (self.lr_plot, (1, 0), (-10, 10)))
        for plot, corner, offset in corners:
            plot.legend.setBrush(pg.mkBrush(background))
            theme.set_legend_text_size(plot.legend, f"{theme.point_size(0.9):.1f}pt")  # as every legend
            plot.legend.anchor(itemPos=corner, parentPos=corner, offset=offset)

    def _fit_settings_width(self) -> None:
        """The settings column is as wide as its widest row needs at the current text size
        (no clipped field), and no wider: the plots get the rest."""
        wrap = QFormLayout.WrapAllRows if theme.current["scale"] >= 1.5 else QFormLayout.WrapLongRows
        for form in self.form_host.findChildren(QFormLayout):
            form.setRowWrapPolicy(wrap)  # at large text sizes labels go above their fields
        x = self.fontMetrics().horizontalAdvance("X")
        for combo in self.form_host.findChildren(QComboBox):
            combo.setMinimumWidth(12 * x)  # an explicit minimum: long entries elide instead of widening the column
        self.form_host.layout().activate()
        scrollbar = self.settings_scroll.verticalScrollBar().sizeHint().width()
        self.settings_scroll.setMinimumWidth(self.form_host.minimumSizeHint().width() + scrollbar + 4)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self._fit_settings_width()  # measured once the fonts and styles are final

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().changeEvent(event)
        if event.type() in (QEvent.FontChange, QEvent.StyleChange) and hasattr(self, "settings_scroll"):
            self._fit_settings_width()  # the text size changed while the app runs

    def _build_ui(self) -> None:
        root = QHBoxLayout(self)
        splitter = QSplitter(Qt.Horizontal)
        root.addWidget(splitter)

        # Left: the settings form (scrollable) and the run controls.
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.context_label = QLabel()
        self.context_label.setWordWrap(True)
        form_host = self.form_host = QWidget()
        form_layout = QVBoxLayout(form_host)
        form_layout.setContentsMargins(0, 0, 4, 0)
        # Inside the scroll area with the settings, so at large text sizes it does not
        # take the settings' room for good.
        form_layout.addWidget(self.context_label)
        for title, fields in GROUPS:
            box = QGroupBox(title)
            if title == "Data for this run":
                box.setToolTip("Knobs that provoke overfitting: fewer training images, noisy labels.")
            form = QFormLayout(box)
            form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
            # At large text sizes a label goes above its field instead of clipping the field.
            form.setRowWrapPolicy(QFormLayout.WrapLongRows)
            for field in fields:
                editor = self._make_editor(field)
                label = QLabel(field.label)
                label.setToolTip(field.tip)
                form.addRow(label, editor)
                self.editors[field.name] = editor
                self.rows[field.name] = (label, editor)
            if title == "Learning-rate schedule":
                self.lr_plot = LivePlot("Learning rate schedule", "epoch", "learning rate", from_zero=True,
                                        si_prefix=False)
                self.lr_plot.add_series("planned", 3)
                self.lr_plot.add_series("used", 0, width=3.5)
                # Tall enough for the "learning rate" axis label at any text size.
                self.lr_plot.setMinimumHeight(int(180 * max(1.0, theme.current["scale"])))
                self.lr_plot.setToolTip("The learning rate of every step, computed by the engine from these "
                                        "settings before training; the run follows exactly this curve.")
                form.addRow(self.lr_plot)
                # Lay other schedules over the plan (same lr, epochs and decay settings) to compare them.
                # One column of check boxes: a row of four is wider than the settings column at 200 %.
                compare_row = QGridLayout()
                compare_row.addWidget(QLabel("Compare:"), 0, 0)
                self.schedule_compare: dict[str, QCheckBox] = {}
                for number, name in enumerate(("step", "exponential", "inverse_time", "cosine")):
                    box_ = QCheckBox(SCHEDULE_LABELS.get(name, name))
                    box_.setToolTip(f"Overlay the {SCHEDULE_LABELS.get(name, name)} schedule (dashed) with these "
                                    "settings.")
                    box_.toggled.connect(self._on_settings_changed)
                    compare_row.addWidget(box_, 1 + number, 0)
                    self.schedule_compare[name] = box_
                compare_row.setColumnStretch(1, 1)
                form.addRow(compare_row)
            form_layout.addWidget(box)
        form_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(form_host)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        for combo in form_host.findChildren(QComboBox):
            # Elide long entries instead of widening the settings column.
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        self.settings_scroll = scroll
        left_layout.addWidget(scroll, 1)
        self.problems_label = QLabel()
        self.problems_label.setWordWrap(True)
        self.problems_label.setStyleSheet("color: #8a1c0c;")
        self.problems_label.hide()  # shown only when there is a problem: the settings get the room
        left_layout.addWidget(self.problems_label)

        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Train the network from the Network panel with these settings (Ctrl+Return).")
        self.start_button.clicked.connect(self.start_training)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Pause or resume the run between two batches (Ctrl+P).")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the run; curves so far stay on screen (Ctrl+.).")
        self.stop_button.clicked.connect(self.stop_training)
        for button in (self.start_button, self.pause_button, self.stop_button):
            buttons.addWidget(button)
        left_layout.addLayout(buttons)
        for keys, slot, what in (("Ctrl+Return", self.start_training, "Start training"),
                                 ("Ctrl+Enter", self.start_training, "Start training (keypad Enter)"),
                                 ("Ctrl+P", self.toggle_pause, "Pause / resume training"),
                                 ("Ctrl+.", self.stop_training, "Stop training")):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setWhatsThis(what)  # Help -> Keyboard shortcuts lists it
            shortcut.setContext(Qt.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        left_layout.addWidget(self.progress)
        self.status_label = QLabel("Ready.")
        self.status_label.setWordWrap(True)
        left_layout.addWidget(self.status_label)
        self._fit_settings_width()
        splitter.addWidget(left)

        # Right: the two curves a class watches (loss, accuracy) get the height; the learning rate
        # and throughput of the run sit in tabs beside the runs table. Four plots in a 2x2 grid left
        # each too small at 200 % text on 1280x800: cut titles, legends over the curves.
        right = QSplitter(Qt.Vertical)
        plots = QWidget()
        grid = QGridLayout(plots)
        grid.setContentsMargins(0, 0, 0, 0)
        self.loss_plot = LivePlot("Loss per iteration", "iteration", "cross-entropy loss")
        # The raw loss is the faint line behind the smoothed one: the legend names only what it explains.
        self.loss_plot.add_series("loss (raw)", 0, width=1.0, alpha=0.3, in_legend=False)
        self.loss_plot.add_series("loss (smoothed)", 0)
        # Validation loss once per epoch, at the epoch's last iteration: overfitting shows as this
        # line turning up while the training loss keeps falling.
        self.loss_plot.add_series("validation loss", 2, symbol="s")
        # The accuracy axis zooms to the data: a gap of a few points must not vanish on a 0-1 axis.
        self.acc_plot = LivePlot("Accuracy per epoch", "epoch", "accuracy", whole_number_x=True)
        self.acc_plot.add_series("train", 1, symbol="o")
        self.acc_plot.add_series("validation", 2, symbol="s")
        self.acc_plot.setToolTip("A growing gap between train and validation accuracy is overfitting.")
        self.run_lr_plot = LivePlot("Learning rate, this run", "iteration", "learning rate", from_zero=True,
                                     si_prefix=False)
        self.run_lr_plot.add_series("lr", 3)
        self.speed_plot = LivePlot("Throughput", "iteration", "images / s", from_zero=True)
        self.speed_plot.add_series("images/s", 5)
        # One series each: the title says what it is, a legend would only cover the curve.
        self.run_lr_plot.legend.setVisible(False)
        self.speed_plot.legend.setVisible(False)
        self._style_legends()
        theme.notifier.changed.connect(self._style_legends)
        grid.addWidget(self.loss_plot, 0, 0)
        grid.addWidget(self.acc_plot, 0, 1)
        right.addWidget(plots)

        tabs = QTabWidget()
        runs_page = QWidget()
        runs_layout = QVBoxLayout(runs_page)
        runs_layout.setContentsMargins(2, 2, 2, 2)
        self.runs_table = QTableWidget(0, len(self.RUN_COLUMNS))
        self.runs_table.setHorizontalHeaderLabels(self.RUN_COLUMNS)
        self.runs_table.verticalHeader().setVisible(False)
        self.runs_table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.runs_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        header = self.runs_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setMinimumSectionSize(8)
        for column in (4, 5):
            header.setSectionResizeMode(column, QHeaderView.Stretch)
        self.runs_table.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.runs_table.setTextElideMode(Qt.ElideRight)
        self.runs_table.setToolTip("Finished runs: tick Overlay to draw their curves dashed under the live run.")
        self.runs_table.itemChanged.connect(self._on_run_item_changed)
        theme.follow_font(self.runs_table)
        runs_layout.addWidget(self.runs_table)
        checkpoint_row = QHBoxLayout()
        self.save_button = QPushButton("Save checkpoint…")
        self.save_button.setToolTip("Save the latest trained model with its architecture, settings and curves.")
        self.save_button.clicked.connect(self._on_save_clicked)
        self.load_button = QPushButton("Load checkpoint…")
        self.load_button.setToolTip("Open a saved run folder (or checkpoint.pt): the other panels use its model.")
        self.load_button.clicked.connect(self._on_load_clicked)
        self.clear_runs_button = QPushButton("Clear runs")
        self.clear_runs_button.setToolTip("Forget the finished runs listed here (saved checkpoints stay on disk).")
        self.clear_runs_button.clicked.connect(self.clear_runs)
        for button in (self.save_button, self.load_button, self.clear_runs_button):
            checkpoint_row.addWidget(button)
        checkpoint_row.addStretch(1)
        runs_layout.addLayout(checkpoint_row)
        tabs.addTab(runs_page, "Compare runs")
        self.ensemble_table = QTableWidget(0, 2)
        self.ensemble_table.setHorizontalHeaderLabels(["Model", "Validation accuracy"])
        self.ensemble_table.verticalHeader().setVisible(False)
        self.ensemble_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.ensemble_table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        theme.follow_font(self.ensemble_table)
        self.ensemble_table.setToolTip("Each member's validation accuracy and the ensemble's (mean of softmax).")
        tabs.addTab(self.ensemble_table, "Ensemble")
        tabs.addTab(self.run_lr_plot, "Learning rate")
        tabs.addTab(self.speed_plot, "Throughput")
        self.result_tabs = tabs
        right.addWidget(tabs)
        right.setStretchFactor(0, 2)
        right.setStretchFactor(1, 1)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([400, 1000])

    def _make_editor(self, field: Field) -> QWidget:
        if field.kind == "bool":
            editor = QCheckBox()
            editor.toggled.connect(self._on_settings_changed)
        elif field.kind == "choice":
            editor = QComboBox()
            for value, label in field.choices:
                editor.addItem(label, value)
            editor.currentIndexChanged.connect(self._on_settings_changed)
        elif field.kind == "int":
            editor = QSpinBox()
            editor.setRange(int(field.minimum), int(field.maximum))
            editor.setKeyboardTracking(False)
            editor.valueChanged.connect(self._on_settings_changed)
        else:
            editor = QDoubleSpinBox()
            editor.setDecimals(field.decimals)
            editor.setRange(field.minimum, field.maximum)
            editor.setSingleStep(field.step)
            editor.setKeyboardTracking(False)
            editor.valueChanged.connect(self._on_settings_changed)
        if field.special:
            editor.setSpecialValueText(field.special)
        editor.setToolTip(field.tip)
        return editor

    # ------------------------------------------------------------------ settings <-> form
    def _field(self, name: str) -> Field:
        for _, fields in GROUPS:
            for field in fields:
                if field.name == name:
                    return field
        raise KeyError(name)

    def form_values(self) -> dict:
        values = {}
        for name, editor in self.editors.items():
            field = self._field(name)
            if field.kind == "bool":
                value = editor.isChecked()
            elif field.kind == "choice":
                value = editor.currentData()
            else:
                value = editor.value()
                if field.special and value == editor.minimum():
                    value = None if name in ("dropout", "seed") else int(value if value > 0 else 0)
            values[name] = value
        return values

    def settings(self) -> TrainSettings:
        """TrainSettings from the form plus the dataset and data options the Data panel shares."""
        values = self.form_values()
        values["dataset"] = self.ctx.dataset
        options = getattr(self.ctx, "data_options", None) or {}
        for name in DATA_FIELDS:
            if name in options:
                values[name] = options[name]
        if values.get("snapshot_ensemble") is None:
            values["snapshot_ensemble"] = 0
        return TrainSettings(**values)

    def set_settings(self, values: dict) -> None:
        """Put known TrainSettings fields into the form (others are ignored)."""
        for name, value in values.items():
            editor = self.editors.get(name)
            if editor is None:
                continue
            editor.blockSignals(True)
            field = self._field(name)
            if field.kind == "bool":
                editor.setChecked(bool(value))
            elif field.kind == "choice":
                index = editor.findData(value)
                if index >= 0:
                    editor.setCurrentIndex(index)
            elif value is None:
                editor.setValue(editor.minimum())
            else:
                editor.setValue(value)
            editor.blockSignals(False)
        self._on_settings_changed()

    def _on_settings_changed(self, *_args) -> None:
        values = self.form_values()
        schedule = values.get("schedule")
        for name in self.editors:
            field = self._field(name)
            if field.schedules:
                visible = schedule in field.schedules
                for widget in self.rows[name]:
                    widget.setVisible(visible)
        sgd = values.get("optimizer") == "sgd"
        self.editors["momentum"].setEnabled(sgd)
        self.editors["nesterov"].setEnabled(sgd and values.get("momentum", 0) > 0)
        self.editors["init_constant"].setEnabled(values.get("init") == "constant")
        self.editors["elastic_beta"].setEnabled(values.get("elastic_net", 0) > 0)
        drop = values.get("dropout")
        self.editors["dropout"].setSuffix("" if drop is None else f"  (keep p = {1 - drop:.2f})")
        l2 = values.get("l2") or 0.0
        self.editors["l2"].setSuffix(f"  (= wd {2 * l2:.6g})" if l2 else "")
        cuda = "cuda" in available_devices()
        self.editors["amp"].setEnabled(cuda and values.get("device") in ("auto", "cuda"))
        try:
            settings = self.settings()
            problems = settings.problems()
        except (TypeError, ValueError) as exc:
            settings, problems = None, [str(exc)]
        self.problems_label.setText("\n".join(problems))
        self.problems_label.setVisible(bool(problems))
        if settings is not None and not problems:
            self._update_schedule_plot(settings)

    def _train_images(self) -> int:
        info = getattr(self.ctx, "dataset_info", None)
        if isinstance(info, dict) and info.get("name") == self.ctx.dataset and info.get("n_train"):
            return int(info["n_train"])
        return DEFAULT_TRAIN_IMAGES

    def _update_schedule_plot(self, settings: TrainSettings) -> None:
        steps = steps_per_epoch_for(self._train_images(), settings.batch_size)
        try:  # at most 2000 points whatever the run length: the GUI thread never computes every step
            epochs, curve = learning_rate_plan(settings, steps, max_points=2000)
        except ConvScopeError as exc:
            self.problems_label.setText(str(exc))
            self.problems_label.setVisible(True)
            return
        self.lr_plot.set_points("planned", epochs.tolist(), curve.tolist())
        if not self.jobs.running:  # a finished run's "used" line belongs to the old plan
            self.lr_plot.set_points("used", [], [])
        self.lr_plot.clear_overlays()
        for index, (name, box) in enumerate(getattr(self, "schedule_compare", {}).items()):
            if box.isChecked() and name != settings.schedule:
                other = TrainSettings(**{**settings.to_dict(), "schedule": name})
                try:
                    x, y = learning_rate_plan(other, steps, max_points=2000)
                except ConvScopeError:
                    continue
                self.lr_plot.add_overlay(f"compare:{name}", SCHEDULE_LABELS.get(name, name), x, y, 4 + index)
        self.lr_plot.redraw()
        self._planned_steps_per_epoch = steps

    def _on_context_changed(self, *_args) -> None:
        spec = self.ctx.spec
        if spec is None:
            network = "no network yet (build one in the Network panel)"
        else:
            infos = analyze(spec)
            bad = next((i for i in infos if i.error), None)
            network = f"{spec.name} ({total_params(infos):,} parameters)"
            if bad is not None:
                network += f" — layer {bad.index + 1} is impossible, see the Network panel"
        options = getattr(self.ctx, "data_options", None) or {}
        preprocessing = options.get("normalization", TrainSettings.normalization).replace("_", " ")
        augment = [name for name in DATA_FIELDS[1:] if options.get(name)]
        self.context_label.setText(
            f"<b>Network:</b> {network}<br><b>Data:</b> {self.ctx.dataset} · {preprocessing} · "
            f"augmentation: {', '.join(augment) if augment else 'none'} <i>(set in the Data panel)</i>")
        self._on_settings_changed()

    # ------------------------------------------------------------------ run control
    def start_training(self) -> None:
        if self.jobs.running:
            return
        spec = self.ctx.spec
        if spec is None:
            self.ctx.show_error("No network", "Build or load a network in the Network panel first.")
            return
        bad = next((info for info in analyze(spec) if info.error), None)
        if bad is not None or not spec.layers:
            reason = f"Layer {bad.index + 1} ({bad.name}): {bad.error}" if bad else "The network has no layers."
            self.ctx.show_error("Impossible architecture", f"{reason} Fix it in the Network panel first.")
            return
        try:
            settings = self.settings()
        except (TypeError, ValueError) as exc:
            self.ctx.show_error("Training settings", str(exc))
            return
        problems = settings.problems()
        if problems:
            self.ctx.show_error("Training settings", " ".join(problems))
            return
        self._reset_live()
        self._settings_of_run = settings
        self.status_label.setText("Loading data and building the model…")
        info = getattr(self.ctx, "dataset_info", None)
        options = info.get("options") if isinstance(info, dict) and info.get("name") == self.ctx.dataset else None
        self.jobs.start(_TrainingJob(spec, self.ctx.dataset, settings, options))
        self._status_timer.start()

    def toggle_pause(self) -> None:
        if not self.jobs.running:
            return
        if self.jobs.paused:
            self.jobs.resume()
        else:
            self.jobs.pause()

    def stop_training(self) -> None:
        if self.jobs.running:
            self.jobs.stop()  # -> _on_stopped

    def _update_buttons(self, *_args) -> None:
        running = self.jobs.running
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.stop_button.setEnabled(running)
        self.pause_button.setText("Resume" if running and self.jobs.paused else "Pause")
        self.form_host.setEnabled(not running)  # settings are fixed while a run uses them
        self.load_button.setEnabled(not running)

    def _reset_live(self) -> None:
        for plot in (self.loss_plot, self.acc_plot):
            for name in plot.series_names():
                if name.startswith("model "):  # an earlier ensemble's members
                    plot.remove_series(name)
        for plot in (self.loss_plot, self.acc_plot, self.run_lr_plot, self.speed_plot):
            plot.clear()
        self.lr_plot.set_points("used", [], [])
        self.ensemble_table.setRowCount(0)
        self._live = {"fraction": 0.0, "eta": float("nan"), "ips": float("nan"), "epoch": 0, "epochs": 0,
                      "member": 0, "members": 1, "step": 0, "loss": float("nan")}
        self._steps_per_member = 0
        self._epochs_per_member = 0
        self._member_offset_steps = 0
        self._member_offset_epochs = 0
        self.progress.setValue(0)
        self.progress.setFormat("starting…")

    # ------------------------------------------------------------------ events (store only; timers draw)
    @staticmethod
    def _member_series(plot: LivePlot, base: str, member: int) -> str:
        """Member 0 uses the plot's own series; member k gets 'model k+1 <base>', added on first use."""
        if member == 0:
            return base
        name = f"model {member + 1} {base}"
        if name not in plot.series_names():
            plot.add_series(name, member + 2, width=theme.plot_line_width() * 0.7)
        return name

    def _on_event(self, event) -> None:
        self.ctx.training_event.emit(event)
        if isinstance(event, BatchEnd):
            x = self._member_offset_steps + event.step
            if event.member == 0:
                self.loss_plot.append("loss (raw)", event.step, event.loss)
            # Ensemble members: one labelled line each, over the same iterations, to compare them.
            self.loss_plot.append(self._member_series(self.loss_plot, "loss (smoothed)", event.member), event.step,
                                  event.smoothed_loss)
            self.run_lr_plot.append("lr", x, event.lr)
            if math.isfinite(event.images_per_sec):
                self.speed_plot.append("images/s", x, event.images_per_sec)
            if event.member == 0 and self._steps_per_member:
                self.lr_plot.append("used", event.step / (self._steps_per_member / max(1, self._epochs_per_member)),
                                    event.lr)
            self._live.update(fraction=event.fraction, eta=event.eta_s, ips=event.images_per_sec,
                              epoch=event.epoch, step=event.step, loss=event.smoothed_loss)
        elif isinstance(event, EpochEnd):
            x = event.epoch + 1
            if event.member == 0:
                self.acc_plot.append("train", x, event.train_acc)
            if math.isfinite(event.val_acc):
                self.acc_plot.append(self._member_series(self.acc_plot, "validation", event.member), x,
                                     event.val_acc)
            if math.isfinite(event.val_loss) and self._epochs_per_member and event.member == 0:
                steps_per_epoch = self._steps_per_member / self._epochs_per_member
                self.loss_plot.append("validation loss", (event.epoch + 1) * steps_per_epoch, event.val_loss)
            self._live.update(train_acc=event.train_acc, val_acc=event.val_acc)
        elif isinstance(event, TrainStarted):
            self._steps_per_member = event.total_steps
            self._epochs_per_member = event.epochs
            self._member_offset_steps = event.member * event.total_steps
            self._member_offset_epochs = event.member * event.epochs
            self._live.update(member=event.member, members=event.members, epochs=event.epochs,
                              device=event.device, params=event.num_params,
                              penalty=event.penalty_to_data_loss)
            if event.member == 0:
                self._acc_span = event.epochs
                self.acc_plot.set_x_span(0, self._acc_span + 0.5)
        elif isinstance(event, MemberFinished):
            self._set_ensemble_row(event.member, f"model {event.member + 1}", event.val_acc)
        elif isinstance(event, EnsembleResult):
            kind = "snapshot" if event.kind == "snapshot" else "member"
            for i, acc in enumerate(event.member_val_accs):
                self._set_ensemble_row(i, f"{kind} {i + 1}", acc)
            self._set_ensemble_row(len(event.member_val_accs), "ensemble (mean softmax)", event.ensemble_val_acc,
                                   bold=True)
            self.result_tabs.setCurrentWidget(self.ensemble_table)

    def _set_ensemble_row(self, row: int, name: str, acc: float, bold: bool = False) -> None:
        if self.ensemble_table.rowCount() <= row:
            self.ensemble_table.setRowCount(row + 1)
        for column, text in enumerate((name, f"{acc:.2%}" if math.isfinite(acc) else "—")):
            item = QTableWidgetItem(text)
            if bold:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            self.ensemble_table.setItem(row, column, item)

    def _refresh_status(self) -> None:
        live = self._live
        if not live or not self.jobs.running:
            return
        self.progress.setValue(int(live.get("fraction", 0.0) * 1000))
        self.progress.setFormat(f"{live.get('fraction', 0.0):.0%} · ETA {_fmt_seconds(live.get('eta', float('nan')))}")
        parts = []
        if live.get("members", 1) > 1:
            parts.append(f"model {live.get('member', 0) + 1}/{live['members']}")
        if live.get("epochs"):
            parts.append(f"epoch {live.get('epoch', 0) + 1}/{live['epochs']}")
        if math.isfinite(live.get("loss", float("nan"))):
            parts.append(f"loss {live['loss']:.3f}")
        if math.isfinite(live.get("penalty", float("nan"))):  # how strong the chosen lambda really is
            parts.append(f"penalty {live['penalty']:.2g}x the data loss at the start")
        if "val_acc" in live and math.isfinite(live["val_acc"]):
            parts.append(f"val acc {live['val_acc']:.1%}")
            if math.isfinite(live.get("train_acc", float("nan"))):
                parts.append(f"gap {100 * (live['train_acc'] - live['val_acc']):.1f} points")
        if math.isfinite(live.get("ips", float("nan"))):
            parts.append(f"{live['ips']:,.0f} images/s")
        if live.get("device"):
            parts.append(live["device"])
        prefix = "Paused · " if self.jobs.paused else ""
        self.status_label.setText(prefix + " · ".join(parts))

    # ------------------------------------------------------------------ endings
    def _finish(self, message: str, progress_text: str = "stopped") -> None:
        self._status_timer.stop()
        for plot in (self.loss_plot, self.acc_plot, self.run_lr_plot, self.speed_plot, self.lr_plot):
            plot.redraw()
        self.status_label.setText(message)
        self.progress.setFormat(progress_text)
        self._update_buttons()

    def _on_succeeded(self, result) -> None:
        if not isinstance(result, TrainResult):
            return
        self.last_result = result
        self.progress.setValue(1000)
        summary = result.summary
        self.add_finished_run(result.run.name, result.run.settings, result.run.history, summary)
        self.ctx.set_run(result.run)
        train_acc, val_acc = summary.get("train_acc", float("nan")), summary.get("val_acc", float("nan"))
        history = result.run.history
        if history.get("train_eval_acc"):  # measured like validation (dropout and augmentation off)
            train_acc = history["train_eval_acc"][-1]
        text = (f"Finished: train acc {train_acc:.1%}, val acc {val_acc:.1%}, "
                f"gap {100 * (train_acc - val_acc):.1f} points, "
                f"{summary.get('images_per_sec', float('nan')):,.0f} images/s, {summary.get('seconds', 0):.1f} s")
        if "ensemble_val_acc" in summary:
            text += f"; ensemble val acc {summary['ensemble_val_acc']:.1%}"
        self._finish(text, "100% · done")
        self.ctx.status(text)

    def _on_stopped(self) -> None:
        self._finish("Stopped. The curves so far stay on screen.")

    def _on_failed(self, title: str, message: str) -> None:
        # The base class already shows the message box; keep the curves, free the buttons.
        self._finish(f"{title}: {message}", "failed")

    # ------------------------------------------------------------------ compare runs
    def add_finished_run(self, name: str, settings: dict, history: dict, summary: dict | None = None) -> None:
        number = len(self.finished_runs) + 1
        entry = {"name": f"#{number} {name}", "settings": dict(settings), "history": dict(history),
                 "summary": dict(summary or {}), "key": f"run{number}"}
        self.finished_runs.append(entry)
        self._add_run_row(entry)

    def _add_run_row(self, entry: dict) -> None:
        row = self.runs_table.rowCount()
        self.runs_table.blockSignals(True)
        self.runs_table.insertRow(row)
        check = QTableWidgetItem()
        check.setFlags(Qt.ItemIsUserCheckable | Qt.ItemIsEnabled | Qt.ItemIsSelectable)
        check.setCheckState(Qt.Unchecked)
        check.setText(entry["name"].split(" ", 1)[0])  # "#2": which curves are this run's
        check.setToolTip("Draw this run's curves (dashed) for comparison.")
        self.runs_table.setItem(row, 0, check)
        history, summary, settings = entry["history"], entry["summary"], entry["settings"]
        val = summary.get("ensemble_val_acc", summary.get("val_acc"))
        if val is None and history.get("val_acc"):
            finite = [v for v in history["val_acc"] if v is not None and math.isfinite(v)]
            val = finite[-1] if finite else None
        ips = summary.get("images_per_sec")
        epochs = len(history.get("epoch", [])) or settings.get("epochs", "")
        texts = [f"{val:.1%}" if isinstance(val, (int, float)) and math.isfinite(val) else "—", str(epochs),
                 f"{ips:,.0f}" if isinstance(ips, (int, float)) and math.isfinite(ips) else "—",
                 entry["name"].split(" ", 1)[-1], _key_settings(settings)]  # its "#n" is in the Overlay column
        for column, text in enumerate(texts, start=1):
            item = QTableWidgetItem(text)
            item.setToolTip(f"{entry['name']}: {_key_settings(settings)}")
            self.runs_table.setItem(row, column, item)
        self.runs_table.blockSignals(False)

    def _on_run_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() != 0:
            return
        self.set_overlay(item.row(), item.checkState() == Qt.Checked)

    def set_overlay(self, index: int, shown: bool) -> None:
        entry = self.finished_runs[index]
        key = entry["key"]
        plots = (self.loss_plot, self.acc_plot, self.run_lr_plot)
        for plot in plots:
            plot.remove_overlay(key)
        item = self.runs_table.item(index, 0)
        if item is not None and (item.checkState() == Qt.Checked) != shown:
            self.runs_table.blockSignals(True)
            item.setCheckState(Qt.Checked if shown else Qt.Unchecked)
            self.runs_table.blockSignals(False)
        if not shown:
            return
        history = entry["history"]
        colour = 4 + index
        label = entry["name"].split(" ", 1)[0]
        if history.get("step") and history.get("smoothed_loss"):
            self.loss_plot.add_overlay(key, f"{label} loss", history["step"], history["smoothed_loss"], colour)
        if history.get("epoch") and history.get("val_acc"):
            epochs = [e + 1 for e in history["epoch"]]
            self._acc_span = max(getattr(self, "_acc_span", 1), max(epochs))
            self.acc_plot.set_x_span(0, self._acc_span + 0.5)
            self.acc_plot.add_overlay(key, f"{label} val", epochs, history["val_acc"], colour, symbol="s")
            if history.get("train_acc"):
                self.acc_plot.add_overlay(key, f"{label} train", epochs, history["train_acc"], colour, dashed=False,
                                          symbol="o")

    def clear_runs(self) -> None:
        for index in range(len(self.finished_runs)):
            self.set_overlay(index, False)
        self.finished_runs.clear()
        self.runs_table.setRowCount(0)

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, folder: str | Path) -> bool:
        run = self.ctx.run
        if run is None:
            self.ctx.show_error("Nothing to save", "Train a network (or load one) before saving a checkpoint.")
            return False
        try:
            save_run(folder, run)
        except (ConvScopeError, OSError) as exc:
            title = exc.title if isinstance(exc, ConvScopeError) else "Checkpoint problem"
            self.ctx.show_error(title, f"Could not save to {folder}: {exc}")
            return False
        self.ctx.status(f"Saved {run.name} to {folder}")
        return True

    def load_checkpoint(self, path: str | Path) -> bool:
        try:
            run = load_run(path)
        except ConvScopeError as exc:
            self.ctx.show_error(exc.title, str(exc))
            return False
        except OSError as exc:
            self.ctx.show_error("Checkpoint problem", f"Could not read {path}: {exc}")
            return False
        self.add_finished_run(f"{run.name} (loaded)", run.settings, run.history,
                              (run.history.get("summary") or [{}])[0])
        self.ctx.set_run(run)
        self.ctx.status(f"Loaded {run.name} from {path}")
        return True

    def _on_save_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save run into folder")
        if folder:
            self.save_checkpoint(folder)

    def _on_load_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open run folder")
        if folder:
            self.load_checkpoint(folder)

    # ------------------------------------------------------------------ workspaces, lessons, screenshots
    def save_state(self) -> dict:
        return {"settings": self.form_values(),
                "runs": [{k: entry[k] for k in ("name", "settings", "history", "summary")}
                         for entry in self.finished_runs]}

    def restore_state(self, state: dict) -> None:
        if not isinstance(state, dict):
            return
        if isinstance(state.get("settings"), dict):
            self.set_settings(state["settings"])
        if isinstance(state.get("runs"), list):
            self.clear_runs()
            for entry in state["runs"]:
                if isinstance(entry, dict):
                    name = str(entry.get("name", "run")).split(" ", 1)[-1]
                    self.add_finished_run(name, entry.get("settings") or {}, entry.get("history") or {},
                                          entry.get("summary") or {})

    def apply_lesson(self, setup: dict) -> None:
        if isinstance(setup.get("settings"), dict):
            self.set_settings(setup["settings"])
        if setup.get("start"):
            self.start_training()

    def prepare_screenshot(self) -> None:
        from gui.screenshots import wait_for

        # Two short real runs of LeNet-5 on MNIST-5k: with and without batch norm, the first overlaid.
        from engine.spec import load_preset

        if self.ctx.spec is None or self.ctx.spec.name != "LeNet-5" or any(i.error for i in analyze(self.ctx.spec)):
            self.ctx.set_spec(load_preset("lenet5"))
        self.set_settings({"epochs": 1, "batchnorm": False, "schedule": "cosine", "lr": 0.05, "seed": 0})
        self.start_training()
        wait_for(lambda: not self.jobs.running, 120)
        self.set_settings({"epochs": 2, "batchnorm": True})
        self.start_training()
        wait_for(lambda: not self.jobs.running, 120)
        if self.finished_runs:
            self.set_overlay(0, True)
        self.result_tabs.setCurrentIndex(0)
