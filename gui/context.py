"""Shared application state that panels talk through (signals on the GUI thread)."""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal


IMAGENET_PANELS = ("Predict", "Saliency", "Adversarial", "Class visualization")


class AppContext(QObject):
    """The one place panels publish to and listen on, so panels never import each other.

    Payloads are engine objects (NetworkSpec, TrainedRun) or numpy arrays.
    """

    spec_changed = Signal(object)  # engine.spec.NetworkSpec being edited in the builder
    dataset_changed = Signal(str)  # name of the dataset chosen for training
    run_changed = Signal(object)  # engine.checkpoint.TrainedRun: latest trained or loaded model
    training_event = Signal(object)  # every event of the live training job (filters refresh live)
    # (H, W, C) uint8 image, caption: the latest image the user chose anywhere (workspaces keep it).
    # A notice only: no panel replaces its own input when it changes.
    input_image_changed = Signal(object, str)
    # The user asked to open an image in one panel ("Inspect in Saliency"): (image, caption, panel title).
    image_sent = Signal(object, str, str)
    imagenet_image_requested = Signal(object, str)  # notice: an image was sent to an ImageNet tool
    focus_panel_requested = Signal(str)  # panel title to bring to front
    status_message = Signal(str)
    # The user added their own model (engine.user_model.register_user_model): name ('user:1'), label.
    # Every ModelChooser of the window lists it.
    user_model_added = Signal(str, str)
    error_raised = Signal(str, str)  # title, plain message

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.spec = None
        self.dataset = "mnist5k"
        self.run = None
        self.input_image = None
        self.input_caption = ""
        self.last_error: tuple[str, str] | None = None
        self.user_models: dict[str, str] = {}  # name -> label, in the order added

    def add_user_model(self, name: str, label: str) -> None:
        if name in self.user_models:
            return
        self.user_models[name] = label
        self.user_model_added.emit(name, label)

    def set_spec(self, spec) -> None:
        self.spec = spec
        self.spec_changed.emit(spec)

    def set_dataset(self, name: str) -> None:
        self.dataset = name
        self.dataset_changed.emit(name)

    def set_run(self, run) -> None:
        self.run = run
        self.run_changed.emit(run)

    def set_input_image(self, image, caption: str = "") -> None:
        self.input_image = image
        self.input_caption = caption
        self.input_image_changed.emit(image, caption)

    def send_image(self, image, caption: str, panel_title: str, focus: bool = True) -> None:
        """Open `image` in the panel titled `panel_title` only (the user asked for it), and
        bring that panel to the front unless `focus` is False."""
        self.image_sent.emit(image, caption, panel_title)
        if panel_title in IMAGENET_PANELS:
            self.imagenet_image_requested.emit(image, caption)
        if focus:
            self.focus_panel_requested.emit(panel_title)

    def show_error(self, title: str, message: str) -> None:
        self.last_error = (title, message)
        self.error_raised.emit(title, message)

    def status(self, text: str) -> None:
        self.status_message.emit(text)

    # The Data panel shares the loaded dataset's shape and its
    # preprocessing / augmentation choices (TrainSettings field names) with the
    # Network and Training panels.
    data_options_changed = Signal(object)  # dict: normalization, hflip, crop, scale, rotation, colour_jitter
    # dict: name, input_shape, num_classes, class_names, n_train, n_val (set before dataset_changed)
    dataset_info = None
    data_options = None

    def set_data_options(self, options: dict) -> None:
        self.data_options = dict(options)
        self.data_options_changed.emit(self.data_options)
