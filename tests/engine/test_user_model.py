"""The user's own model by architecture name + weights file (issue 17)."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torchvision

from engine.errors import ModelError
from engine.user_model import load_user_classifier, read_class_names


@pytest.fixture(scope="module")
def resnet_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18_random.pt"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


def test_resnet18_state_dict_loads_by_name_and_file_and_runs_inside_views(resnet_file):
    from engine.deconv import project_unit

    classifier = load_user_classifier("resnet18", resnet_file)
    image = (np.random.default_rng(0).random((300, 260, 3)) * 255).astype(np.uint8)
    x = classifier.preprocess(image)
    assert tuple(x.shape) == (1, 3, 224, 224)
    predictions = classifier.predict(image, k=3)
    assert len(predictions) == 3 and predictions[0].name == classifier.class_names()[predictions[0].index]
    assert len(classifier.class_names()) == 1000 and classifier.class_names()[0] == "tench"
    assert classifier.features(x).shape == (1, 512)
    projection = project_unit(classifier.model, x, "net.layer2.0.conv1", 5)
    assert projection.method == "deconvnet" and projection.raw.shape == (224, 224, 3)  # resnet has a max pool


def test_two_class_head_and_its_names(tmp_path):
    torch.manual_seed(1)
    weights = tmp_path / "dogfood.pth"
    torch.save({"state_dict": torchvision.models.resnet18(weights=None, num_classes=2).state_dict()}, weights)
    names = tmp_path / "names.json"
    names.write_text('{"0": "dog", "1": "food"}')
    classifier = load_user_classifier("resnet18", weights, names, input_size=128, mean=(0.5,) * 3, std=(0.5,) * 3)
    assert classifier.class_names() == ["dog", "food"] and classifier.find_class("food") == 1
    assert classifier.preprocess(np.zeros((200, 200, 3), np.uint8)).shape[-1] == 128
    assert {p.name for p in classifier.predict(np.zeros((64, 64, 3), np.uint8), k=2)} == {"dog", "food"}


def test_weights_that_do_not_fit_name_the_first_mismatches(tmp_path):
    weights = tmp_path / "r34.pt"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), weights)
    with pytest.raises(ModelError, match=r"do not fit resnet18: .*key\(s\) the model does not have, first: layer1\.2"):
        load_user_classifier("resnet18", weights)
    squeezed = tmp_path / "squeezed.pt"
    state = torchvision.models.resnet18(weights=None).state_dict()
    state["conv1.weight"] = state["conv1.weight"][:32]
    torch.save(state, squeezed)
    with pytest.raises(ModelError, match=r"conv1\.weight: file \(32, 3, 7, 7\), model \(64, 3, 7, 7\)"):
        load_user_classifier("resnet18", squeezed)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))  # unpickling would create the marker file


def test_a_pickle_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran"
    weights = tmp_path / "evil.pt"
    with open(weights, "wb") as handle:
        pickle.dump({"conv1.weight": _Payload(marker)}, handle)
    with pytest.raises(ModelError, match="pickled Python objects, which ConvScope never runs"):
        load_user_classifier("resnet18", weights)
    assert not marker.exists()


def test_unknown_architecture_lists_close_matches(resnet_file):
    with pytest.raises(ModelError, match="Unknown architecture 'resnet81'. Did you mean: .*resnet18"):
        load_user_classifier("resnet81", resnet_file)


def test_class_names_files(tmp_path):
    text = tmp_path / "names.txt"
    text.write_text("cat\n\ndog\n")
    assert read_class_names(text, 2) == ["cat", "dog"]
    with pytest.raises(ModelError, match="names 2 classes, but the model has 3 outputs"):
        read_class_names(text, 3)
    assert read_class_names(None, 3) == ["class 0", "class 1", "class 2"]
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ModelError, match="not valid JSON"):
        read_class_names(bad, 2)
