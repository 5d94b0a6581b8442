"""Checkpoints and run folders.

A checkpoint is a plain dict of tensors and JSON strings, loaded with
`torch.load(weights_only=True)` so a file carrying a pickle payload can never
run code. A run folder holds checkpoint.pt plus readable JSON copies of the
architecture, settings and metric history.
"""
from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError, SpecError
from .fileio import atomic_write, atomic_write_text
from .model import ConvNet
from .spec import NetworkSpec

FORMAT = "convscope-checkpoint"
VERSION = 1


@dataclass
class TrainedRun:
    """A trained model with everything needed to reuse or compare it."""

    model: ConvNet
    dataset: str
    settings: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)  # metric name -> list of values
    name: str = "run"

    @property
    def spec(self) -> NetworkSpec:
        return self.model.spec


def save_checkpoint(path: str | Path, run: TrainedRun) -> None:
    """Write atomically: a crash mid-save leaves the old file intact."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "name": run.name,
        "dataset": run.dataset,
        "spec": run.spec.to_json(),
        "settings": json.dumps(run.settings),
        "history": json.dumps(run.history),
        "state_dict": {k: v.detach().cpu().clone() for k, v in run.model.state_dict().items()},
    }
    atomic_write(path, lambda tmp: torch.save(payload, tmp))


def _read_payload(path: Path) -> dict:
    if not path.exists():
        raise CheckpointError(f"No checkpoint at {path}.")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path.name} is empty (0 bytes); it is not a checkpoint.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path.name} was refused: it contains Python objects other than tensors and plain data, "
            "which could run code when loaded. Only ConvScope checkpoints can be opened.") from exc
    except (RuntimeError, EOFError, OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path.name} is corrupt or truncated and cannot be read ({type(exc).__name__}).") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path.name} is not a ConvScope checkpoint (it may come from another program).")
    if int(payload.get("version", 0)) > VERSION:
        raise CheckpointError(f"{path.name} was written by a newer ConvScope (format {payload['version']}).")
    return payload


def load_checkpoint(path: str | Path) -> TrainedRun:
    path = Path(path)
    payload = _read_payload(path)
    try:
        spec = NetworkSpec.from_json(payload["spec"])
        settings = json.loads(payload.get("settings", "{}"))
        history = json.loads(payload.get("history", "{}"))
        model = ConvNet(spec)
    except (SpecError, KeyError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path.name} holds an unreadable architecture: {exc}") from exc
    load_state_into(model, payload["state_dict"], path.name)
    return TrainedRun(model, str(payload.get("dataset", "")), settings, history, str(payload.get("name", path.stem)))


def load_weights_into(model: ConvNet, path: str | Path) -> None:
    """Load a checkpoint's weights into an existing model of the current architecture."""
    path = Path(path)
    payload = _read_payload(path)
    load_state_into(model, payload["state_dict"], path.name)


def load_state_into(model: torch.nn.Module, state: Any, source: str) -> None:
    if not isinstance(state, dict):
        raise CheckpointError(f"{source} has no weights.")
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        detail = []
        if wrong:
            k = wrong[0]
            detail.append(f"'{k}' is {tuple(state[k].shape)} in the file but {tuple(own[k].shape)} here")
        if missing:
            detail.append(f"{len(missing)} tensors missing (e.g. '{missing[0]}')")
        if unexpected:
            detail.append(f"{len(unexpected)} unexpected (e.g. '{unexpected[0]}')")
        raise CheckpointError(f"{source} was saved from another architecture: " + "; ".join(detail) + ".")
    model.load_state_dict(state)


def save_run(folder: str | Path, run: TrainedRun) -> Path:
    """checkpoint.pt + spec.json + settings.json + history.json in `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_checkpoint(folder / "checkpoint.pt", run)
    atomic_write_text(folder / "spec.json", run.spec.to_json())
    atomic_write_text(folder / "settings.json", json.dumps({"dataset": run.dataset, **run.settings}, indent=2))
    atomic_write_text(folder / "history.json", json.dumps(run.history))
    return folder


def load_run(folder: str | Path) -> TrainedRun:
    folder = Path(folder)
    if folder.is_file():
        return load_checkpoint(folder)
    if not (folder / "checkpoint.pt").exists():
        raise CheckpointError(f"{folder} is not a ConvScope run folder (no checkpoint.pt inside).")
    return load_checkpoint(folder / "checkpoint.pt")
