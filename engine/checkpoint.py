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
MAX_CHECKPOINT_BYTES = 4 * 10**9


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
    write_checkpoint(path, run.name, run.dataset, run.spec, run.settings, run.history, run.model.state_dict())


def write_checkpoint(path: str | Path, name: str, dataset: str, spec: NetworkSpec, settings: dict, history: dict,
                     state: dict) -> None:
    """The checkpoint file of a run given as its parts (a model's state_dict, not the model):
    written atomically, readable by load_checkpoint."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "name": name,
        "dataset": dataset,
        "spec": spec.to_json(),
        "settings": json.dumps(settings),
        "history": json.dumps(history),
        "state_dict": {k: v.detach().cpu().clone() for k, v in state.items()},
    }
    try:
        atomic_write(path, lambda tmp: torch.save(payload, tmp))
    except (RuntimeError, OSError) as exc:  # a full disk surfaces from torch.save as RuntimeError
        raise CheckpointError(f"Could not save {Path(path).name}: {_write_failure(exc)} "
                              "The previous file, if any, is unchanged.") from exc


def _write_failure(exc: BaseException) -> str:
    text = str(exc)
    if "No space left" in text or getattr(exc, "errno", None) == 28 or "file write failed" in text:
        return "the disk is full."
    if isinstance(exc, PermissionError):
        return "permission denied."
    return f"{text[:200]}."


def _read_payload(path: Path) -> dict:
    if not path.exists():
        raise CheckpointError(f"No checkpoint at {path}.")
    if not path.is_file():
        raise CheckpointError(f"{path} is not an ordinary file (a folder, device or pipe); it is not a checkpoint.")
    if path.stat().st_size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"{path.name} is {path.stat().st_size / 1e9:.1f} GB, larger than any ConvScope "
                              "checkpoint; it was not opened.")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path.name} is empty (0 bytes); it is not a checkpoint.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path.name} was refused: it contains Python objects other than tensors and plain data, "
            "which could run code when loaded. Only ConvScope checkpoints can be opened.") from exc
    except (RuntimeError, EOFError, OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path.name} is corrupt or truncated and cannot be read "
                              f"({type(exc).__name__}).") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path.name} is not a ConvScope checkpoint (it may come from another program).")
    version = payload.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise CheckpointError(f"{path.name} is damaged: its format version is {str(version)[:20]!r}, "
                              "not a whole number.")
    if version > VERSION:
        raise CheckpointError(f"{path.name} was written by a newer ConvScope (format {version}).")
    for key in ("spec", "settings", "history", "name", "dataset"):
        if key in payload and not isinstance(payload[key], str):
            raise CheckpointError(f"{path.name} is damaged: its '{key}' entry should be text (JSON), "
                                  f"not {type(payload[key]).__name__}.")
    if "spec" not in payload:
        raise CheckpointError(f"{path.name} has no architecture ('spec' entry).")
    _check_state_types(payload.get("state_dict"), path.name)
    return payload


def _check_state_types(state: Any, source: str) -> None:
    """The weights entry: a dict of name -> tensor (nothing else is a weight)."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{source} has no weights (no 'state_dict' of tensors).")
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{source} is damaged: weight {str(key)[:60]!r} is not a tensor "
                                  f"(it is {type(value).__name__}).")


def expected_state_shapes(spec: NetworkSpec) -> dict[str, tuple[int, ...]]:
    """The state_dict names and shapes ConvNet(spec) will have, worked out from the
    spec alone (no model is built, nothing large is allocated)."""
    from .spec import validate

    infos = validate(spec)
    shapes: dict[str, tuple[int, ...]] = {"normalize.mean": tuple(spec.input_shape),
                                          "normalize.std": tuple(spec.input_shape)}
    for layer, info in zip(spec.layers, infos):
        prefix = f"features.{info.name}."
        channels_in = info.in_shape[0]
        if layer.kind == "conv":
            out, k = layer.get("out_channels"), layer.get("kernel")
            shapes[prefix + "weight"] = (out, channels_in, k, k)
            shapes[prefix + "bias"] = (out,)
        elif layer.kind == "linear":
            shapes[prefix + "weight"] = (layer.get("units"), channels_in)
            shapes[prefix + "bias"] = (layer.get("units"),)
        elif layer.kind == "batchnorm":
            for name in ("weight", "bias", "running_mean", "running_var"):
                shapes[prefix + name] = (channels_in,)
            shapes[prefix + "num_batches_tracked"] = ()
    return shapes


def _check_state_shapes(spec: NetworkSpec, state: dict, source: str) -> None:
    """Compare the file's weights with the architecture before the model is built."""
    detail = _state_mismatch(expected_state_shapes(spec), state, "the architecture needs")
    if detail:
        raise CheckpointError(f"{source}: the weights do not match its architecture: {detail}.")


def _state_mismatch(expected: dict, state: dict, needs: str) -> str:
    """'' when `state` has exactly the tensors and shapes `expected` names, else what differs first."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k])]
    detail = []
    if wrong:
        k = wrong[0]
        detail.append(f"'{k}' is {tuple(state[k].shape)} in the file but {needs} {tuple(expected[k])}")
    if missing:
        detail.append(f"{len(missing)} tensors missing (e.g. '{missing[0]}')")
    if unexpected:
        detail.append(f"{len(unexpected)} unexpected (e.g. '{unexpected[0]}')")
    return "; ".join(detail)


def _check_history(history: dict, source: str) -> None:
    """Curves are lists of numbers (None where a value is missing); 'summary' a list of objects.
    Anything else would only fail later, inside a plot."""
    for name, values in history.items():
        if not isinstance(values, list):
            raise CheckpointError(f"{source} is damaged: the history entry '{str(name)[:40]}' is not a list.")
        if name == "summary":
            if not all(isinstance(v, dict) for v in values):
                raise CheckpointError(f"{source} is damaged: its run summary is not a list of objects.")
        elif not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values):
            raise CheckpointError(f"{source} is damaged: the history curve '{str(name)[:40]}' holds values "
                                  "that are not numbers.")


def load_checkpoint(path: str | Path) -> TrainedRun:
    path = Path(path)
    payload = _read_payload(path)
    from .validation import parse_json_text

    try:
        spec = NetworkSpec.from_json(payload["spec"])
    except SpecError as exc:
        raise CheckpointError(f"{path.name} holds an unreadable architecture: {exc}") from exc
    settings = parse_json_text(payload.get("settings", "{}"), f"settings inside {path.name}", CheckpointError)
    history = parse_json_text(payload.get("history", "{}"), f"history inside {path.name}", CheckpointError)
    if not isinstance(settings, dict) or not isinstance(history, dict):
        raise CheckpointError(f"{path.name} is damaged: its settings and history must be JSON objects.")
    _check_history(history, path.name)
    try:
        _check_state_shapes(spec, payload["state_dict"], path.name)  # before building: no large allocation
        model = ConvNet(spec)
    except SpecError as exc:
        raise CheckpointError(f"{path.name} holds an unusable architecture: {exc}") from exc
    load_state_into(model, payload["state_dict"], path.name)
    return TrainedRun(model, str(payload.get("dataset", "")), settings, history, str(payload.get("name", path.stem)))


def load_weights_into(model: ConvNet, path: str | Path) -> None:
    """Load a checkpoint's weights into an existing model of the current architecture."""
    path = Path(path)
    payload = _read_payload(path)
    load_state_into(model, payload["state_dict"], path.name)


def load_state_into(model: torch.nn.Module, state: Any, source: str) -> None:
    _check_state_types(state, source)
    detail = _state_mismatch({k: tuple(v.shape) for k, v in model.state_dict().items()}, state, "the model has")
    if detail:
        raise CheckpointError(f"{source} was saved from another architecture: {detail}.")
    model.load_state_dict(state)


RUN_FILES = ("checkpoint.pt", "spec.json", "settings.json", "history.json")


def check_run_folder(folder: str | Path) -> Path:
    """OutputPathError now (before training) if save_run could not write `folder`: not a
    real writable folder, or one of its run files is a link, FIFO, device or folder."""
    from .fileio import check_output_file, check_output_folder

    folder = check_output_folder(folder, what="run folder")
    for name in RUN_FILES:
        check_output_file(folder / name, what=f"run file {name}")
    return folder


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
    """A run folder's model: its final checkpoint.pt, or, for a run that stopped before the end
    (a run folder written by `train --out`), the last complete epoch's checkpoint."""
    folder = Path(folder)
    if folder.is_file():
        return load_checkpoint(folder)
    if not (folder / "checkpoint.pt").exists():
        epochs = latest_epoch_checkpoint(folder)
        if epochs is None:
            raise CheckpointError(f"{folder} is not a ConvScope run folder (no checkpoint.pt inside).")
        run = load_checkpoint(epochs)
        run.name = f"{run.name} (incomplete: {epochs.stem})"
        return run
    return load_checkpoint(folder / "checkpoint.pt")


EPOCH_CHECKPOINTS = "checkpoints"


def epoch_checkpoint_name(epoch: int, member: int = 0) -> str:
    """checkpoints/epoch-003.pt for the end of the third epoch (member k > 0: member-k+1-epoch-003.pt)."""
    prefix = f"member-{member + 1}-" if member else ""
    return f"{EPOCH_CHECKPOINTS}/{prefix}epoch-{epoch + 1:03d}.pt"


def latest_epoch_checkpoint(folder: str | Path) -> Path | None:
    """The first member's newest complete epoch checkpoint in a run folder, if any."""
    found = sorted((Path(folder) / EPOCH_CHECKPOINTS).glob("epoch-*.pt"))
    return found[-1] if found else None
