"""Two seeded jobs at once are each reproducible: a job draws from its own generators
(engine/rng.py), not from torch's process-wide one that another job may be advancing."""
from __future__ import annotations

import threading

import numpy as np
import torch

from engine.data import load_dataset
from engine.rng import JobRNG
from engine.spec import NetworkSpec
from engine.train import TrainSettings, train_job

SPEC = {"name": "drop", "input_shape": [1, 8, 8], "num_classes": 10, "layers": [
    {"kind": "conv", "out_channels": 6, "kernel": 3, "padding": 1}, {"kind": "relu"},
    {"kind": "flatten"}, {"kind": "dropout", "p": 0.5}, {"kind": "linear", "units": 32}, {"kind": "relu"},
    {"kind": "dropout", "p": 0.5}, {"kind": "linear", "units": 10}]}


def _settings(seed: int) -> TrainSettings:
    # every batch yields (event_interval_s 0), so two jobs stepped in turn interleave batch by batch;
    # augmentation on, so its generator is exercised too
    return TrainSettings(dataset="digits", epochs=2, batch_size=64, lr=0.05, seed=seed, event_interval_s=0.0,
                         crop=1, hflip=True)


def _outcome(result) -> tuple[dict, list]:
    state = {k: v.detach().clone() for k, v in result.run.model.state_dict().items()}
    return state, list(result.run.history["loss"])


def _alone(spec, data, seed):
    job = train_job(spec, data, _settings(seed))
    while True:
        try:
            next(job)
        except StopIteration as stop:
            return _outcome(stop.value)


def _in_turns(spec, data, seeds):
    """Each job in its own thread; the threads take turns, one event each, until both end."""
    turn = threading.Condition()
    state = {"turn": 0, "done": set()}
    results, errors = {}, []

    def worker(me: int) -> None:
        job = train_job(spec, data, _settings(seeds[me]))
        try:
            while True:
                with turn:
                    turn.wait_for(lambda: state["turn"] == me or (1 - me) in state["done"])
                try:
                    next(job)
                except StopIteration as stop:
                    results[me] = _outcome(stop.value)
                    return
                finally:
                    with turn:
                        state["turn"] = 1 - me
                        turn.notify_all()
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            with turn:
                state["done"].add(me)
                turn.notify_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    return results[0], results[1]


def _same(a, b) -> bool:
    return a[1] == b[1] and all(torch.equal(a[0][k], b[0][k]) for k in a[0])


def test_two_seeded_training_jobs_in_two_threads_match_each_run_alone():
    spec = NetworkSpec.from_dict(SPEC)
    data = load_dataset("digits")
    alone_a, alone_b = _alone(spec, data, 1), _alone(spec, data, 2)
    assert not _same(alone_a, alone_b)
    assert _same(alone_a, _alone(spec, data, 1))  # repeatable alone
    together_a, together_b = _in_turns(spec, data, (1, 2))
    assert _same(together_a, alone_a)
    assert _same(together_b, alone_b)


def test_a_job_leaves_the_process_wide_generator_alone():
    torch.manual_seed(123)
    expected = torch.rand(4)
    torch.manual_seed(123)
    rng = JobRNG(7)
    with rng.active():
        first = torch.rand(3)
    assert torch.equal(torch.rand(4), expected)  # the job's draws did not advance it
    with rng.active():
        second = torch.rand(3)
    torch.manual_seed(7)
    assert torch.equal(torch.cat([first, second]), torch.rand(6))  # same numbers as a seeded global stream
    assert np.isfinite(second.numpy()).all()
