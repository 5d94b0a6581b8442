"""Filters panel (placeholder until its issue lands)."""
from gui.panels.base import PlaceholderPanel


class FiltersPanel(PlaceholderPanel):
    title = "Filters"
    description = "Every conv layer's learned filters."
