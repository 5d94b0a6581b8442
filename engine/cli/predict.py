"""`python main.py predict IMAGE... [--model NAME] [-k 5]`

Top-k ImageNet predictions of each image. The last stdout line is JSON:
{"model": ..., "results": [{"image": PATH, "top5": [{"index", "name", "prob"}]} or {"image", "error"}]}.
A photo bundled with the installed packages can be named as bundled:coffee.
"""
from __future__ import annotations

import sys

from engine.cli import print_json
from engine.cli.args import int_in


def register(subparsers) -> None:
    parser = subparsers.add_parser("predict", help="top-5 ImageNet predictions of image files (JSON)",
                                   description=__doc__.strip().splitlines()[0])
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (or bundled:NAME, e.g. bundled:coffee)")
    parser.add_argument("--model", default="efficientnet_lite0", help="pretrained classifier (default embedded)")
    parser.add_argument("-k", type=int_in(1, 1000, "-k"), default=5, help="how many classes per image (default 5)")
    parser.set_defaults(func=run)


INPUT_MAX_SIDE = 1024


def load_input(spec: str):
    """An image file, or bundled:NAME for a photo shipped with the installed packages."""
    from engine.images import load_bundled_photo, load_image

    if spec.startswith("bundled:"):
        return load_bundled_photo(spec.split(":", 1)[1])
    return load_image(spec, max_side=INPUT_MAX_SIDE)  # the classifier sees 224 px: large files load reduced


def run(args) -> int:
    from engine.errors import ConvScopeError
    from engine.pretrained import load_classifier

    classifier = load_classifier(args.model)
    results, failures = [], 0
    for spec in args.images:
        try:
            predictions = classifier.predict(load_input(spec), k=max(1, args.k))
        except (ConvScopeError, MemoryError) as exc:  # one bad file must not hide the others
            if isinstance(exc, MemoryError):
                exc = "not enough memory to classify this image"
            failures += 1
            print(f"{spec}: {exc}", file=sys.stderr)
            results.append({"image": spec, "error": str(exc)})
            continue
        print(f"{spec}: " + ", ".join(f"{p.name} {p.prob:.3f}" for p in predictions), file=sys.stderr)
        results.append({"image": spec, "top5": [{"index": p.index, "name": p.name, "prob": round(p.prob, 5)}
                                                for p in predictions]})
    print_json({"model": args.model, "results": results})
    return 1 if failures == len(args.images) else 0
