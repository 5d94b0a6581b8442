"""The Data panel's preprocessing and augmentation editors, generated from the "Data" settings
of engine.train_settings.TRAIN_SETTINGS (choices, ranges, steps, labels and help), so the Data
panel, the Training panel's settings and the `train` command agree on them."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QButtonGroup, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QRadioButton, \
    QVBoxLayout, QWidget

from engine.data_preview import DatasetOverview
from engine.imaging import nearest_upscale
from engine.train_settings import train_setting
from gui.widgets.image_view import ImageView
from gui.widgets.setting_editor import editor_value, make_editor, make_label, set_editor_value

AUGMENT_SETTINGS = ("hflip", "crop", "scale", "rotation", "colour_jitter", "hue_jitter")
SUFFIXES = {"crop": " px", "rotation": "°"}
# What each normalization does, for its radio button's tooltip (the schema says what the setting is).
NORMALIZATION_TIPS = {
    "mean_image": "x - mean training image, pixel by pixel (as in the lecture); the mean image is shown below.",
    "per_channel": "(x - channel mean) / channel std, one mean and std per colour channel.",
    "none": "Feed the raw [0, 1] pixels.",
}


def display_image(image, scale: int):
    """A (H, W, C) image as the views show it: one channel as grey, upscaled by `scale`."""
    image = image[:, :, 0] if image.ndim == 3 and image.shape[2] == 1 else image
    return nearest_upscale(image, scale)


class PreprocessingBox(QGroupBox):
    """The normalization as radio buttons, the mean training image, a sample minus the mean and
    the per-channel statistics. `changed` fires when the user picks another normalization."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        # A short title: a group box is at least as wide as its title, and long ones clip at large text sizes.
        super().__init__("Preprocessing", parent)
        self.setting = train_setting("normalization")
        self.setToolTip("Preprocessing, fitted on the training split and applied to every split.")
        layout = QVBoxLayout(self)
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QRadioButton] = {}
        for value, label in self.setting.choices:
            button = QRadioButton(label)
            button.setToolTip(NORMALIZATION_TIPS.get(value, self.setting.help))
            button.setProperty("value", value)
            self.group.addButton(button)
            self.buttons[value] = button
            layout.addWidget(button)
        self.buttons[self.setting.default].setChecked(True)
        self.group.buttonToggled.connect(self._on_toggled)
        images = QHBoxLayout()
        self.mean_view = ImageView("Mean training image")
        self.mean_view.setToolTip("The average of all training images: mean subtraction removes exactly this.")
        self.removed_view = ImageView("A sample minus the mean (grey = 0)")
        self.removed_view.setToolTip("What the network sees after mean subtraction: mid-grey is 0, "
                                     "brighter is above the mean, darker below.")
        images.addWidget(self.mean_view)
        images.addWidget(self.removed_view)
        layout.addLayout(images, 1)
        self.channel_label = QLabel()
        self.channel_label.setWordWrap(True)
        layout.addWidget(self.channel_label)

    def _on_toggled(self, _button, checked: bool) -> None:
        if checked:
            self.changed.emit()

    def value(self) -> str:
        button = self.group.checkedButton()
        return str(button.property("value")) if button else str(self.setting.default)

    def set_value(self, value) -> None:
        """Pick `value` (emits `changed` when it is another one); an unknown value is ignored."""
        if value in self.buttons:
            self.buttons[value].setChecked(True)

    def show_overview(self, overview: DatasetOverview, scale: int) -> None:
        self.mean_view.set_image(display_image(overview.mean_image, scale))
        self.removed_view.set_image(display_image(overview.mean_removed, scale))
        means = ", ".join(f"{v:.3f}" for v in overview.channel_mean)
        stds = ", ".join(f"{v:.3f}" for v in overview.channel_std)
        self.channel_label.setText(f"Per-channel mean: {means}<br>Per-channel std: {stds}")


class AugmentationForm(QGroupBox):
    """One editor per augmentation setting and Re-sample; `changed` fires on every edit by the user."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Augmentation", parent)
        self.setToolTip("Augmentation is applied to training batches only, never to validation.")
        form = QFormLayout(self)
        self.settings = {name: train_setting(name) for name in AUGMENT_SETTINGS}
        self.editors: dict[str, QWidget] = {}
        for name, setting in self.settings.items():
            editor = make_editor(setting, self._emit_changed)
            if name in SUFFIXES:
                editor.setSuffix(SUFFIXES[name])
            form.addRow(make_label(setting), editor)
            self.editors[name] = editor
        self.resample_button = QPushButton("Re-sample")
        self.resample_button.setToolTip("Draw new random augmentations (and other sample images).")
        form.addRow(self.resample_button)

    def _emit_changed(self, *_args) -> None:
        self.changed.emit()

    def values(self) -> dict:
        out = {}
        for name, setting in self.settings.items():
            value = editor_value(setting, self.editors[name])
            out[name] = round(value, 4) if isinstance(value, float) else value
        return out

    def set_values(self, values: dict) -> None:
        """Show the augmentation settings among `values` (others are ignored) without emitting `changed`."""
        for name, setting in self.settings.items():
            if name in values:
                set_editor_value(setting, self.editors[name], values[name])
