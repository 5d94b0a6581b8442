import numpy as np
import pytest

from engine.data import load_dataset, load_image_folder, stratified_split
from engine.errors import DataError


def test_mnist5k_split_is_4000_1000_stratified(mnist5k):
    assert mnist5k.train_x.shape == (4000, 1, 28, 28) and mnist5k.val_x.shape == (1000, 1, 28, 28)
    assert 0.0 <= float(mnist5k.train_x.min()) and float(mnist5k.train_x.max()) <= 1.0
    counts = np.bincount(mnist5k.val_y.numpy(), minlength=10)
    assert counts.min() >= 80 and counts.sum() == 1000


def test_digits_and_shapes_load():
    digits = load_dataset("digits")
    assert digits.input_shape == (1, 8, 8) and digits.num_classes == 10
    shapes = load_dataset("shapes")
    assert shapes.input_shape == (3, 32, 32) and shapes.num_classes == 5
    grid = shapes.examples_per_class(4)
    assert len(grid) == 5 and grid[0].shape == (4, 32, 32, 3) and grid[0].dtype == np.uint8


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(DataError, match="Unknown dataset"):
        load_dataset("imagenet-22k")


def test_split_is_deterministic_and_disjoint():
    labels = np.repeat(np.arange(3), 10)
    a = stratified_split(labels, 0.2, seed=1)
    b = stratified_split(labels, 0.2, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not set(a[0]) & set(a[1]) and len(a[0]) + len(a[1]) == 30


def test_trained_fixture_learns(trained_lenet):
    assert trained_lenet.history["val_acc"][-1] > 0.93


def test_a_stop_request_interrupts_an_image_folder_load(tmp_path):
    """Reading a big folder is one step of its job: the stop flag is checked per file."""
    import threading

    from engine.errors import JobCancelled
    from engine.events import watch_stop_flag
    from engine.images import save_png

    for name in ("cats", "dogs"):
        (tmp_path / name).mkdir()
        for i in range(3):
            save_png(tmp_path / name / f"{i}.png", np.full((8, 8, 3), 40 * i, dtype=np.uint8))
    flag = threading.Event()
    watch_stop_flag(flag)
    try:
        assert len(load_image_folder(str(tmp_path), size=8, val_fraction=0.34).train_x) > 0
        flag.set()
        with pytest.raises(JobCancelled):
            load_image_folder(str(tmp_path), size=8, val_fraction=0.34)
    finally:
        watch_stop_flag(None)
