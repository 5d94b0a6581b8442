"""Learning-rate schedules: shapes, values at known steps, and that the curve
plotted before training is the one the trainer follows."""
import math

import numpy as np
import pytest

from engine.schedules import learning_rate_curve, lr_at, sgdr_cycle_bounds, sgdr_cycle_ends
from engine.train import TrainSettings

SPE = 10  # steps per epoch


@pytest.fixture(scope="module")
def tiny_spec():
    from engine.spec import NetworkSpec

    return NetworkSpec.from_dict({"name": "tiny", "input_shape": [1, 8, 8], "num_classes": 10, "layers": [
        {"kind": "conv", "out_channels": 4, "kernel": 3, "padding": 1}, {"kind": "relu"},
        {"kind": "maxpool", "kernel": 2, "stride": 2}, {"kind": "flatten"}, {"kind": "linear", "units": 10}]})


def settings(**kw):
    return TrainSettings(**{"epochs": 6, "lr": 0.1, **kw})


def test_curve_has_one_value_per_step_and_constant_is_flat():
    curve = learning_rate_curve(settings(), SPE)
    assert curve.shape == (60,)
    assert np.all(curve == 0.1)


def test_step_decay_drops_by_gamma_every_step_size_epochs():
    s = settings(schedule="step", step_size=2, gamma=0.5)
    curve = learning_rate_curve(s, SPE)
    assert curve[0] == pytest.approx(0.1)
    assert curve[19] == pytest.approx(0.1)
    assert curve[20] == pytest.approx(0.05)
    assert curve[40] == pytest.approx(0.025)
    assert curve[59] == pytest.approx(0.025)


def test_exponential_and_inverse_time_decay_at_known_epochs():
    exp = settings(schedule="exponential", decay=0.3)
    assert lr_at(exp, 10, SPE) == pytest.approx(0.1 * math.exp(-0.3))
    assert lr_at(exp, 35, SPE) == pytest.approx(0.1 * math.exp(-0.3 * 3.5))
    inv = settings(schedule="inverse_time", decay=0.5)
    assert lr_at(inv, 20, SPE) == pytest.approx(0.1 / (1 + 0.5 * 2))


def test_cosine_goes_from_lr_to_lr_min():
    s = settings(schedule="cosine", lr_min=0.01)
    curve = learning_rate_curve(s, SPE)
    assert curve[0] == pytest.approx(0.1)
    assert curve[30] == pytest.approx((0.1 + 0.01) / 2)
    assert curve[-1] == pytest.approx(0.01, abs=2e-4)
    assert np.all(np.diff(curve) <= 1e-12)


def test_sgdr_restarts_at_cycle_starts_with_growing_cycles():
    s = settings(epochs=7, schedule="sgdr", sgdr_cycle_epochs=1, sgdr_mult=2, lr_min=0.0)
    assert sgdr_cycle_bounds(s, SPE) == [(0, 10), (10, 30), (30, 70)]
    assert sgdr_cycle_ends(s, SPE) == [10, 30, 70]
    curve = learning_rate_curve(s, SPE)
    for first in (0, 10, 30):
        assert curve[first] == pytest.approx(0.1)
        assert curve[first - 1] < 0.01 if first else True
    assert curve[20] == pytest.approx(0.05)  # half-way through the 2-epoch cycle


def test_sgdr_cut_short_cycle_is_not_a_snapshot_point():
    s = settings(epochs=4, schedule="sgdr", sgdr_cycle_epochs=3)
    assert sgdr_cycle_ends(s, SPE) == [30]


def test_warmup_ramps_linearly():
    s = settings(warmup_epochs=1)
    curve = learning_rate_curve(s, SPE)
    assert curve[0] == pytest.approx(0.01)
    assert curve[4] == pytest.approx(0.05)
    assert curve[9] == pytest.approx(0.1)
    assert curve[10] == pytest.approx(0.1)


def test_unknown_schedule_is_an_error():
    with pytest.raises(ValueError, match="Unknown schedule"):
        lr_at({"schedule": "zigzag", "lr": 0.1}, 0, SPE)


@pytest.mark.parametrize("schedule", ["step", "sgdr"])
def test_plotted_curve_equals_the_learning_rates_the_run_uses(digits, tiny_spec, schedule):
    from engine.events import run_to_end
    from engine.train import BatchEnd, train_job

    s = TrainSettings(epochs=3, batch_size=256, lr=0.05, schedule=schedule, step_size=1, gamma=0.3,
                      sgdr_cycle_epochs=1, event_interval_s=0.0, snapshot_every_steps=0, seed=0)
    planned = s.learning_rates(len(digits.train_x))
    used = []
    run_to_end(train_job(tiny_spec, digits, s), lambda e: used.append(e.lr) if isinstance(e, BatchEnd) else None)
    assert len(used) == len(planned)
    np.testing.assert_array_equal(np.array(used), planned)
