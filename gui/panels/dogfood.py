"""Dog vs Food panel (placeholder until its issue lands)."""
from gui.panels.base import PlaceholderPanel


class DogFoodPanel(PlaceholderPanel):
    title = "Dog vs Food"
    description = "Turn the 1000-class classifier into a 2-class one."
