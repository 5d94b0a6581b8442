"""Searchable ImageNet class picker: type part of a name ('penguin') or an index."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QCompleter

from engine.pretrained import class_names


class ClassPicker(QComboBox):
    """An editable combo over the 1000 ImageNet names ("145: king penguin").

    The completer matches anywhere in the text, case-insensitively. `class_changed(index)`
    fires for a real class; -1 means "predicted class" when `allow_predicted` is set.
    """

    class_changed = Signal(int)

    def __init__(self, allow_predicted: bool = False, parent=None):
        super().__init__(parent)
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.NoInsert)
        self.setMaxVisibleItems(15)
        self._allow_predicted = allow_predicted
        if allow_predicted:
            self.addItem("(predicted class)", -1)
        for index, name in enumerate(class_names()):
            self.addItem(f"{index}: {name}", index)
        completer = QCompleter(self.model(), self)
        completer.setFilterMode(Qt.MatchContains)
        completer.setCaseSensitivity(Qt.CaseInsensitive)
        completer.setCompletionMode(QCompleter.PopupCompletion)
        self.setCompleter(completer)
        self.lineEdit().setPlaceholderText("type a class name or index")
        self.currentIndexChanged.connect(self._on_index_changed)
        self.lineEdit().editingFinished.connect(self._on_text_committed)
        self.setMinimumContentsLength(22)

    def class_index(self) -> int:
        """The chosen class (0-999), or -1 for "predicted"."""
        data = self.currentData()
        return -1 if data is None else int(data)

    def set_class(self, index: int) -> None:
        position = self.findData(int(index))
        if position >= 0:
            self.setCurrentIndex(position)

    def _on_index_changed(self, _position: int) -> None:
        self.class_changed.emit(self.class_index())

    def _on_text_committed(self) -> None:
        """Typed text ("flamingo", "130") selects the first matching entry."""
        from engine.errors import ModelError
        from engine.pretrained import find_class, search_classes

        text = self.lineEdit().text().strip()
        if ":" in text and text.split(":", 1)[0].strip().isdigit():
            text = text.split(":", 1)[0].strip()
        if not text:
            return
        try:
            index = find_class(text)
        except ModelError:
            matches = search_classes(text, limit=1)
            if not matches:
                self.setCurrentIndex(self.currentIndex())  # restore the shown text
                self.lineEdit().setText(self.itemText(self.currentIndex()))
                return
            index = matches[0]
        self.set_class(index)
        self.lineEdit().setText(self.itemText(self.currentIndex()))
