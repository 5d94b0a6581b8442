"""Network panel (placeholder until its issue lands)."""
from gui.panels.base import PlaceholderPanel


class BuilderPanel(PlaceholderPanel):
    title = "Network"
    description = "Build a CNN layer by layer with live output shapes and parameter counts."
