"""Data panel (placeholder until its issue lands)."""
from gui.panels.base import PlaceholderPanel


class DataPanel(PlaceholderPanel):
    title = "Data"
    description = "Datasets, train/validation split, sample grids, preprocessing and augmentation preview."
