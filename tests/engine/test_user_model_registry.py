"""The user's own model by name: register once (validated by loading it), then every loader
(load_classifier / as_classifier, so every job) resolves 'user:N' to that model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine import pretrained, user_model
from engine.errors import ModelError


@pytest.fixture(scope="module")
def resnet_file(tmp_path_factory):
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None, num_classes=3)
    path = tmp_path_factory.mktemp("weights") / "tiny_resnet.pt"
    torch.save(net.state_dict(), path)
    names = path.with_name("names.txt")
    names.write_text("cat\ndog\nfood\n")
    return path, names, net


def test_register_and_load_by_name_round_trip(resnet_file):
    path, names, net = resnet_file
    name = user_model.register_user_model("resnet18", path, names, input_size=96)
    assert name.startswith("user:")
    assert user_model.register_user_model("resnet18", path, names, input_size=96) == name  # same files: same name
    assert name in [n for n, _label, _spec in user_model.registered_user_models()]
    classifier = pretrained.load_classifier(name)
    assert classifier is pretrained.as_classifier(name)  # cached: one load per process
    assert classifier.name == name and classifier.class_names() == ["cat", "dog", "food"]
    assert classifier.input_size == 96 and "tiny_resnet.pt" in classifier.label
    # The loaded weights are the file's: same logits as the network saved there.
    x = torch.rand(1, 3, 96, 96)
    net.eval()
    with torch.no_grad():
        expected = net((x - classifier.model.normalize.mean) / classifier.model.normalize.std)
        np.testing.assert_allclose(classifier.logits(x).numpy(), expected.numpy(), rtol=1e-4, atol=1e-5)
    assert classifier.features(x).shape == (1, 512)


def test_bad_weights_are_refused_and_not_registered(tmp_path):
    import torchvision

    before = user_model.registered_user_models()
    wrong = tmp_path / "wrong.pt"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), wrong)
    with pytest.raises(ModelError, match="do not fit resnet34"):
        user_model.register_user_model("resnet34", wrong)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="junk.pt"):
        user_model.register_user_model("resnet18", junk)
    with pytest.raises(ModelError, match="Unknown architecture"):
        user_model.register_user_model("resnett18", wrong)
    assert user_model.registered_user_models() == before


def test_unknown_user_name_is_a_clear_error():
    with pytest.raises(ModelError, match="has been added"):
        pretrained.load_classifier("user:999")


def test_a_registered_model_runs_through_the_network_views(resnet_file):
    from engine.events import run_to_end
    from engine.images import load_bundled_photo
    from engine.network_views import network_filters_job, network_layers_job, network_maps_job

    path, names, _net = resnet_file
    name = user_model.register_user_model("resnet18", path, names, input_size=96)
    filters = run_to_end(network_filters_job(name))
    assert filters.first_layer == "conv1" and filters.weights["conv1"].shape == (64, 3, 7, 7)
    _name, _label, layers = run_to_end(network_layers_job(name))
    assert ("layer1.0.conv1", (64, 24, 24)) in layers
    maps = run_to_end(network_maps_job(name, load_bundled_photo("coffee"), "layer2"))
    assert maps.maps.maps.shape == (128, 12, 12) and maps.top1[1] in ("cat", "dog", "food")
