"""The trainer job: event order, stopping, divergence, reproducibility, ensembles,
spec changes, and that LeNet-5 really learns MNIST."""
import math

import numpy as np
import pytest
import torch

from engine.errors import DivergedError
from engine.events import run_to_end
from engine.spec import NetworkSpec, load_preset
from engine.train import (BatchEnd, EnsembleResult, EpochCheckpoint, EpochEnd, FiltersSnapshot, LayerStatsSnapshot,
                          MemberFinished, TrainResult, TrainSettings, TrainSettingsError, TrainStarted,
                          ensemble_probabilities, fit, insert_batchnorm, train_job)


@pytest.fixture(scope="module")
def tiny_spec():
    return NetworkSpec.from_dict({"name": "tiny", "input_shape": [1, 8, 8], "num_classes": 10, "layers": [
        {"kind": "conv", "out_channels": 6, "kernel": 3, "padding": 1}, {"kind": "relu"},
        {"kind": "maxpool", "kernel": 2, "stride": 2}, {"kind": "flatten"}, {"kind": "dropout", "p": 0.1},
        {"kind": "linear", "units": 10}]})


def quick(**kw):
    return TrainSettings(**{"epochs": 2, "batch_size": 128, "lr": 0.05, "seed": 0, "snapshot_every_steps": 0,
                            **kw})


def test_events_come_in_order_with_one_epoch_end_per_epoch(digits, tiny_spec):
    events = []
    result = fit(tiny_spec, digits, quick(epochs=3, snapshot_every_steps=5, track_layer_stats=True), events.append)
    assert isinstance(events[0], TrainStarted)
    started = events[0]
    assert started.epochs == 3 and started.members == 1 and started.total_steps == 3 * started.steps_per_epoch
    assert len(started.learning_rates) == started.total_steps
    epoch_ends = [e for e in events if isinstance(e, EpochEnd)]
    assert [e.epoch for e in epoch_ends] == [0, 1, 2]
    # Every epoch's last BatchEnd comes right before its EpochEnd and reports the epoch's last step.
    for end in epoch_ends:
        i = events.index(end)
        last_batch = [e for e in events[:i] if isinstance(e, BatchEnd)][-1]
        assert last_batch.epoch == end.epoch
        assert last_batch.step == (end.epoch + 1) * started.steps_per_epoch
    steps = [e.step for e in events if isinstance(e, BatchEnd)]
    assert steps == sorted(steps) and steps[-1] == started.total_steps
    # The run ends with its last EpochEnd, the epoch's checkpoint (for run folders), and the statistics.
    tail = [e for e in events if not isinstance(e, LayerStatsSnapshot)]
    assert tail[-2] is epoch_ends[-1]
    assert isinstance(tail[-1], EpochCheckpoint) and tail[-1].epoch == 2 and tail[-1].history["epoch"] == [0, 1, 2]
    assert all(torch.equal(tail[-1].state[k], v) for k, v in result.run.model.state_dict().items())
    assert [e for e in events if isinstance(e, BatchEnd)][-1].fraction == pytest.approx(1.0)
    filters = [e for e in events if isinstance(e, FiltersSnapshot)]
    assert filters and filters[0].filters["conv1"].shape == (6, 1, 3, 3)
    assert filters[0].filters["conv1"].dtype == np.float32
    stats = [e for e in events if isinstance(e, LayerStatsSnapshot)]
    assert len(stats) == 4 and "conv1" in stats[-1].stats.layer_names  # start + each epoch
    assert isinstance(result, TrainResult)
    assert result.run.history["val_acc"] == [e.val_acc for e in epoch_ends]
    assert result.summary["val_acc"] == epoch_ends[-1].val_acc
    for key in ("train_loss", "train_acc", "val_acc", "epochs", "images_per_sec", "seconds", "device"):
        assert key in result.summary


def test_events_are_throttled(digits, tiny_spec):
    events = []
    fit(tiny_spec, digits, quick(epochs=1, batch_size=16, event_interval_s=1000.0), events.append)
    batches = [e for e in events if isinstance(e, BatchEnd)]
    steps_per_epoch = events[0].steps_per_epoch
    assert steps_per_epoch > 50
    assert [e.step for e in batches] == [1, steps_per_epoch]  # the first, then the forced last of the epoch


def test_stop_between_batches_closes_the_job(digits, tiny_spec):
    job = train_job(tiny_spec, digits, quick(epochs=50, batch_size=16, event_interval_s=0.0))
    seen = []
    for event in job:
        seen.append(event)
        if isinstance(event, BatchEnd) and event.step >= 5:
            break
    job.close()  # what the GUI's stop does
    with pytest.raises(StopIteration):
        next(job)
    assert max(e.step for e in seen if isinstance(e, BatchEnd)) == 5
    assert not any(isinstance(e, EpochEnd) for e in seen)


@pytest.mark.parametrize("lr,what", [(1e6, "exploding"), (1e20, "infinite")])
def test_huge_learning_rate_diverges_with_a_plain_message(digits, tiny_spec, lr, what):
    events = []
    with pytest.raises(DivergedError) as info:
        fit(tiny_spec, digits, quick(lr=lr, epochs=3, normalization="none"), events.append)
    message = str(info.value)
    assert "diverged at step" in message and f"learning rate {lr:.3g}" in message
    assert what in message and "Lower the learning rate" in message
    assert not any(isinstance(e, EpochEnd) for e in events)  # it stopped in the first epoch


def test_seeded_runs_are_bit_identical_on_the_cpu(digits, tiny_spec):
    settings = quick(hflip=True, crop=1, weight_decay=1e-3, l1=1e-4, device="cpu")
    a = fit(tiny_spec, digits, settings)
    b = fit(tiny_spec, digits, settings)
    c = fit(tiny_spec, digits, quick(hflip=True, crop=1, weight_decay=1e-3, l1=1e-4, device="cpu", seed=1))
    for key, value in a.run.model.state_dict().items():
        assert torch.equal(value, b.run.model.state_dict()[key]), key
    assert a.run.history["train_loss"] == b.run.history["train_loss"]
    assert not torch.equal(a.run.model.state_dict()["features.conv1.weight"],
                           c.run.model.state_dict()["features.conv1.weight"])


def test_independent_ensemble_reports_members_and_mean_softmax_accuracy(digits, tiny_spec):
    events = []
    result = fit(tiny_spec, digits, quick(ensemble=3), events.append)
    started = [e for e in events if isinstance(e, TrainStarted)]
    assert [e.member for e in started] == [0, 1, 2] and all(e.members == 3 for e in started)
    finished = [e for e in events if isinstance(e, MemberFinished)]
    assert [e.member for e in finished] == [0, 1, 2]
    ensemble = [e for e in events if isinstance(e, EnsembleResult)]
    assert len(ensemble) == 1 and ensemble[0].kind == "independent"
    assert len(result.members) == 3
    # Members differ (different seeds) and the ensemble accuracy is the mean softmax's, recomputed here.
    w = [m.model.features.conv1.weight for m in result.members]
    assert not torch.equal(w[0], w[1])
    with torch.no_grad():
        probs = torch.stack([torch.softmax(m.model(digits.val_x), 1) for m in result.members]).mean(0)
    expected = (probs.argmax(1) == digits.val_y).float().mean().item()
    assert ensemble[0].ensemble_val_acc == pytest.approx(expected)
    assert result.summary["ensemble_val_acc"] == pytest.approx(expected)
    assert list(ensemble[0].member_val_accs) == pytest.approx([e.val_acc for e in finished])
    assert torch.allclose(ensemble_probabilities([m.model for m in result.members], digits.val_x), probs, atol=1e-6)


def test_snapshot_ensemble_takes_one_snapshot_per_sgdr_cycle(digits, tiny_spec):
    events = []
    settings = quick(epochs=4, schedule="sgdr", sgdr_cycle_epochs=2, snapshot_ensemble=2, lr=0.1)
    result = fit(tiny_spec, digits, settings, events.append)
    finished = [e for e in events if isinstance(e, MemberFinished)]
    assert [e.member for e in finished] == [0, 1]
    ensemble = [e for e in events if isinstance(e, EnsembleResult)][0]
    assert ensemble.kind == "snapshot" and len(ensemble.member_val_accs) == 2
    assert len(result.members) == 2 and 0.0 <= result.summary["ensemble_val_acc"] <= 1.0
    # The last snapshot is taken at the end of the run: it equals the final model.
    final = result.run.model.state_dict()
    last = result.members[-1].model.state_dict()
    assert all(torch.equal(final[k], last[k]) for k in final)


def test_snapshot_ensemble_needs_enough_cycles(digits, tiny_spec):
    with pytest.raises(TrainSettingsError, match="complete SGDR cycles"):
        fit(tiny_spec, digits, quick(epochs=2, schedule="sgdr", sgdr_cycle_epochs=2, snapshot_ensemble=3))
    assert TrainSettings(snapshot_ensemble=2, schedule="constant").problems()


def test_bad_settings_are_reported_before_training(digits, tiny_spec):
    with pytest.raises(TrainSettingsError, match="Learning rate must be greater than 0"):
        run_to_end(train_job(tiny_spec, digits, quick(lr=-1.0)))
    with pytest.raises(TrainSettingsError, match="Unknown training setting"):
        TrainSettings.from_dict({"epochs": 2, "learning_rate": 0.1})


def test_settings_round_trip_through_json():
    import json
    from dataclasses import asdict

    s = TrainSettings(schedule="cosine", dropout=0.3, hflip=True, ensemble=2, seed=None)
    assert TrainSettings.from_dict(json.loads(json.dumps(asdict(s)))) == s
    # A finished run's saved settings (with its member index) load back too.
    assert TrainSettings.from_dict({**asdict(s), "member": 1}) == s


def test_batchnorm_insertion_after_conv_and_hidden_linear_only():
    spec = insert_batchnorm(load_preset("lenet5"))
    kinds = [layer.kind for layer in spec.layers]
    assert kinds[:3] == ["conv", "batchnorm", "relu"]
    assert kinds.count("batchnorm") == 4  # 2 conv + 2 hidden linear, not the output layer
    assert kinds[-1] == "linear"
    vgg = load_preset("vgg_small")
    assert [layer.kind for layer in insert_batchnorm(vgg).layers] == [layer.kind for layer in vgg.layers]


def test_dropout_override_and_batchnorm_reach_the_trained_model(digits, tiny_spec):
    result = fit(tiny_spec, digits, quick(epochs=1, dropout=0.4, batchnorm=True))
    modules = dict(result.run.model.features.named_children())
    assert modules["drop1"].p == 0.4
    assert isinstance(modules["bn1"], torch.nn.BatchNorm2d)
    assert result.run.settings["dropout"] == 0.4


@pytest.mark.parametrize("optimizer,extra", [("adam", {"lr": 0.01}), ("sgd", {"nesterov": True})])
def test_other_optimizers_and_regularizers_train(digits, tiny_spec, optimizer, extra):
    settings = quick(epochs=3, optimizer=optimizer, elastic_net=1e-4, schedule="cosine", init="he", **extra)
    result = fit(tiny_spec, digits, settings)
    assert result.summary["val_acc"] > 0.6  # 10 classes: chance is 0.1


def test_lenet5_learns_mnist5k_in_three_epochs(mnist5k):
    """The must-show run shortened: LeNet-5 with the default settings (SGD, momentum
    0.9, lr 0.05, batch 64, He init, mean-image subtraction) on 4000 MNIST digits,
    validated on the 1000 held-out ones."""
    result = fit(load_preset("lenet5"), mnist5k, TrainSettings(epochs=3, seed=0, snapshot_every_steps=0))
    assert result.summary["val_acc"] >= 0.93
    assert result.summary["train_loss"] < 0.5
    assert math.isfinite(result.summary["images_per_sec"])


def test_regularizers_shrink_the_trained_weights(digits, tiny_spec):
    from engine.regularize import l1_penalty, l2_penalty, regularized_weights

    def weights_of(**kw):
        run = fit(tiny_spec, digits, quick(epochs=2, **kw)).run
        return regularized_weights(run.model)

    plain = weights_of()
    with_l1 = weights_of(l1=1e-2)
    with_l2 = weights_of(weight_decay=0.05)
    assert l1_penalty(with_l1).item() < 0.8 * l1_penalty(plain).item()
    assert l2_penalty(with_l2).item() < 0.8 * l2_penalty(plain).item()


def test_train_started_reports_the_penalty_next_to_the_data_loss():
    """The L1 field's scale: lambda * sum |w| over the data loss of the fresh model."""
    from engine.data import load_dataset
    from engine.events import run_to_end
    from engine.spec import load_preset
    from engine.train import TrainSettings, TrainStarted, train_job

    data = load_dataset("digits")
    started = []
    settings = TrainSettings(dataset="digits", epochs=1, device="cpu", l1=1e-3)
    run_to_end(train_job(load_preset("mlp"), data, settings),
               lambda e: started.append(e) if isinstance(e, TrainStarted) else None)
    assert 0.1 < started[0].penalty_to_data_loss < 100  # L1 1e-3 on the MLP: about the data loss's size
    started.clear()
    run_to_end(train_job(load_preset("mlp"), data, TrainSettings(dataset="digits", epochs=1, device="cpu")),
               lambda e: started.append(e) if isinstance(e, TrainStarted) else None)
    assert math.isnan(started[0].penalty_to_data_loss)
