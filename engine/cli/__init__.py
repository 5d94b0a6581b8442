"""Headless sub-commands of main.py. Each module in COMMANDS has
`register(subparsers)` which adds its parser with `set_defaults(func=run)`,
and `run(args) -> int`. They use the engine only (no Qt)."""
from __future__ import annotations

import importlib
import json
import sys

COMMANDS: list[str] = ["dogfood", "embed", "train", "inspect", "predict", "saliency", "fool", "classviz", "lesson",
                       "live"]


def register_all(subparsers) -> None:
    for name in COMMANDS:
        importlib.import_module(f"engine.cli.{name}").register(subparsers)


def print_json(obj) -> None:
    """The last stdout line of a command: one JSON object."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
