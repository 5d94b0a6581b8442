"""Export what the current panel shows: every plot and image view as PNG at
projector resolution (and SVG where pyqtgraph can), the whole panel to the
clipboard, and the panel's metrics as CSV (from its save_state(), else the
current run's history)."""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters  # noqa: F401 (registers pg.exporters)
from PySide6.QtCore import QSize
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QApplication, QWidget

from engine.errors import ConvScopeError
from engine.fileio import slug

PROJECTOR_WIDTH = 1920  # pixels: a full-HD projector


class ExportError(ConvScopeError):
    title = "Export problem"


def _slug(text: str) -> str:
    return slug(text, "view")


def graphics_views(widget: QWidget) -> list[pg.GraphicsView]:
    """Every visible pyqtgraph view (PlotWidget, GraphicsLayoutWidget, ImageView's) inside widget."""
    views = [v for v in widget.findChildren(pg.GraphicsView) if v.isVisibleTo(widget) and v.scene() is not None]
    return views


def _view_name(view: pg.GraphicsView, index: int) -> str:
    if isinstance(view, pg.PlotWidget):
        title = view.getPlotItem().titleLabel.text
        if title:
            return _slug(re.sub("<[^>]+>", "", title))
    parent = view.parentWidget()
    caption = getattr(parent, "caption", None)  # gui.widgets.image_view.ImageView
    if caption is not None and hasattr(caption, "text") and caption.text():
        return _slug(caption.text())
    if caption is not None:
        return f"image{index + 1}"  # an image view without a caption yet
    # A layout of plots (LivePlot, histograms): named after its plot titles.
    titles = []
    scene = view.scene()
    for item in (scene.items() if scene is not None else []):
        if isinstance(item, pg.PlotItem):
            text = re.sub("<[^>]+>", " ", item.titleLabel.text or "").strip()
            if text and text not in titles:
                titles.append(text)
    if titles:
        titles.sort()
        return _slug(titles[0] if len(titles) == 1 else f"{titles[0]} and {len(titles) - 1} more")
    for widget in (parent, parent.parentWidget() if parent is not None else None):
        if hasattr(widget, "ctx"):
            break  # the panel itself: its title is the file's prefix already
        title = getattr(widget, "title", None)
        if isinstance(title, str) and title:
            return _slug(title)
        if widget is not None and widget.toolTip():
            return _slug(widget.toolTip().split(".")[0])[:40]
    return _slug(view.objectName() or f"view{index + 1}")


def render_widget(widget: QWidget, width: int = PROJECTOR_WIDTH) -> QImage:
    """The widget painted at `width` pixels wide (crisp: rendered at a higher device pixel ratio)."""
    size = widget.size()
    if size.width() <= 0 or size.height() <= 0:
        raise ExportError("The view has no size yet (is it visible?).")
    ratio = max(1.0, width / size.width())
    pixmap = QPixmap(QSize(round(size.width() * ratio), round(size.height() * ratio)))  # 1919.9999 is 1920
    pixmap.setDevicePixelRatio(ratio)
    pixmap.fill(widget.palette().window().color())
    widget.render(pixmap)
    return pixmap.toImage()


def export_view(widget: QWidget, folder: str | Path, prefix: str = "", width: int = PROJECTOR_WIDTH,
                svg: bool = True) -> list[Path]:
    """Write the whole panel and each of its plots/image views; returns the files written."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"Cannot create {folder}: {exc.strerror or exc}.") from exc
    prefix = _slug(prefix or getattr(widget, "title", "") or "view")
    written: list[Path] = []
    whole = folder / f"{prefix}.png"
    if not render_widget(widget, width).save(str(whole)):
        raise ExportError(f"Could not write {whole}.")
    written.append(whole)
    used: set[str] = set()
    for index, view in enumerate(graphics_views(widget)):
        name = _view_name(view, index)
        if name in used:
            name = f"{name}_{index + 1}"
        used.add(name)
        target = view.getPlotItem() if isinstance(view, pg.PlotWidget) else view.scene()
        png = folder / f"{prefix}_{name}.png"
        exporter = pg.exporters.ImageExporter(target)
        exporter.parameters()["width"] = width
        exporter.export(str(png))
        written.append(png)
        if svg:
            svg_path = folder / f"{prefix}_{name}.svg"
            if _export_svg(view, target, svg_path):
                written.append(svg_path)
    return written


def _export_svg(view: pg.GraphicsView, target, path: Path) -> bool:
    """pyqtgraph's SVG exporter; where it fails (it cannot parse the path syntax of
    recent Qt versions), Qt's own SVG generator painting the view as vectors."""
    try:
        pg.exporters.SVGExporter(target).export(str(path))
        return True
    except Exception:
        path.unlink(missing_ok=True)
    write_svg(path, view.size(), view.render)
    return path.exists() and path.stat().st_size > 0


def write_svg(path: Path, size, paint) -> Path:
    """Qt's SVG generator: `paint(painter)` draws as vectors onto a `size` (QSize) page at `path`."""
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QPainter
    from PySide6.QtSvg import QSvgGenerator

    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(size)
    generator.setViewBox(QRect(0, 0, size.width(), size.height()))
    generator.setTitle(path.stem)
    painter = QPainter(generator)
    try:
        paint(painter)
    finally:
        painter.end()
    return path


def copy_to_clipboard(widget: QWidget, width: int = PROJECTOR_WIDTH) -> QImage:
    image = render_widget(widget, width)
    QApplication.clipboard().setImage(image)
    return image


# ----- metrics CSV
def numeric_series(state: dict, prefix: str = "") -> dict[str, list[float]]:
    """Every 1-D list / array of numbers inside a (nested) state dict, by dotted name."""
    found: dict[str, list[float]] = {}
    if not isinstance(state, dict):
        return found
    for key, value in state.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            found.update(numeric_series(value, f"{name}."))
            continue
        if isinstance(value, np.ndarray):
            if value.ndim == 1 and value.size and np.issubdtype(value.dtype, np.number):
                found[name] = [float(v) for v in value]
            continue
        if isinstance(value, (list, tuple)) and value and all(
                isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in value):
            found[name] = [float(v) for v in value]
    return found


def metrics_table(panel, run=None) -> dict[str, list[float]]:
    """The panel's numeric series; else the current run's history."""
    series = numeric_series(panel.save_state() if panel is not None else {})
    if not series and run is not None:
        series = numeric_series(dict(run.history))
    return series


def write_metrics_csv(path: str | Path, series: dict[str, list[float]]) -> Path:
    if not series:
        raise ExportError("This view has no metrics to export yet (train a model or run the panel's job first).")
    path = Path(path)
    rows = max(len(v) for v in series.values())
    names = list(series)
    try:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["index", *names])
            for i in range(rows):
                writer.writerow([i, *[repr(series[n][i]) if i < len(series[n]) else "" for n in names]])
    except OSError as exc:
        raise ExportError(f"Cannot write {path}: {exc.strerror or exc}.") from exc
    return path
