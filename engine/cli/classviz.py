"""`python main.py classviz CLASS [--steps N] [--style cs231n|lucid] --out PNG`
`python main.py classviz --layer L --channel C --out PNG` (a hidden unit)

Synthesize an image the classifier takes for CLASS (index or name, e.g.
"king penguin"), or one that maximizes channel C of layer L (a module path such as
blocks.3.0.conv_pw). The last stdout line is JSON with class, final_prob (measured
on the saved 8-bit image), style, steps, top1 (and layer, channel, unit_activation).
"""
from __future__ import annotations

import sys

from engine.cli import print_json
from engine.cli.args import add_model_arguments, int_in, load_model_from_args, seed_type


def register(subparsers) -> None:
    parser = subparsers.add_parser("classviz", help="class visualization: an image that maximises a class (PNG + JSON)",
                                   description=__doc__.strip().splitlines()[0])
    parser.add_argument("target", metavar="CLASS", nargs="?", help="class index or name")
    parser.add_argument("--layer", help="maximize a hidden unit of this layer (module path) instead of a class")
    parser.add_argument("--channel", type=int_in(0, None, "--channel"), help="the hidden unit's channel")
    parser.add_argument("--steps", type=int_in(1, 100_000, "--steps"), default=200,
                        help="optimisation steps (default 200)")
    parser.add_argument("--style", default="lucid", choices=["lucid", "cs231n"])
    parser.add_argument("--start", default=None, help="start from this photo (file or bundled:NAME) instead of noise")
    parser.add_argument("--seed", type=seed_type(), default=0)
    parser.add_argument("--out", required=True, help="output PNG")
    add_model_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from engine.classviz import ClassVizPreview, class_visualization_job
    from engine.cli.predict import load_input
    from engine.events import run_to_end
    from engine.images import save_png
    from engine.fileio import check_output_file
    from engine.errors import ModelError

    if (args.layer is None) != (args.channel is None):
        raise ModelError("A hidden unit needs both --layer and --channel.")
    if args.target is None and args.layer is None:
        raise ModelError("Say which class to visualize (CLASS), or a hidden unit (--layer and --channel).")
    check_output_file(args.out, inputs=[args.start] if args.start else [], what="output PNG")
    classifier = load_model_from_args(args)
    unit = None if args.layer is None else (_model_path(args.layer), args.channel)
    start = None if args.start is None else load_input(args.start)

    def on_event(event) -> None:
        if isinstance(event, ClassVizPreview) and (event.step % 25 == 0 or event.step == event.steps):
            what = "unit activation" if unit else "score"
            print(f"step {event.step}/{event.steps}: p = {event.target_prob:.3f}, {what} {event.score:.2f}",
                  file=sys.stderr)

    result = run_to_end(class_visualization_job(classifier, args.target or 0, style=args.style, steps=args.steps,
                                                start_image=start, seed=args.seed, preview_every=5, unit=unit),
                        on_event)
    save_png(args.out, result.image)
    summary = result.summary()
    summary["out"] = args.out
    print_json(summary)
    return 0


def _model_path(layer: str) -> str:
    """Layer paths are given as the network names them (blocks.3.0.conv_pw); the classifier
    wraps the network as `net` behind its input normalization."""
    return layer if layer.startswith("net.") else f"net.{layer}"
