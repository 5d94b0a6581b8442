import numpy as np
import pytest
import torch

from engine.errors import ModelError
from engine.images import load_bundled_photo
from engine.pretrained import (DOG_CLASSES, FOOD_CLASSES, available_models, class_names, find_class,
                               load_classifier, search_classes)


@pytest.fixture(scope="module")
def classifier():
    return load_classifier()


def test_class_names_offline_and_groups():
    names = class_names()
    assert len(names) == 1000
    assert names[DOG_CLASSES[0]] == "Chihuahua" and names[DOG_CLASSES[-1]] == "Mexican hairless"
    assert names[FOOD_CLASSES[0]] == "guacamole" and names[FOOD_CLASSES[-1]] == "eggnog"
    assert len(DOG_CLASSES) == 118


def test_shipped_class_names_match_torchvision_metadata():
    from torchvision.models import ResNet18_Weights

    assert class_names() == list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def test_find_class_by_index_name_and_part():
    assert find_class(130) == find_class("130") == find_class("flamingo") == 130
    assert find_class("King Penguin") == find_class("king_penguin") == 145
    assert find_class("penguin") == 145  # a unique part of a name
    assert search_classes("espresso")[0] == 967


@pytest.mark.parametrize("query, words", [("dog", "several"), ("qwertyuiop", "No ImageNet class"),
                                          ("1000", "out of range"), ("", "No class")])
def test_find_class_errors_are_plain(query, words):
    with pytest.raises(ModelError, match=words):
        find_class(query)


def test_registry_marks_downloads():
    infos = available_models()
    assert infos[0].name == "efficientnet_lite0" and infos[0].available
    for info in infos[1:]:
        assert info.available or "download" in info.note
    unavailable = [i for i in infos if not i.available]
    if unavailable:
        with pytest.raises(ModelError, match="download"):
            load_classifier(unavailable[0].name)
    with pytest.raises(ModelError, match="Unknown model"):
        load_classifier("no_such_net")


def test_coffee_is_espresso(classifier):
    top = classifier.predict(load_bundled_photo("coffee"), k=5)
    assert top[0].name == "espresso" and top[0].index == 967
    assert top[0].prob > 0.9
    assert len(top) == 5 and all(a.prob >= b.prob for a, b in zip(top, top[1:]))


def test_cached_per_process_and_frozen(classifier):
    assert load_classifier() is classifier
    assert not any(p.requires_grad for p in classifier.model.parameters())
    assert not classifier.model.training


def test_preprocess_any_image_to_unit_crop(classifier):
    for image in (np.zeros((50, 300), np.uint8), np.full((500, 90, 4), 200, np.uint8), np.ones((10, 10, 1), np.uint8)):
        x = classifier.preprocess(image)
        assert x.shape == (1, 3, 224, 224) and x.dtype == torch.float32
        assert 0 <= float(x.min()) and float(x.max()) <= 1
    exact = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    assert np.array_equal(classifier.to_uint8(classifier.preprocess(exact)), exact)  # 224 px passes unchanged
    with pytest.raises(ModelError):
        classifier.preprocess(np.zeros((4, 4, 5), np.uint8))


def test_features_feed_the_final_layer(classifier):
    x = classifier.preprocess(load_bundled_photo("chelsea"))
    with torch.no_grad():
        features = classifier.features(x)
        assert features.shape == (1, classifier.feature_dim) == (1, 1280)
        assert torch.allclose(classifier.classifier(features), classifier.logits(x), atol=1e-4)
