"""`python main.py classviz CLASS [--steps N] [--style cs231n|lucid] --out PNG`

Synthesize an image the classifier takes for CLASS (index or name, e.g.
"king penguin"). The last stdout line is JSON with class, final_prob (measured
on the saved 8-bit image), style, steps, top1.
"""
from __future__ import annotations

import sys

from engine.cli import print_json
from engine.cli.args import int_in, seed_type


def register(subparsers) -> None:
    parser = subparsers.add_parser("classviz", help="class visualization: an image that maximises a class (PNG + JSON)",
                                   description=__doc__.strip().splitlines()[0])
    parser.add_argument("target", metavar="CLASS", help="class index or name")
    parser.add_argument("--steps", type=int_in(1, 100_000, "--steps"), default=200,
                        help="optimisation steps (default 200)")
    parser.add_argument("--style", default="lucid", choices=["lucid", "cs231n"])
    parser.add_argument("--start", default=None, help="start from this photo (file or bundled:NAME) instead of noise")
    parser.add_argument("--seed", type=seed_type(), default=0)
    parser.add_argument("--out", required=True, help="output PNG")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.set_defaults(func=run)


def run(args) -> int:
    from engine.classviz import ClassVizPreview, class_visualization_job
    from engine.cli.predict import load_input
    from engine.events import run_to_end
    from engine.images import save_png
    from engine.fileio import check_output_file
    from engine.pretrained import load_classifier

    check_output_file(args.out, inputs=[args.start] if args.start else [], what="output PNG")
    classifier = load_classifier(args.model)
    start = None if args.start is None else load_input(args.start)

    def on_event(event) -> None:
        if isinstance(event, ClassVizPreview) and (event.step % 25 == 0 or event.step == event.steps):
            print(f"step {event.step}/{event.steps}: p = {event.target_prob:.3f}, score {event.score:.1f}",
                  file=sys.stderr)

    result = run_to_end(class_visualization_job(classifier, args.target, style=args.style, steps=args.steps,
                                                start_image=start, seed=args.seed, preview_every=5), on_event)
    save_png(args.out, result.image)
    summary = result.summary()
    summary["out"] = args.out
    print_json(summary)
    return 0
