"""Every data colour reads against its plot background in both themes
(contrast >= 3:1), and a theme change at run time recolours data already drawn:
t-SNE / PCA class colours and legend swatches, Layer statistics' time colours,
live curves."""
from __future__ import annotations

import pytest
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication

from gui import theme

JOB_TIMEOUT_MS = 240_000


@pytest.fixture
def light_then_restore(qapp):
    theme.apply_theme(QApplication.instance(), "light", 1.0)
    yield
    theme.apply_theme(QApplication.instance(), "light", 1.0)


@pytest.mark.parametrize("name", sorted(theme.THEMES))
def test_every_data_colour_has_3_to_1_contrast_against_the_plot(name):
    colours = theme.THEMES[name]
    data = theme.data_colours(name)
    assert len(data) >= len(theme.PALETTE) + 2
    for value in data:
        for background in (colours["plot_bg"], colours["base"]):
            ratio = theme.contrast_ratio(value, background)
            assert ratio >= 3.0, f"{name}: {value} on {background} is only {ratio:.2f}:1"
    # The palette keeps ten different colours (classes must stay apart).
    assert len(set(theme.THEME_PALETTES[name])) == len(theme.PALETTE)


def test_colour_follows_the_theme(light_then_restore):
    app = QApplication.instance()
    assert [theme.colour(i) for i in range(10)] == theme.THEME_PALETTES["light"]
    theme.apply_theme(app, "dark", 1.0)
    assert [theme.colour(i) for i in range(10)] == theme.THEME_PALETTES["dark"]
    assert theme.colour(7) != "#000000"


def _brush_hex(item) -> str:
    return QColor(item.opts["brush"].color()).name()


def _pen_hex(item) -> str:
    import pyqtgraph as pg

    return pg.mkPen(item.opts["pen"]).color().name()


def test_theme_switch_recolours_feature_space_classes_and_legend(qtbot, ctx, trained_lenet, light_then_restore):
    from engine.embed import colour_groups
    from gui.panels.feature_space import FeatureSpacePanel

    ctx.set_run(trained_lenet)
    panel = FeatureSpacePanel(ctx)
    qtbot.addWidget(panel)
    panel.resize(1300, 850)
    panel.show()
    try:
        panel.restore_state({"method": "pca", "sample_size": 300})
        with qtbot.waitSignal(panel.jobs.succeeded, timeout=JOB_TIMEOUT_MS):
            panel.start()
        qtbot.waitUntil(lambda: not panel.jobs.running, timeout=10_000)
        plot = panel.feature_plot
        groups = colour_groups(panel.features.labels, panel.features.predictions, panel.features.class_names,
                               panel.colour_mode())
        indices = [c for _, c, _ in groups]
        assert 7 in indices  # class 7 is drawn (it vanished in the dark theme)
        light = [_brush_hex(item) for item in plot.items]
        assert light == [theme.THEME_PALETTES["light"][c] for c in indices]

        theme.apply_theme(QApplication.instance(), "dark", 1.0)
        qtbot.wait(100)
        dark_bg = theme.THEMES["dark"]["plot_bg"]
        dark = [_brush_hex(item) for item in plot.items]
        assert dark == [theme.THEME_PALETTES["dark"][c] for c in indices]
        assert all(theme.contrast_ratio(c, dark_bg) >= 3.0 for c in dark)
        # The legend swatches are the items themselves, now in the dark colours.
        swatches = [QColor(sample.item.opts["brush"].color()).name() for sample, _ in plot.legend.items]
        assert swatches == dark
        # The hover ring reads on the dark background too.
        assert theme.contrast_ratio(theme.pg.mkPen(plot.marker.opts["pen"]).color().name(), dark_bg) >= 3.0
    finally:
        panel.shutdown()
        panel.jobs.wait(10_000)


def test_theme_switch_recolours_layer_statistics(qtbot, ctx, trained_lenet, mnist5k, light_then_restore):
    import pyqtgraph as pg

    from engine.layer_stats import LayerStatsSnapshot, collect_layer_stats
    from gui.panels.layer_stats import LayerStatsPanel

    panel = LayerStatsPanel(ctx)
    qtbot.addWidget(panel)
    panel.show()
    stats = collect_layer_stats(trained_lenet.model, mnist5k.val_x[:32], with_grads=True, y=mnist5k.val_y[:32])
    for step in (0, 40, 80):
        ctx.training_event.emit(LayerStatsSnapshot(step, step // 40, stats))
    panel.redraw()

    def curve_colours():
        return [_pen_hex(item) for item in panel.act_plot.getPlotItem().listDataItems()]

    light = curve_colours()
    assert len(light) == 3 and light[-1] == theme.time_colour(1.0, "light").name()
    theme.apply_theme(QApplication.instance(), "dark", 1.0)
    qtbot.waitUntil(lambda: curve_colours() and curve_colours()[-1] == theme.time_colour(1.0, "dark").name(),
                    timeout=3000)
    dark_bg = theme.THEMES["dark"]["plot_bg"]
    for value in curve_colours():
        assert theme.contrast_ratio(value, dark_bg) >= 3.0, value
    # The latest epoch is the brightest line on black (it was dark navy).
    assert QColor(curve_colours()[-1]).lightness() > QColor(curve_colours()[0]).lightness()
    assert pg.mkColor(panel.act_plot.backgroundBrush().color()).name() == dark_bg


def test_theme_switch_recolours_live_curves_already_drawn(qtbot, light_then_restore):
    from gui.widgets.live_plot import LivePlot

    plot = LivePlot("Loss", "epoch", "loss")
    qtbot.addWidget(plot)
    for index in range(10):
        plot.add_series(f"s{index}", index)
        plot.append(f"s{index}", 0, index)
    theme.apply_theme(QApplication.instance(), "dark", 1.0)
    colours = [_pen_hex(plot._series[f"s{index}"].item) for index in range(10)]
    assert colours == theme.THEME_PALETTES["dark"]
    theme.apply_theme(QApplication.instance(), "light", 1.0)
    colours = [_pen_hex(plot._series[f"s{index}"].item) for index in range(10)]
    assert colours == theme.THEME_PALETTES["light"]
