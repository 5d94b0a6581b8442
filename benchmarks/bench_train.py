"""Training throughput: the engine's `fit` against a bare PyTorch loop doing the
same work (same model, initialization, data in memory, batch size, optimizer,
shuffling and a validation pass per epoch), measured in the same run.

Cases: LeNet-5 on MNIST-5k (batch 64), and the small AlexNet on 32x32 RGB
shapes (batch 64, a 1024-image subset to keep the CPU run short). Runs are
interleaved (bare, engine, bare, engine ...) and the best of each is kept, so
load from other processes hits both sides alike.
"""
from __future__ import annotations

import time

import torch
from torch import nn

from benchmarks.common import BenchResult


def _bare_loop(spec, data, epochs: int, batch_size: int, lr: float, seed: int) -> float:
    """Seconds for a plain PyTorch loop with a validation pass per epoch (building the
    model and fitting its input normalization included, as in the engine)."""
    from engine.model import ConvNet

    start = time.perf_counter()
    torch.manual_seed(seed)
    model = ConvNet(spec)
    model.normalize.fit(data.train_x, "mean_image")
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)
    n = len(data.train_x)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(n, generator=generator)
        for first in range(0, n, batch_size):
            idx = order[first:first + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(data.train_x[idx]), data.train_y[idx]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            for first in range(0, len(data.val_x), 1000):
                model(data.val_x[first:first + 1000]).argmax(1)
    return time.perf_counter() - start


def _engine(spec, data, epochs: int, batch_size: int, lr: float, seed: int) -> tuple[float, float]:
    """(seconds, val_acc) of engine.train.fit with the GUI's default event settings."""
    from engine.train import TrainSettings, fit

    settings = TrainSettings(dataset=data.name, epochs=epochs, batch_size=batch_size, lr=lr, momentum=0.9,
                             seed=seed, device="cpu")
    start = time.perf_counter()
    result = fit(spec, data, settings)
    return time.perf_counter() - start, result.summary["val_acc"]


def _subset(data, n_train: int, n_val: int):
    from engine.data import ImageData

    return ImageData(data.name, data.train_x[:n_train], data.train_y[:n_train], data.val_x[:n_val],
                     data.val_y[:n_val], data.class_names, data.description)


def _case(name: str, spec, data, epochs: int, repeats: int, lr: float) -> BenchResult:
    bare_times, engine_times, accs = [], [], []
    _bare_loop(spec, data, 1, 64, lr, 0)  # warm-up (allocator, kernels)
    for r in range(repeats):
        bare_times.append(_bare_loop(spec, data, epochs, 64, lr, r))
        seconds, acc = _engine(spec, data, epochs, 64, lr, r)
        engine_times.append(seconds)
        accs.append(acc)
    images = epochs * len(data.train_x)
    engine_rate = images / min(engine_times)
    bare_rate = images / min(bare_times)
    return BenchResult(
        name=f"train throughput: {name}", figure=engine_rate, unit="images/s", baseline=bare_rate,
        baseline_label="bare PyTorch loop", target=">= 0.95x", met=engine_rate >= 0.95 * bare_rate,
        higher_is_better=True,
        notes=f"batch 64, {epochs} epoch(s) x {len(data.train_x)} images, best of {repeats}, "
              f"{torch.get_num_threads()} threads; engine val acc {max(accs):.3f}")


def run(quick: bool = False) -> list[BenchResult]:
    from engine.data import load_dataset
    from engine.spec import load_preset

    mnist = load_dataset("mnist5k")
    lenet = load_preset("lenet5")
    shapes = load_dataset("shapes")
    alexnet = load_preset("alexnet_small").adapted_to(shapes.input_shape, shapes.num_classes)
    shapes_small = _subset(shapes, 1024, 256)
    repeats = 2 if quick else 3
    return [
        _case("LeNet-5 / MNIST-5k", lenet, mnist, 1 if quick else 2, repeats, 0.05),
        _case("small AlexNet / shapes 32x32", alexnet, shapes_small, 1, repeats, 0.02),
    ]


if __name__ == "__main__":
    import sys

    if "--threads" in sys.argv:
        torch.set_num_threads(int(sys.argv[sys.argv.index("--threads") + 1]))
    for result in run(quick="--quick" in sys.argv):
        print(result.as_dict())
