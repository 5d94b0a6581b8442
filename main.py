"""ConvScope: see inside convolutional neural networks.

`python main.py` opens the window; sub-commands run headless (see --help).
"""
from __future__ import annotations

import argparse
import os
import sys

_OWN_PACKAGES = ("engine", "gui", "benchmarks")


def _use_bundled_packages() -> None:
    """Installed from the wheel, this file is convscope/main.py and engine/, gui/ and
    benchmarks/ sit beside it inside the convscope package. Their code imports them by
    their short names (as in the repository), so resolve exactly those three names to the
    folders beside this file, for this process only: site-packages holds no top-level
    `engine` or `gui` that could collide with another distribution's."""
    import importlib.abc
    import importlib.machinery

    here = os.path.dirname(os.path.abspath(__file__))

    class _BesideMain(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path=None, target=None):
            if fullname in _OWN_PACKAGES:
                return importlib.machinery.PathFinder.find_spec(fullname, [here])
            return None  # submodules are found through their package's __path__

    if not any(type(finder).__name__ == "_BesideMain" for finder in sys.meta_path):
        sys.meta_path.insert(0, _BesideMain())


if __package__:  # imported as convscope.main (the installed `convscope` command)
    _use_bundled_packages()


def build_parser() -> argparse.ArgumentParser:
    import engine
    from engine.cli import register_all
    from engine.cli.args import float_in, size_type

    parser = argparse.ArgumentParser(prog="convscope", description=__doc__.strip().splitlines()[0])
    parser.add_argument("--version", action="version", version=f"ConvScope {engine.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = sub.add_parser("gui", help="open the window (the default)")
    gui.add_argument("--quit-after-show", action="store_true", help=argparse.SUPPRESS)
    gui.set_defaults(func=_run_gui)

    shots = sub.add_parser("screenshots", help="render every panel to PNG files (no display needed)")
    shots.add_argument("--out", required=True, help="output folder")
    shots.add_argument("--theme", default="light", choices=["light", "dark"])
    shots.add_argument("--scale", type=float_in(1.0, 2.5, "--scale"), default=1.0, help="type scale, 1.0-2.5")
    shots.add_argument("--size", type=size_type, default="1400x900", help="window size WxH (64-8192 per side)")
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
    from engine.fileio import check_output_folder

    check_output_folder(args.out, what="screenshots folder")  # before Qt starts
    from gui.screenshots import render_screenshots

    from engine.cli import print_json

    width, height = args.size
    written = render_screenshots(args.out, width, height, args.theme, args.scale, args.panel)
    for path in written:
        print(path)
    print_json({"out": str(args.out), "files": [str(path) for path in written]})  # the last line, like every command
    return 0


def _run_bench(args) -> int:
    from benchmarks.run_all import main as bench_main
    from engine.fileio import check_output_file

    check_output_file(args.out, what="benchmark report")
    return bench_main(quick=args.quick, only=args.only, out=args.out)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv == ["gui"] or argv == ["gui", "--quit-after-show"]:
        # Fast path: the window opens without importing the headless commands.
        from gui.app import run_gui

        return run_gui(quit_after_show="--quit-after-show" in argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse printed its one-line usage error (or --help)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if args.command is None:
        return _run_gui(args)
    return run_command(args)


def run_command(args) -> int:
    """Run a headless command: every failure is one readable line on stderr and a
    non-zero exit status, never a traceback."""
    from engine.errors import ConvScopeError
    from engine.memory import reuse_freed_buffers

    reuse_freed_buffers()  # a step's large buffers serve the next one instead of being faulted in again
    try:
        return int(args.func(args) or 0)
    except ConvScopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted.", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: not enough memory for this command; try a smaller input or fewer samples.", file=sys.stderr)
        return 3
    except RecursionError:
        print("error: an input is nested too deeply to read.", file=sys.stderr)
        return 3
    except OSError as exc:
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"error: {exc.strerror or exc}{where}.", file=sys.stderr)
        return 3


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
