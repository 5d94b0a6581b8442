"""LivePlot: appends only store numbers; the timer's redraw pushes them to the items."""
import math

import pytest

from gui.widgets.live_plot import LivePlot


def test_append_is_drawn_on_redraw_without_non_finite_points(qtbot):
    plot = LivePlot("loss", "iteration", "loss")
    qtbot.addWidget(plot)
    plot.auto_redraw = False  # drive redraws by hand
    plot.add_series("loss", 0)
    for step, value in enumerate([2.3, 1.9, math.nan, 1.2], start=1):
        plot.append("loss", step, value)
    item = plot._series["loss"].item
    assert item.getData()[0] is None or len(item.getData()[0]) == 0  # nothing drawn before the timer fires
    plot.redraw()
    x, y = item.getData()
    assert list(x) == [1.0, 2.0, 4.0] and list(y) == [2.3, 1.9, 1.2]
    assert plot.series_data("loss")[0] == [1.0, 2.0, 3.0, 4.0]  # the stored history keeps every step


def test_smoothing_is_an_exponential_moving_average(qtbot):
    plot = LivePlot("loss", "iteration", "loss")
    qtbot.addWidget(plot)
    plot.add_series("smooth", 0, smoothing=0.5)
    for step, value in enumerate([4.0, 0.0, 0.0], start=1):
        plot.append("smooth", step, value)
    assert plot.series_data("smooth")[1] == [4.0, 2.0, 1.0]


def test_overlays_are_added_and_removed_with_their_legend_entries(qtbot):
    plot = LivePlot("accuracy", "epoch", "accuracy", y_range=(0, 1))
    qtbot.addWidget(plot)
    plot.add_series("validation", 2)
    plot.add_overlay("run1", "#1 validation", [1, 2], [0.8, 0.9], 4, symbol="s")
    assert plot.overlay_keys() == ["run1"] and len(plot.legend.items) == 2
    plot.remove_overlay("run1")
    assert plot.overlay_keys() == [] and len(plot.legend.items) == 1


def test_epoch_axis_ticks_only_at_whole_numbers(qtbot):
    plot = LivePlot("accuracy", "epoch", "accuracy", whole_number_x=True)
    qtbot.addWidget(plot)
    for span in (2.5, 7.0, 300.0):
        levels = plot.plot.getAxis("bottom").tickSpacing(0.0, span, 500)
        assert levels and all(spacing >= 1 for spacing, _ in levels)


def test_legend_box_grows_with_its_text(qtbot):
    from gui.theme import set_legend_text_size

    plot = LivePlot("loss", "iteration", "loss")
    qtbot.addWidget(plot)
    plot.add_series("loss (smoothed)", 0)
    legend = plot.legend
    small = legend.boundingRect().height()
    set_legend_text_size(legend, "24pt")
    label = legend.items[0][1]
    assert legend.boundingRect().height() > small  # the legend (a strip under the axis) grows with its text
    assert legend.boundingRect().width() >= label.boundingRect().width()


def _shown_costless_plot(qtbot, title: str, series: str) -> LivePlot:
    """A shown plot with one series whose frames cost nothing unless a test says so: a loaded
    machine's real paints must not space the frames out."""
    plot = LivePlot(title, "step", title)
    qtbot.addWidget(plot)
    plot.show()
    qtbot.waitExposed(plot)
    plot.add_series(series, 0)
    plot.plot_widget.on_paint = None
    plot.frame_cpu_s = 0.0
    return plot


def _streaming_plot_on_a_fake_clock(qtbot, monkeypatch, start_s: float):
    """A shown plot with the series "loss", the shared scheduler, and the clock it reads ([seconds])."""
    import gui.widgets.live_plot as live_plot

    clock = [start_s]
    monkeypatch.setattr(live_plot.time, "monotonic", lambda: clock[0])
    return _shown_costless_plot(qtbot, "loss", "loss"), live_plot._redraw_scheduler(), clock


def test_a_live_plot_redraws_at_most_four_times_a_second_while_points_stream(qtbot, monkeypatch):
    """Every redraw holds the GIL that training needs: a streaming curve gets a frame per 0.25 s."""
    plot, scheduler, clock = _streaming_plot_on_a_fake_clock(qtbot, monkeypatch, 1000.0)
    scheduler._timer.stop()  # ticks by hand, on the fake clock
    drawn = []
    for tick in range(40):  # 2.5 s of 62.5 ms ticks (exact in binary), a new point before each
        plot.append("loss", tick, 1.0 / (tick + 1))
        before = plot.redraw_count
        scheduler._tick()
        if plot.redraw_count > before:
            drawn.append(round(clock[0] - 1000.0, 2))
        clock[0] += 0.0625
    assert len(drawn) == 10 and all(b - a >= 0.25 for a, b in zip(drawn, drawn[1:]))
    assert plot.series_data("loss")[0] == list(range(40))  # every point is kept, only frames are fewer


def test_the_scheduler_sleeps_until_the_next_frame_is_due(qtbot, monkeypatch):
    """No polling: after a frame, the one timer is set for when the next frame may come."""
    plot, scheduler, clock = _streaming_plot_on_a_fake_clock(qtbot, monkeypatch, 2000.0)
    plot.append("loss", 1, 1.0)
    scheduler._tick()  # draws at once
    assert plot.redraw_count == 1
    clock[0] += 0.05
    plot.append("loss", 2, 0.5)
    scheduler._tick()  # drawn 50 ms ago: waits
    assert plot.redraw_count == 1
    assert scheduler._timer.isSingleShot() and scheduler._timer.isActive()
    assert 195 <= scheduler._timer.interval() <= 205  # the 0.25 s frame interval, less the 50 ms gone
    clock[0] += 0.2
    scheduler._tick()
    assert plot.redraw_count == 2
    assert scheduler._timer.interval() == scheduler.TICK_MS  # after a frame: look again after one tick
    scheduler._timer.stop()
    clock[0] += 1.0
    assert not plot.wants_redraw()
    scheduler._tick()  # nothing new on screen: it does not set the timer again
    assert not scheduler._timer.isActive()
    plot.append("loss", 3, 0.4)  # the next point wakes it
    assert scheduler._timer.isActive()


def test_a_plot_with_new_points_is_not_held_back_by_another_plots_later_frame(qtbot, monkeypatch):
    """The timer waiting 2 s for a slow plot's next frame (the plan's) is brought forward when a
    plot that may draw now gets points: the loss curve of a new run waited 2 s for its first frame."""
    plot, scheduler, clock = _streaming_plot_on_a_fake_clock(qtbot, monkeypatch, 4000.0)
    slow = _shown_costless_plot(qtbot, "plan", "used")
    slow.live_interval_s = 2.0
    slow.append("used", 0, 1.0)
    scheduler._tick()  # draws the slow plot at once
    assert slow.redraw_count == 1
    slow.append("used", 1, 0.5)
    clock[0] += 0.05
    scheduler._tick()  # nothing due: the timer is set for the slow plot's next frame
    assert scheduler._timer.isActive() and scheduler._timer.remainingTime() > 1000
    plot.append("loss", 1, 2.3)  # a plot that may draw now
    assert scheduler._timer.remainingTime() <= scheduler.TICK_MS
    scheduler._tick()
    assert plot.redraw_count == 1
    scheduler._timer.stop()


def test_a_costly_frame_spaces_the_frames_out_to_the_plots_share_of_a_core(qtbot, monkeypatch):
    """On a slow machine a frame costs more: the frame rate follows, so drawing takes at most
    LIVE_CPU_SHARE of a core per plot (a 20 ms frame: one every 4 s), every point still kept."""
    plot, scheduler, clock = _streaming_plot_on_a_fake_clock(qtbot, monkeypatch, 3000.0)
    scheduler._timer.stop()  # ticks by hand, on the fake clock
    plot.frame_cpu_s = 0.020
    assert plot.frame_interval_s() == pytest.approx(0.020 / scheduler.LIVE_CPU_SHARE)
    drawn = []
    for tick in range(160):  # 10 s of 62.5 ms ticks, a new point before each
        plot.append("loss", tick, 1.0 / (tick + 1))
        before = plot.redraw_count
        scheduler._tick()
        if plot.redraw_count > before:
            drawn.append(clock[0] - 3000.0)
        clock[0] += 0.0625
    gaps = [b - a for a, b in zip(drawn, drawn[1:])]
    assert len(drawn) == 3 and min(gaps) >= plot.frame_interval_s()
    assert len(plot.series_data("loss")[0]) == 160
    plot.frame_cpu_s = 0.0001  # a fast machine: the live interval (4 frames a second) is the limit
    assert plot.frame_interval_s() == plot.live_interval_s


def test_a_plot_measures_what_its_frames_cost(qtbot):
    """The frame cost is measured: the redraw's CPU time plus the repaint after it."""
    plot = LivePlot("loss", "iteration", "loss")
    qtbot.addWidget(plot)
    plot.resize(400, 300)
    plot.show()
    qtbot.waitExposed(plot)
    plot.auto_redraw = False
    plot.add_series("loss", 0)
    plot.frame_cpu_s = 0.0
    plot.set_points("loss", list(range(500)), [1.0 / (i + 1) for i in range(500)])
    plot.redraw()
    plot.plot_widget.viewport().repaint()
    qtbot.waitUntil(lambda: plot.frame_cpu_s > 0)
    assert plot._redraw_cpu_s == 0.0  # the redraw's share went into the measured frame


def test_a_from_zero_axis_leaves_room_for_overlays(qtbot):
    plot = LivePlot("loss", "iteration", "loss", from_zero=True)
    qtbot.addWidget(plot)
    plot.add_series("loss", 0)
    plot.append("loss", 1, 0.5)
    plot.redraw()
    plot.add_overlay("old", "old loss", [1, 2], [2.0, 1.0], 4)
    low, high = plot.plot.vb.viewRange()[1]
    assert low == 0 and high >= 2.0  # the earlier run's curve is not cut off
    plot.remove_overlay("old")
    assert plot.plot.vb.viewRange()[1][1] < 1.0


def test_a_stepped_y_axis_zooms_to_the_data_in_whole_steps(qtbot):
    plot = LivePlot("accuracy", "epoch", "accuracy", y_step=0.05)
    qtbot.addWidget(plot)
    plot.auto_redraw = False
    plot.add_series("train", 1)
    plot.append("train", 1, 0.62)
    plot.append("train", 2, 0.71)
    plot.redraw()
    low, top = plot.plot.vb.viewRange()[1]
    assert low < 0.6 < 0.62 and 0.71 < 0.75 < top and top - low < 0.2  # [0.60, 0.75] and a little padding
    before = plot.plot.vb.viewRange()[1]
    plot.append("train", 3, 0.74)  # inside the same steps: the axes stay as they are
    plot.redraw()
    assert plot.plot.vb.viewRange()[1] == before
    plot.append("train", 4, 0.81)
    plot.redraw()
    low, top = plot.plot.vb.viewRange()[1]
    assert low < 0.6 and 0.81 < 0.85 < top
    plot.add_overlay("run1", "#1 train", [1, 2], [0.3, 0.5], 4)  # an earlier, worse run stays in view
    low, _ = plot.plot.vb.viewRange()[1]
    assert low < 0.3
    plot.clear()
    plot.append("train", 1, 1.0)  # a single perfect score: one step below it, not above 1
    plot.remove_overlay("run1")
    plot.redraw()
    low, top = plot.plot.vb.viewRange()[1]
    assert 0.9 < low < 0.95 and 1.0 < top < 1.01
