"""Training panel: real (tiny) training through the worker, pause/stop, divergence,
schedule plot, compare runs, checkpoints, state."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from engine.spec import LayerSpec, NetworkSpec
from engine.train import BatchEnd, EpochEnd
from gui.panels.training import TrainingPanel
from gui.workers import registry


def tiny_digits_spec() -> NetworkSpec:
    return NetworkSpec("tiny", (1, 8, 8), 10, [
        LayerSpec("conv", {"out_channels": 4, "kernel": 3, "padding": 1}), LayerSpec("relu"),
        LayerSpec("maxpool", {"kernel": 2, "stride": 2}), LayerSpec("flatten"), LayerSpec("linear", {"units": 10}),
    ])


@pytest.fixture
def panel(qtbot, ctx):
    ctx.set_spec(tiny_digits_spec())
    ctx.dataset_info = {"name": "digits", "input_shape": (1, 8, 8), "num_classes": 10, "n_train": 1438,
                        "n_val": 359}
    ctx.set_dataset("digits")
    widget = TrainingPanel(ctx)
    qtbot.addWidget(widget)
    widget.set_settings({"epochs": 1, "batch_size": 64, "lr": 0.1, "seed": 0, "snapshot_every_steps": 0})
    yield widget
    widget.jobs.stop(wait_ms=5000)
    qtbot.waitUntil(lambda: not registry.live(), timeout=15000)  # a stopped job ends between batches


def test_tiny_training_end_to_end_fills_curves_and_publishes_run(panel, ctx, qtbot):
    events = []
    ctx.training_event.connect(events.append)
    with qtbot.waitSignal(ctx.run_changed, timeout=60000) as blocker:
        panel.start_training()
        assert panel.jobs.running and not panel.start_button.isEnabled()
    run = blocker.args[0]
    assert run is ctx.run and run.dataset == "digits"
    assert any(isinstance(e, BatchEnd) for e in events) and any(isinstance(e, EpochEnd) for e in events)
    qtbot.waitUntil(lambda: not panel.jobs.running, timeout=5000)
    panel.loss_plot.redraw()
    xs, ys = panel.loss_plot.series_data("loss (smoothed)")
    assert len(xs) >= 2 and xs[-1] == 23  # 1438 images / 64 per batch = 23 steps; the last is always sent
    assert panel.loss_plot._series["loss (smoothed)"].item.getData()[0] is not None
    train_x, train_acc = panel.acc_plot.series_data("train")
    val_x, val_acc = panel.acc_plot.series_data("validation")
    assert train_x == [1.0] and val_x == [1.0] and 0.0 <= val_acc[0] <= 1.0
    assert len(panel.run_lr_plot.series_data("lr")[0]) == len(xs)
    assert panel.runs_table.rowCount() == 1 and panel.finished_runs[0]["summary"]["epochs"] == 1
    assert "Finished" in panel.status_label.text()
    assert panel.start_button.isEnabled() and not panel.stop_button.isEnabled()


def test_pause_resume_and_stop(panel, ctx, qtbot):
    panel.set_settings({"epochs": 200})
    batches = []
    ctx.training_event.connect(lambda e: batches.append(e) if isinstance(e, BatchEnd) else None)
    panel.start_training()
    qtbot.waitUntil(lambda: len(batches) >= 2, timeout=30000)
    panel.toggle_pause()
    assert panel.jobs.paused and panel.pause_button.text() == "Resume"
    at_pause = len(batches)
    qtbot.wait(1000)
    assert len(batches) <= at_pause + 1  # only the batch already in flight may still report
    count = len(batches)
    qtbot.wait(500)
    assert len(batches) == count  # nothing trains while paused
    panel.toggle_pause()
    assert panel.pause_button.text() == "Pause"
    qtbot.waitUntil(lambda: len(batches) > count, timeout=30000)
    panel.stop_training()
    assert not panel.jobs.running
    assert "Stopped" in panel.status_label.text()
    assert panel.start_button.isEnabled()
    assert ctx.run is None  # a stopped run is not published as a finished model


def test_diverging_learning_rate_gives_a_message_and_panel_stays_usable(panel, ctx, qtbot):
    # Two stacked linear maps (no squashing in between) explode quickly at a huge step size.
    ctx.set_spec(NetworkSpec("linear", (1, 8, 8), 10, [
        LayerSpec("conv", {"out_channels": 4, "kernel": 3, "padding": 1}), LayerSpec("flatten"),
        LayerSpec("linear", {"units": 10})]))
    panel.set_settings({"lr": 500.0, "momentum": 0.9, "epochs": 3})
    with qtbot.waitSignal(ctx.error_raised, timeout=60000) as blocker:
        panel.start_training()
    title, message = blocker.args
    assert title == "Training diverged" and "Lower the learning rate" in message
    qtbot.waitUntil(lambda: panel.start_button.isEnabled(), timeout=5000)
    assert "diverged" in panel.status_label.text()
    panel.set_settings({"lr": 0.1, "momentum": 0.9, "epochs": 1})
    with qtbot.waitSignal(ctx.run_changed, timeout=60000):
        panel.start_training()
    qtbot.waitUntil(lambda: not panel.jobs.running, timeout=5000)


def test_schedule_plot_follows_the_schedule_before_training(panel):
    panel.set_settings({"epochs": 4, "schedule": "constant", "lr": 0.1, "batch_size": 64})
    _, constant = panel.lr_plot.series_data("planned")
    assert len(constant) == 4 * 23 and max(constant) == pytest.approx(0.1) and min(constant) == pytest.approx(0.1)
    combo = panel.editors["schedule"]
    combo.setCurrentIndex(combo.findData("step"))  # the user picks it: the plot follows
    assert panel.editors["step_size"].isVisibleTo(panel) and not panel.editors["decay"].isVisibleTo(panel)
    panel.editors["step_size"].setValue(1.0)
    panel.editors["gamma"].setValue(0.5)
    epochs, step = panel.lr_plot.series_data("planned")
    assert step[0] == pytest.approx(0.1) and step[-1] == pytest.approx(0.1 * 0.5 ** 3)
    assert epochs[23] == pytest.approx(1.0) and step[23] == pytest.approx(0.05)
    combo.setCurrentIndex(combo.findData("cosine"))
    _, cosine = panel.lr_plot.series_data("planned")
    assert cosine[0] == pytest.approx(0.1) and cosine[-1] < 0.001


def test_settings_problems_are_shown_and_block_start(panel, ctx):
    panel.set_settings({"snapshot_ensemble": 3, "schedule": "constant"})
    assert "SGDR" in panel.problems_label.text()
    panel.start_training()
    assert not panel.jobs.running and ctx.last_error[0] == "Training settings"


def test_impossible_network_is_refused_before_training(panel, ctx):
    spec = tiny_digits_spec()
    spec.layers.insert(3, LayerSpec("conv", {"out_channels": 4, "kernel": 7, "padding": 0}))  # 4x4 maps
    ctx.set_spec(spec)
    assert "impossible" in panel.context_label.text()
    panel.start_training()
    assert not panel.jobs.running
    title, message = ctx.last_error
    assert title == "Impossible architecture" and "Layer 4 (conv2)" in message and "larger than" in message


def test_form_maps_to_train_settings(panel, ctx):
    ctx.set_data_options({"normalization": "per_channel", "hflip": True, "rotation": 10.0})
    panel.set_settings({"optimizer": "adam", "lr": 0.002, "dropout": None, "seed": None, "batchnorm": True,
                        "init": "he", "weight_decay": 0.0005})
    settings = panel.settings()
    assert settings.optimizer == "adam" and settings.lr == pytest.approx(0.002)
    assert settings.dropout is None and settings.seed is None and settings.batchnorm and settings.init == "he"
    assert settings.dataset == "digits" and settings.normalization == "per_channel"
    assert settings.hflip and settings.rotation == 10.0
    assert not panel.editors["momentum"].isEnabled()  # momentum is an SGD setting
    assert "per channel" in panel.context_label.text() and "hflip" in panel.context_label.text()


def test_overlay_checkpoint_and_state_round_trip(panel, ctx, qtbot, tmp_path):
    with qtbot.waitSignal(ctx.run_changed, timeout=60000):
        panel.start_training()
    qtbot.waitUntil(lambda: not panel.jobs.running, timeout=5000)
    panel.runs_table.item(0, 0).setCheckState(Qt.Checked)
    assert panel.loss_plot.overlay_keys() == ["run1"] and panel.acc_plot.overlay_keys() == ["run1"]
    panel.runs_table.item(0, 0).setCheckState(Qt.Unchecked)
    assert panel.loss_plot.overlay_keys() == []

    assert panel.save_checkpoint(tmp_path / "run")
    assert (tmp_path / "run" / "checkpoint.pt").exists()
    with qtbot.waitSignal(ctx.run_changed, timeout=5000) as blocker:
        assert panel.load_checkpoint(tmp_path / "run")
    assert blocker.args[0].spec.to_dict() == ctx.run.spec.to_dict()
    assert panel.runs_table.rowCount() == 2
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint at all")
    assert not panel.load_checkpoint(tmp_path / "bad.pt")
    assert ctx.last_error[0] == "Checkpoint problem" and "bad.pt" in ctx.last_error[1]

    state = panel.save_state()
    other = TrainingPanel(ctx)
    qtbot.addWidget(other)
    other.restore_state(state)
    assert other.form_values() == panel.form_values()
    assert [r["name"] for r in other.finished_runs] == [r["name"] for r in panel.finished_runs]
    other.set_overlay(0, True)
    assert other.acc_plot.overlay_keys() == ["run1"]


def test_every_shortcut_is_described_for_the_help_sheet(panel):
    from PySide6.QtGui import QShortcut

    shortcuts = panel.findChildren(QShortcut)
    assert len(shortcuts) >= 4
    assert all(shortcut.whatsThis() for shortcut in shortcuts)


def test_overfitting_is_visible_validation_loss_per_epoch_and_a_gap_readout(panel, ctx, qtbot):
    panel.set_settings({"epochs": 2, "train_subset": 200, "label_noise": 10.0, "eval_train_each_epoch": True})
    with qtbot.waitSignal(ctx.run_changed, timeout=60000) as blocker:
        panel.start_training()
    qtbot.waitUntil(lambda: not panel.jobs.running, timeout=5000)
    run = blocker.args[0]
    assert run.settings["train_subset"] == 200 and run.settings["label_noise"] == 10.0
    xs, ys = panel.loss_plot.series_data("validation loss")
    steps_per_epoch = 4  # 200 images / 64 per batch, the last batch kept
    assert xs == [steps_per_epoch, 2 * steps_per_epoch] and ys == run.history["val_loss"]
    gap = 100 * (run.history["train_eval_acc"][-1] - run.history["val_acc"][-1])
    assert f"gap {gap:.1f} points" in panel.status_label.text()
    assert panel.acc_plot._y_range is None  # the accuracy axis zooms to the data


def test_the_dropout_field_shows_the_lectures_keep_probability(panel):
    panel.set_settings({"dropout": 0.3, "l2": 0.005})
    assert "keep p = 0.70" in panel.editors["dropout"].text()
    assert "wd 0.01" in panel.editors["l2"].text()
    assert panel.settings().equivalent_weight_decay() == 0.01


def test_schedules_can_be_overlaid_and_a_new_plan_drops_the_old_used_line(panel):
    panel.set_settings({"schedule": "constant", "epochs": 10, "lr": 0.1, "decay": 0.5})
    panel.lr_plot.set_points("used", [0.0, 1.0], [0.1, 0.1])  # what a finished run left
    panel.schedule_compare["step"].setChecked(True)
    panel.schedule_compare["inverse_time"].setChecked(True)
    assert panel.lr_plot.overlay_keys() == ["compare:step", "compare:inverse_time"]
    assert panel.lr_plot.series_data("used") == ([], [])
    step = panel.lr_plot._overlays["compare:step"][0].getData()[1]
    assert step[0] == pytest.approx(0.1) and step[-1] < 0.1  # the step schedule drops from the same lr
    panel.set_settings({"schedule": "step"})  # the chosen schedule is the plan, not an overlay
    assert panel.lr_plot.overlay_keys() == ["compare:inverse_time"]


def test_ensemble_members_are_separate_labelled_lines_over_the_same_epochs(panel, ctx, qtbot):
    panel.set_settings({"epochs": 2, "ensemble": 3})
    with qtbot.waitSignal(ctx.run_changed, timeout=120000):
        panel.start_training()
    qtbot.waitUntil(lambda: not panel.jobs.running, timeout=5000)
    for member in ("validation", "model 2 validation", "model 3 validation"):
        assert panel.acc_plot.series_data(member)[0] == [1.0, 2.0], member  # no sawtooth along one axis
    assert "model 3 loss (smoothed)" in panel.loss_plot.series_names()
    panel.set_settings({"ensemble": 1})
    with qtbot.waitSignal(ctx.run_changed, timeout=120000):
        panel.start_training()
    qtbot.waitUntil(lambda: not panel.jobs.running, timeout=5000)
    assert not [name for name in panel.acc_plot.series_names() if name.startswith("model ")]


def test_the_status_shows_the_l1_penalty_next_to_the_data_loss(panel, ctx, qtbot):
    panel.set_settings({"epochs": 40, "l1": 1e-3})
    panel.start_training()
    qtbot.waitUntil(lambda: "x the data loss at the start" in panel.status_label.text(), timeout=60000)
    panel.stop_training()
    qtbot.waitUntil(lambda: not panel.jobs.running, timeout=30000)
