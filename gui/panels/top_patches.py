"""Top patches panel (placeholder until its issue lands)."""
from gui.panels.base import PlaceholderPanel


class TopPatchesPanel(PlaceholderPanel):
    title = "Top patches"
    description = "Dataset patches that excite each channel most."
