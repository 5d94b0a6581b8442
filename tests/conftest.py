"""Shared fixtures: offscreen Qt, isolated settings, and a guard that fails any
test leaving a worker thread running."""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def no_leftover_workers(request):
    """Fail the test if it leaves a GUI worker thread running."""
    yield
    workers_module = sys.modules.get("gui.workers")
    if workers_module is None:
        return
    # A worker that has reported its end may still be cleaning up (under load that takes a moment): it
    # is waited for. One that has not reported its end is a job the test left running.
    for worker in workers_module.registry.live():
        if worker.reported_end.is_set():
            worker.wait(60_000)
    live = workers_module.registry.live()
    if live:
        workers_module.registry.stop_all(5000)
        pytest.fail(f"test left {len(live)} worker thread(s) running")


@pytest.fixture(scope="session")
def mnist5k():
    from engine.data import load_dataset

    return load_dataset("mnist5k")


@pytest.fixture(scope="session")
def trained_lenet(mnist5k):
    """A LeNet-5 trained for 3 epochs on MNIST-5k with a plain PyTorch loop (a few
    seconds), independent of the trainer so introspection tests do not depend on it.
    Returns an engine.checkpoint.TrainedRun; do not modify its model in place."""
    import torch
    from torch import nn

    from engine.checkpoint import TrainedRun
    from engine.model import ConvNet
    from engine.spec import load_preset

    torch.manual_seed(0)
    model = ConvNet(load_preset("lenet5"))
    model.normalize.fit(mnist5k.train_x, "mean_image")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        order = torch.randperm(len(mnist5k.train_x), generator=generator)
        for start in range(0, len(order), 64):
            idx = order[start:start + 64]
            optimizer.zero_grad()
            loss_fn(model(mnist5k.train_x[idx]), mnist5k.train_y[idx]).backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        val_acc = (model(mnist5k.val_x).argmax(1) == mnist5k.val_y).float().mean().item()
    return TrainedRun(model, "mnist5k", {"epochs": 3, "lr": 0.05}, {"val_acc": [val_acc]}, "fixture-lenet5")
