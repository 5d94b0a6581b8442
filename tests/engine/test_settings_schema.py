"""One schema (engine/train_settings.py TRAIN_SETTINGS, engine/schema.py) describes every
training setting; the dataclass, the CLI flags and the range checks agree with it."""
from __future__ import annotations

import argparse
import typing
from dataclasses import fields

import pytest

from engine.schema import Setting
from engine.train_settings import TRAIN_SETTINGS, TrainSettings, train_setting
from engine.validation import _base_type


def _parser():
    from engine.cli.train import register

    parser = argparse.ArgumentParser(exit_on_error=False)
    register(parser.add_subparsers())
    return parser


def test_every_field_is_described_once_with_its_type_and_default():
    names = [s.name for s in TRAIN_SETTINGS]
    assert len(names) == len(set(names))
    hints = typing.get_type_hints(TrainSettings)
    assert set(names) == {f.name for f in fields(TrainSettings)}
    for f in fields(TrainSettings):
        setting = train_setting(f.name)
        assert setting.kind is _base_type(hints[f.name])[0]
        assert setting.default == f.default
        assert setting.problem(setting.default) is None, setting.name
        assert setting.help and setting.group


def _other_value(setting: Setting):
    """A valid value other than the default, and how it is typed on the command line."""
    if setting.kind is bool:
        return (not setting.default), [setting.cli_flag if not setting.default else "--no-" + setting.cli_flag[2:]]
    if setting.choices:
        value = next(v for v in setting.choice_values if v != setting.default)
        return value, [setting.cli_flag, value]
    if setting.kind in (int, float):
        value = setting.maximum if setting.maximum is not None else (setting.minimum or 0) + 7
        value = setting.kind(value)
        if setting.high_open:
            value = setting.kind((setting.maximum + (setting.minimum or 0)) / 2)
        return value, [setting.cli_flag, str(value)]
    return "shapes", [setting.cli_flag, "shapes"]


@pytest.mark.parametrize("setting", [s for s in TRAIN_SETTINGS if s.cli_flag], ids=lambda s: s.name)
def test_each_flag_sets_its_field(setting):
    value, argv = _other_value(setting)
    args = _parser().parse_args(["train", *argv])
    assert getattr(args, setting.name) == value
    untouched = _parser().parse_args(["train"])
    assert getattr(untouched, setting.name) is None  # not given: the settings file or the default applies


@pytest.mark.parametrize("setting", [s for s in TRAIN_SETTINGS if s.cli_flag and s.kind in (int, float)
                                     and s.maximum is not None], ids=lambda s: s.name)
def test_flag_and_settings_refuse_the_same_values(setting):
    too_big = setting.kind(setting.maximum * 2 + 1)
    assert setting.problem(too_big) is not None
    with pytest.raises((argparse.ArgumentError, SystemExit)):
        _parser().parse_args(["train", setting.cli_flag, str(too_big)])
    problems = TrainSettings(**{setting.name: too_big}).problems()
    assert any(setting.display_label in p or f"'{setting.name}'" in p for p in problems), problems


def test_range_messages_name_the_setting_and_the_bound():
    assert TrainSettings(momentum=1.0).problems() == ["Momentum must be below 1 (got 1)."]
    assert TrainSettings(epochs=0).problems() == ["Epochs must be at least 1 (got 0)."]
    assert TrainSettings(lr=0.0).problems() == ["Learning rate must be greater than 0 (got 0)."]
    assert "Unknown schedule 'weekly'" in TrainSettings(schedule="weekly").problems()[0]
    assert TrainSettings(dropout=None, seed=None).problems() == []  # None means 'as in network' / 'random'


def test_settings_file_and_flags_combine(tmp_path):
    from engine.cli.train import _settings_from_args

    path = tmp_path / "s.json"
    path.write_text('{"epochs": 3, "momentum": 0.5, "optimizer": "adam"}')
    settings = _settings_from_args(_parser().parse_args(["train", "--settings", str(path), "--momentum", "0.9"]))
    assert (settings.epochs, settings.momentum, settings.optimizer) == (3, 0.9, "adam")
    assert settings.lr == 0.001  # Adam's default step when no lr is given anywhere
    snapshot = _settings_from_args(_parser().parse_args(["train", "--epochs", "6", "--snapshot-ensemble", "3"]))
    assert (snapshot.schedule, snapshot.sgdr_cycle_epochs) == ("sgdr", 2.0)
