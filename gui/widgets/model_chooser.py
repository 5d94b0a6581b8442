"""ImageNet model choice: the embedded model, plus cached torchvision/timm ones, plus the user's
own models (architecture + weights file, added with "Add your own model…"); models that would
need a download are listed but disabled, with the reason.

A model the user adds in one chooser appears in every chooser of the window: the chooser
announces it on the AppContext (`user_model_added`), which every chooser listens to. Choosers
built without the context find it through their parents (a panel's `ctx`) when first shown.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox

from gui.widgets.elided_combo import ElidedComboBox

# engine.pretrained.DEFAULT_MODEL, spelled here: importing engine.pretrained imports torch, and the
# window must show before torch is loaded (tests/gui/test_main_window.py); a test checks they agree.
DEFAULT_MODEL = "efficientnet_lite0"

ADD_ENTRY = "__add_user_model__"
ADD_TEXT = "Add your own model…"


class ModelChooser(ElidedComboBox):
    user_model_added = Signal(str)  # name of a model the user added through this chooser

    def __init__(self, parent=None, ctx=None):
        super().__init__(parent)
        self.addItem("EfficientNet-Lite0 (embedded)", DEFAULT_MODEL)
        self.addItem(ADD_TEXT, ADD_ENTRY)
        self.model().item(1).setToolTip("A torchvision or timm architecture with your own weights file "
                                        "(a state_dict), class names and preprocessing.")
        self._filled = False
        self._ctx = None
        self._last_index = 0
        self.dialog = None  # the open "Add your own model" dialog, if any
        self.setToolTip("Pretrained ImageNet classifier, or your own model. Greyed-out models would need a "
                        "download.")
        self.setMinimumContentsLength(18)  # long "needs a download" entries must not widen the panel
        self.activated.connect(self._on_activated)
        self.currentIndexChanged.connect(self._remember_index)
        if ctx is not None:
            self.attach(ctx)

    # ------------------------------------------------------------ the context
    def attach(self, ctx) -> None:
        """Listen for models added anywhere in the window; list those added before."""
        if ctx is None or ctx is self._ctx:
            return
        self._ctx = ctx
        ctx.user_model_added.connect(self.add_user_model)
        for name, label in ctx.user_models.items():
            self.add_user_model(name, label)

    def _find_context(self):
        if self._ctx is None:
            from gui.context import AppContext

            widget = self.parentWidget()
            while widget is not None:
                ctx = getattr(widget, "ctx", None)
                if isinstance(ctx, AppContext):
                    self.attach(ctx)
                    break
                widget = widget.parentWidget()
        return self._ctx

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        # Scanning the torch / Hugging Face caches imports timm: do it when first seen, not at start-up.
        super().showEvent(event)
        self.fill()
        self._find_context()

    def fill(self) -> None:
        if self._filled:
            return
        self._filled = True
        from engine.pretrained import available_models
        from engine.user_model import registered_user_models

        self.blockSignals(True)
        for info in available_models()[1:]:
            label = info.label if info.available else f"{info.label} — needs a download"
            position = self.count() - 1  # before "Add your own model…"
            self.insertItem(position, label, info.name)
            item = self.model().item(position)
            if not info.available:
                item.setFlags(item.flags() & ~Qt.ItemIsEnabled)
                item.setToolTip(info.note)
        self.blockSignals(False)
        for name, label, _spec in registered_user_models():
            self.add_user_model(name, label)

    # ------------------------------------------------------------ the user's models
    def user_model_names(self) -> list[str]:
        return [self.itemData(i) for i in range(self.count()) if str(self.itemData(i)).startswith("user:")]

    def add_user_model(self, name: str, label: str = "") -> None:
        """List a registered model (once), just above "Add your own model…"."""
        if self.findData(name) >= 0:
            return
        position = self.count() - 1
        self.insertItem(position, f"{label or name} (yours)", name)
        self.model().item(position).setToolTip(f"Your model {label or name}, registered as {name}.")

    def _remember_index(self, index: int) -> None:
        if self.itemData(index) != ADD_ENTRY:
            self._last_index = index

    def _on_activated(self, index: int) -> None:
        if self.itemData(index) == ADD_ENTRY:
            self.setCurrentIndex(self._last_index)  # the choice stays until a model is added
            self.open_add_dialog()

    def open_add_dialog(self):
        """The dialog (non-modal for tests and the projector: it stays over the panel)."""
        from gui.widgets.user_model_dialog import UserModelDialog

        if self.dialog is not None:
            self.dialog.raise_()
            return self.dialog
        self.dialog = UserModelDialog(self.window() if self.window() is not self else None)
        self.dialog.model_registered.connect(self._on_model_registered)
        self.dialog.finished.connect(self._on_dialog_finished)
        self.dialog.show()
        return self.dialog

    def _on_dialog_finished(self, _result: int) -> None:
        if self.dialog is not None:
            self.dialog.shutdown()
            self.dialog.deleteLater()
        self.dialog = None

    def _on_model_registered(self, name: str, label: str) -> None:
        ctx = self._find_context()
        if ctx is not None:
            ctx.add_user_model(name, label)  # every chooser of the window, this one too
        self.add_user_model(name, label)
        self.set_model_name(name)
        self.user_model_added.emit(name)

    # ------------------------------------------------------------ choice
    def model_name(self) -> str:
        data = self.currentData()
        return DEFAULT_MODEL if data in (None, ADD_ENTRY) else data

    def set_model_name(self, name: str) -> None:
        self.fill()
        position = self.findData(name)
        if position >= 0 and self.model().item(position).isEnabled():
            self.setCurrentIndex(position)


def network_choice(tooltip: str) -> QComboBox:
    """'Trained run' or 'ImageNet network': what an Inside panel looks at (data 'run' / 'imagenet')."""
    combo = QComboBox()
    combo.addItem("Trained run", "run")
    combo.addItem("ImageNet network", "imagenet")
    combo.setToolTip(tooltip)
    return combo


class ChoosesNetwork:
    """For an Inside panel with a `network_combo` (network_choice), a `model_choice`
    (ModelChooser) and an `_on_network_changed` slot: which network it shows, and a switch to
    an ImageNet network by name."""

    def imagenet_mode(self) -> bool:
        return self.network_combo.currentData() == "imagenet"

    def show_network(self, name: str) -> None:
        """Show the ImageNet network `name` ('efficientnet_lite0', 'user:1', ...)."""
        self.model_choice.blockSignals(True)
        self.model_choice.set_model_name(name)
        self.model_choice.blockSignals(False)
        if self.imagenet_mode():
            self._on_network_changed()
        else:
            self.network_combo.setCurrentIndex(self.network_combo.findData("imagenet"))
