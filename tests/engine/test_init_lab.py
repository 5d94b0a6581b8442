"""The weight-initialization demo reproduces the lecture's trends."""
from __future__ import annotations

import numpy as np
import pytest

from engine.errors import SpecError
from engine.init_lab import InitLabConfig, run_init_lab


def test_small_init_tanh_matches_the_lecture_and_vanishes():
    result = run_init_lab(InitLabConfig("tanh", "small", batch_norm=False, layers=10, width=500, samples=1000))
    std = result.stats.act_std
    assert len(std) == 10
    # cs231n: ~0.21, 0.05, 0.01, ... shrinking to 0.
    assert std[0] == pytest.approx(0.21, abs=0.02)
    assert std[1] == pytest.approx(0.047, abs=0.008)
    assert std[2] == pytest.approx(0.0106, abs=0.003)
    assert np.all(np.diff(std) < 0)
    assert std[-1] < 1e-4
    assert np.allclose(result.weight_std, 0.01, rtol=0.05)


@pytest.mark.parametrize("nonlinearity, init", [("tanh", "xavier"), ("relu", "he")])
def test_xavier_and_he_keep_the_spread(nonlinearity, init):
    result = run_init_lab(InitLabConfig(nonlinearity, init, samples=400))
    std = result.stats.act_std
    assert std.min() > 0.2
    assert std[-1] / std[0] > 0.3  # vs 1e-4 for the small init
    assert std.max() < 1.0


def test_batch_norm_rescues_small_init():
    result = run_init_lab(InitLabConfig("tanh", "small", batch_norm=True, samples=400))
    std = result.stats.act_std
    assert std.min() > 0.5 and std.max() / std.min() < 1.1


def test_large_init_saturates_tanh():
    result = run_init_lab(InitLabConfig("tanh", "large", samples=400))
    counts, edges = result.stats.histograms[-1]
    # Almost every activation sits in the outer bins (near -1 or +1).
    outer = counts[:3].sum() + counts[-3:].sum()
    assert outer / counts.sum() > 0.9 and edges[0] < -0.99 and edges[-1] > 0.99


def test_deterministic_for_a_seed():
    a = run_init_lab(InitLabConfig("relu", "he", layers=3, width=64, samples=100, seed=3))
    b = run_init_lab(InitLabConfig("relu", "he", layers=3, width=64, samples=100, seed=3))
    c = run_init_lab(InitLabConfig("relu", "he", layers=3, width=64, samples=100, seed=4))
    assert np.array_equal(a.stats.act_std, b.stats.act_std)
    assert not np.array_equal(a.stats.act_std, c.stats.act_std)


def test_unknown_options_are_refused():
    with pytest.raises(SpecError):
        run_init_lab(InitLabConfig("sigmoidish", "small"))
    with pytest.raises(SpecError):
        run_init_lab(InitLabConfig("tanh", "magic"))


def test_job_yields_after_every_layer_so_stop_acts_quickly():
    from engine.events import Progress
    from engine.init_lab import init_lab_job

    config = InitLabConfig(layers=4, width=20, samples=30, batch_norm=True)
    job = init_lab_job(config)
    events = []
    while True:
        try:
            events.append(next(job))
        except StopIteration as done:
            result = done.value
            break
    # fc, bn and tanh for each of 4 layers: 12 modules, one Progress each, plus start and end.
    assert all(isinstance(e, Progress) for e in events)
    assert len(events) == 12 + 2
    assert len(result.stats) == 4
