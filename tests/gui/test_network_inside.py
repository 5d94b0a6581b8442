"""Filters and Activations on an ImageNet network: EfficientNet-Lite0's first-layer RGB filters,
and a chosen layer's feature maps of a photo, named by its real module path."""
from __future__ import annotations

import numpy as np
import pytest

JOB_TIMEOUT_MS = 240_000


@pytest.fixture
def filters(qtbot, ctx):
    from gui.panels.filters import FiltersPanel

    panel = FiltersPanel(ctx)
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    yield panel
    panel.shutdown()
    panel.jobs.wait(10_000)


@pytest.fixture
def activations(qtbot, ctx):
    from gui.panels.activations import ActivationsPanel

    panel = ActivationsPanel(ctx)
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    yield panel
    panel.shutdown()
    panel.jobs.wait(10_000)
    panel.net_jobs.wait(10_000)


def test_filters_show_lite0_first_layer(qtbot, filters):
    from engine.pretrained import load_classifier

    assert filters.stack.currentIndex() == 0  # no trained run yet: the hint
    with qtbot.waitSignal(filters.jobs.succeeded, timeout=JOB_TIMEOUT_MS):
        filters.show_network("efficientnet_lite0")
    filters.redraw()
    assert filters.stack.currentIndex() == 1 and filters.model_choice.isVisible()
    assert filters.layer_combo.currentText() == "conv_stem"
    expected = load_classifier("efficientnet_lite0").net.conv_stem.weight.detach().numpy()
    np.testing.assert_array_equal(filters.weights["conv_stem"], expected)
    assert filters.weights["conv_stem"].shape == (32, 3, 3, 3)
    assert "32 filters of 3×3×3" in filters.grid.caption.text() and "EfficientNet-Lite0" in filters.grid.caption.text()
    assert not filters.initial_grid.isVisible() and not filters.compare_check.isEnabled()
    assert "RGB" in filters.info.text()
    assert filters.layer_combo.findText("blocks.3.0.conv_pw") >= 0  # every conv, by module path
    assert filters.save_state()["network"] == "imagenet"
    filters.network_combo.setCurrentIndex(filters.network_combo.findData("run"))
    assert filters.stack.currentIndex() == 0 and not filters.model_choice.isVisible()


def test_activations_show_a_layer_of_lite0(qtbot, activations):
    from engine.images import load_bundled_photo
    from engine.network_views import network_maps
    from engine.pretrained import load_classifier

    with qtbot.waitSignal(activations.jobs.succeeded, timeout=JOB_TIMEOUT_MS):
        activations.show_network("efficientnet_lite0")
    assert activations.stack.currentIndex() == 2
    assert activations.net_layer_combo.currentData() == "blocks.3"
    result = activations.network_result
    assert result.layer == "blocks.3" and result.top1[1] == "espresso"  # the default photo: coffee
    assert result.maps.maps.shape == (80, 14, 14) and result.channels == 80
    assert "blocks.3" in activations.net_grid.caption.text()
    # Another layer by its module path: the view shows that layer's maps of the same photo.
    with qtbot.waitSignal(activations.jobs.succeeded, timeout=JOB_TIMEOUT_MS):
        activations.set_network_layer("conv_stem")
    result = activations.network_result
    expected = network_maps(load_classifier("efficientnet_lite0"), load_bundled_photo("coffee"), "conv_stem")
    np.testing.assert_array_equal(result.maps.maps, expected.maps.maps)
    assert result.maps.maps.shape == (32, 112, 112)
    # A photo sent from another panel is shown for the network too.
    with qtbot.waitSignal(activations.jobs.succeeded, timeout=JOB_TIMEOUT_MS):
        activations.show_image(load_bundled_photo("chelsea"), "chelsea")
    assert "cat" in activations.network_result.top1[1]
