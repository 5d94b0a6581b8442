"""Workspaces: the whole session as one folder a student can copy, hand in or reopen.

Layout (every file readable without ConvScope except the checkpoints):

    manifest.json      format, version, what is inside and where
    spec.json          the architecture being edited (NetworkSpec JSON)
    settings.json      app and training settings (plain JSON)
    panels.json        each panel's save_state(), by panel title
    runs/NN_name/      engine.checkpoint.save_run folders (weights, curves, settings)
    images/*.png       chosen images (the current input, images panels keep)

Panel states are JSON; numpy arrays inside them are stored too: uint8 images as
PNG files, other arrays as nested lists with their dtype. Loading checks every
file the manifest names and says which one is wrong and why.
"""
from __future__ import annotations

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
from .errors import CheckpointError, ConvScopeError, DataError, SpecError
from .fileio import atomic_write_text
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


def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "_", text).strip("_").lower()[:40] or "item"


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
                name = f"images/state_{self.count:03d}_{_slug(where)}.png"
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
            return _read_image(folder, value["$image"], int(value.get("channels", 3)), int(value.get("ndim", 3)))
        if "$array" in value:
            return np.asarray(value["$array"], dtype=value.get("dtype", "float64"))
        return {k: _decode(v, folder) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, folder) for v in value]
    return value


def _read_image(folder: Path, name: str, channels: int, ndim: int) -> np.ndarray:
    path = _inside(folder, name)
    try:
        image = load_image(path)
    except DataError as exc:
        raise WorkspaceError(f"The workspace image {name} cannot be read: {exc}") from exc
    if channels == 1:
        image = image[:, :, 0] if ndim == 2 else image[:, :, :1]
    return np.ascontiguousarray(image)


def _inside(folder: Path, name: str) -> Path:
    """A manifest path must stay inside the workspace (no ../ escapes)."""
    path = (folder / name).resolve()
    if folder.resolve() not in path.parents:
        raise WorkspaceError(f"The manifest points outside the workspace folder ({name}).")
    return path


# ----- save
def save_workspace(folder: str | Path, workspace: Workspace) -> Path:
    """Write the workspace into `folder` (created; an existing workspace there is replaced).

    Everything is written to a temporary sibling first and swapped in at the end,
    so a failure mid-save leaves the previous workspace intact."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise WorkspaceError(f"{folder} is a file; choose a folder name for the workspace.")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / MANIFEST).exists():
        raise WorkspaceError(f"{folder} already holds other files; choose an empty or new folder "
                             "so nothing of yours is overwritten.")
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".saving", dir=folder.parent))
    except OSError as exc:
        raise WorkspaceError(f"Cannot write in {folder.parent}: {exc.strerror or exc}.") from exc
    try:
        _write_contents(staging, workspace)
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
            os.replace(staging, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, folder)
    except OSError as exc:
        raise WorkspaceError(f"Saving the workspace to {folder} failed: {exc.strerror or exc}.") from exc
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
    }
    if ws.spec is not None:
        atomic_write_text(folder / "spec.json", ws.spec.to_json())
        manifest["spec"] = "spec.json"
    for index, run in enumerate(ws.runs):
        name = f"runs/{index:02d}_{_slug(run.name)}"
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
        name = f"images/{_slug(key)}.png"
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
    atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=2))


# ----- load
def is_workspace(folder: str | Path) -> bool:
    return (Path(folder) / MANIFEST).is_file()


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
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WorkspaceError(f"{MANIFEST} in {folder.name} is damaged (not valid JSON: {exc}).") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise WorkspaceError(f"{folder.name}/{MANIFEST} is not a ConvScope workspace manifest.")
    if int(manifest.get("version", 0)) > VERSION:
        raise WorkspaceError(f"{folder.name} was saved by a newer ConvScope (workspace format "
                             f"{manifest['version']}); update ConvScope to open it.")
    return manifest


def _read_json(folder: Path, name: str | None, default: Any) -> Any:
    if not name:
        return default
    path = _inside(folder, name)
    if not path.is_file():
        raise WorkspaceError(f"The workspace lists {name} but the file is missing.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WorkspaceError(f"{name} in the workspace is damaged (not valid JSON: {exc}).") from exc


def load_workspace(folder: str | Path) -> Workspace:
    folder = Path(folder)
    if folder.is_file() and folder.name == MANIFEST:
        folder = folder.parent
    manifest = read_manifest(folder)
    ws = Workspace(dataset=str(manifest.get("dataset", "")))
    if manifest.get("spec"):
        path = _inside(folder, manifest["spec"])
        if not path.is_file():
            raise WorkspaceError(f"The workspace lists {manifest['spec']} but the file is missing.")
        try:
            ws.spec = NetworkSpec.load(path)
        except SpecError as exc:
            raise WorkspaceError(f"The architecture in {manifest['spec']} is invalid: {exc}") from exc
    for entry in manifest.get("runs", []):
        run_folder = _inside(folder, str(entry.get("folder", "")))
        try:
            ws.runs.append(load_run(run_folder))
        except CheckpointError as exc:
            raise WorkspaceError(f"Run '{entry.get('name', run_folder.name)}' cannot be opened: {exc}") from exc
    current = manifest.get("current_run")
    if current is not None:
        if not isinstance(current, int) or not 0 <= current < len(ws.runs):
            raise WorkspaceError(f"{MANIFEST} names run {current} as current but holds {len(ws.runs)} runs.")
        ws.current_run = current
    for entry in manifest.get("images", []):
        key = str(entry.get("key", ""))
        image = _read_image(folder, str(entry.get("file", "")), int(entry.get("channels", 3)), int(entry.get("ndim", 3)))
        ws.images[key] = (image, str(entry.get("caption", "")))
    panels = _read_json(folder, manifest.get("panels"), {})
    if not isinstance(panels, dict):
        raise WorkspaceError("panels.json must map panel titles to their saved state.")
    ws.panel_states = {str(k): _decode(v, folder) for k, v in panels.items()}
    settings = _read_json(folder, manifest.get("settings"), {})
    ws.settings = _decode(settings, folder) if isinstance(settings, dict) else {}
    return ws
