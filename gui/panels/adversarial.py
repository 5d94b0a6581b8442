"""Adversarial panel (placeholder until its issue lands)."""
from gui.panels.base import PlaceholderPanel


class AdversarialPanel(PlaceholderPanel):
    title = "Adversarial"
    description = "Trick the classifier into a wrong class."
