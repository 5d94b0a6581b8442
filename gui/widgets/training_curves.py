"""The Training panel's live view: loss and accuracy get the height; the runs table, the
ensemble's members, the learning rate of the run and its throughput sit in tabs below.
`handle(event)` only stores numbers (the LivePlots redraw on their own timers) and keeps the
latest progress in `live`, which `status_text` words for the panel's status line."""
from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractItemView, QGridLayout, QHeaderView, QSplitter, QTableWidget,
                               QTableWidgetItem, QTabWidget, QWidget)

from engine.train import BatchEnd, EnsembleResult, EpochEnd, MemberFinished, TrainStarted
from gui import theme
from gui.widgets.live_plot import LivePlot


def format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "—"
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _finite(live: dict, key: str) -> bool:
    return math.isfinite(live.get(key, float("nan")))


def status_text(live: dict) -> str:
    """One line from the latest progress numbers: model, epoch, loss, penalty, accuracy, gap, speed."""
    parts = []
    if live.get("members", 1) > 1:
        parts.append(f"model {live.get('member', 0) + 1}/{live['members']}")
    if live.get("epochs"):
        parts.append(f"epoch {live.get('epoch', 0) + 1}/{live['epochs']}")
    if _finite(live, "loss"):
        parts.append(f"loss {live['loss']:.3f}")
    if _finite(live, "penalty"):  # how strong the chosen lambda really is
        parts.append(f"penalty {live['penalty']:.2g}x the data loss at the start")
    if _finite(live, "val_acc"):
        parts.append(f"val acc {live['val_acc']:.1%}")
        if _finite(live, "train_acc"):
            parts.append(f"gap {100 * (live['train_acc'] - live['val_acc']):.1f} points")
    if _finite(live, "ips"):
        parts.append(f"{live['ips']:,.0f} images/s")
    if live.get("device"):
        parts.append(live["device"])
    return " · ".join(parts)


class TrainingCurves(QSplitter):
    """Loss and accuracy above; tabs with `runs_page`, the ensemble, the run's learning rate and
    throughput below. `plan_plot` (the form's schedule plot) gets the learning rate used."""

    def __init__(self, runs_page: QWidget, plan_plot: LivePlot, parent: QWidget | None = None):
        super().__init__(Qt.Vertical, parent)
        self.plan_plot = plan_plot
        self.live: dict = {}
        self.acc_span = 1
        self._steps_per_member = 0
        self._epochs_per_member = 0
        self._member_offset_steps = 0
        self._overlay_last_steps: dict = {}  # shown earlier run -> its last iteration
        # Four plots in a 2x2 grid left each too small at 200 % text on 1280x800: cut titles,
        # legends over the curves. The two a class watches get the height.
        plots = QWidget()
        grid = QGridLayout(plots)
        grid.setContentsMargins(0, 0, 0, 0)
        # From zero, and (while a run is live) over all its planned iterations: axes that do not
        # move are painted from a cache, so a live frame costs a third as much.
        self.loss_plot = LivePlot("Loss per iteration", "iteration", "cross-entropy loss", from_zero=True)
        # The raw loss is the faint line behind the smoothed one: the legend names only what it explains.
        self.loss_plot.add_series("loss (raw)", 0, width=1.0, alpha=0.3, in_legend=False)
        self.loss_plot.add_series("loss (smoothed)", 0)
        # Validation loss once per epoch, at the epoch's last iteration: overfitting shows as this
        # line turning up while the training loss keeps falling.
        self.loss_plot.add_series("validation loss", 2, symbol="s")
        # The accuracy axis zooms to the data (in steps of 0.05): a gap of a few points must not vanish
        # on a 0-1 axis.
        self.acc_plot = LivePlot("Accuracy per epoch", "epoch", "accuracy", whole_number_x=True, y_step=0.05)
        # New points come once an epoch; short epochs (MNIST-5k: ~0.5 s) still get at most a frame a second.
        self.acc_plot.live_interval_s = 1.0
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
        self.style_legends()
        theme.notifier.changed.connect(self.style_legends)
        grid.addWidget(self.loss_plot, 0, 0)
        grid.addWidget(self.acc_plot, 0, 1)
        self.addWidget(plots)

        tabs = self.result_tabs = QTabWidget()
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
        self.addWidget(tabs)
        self.setStretchFactor(0, 2)
        self.setStretchFactor(1, 1)

    def all_plots(self) -> tuple[LivePlot, ...]:
        return self.loss_plot, self.acc_plot, self.run_lr_plot, self.speed_plot, self.plan_plot

    def style_legends(self) -> None:
        """Legends in the corner the curves leave free, see-through so a curve under
        them still shows: loss falls (top right is free), accuracy rises (bottom right)."""
        background = QColor(theme.theme_colour("plot_bg"))
        background.setAlpha(150)
        corners = ((self.loss_plot, (1, 0), (-10, 10)), (self.acc_plot, (1, 1), (-10, -10)),
                   (self.plan_plot, (1, 0), (-10, 10)))
        for plot, corner, offset in corners:
            plot.legend.setBrush(pg.mkBrush(background))
            theme.set_legend_text_size(plot.legend, f"{theme.point_size(0.9):.1f}pt")  # as every legend
            plot.legend.anchor(itemPos=corner, parentPos=corner, offset=offset)

    # ------------------------------------------------------------------ a run
    def reset(self) -> None:
        """Empty curves and progress for a new run (overlays of finished runs stay)."""
        for plot in (self.loss_plot, self.acc_plot):
            for name in plot.series_names():
                if name.startswith("model "):  # an earlier ensemble's members
                    plot.remove_series(name)
        for plot in (self.loss_plot, self.acc_plot, self.run_lr_plot, self.speed_plot):
            plot.clear()
        self.plan_plot.set_points("used", [], [])
        self.ensemble_table.setRowCount(0)
        self.live = {"fraction": 0.0, "eta": float("nan"), "ips": float("nan"), "epoch": 0, "epochs": 0,
                     "member": 0, "members": 1, "step": 0, "loss": float("nan")}
        self._steps_per_member = 0
        self._epochs_per_member = 0
        self._member_offset_steps = 0

    def redraw(self) -> None:
        for plot in self.all_plots():
            plot.redraw()

    def end_run(self) -> None:
        """The last points of a run that ended (finished, stopped or failed); the loss axis
        follows the data again, earlier runs' overlays included."""
        self.loss_plot.follow_x()
        self.redraw()

    def _overlay_steps(self) -> list[int]:
        return list(self._overlay_last_steps.values())

    @staticmethod
    def _member_series(plot: LivePlot, base: str, member: int) -> str:
        """Member 0 uses the plot's own series; member k gets 'model k+1 <base>', added on first use."""
        if member == 0:
            return base
        name = f"model {member + 1} {base}"
        if name not in plot.series_names():
            plot.add_series(name, member + 2, width=theme.plot_line_width() * 0.7)
        return name

    def handle(self, event) -> None:
        if isinstance(event, BatchEnd):
            self._on_batch(event)
        elif isinstance(event, EpochEnd):
            self._on_epoch(event)
        elif isinstance(event, TrainStarted):
            self._steps_per_member = event.total_steps
            self._epochs_per_member = event.epochs
            self._member_offset_steps = event.member * event.total_steps
            self.live.update(member=event.member, members=event.members, epochs=event.epochs,
                             device=event.device, params=event.num_params, penalty=event.penalty_to_data_loss)
            if event.member == 0:
                self.acc_span = event.epochs
                self.acc_plot.set_x_span(0, self.acc_span + 0.5)
                self.loss_plot.set_x_span(0, max([event.total_steps] + self._overlay_steps()))
        elif isinstance(event, MemberFinished):
            self._set_ensemble_row(event.member, f"model {event.member + 1}", event.val_acc)
        elif isinstance(event, EnsembleResult):
            kind = "snapshot" if event.kind == "snapshot" else "member"
            for i, acc in enumerate(event.member_val_accs):
                self._set_ensemble_row(i, f"{kind} {i + 1}", acc)
            self._set_ensemble_row(len(event.member_val_accs), "ensemble (mean softmax)", event.ensemble_val_acc,
                                   bold=True)
            self.result_tabs.setCurrentWidget(self.ensemble_table)

    def _on_batch(self, event: BatchEnd) -> None:
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
            self.plan_plot.append("used", event.step / (self._steps_per_member / max(1, self._epochs_per_member)),
                                  event.lr)
        self.live.update(fraction=event.fraction, eta=event.eta_s, ips=event.images_per_sec,
                         epoch=event.epoch, step=event.step, loss=event.smoothed_loss)

    def _on_epoch(self, event: EpochEnd) -> None:
        x = event.epoch + 1
        if event.member == 0:
            self.acc_plot.append("train", x, event.train_acc)
        if math.isfinite(event.val_acc):
            self.acc_plot.append(self._member_series(self.acc_plot, "validation", event.member), x, event.val_acc)
        if math.isfinite(event.val_loss) and self._epochs_per_member and event.member == 0:
            steps_per_epoch = self._steps_per_member / self._epochs_per_member
            self.loss_plot.append("validation loss", (event.epoch + 1) * steps_per_epoch, event.val_loss)
        self.live.update(train_acc=event.train_acc, val_acc=event.val_acc)

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

    # ------------------------------------------------------------------ finished runs
    def show_run(self, entry: dict, index: int, shown: bool) -> None:
        """Draw (or remove) a finished run's curves, dashed, under the live ones."""
        key = entry["key"]
        for plot in (self.loss_plot, self.acc_plot, self.run_lr_plot):
            plot.remove_overlay(key)
        self._overlay_last_steps.pop(key, None)
        if not shown:
            return
        history = entry["history"]
        colour = 4 + index
        label = entry["name"].split(" ", 1)[0]
        if history.get("step") and history.get("smoothed_loss"):
            self._overlay_last_steps[key] = int(history["step"][-1])
            self.loss_plot.add_overlay(key, f"{label} loss", history["step"], history["smoothed_loss"], colour)
        if history.get("epoch") and history.get("val_acc"):
            epochs = [e + 1 for e in history["epoch"]]
            self.acc_span = max(self.acc_span, max(epochs))
            self.acc_plot.set_x_span(0, self.acc_span + 0.5)
            self.acc_plot.add_overlay(key, f"{label} val", epochs, history["val_acc"], colour, symbol="s")
            if history.get("train_acc"):
                self.acc_plot.add_overlay(key, f"{label} train", epochs, history["train_acc"], colour, dashed=False,
                                          symbol="o")
