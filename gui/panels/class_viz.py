"""Class visualization panel (placeholder until its issue lands)."""
from gui.panels.base import PlaceholderPanel


class ClassVizPanel(PlaceholderPanel):
    title = "Class visualization"
    description = "Synthesize an image that maximizes a class score."
