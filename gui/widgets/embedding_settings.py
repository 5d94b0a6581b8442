"""The settings form of the Feature space panel, built onto the panel (its controls become
panel attributes, their signals go to the panel's handlers): what to embed, the method
and its t-SNE parameters, and the view (colours, mouse mode, thumbnails, export)."""
from __future__ import annotations

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QPushButton, QSpinBox)

COLOUR_MODES = [("true class", "true"), ("predicted class", "predicted"), ("correct / wrong", "correct")]
SELECT_MODES = [("Pan / zoom", "pan"), ("Box select", "box"), ("Lasso select", "lasso")]


def source_box(panel) -> QGroupBox:
    """Model (trained or ImageNet on a folder), layer, split and sample size."""
    source = QGroupBox("What to embed")
    form = QFormLayout(source)
    panel.model_combo = QComboBox()
    panel.model_combo.addItem("Trained model", "trained")
    panel.model_combo.addItem("ImageNet network (photos)", "imagenet")
    panel.model_combo.setToolTip("Your trained network on its dataset, or a pretrained ImageNet network (or your "
                                "own) on a folder of photos: the DeCAF picture of its penultimate features.")
    panel.model_combo.currentIndexChanged.connect(panel._on_model_changed)
    form.addRow("Model", panel.model_combo)
    from gui.widgets.model_chooser import ModelChooser

    panel.network_choice = ModelChooser(ctx=panel.ctx)
    panel.network_choice.currentIndexChanged.connect(panel._refresh_layers)
    panel.network_label = QLabel("Network")
    form.addRow(panel.network_label, panel.network_choice)
    panel.model_label = QLabel()
    panel.model_label.setWordWrap(True)
    form.addRow("", panel.model_label)
    folder_row = QHBoxLayout()
    panel.folder_button = QPushButton("Image folder…")
    panel.folder_button.setToolTip("A folder of photos: one sub-folder per class (e.g. dog/, food/), or just "
                                   "photos. Without one, the bundled photos are used.")
    panel.folder_button.clicked.connect(panel._ask_folder)
    panel.bundled_button = QPushButton("Bundled photos")
    panel.bundled_button.setToolTip("Forget the folder: use the bundled photos (four views of each).")
    panel.bundled_button.clicked.connect(panel.use_bundled_photos)
    folder_row.addWidget(panel.folder_button)
    folder_row.addWidget(panel.bundled_button)
    form.addRow("", folder_row)
    panel.folder = ""
    panel.layer_combo = QComboBox()
    panel.layer_combo.setToolTip("The layer whose outputs are the features. The default is the layer before "
                                "the classifier; 'pixels' lays out the raw images.")
    form.addRow("Layer", panel.layer_combo)
    panel.split_combo = QComboBox()
    panel.split_combo.addItem("validation", "val")
    panel.split_combo.addItem("training", "train")
    form.addRow("Images", panel.split_combo)
    panel.sample_spin = QSpinBox()
    panel.sample_spin.setRange(20, 5000)
    panel.sample_spin.setSingleStep(250)
    panel.sample_spin.setValue(1000)
    panel.sample_spin.setToolTip("How many images to embed (a fixed random sample of the split).")
    form.addRow("Sample size", panel.sample_spin)
    return source



def method_box(panel) -> QGroupBox:
    """t-SNE or PCA, the t-SNE parameters, and the raw-pixel comparison."""
    method_box = QGroupBox("Method")
    form = QFormLayout(method_box)
    panel.method_combo = QComboBox()
    panel.method_combo.addItem("t-SNE", "tsne")
    panel.method_combo.addItem("PCA", "pca")
    panel.method_combo.setToolTip("PCA: the two directions of largest variance (instant, linear). t-SNE: keeps "
                                 "neighbours together (non-linear; distances between clusters mean little).")
    panel.method_combo.currentIndexChanged.connect(panel._on_method_changed)
    form.addRow("Method", panel.method_combo)
    panel.perplexity_spin = QDoubleSpinBox()
    panel.perplexity_spin.setRange(2, 100)
    panel.perplexity_spin.setValue(30)
    panel.perplexity_spin.setToolTip("Roughly how many neighbours each point keeps close (5-50 is typical).")
    form.addRow("Perplexity", panel.perplexity_spin)
    panel.iterations_spin = QSpinBox()
    panel.iterations_spin.setRange(50, 5000)
    panel.iterations_spin.setSingleStep(50)
    panel.iterations_spin.setValue(750)
    panel.iterations_spin.setToolTip("Gradient steps in all; the first third exaggerates attraction so "
                                    "clusters form early.")
    form.addRow("Iterations", panel.iterations_spin)
    panel.lr_spin = QDoubleSpinBox()
    panel.lr_spin.setRange(0, 100000)
    panel.lr_spin.setDecimals(0)
    panel.lr_spin.setSingleStep(50)
    panel.lr_spin.setSpecialValueText("auto")
    panel.lr_spin.setValue(0)
    panel.lr_spin.setToolTip("Step size of the layout optimization; 'auto' uses N / exaggeration.")
    form.addRow("Learning rate", panel.lr_spin)
    panel.init_combo = QComboBox()
    panel.init_combo.addItem("PCA", "pca")
    panel.init_combo.addItem("random", "random")
    panel.init_combo.setToolTip("Start from the PCA layout (stable, keeps global structure) or from noise.")
    form.addRow("Start from", panel.init_combo)
    panel.tsne_widgets = [panel.perplexity_spin, panel.iterations_spin, panel.lr_spin, panel.init_combo]
    panel.compare_check = QCheckBox("Compare with pixels")
    panel.compare_check.setToolTip("Lay out the same images from their pixels too, side by side.")
    form.addRow(panel.compare_check)
    return method_box


def view_box(panel) -> QGroupBox:
    """Colour by, mouse mode, thumbnails and export."""
    view_box = QGroupBox("View")
    form = QFormLayout(view_box)
    panel.colour_combo = QComboBox()
    for text, mode in COLOUR_MODES:
        panel.colour_combo.addItem(text, mode)
    panel.colour_combo.currentIndexChanged.connect(panel._apply_colours)
    form.addRow("Colour by", panel.colour_combo)
    panel.select_combo = QComboBox()
    for text, mode in SELECT_MODES:
        panel.select_combo.addItem(text, mode)
    panel.select_combo.setToolTip("Left-drag pans, or draws a box / lasso: the images inside appear below.")
    panel.select_combo.currentIndexChanged.connect(panel._on_select_mode_changed)
    form.addRow("Mouse", panel.select_combo)
    panel.thumbnails_check = QCheckBox("Show thumbnails")
    panel.thumbnails_check.setToolTip("Draw each image's thumbnail at its position in the layout.")
    panel.thumbnails_check.toggled.connect(panel._on_thumbnails_toggled)
    form.addRow(panel.thumbnails_check)
    export = QHBoxLayout()
    panel.csv_button = QPushButton("CSV…")
    panel.csv_button.setToolTip("Export the layout (coordinates, true class, prediction) as CSV.")
    panel.csv_button.clicked.connect(panel._ask_export_csv)
    panel.png_button = QPushButton("PNG…")
    panel.png_button.setToolTip("Export the plot as a PNG image.")
    panel.png_button.clicked.connect(panel._ask_export_png)
    export.addWidget(panel.csv_button)
    export.addWidget(panel.png_button)
    form.addRow("Export", export)
    return view_box


def settings_state(panel) -> dict:
    """The form as a JSON-able dict (workspaces, lessons)."""
    return {"model": panel.model_combo.currentData(), "folder": panel.folder,
            "network": panel.network_choice.model_name(),
            "layer": panel.layer_combo.currentText(), "split": panel.split_combo.currentData(),
            "sample_size": panel.sample_spin.value(), "method": panel.method_combo.currentData(),
            "perplexity": panel.perplexity_spin.value(), "iterations": panel.iterations_spin.value(),
            "learning_rate": panel.lr_spin.value(), "init": panel.init_combo.currentData(),
            "compare": panel.compare_check.isChecked(), "colour_by": panel.colour_combo.currentData(),
            "thumbnails": panel.thumbnails_check.isChecked()}

def restore_settings(panel, state: dict) -> None:
    """Set the form from settings_state's keys (any subset)."""
    def pick(combo: QComboBox, value, by_text: bool = False) -> None:
        index = combo.findText(str(value)) if by_text else combo.findData(value)
        if index >= 0:
            combo.setCurrentIndex(index)

    if "model" in state:
        pick(panel.model_combo, state["model"])
    if state.get("network"):
        panel.network_choice.set_model_name(str(state["network"]))  # a model of this session only
    if state.get("folder"):
        panel.set_folder(state["folder"])
    if "layer" in state:
        pick(panel.layer_combo, state["layer"], by_text=True)
    if "split" in state:
        pick(panel.split_combo, state["split"])
    if "method" in state:
        pick(panel.method_combo, state["method"])
    if "init" in state:
        pick(panel.init_combo, state["init"])
    if "colour_by" in state:
        pick(panel.colour_combo, state["colour_by"])
    for key, spin in (("sample_size", panel.sample_spin), ("perplexity", panel.perplexity_spin),
                      ("iterations", panel.iterations_spin), ("learning_rate", panel.lr_spin)):
        if key in state:
            spin.setValue(type(spin.value())(state[key]))
    if "compare" in state:
        panel.compare_check.setChecked(bool(state["compare"]))
    if "thumbnails" in state:
        panel.thumbnails_check.setChecked(bool(state["thumbnails"]))
