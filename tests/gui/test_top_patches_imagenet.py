"""Top patches of the pretrained ImageNet network over a folder, each with its projection
(issue 17), and the view staying put when a network is trained meanwhile."""
from __future__ import annotations

import numpy as np

from engine.images import load_bundled_photo, save_png
from engine.transfer.demo import photo_variants

TIMEOUT = 180_000  # loading Lite0 and a pass over the photos on a busy 2-core machine


def test_imagenet_network_top_patches_with_projections(qtbot, ctx, tmp_path, monkeypatch):
    from gui.panels.top_patches import TopPatchesPanel

    monkeypatch.setenv("CONVSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, view in enumerate(photo_variants(load_bundled_photo("coffee"), 3, seed=1)):
        save_png(folder / f"coffee_{i}.png", view)
    (folder / "readme.txt").write_text("not an image")
    panel = TopPatchesPanel(ctx)
    qtbot.addWidget(panel)
    panel.show()
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=TIMEOUT):
        panel.network_combo.setCurrentIndex(panel.network_combo.findData("imagenet"))
    layers = [panel.layer_combo.itemData(i) for i in range(panel.layer_combo.count())]
    assert "conv_stem" in layers and "blocks.3.0.conv_pw" in layers  # the network's own module paths
    panel.layer_combo.setCurrentIndex(layers.index("blocks.1"))
    panel.set_folder(str(folder))
    panel.k_spin.setValue(2)
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=TIMEOUT):
        panel.find()
    assert panel.index.layer == "blocks.1" and len(panel.index.sources) == 3
    assert panel.index.skipped == {"not an image": 1}
    assert panel.all_grid.count == len(panel.overview.channels) == panel.index.channels
    assert "over 3 images; skipped 1 files" in panel.all_grid.caption.text()
    panel.all_grid.tile_clicked.emit(5)  # replaces the first channel's job, started when the index came
    wanted = panel.overview.channels[5]
    qtbot.waitUntil(lambda: not panel.jobs.running and f"channel {wanted}:" in panel.channel_grid.caption.text(),
                    timeout=TIMEOUT)
    assert panel.jobs.wait(TIMEOUT)  # the replaced job's thread too
    assert panel.channel_spin.value() == wanted
    assert panel.channel_grid.count == 4  # two patches, each beside its projection
    assert "Guided backpropagation projection" in panel.channel_grid.caption.text()  # Lite0 has no max pooling
    assert np.isfinite(panel.index.values).all()
