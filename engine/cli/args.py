"""argparse types for the headless commands: every number is checked when the
command line is parsed (finite, in range), so a bad flag gives argparse's one-line
usage error instead of a traceback later, and no work starts."""
from __future__ import annotations

import argparse
import math

SEED_MAX = 2**63 - 1  # torch.manual_seed accepts 0 .. 2**64 - 1 (the trainer adds member offsets)
SEED_MAX_32 = 2**32 - 1  # scikit-learn / numpy RandomState seeds (t-SNE, PCA, splits)
MAX_IMAGE_SIDE = 8192  # screenshots --size and similar: larger windows crash Qt's painter


def _number_text(text: str) -> str:
    return str(text).strip()


def int_in(low: int | None = None, high: int | None = None, name: str = "value"):
    """An argparse type: an integer in [low, high] (either bound may be None)."""

    def parse(text: str) -> int:
        raw = _number_text(text)
        try:
            value = int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number, not '{text}'") from None
        if low is not None and value < low:
            raise argparse.ArgumentTypeError(f"{name} must be at least {low:,}, not {value:,}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{name} must be at most {high:,}, not {value:,}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its message
    return parse


def float_in(low: float | None = None, high: float | None = None, name: str = "value",
             low_open: bool = False, high_open: bool = False):
    """An argparse type: a finite float in [low, high] (open ends on request)."""

    def parse(text: str) -> float:
        raw = _number_text(text)
        try:
            value = float(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, not '{text}'") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{name} must be a finite number, not '{text}'")
        if low is not None and (value < low or (low_open and value == low)):
            bound = "greater than" if low_open else "at least"
            raise argparse.ArgumentTypeError(f"{name} must be {bound} {low:g}, not {value:g}")
        if high is not None and (value > high or (high_open and value == high)):
            bound = "less than" if high_open else "at most"
            raise argparse.ArgumentTypeError(f"{name} must be {bound} {high:g}, not {value:g}")
        return value

    parse.__name__ = "number"
    return parse


def seed_type(name: str = "--seed", high: int = SEED_MAX):
    return int_in(0, high, name)


def size_type(text: str) -> tuple[int, int]:
    """WxH, each side 1..MAX_IMAGE_SIDE."""
    parts = _number_text(text).lower().split("x")
    try:
        if len(parts) != 2:
            raise ValueError
        width, height = int(parts[0]), int(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size must look like 1400x900 (width x height), not '{text}'") from None
    for value in (width, height):
        if not 64 <= value <= MAX_IMAGE_SIDE:
            raise argparse.ArgumentTypeError(
                f"--size sides must be between 64 and {MAX_IMAGE_SIDE} pixels, not {width}x{height}")
    return width, height


size_type.__name__ = "size"


def setting_argument(group, setting) -> None:
    """A flag for one engine.schema.Setting: its type and range check, its choices, its help.
    The flag defaults to None (not given), so a settings file or the dataclass default applies."""
    flag = setting.cli_flag
    metavar = flag.lstrip("-").upper().replace("-", "_")
    default = "off" if setting.default is False else setting.default
    help_text = setting.help.rstrip(".") + (f" (default {default})" if default not in (None, "") else "")
    help_text = help_text.replace("%", "%%")  # argparse formats help with %
    if setting.kind is bool:
        group.add_argument(flag, dest=setting.name, action=argparse.BooleanOptionalAction, default=None,
                           help=help_text)
    elif setting.choices:
        group.add_argument(flag, dest=setting.name, choices=setting.choice_values, default=None, help=help_text)
    elif setting.kind is int:
        group.add_argument(flag, dest=setting.name, default=None, help=help_text, metavar=metavar,
                           type=int_in(None if setting.minimum is None else int(setting.minimum),
                                       None if setting.maximum is None else int(setting.maximum), flag))
    elif setting.kind is float:
        group.add_argument(flag, dest=setting.name, default=None, help=help_text, metavar=metavar,
                           type=float_in(setting.minimum, setting.maximum, flag, low_open=setting.low_open,
                                         high_open=setting.high_open))
    else:
        group.add_argument(flag, dest=setting.name, default=None, help=help_text, metavar=metavar)


def add_model_arguments(parser, default: str = "efficientnet_lite0") -> None:
    """--model NAME|WEIGHTS, --arch, --class-names: the embedded/cached classifiers by name, or
    the user's own weights file with its architecture (engine.user_model)."""
    parser.add_argument("--model", default=default,
                        help=f"a classifier name (default {default}) or a weights file (.pt/.pth/.safetensors; "
                             "needs --arch)")
    parser.add_argument("--arch", help="torchvision or timm architecture of --model's weights file, e.g. resnet18")
    parser.add_argument("--class-names", help="text (one per line) or JSON file of the weights file's class names")


def load_model_from_args(args):
    from pathlib import Path

    from ..errors import ModelError

    model = str(args.model)
    if args.arch or Path(model).suffix.lower() in (".pt", ".pth", ".safetensors", ".bin"):
        if not args.arch:
            raise ModelError(f"--model {model} is a weights file: say its architecture with --arch (e.g. resnet18).")
        from ..user_model import load_user_classifier

        return load_user_classifier(args.arch, model, args.class_names)
    if args.class_names:
        raise ModelError("--class-names goes with a weights file (--model FILE --arch NAME).")
    from ..pretrained import load_classifier

    return load_classifier(model)
