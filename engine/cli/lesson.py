"""`python main.py lesson --list` and `python main.py lesson NAME [--out DIR] [--quick]`

Run one lesson's verified experiment (resources/lesson_experiments.json) headless:
progress on stderr, its figures as PNG in --out, and as the last stdout line one
JSON object with the runs' figures, the measured effect, the threshold and
"shows_point": true|false.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from engine.cli import print_json


def register(subparsers) -> None:
    parser = subparsers.add_parser("lesson", help="run a lesson's experiment and check that it shows the point",
                                   description=__doc__.strip().splitlines()[0])
    parser.add_argument("name", nargs="?", help="lesson id (see --list)")
    parser.add_argument("--list", action="store_true", help="list the lessons with experiments")
    parser.add_argument("--out", default=None, help="folder for the figures (PNG); default: none written")
    parser.add_argument("--quick", action="store_true", help="the quick variant (tests): fewer epochs or steps")
    parser.add_argument("--folder", default=None,
                        help="dog_vs_food: a folder with dog/ and food/ (or test-dog/ and test-food/) photos")
    parser.set_defaults(func=run)


def run(args) -> int:
    from engine.errors import ConvScopeError
    from engine.lessons import (LessonEpoch, LessonImage, LessonRunFinished, LessonRunStarted, experiments,
                                run_experiment)

    try:
        known = experiments()
    except ConvScopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.list or not args.name:
        if not args.list:
            print("error: name a lesson, or use --list.", file=sys.stderr)
        for exp in known:
            print(f"{exp.lesson_id:18s} {exp.title}")
        print_json({"lessons": [{"id": e.lesson_id, "title": e.title, "measure": e.measure} for e in known]})
        return 0 if args.list else 2
    names = [e.lesson_id for e in known]
    if args.name not in names:
        print(f"error: no lesson called '{args.name}'. Known: {', '.join(names)}.", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else None
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(f"error: cannot create the output folder {out}: {exc.strerror or exc}", file=sys.stderr)
            return 2

    def on_event(event) -> None:
        if isinstance(event, LessonRunStarted):
            print(f"run {event.run + 1}: {event.label}", file=sys.stderr)
        elif isinstance(event, LessonEpoch) and (event.epoch + 1) % 10 == 0:
            print(f"  epoch {event.epoch + 1}: train loss {event.train_loss:.4f}, val loss {event.val_loss:.4f}, "
                  f"val acc {100 * event.val_acc:.1f} %", file=sys.stderr)
        elif isinstance(event, LessonRunFinished):
            print(f"  {event.status}{': ' + event.error if event.error else ''}", file=sys.stderr)
        elif isinstance(event, LessonImage):
            print(f"  {event.caption}", file=sys.stderr)

    context = {"folder": args.folder} if args.folder else None
    try:
        result = run_experiment(args.name, quick=args.quick, on_event=on_event, context=context)
    except ConvScopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    written = save_figures(result, out) if out is not None else []
    print(result.summary, file=sys.stderr)
    if not result.shows_point:
        print(f"does not show the point: {result.reason}", file=sys.stderr)
    summary = result.to_json()
    summary["figures"] = [str(p) for p in written]
    print_json(summary)
    return 0


def save_figures(result, out: Path) -> list[Path]:
    """The lesson's figures as PNG: curves of the training runs, pictures of the others."""
    from engine.images import save_png

    written = []
    for name, image in result.images.items():
        path = out / f"{result.lesson_id}_{name}.png"
        save_png(path, image)
        written.append(path)
    if any(r.curves.get("epoch") or r.curves.get("step") for r in result.runs):
        path = out / f"{result.lesson_id}.png"
        _plot_runs(result, path)
        written.append(path)
    elif result.measure in ("init_lab", "top_patches"):
        path = out / f"{result.lesson_id}.png"
        _plot_layers(result, path)
        written.append(path)
    return written


def _plot_layers(result, path: Path) -> None:
    """Init lab: std and saturated share per layer for each initialization; top
    patches: class purity of each layer's top images."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if result.measure == "init_lab":
        fig, (std_ax, sat_ax) = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
        for run in result.runs:
            layers = np.arange(1, len(run.figures["act_std"]) + 1)
            std_ax.plot(layers, run.figures["act_std"], "o-", label=run.label)
            sat_ax.plot(layers, 100 * np.asarray(run.figures["saturated_share"]), "o-", label=run.label)
        std_ax.set_yscale("log")
        std_ax.set_ylabel("activation std")
        sat_ax.set_ylabel("saturated units, |a| > 0.99 (%)")
        for ax in (std_ax, sat_ax):
            ax.set_xlabel("layer")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    else:
        purity = result.runs[0].figures["purity"]
        chance = result.runs[0].figures["chance"]
        fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(purity)), 4.8), constrained_layout=True)
        ax.bar(range(len(purity)), [100 * v for v in purity.values()], color="tab:blue")
        ax.axhline(100 * chance, color="k", ls=":", label="chance")
        ax.set_xticks(range(len(purity)), list(purity), rotation=45)
        ax.set_ylabel("top images in one class (%)")
        ax.legend()
    fig.suptitle(f"{result.title}: {result.summary}" + ("" if result.shows_point else "  [point NOT shown]"),
                 fontsize=10)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_runs(result, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = result.runs
    per_step = result.measure in ("batch_noise", "steps_to_loss")
    sparsity = result.measure == "sparsity"
    panels = 3 if (per_step or sparsity) else 2
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4.8), constrained_layout=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    loss_ax, acc_ax = axes[0], axes[1]
    accs = []
    for i, run in enumerate(runs):
        c = colours[i % len(colours)]
        curves = run.curves
        member0 = [j for j, m in enumerate(curves.get("member", [])) if m == 0]
        epochs = [curves["epoch"][j] + 1 for j in member0]
        label = run.label + ("" if run.status == "ok" else " (FAILED)")
        if epochs:
            loss_ax.plot(epochs, [curves["train_loss"][j] for j in member0], "-", color=c, label=f"{label}: train")
            loss_ax.plot(epochs, [curves["val_loss"][j] for j in member0], "--", color=c, label=f"{label}: val")
            val = [100 * curves["val_acc"][j] for j in member0]
            acc_ax.plot(epochs, val, "--", color=c, label=f"{label}: val")
            accs += val
            if curves.get("train_eval_acc"):
                train = [100 * a for a in curves["train_eval_acc"]][:len(epochs)]
                acc_ax.plot(epochs[:len(train)], train, "-", color=c, label=f"{label}: train")
                accs += train
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    loss_ax.set_yscale("log")
    loss_ax.legend(fontsize=8)
    loss_ax.grid(alpha=0.3)
    acc_ax.set_xlabel("epoch")
    acc_ax.set_ylabel("accuracy (%)")
    finite = [a for a in accs if np.isfinite(a)]
    if finite:  # zoom to the data, not a fixed 0-100 axis
        low, high = min(finite), max(finite)
        pad = max(1.0, 0.05 * (high - low))
        acc_ax.set_ylim(max(0, low - pad), min(100, high + pad))
    acc_ax.legend(fontsize=8)
    acc_ax.grid(alpha=0.3)
    if per_step:
        ax = axes[2]
        for i, run in enumerate(runs):
            ax.plot(run.curves["step"], run.curves["loss"], color=colours[i % len(colours)], alpha=0.6, lw=0.8,
                    label=run.label)
        if "target_loss" in result.details:
            ax.axhline(result.details["target_loss"], color="k", ls=":", lw=1, label="loss target")
        ax.set_xlabel("step")
        ax.set_ylabel("loss per step")
        ax.set_xscale("log")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    if sparsity:
        ax = axes[2]
        for i, run in enumerate(runs):
            hist = run.curves.get("weight_log10_hist")
            if hist is not None:
                counts, edges = hist
                share = 100 * run.figures.get("share_below_1e-3", float("nan"))
                ax.stairs(counts, edges, color=colours[i % len(colours)], label=f"{run.label} ({share:.0f} % < 1e-3)")
        ax.axvline(-3, color="k", lw=1, ls=":")
        ax.set_xlabel("log10 |w|")
        ax.set_ylabel("weights")
        ax.legend(fontsize=8)
    fig.suptitle(f"{result.title}: {result.summary}" + ("" if result.shows_point else "  [point NOT shown]"),
                 fontsize=10)
    fig.savefig(path, dpi=100)
    plt.close(fig)
