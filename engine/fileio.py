"""Safe file writes and reads.

- Atomic writes: a crash mid-save never leaves a half-written file behind, and
  the file gets ordinary permissions (the user's umask), not mkstemp's 0600, so
  a workspace handed in can be read by the marker.
- Output paths are checked before any work starts: only a new file or an
  existing *regular* file is ever replaced; never a folder, FIFO, device node or
  a symlink's target, and never one of the command's own inputs.
- Input files are checked before reading: regular file, bounded size (a FIFO
  would block forever, /dev/zero would read until memory runs out).
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Callable, Iterable

from .errors import ConvScopeError


class OutputPathError(ConvScopeError):
    """An output path that must not (or cannot) be written."""

    title = "Cannot write there"


class InputFileError(ConvScopeError):
    """An input file that is not a readable, reasonably sized regular file."""

    title = "Cannot read that file"


def _umask() -> int:
    try:  # Linux reports it without changing it (os.umask would, briefly, for every thread)
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The permissions an ordinary open() would give a new file (0o666 less the umask)."""
    return 0o666 & ~_umask()


def folder_mode() -> int:
    """The permissions an ordinary mkdir would give a new folder (0o777 less the umask)."""
    return 0o777 & ~_umask()


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def check_output_file(path: str | Path, *, inputs: Iterable[str | Path] = (), what: str = "output file") -> Path:
    """Refuse, with one sentence naming the path and the fix, an output that is not safe to write.

    Allowed: a path that does not exist yet (its folder must exist or be creatable and
    be writable) or an existing regular file that is not a symlink and not one of
    `inputs`. Returns the path."""
    text = str(path)
    if not text.strip():
        raise OutputPathError(f"The {what} name is empty; give a file name such as result.png.")
    path = Path(text)
    if path.is_symlink():
        raise OutputPathError(f"{path} is a symbolic link; ConvScope does not write through links. "
                              "Give the path of a new or ordinary file.")
    if path.exists():
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise OutputPathError(f"{path} is a folder; give a file name inside it, e.g. {path / 'result.png'}.")
        if not stat.S_ISREG(mode):
            raise OutputPathError(f"{path} is not an ordinary file (a device, pipe or socket); "
                                  "choose a new file name.")
        for source in inputs:
            if source and Path(source).exists() and _same_file(path, Path(source)):
                raise OutputPathError(f"{path} is also the input; choose another name so the input is kept.")
    _check_parent_writable(path.parent if str(path.parent) else Path("."), what)
    return path


def check_output_folder(path: str | Path, *, what: str = "output folder") -> Path:
    """An output folder: new, or an existing real folder (not a link, not a file) that can be written."""
    text = str(path)
    if not text.strip():
        raise OutputPathError(f"The {what} name is empty; give a folder name.")
    path = Path(text)
    if path.is_symlink():
        raise OutputPathError(f"{path} is a symbolic link; give the path of a real folder.")
    if path.exists():
        if not path.is_dir():
            raise OutputPathError(f"{path} exists and is not a folder; choose a folder name.")
        if not os.access(path, os.W_OK | os.X_OK):
            raise OutputPathError(f"The folder {path} is read-only; choose a folder you can write to.")
        return path
    _check_parent_writable(path.parent if str(path.parent) else Path("."), what)
    return path


def _check_parent_writable(parent: Path, what: str) -> None:
    probe = parent
    while not probe.exists():  # the first existing ancestor decides whether the folders can be created
        if probe == probe.parent:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise OutputPathError(f"Cannot create the {what}: {probe} is a file, not a folder.")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise OutputPathError(f"Cannot write the {what}: the folder {probe} is read-only. "
                              "Choose a folder you can write to.")


def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
    """Call write(tmp_path) then rename tmp over `path` (same folder, so rename is atomic).

    The target must be new or a regular file (check_output_file's rules), so a save never
    replaces a device node or a FIFO, nor writes through a symlink."""
    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise OutputPathError(f"{path} is not an ordinary file; nothing was written.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, file_mode())
        write(tmp)
        with open(tmp, "rb") as handle:  # on disk before the rename makes it the real file
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)

    atomic_write(path, write)


MAX_TEXT_FILE_BYTES = 16 * 1024 * 1024  # settings, specs, manifests: far larger than any real one


def read_small_text(path: str | Path, *, what: str = "file", limit: int = MAX_TEXT_FILE_BYTES) -> str:
    """Read a JSON/text input file after checking it is a regular file of bounded size.

    A FIFO would block forever and /dev/zero would read until memory runs out."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise InputFileError(f"The {what} {path} does not exist.") from exc
    except OSError as exc:
        raise InputFileError(f"The {what} {path} cannot be read: {exc.strerror or exc}.") from exc
    if stat.S_ISDIR(info.st_mode):
        raise InputFileError(f"The {what} {path} is a folder; give a file.")
    if not stat.S_ISREG(info.st_mode):
        raise InputFileError(f"The {what} {path} is not an ordinary file (a device, pipe or socket).")
    if info.st_size > limit:
        raise InputFileError(f"The {what} {path} is {info.st_size / 1e6:.1f} MB, larger than any real one "
                             f"(limit {limit / 1e6:.0f} MB).")
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise InputFileError(f"The {what} {path} cannot be read: {exc.strerror or exc}.") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"The {what} {path} is not text (it looks binary).") from exc


def slug(text: str, default: str = "item") -> str:
    """A file-name part from any title: lower case, runs of other characters as one '_', at most 40."""
    import re

    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")[:40] or default
