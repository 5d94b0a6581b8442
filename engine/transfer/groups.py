"""Class groups: which ImageNet classes make up "dog", "food", ... (JSON files in resources/class_groups)."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path


from ..errors import DataError


ROOT = Path(__file__).resolve().parent.parent.parent
GROUPS_DIR = ROOT / "resources" / "class_groups"
DEFAULT_GROUPS_FILE = GROUPS_DIR / "dog_vs_food.json"
NUM_IMAGENET_CLASSES = 1000
MAX_CLASS_GROUPS = 100



@dataclass
class ClassGroup:
    name: str
    classes: list[int]  # ImageNet class indices, sorted, unique

    def __post_init__(self):
        self.classes = sorted({int(c) for c in self.classes})


def compact_ranges(classes: list[int]) -> list[list[int]]:
    """[151, 152, 153, 200] -> [[151, 153], [200, 200]] (inclusive), for readable JSON."""
    ranges: list[list[int]] = []
    for index in sorted(set(classes)):
        if ranges and index == ranges[-1][1] + 1:
            ranges[-1][1] = index
        else:
            ranges.append([index, index])
    return ranges


@dataclass
class ClassGroups:
    """An editable set of named groups of ImageNet classes, stored as JSON."""

    title: str
    groups: list[ClassGroup]
    description: str = ""

    @property
    def names(self) -> list[str]:
        return [group.name for group in self.groups]

    def __len__(self) -> int:
        return len(self.groups)

    def copy(self) -> "ClassGroups":
        return ClassGroups(self.title, [ClassGroup(g.name, list(g.classes)) for g in self.groups], self.description)

    def validate(self, num_classes: int = NUM_IMAGENET_CLASSES) -> "ClassGroups":
        """DataError for fewer than two groups, an empty or unnamed group, a
        duplicate name, an index out of range, or a class in two groups."""
        if len(self.groups) < 2:
            raise DataError("At least two class groups are needed (e.g. 'dog' and 'food').")
        seen_names: set[str] = set()
        owner: dict[int, str] = {}
        for group in self.groups:
            name = group.name.strip()
            if not name:
                raise DataError("Every class group needs a name.")
            if name.lower() in seen_names:
                raise DataError(f"Two class groups are called '{name}'. Give each group its own name.")
            seen_names.add(name.lower())
            if not group.classes:
                raise DataError(f"The group '{name}' has no ImageNet classes. Add at least one.")
            for index in group.classes:
                if not 0 <= index < num_classes:
                    raise DataError(f"The group '{name}' lists class {index}; "
                                    f"ImageNet classes are 0-{num_classes - 1}.")
                if index in owner:
                    raise DataError(f"Class {index} is in both '{owner[index]}' and '{name}'. "
                                    "A class can belong to one group only.")
                owner[index] = name
        return self

    # JSON ------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"title": self.title, "description": self.description,
                "groups": [{"name": g.name, "ranges": compact_ranges(g.classes)} for g in self.groups]}

    @classmethod
    def from_dict(cls, data: dict, source: str = "class groups",
                  num_classes: int = NUM_IMAGENET_CLASSES) -> "ClassGroups":
        """Groups from JSON. Every index and range is checked against the model's classes
        (0..num_classes-1) before anything is expanded, so a range such as 0-20000000 is
        refused at once instead of becoming a list of twenty million numbers."""
        hint = ("each group needs a 'name' and 'classes' (a list of indices) or 'ranges' "
                "([[first, last], ...])")
        if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
            raise DataError(f"{source} is not a valid class-group file: expected an object with a 'groups' list.")
        if len(data["groups"]) > MAX_CLASS_GROUPS:
            raise DataError(f"{source} has {len(data['groups']):,} class groups; at most {MAX_CLASS_GROUPS} "
                            "are supported.")
        top = num_classes - 1

        def index_of(value, group: str) -> int:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                    isinstance(value, float) and not (math.isfinite(value) and value.is_integer())):
                raise DataError(f"{source}: the group '{group}' lists {str(value)[:30]!r}, not a class index "
                                f"(a whole number 0-{top}).")
            index = int(value)
            if not 0 <= index <= top:
                raise DataError(f"{source}: the group '{group}' lists class {index:,}; the model's classes are "
                                f"0-{top}.")
            return index

        groups = []
        for entry in data["groups"]:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise DataError(f"{source} is not a valid class-group file: {hint}.")
            name = entry["name"][:200]
            classes_in, ranges_in = entry.get("classes", []), entry.get("ranges", [])
            if not isinstance(classes_in, list) or not isinstance(ranges_in, list):
                raise DataError(f"{source}: in the group '{name}', {hint}.")
            if len(classes_in) > num_classes or len(ranges_in) > num_classes:
                raise DataError(f"{source}: the group '{name}' lists more entries than the model has classes "
                                f"({num_classes}).")
            classes = {index_of(value, name) for value in classes_in}
            for pair in ranges_in:
                if not isinstance(pair, list) or len(pair) != 2:
                    raise DataError(f"{source}: the group '{name}' has a range {str(pair)[:30]}; "
                                    "write ranges as [first, last].")
                low, high = index_of(pair[0], name), index_of(pair[1], name)
                if low > high:
                    raise DataError(f"{source}: the group '{name}' has the range [{low}, {high}]; "
                                    "the first index must not exceed the last.")
                classes.update(range(low, high + 1))  # at most num_classes values: both ends were checked
            groups.append(ClassGroup(name, sorted(classes)))
        title, description = data.get("title", "Class groups"), data.get("description", "")
        return cls(str(title)[:200], groups, str(description)[:2000])

    def save(self, path: str | Path) -> None:
        from ..fileio import atomic_write_text

        self.validate()
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "ClassGroups":
        from ..validation import read_json_object

        path = Path(path)
        if not path.exists():
            raise DataError(f"No class-group file at {path}.")
        data = read_json_object(path, "class-group file", DataError)
        return cls.from_dict(data, path.name).validate()


def group_files() -> dict[str, Path]:
    """The class-group files shipped in resources/class_groups, by file stem."""
    return {path.stem: path for path in sorted(GROUPS_DIR.glob("*.json"))}


def load_groups(name_or_path: str | Path | None = None) -> ClassGroups:
    """A shipped group file by stem ('dog_vs_food'), or any JSON path; default dog vs food."""
    if name_or_path is None:
        return ClassGroups.load(DEFAULT_GROUPS_FILE)
    files = group_files()
    if str(name_or_path) in files:
        return ClassGroups.load(files[str(name_or_path)])
    return ClassGroups.load(name_or_path)
