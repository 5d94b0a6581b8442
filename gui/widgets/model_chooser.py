"""ImageNet model choice: the embedded model, plus cached torchvision/timm ones;
models that would need a download are listed but disabled, with the reason."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox

from engine.pretrained import DEFAULT_MODEL


class ModelChooser(QComboBox):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.addItem("EfficientNet-Lite0 (embedded)", DEFAULT_MODEL)
        self._filled = False
        self.setToolTip("Pretrained ImageNet classifier. Greyed-out models would need a download.")
        self.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(18)  # long "needs a download" entries must not widen the panel

    def showEvent(self, event) -> None:
        # Scanning the torch / Hugging Face caches imports timm: do it when first seen, not at start-up.
        super().showEvent(event)
        self.fill()

    def fill(self) -> None:
        if self._filled:
            return
        self._filled = True
        from engine.pretrained import available_models

        for info in available_models()[1:]:
            label = info.label if info.available else f"{info.label} — needs a download"
            self.addItem(label, info.name)
            item = self.model().item(self.count() - 1)
            if not info.available:
                item.setFlags(item.flags() & ~Qt.ItemIsEnabled)
                item.setToolTip(info.note)

    def model_name(self) -> str:
        return self.currentData() or DEFAULT_MODEL

    def set_model_name(self, name: str) -> None:
        self.fill()
        position = self.findData(name)
        if position >= 0 and self.model().item(position).isEnabled():
            self.setCurrentIndex(position)
