"""Layer statistics panel (placeholder until its issue lands)."""
from gui.panels.base import PlaceholderPanel


class LayerStatsPanel(PlaceholderPanel):
    title = "Layer statistics"
    description = "Per-layer activation and gradient statistics over training."
