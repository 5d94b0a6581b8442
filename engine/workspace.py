"""Workspaces: the whole session as one folder a student can copy, hand in or reopen.

Layout (every file readable without ConvScope except the checkpoints):

    manifest.json      format, version, what is inside and where
    spec.json          the architecture being edited (NetworkSpec JSON)
    settings.json      app and training settings (plain JSON)
    panels.json        each panel's save_state(), by panel title
    runs/NN_name/      engine.checkpoint.save_run folders (weights, curves, settings)
    images/*.png       chosen images (the current input, images panels keep)

The models the user added ('user:N') are listed in the manifest by what rebuilds them
(architecture, path of the weights file, class-names file, preprocessing), not copied:
register_workspace_models adds them again when the workspace is opened.

Panel states are JSON; numpy arrays inside them are stored too: uint8 images as
PNG files, other arrays as nested lists with their dtype. Loading checks every
file the manifest names and says which one is wrong and why.
"""
from __future__ import annotations

import glob
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoint import TrainedRun, load_run, save_run
from .errors import ConvScopeError, DataError
from .fileio import atomic_write_text, folder_mode, read_small_text, slug
from .images import load_image, save_png
from .spec import NetworkSpec

FORMAT = "convscope-workspace"
VERSION = 1
MANIFEST = "manifest.json"
SUFFIX = ".convscope"  # suggested folder suffix; any folder name works


class WorkspaceError(ConvScopeError):
    """A workspace folder that is missing, foreign, damaged or cannot be written."""

    title = "Workspace problem"


@dataclass
class Workspace:
    spec: NetworkSpec | None = None
    dataset: str = ""
    runs: list[TrainedRun] = field(default_factory=list)
    current_run: int | None = None  # index into runs of the run the panels show
    images: dict[str, tuple[np.ndarray, str]] = field(default_factory=dict)  # key -> (uint8 image, caption)
    panel_states: dict[str, dict] = field(default_factory=dict)  # panel title -> save_state()
    settings: dict = field(default_factory=dict)
    # The user's own models, in the order added: {'name': 'user:N', 'arch', 'weights', ...} (engine.user_model)
    user_models: list[dict] = field(default_factory=list)
    # Entries whose weights or class-names file was missing when this workspace was opened: kept as
    # they were, so saving again does not lose them (they are tried again on the next open).
    missing_user_models: list[dict] = field(default_factory=list)


# ----- panel state <-> JSON (arrays become files or lists)
class _ArrayWriter:
    def __init__(self, folder: Path):
        self.folder = folder
        self.count = 0

    def encode(self, value: Any, where: str) -> Any:
        if isinstance(value, dict):
            return {str(k): self.encode(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, np.ndarray):
            if value.dtype == np.uint8 and (value.ndim == 2 or (value.ndim == 3 and value.shape[2] in (1, 3))):
                self.count += 1
                name = f"images/state_{self.count:03d}_{slug(where)}.png"
                save_png(self.folder / name, value)
                return {"$image": name, "channels": 1 if value.ndim == 2 else int(value.shape[2]),
                        "ndim": value.ndim}
            return {"$array": value.tolist(), "dtype": str(value.dtype)}
        if isinstance(value, np.generic):
            return value.item()
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise WorkspaceError(f"Cannot save '{where}': a {type(value).__name__} is not plain data "
                             "(panels must keep numbers, text, lists, dicts or numpy arrays).")


def _decode(value: Any, folder: Path) -> Any:
    if isinstance(value, dict):
        if "$image" in value:
            return _read_image(folder, value["$image"], _small_int(value, "channels", 3, (1, 3)),
                               _small_int(value, "ndim", 3, (2, 3)))
        if "$array" in value:
            return _decode_array(value)
        return {k: _decode(v, folder) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, folder) for v in value]
    return value


def _decode_array(value: dict) -> np.ndarray:
    dtype = value.get("dtype", "float64")
    if dtype not in ARRAY_DTYPES:
        raise WorkspaceError(f"panels.json holds an array of type {str(dtype)[:40]!r}; only plain numbers "
                             "are stored in a workspace.")
    data = value["$array"]
    count, stack = 0, [data]
    while stack:  # count before numpy allocates anything
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, (int, float, bool)):
            count += 1
        else:
            raise WorkspaceError("panels.json holds an array with an entry that is not a number.")
        if count > MAX_ARRAY_ELEMENTS:
            raise WorkspaceError("panels.json holds an array too large for a panel state.")
    try:
        return np.asarray(data, dtype=dtype)
    except (ValueError, OverflowError) as exc:
        raise WorkspaceError(f"panels.json holds a malformed array ({exc}).") from exc


def _read_image(folder: Path, name: Any, channels: int, ndim: int) -> np.ndarray:
    path = _inside(folder, name)
    try:
        image = load_image(path)
    except DataError as exc:
        raise WorkspaceError(f"The workspace image {name} cannot be read: {exc}") from exc
    if channels == 1:
        image = image[:, :, 0] if ndim == 2 else image[:, :, :1]
    return np.ascontiguousarray(image)


def _inside(folder: Path, name: Any) -> Path:
    """A path named in the manifest: relative, without '..', and (links resolved) inside the workspace."""
    if not isinstance(name, str) or not name.strip():
        raise WorkspaceError(f"The manifest names a file with an invalid path ({str(name)[:60]!r}).")
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts or "\\" in name:
        raise WorkspaceError(f"The manifest points outside the workspace folder ({name[:120]}); "
                             "only paths inside it are opened.")
    path = (folder / relative).resolve()
    if folder.resolve() not in path.parents:
        raise WorkspaceError(f"The manifest points outside the workspace folder ({name[:120]}), "
                             "through a link; only files inside it are opened.")
    return path


# ----- save
OWNED_FILES = (MANIFEST, "spec.json", "settings.json", "panels.json")  # always ConvScope's own
STAGING_SUFFIX = ".saving"
BACKUP_SUFFIX = ".previous"


class NotAWorkspaceError(WorkspaceError):
    """The chosen folder holds files that are not a ConvScope workspace: saving there is refused.

    `suggestion` is a new folder inside it where the workspace could go instead."""

    def __init__(self, message: str, suggestion: Path):
        super().__init__(message)
        self.suggestion = suggestion


def _backup_path(folder: Path) -> Path:
    return folder.with_name(f".{folder.name}{BACKUP_SUFFIX}")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a folder; the rename is still atomic
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _owned_files(folder: Path, manifest: dict) -> set[str]:
    """Relative paths (posix) that ConvScope wrote into this workspace; everything else is the user's."""
    owned = set(OWNED_FILES)
    files = manifest.get("files")
    if isinstance(files, list):  # only where ConvScope writes: a hand-edited list cannot claim the user's files
        owned.update(f for f in files if isinstance(f, str) and f.startswith(("runs/", "images/")))
        return owned
    # Workspaces saved before the file list: what the manifest names, and the panel-state images.
    for entry in manifest.get("runs") or []:
        run_folder = entry.get("folder") if isinstance(entry, dict) else None
        if isinstance(run_folder, str) and (folder / run_folder).is_dir():
            for path in (folder / run_folder).rglob("*"):
                if path.is_file() and not path.is_symlink():
                    owned.add(path.relative_to(folder).as_posix())
    for entry in manifest.get("images") or []:
        if isinstance(entry, dict) and isinstance(entry.get("file"), str):
            owned.add(entry["file"])
    images = folder / "images"
    if images.is_dir():
        owned.update(p.relative_to(folder).as_posix() for p in images.glob("state_*.png"))
    return owned


def _user_entries(folder: Path, manifest: dict) -> list[str]:
    """Files, links and empty folders inside a workspace that ConvScope did not write."""
    owned = _owned_files(folder, manifest)
    found = []
    for root, dirs, files in os.walk(folder):  # does not follow links
        rel_root = Path(root).relative_to(folder)
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            rel = (rel_root / name).as_posix()
            if rel not in owned:
                found.append(rel)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
        if not files and not dirs and rel_root != Path("."):
            found.append(rel_root.as_posix() + "/")
    return found


def _free_name(path: Path) -> Path:
    """`path`, or 'name (yours N).ext' beside it when ConvScope now writes a file of that name."""
    if not os.path.lexists(path):
        return path
    for number in range(1, 10_000):
        candidate = path.with_name(f"{path.stem} (yours {number}){path.suffix}")
        if not os.path.lexists(candidate):
            return candidate
    raise WorkspaceError(f"Too many files named like {path.name} in the workspace.")


def _carry_user_entries(source: Path, target: Path, entries: list[str], move: bool) -> None:
    """Bring the user's own files from the old workspace into the new one.

    Before the swap they are hard-linked (the originals stay where they were, so a
    failure or kill at any point loses nothing); a copy where links are impossible."""
    for rel in entries:
        src = source / rel.rstrip("/")
        dst = target / rel.rstrip("/")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith("/"):
            dst.mkdir(parents=True, exist_ok=True)
            continue
        dst = _free_name(dst)
        if move:
            os.replace(src, dst)
        elif os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        else:
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)


def recover_interrupted_save(folder: str | Path) -> list[str]:
    """Finish or undo a save that was killed or failed; returns what was done (for the user).

    - The target missing but its previous version kept aside: the previous version comes back.
    - Both present: the swap completed; the user's files still only in the previous
      version are moved over, then the previous version goes.
    - Staging folders of saves whose process is gone are removed (they only ever hold new
      files and links to the user's files, never the only copy of anything)."""
    folder = Path(folder)
    done: list[str] = []
    backup = _backup_path(folder)
    try:
        if backup.is_dir() and not backup.is_symlink():
            if not os.path.lexists(folder):
                os.replace(backup, folder)
                done.append(f"An interrupted save was undone: the previous version of {folder.name} is back.")
            elif folder.is_dir() and is_workspace(folder):
                try:
                    old_manifest = json.loads((backup / MANIFEST).read_text(encoding="utf-8"))
                    if not isinstance(old_manifest, dict):
                        raise ValueError("not an object")
                except (OSError, ValueError, RecursionError):
                    old_manifest = None
                if old_manifest is not None:
                    leftovers = [rel for rel in _user_entries(backup, old_manifest)
                                 if not os.path.lexists(folder / rel.rstrip("/"))]
                    _carry_user_entries(backup, folder, leftovers, move=True)
                    shutil.rmtree(backup)
                    done.append(f"Finished an interrupted save of {folder.name}.")
        for staging in folder.parent.glob(f".{glob.escape(folder.name)}.*{STAGING_SUFFIX}"):
            match = re.search(r"\.pid(\d+)\.", staging.name)
            if match and _pid_alive(int(match.group(1))):
                continue  # another ConvScope is saving there right now
            if staging.is_dir() and not staging.is_symlink():
                shutil.rmtree(staging, ignore_errors=True)
                done.append(f"Removed {staging.name}, left by a save that was interrupted.")
    except OSError as exc:
        raise WorkspaceError(f"An interrupted save of {folder} could not be recovered: {exc.strerror or exc}. "
                             f"Nothing was deleted; the previous version is in {backup}.") from exc
    return done


def check_save_target(folder: str | Path) -> Path:
    """Refuse a target that is not a new folder, an empty folder or a ConvScope workspace."""
    folder = Path(folder)
    if not str(folder).strip():
        raise WorkspaceError("The workspace folder name is empty.")
    if folder.is_symlink():
        raise WorkspaceError(f"{folder} is a symbolic link; choose a real folder for the workspace.")
    if folder.exists() and not folder.is_dir():
        raise WorkspaceError(f"{folder} is a file; choose a folder name for the workspace.")
    if folder.is_dir() and any(folder.iterdir()):
        try:
            read_manifest(folder)
        except WorkspaceError as exc:
            suggestion = folder / f"workspace{SUFFIX}"
            raise NotAWorkspaceError(
                f"{folder} already holds other files and is not a ConvScope workspace ({exc}). Nothing was "
                f"changed. Save into a new folder inside it ({suggestion.name}) or choose an empty folder.",
                suggestion) from None
    return folder


def save_workspace(folder: str | Path, workspace: Workspace) -> Path:
    """Write the workspace into `folder`: new, empty, or a ConvScope workspace.

    Everything is written to a staging folder beside it and fsynced; files of the user's
    inside an old workspace are linked into it; then the old version is renamed aside, the
    new one renamed into place and the old one removed. Until the new version is complete
    the old one is intact (in place, or aside where `recover_interrupted_save` finds it)."""
    folder = Path(folder)
    recover_interrupted_save(folder)
    check_save_target(folder)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.pid{os.getpid()}.", suffix=STAGING_SUFFIX,
                                        dir=folder.parent))
        os.chmod(staging, folder_mode())  # mkdtemp makes it 0700; a workspace is handed in and read
    except OSError as exc:
        raise WorkspaceError(f"Cannot write in {folder.parent}: {exc.strerror or exc}.") from exc
    backup = _backup_path(folder)
    try:
        _write_contents(staging, workspace)
        replacing = folder.is_dir() and any(folder.iterdir())
        if replacing:
            _carry_user_entries(folder, staging, _user_entries(folder, read_manifest(folder)), move=False)
        _fsync_dir(staging)
        if folder.exists():
            os.replace(folder, backup)
            try:
                os.replace(staging, folder)
            except OSError:
                os.replace(backup, folder)  # put the old version back where it was
                raise
            _fsync_dir(folder.parent)
            shutil.rmtree(backup, ignore_errors=True)  # what stays is finished by the next save or open
        else:
            os.replace(staging, folder)
            _fsync_dir(folder.parent)
    except OSError as exc:
        raise WorkspaceError(f"Saving the workspace to {folder} failed: {exc.strerror or exc}. "
                             "The previous version is kept.") from exc
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return folder


def _write_contents(folder: Path, ws: Workspace) -> None:
    from . import __version__

    manifest: dict[str, Any] = {
        "format": FORMAT, "version": VERSION, "app_version": __version__,
        "saved": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": ws.dataset, "spec": None, "runs": [], "current_run": None, "images": [],
        "settings": "settings.json", "panels": "panels.json",
        "user_models": [dict(entry) for entry in ws.user_models],
    }
    if ws.spec is not None:
        atomic_write_text(folder / "spec.json", ws.spec.to_json())
        manifest["spec"] = "spec.json"
    for index, run in enumerate(ws.runs):
        name = f"runs/{index:02d}_{slug(run.name)}"
        save_run(folder / name, run)
        manifest["runs"].append({"name": run.name, "folder": name, "dataset": run.dataset,
                                 "metrics": sorted(run.history)})
    if ws.current_run is not None:
        if not 0 <= ws.current_run < len(ws.runs):
            raise WorkspaceError(f"current_run {ws.current_run} does not name one of the {len(ws.runs)} runs.")
        manifest["current_run"] = ws.current_run
    for key, (image, caption) in ws.images.items():
        array = np.asarray(image)
        if array.dtype != np.uint8 or array.ndim not in (2, 3):
            raise WorkspaceError(f"Image '{key}' is not an 8-bit picture (dtype {array.dtype}, shape {array.shape}).")
        name = f"images/{slug(key)}.png"
        save_png(folder / name, array)
        manifest["images"].append({"key": key, "file": name, "caption": caption,
                                   "channels": 1 if array.ndim == 2 else int(array.shape[2]), "ndim": array.ndim})
    writer = _ArrayWriter(folder)
    panels = {title: writer.encode(state or {}, title) for title, state in ws.panel_states.items()}
    try:
        atomic_write_text(folder / "panels.json", json.dumps(panels, indent=1, allow_nan=True))
        atomic_write_text(folder / "settings.json", json.dumps(writer.encode(ws.settings, "settings"), indent=2))
    except (TypeError, ValueError) as exc:
        raise WorkspaceError(f"A panel state is not plain data: {exc}") from exc
    # The list of what ConvScope wrote: a later save replaces these and keeps everything else.
    manifest["files"] = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                               if p.is_file() and p.name != MANIFEST)
    atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=2))


# ----- load
# Arrays in panels.json: plain numeric types only, and a bounded size (a 70-byte entry
# naming a huge string dtype must not allocate gigabytes).
ARRAY_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                "float16", "float32", "float64"}
MAX_ARRAY_ELEMENTS = 20_000_000
MAX_PANELS_BYTES = 256 * 1024 * 1024


def is_workspace(folder: str | Path) -> bool:
    """A folder whose manifest.json says it is a ConvScope workspace (not just any manifest.json)."""
    try:
        read_manifest(folder)
    except WorkspaceError:
        return False
    return True


def read_manifest(folder: str | Path) -> dict:
    folder = Path(folder)
    if not folder.exists():
        raise WorkspaceError(f"No workspace at {folder}.")
    if folder.is_file():
        if folder.name == MANIFEST:
            folder = folder.parent
        else:
            raise WorkspaceError(f"{folder.name} is a file; a workspace is a folder with a {MANIFEST} inside.")
    path = folder / MANIFEST
    if not path.is_file():
        raise WorkspaceError(f"{folder} is not a ConvScope workspace (no {MANIFEST} inside).")
    manifest = _parse_json(path, MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise WorkspaceError(f"{folder.name}/{MANIFEST} is not a ConvScope workspace manifest.")
    version = manifest.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise WorkspaceError(f"{folder.name}/{MANIFEST} has no valid format version (found {version!r}).")
    if version > VERSION:
        raise WorkspaceError(f"{folder.name} was saved by a newer ConvScope (workspace format "
                             f"{version}); update ConvScope to open it.")
    return manifest


def _parse_json(path: Path, name: str, limit: int = 16 * 1024 * 1024) -> Any:
    try:
        return json.loads(read_small_text(path, what=f"workspace file {name}", limit=limit))
    except ConvScopeError as exc:
        raise WorkspaceError(str(exc)) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WorkspaceError(f"{name} in the workspace is damaged (not valid JSON: {exc}).") from exc
    except RecursionError as exc:
        raise WorkspaceError(f"{name} in the workspace is nested too deeply to be a ConvScope file.") from exc


def _read_json(folder: Path, name: Any, default: Any, limit: int = 16 * 1024 * 1024) -> Any:
    if not name:
        return default
    path = _inside(folder, name)
    if not os.path.lexists(path):
        raise WorkspaceError(f"The workspace lists {name} but the file is missing.")
    return _parse_json(path, str(name), limit)


def _entries(manifest: dict, key: str) -> list[dict]:
    value = manifest.get(key) or []
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise WorkspaceError(f"{MANIFEST}: '{key}' must be a list of entries.")
    return value


def _small_int(entry: dict, key: str, default: int, allowed: tuple[int, ...]) -> int:
    value = entry.get(key, default)
    if isinstance(value, bool) or value not in allowed:
        raise WorkspaceError(f"{MANIFEST}: '{key}' must be one of {', '.join(map(str, allowed))} (found {value!r}).")
    return int(value)


def load_workspace(folder: str | Path) -> Workspace:
    """Read a workspace; any problem is a WorkspaceError naming the file and what is wrong.

    Opening reads only inside the folder (paths are relative and confined; links out are
    refused) and never downloads or writes anything, except finishing an interrupted save."""
    folder = Path(folder)
    if folder.is_file() and folder.name == MANIFEST:
        folder = folder.parent
    try:  # finish or undo a save that was killed, and clear its leftovers (ConvScope's own files only)
        recover_interrupted_save(folder)
    except WorkspaceError:
        if not folder.exists():
            raise  # only the previous version aside could have been opened: say why it was not
        # A read-only parent folder: the workspace itself still opens; leftovers wait for a save.
    try:
        return _load_workspace(folder)
    except WorkspaceError:
        raise
    except ConvScopeError as exc:
        raise WorkspaceError(f"{folder.name}: {exc}") from exc
    except MemoryError as exc:
        raise WorkspaceError(f"{folder.name} asks for more memory than this machine has; it was not opened.") from exc
    except RecursionError as exc:
        raise WorkspaceError(f"{folder.name} holds data nested too deeply to be a ConvScope workspace.") from exc
    except OSError as exc:
        raise WorkspaceError(f"{folder.name} cannot be read: {exc.strerror or exc}"
                             f"{f' ({exc.filename})' if exc.filename else ''}.") from exc
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError) as exc:
        raise WorkspaceError(f"{folder.name} is damaged: an entry has the wrong type or value "
                             f"({type(exc).__name__}: {exc}).") from exc


def _load_workspace(folder: Path) -> Workspace:
    manifest = read_manifest(folder)
    ws = Workspace(dataset=str(manifest.get("dataset") or ""))
    if manifest.get("spec"):
        path = _inside(folder, manifest["spec"])
        if not os.path.lexists(path):
            raise WorkspaceError(f"The workspace lists {manifest['spec']} but the file is missing.")
        try:
            ws.spec = NetworkSpec.from_json(read_small_text(path, what="architecture file"))
        except ConvScopeError as exc:
            raise WorkspaceError(f"The architecture in {manifest['spec']} is invalid: {exc}") from exc
    for entry in _entries(manifest, "runs"):
        run_folder = _inside(folder, entry.get("folder"))
        try:
            ws.runs.append(load_run(run_folder))
        except ConvScopeError as exc:
            raise WorkspaceError(f"Run '{entry.get('name', run_folder.name)}' cannot be opened: {exc}") from exc
    current = manifest.get("current_run")
    if current is not None:
        if not isinstance(current, int) or isinstance(current, bool) or not 0 <= current < len(ws.runs):
            raise WorkspaceError(f"{MANIFEST} names run {current!r} as current but holds {len(ws.runs)} runs.")
        ws.current_run = current
    for entry in _entries(manifest, "images"):
        key = str(entry.get("key", ""))
        image = _read_image(folder, entry.get("file"), _small_int(entry, "channels", 3, (1, 3)),
                            _small_int(entry, "ndim", 3, (2, 3)))
        ws.images[key] = (image, str(entry.get("caption", "")))
    panels = _read_json(folder, manifest.get("panels"), {}, limit=MAX_PANELS_BYTES)
    if not isinstance(panels, dict):
        raise WorkspaceError("panels.json must map panel titles to their saved state.")
    ws.panel_states = {str(k): _decode(v, folder) for k, v in panels.items()}
    settings = _read_json(folder, manifest.get("settings"), {})
    ws.settings = _decode(settings, folder) if isinstance(settings, dict) else {}
    ws.user_models = [dict(entry) for entry in _entries(manifest, "user_models")]
    return ws


def register_workspace_models(ws: Workspace) -> list[str]:
    """Add the workspace's own models to this session's models and rename them in the panel
    states where this session numbers them differently; returns problems (a missing weights
    file: those panels show the embedded model). Reads no weights: each model loads when used."""
    from .pretrained import DEFAULT_MODEL
    from .user_model import is_user_model, restore_user_models

    names, problems = restore_user_models(ws.user_models)
    unknown: list[str] = []

    def rename(text: str) -> str:
        if text in names or not USER_MODEL_NAME.fullmatch(text):
            return names.get(text, text)
        # Saved before workspaces kept the models (or the entry was removed): never this session's model
        # of the same name.
        if text not in unknown:
            unknown.append(text)
        return DEFAULT_MODEL

    ws.panel_states = _map_strings(ws.panel_states, rename)
    problems += [f"A panel used your model {name}, which this workspace does not describe (saved by an older "
                 "ConvScope?); it shows the embedded model. Add yours again with 'Add your own model…'."
                 for name in unknown]
    restored = [(entry, names.get(str(entry.get("name")), "")) for entry in ws.user_models]
    ws.missing_user_models = [dict(entry) for entry, name in restored
                              if not is_user_model(name) and _files_missing(entry)]
    ws.user_models = [dict(entry, name=name) for entry, name in restored if is_user_model(name)]
    return problems


def _files_missing(entry: dict) -> bool:
    """A well-formed model entry whose weights or class-names file is not there (now)."""
    paths = [entry.get(key) for key in ("weights", "class_names")]
    return isinstance(entry, dict) and any(isinstance(p, str) and p and not Path(p).is_file() for p in paths)


def user_models_to_save(registered: list[dict], missing: list[dict]) -> list[dict]:
    """The models a workspace keeps: this session's, then those whose files were missing when it was
    opened (renamed to a free 'user:N' where this session has given their name to another model)."""
    taken = {str(entry.get("name")) for entry in registered}
    kept = [dict(entry) for entry in registered]
    number = 1
    for entry in missing:
        name = str(entry.get("name", ""))
        while name in taken or not USER_MODEL_NAME.fullmatch(name):
            name, number = f"user:{number}", number + 1
        taken.add(name)
        kept.append(dict(entry, name=name))
    return kept


USER_MODEL_NAME = re.compile(r"user:\d+")


def _map_strings(value: Any, change) -> Any:
    if isinstance(value, dict):
        return {k: _map_strings(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_strings(v, change) for v in value]
    if isinstance(value, str):
        return change(value)
    return value
