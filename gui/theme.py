"""Light / dark themes and the type scale (presentation mode builds on this)."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

THEMES = {
    "light": {"window": "#f5f6f8", "base": "#ffffff", "text": "#1a1a1a", "button": "#e8eaee",
              "highlight": "#0b63ce", "plot_bg": "#ffffff", "plot_fg": "#202020", "muted": "#5f6673"},
    "dark": {"window": "#1e2127", "base": "#272b33", "text": "#eceff4", "button": "#323743",
             "highlight": "#4ea1ff", "plot_bg": "#15171c", "plot_fg": "#e6e6e6", "muted": "#a0a8b8"},
}

# Okabe-Ito: distinguishable with the common forms of colour blindness.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
           "#999999", "#882255"]

BASE_POINT_SIZE = 10.0
current = {"theme": "light", "scale": 1.0}


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def plot_line_width() -> float:
    return 2.0 * current["scale"]


def apply_theme(app: QApplication, name: str = "light", scale: float = 1.0) -> None:
    theme = THEMES.get(name, THEMES["light"])
    current.update(theme=name if name in THEMES else "light", scale=scale)
    app.setStyle("Fusion")
    palette = QPalette()
    palette.setColor(QPalette.Window, QColor(theme["window"]))
    palette.setColor(QPalette.WindowText, QColor(theme["text"]))
    palette.setColor(QPalette.Base, QColor(theme["base"]))
    palette.setColor(QPalette.AlternateBase, QColor(theme["button"]))
    palette.setColor(QPalette.Text, QColor(theme["text"]))
    palette.setColor(QPalette.Button, QColor(theme["button"]))
    palette.setColor(QPalette.ButtonText, QColor(theme["text"]))
    palette.setColor(QPalette.ToolTipBase, QColor(theme["base"]))
    palette.setColor(QPalette.ToolTipText, QColor(theme["text"]))
    palette.setColor(QPalette.Highlight, QColor(theme["highlight"]))
    palette.setColor(QPalette.HighlightedText, QColor("#ffffff"))
    palette.setColor(QPalette.PlaceholderText, QColor(theme["muted"]))
    app.setPalette(palette)
    font = QFont(app.font())
    font.setPointSizeF(BASE_POINT_SIZE * scale)
    app.setFont(font)
    pg.setConfigOptions(antialias=True, imageAxisOrder="row-major", background=theme["plot_bg"],
                       foreground=theme["plot_fg"])
