"""The class-groups editor of Dog vs Food: which ImageNet classes make each group
("dog" = classes 151-268, ...), editable, loaded from and saved as JSON files."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QGroupBox, QHBoxLayout, QListWidget,
                               QListWidgetItem, QPushButton, QVBoxLayout, QWidget)

from engine.errors import ConvScopeError
from engine.transfer import ClassGroup, ClassGroups, group_files, load_groups
from gui.widgets.class_picker import ClassPicker
from gui.widgets.elided_combo import ElidedComboBox


class ClassGroupsEditor(QGroupBox):
    """Groups list, the selected group's classes, a searchable picker to add classes, and the
    group files. Problems go out as `failed(title, message)`, notices as `status(text)`;
    `groups_changed` fires after any edit or load."""

    groups_changed = Signal()
    failed = Signal(str, str)
    status = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Class groups", parent)
        self.groups: ClassGroups = load_groups()
        self.groups_source = "dog_vs_food"
        self._class_names: list[str] = []
        self._build()

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        # The file names stay readable (elided, whole in the tooltip) without widening the controls
        # column (1280 px at 200 % text).
        self.groups_combo = ElidedComboBox(min_chars=7)
        self.groups_combo.setToolTip("Class-group files in resources/class_groups")
        for stem in group_files():
            self.groups_combo.addItem(stem)
        self.groups_combo.setCurrentText("dog_vs_food")
        self.groups_combo.activated.connect(self._on_groups_file_chosen)
        row.addWidget(self.groups_combo, 1)
        open_button = QPushButton("Open…")
        open_button.clicked.connect(self._on_open_groups)
        save_button = QPushButton("Save…")
        save_button.setToolTip("Save these class groups as a JSON file")
        save_button.clicked.connect(self._on_save_groups)
        row.addWidget(open_button)
        row.addWidget(save_button)
        layout.addLayout(row)

        self.group_list = QListWidget()
        self.group_list.setMaximumHeight(64)
        self.group_list.setToolTip("Double-click a group to rename it.")
        self.group_list.currentRowChanged.connect(self._refresh_classes)
        self.group_list.itemChanged.connect(self._on_group_renamed)
        layout.addWidget(self.group_list)
        row = QHBoxLayout()
        add_group = QPushButton("Add group")
        add_group.clicked.connect(self._on_add_group_clicked)
        remove_group = QPushButton("Remove group")
        remove_group.clicked.connect(self._on_remove_group_clicked)
        row.addWidget(add_group)
        row.addWidget(remove_group)
        layout.addLayout(row)

        self.class_list = QListWidget()
        self.class_list.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.class_list.setMinimumHeight(90)
        self.class_list.setMaximumHeight(130)
        layout.addWidget(self.class_list)
        row = QHBoxLayout()
        self.class_picker = ClassPicker()
        self.class_picker.setToolTip("Type part of a class name (e.g. 'beagle') or an index, then press Add")
        self.class_picker.setMinimumContentsLength(10)
        row.addWidget(self.class_picker, 1)
        self.add_class_button = QPushButton("Add")
        self.add_class_button.setToolTip("Add the chosen ImageNet class to the selected group")
        self.add_class_button.clicked.connect(self._on_add_class_clicked)
        row.addWidget(self.add_class_button)
        remove_class = QPushButton("Remove")
        remove_class.setToolTip("Remove the selected classes from the group")
        remove_class.clicked.connect(self.remove_selected_classes)
        row.addWidget(remove_class)
        layout.addLayout(row)

    def set_class_names(self, names: list[str]) -> None:
        self._class_names = list(names)
        self._refresh_classes()

    def class_label(self, index: int) -> str:
        if self._class_names and 0 <= index < len(self._class_names):
            return f"{index}  {self._class_names[index]}"
        return str(index)

    def set_groups(self, groups: ClassGroups, source: str | None = None) -> None:
        self.groups = groups
        if source is not None:
            self.groups_source = source
        self.refresh()

    def refresh(self, select: int = 0) -> None:
        self.group_list.blockSignals(True)
        self.group_list.clear()
        for group in self.groups.groups:
            item = QListWidgetItem(group.name)
            item.setFlags(item.flags() | Qt.ItemIsEditable)
            item.setToolTip(f"{len(group.classes)} ImageNet classes")
            self.group_list.addItem(item)
        self.group_list.blockSignals(False)
        self.group_list.setCurrentRow(min(max(select, 0), len(self.groups.groups) - 1))
        self._refresh_classes()
        self.groups_changed.emit()

    def current_group(self) -> ClassGroup | None:
        row = self.group_list.currentRow()
        return self.groups.groups[row] if 0 <= row < len(self.groups.groups) else None

    def _refresh_classes(self, *_args) -> None:
        self.class_list.clear()
        group = self.current_group()
        if group is None:
            return
        for index in group.classes:
            item = QListWidgetItem(self.class_label(index))
            item.setData(Qt.UserRole, index)
            self.class_list.addItem(item)

    def _on_group_renamed(self, item: QListWidgetItem) -> None:
        row = self.group_list.row(item)
        name = item.text().strip()
        if not name:
            item.setText(self.groups.groups[row].name)
            return
        self.groups.groups[row].name = name
        self.groups_changed.emit()

    def _on_groups_file_chosen(self, _index: int) -> None:
        self.load_groups_from(self.groups_combo.currentText())

    def choose_file(self, name: str) -> None:
        """Show a shipped group file's name in the list (it is loaded with load_groups_from)."""
        if self.groups_combo.findText(name) >= 0:
            self.groups_combo.setCurrentText(name)

    def load_groups_from(self, name_or_path: str) -> bool:
        try:
            groups = load_groups(name_or_path)
        except ConvScopeError as exc:
            self.failed.emit(exc.title, str(exc))
            return False
        self.set_groups(groups, str(name_or_path))
        self.status.emit(f"Class groups: {groups.title}")
        return True

    def _on_open_groups(self) -> None:
        from engine.transfer import GROUPS_DIR

        path, _ = QFileDialog.getOpenFileName(self, "Open class groups", str(GROUPS_DIR), "Class groups (*.json)")
        if path:
            self.load_groups_from(path)

    def _on_save_groups(self) -> None:
        from engine.transfer import GROUPS_DIR

        path, _ = QFileDialog.getSaveFileName(self, "Save class groups", str(GROUPS_DIR / "my_groups.json"),
                                              "Class groups (*.json)")
        if path:
            self.save_groups_to(path)

    def save_groups_to(self, path: str | Path) -> bool:
        from engine.transfer import GROUPS_DIR

        path = Path(path)
        if path.suffix.lower() != ".json":
            path = path.with_suffix(".json")
        try:
            self.groups.title = self.groups.title or path.stem
            self.groups.save(path)
        except ConvScopeError as exc:
            self.failed.emit(exc.title, str(exc))
            return False
        except OSError as exc:
            self.failed.emit("Could not save", f"{path} could not be written ({exc}).")
            return False
        self.groups_source = str(path)
        if self.groups_combo.findText(path.stem) < 0 and path.parent.resolve() == GROUPS_DIR.resolve():
            self.groups_combo.addItem(path.stem)  # saved next to the shipped files: offer it in the list
        self.status.emit(f"Saved class groups to {path}")
        return True

    def _on_add_group_clicked(self) -> None:
        self.add_group(f"group {len(self.groups.groups) + 1}")
        self.group_list.editItem(self.group_list.item(self.group_list.count() - 1))

    def add_group(self, name: str) -> None:
        self.groups.groups.append(ClassGroup(name, []))
        self.refresh(select=len(self.groups.groups) - 1)

    def _on_remove_group_clicked(self) -> None:
        row = self.group_list.currentRow()
        if row < 0:
            return
        if len(self.groups.groups) <= 2:
            self.failed.emit("Class groups", "At least two groups are needed; edit this one instead.")
            return
        del self.groups.groups[row]
        self.refresh(select=row - 1)

    def _on_add_class_clicked(self) -> None:
        index = self.class_picker.class_index()
        if index >= 0:
            self.add_class(index)

    def add_class(self, index: int) -> bool:
        """Add an ImageNet class to the selected group (refused if another group has it)."""
        group = self.current_group()
        if group is None:
            return False
        for other in self.groups.groups:
            if index in other.classes:
                if other is not group:
                    self.failed.emit("Class groups", f"{self.class_label(index)} is already in '{other.name}'. "
                                                     "A class can belong to one group only.")
                return False
        group.classes = sorted(group.classes + [int(index)])
        self._refresh_classes()
        self.status.emit(f"Added {self.class_label(index)} to '{group.name}' ({len(group.classes)} classes)")
        return True

    def remove_selected_classes(self) -> None:
        group = self.current_group()
        if group is None:
            return
        chosen = {item.data(Qt.UserRole) for item in self.class_list.selectedItems()}
        group.classes = [c for c in group.classes if c not in chosen]
        self._refresh_classes()

    def checked_groups(self) -> ClassGroups:
        """A validated copy (ConvScopeError naming the problem)."""
        return self.groups.copy().validate()
