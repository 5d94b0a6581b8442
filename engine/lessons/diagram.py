"""Measures of the diagram lessons: what one conv layer computes (the walk-through's sums equal the
layer's outputs), and the whole network while it learns (the probe's prediction and the filters)."""
from __future__ import annotations

import time

import numpy as np

from ..events import Progress
from .catalog import LessonError, _measure
from .features import _train_for_features
from .records import RunRecord
from .runner import _make, _result


def _probe(data, index: int):
    if not 0 <= index < len(data.val_x):
        raise LessonError(f"The probe image #{index} is not in the validation set (0-{len(data.val_x) - 1}).")
    return data.val_x[index], int(data.val_y[index])


@_measure("conv_in_numbers", "features", {"max_difference": ("<=", 1e-4), "positions": (">=", 1000)},
          {"probe": 3, "epochs": 1})
def _measure_conv_in_numbers(exp, options, context):
    """Every output of every conv layer for one digit, written out as patch x kernel summed + bias
    (engine.conv_numbers, by hand), against the value the real layer computed in the same forward
    pass; and each ReLU and 2x2 max pool after them the same way."""
    from ..diagram import conv_walk, network_diagram
    from ..introspect import feature_layers
    from torch import nn

    start = time.perf_counter()
    yield Progress(0, 2, "Training the network briefly (real weights)")
    trained, data = yield from _train_for_features(exp, options)
    model = trained.run.model.eval()
    probe, _label = _probe(data, int(options["probe"]))
    diagram = network_diagram(model, probe)
    yield Progress(1, 2, "Writing out every output of every conv layer")
    conv_worst = pool_worst = relu_worst = 0.0
    positions = pools = 0
    for name, module in feature_layers(model):
        if not isinstance(module, nn.Conv2d):
            continue
        channels, height, width = np.shape(diagram.outputs[name])
        for channel in range(channels):
            for y in range(height):
                for x in range(width):
                    walk = conv_walk(diagram, name, channel, y, x)
                    conv_worst = max(conv_worst, abs(walk.step.total + walk.step.bias - walk.computed))
                    for _layer, what, value in walk.after:
                        if what.lower().startswith("relu"):
                            relu_worst = max(relu_worst, abs(max(0.0, walk.computed) - value))
                    if walk.pool is not None:
                        pool_worst = max(pool_worst, abs(walk.pool.output - walk.pool_computed))
                        pools += 1
                    positions += 1
    worst = max(conv_worst, relu_worst, pool_worst)
    record = RunRecord("model", "LeNet-5, real weights", figures={
        "positions": positions, "pool_steps": pools, "conv_max_difference": conv_worst,
        "relu_max_difference": relu_worst, "pool_max_difference": pool_worst}, seconds=time.perf_counter() - start)
    criteria = [
        _make(exp, "max_difference", worst, f"largest difference between the written-out sums and the layers: "
                                            f"{worst:.1e}"),
        _make(exp, "positions", positions, f"{positions:,} conv outputs checked ({pools:,} pooling steps)"),
    ]
    summary = (f"patch x kernel + bias = the layer's output at all {positions:,} positions of LeNet-5's conv layers "
               f"(largest difference {conv_worst:.1e}); ReLU and 2x2 max pooling the same ({pools:,} steps)")
    yield Progress(2, 2, "Done")
    return _result(exp, criteria, summary, [record])


@_measure("layers_learn", "features",
          {"p_true_before": ("<=", 0.3), "p_true_after": (">=", 0.9), "conv1_change": (">=", 0.2)},
          {"probe": 3}, primary="p_true_after")
def _measure_layers_learn(exp, options, context):
    """The Diagram panel's story in numbers: for one digit, the network's probability of the right
    class at the first snapshot (a guess) and at the end (confident), and how far conv1's filters
    moved from their random start (relative change of the weights)."""
    import torch

    from ..diagram import model_from_snapshot, network_diagram
    from ..train import ModelSnapshot

    start = time.perf_counter()
    snapshots: list = []

    def keep_first_snapshot(job):
        while True:
            try:
                event = next(job)
            except StopIteration as done:
                return done.value
            if isinstance(event, ModelSnapshot) and not snapshots:
                snapshots.append(event)
            yield event

    yield Progress(0, 2, "Training LeNet-5 with the diagram's snapshots")
    trained, data = yield from keep_first_snapshot(_train_for_features(exp, options))
    if not snapshots:
        raise LessonError(f"Lesson '{exp.lesson_id}' needs model snapshots: set snapshot_every_steps above 0.")
    probe, label = _probe(data, int(options["probe"]))
    before_model = model_from_snapshot(snapshots[0].spec, snapshots[0].state)
    after_model = trained.run.model.eval()
    with torch.no_grad():
        before = network_diagram(before_model, probe, data.class_names)
        after = network_diagram(after_model, probe, data.class_names)
    last = [name for name in before.outputs if name != "input"][-1]
    p_before = float(torch.softmax(torch.from_numpy(before.outputs[last]), 0)[label])
    p_after = float(torch.softmax(torch.from_numpy(after.outputs[last]), 0)[label])
    first_conv = next(name for name, value in after_model.state_dict().items() if value.dim() == 4)
    w0, w1 = before_model.state_dict()[first_conv], after_model.state_dict()[first_conv]
    change = float((w1 - w0).norm() / w0.norm())
    name = data.class_names[label] if label < len(data.class_names) else str(label)
    record = RunRecord("model", "LeNet-5", figures={
        "p_true_before": p_before, "p_true_after": p_after, "conv1_change": change,
        "predicted_before": before.predicted, "predicted_after": after.predicted}, seconds=time.perf_counter() - start)
    criteria = [
        _make(exp, "p_true_before", p_before, f"at the first snapshot: p({name}) = {p_before:.2f} (a guess)"),
        _make(exp, "p_true_after", p_after, f"after training: p({name}) = {p_after:.3f}"),
        _make(exp, "conv1_change", change, f"conv1's filters moved {100 * change:.0f} % from their random start"),
    ]
    summary = (f"digit '{name}': p {p_before:.2f} at the start -> {p_after:.3f} after training; conv1's filters "
               f"moved {100 * change:.0f} % from their random start")
    yield Progress(2, 2, "Done")
    return _result(exp, criteria, summary, [record])
