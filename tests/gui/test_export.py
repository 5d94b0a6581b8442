import csv

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QVBoxLayout

from gui import export
from gui.panels.base import Panel
from gui.widgets.image_view import ImageView


class _PlotPanel(Panel):
    title = "Plot test"

    def __init__(self, ctx):
        super().__init__(ctx)
        layout = QVBoxLayout(self)
        self.plot = pg.PlotWidget(title="Validation accuracy")
        self.plot.plot([1, 2, 3], [0.5, 0.8, 0.9])
        self.image = ImageView("input digit")
        self.image.set_image(np.arange(64, dtype=np.uint8).reshape(8, 8) * 4)
        layout.addWidget(self.plot)
        layout.addWidget(self.image)

    def save_state(self):
        return {"curves": {"val_acc": [0.5, 0.8, 0.9], "lr": np.array([0.1, 0.05])}, "layer": "conv1"}


def test_export_writes_the_panel_and_each_view_at_projector_width(qtbot, ctx, tmp_path):
    panel = _PlotPanel(ctx)
    qtbot.addWidget(panel)
    panel.resize(800, 600)
    panel.show()
    written = export.export_view(panel, tmp_path, panel.title)
    names = sorted(p.name for p in written)
    assert "plot_test.png" in names
    assert "plot_test_validation_accuracy.png" in names and "plot_test_validation_accuracy.svg" in names
    assert "plot_test_input_digit.png" in names
    whole = QImage(str(tmp_path / "plot_test.png"))
    assert whole.width() == export.PROJECTOR_WIDTH
    plot_png = QImage(str(tmp_path / "plot_test_validation_accuracy.png"))
    assert plot_png.width() == export.PROJECTOR_WIDTH
    assert "<svg" in (tmp_path / "plot_test_validation_accuracy.svg").read_text()[:2000]


def test_copy_to_clipboard_puts_a_projector_sized_image_there(qtbot, ctx):
    panel = _PlotPanel(ctx)
    qtbot.addWidget(panel)
    panel.resize(640, 480)
    panel.show()
    export.copy_to_clipboard(panel)
    image = QApplication.clipboard().image()
    assert image.width() == export.PROJECTOR_WIDTH and image.height() == 480 * 3


def test_metrics_csv_from_panel_state_and_from_the_run(qtbot, ctx, tmp_path, window):
    panel = _PlotPanel(ctx)
    qtbot.addWidget(panel)
    path = export.write_metrics_csv(tmp_path / "m.csv", export.metrics_table(panel))
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["index", "curves.val_acc", "curves.lr"]
    assert rows[1] == ["0", "0.5", "0.1"] and rows[3] == ["2", "0.9", ""]

    class _Run:
        history = {"train_loss": [1.0, 0.5]}

    assert export.metrics_table(Panel(ctx), _Run()) == {"train_loss": [1.0, 0.5]}
    # through the window: a panel without numbers and no run -> a clear message, no file
    window.show_panel("Dog vs Food")
    assert window.ctx.run is None
    assert export.metrics_table(window.current_panel(), None) == {}
    assert window.classroom.export_metrics(tmp_path / "none.csv") is None
    assert "no metrics" in window.ctx.last_error[1]
    assert not (tmp_path / "none.csv").exists()


def test_export_current_view_from_the_window(window, tmp_path):
    window.show_panel("Training")
    written = window.classroom.export_current_view(tmp_path)
    assert written and written[0].name == "training.png"
    assert QImage(str(written[0])).width() == export.PROJECTOR_WIDTH
