"""ConvScope: see inside convolutional neural networks.

`python main.py` opens the window; sub-commands run headless (see --help).
"""
from __future__ import annotations

import argparse
import os
import sys


def build_parser() -> argparse.ArgumentParser:
    import engine
    from engine.cli import register_all

    parser = argparse.ArgumentParser(prog="convscope", description=__doc__.strip().splitlines()[0])
    parser.add_argument("--version", action="version", version=f"ConvScope {engine.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = sub.add_parser("gui", help="open the window (the default)")
    gui.add_argument("--quit-after-show", action="store_true", help=argparse.SUPPRESS)
    gui.set_defaults(func=_run_gui)

    shots = sub.add_parser("screenshots", help="render every panel to PNG files (no display needed)")
    shots.add_argument("--out", required=True, help="output folder")
    shots.add_argument("--theme", default="light", choices=["light", "dark"])
    shots.add_argument("--scale", type=float, default=1.0, help="type scale, 1.0-2.5")
    shots.add_argument("--size", default="1400x900", help="window size WxH")
    shots.add_argument("--panel", action="append", help="only this panel (title or class); repeatable")
    shots.set_defaults(func=_run_screenshots)

    bench = sub.add_parser("bench", help="run every benchmark and rewrite docs/BENCHMARKS.md")
    bench.add_argument("--quick", action="store_true", help="fewer repetitions")
    bench.add_argument("--only", action="append", help="run only this benchmark; repeatable")
    bench.add_argument("--out", default="docs/BENCHMARKS.md")
    bench.set_defaults(func=_run_bench)

    register_all(sub)
    return parser


def _run_gui(args) -> int:
    from gui.app import run_gui

    return run_gui(quit_after_show=getattr(args, "quit_after_show", False))


def _run_screenshots(args) -> int:
    from gui.screenshots import render_screenshots

    width, height = (int(v) for v in args.size.lower().split("x"))
    for path in render_screenshots(args.out, width, height, args.theme, args.scale, args.panel):
        print(path)
    return 0


def _run_bench(args) -> int:
    from benchmarks.run_all import main as bench_main

    return bench_main(quick=args.quick, only=args.only, out=args.out)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv == ["gui"] or argv == ["gui", "--quit-after-show"]:
        # Fast path: the window opens without importing the headless commands.
        from gui.app import run_gui

        return run_gui(quit_after_show="--quit-after-show" in argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return _run_gui(args)
    try:
        return int(args.func(args) or 0)
    except Exception as exc:  # headless: a plain message, not a traceback
        from engine.errors import ConvScopeError

        if isinstance(exc, ConvScopeError):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
