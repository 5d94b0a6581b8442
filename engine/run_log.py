"""A run folder that grows while it trains, so another process (the window's File -> Follow run,
a second machine on a synced folder) can watch it. Format: docs/RUN_FORMAT.md.

    run.json        format version, who writes, when it started (written first)
    spec.json       the architecture; settings.json the training settings
    events.jsonl    one JSON object per line, appended and flushed as events happen
    arrays/*.npy    the arrays an event refers to (filters, statistics, learning rates),
                    each written whole under a temporary name and renamed into place
                    BEFORE the line that names it is appended
    writer.lock     the writing process (a second writer refuses)
    checkpoint.pt, history.json   when the run is finished (engine.checkpoint.save_run)

The reader only takes complete lines (ending in a newline) whose array files load; anything
else is left for the next poll, never an error. Events are the engine's own event classes,
rebuilt from a fixed list (no arbitrary class is ever instantiated from the file).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConvScopeError

FORMAT_VERSION = 1
EVENTS = "events.jsonl"
HEADER = "run.json"
LOCK = "writer.lock"
ARRAYS = "arrays"


class RunLogError(ConvScopeError):
    title = "Run folder"


def _event_classes() -> dict[str, type]:
    from .layer_stats import LayerStats, LayerStatsSnapshot
    from .train import BatchEnd, EnsembleResult, EpochEnd, FiltersSnapshot, MemberFinished, TrainStarted

    return {cls.__name__: cls for cls in (TrainStarted, BatchEnd, EpochEnd, FiltersSnapshot, LayerStatsSnapshot,
                                          LayerStats, MemberFinished, EnsembleResult)}


class _Pending(Exception):
    """An array the line names is not (completely) there yet."""


# ---------------------------------------------------------------- writing
class RunLogWriter:
    """Appends events to `folder`'s log. Use as a context manager (or call close())."""

    def __init__(self, folder: str | Path, spec_json: str | None = None, settings: dict | None = None):
        self.folder = Path(folder)
        (self.folder / ARRAYS).mkdir(parents=True, exist_ok=True)
        self._take_lock()
        from .fileio import atomic_write_text

        # A new run in the folder of an old one replaces its log, as save_run replaces its checkpoint.
        from .checkpoint import EPOCH_CHECKPOINTS

        for old in [*(self.folder / ARRAYS).glob("*.npy"), *(self.folder / EPOCH_CHECKPOINTS).glob("*.pt")]:
            old.unlink()

        atomic_write_text(self.folder / HEADER, json.dumps({
            "format": "convscope-run", "version": FORMAT_VERSION, "started": time.time(),
            "host": socket.gethostname(), "pid": os.getpid()}, indent=2))
        if spec_json is not None:
            atomic_write_text(self.folder / "spec.json", spec_json)
        if settings is not None:
            atomic_write_text(self.folder / "settings.json", json.dumps(settings, indent=2))
        open(self.folder / EVENTS, "w").close()
        self._events = open(self.folder / EVENTS, "a", encoding="utf-8")  # O_APPEND: every line at the end
        self._count = 0
        self._finished = False

    def _take_lock(self) -> None:
        lock = self.folder / LOCK
        try:
            descriptor = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            owner = lock.read_text(errors="replace").strip() if lock.is_file() else "?"
            if _stale(owner):  # left by a killed process on this machine
                lock.unlink(missing_ok=True)
                return self._take_lock()
            raise RunLogError(f"Another process is writing {self.folder} ({owner}). Two processes cannot write "
                              "one run folder; choose another folder.") from None
        with os.fdopen(descriptor, "w") as handle:
            handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")

    def _release_lock(self) -> None:
        try:
            (self.folder / LOCK).unlink()
        except OSError:
            pass

    def write(self, event: Any) -> None:
        """Append one engine event (arrays first, then the line that names them). Events whose
        class says `logged = False` (a whole model copy for live views) are left out."""
        if type(event).__name__ == "EpochCheckpoint":
            self._save_epoch(event)
            return
        if getattr(type(event), "logged", True) is False:
            return
        self._count += 1
        record = _encode(event, self, f"{self._count:06d}")
        self._append(record)

    def _save_epoch(self, event: Any) -> None:
        """checkpoints/epoch-NNN.pt (whole before its line names it): what a run that dies keeps."""
        from .checkpoint import epoch_checkpoint_name, write_checkpoint

        relative = epoch_checkpoint_name(event.epoch, event.member)
        (self.folder / relative).parent.mkdir(exist_ok=True)
        write_checkpoint(self.folder / relative, event.run_name, event.dataset, event.spec, event.settings,
                         event.history, event.state)
        self._append({"__checkpoint__": {"epoch": event.epoch, "member": event.member, "path": relative}})

    def _append(self, record: dict) -> None:
        self._events.write(json.dumps(record, allow_nan=False) + "\n")
        self._events.flush()

    def finish(self, summary: dict | None = None) -> None:
        self._append({"__finished__": _encode(summary or {}, self, "summary")})
        os.fsync(self._events.fileno())
        self._finished = True

    def close(self, reason: str = "") -> None:
        """Release the folder. Closed before finish(), the log ends with an `__incomplete__` line
        (with `reason`): readers then know the run stopped early and keeps its last epoch."""
        if not self._events.closed:
            if not self._finished:
                self._append({"__incomplete__": reason or "the training process stopped before the run finished"})
                os.fsync(self._events.fileno())
            self._events.close()
        self._release_lock()

    def __enter__(self) -> "RunLogWriter":
        return self

    def __exit__(self, _type, exc, _traceback) -> None:
        self.close(str(exc) if exc is not None else "")

    def save_array(self, name: str, array: np.ndarray) -> str:
        relative = f"{ARRAYS}/{name}.npy"
        final = self.folder / relative
        temporary = final.with_name(final.name + ".part")
        with open(temporary, "wb") as handle:
            np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
        os.replace(temporary, final)  # whole or absent, never half
        return relative


def _stale(owner: str) -> bool:
    """True when the lock names a process of this machine that no longer runs."""
    parts = owner.split()
    if len(parts) != 4 or parts[0] != "pid" or parts[2] != "on" or parts[3] != socket.gethostname():
        return False  # another machine's process (a synced folder): cannot tell, so it counts
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    return False


def _encode(value: Any, writer: RunLogWriter, key: str) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__event__": type(value).__name__,
                "fields": {f.name: _encode(getattr(value, f.name), writer, f"{key}_{f.name}")
                           for f in dataclasses.fields(value)}}
    if isinstance(value, np.ndarray):
        return {"__array__": writer.save_array(key, value)}
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, writer, f"{key}_{i}") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, writer, f"{key}_{i}") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {"__map__": [[str(k), _encode(v, writer, f"{key}_{_safe(k)}")] for k, v in value.items()]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"Cannot log a {type(value).__name__}")


def _safe(name: Any) -> str:
    return "".join(c if c.isalnum() else "_" for c in str(name))[:40]


# ---------------------------------------------------------------- reading
class RunLogReader:
    """Follows a run folder: poll() returns the events completed since the last poll."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        header = self.folder / HEADER
        if not self.folder.is_dir():
            raise RunLogError(f"{self.folder} is not a folder.")
        if not header.is_file():
            raise RunLogError(f"{self.folder} is not a ConvScope run folder being written (no {HEADER}). "
                              "Finished runs from older versions open with File -> Open run.")
        try:
            meta = json.loads(header.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RunLogError(f"{header.name} in {self.folder} cannot be read ({exc}).") from None
        if not isinstance(meta, dict) or meta.get("format") != "convscope-run":
            raise RunLogError(f"{self.folder} is not a ConvScope run folder ({HEADER} says otherwise).")
        if int(meta.get("version", 0)) > FORMAT_VERSION:
            raise RunLogError(f"{self.folder} was written by a newer ConvScope (run format {meta.get('version')}; "
                              f"this version reads up to {FORMAT_VERSION}). Update ConvScope to follow it.")
        self.meta = meta
        self._offset = 0
        self._classes = _event_classes()
        self.finished: dict | None = None  # the summary, once the run finished
        self.incomplete: str | None = None  # why the writer stopped early, if it said so
        self.checkpoints: list[dict] = []  # {"epoch", "member", "path"} of each complete epoch so far

    def poll(self, limit: int = 10_000) -> list[Any]:
        """New complete events (at most `limit`), oldest first. A line without its newline yet,
        or whose arrays are not all in place, waits for the next poll."""
        path = self.folder / EVENTS
        try:
            with open(path, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        events = []
        position = 0
        while len(events) < limit:
            end = data.find(b"\n", position)
            if end < 0:
                break  # the last line is still being written
            line = data[position:end]
            try:
                record = json.loads(line.decode("utf-8"))
                if isinstance(record, dict) and "__finished__" in record:
                    self.finished = self._decode(record["__finished__"])
                elif isinstance(record, dict) and "__incomplete__" in record:
                    self.incomplete = str(record["__incomplete__"])
                elif isinstance(record, dict) and "__checkpoint__" in record:
                    self.checkpoints.append(dict(record["__checkpoint__"]))
                else:
                    events.append(self._decode(record))
            except _Pending:
                break  # the same line is tried again next time
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                pass  # a damaged line is skipped for good (it cannot get better)
            position = end + 1
        self._offset += position
        return events

    def status(self) -> str:
        """'finished', 'incomplete' (the writer said so, or its process on this machine is gone
        without finishing) or 'running'; read after poll() has taken the whole log."""
        if self.finished is not None:
            return "finished"
        if self.incomplete is not None:
            return "incomplete"
        lock = self.folder / LOCK
        try:
            owner = lock.read_text(errors="replace").strip()
        except FileNotFoundError:
            return "incomplete"  # no writer and no end line: it was killed between the two
        except OSError:
            return "running"
        return "incomplete" if _stale(owner) else "running"

    def describe_end(self) -> str:
        """One sentence for an incomplete run: why, and which epoch it keeps."""
        kept = [c for c in self.checkpoints if int(c.get("member", 0)) == 0]
        keeps = (f"It keeps epoch {int(kept[-1]['epoch']) + 1} ({kept[-1]['path']})." if kept
                 else "No epoch was complete.")
        return f"The run is incomplete: {self.incomplete or 'its training process stopped'}. {keeps}"

    def _decode(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._decode(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "__array__" in value:
            return self._array(str(value["__array__"]))
        if "__float__" in value:
            return float(value["__float__"])
        if "__tuple__" in value:
            return tuple(self._decode(v) for v in value["__tuple__"])
        if "__map__" in value:
            return {k: self._decode(v) for k, v in value["__map__"]}
        if "__event__" in value:
            cls = self._classes.get(value["__event__"])
            if cls is None:
                raise KeyError(value["__event__"])  # not an event this version knows: skipped
            fields = {k: self._decode(v) for k, v in value["fields"].items()}
            known = {f.name for f in dataclasses.fields(cls)}
            return cls(**{k: v for k, v in fields.items() if k in known})
        return {k: self._decode(v) for k, v in value.items()}

    def _array(self, relative: str) -> np.ndarray:
        path = (self.folder / relative).resolve()
        if self.folder.resolve() not in path.parents:
            raise KeyError(relative)  # a line must not make the reader open files outside the run
        try:
            return np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise _Pending from None
        except (ValueError, OSError, EOFError):
            raise _Pending from None  # synced folders may deliver the file in pieces
