"""`python main.py dogfood TEST_DIR [--finetune TRAIN_DIR] [--groups FILE]`

Zero-shot remap of the 1000-class ImageNet classifier to class groups (dog vs
food by default), or a new fine-tuned head, evaluated on a test folder whose
sub-folders name the groups. Progress goes to stderr; the last stdout line is
JSON with dog_acc, food_acc (one '<group>_acc' per group), accuracy, n,
skipped (count) and skipped_reasons.
"""
from __future__ import annotations

import sys

from engine.cli import print_json
from engine.cli.args import SEED_MAX_32, float_in, int_in, seed_type


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "dogfood", help="1000 -> 2 classes: evaluate the dog vs food remap (or a fine-tuned head) on a folder",
        description=__doc__.strip().splitlines()[0])
    parser.add_argument("test_dir", metavar="TEST_DIR", help="folder with one sub-folder per group (dog/, food/)")
    parser.add_argument("--finetune", metavar="TRAIN_DIR", default=None,
                        help="train a new final layer on this folder (backbone frozen) instead of the zero-shot remap")
    parser.add_argument("--groups", default=None,
                        help="class-group JSON file or shipped name (default resources/class_groups/dog_vs_food.json)")
    parser.add_argument("--model", default="efficientnet_lite0", help="pretrained ImageNet classifier")
    parser.add_argument("--epochs", type=int_in(1, 10_000, "--epochs"), default=30,
                        help="fine-tuning epochs (default 30)")
    parser.add_argument("--lr", type=float_in(0.0, 100.0, "--lr", low_open=True), default=3e-3,
                        help="fine-tuning learning rate (default 3e-3)")
    parser.add_argument("--unfreeze-last-block", action="store_true",
                        help="also train a copy of the backbone's last block (slower)")
    parser.add_argument("--seed", type=seed_type(high=SEED_MAX_32), default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.set_defaults(func=run)


def run(args) -> int:
    from engine.events import Progress, run_to_end
    from engine.transfer import TransferEpochEnd, finetune_job, load_groups, zero_shot_job

    groups = load_groups(args.groups)

    def on_event(event) -> None:
        if args.quiet:
            return
        if isinstance(event, TransferEpochEnd):
            print(f"epoch {event.epoch}/{event.epochs}: train loss {event.train_loss:.4f} "
                  f"acc {event.train_acc:.3f}, held-out acc {event.val_acc:.3f}", file=sys.stderr)
        elif isinstance(event, Progress) and event.done >= event.total:
            print(event.message, file=sys.stderr)

    if args.finetune:
        result = run_to_end(finetune_job(args.finetune, groups, args.test_dir, model_name=args.model,
                                         epochs=args.epochs, lr=args.lr, unfreeze_last_block=args.unfreeze_last_block,
                                         seed=args.seed), on_event)
        summary = result.summary()
    else:
        report = run_to_end(zero_shot_job(args.test_dir, groups, model_name=args.model), on_event)
        summary = report.summary()
    summary["groups_title"] = groups.title
    if not args.quiet:
        for name, accuracy in summary["per_group"].items():
            print(f"{name}: {accuracy['accuracy']} of {accuracy['n']}", file=sys.stderr)
    print_json(summary)
    return 0
