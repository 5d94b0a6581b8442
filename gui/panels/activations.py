"""Activations panel (placeholder until its issue lands)."""
from gui.panels.base import PlaceholderPanel


class ActivationsPanel(PlaceholderPanel):
    title = "Activations"
    description = "Feature maps of every layer for one input."
