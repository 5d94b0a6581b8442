"""Light / dark themes, the type scale and presentation mode's look.

`apply_theme` sets the application palette, font and pyqtgraph defaults, then
updates what already exists (`refresh_live_widgets`): fonts that widgets set
explicitly, backgrounds, axes and line widths of existing pyqtgraph plots. It
emits `notifier.changed` so widgets that paint themselves can redraw.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPalette, QPen
from PySide6.QtWidgets import (QApplication, QHeaderView, QProxyStyle, QStyle, QStyleFactory, QTableView,
                               QWidget)

# Both themes are high-contrast: body text against its background is at least
# 7:1 (WCAG AAA), muted text at least 4.5:1 (tests/gui/test_presentation.py checks).
THEMES = {
    "light": {"window": "#f5f6f8", "base": "#ffffff", "text": "#111111", "button": "#e3e6eb",
              "highlight": "#0b5cbf", "plot_bg": "#ffffff", "plot_fg": "#111111", "muted": "#4a515c"},
    "dark": {"window": "#16181d", "base": "#1f232a", "text": "#f2f4f8", "button": "#2e333d",
             "highlight": "#5aa9ff", "plot_bg": "#0f1115", "plot_fg": "#f0f0f0", "muted": "#b4bccb"},
}

# Okabe-Ito: distinguishable with the common forms of colour blindness.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
           "#999999", "#882255"]
# The same hues per theme, darkened (light) or lightened (dark) just enough that every data
# colour has a contrast of at least 3:1 against the plot background and the panel base
# (tests/gui/test_theme_colours.py checks). Index 7 is black on white and near-white on black.
THEME_PALETTES = {
    "light": ["#0072b2", "#b37c00", "#00996f", "#d55e00", "#c5679b", "#1b8dce", "#92890c", "#000000",
              "#878787", "#882255"],
    "dark": ["#3b93d6", "#e69f00", "#009e73", "#e0661a", "#cc79a7", "#56b4e9", "#f0e442", "#e8e8e8",
             "#999999", "#d0468a"],
}
# Time as depth of colour (Layer statistics): early snapshots faint, the latest the most contrast.
TIME_RAMPS = {"light": ("#5a8bbb", "#08306b"), "dark": ("#4b7db3", "#d6e6f5")}

BASE_POINT_SIZE = 10.0
MIN_SCALE, MAX_SCALE = 1.0, 2.5
PRESENTATION_LINE_BOOST = 1.5  # lines get thicker still on a projector
current = {"theme": "light", "scale": 1.0, "presenting": False}


class _Notifier(QObject):
    changed = Signal()  # theme, scale or presentation mode changed


notifier = _Notifier()


def colour(index: int) -> str:
    """Data colour `index` of the current theme's palette (>= 3:1 against the plot background)."""
    palette = THEME_PALETTES[current["theme"]]
    return palette[index % len(palette)]


def time_colour(t: float, theme_name: str | None = None) -> QColor:
    """Colour for a point in time t in [0, 1] (0 = first snapshot, 1 = latest)."""
    start, end = (QColor(c) for c in TIME_RAMPS[theme_name or current["theme"]])
    t = min(1.0, max(0.0, float(t)))
    return QColor(*(round(a + (b - a) * t) for a, b in ((start.red(), end.red()), (start.green(), end.green()),
                                                         (start.blue(), end.blue()))))


def data_colours(theme_name: str) -> list[str]:
    """Every colour used for data on a plot in `theme_name` (the contrast test walks these)."""
    ramp = [time_colour(t, theme_name).name() for t in np.linspace(0, 1, 11)]
    return list(THEME_PALETTES[theme_name]) + ramp + [THEMES[theme_name]["plot_fg"]]


def theme_colour(key: str) -> str:
    return THEMES[current["theme"]][key]


def plot_line_width() -> float:
    """Pen width for data curves: grows with the type scale and in presentation mode."""
    boost = PRESENTATION_LINE_BOOST if current["presenting"] else 1.0
    return 2.0 * current["scale"] * boost


def point_size(relative: float = 1.0) -> float:
    return BASE_POINT_SIZE * current["scale"] * relative


def apply_theme(app: QApplication, name: str = "light", scale: float = 1.0,
                presenting: bool | None = None) -> None:
    theme = THEMES.get(name, THEMES["light"])
    old_scale, old_line_width, old_theme = current["scale"], plot_line_width(), current["theme"]
    scale = min(MAX_SCALE, max(MIN_SCALE, float(scale)))
    current.update(theme=name if name in THEMES else "light", scale=scale)
    if presenting is not None:
        current["presenting"] = bool(presenting)
    if not isinstance(app.style(), ConvScopeStyle):
        app.setStyle(ConvScopeStyle())
    palette = QPalette()
    palette.setColor(QPalette.Window, QColor(theme["window"]))
    palette.setColor(QPalette.WindowText, QColor(theme["text"]))
    palette.setColor(QPalette.Base, QColor(theme["base"]))
    palette.setColor(QPalette.AlternateBase, QColor(theme["button"]))
    palette.setColor(QPalette.Text, QColor(theme["text"]))
    palette.setColor(QPalette.Button, QColor(theme["button"]))
    palette.setColor(QPalette.ButtonText, QColor(theme["text"]))
    palette.setColor(QPalette.BrightText, QColor("#ff5a36"))
    palette.setColor(QPalette.ToolTipBase, QColor(theme["base"]))
    palette.setColor(QPalette.ToolTipText, QColor(theme["text"]))
    palette.setColor(QPalette.Highlight, QColor(theme["highlight"]))
    palette.setColor(QPalette.HighlightedText, QColor("#ffffff" if name != "dark" else "#000000"))
    palette.setColor(QPalette.PlaceholderText, QColor(theme["muted"]))
    palette.setColor(QPalette.Link, QColor(theme["highlight"]))
    for group in (QPalette.Disabled,):
        palette.setColor(group, QPalette.Text, QColor(theme["muted"]))
        palette.setColor(group, QPalette.WindowText, QColor(theme["muted"]))
        palette.setColor(group, QPalette.ButtonText, QColor(theme["muted"]))
    app.setPalette(palette)
    font = QFont(app.font())
    font.setPointSizeF(BASE_POINT_SIZE * scale)
    app.setFont(font)
    pg.setConfigOptions(antialias=True, imageAxisOrder="row-major", background=theme["plot_bg"],
                        foreground=theme["plot_fg"])
    refresh_live_widgets(app, old_scale, old_line_width, old_theme)
    notifier.changed.emit()


class ConvScopeStyle(QProxyStyle):
    """Fusion whose check boxes, radio buttons and small icons grow with the text
    size, with an outline that stays visible in the dark theme."""

    _SCALED = {QStyle.PM_IndicatorWidth, QStyle.PM_IndicatorHeight, QStyle.PM_ExclusiveIndicatorWidth,
               QStyle.PM_ExclusiveIndicatorHeight, QStyle.PM_SmallIconSize, QStyle.PM_ScrollBarExtent}

    def __init__(self):
        super().__init__(QStyleFactory.create("Fusion"))

    def pixelMetric(self, metric, option=None, widget=None):  # noqa: N802 (Qt name)
        value = super().pixelMetric(metric, option, widget)
        if metric in self._SCALED:
            return int(round(value * current["scale"]))
        return value

    def drawPrimitive(self, element, option, painter, widget=None):  # noqa: N802 (Qt name)
        super().drawPrimitive(element, option, painter, widget)
        if element in (QStyle.PE_IndicatorCheckBox, QStyle.PE_IndicatorRadioButton):
            outline = QColor(THEMES[current["theme"]]["muted"])
            painter.save()
            painter.setRenderHint(painter.RenderHint.Antialiasing)
            painter.setPen(QPen(outline, max(1.0, current["scale"])))
            painter.setBrush(Qt.NoBrush)
            rect = option.rect.adjusted(1, 1, -1, -1)
            if element == QStyle.PE_IndicatorRadioButton:
                painter.drawEllipse(rect)
            else:
                painter.drawRoundedRect(rect, 2, 2)
            painter.restore()


# ----- live update of widgets that already exist
_BASE_FONT_PROPERTY = "convscope_base_point_size"


def refresh_live_widgets(app: QApplication, old_scale: float, old_line_width: float,
                         old_theme: str | None = None) -> None:
    """Apply the current theme and scale to widgets created before the change."""
    for widget in app.allWidgets():
        _rescale_explicit_font(widget, old_scale)
        if isinstance(widget, QTableView):
            widget.installEventFilter(_table_fitter)  # the font arrives with a FontChange event
            fit_table_to_font(widget)
        elif isinstance(widget, pg.GraphicsView):
            restyle_graphics_view(widget, old_line_width, old_theme)


class _TableFitter(QObject):
    """Sizes a table's rows and columns again when its font changes (text size, F5)."""

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.FontChange and isinstance(watched, QTableView):
            fit_table_to_font(watched)
        return False


_table_fitter = _TableFitter()


def follow_font(table: QTableView) -> None:
    """Keep the table's rows and columns sized to its font from now on."""
    table.installEventFilter(_table_fitter)
    fit_table_to_font(table)


def table_row_height(table: QTableView) -> int:
    """A row that holds one line of the table's font with its descenders and some air."""
    metrics = table.fontMetrics()
    return int(metrics.height() * 1.35) + 6


def fit_table_to_font(table: QTableView) -> None:
    """Rows and columns follow the table's font (text size, F5): every row one full line
    high, columns that size to their contents measured again. Called on every theme change."""
    rows = table.verticalHeader()
    height = table_row_height(table)
    rows.setMinimumSectionSize(min(rows.minimumSectionSize(), height))
    rows.setDefaultSectionSize(height)
    if rows.count() and rows.sectionResizeMode(0) == QHeaderView.ResizeToContents:
        rows.resizeSections()
    else:
        for row in range(rows.count()):  # one line per row in every table here
            rows.resizeSection(row, height)
    columns = table.horizontalHeader()
    if any(columns.sectionResizeMode(c) == QHeaderView.ResizeToContents for c in range(columns.count())):
        columns.resizeSections()  # the ResizeToContents columns measure their contents again
    table.updateGeometries()


def _rescale_explicit_font(widget: QWidget, old_scale: float) -> None:
    """Widgets with their own font (a big heading, say) do not follow the app font: scale them."""
    if not widget.testAttribute(Qt.WA_SetFont):
        return
    font = widget.font()
    if font.pointSizeF() <= 0:
        return  # pixel-sized fonts are left as their owner set them
    base = widget.property(_BASE_FONT_PROPERTY)
    if base is None:
        base = font.pointSizeF() / max(old_scale, 1e-6)
        widget.setProperty(_BASE_FONT_PROPERTY, float(base))
    target = float(base) * current["scale"]
    if abs(font.pointSizeF() - target) > 0.01:
        font.setPointSizeF(target)
        widget.setFont(font)


def restyle_graphics_view(view: pg.GraphicsView, old_line_width: float | None = None,
                          old_theme: str | None = None) -> None:
    """Background, axis colours and fonts, titles and line widths of one pyqtgraph view;
    data drawn in the old theme's palette colours takes the new theme's (same index)."""
    theme = THEMES[current["theme"]]
    view.setBackground(theme["plot_bg"])
    tick_font = QFont()
    tick_font.setPointSizeF(point_size(0.9))
    label_font = QFont()
    label_font.setPointSizeF(point_size(1.0))
    scene = view.scene()
    if scene is None:
        return
    for item in scene.items():
        if isinstance(item, pg.AxisItem):
            item.setPen(pg.mkPen(theme["plot_fg"]))
            item.setTextPen(pg.mkPen(theme["plot_fg"]))
            item.setStyle(tickFont=tick_font)
            item.label.setFont(label_font)
            item.label.setDefaultTextColor(QColor(theme["plot_fg"]))
        elif isinstance(item, pg.LabelItem) and not _inside_legend(item):
            item.opts["color"] = theme["plot_fg"]
            item.opts["size"] = f"{point_size(1.0):.1f}pt"  # long titles must still fit at 250%
            item.setText(item.text)
            unpin_label_width(item)
        elif isinstance(item, pg.LegendItem):
            item.setLabelTextColor(theme["plot_fg"])
            set_legend_text_size(item, f"{point_size(0.9):.1f}pt")
            background = QColor(theme["plot_bg"])
            background.setAlpha(item.opts["brush"].color().alpha() if item.opts.get("brush") is not None else 255)
            item.setBrush(pg.mkBrush(background))
            item.update()
        elif isinstance(item, pg.PlotDataItem):
            if old_theme is not None and old_theme != current["theme"]:
                _recolour_plot_data(item, old_theme)
            _thicken(item, old_line_width if old_line_width is not None else plot_line_width())
        elif isinstance(item, pg.ScatterPlotItem) and not isinstance(item.parentItem(), pg.PlotDataItem):
            if old_theme is not None and old_theme != current["theme"]:
                _recolour_scatter(item, old_theme)


def remap_colour(value, old_theme: str) -> QColor | None:
    """The current theme's colour for `value` when it is one of `old_theme`'s data colours
    (palette index kept, alpha kept); None when it is not a data colour."""
    colour_value = QColor(value)
    if not colour_value.isValid():
        return None
    rgb = colour_value.name().lower()
    old_palette = [c.lower() for c in THEME_PALETTES[old_theme]]
    if rgb in old_palette:
        new = QColor(THEME_PALETTES[current["theme"]][old_palette.index(rgb)])
    elif rgb == THEMES[old_theme]["plot_fg"].lower():
        new = QColor(THEMES[current["theme"]]["plot_fg"])
    else:
        return None
    new.setAlpha(colour_value.alpha())
    return new


def _remapped_pen(spec, old_theme: str):
    if spec is None:
        return None
    pen = QPen(pg.mkPen(spec))
    new = remap_colour(pen.color(), old_theme)
    if new is None:
        return None
    pen.setColor(new)
    return pen


def _remapped_brush(spec, old_theme: str):
    if spec is None or isinstance(spec, (list, tuple, np.ndarray)) and not _is_colour_tuple(spec):
        return None
    brush = pg.mkBrush(spec)
    new = remap_colour(brush.color(), old_theme)
    if new is None:
        return None
    brush.setColor(new)
    return brush


def _is_colour_tuple(spec) -> bool:
    return isinstance(spec, tuple) and len(spec) in (3, 4) and all(isinstance(v, (int, float)) for v in spec)


def _recolour_plot_data(item: pg.PlotDataItem, old_theme: str) -> None:
    opts = item.opts
    pen = _remapped_pen(opts.get("pen"), old_theme)
    if pen is not None:
        item.setPen(pen)
    fill = _remapped_brush(opts.get("fillBrush"), old_theme)
    if fill is not None:
        item.setFillBrush(fill)
    symbol_brush = _remapped_brush(opts.get("symbolBrush"), old_theme)
    if symbol_brush is not None:
        item.setSymbolBrush(symbol_brush)
    symbol_pen = _remapped_pen(opts.get("symbolPen"), old_theme)
    if symbol_pen is not None:
        item.setSymbolPen(symbol_pen)


def _recolour_scatter(item: pg.ScatterPlotItem, old_theme: str) -> None:
    brush = _remapped_brush(item.opts.get("brush"), old_theme)
    if brush is not None:
        item.setBrush(brush)
    pen = _remapped_pen(item.opts.get("pen"), old_theme)
    if pen is not None:
        item.setPen(pen)


def unpin_label_width(label) -> None:
    """A plot title no longer sets its plot's minimum width: at large text a long title
    made the plot item wider than its view, and the right of the plot was cut off."""
    label.setMinimumWidth(0)
    hints = getattr(label, "_sizeHint", None)
    if isinstance(hints, dict) and Qt.MinimumSize in hints:
        hints[Qt.MinimumSize] = (0, hints[Qt.MinimumSize][1])
    label.updateGeometry()


def set_legend_text_size(legend, size: str) -> None:
    """pyqtgraph's setLabelTextSize only records the size: re-render the labels and
    resize the legend box, or larger text spills out of it (and off the plot)."""
    legend.setLabelTextSize(size)
    for _, label in legend.items:
        label.setText(label.text)
    legend.updateSize()


def _inside_legend(item) -> bool:
    parent = item.parentItem()
    while parent is not None:
        if isinstance(parent, pg.LegendItem):
            return True
        parent = parent.parentItem()
    return False


def restyle_views_in(widget: QWidget) -> None:
    """Style every pyqtgraph view inside `widget` (plots a panel created after the last theme change)."""
    views = widget.findChildren(pg.GraphicsView)
    if isinstance(widget, pg.GraphicsView):
        views.append(widget)
    for view in views:
        restyle_graphics_view(view)


def _thicken(item: pg.PlotDataItem, old_line_width: float) -> None:
    pen_spec = item.opts.get("pen")
    if pen_spec is None:
        return
    pen = pg.mkPen(pen_spec)
    if pen.style() == Qt.NoPen:  # a scatter without lines
        return
    base = item.property("convscope_relative_width")
    if base is None:
        # The owner drew it at old_line_width x some factor (faint overlays are thinner): keep the factor.
        base = pen.widthF() / max(old_line_width, 1e-6)
        item.setProperty("convscope_relative_width", float(base))
    pen.setWidthF(float(base) * plot_line_width())
    item.setPen(pen)


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two colours (1 to 21)."""
    def luminance(hex_colour: str) -> float:
        c = QColor(hex_colour)
        channels = []
        for v in (c.redF(), c.greenF(), c.blueF()):
            channels.append(v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4)
        r, g, b = channels
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    hi, lo = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)
