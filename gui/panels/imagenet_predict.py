"""Predict panel (placeholder until its issue lands)."""
from gui.panels.base import PlaceholderPanel


class ImageNetPredictPanel(PlaceholderPanel):
    title = "Predict"
    description = "Top-5 predictions of a pretrained ImageNet classifier."
