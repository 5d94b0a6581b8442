"""Run every benchmark and rewrite docs/BENCHMARKS.md (`python main.py bench`).

Each module named in BENCHMARKS has `run(quick: bool) -> list[BenchResult]`.
The sections written by other runs (the GPU check on a CUDA machine, the soak
test) are kept.
"""
from __future__ import annotations

import datetime
import importlib
import os
import platform
import sys
import traceback
from pathlib import Path

from benchmarks.common import KEPT_SECTIONS, kept_section

BENCHMARKS: list[str] = [
    "bench_tsne",
    "bench_startup",
    "bench_gui",
    "bench_train",
    "bench_imagenet",
    "bench_activations",
    "bench_dogfood",
    "bench_lessons",
    "bench_lessons_window",
    "bench_top_index",
    "bench_live",
    "bench_distributed",
]

def machine_description() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import psutil

        memory = f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM"
    except ImportError:
        memory = ""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, {memory}, {gpu}, {platform.system()} {platform.release()}"


def versions() -> str:
    import numpy
    import torch

    parts = [f"Python {platform.python_version()}", f"torch {torch.__version__}", f"numpy {numpy.__version__}"]
    for name in ("PySide6", "pyqtgraph", "sklearn", "openTSNE", "timm", "captum"):
        try:
            module = importlib.import_module(name)
            parts.append(f"{name} {getattr(module, '__version__', '?')}")
        except ImportError:
            pass
    return ", ".join(parts)


def _fmt(value) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.4g}"


def render(results, errors, previous_text: str) -> str:
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    lines = [
        "# Benchmarks", "",
        "Written by `python main.py bench` (or `make bench`); every baseline is measured in the same run.", "",
        f"- Date: {now}",
        f"- Machine: {machine_description()}",
        f"- Versions: {versions()}", "",
        "| benchmark | ConvScope | baseline | ratio | target | met | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        baseline = f"{_fmt(r.baseline)} {r.unit} ({r.baseline_label})" if r.baseline is not None else "—"
        met = "—" if r.met is None else ("yes" if r.met else "**no**")
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "—"
        lines.append(f"| {r.name} | {_fmt(r.figure)} {r.unit} | {baseline} | {ratio} | {r.target} | {met} "
                     f"| {r.notes} |")
    if errors:
        lines += ["", "## Benchmarks that failed to run", ""]
        lines += [f"- `{name}`: {message}" for name, message in errors]
    for key, (heading, _) in KEPT_SECTIONS.items():
        lines += ["", f"## {heading}", "", kept_section(previous_text, key)]
    return "\n".join(lines) + "\n"


def main(quick: bool = False, only: list[str] | None = None, out: str = "docs/BENCHMARKS.md") -> int:
    from engine.device import configure_threads

    configure_threads()
    results, errors = [], []
    for name in BENCHMARKS:
        if only and name not in only:
            continue
        print(f"== {name}", flush=True)
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            for result in module.run(quick=quick):
                print(f"   {result.name}: {_fmt(result.figure)} {result.unit}"
                      + (f" vs {_fmt(result.baseline)} ({result.ratio:.2f}x)" if result.ratio else ""), flush=True)
                results.append(result)
        except Exception as exc:  # one broken benchmark must not hide the others
            traceback.print_exc()
            errors.append((name, f"{type(exc).__name__}: {exc}"))
    path = Path(out)
    previous = path.read_text() if path.exists() else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(results, errors, previous))
    print(f"wrote {path}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(quick="--quick" in sys.argv))
