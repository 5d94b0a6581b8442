"""Top patches over an image folder for a pretrained or loaded model (issue 17): the one-pass
index against brute force, the disk cache, receptive fields of torchvision graphs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from engine.errors import DataError
from engine.events import run_to_end
from engine.images import save_png
from engine.top_index import index_job, receptive_box, top_patches
from imagenet_test_helpers import tiny_classifier


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def photo_folder(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    (folder / "more").mkdir(parents=True)
    for i in range(7):
        save_png((folder if i < 4 else folder / "more") / f"p{i}.png",
                 (rng.random((40 + 3 * i, 50, 3)) * 255).astype(np.uint8))
    (folder / "notes.txt").write_text("not an image")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 20)
    return folder


def _brute_force(classifier, folder, layer):
    """Every image's whole feature map, the old-fashioned way."""
    from engine.top_index import folder_sources

    sources, _ = folder_sources(folder)
    maps, names = [], []
    for source in sources:
        image = source.load()
        if image is None:
            continue
        outputs = []
        handle = classifier.net.get_submodule(layer).register_forward_hook(lambda _m, _i, o: outputs.append(o))
        with torch.no_grad():
            classifier.model(classifier.preprocess(image))
        handle.remove()
        maps.append(outputs[0][0])
        names.append(source.name)
    return torch.stack(maps), names


def test_index_equals_brute_force_and_is_cached(photo_folder, cache):
    classifier = tiny_classifier(size=32)
    index = run_to_end(index_job(classifier, "3", photo_folder, top_k=3, batch_size=3))
    assert not index.from_cache and index.skipped == {"not an image": 1, "damaged or unreadable": 1}
    maps, names = _brute_force(classifier, photo_folder, "3")
    flat = maps.flatten(2)  # (images, C, H*W)
    for channel in range(maps.shape[1]):
        best = flat[:, channel].max(dim=1)
        order = best.values.argsort(descending=True)[:3]
        units = index.units(channel)
        assert [names[int(i)] for i in order] == [index.sources[u[0]] for u in units]
        for (image, y, x, value), i in zip(units, order):
            assert value == pytest.approx(float(best.values[i]))
            assert float(maps[int(i), channel, y, x]) == pytest.approx(value)
    again = run_to_end(index_job(classifier, "3", photo_folder, top_k=3))
    assert again.from_cache and np.array_equal(again.values, index.values) and again.sources == index.sources
    for cached in cache.rglob("*.npz"):  # a damaged cache file is rebuilt, never trusted
        cached.write_bytes(b"PK\x03\x04 truncated")
    rebuilt = run_to_end(index_job(classifier, "3", photo_folder, top_k=3))
    assert not rebuilt.from_cache and np.array_equal(rebuilt.values, index.values)
    # a changed file changes the fingerprint: the index is rebuilt, not reused stale
    save_png(photo_folder / "p0.png", np.zeros((60, 60, 3), np.uint8))
    assert not run_to_end(index_job(classifier, "3", photo_folder, top_k=3)).from_cache


def test_patches_are_cropped_to_the_receptive_field_with_their_projection(photo_folder, cache):
    classifier = tiny_classifier(size=32)
    index = run_to_end(index_job(classifier, "3", photo_folder, top_k=2))
    patches = top_patches(classifier, index, 5, photo_folder)
    assert len(patches) == 2
    for patch in patches:
        top, left, bottom, right = patch.box
        assert patch.patch.shape[:2] == (bottom - top, right - left) == patch.projection.shape[:2]
        assert 0 < bottom - top <= 10 and patch.method == "deconvnet"  # conv3 -> pool2 -> conv3: 8 px field


def test_a_folder_without_readable_images_says_so(tmp_path, cache):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"not really")
    with pytest.raises(DataError, match="None of the 1 image files could be read.*skipped 1 not an image"):
        run_to_end(index_job(tiny_classifier(), "3", folder))


def _recurrence_box(layers, input_size):
    rf, jump, start = 1, 1, 0.0
    for layer in layers:
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.MaxPool2d)):
            k, s, p = (v if isinstance(v, int) else v[0] for v in (layer.kernel_size, layer.stride, layer.padding))
            start += ((k - 1) / 2 - p) * jump
            rf += (k - 1) * jump
            jump *= s
    size = int(np.floor((input_size - 1 - start) / jump)) + 1
    centre = start + (size // 2) * jump
    low, high = int(centre - (rf - 1) / 2), int(centre + (rf - 1) / 2) + 1
    return max(0, low), max(0, low), min(input_size, high), min(input_size, high)


@pytest.mark.parametrize("layer", ["2", "5", "10"])
def test_receptive_field_of_a_torchvision_graph_matches_theory_and_the_gradient_footprint(layer):
    torch.manual_seed(0)
    features = torchvision.models.vgg11(weights=None).features.eval()
    box = receptive_box(features, layer, 96)
    assert box == _recurrence_box(list(features)[:int(layer) + 1], 96)
    x = torch.rand(1, 3, 96, 96, requires_grad=True)
    out = features[:int(layer) + 1](x)
    cy, cx = out.shape[-2] // 2, out.shape[-1] // 2
    out[0, :, cy, cx].sum().backward()
    rows, cols = torch.nonzero(x.grad[0].abs().sum(0) > 0, as_tuple=True)
    footprint = (int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1)
    assert footprint == box


def test_receptive_field_of_a_residual_graph_matches_its_gradient_footprint():
    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None).eval()
    box = receptive_box(net, "layer2", 128)
    x = torch.rand(1, 3, 128, 128, requires_grad=True)
    captured = []
    handle = net.layer2.register_forward_hook(lambda _m, _i, o: captured.append(o))
    net(x)
    handle.remove()
    out = captured[0]
    out[0, :, out.shape[-2] // 2, out.shape[-1] // 2].sum().backward()
    rows, cols = torch.nonzero(x.grad[0].abs().sum(0) > 0, as_tuple=True)
    assert (int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1) == box


def test_overview_and_channel_jobs(photo_folder, cache):
    from engine.top_index import overview_job, patches_job

    classifier = tiny_classifier(size=32)
    index = run_to_end(index_job(classifier, "3", photo_folder, top_k=3))
    overview = run_to_end(overview_job(classifier, index, photo_folder, size=24))
    assert overview.channels == list(range(16)) and overview.tiles.shape == (16, 24, 24, 3)
    np.testing.assert_allclose(overview.values, index.values[:, 0])
    patches = run_to_end(patches_job(classifier, index, 4, photo_folder))
    direct = top_patches(classifier, index, 4, photo_folder)
    assert [p.source for p in patches] == [p.source for p in direct] and len(patches) == 3
    assert all(np.array_equal(a.projection, b.projection) for a, b in zip(patches, direct))
