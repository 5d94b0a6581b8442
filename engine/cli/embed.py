"""`python main.py embed --run DIR [--layer NAME] --method tsne|pca --out FILE.csv`

Lay out a trained run's features of a dataset sample in 2-D and write the
layout as CSV (index, x, y, label, predicted, correct) plus a PNG next to it,
coloured by true class. Progress goes to stderr; the last stdout line is JSON
with the output paths, the layer, the number of points, the seconds taken and
the 5-NN accuracy of the layout.
"""
from __future__ import annotations

import sys
from pathlib import Path

from engine.cli import print_json


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "embed", help="t-SNE / PCA of a trained run's features: CSV + PNG",
        description=__doc__.strip().splitlines()[0])
    parser.add_argument("--run", required=True, metavar="DIR", help="run folder (or checkpoint.pt) to embed")
    parser.add_argument("--layer", default=None,
                        help="layer name (default: the one before the classifier; 'pixels' = raw images)")
    parser.add_argument("--method", choices=["tsne", "pca"], default="tsne")
    parser.add_argument("--out", required=True, metavar="FILE.csv", help="CSV to write; the PNG goes next to it")
    parser.add_argument("--dataset", default=None, help="dataset name (default: the one the run was trained on)")
    parser.add_argument("--split", choices=["val", "train"], default="val")
    parser.add_argument("--samples", type=int, default=1000, help="number of images (default 1000)")
    parser.add_argument("--perplexity", type=float, default=30.0)
    parser.add_argument("--iterations", type=int, default=750)
    parser.add_argument("--learning-rate", default="auto", help="t-SNE learning rate or 'auto'")
    parser.add_argument("--init", choices=["pca", "random"], default="pca")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.set_defaults(func=run)


def run(args) -> int:
    from engine.checkpoint import load_run
    from engine.data import load_dataset
    from engine.embed import (EmbeddingPartial, TSNEParams, describe, feature_space_job, save_embedding_csv,
                              save_embedding_png)
    from engine.errors import DataError
    from engine.events import LogLine, run_to_end

    trained = load_run(args.run)
    data = load_dataset(args.dataset or trained.dataset or "mnist5k")
    if args.learning_rate == "auto":
        learning_rate: float | str = "auto"
    else:
        try:
            learning_rate = float(args.learning_rate)
        except ValueError:
            raise DataError(f"--learning-rate must be a number or 'auto', not '{args.learning_rate}'.") from None
    params = TSNEParams(perplexity=args.perplexity, iterations=args.iterations, learning_rate=learning_rate,
                        initialization=args.init, seed=args.seed, frame_every=50)

    def on_event(event) -> None:
        if args.quiet:
            return
        if isinstance(event, LogLine):
            print(event.text, file=sys.stderr)
        elif isinstance(event, EmbeddingPartial) and args.method == "tsne" and event.iteration:
            print(f"t-SNE iteration {event.iteration}/{event.total}, KL {event.kl:.3f}", file=sys.stderr)

    result = run_to_end(feature_space_job(trained.model, data, args.layer, args.split, args.samples, args.method,
                                          params, seed=args.seed), on_event)
    csv_path = save_embedding_csv(args.out, result.embedding, result.features)
    png_path = save_embedding_png(Path(args.out).with_suffix(".png"), result.embedding, result.features,
                                  f"{trained.name}: {describe(result.embedding)}")
    if not args.quiet:
        print(describe(result.embedding), file=sys.stderr)
    print_json({"csv": str(csv_path), "png": str(png_path), "layer": result.embedding.layer,
                "method": args.method, "n": len(result.features), "dim": int(result.features.features.shape[1]),
                "seconds": round(result.embedding.seconds, 3), "knn5_accuracy": round(result.embedding.knn_accuracy, 4),
                "backend": result.embedding.backend})
    return 0
