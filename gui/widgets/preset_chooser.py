"""The Network panel's preset combo: the classic architectures, named while the network still
is the preset it was loaded from (as is, or adapted to the dataset), '(custom network)'
after an edit."""
from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QWidget

from engine.errors import ConvScopeError
from engine.spec import NetworkSpec, list_presets, load_preset


class PresetChooser(QComboBox):
    def __init__(self, preset_name: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.preset_name = preset_name  # the preset the network came from ("" = none)
        self._presets: dict[str, NetworkSpec | None] = {}  # name -> preset (None: it failed to load)
        self.addItem("(choose a preset)", "")
        for name in list_presets():
            self.addItem(name, name)
        self.setToolTip("Load a classic architecture, adapted to the current dataset's image size "
                        "and number of classes.")

    def sync(self, spec: NetworkSpec, dataset_shape: tuple | None) -> None:
        """Name the preset while `spec` is it (adapted to `dataset_shape`, (input shape, classes),
        or not); after an edit say the network is custom."""
        name = self.preset_name
        if name:
            if name not in self._presets:
                try:
                    self._presets[name] = load_preset(name)
                except ConvScopeError:
                    self._presets[name] = None
            preset = self._presets[name]
            if preset is None:
                name = ""
            else:
                adapted = preset.adapted_to(dataset_shape[0], dataset_shape[1]) if dataset_shape else preset
                if spec.layers != adapted.layers and spec.layers != preset.layers:
                    name = ""
        index = self.findData(name) if name else -1
        self.setItemText(0, "(choose a preset)" if spec.layers == [] else "(custom network)")
        self.setCurrentIndex(max(0, index))
