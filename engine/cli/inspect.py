"""`python main.py inspect --run DIR --out DIR`: look inside a trained run headless.
`python main.py inspect --model NAME|WEIGHTS.pt [--arch NAME] [--images DIR] --out DIR`:
look inside a pretrained or loaded ImageNet-style network.

For a run, writes PNGs: every conv layer's filters, the feature maps of one validation
sample, the top-activating patches of every channel of each conv layer, the
per-layer activation statistics and the confusion matrix with the most
confidently wrong examples. For a model: the first layer's filters, for a few layers
the top-activating patches of their strongest channels over the images (the bundled
photos and their crops when no folder is given), each patch beside its deconvnet /
guided-backprop projection (Zeiler & Fergus), and the per-layer activation statistics.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from engine.cli.args import int_in


def register(subparsers) -> None:
    parser = subparsers.add_parser("inspect", help="Write filters, activations, top patches, layer stats and "
                                                   "confusion matrix of a trained run as PNGs.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="Run folder (or checkpoint.pt) written by training.")
    source.add_argument("--model", help="a classifier name (efficientnet_lite0, torchvision:NAME, timm:NAME) or "
                                        "a weights file (with --arch)")
    parser.add_argument("--arch", help="torchvision or timm architecture of --model's weights file, e.g. resnet18")
    parser.add_argument("--class-names", help="text or JSON file of the weights file's class names")
    parser.add_argument("--images", help="--model: folder of images for the top patches (default: bundled photos)")
    parser.add_argument("--layer", action="append", help="--model: a layer (module path, e.g. blocks.3); "
                                                         "repeatable (default: three blocks from early to late)")
    parser.add_argument("--channels", type=int_in(1, 64, "--channels"), default=6,
                        help="--model: channels shown per layer, the most strongly activated (default 6)")
    parser.add_argument("--out", required=True, help="Folder for the PNGs.")
    parser.add_argument("--sample", type=int_in(0, None, "--sample"), default=0,
                        help="Validation image for the activation maps.")
    parser.add_argument("--top-k", type=int_in(1, 100, "--top-k"), default=9, help="Patches per channel.")
    parser.add_argument("--limit", type=int_in(1, 1_000_000, "--limit"), default=2000,
                        help="Images scanned for top patches.")
    parser.set_defaults(func=run)


def _png_writer(out: Path, written: list[str]):
    """save(name, image): a PNG in `out`, its path added to `written` (the JSON's file list)."""
    from engine.images import save_png

    def save(name: str, image: np.ndarray) -> None:
        save_png(out / name, image)
        written.append(str(out / name))

    return save


def _upscale_to(image: np.ndarray, target: int) -> np.ndarray:
    from engine.imaging import nearest_upscale

    factor = max(1, target // max(image.shape[:2]))
    return nearest_upscale(image, factor)


def _save_figure(fig, path: Path) -> None:
    from engine.fileio import atomic_write

    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    import matplotlib.pyplot as plt

    plt.close(fig)


def _plot_layer_stats(stats, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(stats)
    fig = plt.figure(figsize=(max(8, 1.6 * n), 6.5), constrained_layout=True)
    grid = fig.add_gridspec(2, n)
    top = fig.add_subplot(grid[0, :])
    x = np.arange(n)
    top.plot(x, stats.act_mean, "o-", label="mean")
    top.plot(x, stats.act_std, "s-", label="std")
    top.set_xticks(x, stats.layer_names)
    top.set_ylabel("activation")
    top.set_title(title)
    top.legend()
    top.grid(alpha=0.3)
    for i, (counts, edges) in enumerate(stats.histograms):
        ax = fig.add_subplot(grid[1, i])
        ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="tab:blue")
        ax.set_title(stats.layer_names[i], fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_yticks([])
    _save_figure(fig, path)


def _plot_confusion(result, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(result.class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * k, 0.6 + 0.6 * k), constrained_layout=True)
    ax.imshow(result.confusion, cmap="Blues")
    high = result.confusion.max() or 1
    for i in range(k):
        for j in range(k):
            value = result.confusion[i, j]
            ax.text(j, i, str(value), ha="center", va="center", fontsize=8,
                    color="white" if value > high / 2 else "black")
    ax.set_xticks(range(k), result.class_names, rotation=45 if k > 10 else 0)
    ax.set_yticks(range(k), result.class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"Confusion matrix ({result.split}, accuracy {result.accuracy:.1%})")
    _save_figure(fig, path)


def run(args: argparse.Namespace) -> int:
    from engine.checkpoint import load_run
    from engine.cli import print_json
    from engine.data import load_dataset
    from engine.errors import ConvScopeError
    from engine.events import run_to_end
    from engine.fileio import check_output_folder
    from engine.imaging import tile_images
    from engine.introspect import (colour_bar, conv_layer_names, conv_weights, feature_maps_for, filter_grids,
                                   input_to_display, run_mistakes, run_top_patches)
    from engine.layer_stats import collect_layer_stats

    if getattr(args, "model", None) is not None:  # callers may pass a Namespace made for --run only
        return _inspect_model(args)
    out = Path(args.out)
    written: list[str] = []
    save = _png_writer(out, written)

    try:
        check_output_folder(out, what="output folder")
        trained = load_run(args.run)
        data = load_dataset(trained.dataset)
        out.mkdir(parents=True, exist_ok=True)
        model = trained.model.eval()
        for grid in filter_grids(conv_weights(model), upscale=16):
            mosaic = grid.mosaic(pad=2)
            bar = colour_bar(grid.scale, 10, mosaic.shape[1])
            if mosaic.shape[2] == 3:
                bar = np.repeat(bar[:, :, None], 3, axis=2)
            else:
                bar = bar[:, :, None]
            save(f"filters_{grid.layer}.png", np.concatenate([mosaic, np.full_like(bar, 255), bar], axis=0))
        index = min(max(args.sample, 0), len(data.val_x) - 1)
        sample = data.val_x[index]
        save("input.png", _upscale_to(input_to_display(sample), 112))
        for maps in feature_maps_for(model, sample):
            mosaic, _ = tile_images(maps.maps, pad=1)
            save(f"activations_{maps.layer}.png", _upscale_to(mosaic, 600))
        x, _ = data.split("train")
        for layer in conv_layer_names(model):
            patches = run_to_end(run_top_patches(trained, layer, k=args.top_k, limit=args.limit))
            blocks, columns = patches.all_channels_mosaic(upscale=max(1, 48 // patches.receptive_field))
            mosaic, _ = tile_images(blocks, columns, pad=6, pad_value=255)
            save(f"top_patches_{layer}.png", mosaic)
        stats = collect_layer_stats(model, data.val_x[:500], with_grads=True, y=data.val_y[:500], batch_stats=True)
        _plot_layer_stats(stats, out / "layer_stats.png", f"{trained.name}: activations on 500 validation images")
        written.append(str(out / "layer_stats.png"))
        mistakes = run_to_end(run_mistakes(trained, count=24))
        _plot_confusion(mistakes, out / "confusion_matrix.png")
        written.append(str(out / "confusion_matrix.png"))
        if len(mistakes.images):
            gallery, _ = tile_images(np.stack([_upscale_to(im, 84) for im in mistakes.images]), 8, pad=4)
            save("mistakes.png", gallery)
    except ConvScopeError as exc:
        print(f"{exc.title}: {exc}", file=sys.stderr)
        print_json({"ok": False, "error": str(exc)})
        return 1
    print_json({"ok": True, "out": str(out), "files": written, "val_accuracy": mistakes.accuracy})
    return 0


# ---------------------------------------------------------------- pretrained or loaded networks
def _default_layers(layers: list[tuple[str, tuple]]) -> list[str]:
    """Three blocks from early to late (top-level children with feature maps, e.g. blocks.1/3/5)."""
    blocks = [name for name, _ in layers if name.count(".") == 1]
    blocks = blocks or [name for name, _ in layers]
    picks = sorted({round(f * (len(blocks) - 1)) for f in (0.2, 0.5, 0.8)})
    return [blocks[i] for i in picks]


def _inspect_model(args) -> int:
    from engine.cli import print_json
    from engine.cli.args import load_model_from_args
    from engine.errors import ConvScopeError
    from engine.events import run_to_end
    from engine.fileio import check_output_folder
    from engine.images import resize_center_crop
    from engine.imaging import tile_images
    from engine.introspect import filter_grid
    from engine.layers import feature_map_layers
    from engine.top_index import index_job, top_patches
    from torch import nn

    out = Path(args.out)
    written: list[str] = []
    save = _png_writer(out, written)

    try:
        check_output_folder(out, what="output folder")
        classifier = load_model_from_args(args)
        layers = feature_map_layers(classifier.net, classifier.input_size)
        known = {name for name, _ in layers}
        chosen = args.layer or _default_layers(layers)
        for layer in chosen:
            if layer not in known:
                import difflib

                close = difflib.get_close_matches(layer, sorted(known), n=4)
                hint = f" Close: {', '.join(close)}." if close else ""
                raise ConvScopeError(f"The model has no feature-map layer '{layer}'.{hint}")
        out.mkdir(parents=True, exist_ok=True)
        first = next((m for m in classifier.net.modules() if isinstance(m, nn.Conv2d) and m.in_channels == 3), None)
        if first is not None:
            grid = filter_grid("first layer", first.weight.detach().cpu().numpy(), upscale=8)
            save("filters_first_layer.png", grid.mosaic(pad=2))
        summary_layers = {}
        for layer in chosen:
            print(f"indexing {layer} ...", file=sys.stderr)
            index = run_to_end(index_job(classifier, layer, args.images, top_k=args.top_k))
            strongest = np.argsort(-index.values[:, 0])[:args.channels]
            rows = []
            for channel in strongest:
                tiles = []
                for patch in top_patches(classifier, index, int(channel), args.images, count=args.top_k):
                    tiles.append(resize_center_crop(patch.patch, 64))
                    tiles.append(resize_center_crop(patch.projection, 64))
                row, _ = tile_images(np.stack(tiles), len(tiles), pad=2)
                rows.append(row)
            width = max(row.shape[1] for row in rows)
            rows = [np.pad(row, ((0, 6), (0, width - row.shape[1]), (0, 0)), constant_values=255) for row in rows]
            save(f"top_patches_{layer}.png", np.concatenate(rows, axis=0))
            summary_layers[layer] = {"channels": [int(c) for c in strongest], "images": len(index.sources),
                                     "cached": index.from_cache, "seconds": round(index.seconds, 2)}
        from engine.layer_stats import network_layer_stats_job

        stats = run_to_end(network_layer_stats_job(classifier, args.images, with_grads=False)).stats
        _plot_model_stats(stats, out / "layer_stats.png", classifier.label)
        written.append(str(out / "layer_stats.png"))
    except ConvScopeError as exc:
        print(f"{exc.title}: {exc}", file=sys.stderr)
        print_json({"ok": False, "error": str(exc)})
        return 1
    print_json({"ok": True, "out": str(out), "files": written, "model": classifier.label, "layers": summary_layers})
    return 0


def _plot_model_stats(stats, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(stats.layer_names)
    fig, ax = plt.subplots(figsize=(max(8, 0.6 * len(names)), 4.5), constrained_layout=True)
    x = np.arange(len(names))
    ax.plot(x, stats.act_mean, "o-", label="mean")
    ax.plot(x, stats.act_std, "s-", label="std")
    ax.set_xticks(x, names, rotation=45, ha="right")
    ax.set_ylabel("activation")
    ax.set_title(f"{title}: activations per block")
    ax.legend()
    ax.grid(alpha=0.3)
    _save_figure(fig, path)
