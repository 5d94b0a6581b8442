"""`python main.py train`: train a network headless. Progress goes to stderr; the
last stdout line is one JSON object with the run's headline figures."""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import fields
from pathlib import Path

from . import print_json
from .args import float_in, int_in, seed_type


def register(subparsers) -> None:
    from ..initialization import INIT_SCHEMES
    from ..model import NORMALIZATIONS
    from ..schedules import SCHEDULES
    from ..train import DEVICES, MAX_EPOCHS, OPTIMIZERS, TrainSettings

    d = TrainSettings()
    p = subparsers.add_parser("train", help="train a network headless; last stdout line is JSON",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default=d.dataset,
                   help="mnist5k, digits, shapes, image_folder, mnist, fashion_mnist, cifar10, or a folder path "
                        "(ImageFolder layout)")
    g.add_argument("--data-root", help="folder for image_folder / torchvision datasets")
    g.add_argument("--image-size", type=int_in(4, 1024, "--image-size"), default=32,
                   help="image_folder: resize to this square size")
    g.add_argument("--download", action="store_true", help="torchvision datasets: download if missing (network)")
    g.add_argument("--limit", type=int_in(1, None, "--limit"),
                   help="torchvision datasets: keep this many training images")
    g = p.add_argument_group("network")
    g.add_argument("--preset", help="a preset from resources/presets (default lenet5)")
    g.add_argument("--spec", help="an architecture JSON file")
    g = p.add_argument_group("optimization")
    g.add_argument("--epochs", type=int_in(1, MAX_EPOCHS, "--epochs"), default=d.epochs)
    g.add_argument("--batch-size", type=int_in(1, 1_000_000, "--batch-size"), default=d.batch_size)
    g.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer)
    g.add_argument("--lr", type=float_in(0.0, None, "--lr", low_open=True),
                   help=f"learning rate (default {d.lr} for sgd, 0.001 for adam)")
    g.add_argument("--momentum", type=float_in(0.0, 1.0, "--momentum", high_open=True), default=d.momentum)
    g.add_argument("--nesterov", action="store_true")
    g.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule (default constant; sgdr with "
                                                         "--snapshot-ensemble)")
    g.add_argument("--step-size", type=float_in(0.0, None, "--step-size", low_open=True), default=d.step_size,
                   help="step decay: epochs between drops")
    g.add_argument("--gamma", type=float_in(0.0, 1.0, "--gamma", low_open=True), default=d.gamma,
                   help="step decay: factor per drop")
    g.add_argument("--decay", type=float_in(0.0, None, "--decay"), default=d.decay,
                   help="exponential / 1/t decay rate k (per epoch)")
    g.add_argument("--lr-min", type=float_in(0.0, None, "--lr-min"), default=d.lr_min, help="cosine / sgdr floor")
    g.add_argument("--cycle-epochs", type=float_in(0.0, MAX_EPOCHS, "--cycle-epochs", low_open=True),
                   help="sgdr: first cycle length in epochs (default 1, or epochs / K for a snapshot ensemble)")
    g.add_argument("--cycle-mult", type=float_in(1.0, 100.0, "--cycle-mult"), default=d.sgdr_mult,
                   help="sgdr: cycle length multiplier")
    g.add_argument("--warmup", type=float_in(0.0, MAX_EPOCHS, "--warmup"), default=d.warmup_epochs,
                   help="linear warm-up epochs")
    g = p.add_argument_group("regularization")
    g.add_argument("--weight-decay", type=float_in(0.0, None, "--weight-decay"), default=d.weight_decay,
                   help="L2 lambda (coupled weight decay)")
    g.add_argument("--l1", type=float_in(0.0, None, "--l1"), default=d.l1,
                   help="L1 lambda: lambda * sum|w| added to the loss")
    g.add_argument("--elastic-net", type=float_in(0.0, None, "--elastic-net"), default=d.elastic_net,
                   help="elastic net lambda: lambda * sum(beta w^2 + |w|)")
    g.add_argument("--elastic-beta", type=float_in(0.0, None, "--elastic-beta"), default=d.elastic_beta)
    g.add_argument("--dropout", type=float_in(0.0, 1.0, "--dropout", high_open=True),
                   help="set p of every Dropout layer")
    g.add_argument("--init", choices=INIT_SCHEMES, default=d.init)
    g.add_argument("--batchnorm", action="store_true", help="insert BatchNorm after every conv / hidden linear")
    g.add_argument("--augment", default="", help="comma list: hflip, crop[=px], scale[=f], rotation[=deg], "
                                                 "jitter[=s]")
    norm = g.add_mutually_exclusive_group()
    norm.add_argument("--mean-subtract", dest="normalize", action="store_const", const="mean_image",
                      help="subtract the mean training image (the default)")
    norm.add_argument("--normalize", choices=NORMALIZATIONS, help="input normalization")
    g = p.add_argument_group("ensembles and machinery")
    g.add_argument("--ensemble", type=int_in(1, 100, "--ensemble"), default=d.ensemble,
                   help="K independently initialized models")
    g.add_argument("--snapshot-ensemble", type=int_in(0, 100, "--snapshot-ensemble"), default=d.snapshot_ensemble,
                   help="K snapshots at the ends of SGDR cycles of one run")
    g.add_argument("--device", choices=DEVICES, default=d.device)
    g.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    g.add_argument("--seed", type=seed_type(), default=d.seed)
    g.add_argument("--val-every", type=int_in(1, MAX_EPOCHS, "--val-every"), default=d.val_every)
    g.add_argument("--settings", help="a JSON file of TrainSettings; flags given explicitly still apply on top")
    g.add_argument("--out", help="save the run folder(s) here (checkpoint, spec, settings, history)")
    g.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)


def _settings_from_args(args, parser_defaults: dict):
    from ..augment import parse_augment_flags
    from ..train import TrainSettings, TrainSettingsError

    base = {}
    if args.settings:
        from ..validation import read_json_object

        base = read_json_object(args.settings, "settings file", TrainSettingsError)
        base = {k: v for k, v in base.items() if k in {f.name for f in fields(TrainSettings)}}
    flag_map = {
        "dataset": "dataset", "epochs": "epochs", "batch_size": "batch_size", "optimizer": "optimizer",
        "momentum": "momentum", "step_size": "step_size", "gamma": "gamma", "decay": "decay", "lr_min": "lr_min",
        "cycle_mult": "sgdr_mult", "warmup": "warmup_epochs", "weight_decay": "weight_decay", "l1": "l1",
        "elastic_net": "elastic_net", "elastic_beta": "elastic_beta", "init": "init", "ensemble": "ensemble",
        "snapshot_ensemble": "snapshot_ensemble", "device": "device", "seed": "seed", "val_every": "val_every",
    }
    values = dict(base)
    for flag, name in flag_map.items():
        value = getattr(args, flag)
        if name not in base or value != parser_defaults.get(flag):
            values[name] = value
    if args.lr is not None:
        values["lr"] = args.lr
    elif "lr" not in base:
        values["lr"] = 0.001 if values.get("optimizer") == "adam" else TrainSettings.lr
    if args.nesterov:
        values["nesterov"] = True
    if args.batchnorm:
        values["batchnorm"] = True
    if args.amp:
        values["amp"] = True
    if args.dropout is not None:
        values["dropout"] = args.dropout
    if args.normalize:
        values["normalization"] = args.normalize
    if args.schedule:
        values["schedule"] = args.schedule
    if args.cycle_epochs is not None:
        values["sgdr_cycle_epochs"] = args.cycle_epochs
    if values.get("snapshot_ensemble", 0) >= 2:
        values.setdefault("schedule", "sgdr")
        if args.schedule is None and values["schedule"] != "sgdr":
            values["schedule"] = "sgdr"
        if args.cycle_epochs is None and "sgdr_cycle_epochs" not in base:
            values["sgdr_cycle_epochs"] = values["epochs"] / values["snapshot_ensemble"]
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
    from ..checkpoint import save_run
    from ..device import configure_threads
    from ..checkpoint import check_run_folder
    from ..train import fit

    if args.out is not None:  # before any work: a bad --out must not cost a training run
        check_run_folder(args.out)
    configure_threads()
    parser_defaults = {}
    scratch = argparse.ArgumentParser()
    register(scratch.add_subparsers())
    parser_defaults = vars(scratch.parse_args(["train"]))
    settings = _settings_from_args(args, parser_defaults)
    if args.out is not None and settings.ensemble > 1:
        for i in range(settings.ensemble):
            check_run_folder(Path(args.out) / f"member_{i + 1}")
    data = _load_data(args, settings)
    settings.dataset = data.name
    from ..schedules import check_plan, steps_per_epoch_for

    check_plan(settings, steps_per_epoch_for(len(data.train_x), settings.batch_size))  # absurd plans: refuse now
    spec = _load_spec(args)
    result = fit(spec, data, settings, _Progress(args.quiet))
    summary = dict(result.summary)
    if args.out:
        out = Path(args.out)
        if len(result.members) > 1:
            for i, member in enumerate(result.members):
                save_run(out / f"member_{i + 1}", member)
            summary["out"] = [str(out / f"member_{i + 1}") for i in range(len(result.members))]
        else:
            save_run(out, result.run)
            summary["out"] = str(out)
    print_json(_clean(summary))
    return 0
