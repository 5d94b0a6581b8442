"""Data panel: loading as a job, split and samples shown, options shared through
the context, augmentation preview from the engine, folder and torchvision errors."""
from __future__ import annotations

import numpy as np
import pytest

from engine.data import dataset_names
from gui.panels.builder import COLUMNS, BuilderPanel
from gui.panels.data import DataPanel
from gui.workers import registry


@pytest.fixture
def panel(qtbot, ctx):
    widget = DataPanel(ctx)
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()
    qtbot.waitUntil(lambda: not registry.live(), timeout=15000)


def load(panel, qtbot, ctx, name, options=None):
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=60000):
        panel.load_dataset(name, options)


def test_loading_digits_shows_split_samples_and_publishes_dataset(panel, ctx, qtbot):
    assert not panel.jobs.running  # nothing loads before the panel is shown
    with qtbot.waitSignal(ctx.dataset_changed, timeout=60000) as blocker:
        panel.load_dataset("digits")
    assert blocker.args == ["digits"]
    assert ctx.dataset_info["n_train"] == 1438 and ctx.dataset_info["n_val"] == 359
    assert tuple(ctx.dataset_info["input_shape"]) == (1, 8, 8)
    assert "Train <b>1,438</b>" in panel.info_label.text() and "Validation <b>359</b>" in panel.info_label.text()
    assert panel.sample_grid.count == 100  # 10 classes x 10 samples, one row per class
    assert [label.toPlainText().split(" ")[0] for label in panel.sample_grid._labels] == [str(d) for d in range(10)]
    assert panel.mean_view.image() is not None and "Per-channel mean" in panel.channel_label.text()
    qtbot.waitUntil(lambda: panel.preview_grid.count == 5 * 8, timeout=30000)


def test_options_are_shared_and_preview_resamples(panel, ctx, qtbot):
    load(panel, qtbot, ctx, "digits")
    qtbot.waitUntil(lambda: panel.preview_grid.count > 0 and not panel.preview_jobs.running, timeout=30000)
    with qtbot.waitSignal(ctx.data_options_changed, timeout=1000):
        panel.normalization_buttons["per_channel"].setChecked(True)
    assert ctx.data_options["normalization"] == "per_channel"
    with qtbot.waitSignal(panel.preview_jobs.succeeded, timeout=30000):
        panel.rotation_spin.setValue(30.0)
    assert ctx.data_options["rotation"] == 30.0
    first = panel.preview_grid.item.image.copy()
    with qtbot.waitSignal(panel.preview_jobs.succeeded, timeout=30000):
        panel.resample()
    second = panel.preview_grid.item.image
    assert first.shape == second.shape and not np.array_equal(first, second)
    state = panel.save_state()
    assert state["dataset"] == "digits" and state["rotation"] == 30.0


def test_network_adapts_when_the_dataset_changes(qtbot, ctx, panel):
    builder = BuilderPanel(ctx)
    qtbot.addWidget(builder)
    load(panel, qtbot, ctx, "digits")
    assert tuple(ctx.spec.input_shape) == (1, 8, 8) and ctx.spec.num_classes == 10
    problems = [builder.table.item(r, COLUMNS.index("Problem")).text() for r in range(builder.table.rowCount())]
    # LeNet-5 cannot fit 8x8 digits: its second 5x5 conv meets 4x4 maps, and the row says so.
    assert any("larger than its padded input 4x4" in text for text in problems)


@pytest.mark.skipif("image_folder" not in dataset_names(), reason="image folder loader not in this engine")
def test_image_folder_with_a_broken_file(panel, ctx, qtbot, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, value in (("cats", 40), ("dogs", 200)):
        (tmp_path / name).mkdir()
        for i in range(4):
            pixels = np.clip(rng.normal(value, 10, (20, 24, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.png")
    (tmp_path / "dogs" / "broken.png").write_bytes(b"\x89PNG not really")
    load(panel, qtbot, ctx, "image_folder", {"root": str(tmp_path), "size": 16})
    assert ctx.dataset == "image_folder" and ctx.dataset_info["options"]["root"] == str(tmp_path)
    assert tuple(ctx.dataset_info["input_shape"]) == (3, 16, 16) and ctx.dataset_info["num_classes"] == 2
    assert "skipped" in panel.info_label.text()


@pytest.mark.skipif("image_folder" not in dataset_names(), reason="image folder loader not in this engine")
def test_folder_without_classes_gives_a_clear_message(panel, ctx, qtbot, tmp_path):
    with qtbot.waitSignal(ctx.error_raised, timeout=30000) as blocker:
        panel.load_dataset("image_folder", {"root": str(tmp_path), "size": 16})
    title, message = blocker.args
    assert title == "Data problem" and "no class sub-folders" in message
    assert panel.load_button.isEnabled() and ctx.dataset_info is None


@pytest.mark.skipif("cifar10" not in dataset_names(), reason="torchvision loaders not in this engine")
def test_torchvision_without_files_and_without_download_says_so(panel, ctx, qtbot, tmp_path):
    with qtbot.waitSignal(ctx.error_raised, timeout=30000) as blocker:
        panel.load_dataset("cifar10", {"root": str(tmp_path), "download": False})
    assert "not in" in blocker.args[1] and str(tmp_path) in blocker.args[1]
    assert not any(tmp_path.iterdir())  # nothing was downloaded


def test_row_names_fit_left_of_the_grid_at_large_text_size(qtbot, monkeypatch):
    import numpy as np
    from PySide6.QtWidgets import QApplication

    from gui import theme
    from gui.panels.data import LabelledGrid

    monkeypatch.setitem(theme.current, "scale", 2.0)
    original_font = QApplication.font()
    big = QApplication.font()
    big.setPointSizeF(theme.point_size())  # the application font at 200 %, as apply_theme sets it
    QApplication.setFont(big)
    try:
        grid = LabelledGrid("samples")
        qtbot.addWidget(grid)
        grid.resize(400, 500)
        grid.show()
        qtbot.waitExposed(grid)
        tiles = np.zeros((30, 8, 8), dtype=np.uint8)
        grid.set_rows(tiles, 3, [f"class {i} (400/100)" for i in range(10)], scale=2)
        qtbot.wait(50)
        view_left = grid.view.sceneBoundingRect().left()  # screen pixels: the names do not zoom
        for label in grid._labels:
            assert label.sceneBoundingRect().left() >= view_left - 1, "a row name is cut off on the left"
    finally:
        QApplication.setFont(original_font)
