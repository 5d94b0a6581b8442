"""Looking inside: filters, feature maps, top patches, mistakes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import DataError, ModelError
from engine.events import Progress, run_to_end
from engine.introspect import (
    colour_bar, confident_mistakes, confusion_matrix, conv_weights, crop_receptive_field, drawn_digit_to_input,
    feature_maps_for, filter_grid, filter_grids, image_to_input, layer_activations, mistakes_job,
    run_mistakes, run_top_patches, spatial_layer_names, top_patches_job)
from engine.model import ConvNet
from engine.spec import load_preset


def test_first_layer_filters_differ_from_initialization(trained_lenet):
    torch.manual_seed(0)  # the fixture's model was built right after this seed
    initial = conv_weights(ConvNet(load_preset("lenet5")))["conv1"]
    trained = conv_weights(trained_lenet.model)["conv1"]
    change = np.linalg.norm(trained - initial) / np.linalg.norm(initial)
    assert change > 0.2, change


def test_filter_grid_modes_and_shared_scale():
    weights = {"conv1": np.random.default_rng(0).normal(size=(6, 3, 5, 5)).astype(np.float32),
               "conv2": np.random.default_rng(1).normal(size=(16, 6, 3, 3)).astype(np.float32)}
    rgb, deep = filter_grids(weights)
    assert rgb.mode == "rgb" and rgb.tiles.shape == (6, 5, 5, 3)
    assert deep.mode == "mean" and deep.tiles.shape == (16, 3, 3)
    assert np.isclose(rgb.scale, np.abs(weights["conv1"]).max())
    # Largest |weight| maps to an extreme; zero maps to mid-grey.
    assert rgb.tiles.max() == 255 or rgb.tiles.min() == 0
    per_input = filter_grid("conv2", weights["conv2"], "per_input", upscale=2)
    assert per_input.tiles.shape == (16 * 6, 6, 6) and per_input.columns == 6
    zero = filter_grid("z", np.zeros((2, 1, 3, 3)), scale=1.0)
    assert np.all(zero.tiles == 128)
    bar = colour_bar(0.5)
    assert bar[0, 0] == 0 and bar[0, -1] == 255
    with pytest.raises(ModelError):
        filter_grid("fc", np.zeros((3, 4)))


def test_activations_of_every_layer(trained_lenet, mnist5k):
    acts = layer_activations(trained_lenet.model, mnist5k.val_x[0])
    assert list(acts) == [name for name, _ in trained_lenet.model.named_layers()]
    assert acts["conv1"].shape == (6, 28, 28) and acts["fc3"].shape == (10,)
    assert np.argmax(acts["fc3"]) == int(trained_lenet.model(mnist5k.val_x[:1]).argmax())
    maps = feature_maps_for(trained_lenet.model, mnist5k.val_x[0])
    conv1 = maps[0]
    assert conv1.maps.dtype == np.uint8 and conv1.maps.shape == (6, 28, 28) and conv1.spatial
    assert conv1.maps.max() == 255 and conv1.maps.min() == 0  # one scale per layer spans it
    fc = maps[-1]
    assert not fc.spatial and fc.maps.shape == (1, 4, 4)


def test_image_to_input_and_drawn_digit():
    rgb = np.zeros((100, 60, 3), dtype=np.uint8)
    rgb[:, :30] = 255
    x = image_to_input(rgb, (1, 28, 28))
    assert x.shape == (1, 28, 28) and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert x[0, 14, 2] > 0.9 and x[0, 14, 25] < 0.1
    assert image_to_input(rgb, (3, 32, 32)).shape == (3, 32, 32)
    drawing = np.zeros((200, 200), dtype=np.uint8)
    drawing[20:60, 150:160] = 255  # a short stroke in a corner
    digit = drawn_digit_to_input(drawing, (1, 28, 28))
    ys, xs = np.nonzero(digit[0].numpy() > 0.1)
    assert abs(ys.mean() - 13.5) < 2 and abs(xs.mean() - 13.5) < 2  # centred like MNIST
    assert ys.max() - ys.min() <= 21  # fits the 20-pixel box
    with pytest.raises(DataError):
        drawn_digit_to_input(np.zeros((50, 50)), (1, 28, 28))


def test_receptive_field_crop_matches_geometry():
    images = torch.arange(1 * 1 * 10 * 10, dtype=torch.float32).reshape(1, 1, 10, 10)
    # rf 3, jump 1, start 0.5: unit (4, 5) is centred on pixel (4, 5).
    crop = crop_receptive_field(images, np.array([4]), np.array([5]), 3, 1, 0.5)
    assert torch.equal(crop[0, 0], images[0, 0, 3:6, 4:7])
    edge = crop_receptive_field(images, np.array([0]), np.array([0]), 3, 1, 0.5)
    assert edge[0, 0, 0, 0] == 0 and edge[0, 0, 1, 1] == images[0, 0, 0, 0]


def test_top_patches_are_the_strongest(trained_lenet, mnist5k):
    x = mnist5k.val_x[:300]
    events = []
    result = run_to_end(top_patches_job(trained_lenet.model, x, "relu2", k=6, batch_size=64), events.append)
    assert any(isinstance(e, Progress) for e in events)
    assert result.patches.shape == (16, 6, 14, 14, 1)  # conv2 after conv1(5)+pool(2): rf 14
    assert result.receptive_field == 14
    # Brute force: channel 3's best image by its maximum activation.
    acts = layer_activations(trained_lenet.model, x, upto="relu2")["relu2"]
    per_image = acts[:, 3].reshape(len(x), -1).max(axis=1)
    expected = np.argsort(-per_image)[:6]
    assert set(result.image_index[3]) == set(expected)
    assert np.allclose(np.sort(result.values[3])[::-1], np.sort(per_image)[::-1][:6], atol=1e-5)
    assert np.all(np.diff(result.values[3]) <= 0)
    blocks, columns = result.all_channels_mosaic()
    assert blocks.shape[0] == 16 and columns == 4
    with pytest.raises(ModelError):
        run_to_end(top_patches_job(trained_lenet.model, x, "fc1"))
    assert "relu2" in spatial_layer_names(trained_lenet.model) and "fc1" not in spatial_layer_names(trained_lenet.model)


def test_top_patches_of_conv2_share_a_pattern(trained_lenet, mnist5k):
    """The top patches of a channel resemble each other far more than random
    patches of the same layer do (a visible shared pattern)."""
    result = run_to_end(run_top_patches(trained_lenet, "conv2", k=9, split="val"))
    rng = np.random.default_rng(0)
    random_idx = rng.integers(0, len(mnist5k.val_x), 9)

    def mean_pair_correlation(patches):
        flat = patches.reshape(len(patches), -1).astype(np.float64)
        flat -= flat.mean(axis=1, keepdims=True)
        flat /= np.linalg.norm(flat, axis=1, keepdims=True) + 1e-9
        corr = flat @ flat.T
        return corr[np.triu_indices(len(patches), 1)].mean()

    top = np.mean([mean_pair_correlation(result.patches[c]) for c in range(result.channels)])
    random = crop_receptive_field(mnist5k.val_x[random_idx], np.full(9, 4), np.full(9, 4), 14, 2, 2.5)
    baseline = mean_pair_correlation(random.numpy())
    assert top > baseline + 0.2, (top, baseline)


def test_confusion_matrix_and_confident_mistakes():
    y = np.array([0, 0, 1, 1, 2])
    probs = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.05, 0.05, 0.9], [0.1, 0.8, 0.1], [0.6, 0.1, 0.3]])
    matrix = confusion_matrix(y, probs.argmax(1), 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 1], [1, 0, 0]]
    assert confident_mistakes(probs, y, 5).tolist() == [2, 1, 4]


def test_mistakes_job_on_trained_lenet(trained_lenet, mnist5k):
    result = run_to_end(run_mistakes(trained_lenet, count=12))
    assert result.confusion.sum() == len(mnist5k.val_y)
    assert np.isclose(result.accuracy, np.trace(result.confusion) / result.confusion.sum())
    assert result.accuracy > 0.85
    assert len(result.indices) == 12 and np.all(result.true_labels != result.predicted)
    assert np.all(np.diff(result.confidence) <= 1e-9)
    assert result.images.shape == (12, 28, 28, 1)
    assert np.all(result.confidence > result.true_probability)


def test_mistakes_job_refuses_mismatched_classes(trained_lenet, mnist5k):
    with pytest.raises(ModelError):
        run_to_end(mistakes_job(trained_lenet.model, mnist5k.val_x[:10], mnist5k.val_y[:10], ["a", "b"]))


def test_inspect_command_writes_pngs(trained_lenet, tmp_path):
    import argparse

    from engine.checkpoint import save_run
    from engine.cli import inspect as inspect_cli

    run_dir = save_run(tmp_path / "run", trained_lenet)
    out = tmp_path / "out"
    code = inspect_cli.run(argparse.Namespace(run=str(run_dir), out=str(out), sample=3, top_k=4, limit=200))
    assert code == 0
    names = {p.name for p in out.glob("*.png")}
    for expected in ("filters_conv1.png", "filters_conv2.png", "activations_conv1.png", "top_patches_conv2.png",
                     "layer_stats.png", "confusion_matrix.png", "mistakes.png", "input.png"):
        assert expected in names
    bad = inspect_cli.run(argparse.Namespace(run=str(tmp_path / "missing"), out=str(out), sample=0, top_k=4,
                                             limit=10))
    assert bad == 1


def test_filter_change_measures_training(trained_lenet):
    from engine.introspect import filter_change

    torch.manual_seed(0)
    initial = conv_weights(ConvNet(load_preset("lenet5")))["conv1"]
    delta, relative = filter_change(conv_weights(trained_lenet.model)["conv1"], initial)
    assert delta.shape == initial.shape and relative > 0.2
    assert filter_change(initial, initial)[1] == 0.0
    with pytest.raises(ModelError):
        filter_change(initial, initial[:2])
