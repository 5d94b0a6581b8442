"""`python main.py embed --run DIR [--layer NAME] --method tsne|pca --out FILE.csv`
or `python main.py embed --model NAME|WEIGHTS [--arch NAME] --images DIR --out FILE.csv`

Lay out a trained run's features of a dataset sample in 2-D, or (DeCAF) a pretrained or
loaded ImageNet network's penultimate features of a folder of photos, and write the
layout as CSV (index, x, y, label, predicted, correct) plus a PNG next to it,
coloured by true class (the sub-folder). Progress goes to stderr; the last stdout line is JSON
with the output paths, the layer, the number of points, the seconds taken and
the 5-NN accuracy of the layout.
"""
from __future__ import annotations

import sys

from engine.cli import print_json
from engine.cli.args import SEED_MAX_32, add_model_arguments, float_in, int_in, seed_type


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "embed", help="t-SNE / PCA of a trained run's features: CSV + PNG",
        description=__doc__.strip().splitlines()[0])
    parser.add_argument("--run", metavar="DIR", help="run folder (or checkpoint.pt) to embed")
    parser.add_argument("--images", metavar="DIR",
                        help="DeCAF: embed the --model network's penultimate features of this folder of photos "
                             "(one sub-folder per class, or photos right in it) instead of a run")
    add_model_arguments(parser)
    parser.add_argument("--layer", default=None,
                        help="layer name (default: the one before the classifier; 'pixels' = raw images)")
    parser.add_argument("--method", choices=["tsne", "pca"], default="tsne")
    parser.add_argument("--out", required=True, metavar="FILE.csv", help="CSV to write")
    parser.add_argument("--png", default=None, metavar="FILE.png",
                        help="picture of the layout (default: the CSV's name with .png; an existing file there "
                             "is replaced only when named here)")
    parser.add_argument("--dataset", default=None, help="dataset name (default: the one the run was trained on)")
    parser.add_argument("--split", choices=["val", "train"], default="val")
    parser.add_argument("--samples", type=int_in(2, 100_000, "--samples"), default=1000,
                        help="number of images (default 1000)")
    parser.add_argument("--perplexity", type=float_in(1.0, 1000.0, "--perplexity"), default=30.0)
    parser.add_argument("--iterations", type=int_in(1, 100_000, "--iterations"), default=750)
    parser.add_argument("--learning-rate", default="auto", help="t-SNE learning rate or 'auto'")
    parser.add_argument("--init", choices=["pca", "random"], default="pca")
    parser.add_argument("--seed", type=seed_type(high=SEED_MAX_32), default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.set_defaults(func=run)


def run(args) -> int:
    from engine.checkpoint import load_run
    from engine.data import load_dataset
    from engine.embed import (EmbeddingPartial, TSNEParams, describe, feature_space_job, save_embedding_csv,
                              save_embedding_png)
    from engine.errors import DataError
    from engine.events import LogLine, run_to_end
    from engine.fileio import OutputPathError, check_output_file

    if (args.run is None) == (args.images is None):
        raise DataError("Say what to embed: --run DIR (a trained run) or --images DIR with --model "
                        "(a pretrained or loaded ImageNet network), not both.")
    source = args.run if args.run is not None else args.images
    csv_out = check_output_file(args.out, inputs=[source], what="CSV file")
    if args.png is not None:
        png_out = check_output_file(args.png, inputs=[source, args.out], what="PNG file")
        if png_out.absolute() == csv_out.absolute():
            raise OutputPathError("--png and --out name the same file; give the picture its own name.")
    else:  # a second file the user did not name: never replace one that is already there
        png_out = csv_out.with_suffix(".png") if csv_out.suffix.lower() != ".png" else csv_out.with_name(
            csv_out.name + ".png")
        if png_out.exists() or png_out.is_symlink():
            raise OutputPathError(f"{png_out} already exists and the picture would replace it; name the picture "
                                  f"with --png FILE.png (an existing file is replaced only when named there).")
        check_output_file(png_out, what="PNG file")
    if args.learning_rate == "auto":
        learning_rate: float | str = "auto"
    else:
        try:
            learning_rate = float(args.learning_rate)
        except ValueError:
            raise DataError(f"--learning-rate must be a number or 'auto', not '{args.learning_rate}'.") from None
        if not (learning_rate > 0 and learning_rate < 1e6):
            raise DataError(f"--learning-rate must be a positive finite number or 'auto', not '{args.learning_rate}'.")
    params = TSNEParams(perplexity=args.perplexity, iterations=args.iterations, learning_rate=learning_rate,
                        initialization=args.init, seed=args.seed, frame_every=50)

    def on_event(event) -> None:
        if args.quiet:
            return
        if isinstance(event, LogLine):
            print(event.text, file=sys.stderr)
        elif isinstance(event, EmbeddingPartial) and args.method == "tsne" and event.iteration:
            print(f"t-SNE iteration {event.iteration}/{event.total}, KL {event.kl:.3f}", file=sys.stderr)

    if args.images is not None:
        from engine.cli.args import load_model_from_args
        from engine.embed import folder_feature_space_job

        if args.layer not in (None, "", "penultimate"):
            raise DataError("--images embeds the network's penultimate features; --layer goes with --run.")
        classifier = load_model_from_args(args)
        result = run_to_end(folder_feature_space_job(args.images, classifier, args.method, params), on_event)
        title = f"{classifier.label} on {args.images}"
    else:
        trained = load_run(args.run)
        data = load_dataset(args.dataset or trained.dataset or "mnist5k")
        result = run_to_end(feature_space_job(trained.model, data, args.layer, args.split, args.samples,
                                              args.method, params, seed=args.seed), on_event)
        title = trained.name
    csv_path = save_embedding_csv(args.out, result.embedding, result.features)
    png_path = save_embedding_png(png_out, result.embedding, result.features,
                                  f"{title}: {describe(result.embedding)}")
    if not args.quiet:
        print(describe(result.embedding), file=sys.stderr)
    knn = result.embedding.knn_accuracy
    print_json({"csv": str(csv_path), "png": str(png_path), "layer": result.embedding.layer,
                "method": args.method, "n": len(result.features), "dim": int(result.features.features.shape[1]),
                "seconds": round(result.embedding.seconds, 3), "knn5_accuracy": None if knn != knn else round(knn, 4),
                "backend": result.embedding.backend})
    return 0
