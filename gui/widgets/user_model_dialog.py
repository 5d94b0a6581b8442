""""Add your own model": a torchvision or timm architecture name (completed from both libraries'
names), a weights file (a state_dict), an optional class-names file and optional preprocessing.
The model is loaded in a job (engine.user_model.register_user_model_job); on success the dialog
emits model_registered(name, label) and closes, on failure it shows the engine's message and
stays open so the user can fix the entry."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCompleter, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from engine.events import Progress
from gui import theme
from gui.workers import JobSlot

WEIGHTS_FILTER = "Weights (*.pt *.pth *.bin *.safetensors);;All files (*)"
NAMES_FILTER = "Class names (*.txt *.json);;All files (*)"


def _architecture_names() -> list[str]:
    try:
        from engine.user_model import known_architectures

        return known_architectures()
    except Exception:  # timm or torchvision missing: no completion, typing still works
        return []


class UserModelDialog(QDialog):
    model_registered = Signal(str, str)  # name ('user:1'), label

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Add your own model")
        self.jobs = JobSlot(self)
        self.jobs.event.connect(self._on_event)
        self.jobs.succeeded.connect(self._on_succeeded)
        self.jobs.failed.connect(self._on_failed)
        self.jobs.running_changed.connect(self._on_running)

        layout = QVBoxLayout(self)
        intro = QLabel("A torchvision or timm architecture with your own weights (a state_dict saved with "
                       "torch.save(model.state_dict(), …) or a .safetensors file). Files are read as weights "
                       "only: code inside a checkpoint never runs.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.arch_edit = QLineEdit()
        self.arch_edit.setPlaceholderText("e.g. resnet18, mobilenetv3_large_100")
        completer = QCompleter(_architecture_names(), self)
        completer.setCaseSensitivity(Qt.CaseInsensitive)
        completer.setFilterMode(Qt.MatchContains)
        self.arch_edit.setCompleter(completer)
        form.addRow("Architecture", self.arch_edit)
        self.weights_edit, weights_row = self._file_row("Weights file…", WEIGHTS_FILTER)
        form.addRow("Weights", weights_row)
        self.names_edit, names_row = self._file_row("Class names…", NAMES_FILTER)
        self.names_edit.setPlaceholderText("optional: a text file (one per line) or JSON list")
        form.addRow("Class names", names_row)
        self.size_spin = QSpinBox()
        self.size_spin.setRange(0, 1024)
        self.size_spin.setSpecialValueText("from the model")
        self.size_spin.setToolTip("Input size in pixels; 'from the model' uses timm's config, else 224.")
        form.addRow("Input size", self.size_spin)
        self.mean_edit = QLineEdit()
        self.mean_edit.setPlaceholderText("from the model (ImageNet: 0.485, 0.456, 0.406)")
        form.addRow("Mean (R, G, B)", self.mean_edit)
        self.std_edit = QLineEdit()
        self.std_edit.setPlaceholderText("from the model (ImageNet: 0.229, 0.224, 0.225)")
        form.addRow("Std (R, G, B)", self.std_edit)
        layout.addLayout(form)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(self.status_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Cancel)
        self.load_button = self.buttons.addButton("Load and add", QDialogButtonBox.AcceptRole)
        self.load_button.setDefault(True)
        self.buttons.accepted.connect(self.load)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.error = ""  # the last refusal, shown in the dialog
        self.setMinimumWidth(int(560 * max(1.0, theme.current.get("scale", 1.0))))

    def _file_row(self, title: str, file_filter: str) -> tuple[QLineEdit, QWidget]:
        edit = QLineEdit()
        button = QPushButton("Browse…")
        row = QWidget()
        box = QHBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(edit, 1)
        box.addWidget(button)

        def browse() -> None:
            path, _ = QFileDialog.getOpenFileName(self, title, "", file_filter)
            if path:
                edit.setText(path)

        button.clicked.connect(browse)
        return edit, row

    # ------------------------------------------------------------ entries
    def set_entries(self, arch: str, weights: str, class_names: str = "", input_size: int = 0,
                    mean: str = "", std: str = "") -> None:
        self.arch_edit.setText(arch)
        self.weights_edit.setText(str(weights))
        self.names_edit.setText(str(class_names or ""))
        self.size_spin.setValue(int(input_size or 0))
        self.mean_edit.setText(mean)
        self.std_edit.setText(std)

    @staticmethod
    def _triple(text: str, what: str) -> list[float] | None:
        text = text.strip()
        if not text:
            return None
        try:
            values = [float(v) for v in text.replace(";", ",").replace(" ", ",").split(",") if v]
        except ValueError:
            raise ValueError(f"{what} must be three numbers, e.g. 0.485, 0.456, 0.406.") from None
        if len(values) != 3:
            raise ValueError(f"{what} must be three numbers (R, G, B), not {len(values)}.")
        return values

    # ------------------------------------------------------------ loading
    def load(self) -> None:
        from engine.user_model import register_user_model_job

        try:
            mean = self._triple(self.mean_edit.text(), "Mean")
            std = self._triple(self.std_edit.text(), "Std")
        except ValueError as exc:
            self._on_failed("Preprocessing", str(exc))
            return
        arch, weights = self.arch_edit.text().strip(), self.weights_edit.text().strip()
        names = self.names_edit.text().strip() or None
        size = self.size_spin.value() or None
        self.error = ""
        self.status_label.setStyleSheet("")
        self.jobs.start(lambda: register_user_model_job(arch, weights, names, size, mean, std))

    def _on_running(self, running: bool) -> None:
        self.load_button.setEnabled(not running)
        for edit in (self.arch_edit, self.weights_edit, self.names_edit, self.mean_edit, self.std_edit):
            edit.setReadOnly(running)

    def _on_event(self, event) -> None:
        if isinstance(event, Progress):
            self.status_label.setText(event.message)

    def _on_succeeded(self, result) -> None:
        name, label = result
        self.status_label.setText(f"Added {label}.")
        self.model_registered.emit(name, label)
        self.accept()

    def _on_failed(self, title: str, message: str) -> None:
        self._on_running(False)  # the entries can be fixed and loaded again at once
        self.error = message
        self.status_label.setStyleSheet(f"color: {theme.colour(3)};")  # the palette's vermillion
        self.status_label.setText(f"{title}: {message}")

    # ------------------------------------------------------------ closing
    def shutdown(self) -> None:
        self.jobs.stop(wait_ms=3000)

    def reject(self) -> None:
        self.shutdown()
        super().reject()

