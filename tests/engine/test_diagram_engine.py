"""The network diagram (issue 20): shapes equal a real forward pass for every preset, the walk-through
equals the real layers (conv with padding / stride / dilation, ReLU, max pooling), training sends model
snapshots the diagram can draw, and bad input is a clear error."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine.diagram import (arithmetic_example, column_groups, conv_walk, diagram_job, diagram_of_spec_job,
                            model_from_snapshot, network_diagram, shown_layer, walk_layers)
from engine.errors import ConvScopeError, ModelError, SpecError
from engine.events import run_to_end
from engine.model import ConvNet
from engine.spec import LayerSpec, NetworkSpec, list_presets, load_preset


@pytest.mark.parametrize("preset", list_presets())
def test_diagram_shapes_equal_a_real_forward_pass(preset):
    spec = load_preset(preset)
    model = ConvNet(spec).eval()
    probe = torch.rand(*spec.input_shape)
    diagram = network_diagram(model, probe, [str(i) for i in range(spec.num_classes)])
    real = {}
    with torch.no_grad():
        x = model.normalize(probe[None])
        for name, module in model.features.named_children():
            x = module(x)
            real[name] = tuple(x.shape[1:])
    assert diagram.columns[0].shape == tuple(spec.input_shape)
    groups = column_groups(model)
    assert [c.layers for c in diagram.columns[1:]] == groups
    for column, group in zip(diagram.columns[1:], groups):
        assert column.shape == real[shown_layer(model, group)], column.title
        assert column.image.dtype == np.uint8 and column.image.size
        if column.kind == "maps":
            assert column.shown == min(column.shape[0], 32)
    shown = {name for c in diagram.columns for name in c.layers}
    every = network_diagram(model, probe, every_layer=True)
    assert [c.layers[0] for c in every.columns[1:]] == list(real)  # every layer, in order
    assert shown <= set(real) | {"input"}
    last = diagram.columns[-1]
    assert last.kind == "units" and last.values.sum() == pytest.approx(1.0, abs=1e-5)  # probabilities
    assert len(last.unit_labels) == spec.num_classes


def _conv_net(stride, padding, dilation):
    spec = NetworkSpec("walk", (2, 11, 13), 3, [
        LayerSpec("conv", {"out_channels": 3, "kernel": 3, "stride": 1, "padding": 1}),
        LayerSpec("relu", {}), LayerSpec("maxpool", {"kernel": 2, "stride": 2}),
        LayerSpec("flatten", {}), LayerSpec("linear", {"units": 3})])
    torch.manual_seed(1)
    model = ConvNet(spec).eval()
    # The spec has no dilation: give the first conv the geometry under test (the walk reads the module).
    conv = model.features.conv1
    conv.stride, conv.padding, conv.dilation = (stride, stride), (padding, padding), (dilation, dilation)
    return model


@pytest.mark.parametrize("stride,padding,dilation", [(1, 1, 1), (2, 2, 1), (1, 0, 2), (2, 1, 2)])
def test_walk_equals_the_real_layers(stride, padding, dilation):
    model = _conv_net(stride, padding, dilation)
    probe = torch.rand(2, 11, 13)
    layers = list(model.features.named_children())
    with torch.no_grad():
        x = model.normalize(probe[None])
        outputs = {"input": x[0].numpy()}
        for name, module in layers[:3]:
            x = module(x)
            outputs[name] = x[0].numpy()
    out = outputs["conv1"]
    _, height, width = out.shape
    for channel in range(3):
        for y, x_pos in [(0, 0), (height - 1, width - 1), (height // 2, width // 2), (0, width - 1)]:
            walk = walk_layers(layers[:3], outputs, "conv1", channel, y, x_pos)
            assert walk.step.output == pytest.approx(float(out[channel, y, x_pos]), abs=1e-5)
            assert walk.computed == pytest.approx(float(out[channel, y, x_pos]), abs=1e-6)
            assert walk.after[0][2] == pytest.approx(max(0.0, float(out[channel, y, x_pos])), abs=1e-6)
            if walk.pool is not None:
                assert walk.pool.output == pytest.approx(walk.pool_computed, abs=1e-6)
                assert walk.pool_computed == float(outputs["pool1"][channel, walk.pool.y, walk.pool.x])
                assert y in walk.pool.rows and x_pos in walk.pool.cols


def test_conv_walk_on_a_diagram_reads_the_same_pass():
    spec = load_preset("lenet5")
    model = ConvNet(spec).eval()
    diagram = network_diagram(model, torch.rand(1, 28, 28))
    walk = conv_walk(diagram, "conv2", 5, 3, 8)
    assert walk.source == "pool1" and walk.pool_layer == "pool2"
    assert walk.step.output == pytest.approx(walk.computed, abs=1e-5)
    with pytest.raises(ModelError):
        conv_walk(diagram, "fc1", 0, 0, 0)
    with pytest.raises(SpecError):
        conv_walk(diagram, "conv2", 0, 10, 0)  # outside the 10x10 output


@pytest.mark.parametrize("size,kernel,padding,stride,dilation", [(7, 3, 1, 2, 1), (5, 3, 0, 1, 2), (6, 4, 2, 3, 1)])
def test_arithmetic_example_uses_a_real_conv_with_the_geometry(size, kernel, padding, stride, dilation):
    example = arithmetic_example(size, kernel, padding, stride, dilation)
    conv = dict(example.layers)["conv"]
    assert (conv.stride[0], conv.padding[0], conv.dilation[0]) == (stride, padding, dilation)
    out = example.outputs["conv"][0]
    for y in range(example.out_size):
        for x in range(example.out_size):
            walk = example.walk(y, x)
            assert walk.step.output == pytest.approx(float(out[y, x]), abs=1e-4)
            assert float(walk.step.output).is_integer()  # whole numbers: sums a class can check by hand
    with pytest.raises(SpecError):
        arithmetic_example(3, 5, 0, 1, 1)


@pytest.fixture
def tiny_spec():
    return NetworkSpec.from_dict({"name": "tiny", "input_shape": [1, 8, 8], "num_classes": 10, "layers": [
        {"kind": "conv", "out_channels": 6, "kernel": 3, "padding": 1}, {"kind": "relu"},
        {"kind": "maxpool", "kernel": 2, "stride": 2}, {"kind": "flatten"}, {"kind": "linear", "units": 10}]})


def test_training_sends_model_snapshots_the_diagram_draws(digits, tiny_spec):
    from engine.train import ModelSnapshot, TrainSettings, fit

    snapshots = []
    fit(tiny_spec, digits, TrainSettings(epochs=1, batch_size=64, snapshot_every_steps=5, seed=0),
        lambda e: snapshots.append(e) if isinstance(e, ModelSnapshot) else None)
    assert snapshots and snapshots[0].step == 0
    last = snapshots[-1]
    model = model_from_snapshot(last.spec, last.state)
    probe = digits.val_x[0]
    diagram = run_to_end(diagram_job(None, probe, digits.class_names, snapshot=last))
    assert diagram.step == last.step
    with torch.no_grad():
        expected = torch.softmax(model(probe[None]), 1)[0].numpy()
    np.testing.assert_allclose(diagram.columns[-1].values, expected, atol=1e-6)
    assert isinstance(diagram.model, nn.Module) and diagram.model is not model  # a private copy per snapshot


def test_bad_input_is_a_clear_error():
    with pytest.raises(ConvScopeError):
        run_to_end(diagram_job(None, torch.rand(1, 28, 28)))
    with pytest.raises(SpecError):
        run_to_end(diagram_of_spec_job(None, torch.rand(1, 28, 28)))
    impossible = NetworkSpec("bad", (1, 4, 4), 10, [LayerSpec("conv", {"out_channels": 2, "kernel": 7}),
                                                    LayerSpec("flatten", {}), LayerSpec("linear", {"units": 10})])
    with pytest.raises(SpecError):
        run_to_end(diagram_of_spec_job(impossible, torch.rand(1, 4, 4)))
    model = ConvNet(load_preset("lenet5")).eval()
    with pytest.raises(ModelError, match="probe image"):
        network_diagram(model, torch.rand(3, 32, 32))
