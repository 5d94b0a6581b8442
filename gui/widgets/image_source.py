"""Where a photo comes from: bundled photos, a file, the clipboard (drag-and-drop
is handled by the panel). Emits (image, caption); errors become messages."""
from __future__ import annotations

from PySide6.QtCore import QBuffer, QIODevice, Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QWidget

from engine.errors import DataError
from engine.images import IMAGE_SUFFIXES, bundled_photos, image_from_bytes, load_bundled_photo, load_image
from gui.widgets.elided_combo import ElidedComboBox

# The ImageNet tools need 224 px; 1024 px is plenty to show. Large files are reduced while
# decoding (JPEG) or right after, so a camera's 50-megapixel photo never freezes the window.
DISPLAY_MAX_SIDE = 1024
PASTE_MAX_PIXELS = 40_000_000
# The one image file-dialog filter: every type the engine decodes (engine.images.IMAGE_SUFFIXES).
IMAGE_FILTER = f"Images ({' '.join('*' + s for s in sorted(IMAGE_SUFFIXES))});;All files (*)"


class ImageSourceBar(QWidget):
    image_chosen = Signal(object, str)  # (H, W, 3) uint8, caption
    failed = Signal(str, str)  # title, message

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Photo:"))
        # As wide as a photo's name, not as the hint: the row must fit a projector at large text.
        self.photos = ElidedComboBox(min_chars=12)
        self.photos.addItem("(choose a bundled photo)", "")
        for name in bundled_photos():
            self.photos.addItem(name.replace("_", " "), name)
        self.photos.activated.connect(self._on_photo_activated)
        layout.addWidget(self.photos)
        self.open_button = QPushButton("Open file…")
        self.open_button.clicked.connect(self.open_file)
        layout.addWidget(self.open_button)
        self.paste_button = QPushButton("Paste")
        self.paste_button.setToolTip("Use the image on the clipboard")
        self.paste_button.clicked.connect(self.paste)
        layout.addWidget(self.paste_button)
        self.camera_button = QPushButton("Camera…")
        self.camera_button.setToolTip("A live camera (or a video / folder of frames): watch the network react, "
                                      "then Freeze a frame to use it here")
        self.camera_button.clicked.connect(self.open_camera)
        layout.addWidget(self.camera_button)
        layout.addStretch(1)
        self.model_name = None  # a callable giving the panel's model name; None: the embedded model
        self.camera = None

    def open_camera(self) -> None:
        from engine.pretrained import DEFAULT_MODEL
        from gui.widgets.camera import CameraDialog

        if self.camera is None:
            self.camera = CameraDialog(self.model_name() if self.model_name else DEFAULT_MODEL, self)
            self.camera.frozen.connect(self.image_chosen)
        self.camera.show()
        self.camera.raise_()

    def choose_bundled(self, name: str) -> None:
        try:
            image = load_bundled_photo(name)
        except DataError as exc:
            self.failed.emit(exc.title, str(exc))
            return
        position = self.photos.findData(name)
        if position >= 0:
            self.photos.setCurrentIndex(position)
        self.image_chosen.emit(image, name.replace("_", " "))

    def _on_photo_activated(self, position: int) -> None:
        name = self.photos.itemData(position)
        if name:
            self.choose_bundled(name)

    def open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an image", "", IMAGE_FILTER)
        if path:
            self.load_path(path)

    def load_path(self, path: str) -> None:
        from pathlib import Path

        try:
            image = load_image(path, max_side=DISPLAY_MAX_SIDE)
        except DataError as exc:
            self.failed.emit(exc.title, str(exc))
            return
        self.image_chosen.emit(image, Path(path).name)

    def paste(self) -> None:
        from PySide6.QtWidgets import QApplication

        clipboard = QApplication.clipboard()
        mime = clipboard.mimeData()
        if mime is not None and mime.hasUrls():
            for url in mime.urls():
                if url.isLocalFile():
                    self.load_path(url.toLocalFile())
                    return
        qimage = clipboard.image()
        if qimage.isNull():
            self.failed.emit("Nothing to paste", "The clipboard holds no image. Copy an image or an image file first.")
            return
        if qimage.width() * qimage.height() > PASTE_MAX_PIXELS:
            self.failed.emit("Image too large", f"The clipboard image is {qimage.width()}x{qimage.height()} "
                             f"pixels, more than {PASTE_MAX_PIXELS // 1_000_000} megapixels; save it as a "
                             "smaller file and open that.")
            return
        if max(qimage.width(), qimage.height()) > DISPLAY_MAX_SIDE:
            from PySide6.QtCore import Qt

            qimage = qimage.scaled(DISPLAY_MAX_SIDE, DISPLAY_MAX_SIDE, Qt.KeepAspectRatio, Qt.SmoothTransformation)
        buffer = QBuffer()
        buffer.open(QIODevice.WriteOnly)
        qimage.save(buffer, "PNG")
        try:
            image = image_from_bytes(bytes(buffer.data()), "clipboard image", max_side=DISPLAY_MAX_SIDE)
        except DataError as exc:
            self.failed.emit(exc.title, str(exc))
            return
        self.image_chosen.emit(image, "pasted image")


def dropped_path(event) -> str | None:
    """The first local file of a drag-and-drop event, if any."""
    mime = event.mimeData()
    if mime is not None and mime.hasUrls():
        for url in mime.urls():
            if url.isLocalFile():
                return url.toLocalFile()
    return None
