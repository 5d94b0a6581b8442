"""Persistent user preferences (QSettings)."""
from __future__ import annotations

from PySide6.QtCore import QSettings


def load_appearance() -> tuple[str, float]:
    settings = QSettings()
    theme = str(settings.value("appearance/theme", "light"))
    try:
        scale = float(settings.value("appearance/scale", 1.0))
    except (TypeError, ValueError):
        scale = 1.0
    return theme, min(2.5, max(1.0, scale))


def save_appearance(theme: str, scale: float) -> None:
    settings = QSettings()
    settings.setValue("appearance/theme", theme)
    settings.setValue("appearance/scale", float(scale))
