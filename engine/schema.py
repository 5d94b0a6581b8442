"""One description of every value a user sets: a layer's degrees of freedom and the training
settings. Each `Setting` says its type, range, default, label, help and group once; the
Training form, the layer editor, the CLI flags and the typed loading of settings files are
all derived from it (gui/widgets/setting_editor.py, engine/cli/train.py, engine/validation.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str  # the field / parameter name (TrainSettings field, LayerSpec.params key)
    kind: type  # int, float, bool or str
    default: Any
    help: str
    label: str = ""  # shown in forms; "" -> the name with spaces
    minimum: float | None = None
    maximum: float | None = None
    low_open: bool = False  # the minimum itself is not allowed (e.g. a learning rate > 0)
    high_open: bool = False  # the maximum itself is not allowed (e.g. momentum < 1)
    choices: tuple[tuple[str, str], ...] = ()  # (value, label) pairs of a fixed set of text values
    none_label: str = ""  # the value may be None; what None means ("as in network", "random")
    zero_label: str = ""  # 0 means something special ("all", "off"); forms show this text at 0
    group: str = ""
    step: float | None = None  # spin-box step (None: 1 for int, a tenth of the range's scale for float)
    decimals: int = 3
    flag: str | None = ""  # CLI flag: "" -> --name-with-dashes, None -> no flag of its own
    only_when: tuple[str, tuple[str, ...]] | None = None  # (other setting, its values) for this one to matter
    in_form: bool = True  # shown in the Training form (False: set elsewhere, e.g. the Data panel)

    @property
    def display_label(self) -> str:
        return self.label or self.name.replace("_", " ")

    @property
    def cli_flag(self) -> str | None:
        if self.flag is None:
            return None
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def choice_values(self) -> tuple[str, ...]:
        return tuple(value for value, _label in self.choices)

    def range_text(self) -> str:
        low = "" if self.minimum is None else f"{'>' if self.low_open else '>='} {self.minimum:,g}"
        high = "" if self.maximum is None else f"{'<' if self.high_open else '<='} {self.maximum:,g}"
        return " and ".join(part for part in (low, high) if part)

    def problem(self, value: Any) -> str | None:
        """One sentence if `value` is outside this setting's range or choices (its type is
        checked by engine.validation when settings are loaded); None when fine."""
        if value is None:
            return None if self.none_label else f"{self.display_label} needs a value."
        if self.choices:
            if value not in self.choice_values:
                known = ", ".join(self.choice_values)
                return f"Unknown {self.display_label.lower()} '{value}'. Choose one of: {known}."
            return None
        if self.kind not in (int, float) or isinstance(value, bool):
            return None
        number = float(value)
        if not math.isfinite(number):
            return f"{self.display_label} must be a finite number."
        too_low = self.minimum is not None and (number < self.minimum or (self.low_open and number == self.minimum))
        too_high = self.maximum is not None and (number > self.maximum or (self.high_open and number == self.maximum))
        if too_low:
            bound = f"{'greater than' if self.low_open else 'at least'} {self.minimum:,g}"
        elif too_high:
            bound = f"{'below' if self.high_open else 'at most'} {self.maximum:,g}"
        else:
            return None
        return f"{self.display_label} must be {bound} (got {value:,g})."


def find(settings: tuple[Setting, ...], name: str) -> Setting:
    for setting in settings:
        if setting.name == name:
            return setting
    raise KeyError(name)


def groups(settings: tuple[Setting, ...]) -> list[tuple[str, list[Setting]]]:
    """The settings by group, groups in order of first appearance."""
    out: dict[str, list[Setting]] = {}
    for setting in settings:
        out.setdefault(setting.group, []).append(setting)
    return list(out.items())
