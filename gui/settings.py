"""Persistent user preferences (QSettings): appearance, presentation mode, recent workspaces."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

MAX_RECENT = 8


def _clamp_scale(value, default: float) -> float:
    try:
        scale = float(value)
    except (TypeError, ValueError):
        scale = default
    return min(2.5, max(1.0, scale))


def load_appearance() -> tuple[str, float]:
    settings = QSettings()
    theme = str(settings.value("appearance/theme", "light"))
    return theme if theme in ("light", "dark") else "light", _clamp_scale(settings.value("appearance/scale", 1.0), 1.0)


def save_appearance(theme: str, scale: float) -> None:
    settings = QSettings()
    settings.setValue("appearance/theme", theme)
    settings.setValue("appearance/scale", float(scale))


def load_presentation_scale() -> float:
    """Text size used while presenting (F5); the normal size is kept separately."""
    return _clamp_scale(QSettings().value("presentation/scale", 1.75), 1.75)


def save_presentation_scale(scale: float) -> None:
    QSettings().setValue("presentation/scale", float(scale))


def load_cursor_highlight() -> bool:
    return str(QSettings().value("presentation/cursor_highlight", "false")).lower() in ("true", "1")


def save_cursor_highlight(enabled: bool) -> None:
    QSettings().setValue("presentation/cursor_highlight", bool(enabled))


def recent_workspaces() -> list[str]:
    value = QSettings().value("workspaces/recent", [])
    if isinstance(value, str):
        value = [value]
    return [str(v) for v in (value or []) if v]


def add_recent_workspace(path: str | Path) -> list[str]:
    path = str(Path(path).resolve())
    recent = [p for p in recent_workspaces() if p != path]
    recent.insert(0, path)
    recent = recent[:MAX_RECENT]
    QSettings().setValue("workspaces/recent", recent)
    return recent


def remove_recent_workspace(path: str | Path) -> list[str]:
    recent = [p for p in recent_workspaces() if p != str(path)]
    QSettings().setValue("workspaces/recent", recent)
    return recent


def last_export_folder() -> str:
    return str(QSettings().value("export/folder", str(Path.home())))


def save_last_export_folder(folder: str | Path) -> None:
    QSettings().setValue("export/folder", str(folder))


def lesson_photo_folder() -> str:
    """The folder of the user's own photos the dog-vs-food lesson was last run on."""
    return str(QSettings().value("lessons/photo_folder", "") or "")


def save_lesson_photo_folder(folder: str | Path) -> None:
    QSettings().setValue("lessons/photo_folder", str(folder))
