"""Data sources added for training: ImageFolder-layout folders (with broken files)
and torchvision datasets from a local root (never downloaded unless asked)."""
import struct

import numpy as np
import pytest
import torch

from engine.data import load_image_folder, load_torchvision_dataset
from engine.errors import DataError
from engine.folders import EMPTY_FILE, NOT_AN_IMAGE


def write_png(path, colour, size=(20, 12)):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


@pytest.fixture
def folder(tmp_path):
    for i in range(3):
        write_png(tmp_path / "cats" / f"cat{i}.png", (200, 30, 30))
        write_png(tmp_path / "dogs" / f"dog{i}.png", (30, 30, 200), size=(8, 40))
    (tmp_path / "cats" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    (tmp_path / "dogs" / "empty.jpg").write_bytes(b"")
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    return tmp_path


def test_image_folder_loads_resizes_and_counts_skipped_files(folder):
    data = load_image_folder(str(folder), size=16, val_fraction=0.34)
    assert data.class_names == ["cats", "dogs"]
    assert data.input_shape == (3, 16, 16)
    assert len(data.train_x) + len(data.val_x) == 6
    assert len(data.val_x) == 2  # one per class
    reasons = data.extra["skipped_reasons"]
    # The one scanner's reasons (engine.folders): a file that is no image by content counts as one.
    assert reasons == {NOT_AN_IMAGE: 2, EMPTY_FILE: 1}
    skipped = dict(data.extra["skipped"])
    assert "cats/broken.png" in skipped and "dogs/empty.jpg" in skipped and "dogs/notes.txt" in skipped
    assert "empty" in skipped["dogs/empty.jpg"]
    # Colour survives: every cat is red, every dog blue.
    x = torch.cat([data.train_x, data.val_x])
    y = torch.cat([data.train_y, data.val_y])
    assert torch.all(x[y == 0][:, 0].mean((1, 2)) > 0.7) and torch.all(x[y == 1][:, 2].mean((1, 2)) > 0.7)


def test_hidden_files_are_counted_not_dropped(folder):
    """The training loader and Dog vs Food share one scanner: a .DS_Store is a skipped file too."""
    (folder / "cats" / ".DS_Store").write_bytes(b"\x00\x01")
    data = load_image_folder(str(folder), size=16, val_fraction=0.34)
    assert data.extra["skipped_reasons"][NOT_AN_IMAGE] == 3
    assert "cats/.DS_Store" in dict(data.extra["skipped"])


def test_grey_folder_becomes_one_channel(tmp_path):
    for cls in ("a", "b"):
        for i in range(2):
            write_png(tmp_path / cls / f"{i}.png", (90, 90, 90) if cls == "a" else (200, 200, 200))
    assert load_image_folder(str(tmp_path), size=8).input_shape == (1, 8, 8)


def test_empty_folder_and_single_class_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="no class sub-folders"):
        load_image_folder(str(tmp_path))
    for i in range(3):
        write_png(tmp_path / "only" / f"{i}.png", (1, 2, 3))
    with pytest.raises(DataError, match="only one class"):
        load_image_folder(str(tmp_path))
    with pytest.raises(DataError, match="not a folder"):
        load_image_folder(str(tmp_path / "missing"))


def test_registered_image_folder_trains(folder):
    from engine.data import load_dataset
    from engine.spec import NetworkSpec
    from engine.train import TrainSettings, fit

    data = load_dataset("image_folder", root=str(folder), size=8)
    spec = NetworkSpec.from_dict({"input_shape": [3, 8, 8], "num_classes": 2, "layers": [
        {"kind": "flatten"}, {"kind": "linear", "units": 2}]})
    result = fit(spec, data, TrainSettings(epochs=5, batch_size=2, lr=0.1, snapshot_every_steps=0))
    assert result.summary["val_acc"] == 1.0  # red vs blue is trivially separable


def _write_idx(path, array, magic):
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_torchvision_mnist_from_a_local_root_without_download(tmp_path):
    with pytest.raises(DataError, match="is not in"):
        load_torchvision_dataset("mnist", root=str(tmp_path))
    raw = tmp_path / "MNIST" / "raw"
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 30), ("t10k", 10)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), 2051)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10, 2049)
    data = load_torchvision_dataset("mnist", root=str(tmp_path))
    assert data.train_x.shape == (30, 1, 28, 28) and data.val_x.shape == (10, 1, 28, 28)
    assert float(data.train_x.max()) <= 1.0 and data.train_y.tolist()[:3] == [0, 1, 2]
    limited = load_torchvision_dataset("mnist", root=str(tmp_path), limit=20)
    assert len(limited.train_x) == 20
