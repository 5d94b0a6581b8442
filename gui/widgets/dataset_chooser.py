"""The Data panel's dataset row: the dataset, and for an image folder or a torchvision dataset
its folder (Browse…), an image folder's image size, torchvision's "Download if missing", and
Load. A control strip that wraps instead of widening the panel. It only holds the choice;
the panel loads."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton,
                               QSpinBox, QVBoxLayout, QWidget)

from engine.data import dataset_description, dataset_names
from gui.widgets.flow import as_strip

FOLDER_DATASET = "image_folder"
TORCHVISION_DATASETS = ("mnist", "fashion_mnist", "cifar10")


class DatasetChooser(QWidget):
    activated = Signal()  # the user picked a dataset in the list
    folder_chosen = Signal()  # the user picked a folder with Browse…

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        top = QHBoxLayout()
        top.addWidget(QLabel("Dataset:"))
        self.dataset_combo = QComboBox()
        for name in dataset_names():
            self.dataset_combo.addItem(dataset_description(name), name)
        self.dataset_combo.setToolTip("Embedded datasets work offline; an image folder or a torchvision dataset "
                                      "is read from a folder on this computer.")
        self.dataset_combo.activated.connect(self._on_activated)
        top.addWidget(self.dataset_combo, 1)
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("folder…")
        self.folder_edit.setToolTip("Image folder: one sub-folder per class. Torchvision: the folder that holds "
                                    "(or will hold) the dataset files.")
        top.addWidget(self.folder_edit, 2)
        self.browse_button = QPushButton("Browse…")
        self.browse_button.setToolTip("Pick the folder.")
        self.browse_button.clicked.connect(self.browse)
        top.addWidget(self.browse_button)
        self.size_label = QLabel("size")
        self.size_spin = QSpinBox()
        self.size_spin.setRange(8, 256)
        self.size_spin.setValue(32)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("Image folder: every image is scaled (shorter side) and centre-cropped to this size.")
        top.addWidget(self.size_label)
        top.addWidget(self.size_spin)
        self.download_check = QCheckBox("Download if missing")
        self.download_check.setToolTip("Only when ticked, and only if the network is reachable: fetch the "
                                       "torchvision files into the folder.")
        top.addWidget(self.download_check)
        self.load_button = QPushButton("Load")
        self.load_button.setToolTip("Load the chosen dataset (in the background).")
        top.addWidget(self.load_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(as_strip(top))  # wraps instead of widening the panel

    def current_dataset(self) -> str:
        return str(self.dataset_combo.currentData())

    def folder(self) -> str:
        return self.folder_edit.text().strip()

    def dataset_options(self) -> dict:
        """The loader's options for the chosen dataset (folder, size, download)."""
        name = self.current_dataset()
        if name == FOLDER_DATASET:
            return {"root": self.folder(), "size": self.size_spin.value()}
        if name in TORCHVISION_DATASETS:
            options = {"download": self.download_check.isChecked()}
            if self.folder():
                options["root"] = self.folder()
            return options
        return {}

    def select(self, name: str, options: dict | None = None) -> bool:
        """Show dataset `name` with the given folder ('root'), 'size' and 'download'; False
        (and nothing changed) when there is no such dataset."""
        index = self.dataset_combo.findData(name)
        if index < 0:
            return False
        self.dataset_combo.setCurrentIndex(index)
        options = options or {}
        if "root" in options:
            self.folder_edit.setText(str(options["root"]))
        if "size" in options:
            try:
                self.size_spin.setValue(int(options["size"]))
            except (TypeError, ValueError, OverflowError):
                pass
        if "download" in options:
            self.download_check.setChecked(bool(options["download"]))
        self.update_fields()
        return True

    def update_fields(self) -> None:
        """Show the folder, size and download fields only for the datasets that read them."""
        name = self.current_dataset()
        needs_folder = name == FOLDER_DATASET or name in TORCHVISION_DATASETS
        for widget in (self.folder_edit, self.browse_button):
            widget.setVisible(needs_folder)
        self.size_label.setVisible(name == FOLDER_DATASET)
        self.size_spin.setVisible(name == FOLDER_DATASET)
        self.download_check.setVisible(name in TORCHVISION_DATASETS)
        if name in TORCHVISION_DATASETS and not self.folder_edit.text():
            try:
                from engine.data import default_data_root

                self.folder_edit.setPlaceholderText(default_data_root())
            except ImportError:
                pass

    def _on_activated(self, _index: int) -> None:
        self.update_fields()
        self.activated.emit()

    def browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the dataset folder", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)
            self.folder_chosen.emit()
