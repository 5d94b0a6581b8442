"""Shared helpers for benchmarks: timing and the result record."""
from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable


@dataclass
class BenchResult:
    """One row of docs/BENCHMARKS.md: our figure, the baseline measured in the same
    run, and their ratio. `higher_is_better` says which way the ratio reads."""

    name: str
    figure: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    target: str = ""
    met: bool | None = None
    higher_is_better: bool = False
    notes: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.figure / self.baseline

    def as_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time in seconds of fn() over `repeats` runs after `warmup` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# Sections of docs/BENCHMARKS.md written by runs other than `main.py bench` (the GPU
# check on a CUDA machine, the 20-minute soak test); `main.py bench` keeps them.
KEPT_SECTIONS = {
    "in-window-speed": ("In-window training speed: where the rest goes",
                        "Not written yet: what profiling found about training inside the window."),
    "imagenet-speed": ("ImageNet passes: page faults and the class visualization's overhead",
                       "Not written yet: what profiling found about the ImageNet lab's passes."),
    "gpu-check": ("GPU check", "Not run yet: `benchmarks/gpu_check.py` needs a CUDA machine."),
    "soak": ("Soak test", "Not run yet: see `tests/gui/test_soak.py`."),
}


def section_markers(key: str) -> tuple[str, str]:
    return f"<!-- {key}:begin -->", f"<!-- {key}:end -->"


def kept_section(text: str, key: str) -> str:
    """The marked block for `key` in `text` (markers included), or a 'not run yet' block."""
    begin, end = section_markers(key)
    if begin in text and end in text:
        return text[text.index(begin): text.index(end) + len(end)]
    return f"{begin}\n{KEPT_SECTIONS[key][1]}\n{end}"


def write_section(path, key: str, body: str) -> None:
    """Replace (or append) the marked block `key` of the file at `path` with `body`."""
    from pathlib import Path

    path = Path(path)
    current = path.read_text() if path.exists() else ""
    begin, end = section_markers(key)
    block = f"{begin}\n{body}\n{end}"
    if begin in current and end in current:
        current = current[:current.index(begin)] + block + current[current.index(end) + len(end):]
    else:
        current = current.rstrip("\n") + f"\n\n## {KEPT_SECTIONS[key][0]}\n\n{block}\n"
    path.write_text(current)
