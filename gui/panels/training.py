"""Training panel (placeholder until its issue lands)."""
from gui.panels.base import PlaceholderPanel


class TrainingPanel(PlaceholderPanel):
    title = "Training"
    description = "Train the network live: SGD, momentum, learning-rate schedules, regularization, ensembles."
