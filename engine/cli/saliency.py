"""`python main.py saliency IMAGE --method NAME [--target CLASS] --out PNG`

Saliency map of one image for a class (default: the predicted one), saved as a
PNG of the model's input crop, the map, and the overlay side by side. Methods:
vanilla, smoothgrad, integrated_gradients, guided_backprop, gradcam, occlusion
(or "all"). The last stdout line is JSON with image, method(s), target, seconds.
"""
from __future__ import annotations

import sys

from engine.cli import print_json
from engine.cli.args import float_in


def register(subparsers) -> None:
    parser = subparsers.add_parser("saliency", help="saliency map of an image for a class (PNG + JSON)",
                                   description=__doc__.strip().splitlines()[0])
    parser.add_argument("image", metavar="IMAGE", help="image file (or bundled:NAME)")
    parser.add_argument("--method", default="vanilla", help="vanilla, smoothgrad, integrated_gradients, "
                        "guided_backprop, gradcam, occlusion, or all (default vanilla)")
    parser.add_argument("--target", default=None, help="class index or name (default: the predicted class)")
    parser.add_argument("--out", required=True, help="output PNG")
    parser.add_argument("--opacity", type=float_in(0.0, 1.0, "--opacity"), default=0.6,
                        help="overlay opacity 0-1 (default 0.6)")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from engine.attribution import METHODS, colorize, method_key, overlay, saliency_job
    from engine.cli.predict import load_input
    from engine.events import run_to_end
    from engine.images import save_png
    from engine.fileio import check_output_file
    from engine.pretrained import load_classifier

    check_output_file(args.out, inputs=[args.image], what="output PNG")
    methods = list(METHODS) if args.method.strip().lower() == "all" else [method_key(args.method)]
    classifier = load_classifier(args.model)
    x01 = classifier.preprocess(load_input(args.image))
    maps = run_to_end(saliency_job(classifier, x01, methods, args.target))
    crop = classifier.to_uint8(x01)
    rows = []
    for key in methods:
        result = maps[key]
        rows.append(np.concatenate([crop, colorize(result.display), overlay(crop, result.display, args.opacity)], 1))
        print(f"{result.label}: target {result.target_name} ({result.target}), {result.seconds:.2f} s", file=sys.stderr)
    save_png(args.out, np.concatenate(rows, axis=0))
    first = maps[methods[0]]
    print_json({"image": args.image, "methods": methods, "target": first.target_name, "target_index": first.target,
                "seconds": {k: round(maps[k].seconds, 3) for k in methods}, "out": args.out})
    return 0
