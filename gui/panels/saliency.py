"""Saliency panel (placeholder until its issue lands)."""
from gui.panels.base import PlaceholderPanel


class SaliencyPanel(PlaceholderPanel):
    title = "Saliency"
    description = "Which pixels matter for a class score."
