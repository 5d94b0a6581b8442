"""Initialization lab panel (placeholder until its issue lands)."""
from gui.panels.base import PlaceholderPanel


class InitLabPanel(PlaceholderPanel):
    title = "Initialization lab"
    description = "Why weight initialization matters: activations layer by layer."
