"""Mistakes panel (placeholder until its issue lands)."""
from gui.panels.base import PlaceholderPanel


class MistakesPanel(PlaceholderPanel):
    title = "Mistakes"
    description = "Confusion matrix and the most confidently wrong examples."
