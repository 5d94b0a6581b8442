"""One validation layer for values that come from files and the command line.

- `read_json_object(path, what, error)`: a small regular file (fileio.read_small_text),
  valid JSON, not nested absurdly deep, and an object at the top.
- `coerce_fields(cls, data, error, what)`: the values of a dataclass read from JSON,
  checked against the field types (int / float / bool / str / optional): finite
  numbers, integers within 64 bits, no text where a number belongs. Each refusal
  names the field.
"""
from __future__ import annotations

import json
import math
import numbers
import types
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConvScopeError

MAX_JSON_DEPTH = 64  # a real settings, spec or manifest file is nested a few levels
INT_LIMIT = 2**63 - 1


def json_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """Nesting depth of a parsed JSON value, without recursion (stops counting past `limit`)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def parse_json_text(text: str, what: str, error: type[ConvScopeError] = ConvScopeError) -> Any:
    """json.loads with every failure (bad syntax, absurd nesting) as one `error` sentence."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"The {what} is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}.") from None
    except RecursionError:
        raise error(f"The {what} is nested too deeply to be a ConvScope file.") from None
    if json_depth(data) > MAX_JSON_DEPTH:
        raise error(f"The {what} is nested more than {MAX_JSON_DEPTH} levels deep; it is not a ConvScope file.")
    return data


def read_json_object(path: str | Path, what: str, error: type[ConvScopeError] = ConvScopeError) -> dict:
    """A JSON object from a small regular file; `error` (one sentence) otherwise."""
    from .fileio import InputFileError, read_small_text

    try:
        text = read_small_text(path, what=what)
    except InputFileError as exc:
        raise error(str(exc)) from None
    data = parse_json_text(text, f"{what} {path}", error)
    if not isinstance(data, dict):
        raise error(f"The {what} {path} must hold a JSON object ({{\"name\": value, ...}}), "
                    f"not {describe_json(data)}.")
    return data


def describe_json(value: Any) -> str:
    """'a list', 'the text \"0.1\"', 'true', 'null'... for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the text {shown!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return repr(value)


def _base_type(annotation: Any) -> tuple[type | None, bool]:
    """(int|float|bool|str or None when unknown, optional?) from a field's type hint."""
    optional = False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0] if len(args) == 1 else None
    if annotation in (int, float, bool, str):
        return annotation, optional
    return None, optional


def coerce_value(name: str, value: Any, kind: type | None, optional: bool, error: type[ConvScopeError],
                 what: str) -> Any:
    """One field's value checked against its type; `error` naming the field otherwise."""
    if value is None:
        if optional or kind is None:
            return None
        raise error(f"{what} '{name}' must be {_expected(kind)}, not null.")
    if kind is None:
        return value
    if kind is bool:
        if isinstance(value, bool) or isinstance(value, np.bool_):  # numpy's bool too
            return bool(value)
        raise error(f"{what} '{name}' must be true or false, not {describe_json(value)}.")
    if kind is str:
        if isinstance(value, str):
            if len(value) > 4096:
                raise error(f"{what} '{name}' is {len(value):,} characters long; that cannot be right.")
            return value
        raise error(f"{what} '{name}' must be text, not {describe_json(value)}.")
    if isinstance(value, bool) or isinstance(value, np.bool_) or not isinstance(value, numbers.Real):
        raise error(f"{what} '{name}' must be {_expected(kind)}, not {describe_json(value)}.")
    if isinstance(value, numbers.Integral):
        value = int(value)  # numpy integers too
    else:
        value = float(value)
    if kind is int:
        if isinstance(value, float):
            if not (math.isfinite(value) and value.is_integer()):
                raise error(f"{what} '{name}' must be a whole number, not {describe_json(value)}.")
            value = int(value)
        if abs(value) > INT_LIMIT:
            raise error(f"{what} '{name}' is {value}, far outside any sensible range.")
        return int(value)
    # float
    if isinstance(value, int) and abs(value) > 1e300:
        raise error(f"{what} '{name}' is far outside any sensible range.")
    value = float(value)
    if not math.isfinite(value):
        raise error(f"{what} '{name}' must be a finite number, not {describe_json(value)}.")
    return value


def _expected(kind: type) -> str:
    return {int: "a whole number", float: "a number", bool: "true or false", str: "text"}.get(kind, "a value")


def coerce_fields(cls: type, data: dict, error: type[ConvScopeError], what: str) -> dict:
    """The known fields of `data` checked against the dataclass `cls` (unknown keys are left out)."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in fields(cls):
        if f.name in data:
            kind, optional = _base_type(hints.get(f.name))
            out[f.name] = coerce_value(f.name, data[f.name], kind, optional, error, what)
    return out
