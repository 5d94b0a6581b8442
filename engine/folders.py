"""Scan an image folder in ImageFolder layout (root/<class>/<images>) without
skipping anything silently: every file that cannot be used is listed with the
reason (not an image, empty, damaged, outside any class folder).

Scanning only looks at names and sizes (fast); files that look like images but
cannot be decoded are found when they are read (`read_scanned_image`), and are
added to the same skip list.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataError
from .images import IMAGE_SUFFIXES, load_image

# Reasons a file is skipped (the GUI and CLI count them by these keys).
NOT_AN_IMAGE = "not an image"
EMPTY_FILE = "empty (0 bytes)"
DAMAGED = "damaged or unreadable"
OUTSIDE_CLASS_FOLDER = "not inside a class folder"
LINK = "a link (not followed)"
CLASS_WITHOUT_IMAGES = "class folder without readable images"
SKIP_REASONS = (NOT_AN_IMAGE, EMPTY_FILE, DAMAGED, OUTSIDE_CLASS_FOLDER, LINK, CLASS_WITHOUT_IMAGES)


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str  # one of SKIP_REASONS
    detail: str = ""  # the loader's message, for a tooltip


@dataclass
class FolderScan:
    """The usable files of a folder, by class, plus everything that was skipped."""

    root: Path
    class_names: list[str]  # subfolder names as written on disk, sorted
    files: list[tuple[Path, int]]  # (image file, class index) in a stable order
    skipped: list[SkippedFile] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_counts(self) -> dict[str, int]:
        counts = Counter(label for _, label in self.files)
        return {name: counts.get(i, 0) for i, name in enumerate(self.class_names)}

    def skipped_counts(self) -> dict[str, int]:
        """{reason: count} for the reasons that occurred."""
        return dict(Counter(item.reason for item in self.skipped))

    def skip(self, path: Path, reason: str, detail: str = "") -> None:
        self.skipped.append(SkippedFile(str(path), reason, detail))

    def summary(self) -> str:
        parts = [f"{name}: {count}" for name, count in self.class_counts().items()]
        text = f"{len(self.files)} images ({', '.join(parts)})"
        skipped = self.skipped_counts()
        if skipped:
            text += "; skipped " + ", ".join(f"{count} {reason}" for reason, count in skipped.items())
        return text


def _is_hidden(path: Path) -> bool:
    return path.name.startswith(".")


def scan_image_folder(root: str | Path, min_classes: int = 2, loose_files: bool = False) -> FolderScan:
    """List the images of root/<class>/... (sub-folders of a class folder count too).

    DataError for a missing folder, a folder without class sub-folders, fewer
    than `min_classes` classes, or no usable image at all. Hidden files
    (.DS_Store) are counted as skipped non-images, like any other stray file.
    `loose_files=True` (a folder of photos, no classes needed): images directly in root are
    used too, as one more class named after the folder.
    """
    root = Path(root).expanduser()
    if not str(root).strip() or not root.exists():
        raise DataError(f"The folder {root} does not exist.")
    if not root.is_dir():
        raise DataError(f"{root} is a file, not a folder. Choose a folder with one sub-folder per class.")
    try:
        entries = sorted(root.iterdir(), key=lambda p: p.name.lower())
    except OSError as exc:
        raise DataError(f"The folder {root} cannot be read: {exc.strerror or exc}.") from None
    class_dirs = [p for p in entries if p.is_dir() and not p.is_symlink() and not _is_hidden(p)]
    scan = FolderScan(root, [p.name for p in class_dirs], [])
    loose: list[Path] = []
    for stray in entries:
        if stray.is_symlink():  # a link may lead anywhere on the disk
            scan.skip(stray, LINK, "symbolic links are not followed; put the images in a real sub-folder")
        elif stray.is_file() and loose_files:
            loose.append(stray)
        elif stray.is_file():
            scan.skip(stray, OUTSIDE_CLASS_FOLDER, "images must sit in a sub-folder named after their class")
    if loose:
        scan.class_names.append(root.name or "images")
        for path in loose:
            _consider(scan, path, len(class_dirs))
    if not class_dirs and not loose:
        raise DataError(f"{root} has no images." if loose_files else
                        f"{root} has no class sub-folders. Put the images in one sub-folder per class, "
                        f"e.g. {root.name}/dog/*.jpg and {root.name}/food/*.jpg.")
    if len(scan.class_names) < min_classes:
        raise DataError(
            f"{root} has only one class folder ('{scan.class_names[0]}'). "
            f"At least {min_classes} classes are needed, e.g. dog/ and food/.")
    for label, class_dir in enumerate(class_dirs):
        try:
            found = sorted(class_dir.rglob("*"), key=lambda p: str(p).lower())
        except OSError as exc:
            scan.skip(class_dir, DAMAGED, f"{class_dir.name}/ cannot be read ({exc.strerror or exc})")
            continue
        for path in found:
            if path.is_symlink():
                scan.skip(path, LINK, "symbolic links are not followed")
            elif path.is_file():
                _consider(scan, path, label)
    if not scan.files:
        raise DataError(f"{root} contains no usable images ({scan.summary()}).")
    return scan


def _consider(scan: FolderScan, path: Path, label: int) -> None:
    """Add `path` to the scan's files, or to its skip list with the reason."""
    if path.suffix.lower() not in IMAGE_SUFFIXES or _is_hidden(path):
        scan.skip(path, NOT_AN_IMAGE, f"'{path.suffix or path.name}' is not an image file type")
        return
    try:
        empty = path.stat().st_size == 0
    except OSError as exc:
        scan.skip(path, DAMAGED, f"{path.name} cannot be read ({exc.strerror or exc})")
        return
    if empty:
        scan.skip(path, EMPTY_FILE, f"{path.name} is empty (0 bytes)")
    else:
        scan.files.append((path, label))


def read_scanned_image(scan: FolderScan, path: Path, max_side: int | None = None) -> np.ndarray | None:
    """load_image (reduced while loading when `max_side` says how much is needed), or
    None after recording why the file was skipped."""
    try:
        return load_image(path, max_side=max_side)
    except DataError as exc:
        from PIL import UnidentifiedImageError

        reason = NOT_AN_IMAGE if isinstance(exc.__cause__, UnidentifiedImageError) else DAMAGED
        try:
            if path.exists() and path.stat().st_size == 0:
                reason = EMPTY_FILE
        except OSError:
            pass
        scan.skip(path, reason, str(exc))
        return None


def normalize_folder_name(name: str) -> str:
    """'Test-Dogs' -> 'dog': lower case, split-name prefixes removed, plural 's' dropped."""
    text = name.strip().lower().replace(" ", "_")
    for prefix in ("test", "train", "training", "val", "valid", "validation"):
        for separator in ("-", "_", "."):
            if text.startswith(prefix + separator):
                text = text[len(prefix) + 1:]
                break
    return text


def match_folder_to_group(folder: str, group_names: list[str]) -> int | None:
    """Index of the group a class folder belongs to ('test-dog', 'Dogs' -> 'dog'), else None."""
    wanted = normalize_folder_name(folder)
    normalized = [normalize_folder_name(name) for name in group_names]
    for candidate in (wanted, wanted[:-1] if wanted.endswith("s") else None):
        if candidate is not None and candidate in normalized:
            return normalized.index(candidate)
    # a group named in the plural ('vehicles') should match the folder 'vehicle' too
    for index, name in enumerate(normalized):
        if name.endswith("s") and name[:-1] == wanted:
            return index
    return None


def folder_labels_to_groups(scan: FolderScan, group_names: list[str]) -> list[int]:
    """For each class folder, its group index; DataError naming any folder that matches none."""
    mapping = [match_folder_to_group(name, group_names) for name in scan.class_names]
    unmatched = [name for name, index in zip(scan.class_names, mapping) if index is None]
    if unmatched:
        raise DataError(
            f"The folder(s) {', '.join(repr(n) for n in unmatched)} in {scan.root} match no class group "
            f"({', '.join(group_names)}). Rename them (e.g. 'dog' or 'test-dog') or add a group with that name.")
    return mapping
