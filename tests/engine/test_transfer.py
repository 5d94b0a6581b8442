"""Dog vs food: class groups, remap arithmetic, folder scanning with skip counts,
head fine-tuning on cached features, evaluation, CLI. Most tests use a tiny
stand-in classifier (same interface as engine.pretrained.ImageNetClassifier) so
they take well under a second; two use the real EfficientNet-Lite0."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from engine.errors import DataError, ModelError
from engine.events import Progress, run_to_end
from engine.folders import (DAMAGED, EMPTY_FILE, NOT_AN_IMAGE, OUTSIDE_CLASS_FOLDER, match_folder_to_group,
                            scan_image_folder)
from engine.transfer import (ClassGroup, ClassGroups, TransferBatchEnd, TransferEpochEnd, compact_ranges,
                             evaluate_predictions, feature_cache, finetune_job, load_groups, make_demo_folder,
                             mark_tiles, remap_single_image, remap_to_groups, softmax, zero_shot_job)


# ---------------------------------------------------------------- a tiny stand-in classifier
class _TinyNet(nn.Module):
    """EfficientNet-shaped (blocks, conv_head, bn2, classifier) but 16 px and a few channels."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.conv_stem = nn.Conv2d(3, 8, 3, padding=1)
        self.blocks = nn.Sequential(nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()),
                                    nn.Sequential(nn.Conv2d(8, 12, 3, padding=1), nn.ReLU()))
        self.conv_head = nn.Conv2d(12, 16, 1)
        self.bn2 = nn.BatchNorm2d(16)
        self.classifier = nn.Linear(16, num_classes)

    def forward(self, x):
        x = self.bn2(self.conv_head(self.blocks(self.conv_stem(x))))
        return self.classifier(x.mean(dim=(2, 3)))


class TinyClassifier:
    name = "tiny"

    def __init__(self, seed: int = 0):
        torch.manual_seed(seed)
        self.net = _TinyNet().eval()
        for module in self.net.modules():  # variance-keeping init, so colours give clearly distinct features
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight)
        self.model = self.net
        self.classifier = self.net.classifier
        for parameter in self.net.parameters():
            parameter.requires_grad_(False)

    def preprocess(self, image: np.ndarray) -> torch.Tensor:
        small = np.asarray(Image.fromarray(image).resize((16, 16)), dtype=np.float32) / 255.0
        return torch.from_numpy(small).permute(2, 0, 1)[None]

    def features(self, x):
        captured = []
        handle = self.classifier.register_forward_pre_hook(lambda m, args: captured.append(args[0]))
        try:
            self.net(x)
        finally:
            handle.remove()
        return captured[-1]


def _colour_images(rgb, count, seed):
    """Noisy images around one colour: two colours make a visually separable toy split."""
    rng = np.random.default_rng(seed)
    base = np.array(rgb, dtype=np.float64)
    return [np.clip(base + rng.normal(0, 25, (24 + i % 5, 28, 3)), 0, 255).astype(np.uint8) for i in range(count)]


def _write_folder(root, classes: dict[str, list[np.ndarray]]):
    for name, images in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(images):
            Image.fromarray(image).save(root / name / f"{i:02d}.png")
    return root


@pytest.fixture
def tiny():
    feature_cache.clear()
    yield TinyClassifier()
    feature_cache.clear()


RED_BLUE = ClassGroups("red vs blue", [ClassGroup("red", [0, 1]), ClassGroup("blue", [2])])


# ---------------------------------------------------------------- class groups
def test_shipped_groups_load_with_the_course_ranges():
    dog_food = load_groups()
    assert dog_food.names == ["dog", "food"]
    assert dog_food.groups[0].classes == list(range(151, 269))
    assert dog_food.groups[1].classes == list(range(924, 970))
    cat_vehicle = load_groups("cat_vs_vehicle")
    assert cat_vehicle.names == ["cat", "vehicle"] and 670 in cat_vehicle.groups[1].classes  # motor scooter


def test_groups_round_trip_and_validation(tmp_path):
    groups = ClassGroups("mine", [ClassGroup("a", [5, 3, 4, 9]), ClassGroup("b", [100])], "x")
    assert compact_ranges(groups.groups[0].classes) == [[3, 5], [9, 9]]
    groups.save(tmp_path / "g.json")
    again = ClassGroups.load(tmp_path / "g.json")
    assert again.names == ["a", "b"] and again.groups[0].classes == [3, 4, 5, 9]
    for bad, message in [
        (ClassGroups("t", [ClassGroup("a", [1])]), "two class groups"),
        (ClassGroups("t", [ClassGroup("a", [1]), ClassGroup("b", [])]), "no ImageNet classes"),
        (ClassGroups("t", [ClassGroup("a", [1]), ClassGroup("A", [2])]), "Two class groups"),
        (ClassGroups("t", [ClassGroup("a", [1]), ClassGroup("b", [1000])]), "0-999"),
        (ClassGroups("t", [ClassGroup("a", [1, 2]), ClassGroup("b", [2])]), "both"),
    ]:
        with pytest.raises(DataError, match=message):
            bad.validate()
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        ClassGroups.load(tmp_path / "broken.json")
    (tmp_path / "wrong.json").write_text(json.dumps({"groups": [{"classes": [1]}]}))
    with pytest.raises(DataError, match="name"):
        ClassGroups.load(tmp_path / "wrong.json")


# ---------------------------------------------------------------- remap arithmetic
def test_remap_sums_group_probabilities_and_renormalises():
    probabilities = np.array([[0.1, 0.2, 0.3, 0.4],  # groups get 0.3 and 0.3 -> 50/50, 0.6 inside
                              [0.5, 0.1, 0.2, 0.2],  # 0.6 and 0.2 -> 0.75 / 0.25, 0.8 inside
                              [0.05, 0.05, 0.1, 0.8]])  # 0.1 and 0.1 -> tie, only 0.2 inside
    logits = np.log(probabilities) + 7.0  # any constant shift gives the same softmax
    scores, inside = remap_to_groups(logits, RED_BLUE)
    np.testing.assert_allclose(scores, [[0.5, 0.5], [0.75, 0.25], [0.5, 0.5]], atol=1e-12)
    np.testing.assert_allclose(inside, [0.6, 0.8, 0.2], atol=1e-12)


def test_softmax_is_stable_for_huge_logits():
    probabilities = softmax(np.array([[1000.0, 1000.0, -1000.0]]))
    np.testing.assert_allclose(probabilities, [[0.5, 0.5, 0.0]], atol=1e-12)
    scores, inside = remap_to_groups(np.array([[0.0, 0.0, 0.0, 800.0]]), RED_BLUE)  # all mass outside
    assert np.all(np.isfinite(scores)) and np.isclose(scores.sum(), 1.0) and inside[0] < 1e-300


def test_evaluation_counts_per_group_and_confusion():
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.1, 0.9]])
    labels = np.array([0, 0, 0, 1, 1])
    ev = evaluate_predictions(scores, labels, ["dog", "food"])
    assert ev.confusion.tolist() == [[2, 1], [0, 2]]
    assert ev.per_group_accuracy == pytest.approx([2 / 3, 1.0])
    assert ev.accuracy == pytest.approx(4 / 5) and ev.n == 5 and ev.per_group_count == [3, 2]
    empty_group = evaluate_predictions(scores[:3], labels[:3], ["dog", "food"])
    assert math.isnan(empty_group.per_group_accuracy[1])


def test_mark_tiles_frames_mistakes_red_and_hits_green():
    tiles = np.full((2, 32, 32, 3), 128, np.uint8)
    marked = mark_tiles(tiles, np.array([True, False]))
    assert tuple(marked[0, 0, 0]) == (0, 158, 115) and tuple(marked[1, 0, 0]) == (213, 40, 0)
    assert tuple(marked[0, 16, 16]) == (128, 128, 128)  # the picture itself is untouched
    assert tuple(tiles[1, 0, 0]) == (128, 128, 128)  # a copy, not in place


# ---------------------------------------------------------------- folders
def test_folder_scan_counts_every_skipped_file_with_its_reason(tmp_path, tiny):
    root = _write_folder(tmp_path / "test", {"Test-Dog": _colour_images((200, 40, 40), 3, 0),
                                             "test-food": _colour_images((40, 40, 200), 2, 1)})
    (root / "Test-Dog" / "zero.png").write_bytes(b"")
    (root / "Test-Dog" / "text.png").write_text("not a picture")
    whole = (root / "Test-Dog" / "00.png").read_bytes()
    (root / "test-food" / "cut.png").write_bytes(whole[:len(whole) // 3])
    (root / "test-food" / "readme.txt").write_text("notes")
    (root / "stray.jpg").write_bytes(whole)
    scan = scan_image_folder(root)
    assert scan.class_names == ["Test-Dog", "test-food"]
    assert scan.skipped_counts() == {OUTSIDE_CLASS_FOLDER: 1, EMPTY_FILE: 1, NOT_AN_IMAGE: 1}
    assert len(scan.files) == (3 + 1) + (2 + 1)  # text.png and cut.png look like images until read
    groups = ClassGroups("dog vs food", [ClassGroup("dog", [0, 1]), ClassGroup("food", [2])])
    report = run_to_end(zero_shot_job(root, groups, tiny))
    assert report.evaluation.n == 5 and report.evaluation.per_group_count == [3, 2]
    assert report.skipped_counts() == {OUTSIDE_CLASS_FOLDER: 1, EMPTY_FILE: 1, NOT_AN_IMAGE: 2, DAMAGED: 1}
    summary = report.summary()
    assert summary["skipped"] == 5 and summary["n"] == 5 and set(summary) >= {"dog_acc", "food_acc", "accuracy"}


def test_bad_folders_give_clear_errors(tmp_path, tiny):
    with pytest.raises(DataError, match="does not exist"):
        scan_image_folder(tmp_path / "missing")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(DataError, match="not a folder"):
        scan_image_folder(tmp_path / "file.png")
    (tmp_path / "flat").mkdir()
    with pytest.raises(DataError, match="no class sub-folders"):
        scan_image_folder(tmp_path / "flat")
    _write_folder(tmp_path / "one", {"dog": _colour_images((1, 2, 3), 2, 0)})
    with pytest.raises(DataError, match="only one class"):
        scan_image_folder(tmp_path / "one")
    (tmp_path / "empty" / "dog").mkdir(parents=True)
    (tmp_path / "empty" / "food").mkdir()
    (tmp_path / "empty" / "food" / "a.txt").write_text("x")
    with pytest.raises(DataError, match="no usable images"):
        scan_image_folder(tmp_path / "empty")
    (tmp_path / "broken" / "dog").mkdir(parents=True)
    (tmp_path / "broken" / "food").mkdir()
    (tmp_path / "broken" / "dog" / "a.png").write_text("text")
    (tmp_path / "broken" / "food" / "b.jpg").write_text("text")
    with pytest.raises(DataError, match="None of the images"):
        run_to_end(zero_shot_job(tmp_path / "broken", load_groups(), tiny))
    _write_folder(tmp_path / "cats", {"dog": _colour_images((1, 2, 3), 1, 0), "cats": _colour_images((1, 2, 3), 1, 1)})
    with pytest.raises(DataError, match="'cats'.*match no class group"):
        run_to_end(zero_shot_job(tmp_path / "cats", load_groups(), tiny))


def test_folder_names_match_groups_in_any_case_and_with_prefixes():
    names = ["dog", "food"]
    for folder, expected in [("dog", 0), ("Food", 1), ("test-dog", 0), ("TEST_FOOD", 1), ("train-dogs", 0),
                             ("Dogs", 0), ("val.food", 1), ("cat", None), ("hotdog", None)]:
        assert match_folder_to_group(folder, names) == expected, folder
    assert match_folder_to_group("vehicle", ["cat", "vehicles"]) == 1


# ---------------------------------------------------------------- fine-tuned head
def test_new_head_learns_a_separable_toy_split(tmp_path, tiny):
    train = _write_folder(tmp_path / "train", {"red": _colour_images((220, 30, 30), 12, 0),
                                               "blue": _colour_images((30, 30, 220), 12, 1)})
    test = _write_folder(tmp_path / "test", {"test-red": _colour_images((220, 30, 30), 5, 2),
                                             "test-blue": _colour_images((30, 30, 220), 5, 3)})
    original = tiny.classifier.weight.clone()
    events = []
    result = run_to_end(finetune_job(train, RED_BLUE, test, tiny, epochs=20, lr=0.05, batch_size=8), events.append)
    epoch_ends = [e for e in events if isinstance(e, TransferEpochEnd)]
    assert [e.epoch for e in epoch_ends] == list(range(1, 21))
    assert any(isinstance(e, TransferBatchEnd) for e in events)
    assert any(isinstance(e, Progress) for e in events)
    history = result.head.history
    assert history["train_loss"][-1] < history["train_loss"][0] * 0.5
    assert history["train_acc"][-1] == 1.0
    assert result.report.evaluation.accuracy == 1.0 and result.report.mode == "fine-tuned"
    assert result.head.linear.out_features == 2
    assert torch.equal(tiny.classifier.weight, original)  # the shared model is untouched
    summary = result.summary()
    assert summary["train_n"] == 24 and summary["train_counts"] == {"red": 12, "blue": 12}
    assert summary["red_acc"] == 1.0 and summary["epochs"] == 20


def test_features_are_cached_between_jobs(tmp_path, tiny):
    train = _write_folder(tmp_path / "train", {"red": _colour_images((220, 30, 30), 4, 0),
                                               "blue": _colour_images((30, 30, 220), 4, 1)})
    calls = []
    original = tiny.preprocess
    tiny.preprocess = lambda image: calls.append(1) or original(image)
    run_to_end(finetune_job(train, RED_BLUE, None, tiny, epochs=1))
    assert len(calls) == 8
    run_to_end(finetune_job(train, RED_BLUE, None, tiny, epochs=1))
    assert len(calls) == 8  # second run: every image came from the cache
    Image.fromarray(_colour_images((220, 30, 30), 1, 9)[0]).save(train / "red" / "00.png")
    run_to_end(finetune_job(train, RED_BLUE, None, tiny, epochs=1))
    assert len(calls) == 9  # the edited file is read again


def test_unfreezing_the_last_block_trains_a_copy(tmp_path, tiny):
    train = _write_folder(tmp_path / "train", {"red": _colour_images((220, 30, 30), 6, 0),
                                               "blue": _colour_images((30, 30, 220), 6, 1)})
    block_before = [p.clone() for p in tiny.net.blocks[-1].parameters()]
    result = run_to_end(finetune_job(train, RED_BLUE, train, tiny, epochs=15, lr=0.05, unfreeze_last_block=True,
                                     val_fraction=0))
    tail = result.head.tail
    assert tail is not None and result.report.evaluation.accuracy == 1.0
    changed = [not torch.equal(a, b) for a, b in zip(block_before, tail.block.parameters())]
    assert any(changed)  # the copy learned
    assert all(torch.equal(a, b) for a, b in zip(block_before, tiny.net.blocks[-1].parameters()))  # original did not


def test_finetune_needs_images_for_every_group(tmp_path, tiny):
    train = _write_folder(tmp_path / "train", {"red": _colour_images((220, 30, 30), 3, 0),
                                               "reds": _colour_images((200, 30, 30), 3, 1)})
    with pytest.raises(DataError, match="'blue'"):
        run_to_end(finetune_job(train, RED_BLUE, None, tiny, epochs=1))
    with pytest.raises(DataError, match="learning rate"):
        run_to_end(finetune_job(train, RED_BLUE, None, tiny, lr=float("nan")))
    with pytest.raises(ModelError, match="not supported"):
        run_to_end(finetune_job(train, RED_BLUE, None, SimpleNamespace(name="flat", preprocess=None),
                                unfreeze_last_block=True))


# ---------------------------------------------------------------- the real classifier
@pytest.fixture(scope="module")
def demo_folders(tmp_path_factory):
    from engine.transfer import cat_vs_vehicle_photos

    root = tmp_path_factory.mktemp("demo")
    make_demo_folder(root / "test", cat_vs_vehicle_photos(), per_class=3, seed=1)
    return root


def test_zero_shot_remap_with_efficientnet_on_real_photos(demo_folders):
    from engine.images import load_bundled_photo
    from engine.pretrained import load_classifier

    classifier = load_classifier()
    report = run_to_end(zero_shot_job(demo_folders / "test", load_groups("cat_vs_vehicle"), classifier))
    assert report.evaluation.n == 6 and report.evaluation.accuracy == 1.0
    assert report.skipped_counts() == {EMPTY_FILE: 1, NOT_AN_IMAGE: 2, DAMAGED: 1}
    # the espresso photo: the food group should hold nearly all of the dog + food probability
    with torch.no_grad():
        logits = classifier.logits(classifier.preprocess(load_bundled_photo("coffee"))).numpy()
    scores, inside = remap_to_groups(logits, load_groups("dog_vs_food"))
    assert scores[0, 1] > 0.95 and inside[0] > 0.9


def test_dogfood_cli_prints_json_last(demo_folders, capsys):
    import argparse

    from engine.cli import dogfood

    parser = argparse.ArgumentParser()
    dogfood.register(parser.add_subparsers())
    args = parser.parse_args(["dogfood", str(demo_folders / "test"), "--groups", "cat_vs_vehicle", "--quiet"])
    assert args.func(args) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(last)
    assert summary["n"] == 6 and summary["skipped"] == 4 and summary["cat_acc"] == 1.0
    assert summary["vehicle_acc"] == 1.0 and summary["accuracy"] == 1.0


def test_single_photo_remap_names_the_winner_of_each_group(tiny):
    image = _colour_images((220, 30, 30), 1, 0)[0]
    result = remap_single_image(image, RED_BLUE, tiny)
    with torch.no_grad():
        logits = tiny.net(tiny.preprocess(image)).numpy()
    probabilities = softmax(logits)[0]
    assert result.inside == pytest.approx(probabilities[[0, 1, 2]].sum())
    assert result.scores.sum() == pytest.approx(1.0)
    assert result.group_mass[1] == pytest.approx(probabilities[2])
    assert result.winners[0].index == int(np.argmax(probabilities[[0, 1]]))
    assert result.winners[1].index == 2 and result.top_classes[0].index == int(np.argmax(probabilities))
