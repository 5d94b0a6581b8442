"""Layer statistics of a pretrained ImageNet network (issue 17): its blocks measured on the
bundled photos, activations and gradients, without a trained run."""
from __future__ import annotations

import numpy as np


def test_imagenet_network_blocks_are_measured(qtbot, ctx):
    from gui.panels.layer_stats import LayerStatsPanel

    panel = LayerStatsPanel(ctx)
    qtbot.addWidget(panel)
    panel.show()
    assert not panel.measure_button.isEnabled()  # no trained run yet
    panel.network_combo.setCurrentIndex(panel.network_combo.findData("imagenet"))
    assert panel.measure_button.isEnabled() and panel.model_choice.isVisible()
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=180_000):
        panel.measure()
    stats = panel.snapshots[-1].stats
    assert stats.layer_names[0] == "conv_stem" and "blocks.3" in stats.layer_names and "blocks" not in stats.layer_names
    assert np.all(stats.act_std > 0) and np.all(stats.grad_std > 0)
    panel.redraw()
    assert len(panel.act_plot.listDataItems()) >= 1
