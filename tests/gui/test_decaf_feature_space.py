"""Feature space on an ImageNet network (DeCAF): a folder of photos, one point per image, coloured
by folder or by the network's guess, each point linked to its thumbnail."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.images import load_bundled_photo

JOB_TIMEOUT_MS = 240_000


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVSCOPE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def panel(qtbot, ctx):
    from gui.panels.feature_space import FeatureSpacePanel

    widget = FeatureSpacePanel(ctx)
    qtbot.addWidget(widget)
    widget.resize(1300, 850)
    widget.show()
    yield widget
    widget.shutdown()
    widget.jobs.wait(10_000)


def _folder(root):
    for name, cls in (("coffee", "drinks"), ("chelsea", "cats"), ("rocket", "rockets")):
        (root / cls).mkdir(parents=True)
        image = load_bundled_photo(name)
        h, w = image.shape[:2]
        for i, view in enumerate((image, image[:, ::-1], image[h // 6:, w // 6:], image[: -h // 6, : -w // 6])):
            Image.fromarray(np.ascontiguousarray(view)).save(root / cls / f"{name}_{i}.png")
    return root


def test_decaf_embedding_of_a_folder(qtbot, panel, tmp_path):
    folder = _folder(tmp_path / "photos")
    panel.set_network("efficientnet_lite0")
    panel.set_folder(str(folder))
    panel.restore_state({"method": "tsne", "perplexity": 3, "iterations": 100, "colour_by": "true"})
    assert panel.colour_combo.itemText(0) == "folder"
    assert not panel.colour_combo.model().item(2).isEnabled()  # right / wrong means nothing here
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=JOB_TIMEOUT_MS):
        panel.start()
    features = panel.features
    assert len(features) == 12 and panel.result.embedding.xy.shape == (12, 2)
    assert features.features.shape[1] == 1280
    # One scatter group per folder, 4 points each, all 12 points drawn.
    groups = {name: len(idx) for name, _c, idx in panel.feature_plot.groups}
    assert groups == {"cats": 4, "drinks": 4, "rockets": 4}
    # Thumbnails are linked: hovering point i shows image i with its file and guess.
    panel.show_point(5)
    np.testing.assert_array_equal(panel.preview.image(), features.images[5])
    assert "guess:" in panel.preview.caption.text() and "folder" in panel.preview.caption.text()
    # Coloured by the network's guess instead: the groups are ImageNet classes.
    panel.colour_combo.setCurrentIndex(panel.colour_combo.findData("predicted"))
    names = {name for name, _c, _idx in panel.feature_plot.groups}
    assert names == set(features.prediction_names) and "espresso" in names
    assert sum(len(idx) for _n, _c, idx in panel.feature_plot.groups) == 12
    assert panel.save_state()["network"] == "efficientnet_lite0"
