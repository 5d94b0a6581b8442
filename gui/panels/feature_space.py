"""Feature space panel (placeholder until its issue lands)."""
from gui.panels.base import PlaceholderPanel


class FeatureSpacePanel(PlaceholderPanel):
    title = "Feature space"
    description = "t-SNE and PCA of learned features."
