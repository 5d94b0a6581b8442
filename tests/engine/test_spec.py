import json

import pytest
import torch

from engine.errors import SpecError
from engine.spec import (LayerSpec, NetworkSpec, analyze, build_model, list_presets, load_preset, total_params,
                         validate)


def test_lenet5_shapes_and_parameters():
    spec = load_preset("lenet5")
    infos = validate(spec)
    assert [i.out_shape for i in infos][:6] == [(6, 28, 28), (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 10, 10),
                                                (16, 5, 5)]
    assert infos[-1].out_shape == (10,)
    model = build_model(spec)
    assert total_params(infos) == sum(p.numel() for p in model.parameters()) == 61706
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_receptive_field_grows_through_convs_and_pools():
    infos = analyze(load_preset("lenet5"))
    assert [i.receptive_field for i in infos[:6]] == [5, 5, 6, 14, 14, 16]
    assert infos[5].jump == 4


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_builds_and_runs(name):
    spec = load_preset(name)
    model = build_model(spec)
    out = model(torch.rand(2, *spec.input_shape))
    assert out.shape == (2, spec.num_classes)


def test_impossible_layers_are_marked_on_their_row():
    spec = NetworkSpec(input_shape=(1, 8, 8), num_classes=10, layers=[
        LayerSpec("conv", {"out_channels": 4, "kernel": 5, "padding": 0}),
        LayerSpec("maxpool", {"kernel": 6, "stride": 2}),
        LayerSpec("flatten"), LayerSpec("linear", {"units": 10}),
    ])
    infos = analyze(spec)
    assert infos[0].error is None and infos[0].out_shape == (4, 4, 4)
    assert "larger than its input" in infos[1].error
    assert infos[2].out_shape is None
    with pytest.raises(SpecError) as err:
        validate(spec)
    assert err.value.layer_index == 1


def test_zero_channels_kernel_too_big_and_linear_before_flatten():
    zero = NetworkSpec(input_shape=(1, 8, 8), layers=[LayerSpec("conv", {"out_channels": 0})])
    assert "Zero output channels" in analyze(zero)[0].error
    big = NetworkSpec(input_shape=(1, 4, 4), layers=[LayerSpec("conv", {"kernel": 7, "padding": 0})])
    assert "larger than its padded input" in analyze(big)[0].error
    linear = NetworkSpec(input_shape=(1, 4, 4), layers=[LayerSpec("linear", {"units": 10})])
    assert "Flatten" in analyze(linear)[0].error


def test_wrong_number_of_outputs_is_reported_on_last_row():
    spec = NetworkSpec(input_shape=(1, 4, 4), num_classes=10, layers=[LayerSpec("flatten"),
                                                                       LayerSpec("linear", {"units": 7})])
    assert "10 classes" in analyze(spec)[-1].error


def test_json_round_trip_and_bad_json(tmp_path):
    spec = load_preset("vgg_small")
    path = tmp_path / "net.json"
    spec.save(path)
    again = NetworkSpec.load(path)
    assert again.to_dict() == spec.to_dict()
    path.write_text("{not json")
    with pytest.raises(SpecError, match="not valid JSON"):
        NetworkSpec.load(path)
    path.write_text(json.dumps({"layers": [{"kind": "teleport"}]}))
    with pytest.raises(SpecError, match="Unknown layer kind"):
        NetworkSpec.load(path)


def test_adapted_to_changes_input_and_classifier():
    spec = load_preset("lenet5").adapted_to((3, 32, 32), 5)
    infos = validate(spec)
    assert infos[-1].out_shape == (5,)
