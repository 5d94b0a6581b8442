"""`python main.py train`: train a network headless. Progress goes to stderr; the
last stdout line is one JSON object with the run's headline figures."""
from __future__ import annotations

import math
import os
import sys
from dataclasses import fields
from pathlib import Path

from . import print_json
from .args import int_in


def register(subparsers) -> None:
    from ..model import NORMALIZATIONS
    from ..schema import groups
    from ..train_settings import TRAIN_SETTINGS
    from .args import setting_argument

    p = subparsers.add_parser("train", help="train a network headless; last stdout line is JSON")
    by_title = {"data": p.add_argument_group("data")}
    g = by_title["data"]
    g.add_argument("--data-root", help="folder for image_folder / torchvision datasets")
    g.add_argument("--image-size", type=int_in(4, 1024, "--image-size"), default=32,
                   help="image_folder: resize to this square size (default 32)")
    g.add_argument("--download", action="store_true", help="torchvision datasets: download if missing (network)")
    g.add_argument("--limit", type=int_in(1, None, "--limit"),
                   help="torchvision datasets: keep this many training images")
    g.add_argument("--augment", default="", help="comma list: hflip, crop[=px], scale[=f], rotation[=deg], "
                                                 "jitter[=s], hue[=f]")
    norm = g.add_mutually_exclusive_group()
    norm.add_argument("--mean-subtract", dest="normalize", action="store_const", const="mean_image",
                      help="subtract the mean training image (the default)")
    norm.add_argument("--normalize", choices=NORMALIZATIONS, help="input normalization")
    g = p.add_argument_group("network")
    g.add_argument("--preset", help="a preset from resources/presets (default lenet5)")
    g.add_argument("--spec", help="an architecture JSON file")
    # Every training setting with a flag, from its schema (engine/train_settings.py): type, range,
    # choices and help are the ones the Training form and settings files use.
    for title, settings in groups(TRAIN_SETTINGS):
        flagged = [setting for setting in settings if setting.cli_flag]
        if flagged:
            g = by_title.get(title.lower()) or p.add_argument_group(title.lower())
            for setting in flagged:
                setting_argument(g, setting)
    g = p.add_argument_group("files")
    g.add_argument("--settings", help="a JSON file of TrainSettings; flags given explicitly still apply on top")
    g.add_argument("--out", help="save the run folder(s) here (checkpoint, spec, settings, history)")
    g.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)


def _settings_from_args(args):
    """Settings file (if any), then every flag given explicitly (flags default to None), then
    TrainSettings' defaults for the rest."""
    from ..augment import parse_augment_flags
    from ..train import TrainSettings, TrainSettingsError
    from ..train_settings import TRAIN_SETTINGS

    base = {}
    if args.settings:
        from ..validation import read_json_object

        base = read_json_object(args.settings, "settings file", TrainSettingsError)
        base = {k: v for k, v in base.items() if k in {f.name for f in fields(TrainSettings)}}
    values = dict(base)
    for setting in TRAIN_SETTINGS:
        value = getattr(args, setting.name, None) if setting.cli_flag else None
        if value is not None:
            values[setting.name] = value
    if "lr" not in values:  # Adam wants a much smaller step than SGD
        values["lr"] = 0.001 if values.get("optimizer") == "adam" else TrainSettings.lr
    if args.normalize:
        values["normalization"] = args.normalize
    if values.get("snapshot_ensemble", 0) >= 2:  # snapshots are taken at the ends of SGDR cycles
        if args.schedule is None:
            values["schedule"] = "sgdr"
        if args.sgdr_cycle_epochs is None and "sgdr_cycle_epochs" not in base:
            values["sgdr_cycle_epochs"] = values.get("epochs", TrainSettings.epochs) / values["snapshot_ensemble"]
    if args.augment:
        try:
            values.update(parse_augment_flags(args.augment))
        except ValueError as exc:
            raise TrainSettingsError(str(exc)) from exc
    settings = TrainSettings.from_dict(values)
    settings.validate()
    return settings


def _load_data(args, settings):
    from ..data import load_dataset

    name = settings.dataset
    if Path(name).expanduser().is_dir():
        return load_dataset("image_folder", root=str(Path(name).expanduser()), size=args.image_size)
    if name == "image_folder":
        from ..errors import DataError

        if not args.data_root:
            raise DataError("--dataset image_folder needs --data-root FOLDER (one sub-folder per class).")
        return load_dataset("image_folder", root=args.data_root, size=args.image_size)
    if name in ("mnist", "fashion_mnist", "cifar10"):
        options = {"download": bool(args.download)}
        if args.data_root:
            options["root"] = args.data_root
        if args.limit:
            options["limit"] = args.limit
        return load_dataset(name, **options)
    return load_dataset(name)


def _load_spec(args):
    from ..spec import NetworkSpec, load_preset

    if args.spec:
        return NetworkSpec.load(args.spec)
    return load_preset(args.preset or "lenet5")


def _clean(value):
    """JSON has no NaN: report missing figures as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


class _Progress:
    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.started = None

    def __call__(self, event) -> None:
        from ..train import EnsembleResult, EpochEnd, MemberFinished, TrainStarted

        if self.quiet:
            return
        if isinstance(event, TrainStarted):
            self.started = event
            who = f" member {event.member + 1}/{event.members}" if event.members > 1 else ""
            print(f"training{who} on {event.device}: {event.num_params:,} parameters, {event.epochs} epochs x "
                  f"{event.steps_per_epoch} steps", file=sys.stderr, flush=True)
        elif isinstance(event, EpochEnd):
            val = "" if math.isnan(event.val_acc) else f"  val loss {event.val_loss:.4f} acc {event.val_acc:.4f}"
            print(f"epoch {event.epoch + 1}/{self.started.epochs}  train loss {event.train_loss:.4f} "
                  f"acc {event.train_acc:.4f}{val}  lr {event.lr:.4g}  {event.seconds:.1f}s",
                  file=sys.stderr, flush=True)
        elif isinstance(event, MemberFinished):
            print(f"member {event.member + 1}: val acc {event.val_acc:.4f}", file=sys.stderr, flush=True)
        elif isinstance(event, EnsembleResult):
            print(f"{event.kind} ensemble of {len(event.member_val_accs)}: val acc {event.ensemble_val_acc:.4f}",
                  file=sys.stderr, flush=True)


def run(args) -> int:
    from .. import distributed
    from ..checkpoint import check_run_folder
    from ..device import configure_threads

    ranks = distributed.start()  # under torchrun: one of several processes (DDP); rank 0 reports and saves
    if ranks is not None and not ranks.is_main:
        args.quiet, args.out = True, None
    if args.out is not None:  # before any work: a bad --out must not cost a training run
        check_run_folder(args.out)
    # Processes of one machine share its cores (torchrun sets LOCAL_WORLD_SIZE).
    sharing = int(os.environ.get("LOCAL_WORLD_SIZE", "1")) if ranks is not None else 1
    configure_threads(max(1, (os.cpu_count() or 1) // max(1, sharing)) if sharing > 1 else None)
    settings = _settings_from_args(args)
    if args.out is not None and settings.ensemble > 1:
        for i in range(settings.ensemble):
            check_run_folder(Path(args.out) / f"member_{i + 1}")
    data = _load_data(args, settings)
    settings.dataset = data.name
    from ..schedules import check_plan, steps_per_epoch_for

    check_plan(settings, steps_per_epoch_for(len(data.train_x), settings.batch_size))  # absurd plans: refuse now
    spec = _load_spec(args)
    try:
        return _train_and_save(args, spec, data, settings, ranks)
    finally:
        distributed.stop()


def _first_sentence(exc: BaseException) -> str:
    """'Connection reset by peer' out of gloo's '[pair.cc:545] Read error ...: Connection reset by peer. This is…'."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    text = text.rsplit("] ", 1)[-1]
    return text.split(". ")[0].rsplit(": ", 1)[-1]


def _train_and_save(args, spec, data, settings, ranks) -> int:
    from ..checkpoint import save_run
    from ..train import fit

    progress = _Progress(args.quiet)
    log = None
    if args.out is not None:  # the run folder grows as it trains: File -> Follow run watches it
        from dataclasses import asdict

        from ..run_log import RunLogWriter

        log = RunLogWriter(args.out, spec.to_json(), {"dataset": data.name, **asdict(settings)})
    try:
        def on_event(event) -> None:
            progress(event)
            if log is not None:
                log.write(event)

        try:
            result = fit(spec, data, settings, on_event)
        except RuntimeError as exc:
            if ranks is None:
                raise
            from ..distributed import DistributedError

            raise DistributedError(f"Another training process stopped answering ({_first_sentence(exc)}). "
                                   "The run is incomplete: its folder keeps the last complete epoch "
                                   "(checkpoints/).") from exc
        summary = dict(result.summary)
        if log is not None:
            log.finish(_clean(summary))
    except BaseException as exc:  # the log says why it ends early (Ctrl+C, a dead rank, an error)
        if log is not None:
            log.close(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise
    finally:
        if log is not None:
            log.close()
    if args.out:
        out = Path(args.out)
        if len(result.members) > 1:
            for i, member in enumerate(result.members):
                save_run(out / f"member_{i + 1}", member)
            summary["out"] = [str(out / f"member_{i + 1}") for i in range(len(result.members))]
        else:
            save_run(out, result.run)
            summary["out"] = str(out)
    if ranks is None or ranks.is_main:
        print_json(_clean(summary))
    return 0
