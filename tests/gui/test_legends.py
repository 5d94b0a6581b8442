"""Legends never cover data. For the plots the issue names (Layer statistics,
the adversarial probability plot, Training's accuracy plot at F5 text size, the
feature-space scatter at 200 %), no legend rectangle contains a plotted point: the
legend lies outside the plot area, or (a small plot at large text) inside it in a
corner where no point lies."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication

from gui import theme
from gui.widgets.legend import OutsideLegend
from gui.widgets.live_plot import LivePlot
from tests.engine.imagenet_test_helpers import tiny_classifier

JOB_TIMEOUT_MS = 240_000


@pytest.fixture
def large_text(qapp):
    def apply(scale):
        theme.apply_theme(QApplication.instance(), "dark", scale)
    yield apply
    theme.apply_theme(QApplication.instance(), "light", 1.0)


def _settle(qtbot, widget):
    for _ in range(3):
        QApplication.processEvents()
        qtbot.wait(30)
    theme.restyle_views_in(widget)
    QApplication.processEvents()


def _plotted_points(plot_item: pg.PlotItem) -> list[QPointF]:
    """Scene positions of every point the plot draws (curves and scatters)."""
    points = []
    for item in plot_item.items:
        if isinstance(item, pg.PlotDataItem) and item.isVisible():
            x, y = item.getData()
        elif isinstance(item, pg.ScatterPlotItem) and item.isVisible():
            x, y = item.getData()
        else:
            continue
        if x is None or len(x) == 0:
            continue
        for xi, yi in zip(np.asarray(x, float), np.asarray(y, float)):
            if np.isfinite(xi) and np.isfinite(yi):
                points.append(item.mapToScene(QPointF(xi, yi)))
    return points


def assert_legend_covers_nothing(plot_item: pg.PlotItem) -> None:
    legend = plot_item.legend
    assert legend is not None and legend.isVisible() and legend.items, "the plot has a visible legend"
    rect = legend.sceneBoundingRect()
    assert rect.width() > 0 and rect.height() > 0
    points = _plotted_points(plot_item)
    assert points, "the plot draws points"
    covered = [p for p in points if rect.contains(p)]
    assert not covered, f"{len(covered)} of {len(points)} points under the legend {rect}"
    if not legend.inside:  # a strip under the axis, or (small plots) inside in an empty corner
        assert not rect.intersects(plot_item.vb.sceneBoundingRect()), "the legend is outside the plot area"
        assert legend.height() <= plot_item.vb.height() or legend._no_free_corner  # the data keep room
    # The whole legend is on screen, inside its plot widget.
    assert plot_item.sceneBoundingRect().contains(rect)


def test_a_small_plot_keeps_its_area_and_the_legend_an_empty_corner(qtbot, large_text):
    from gui.widgets.live_plot import LivePlot

    large_text(2.0)
    plot = LivePlot("Loss per iteration", "iteration", "loss")
    qtbot.addWidget(plot)
    for name, colour in (("loss (raw)", 0), ("loss (smoothed)", 1), ("validation loss", 2)):
        plot.add_series(name, colour)
    x = np.arange(100)
    plot.set_points("loss (raw)", x, 2.3 * np.exp(-x / 11) + 0.1)
    plot.set_points("loss (smoothed)", x, 2.2 * np.exp(-x / 12) + 0.1)
    plot.set_points("validation loss", x[::10], 2.2 * np.exp(-x[::10] / 14) + 0.15)
    plot.resize(430, 330)
    plot.show()
    plot.redraw()
    _settle(qtbot, plot)
    # A strip would take too much of this small plot: inside, where a falling loss leaves room.
    assert plot.legend.inside and plot.legend.corner == (1, 0)
    assert_legend_covers_nothing(plot.plot)
    plot.resize(900, 700)  # room again: back under the axis
    _settle(qtbot, plot)
    assert not plot.legend.inside
    assert_legend_covers_nothing(plot.plot)
    # Data in every corner: under the axis (a smaller plot, but nothing hidden) ...
    plot.add_series("noise", 3, symbol="o")
    rng = np.random.default_rng(0)
    plot.set_points("noise", rng.uniform(0, 100, 400), rng.uniform(0, 2.3, 400))
    plot.resize(430, 420)
    plot.redraw()
    _settle(qtbot, plot)
    assert not plot.legend.inside
    assert_legend_covers_nothing(plot.plot)
    # ... unless the strip would leave too little of the plot to read: then the corner with
    # the fewest points, on a see-through box, and the plot keeps its room.
    plot.resize(430, 300)
    _settle(qtbot, plot)
    assert plot.legend.inside and plot.legend.brush().color().alpha() < 255
    assert plot.plot.vb.height() >= 100


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_adversarial_probability_plot(qtbot, ctx, scale, large_text):
    from gui.panels.adversarial import AdversarialPanel

    large_text(scale)
    panel = AdversarialPanel(ctx)
    panel.classifier = tiny_classifier()
    qtbot.addWidget(panel)
    panel.resize(1280, 760)
    panel.show()
    panel.set_image(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8), "noise")
    panel.restore_state({"method": "pgd", "target": 5, "targeted": True, "epsilon": 8, "steps": 12})
    with qtbot.waitSignal(panel.jobs.succeeded, timeout=JOB_TIMEOUT_MS):
        panel.run_button.click()
    panel.curve.redraw()
    _settle(qtbot, panel)
    assert_legend_covers_nothing(panel.curve.plot)


def test_layer_statistics_last_point(qtbot, ctx, trained_lenet, mnist5k, large_text):
    from engine.layer_stats import LayerStatsSnapshot, collect_layer_stats
    from gui.panels.layer_stats import LayerStatsPanel

    large_text(2.0)
    panel = LayerStatsPanel(ctx)
    qtbot.addWidget(panel)
    panel.resize(1280, 760)
    panel.show()
    stats = collect_layer_stats(trained_lenet.model, mnist5k.val_x[:32], with_grads=True, y=mnist5k.val_y[:32])
    for step in (0, 40, 80):
        ctx.training_event.emit(LayerStatsSnapshot(step, step // 40, stats))
    panel.redraw()
    _settle(qtbot, panel)
    assert_legend_covers_nothing(panel.act_plot.getPlotItem())
    # At 200 % the layer names on the x axis never run together, the log axis labels never stack.
    from PySide6.QtGui import QFontMetricsF

    for plot in (panel.act_plot, panel.grad_plot):
        axis = plot.getAxis("bottom")
        major = axis._tickLevels[0]
        metrics = QFontMetricsF(axis.style["tickFont"])
        vb = plot.getPlotItem().vb
        xs = [vb.mapViewToScene(QPointF(x, 0)).x() for x, _ in major]
        for (x0, name0), (x1, name1), s0, s1 in zip(major, major[1:], xs, xs[1:]):
            assert s1 - s0 >= (metrics.horizontalAdvance(name0) + metrics.horizontalAdvance(name1)) / 2, (name0, name1)
    left = panel.grad_plot.getAxis("left")
    ticks = left._tickLevels[0]
    height = QFontMetricsF(left.style["tickFont"]).height()
    ys = sorted(panel.grad_plot.getPlotItem().vb.mapViewToScene(QPointF(0, y)).y() for y, _ in ticks)
    assert all(b - a >= height for a, b in zip(ys, ys[1:]))
    assert left.autoSIPrefix is False and "(x" not in left.labelString()


def test_training_accuracy_plot_at_presentation_size(qtbot, ctx, large_text):
    from gui.panels.training import TrainingPanel

    large_text(2.5)  # F5's type size
    panel = TrainingPanel(ctx)
    qtbot.addWidget(panel)
    panel.resize(1280, 760)
    panel.show()
    epochs = np.arange(1, 11)
    panel.acc_plot.set_points("train", epochs, np.linspace(0.6, 0.99, 10))
    panel.acc_plot.set_points("validation", epochs, np.linspace(0.55, 0.97, 10))
    panel.acc_plot.redraw()
    _settle(qtbot, panel)
    assert_legend_covers_nothing(panel.acc_plot.plot)


def test_feature_space_scatter_at_200_percent(qtbot, ctx, trained_lenet, large_text):
    from gui.panels.feature_space import FeatureSpacePanel

    large_text(2.0)
    ctx.set_run(trained_lenet)
    panel = FeatureSpacePanel(ctx)
    qtbot.addWidget(panel)
    panel.resize(1280, 760)
    panel.show()
    try:
        panel.restore_state({"method": "pca", "sample_size": 400})
        with qtbot.waitSignal(panel.jobs.succeeded, timeout=JOB_TIMEOUT_MS):
            panel.start()
        qtbot.waitUntil(lambda: not panel.jobs.running, timeout=10_000)
        _settle(qtbot, panel)
        plot = panel.feature_plot.plot.getPlotItem()
        assert len(plot.legend.items) == 10
        assert_legend_covers_nothing(plot)
    finally:
        panel.shutdown()
        panel.jobs.wait(10_000)


def test_new_points_leave_a_legend_under_the_axis_where_it_is(qtbot, monkeypatch):
    """Placing the legend again relays out the whole plot: live frames must not do it when the
    legend sits under the axis (whether it does depends on sizes, not on the points)."""
    plot = LivePlot("loss", "iteration", "loss")
    qtbot.addWidget(plot)
    plot.resize(700, 500)
    plot.show()
    plot.auto_redraw = False
    plot.add_series("loss", 0)
    plot.add_series("validation loss", 2)
    plot.append("loss", 1, 2.0)
    plot.redraw()
    assert not plot.legend.inside
    placed = []
    original = OutsideLegend.place
    monkeypatch.setattr(OutsideLegend, "place", lambda self, *a: (placed.append(1), original(self, *a)))
    for step in range(2, 12):
        plot.append("loss", step, 2.0 / step)
        plot.redraw()
    assert placed == [] and not plot.legend.inside
