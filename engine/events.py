"""Small frozen events that engine jobs yield.

A job is a generator function. It yields events (plain floats, strings and
numpy arrays, detached and on the CPU) and returns a result. The GUI runs it
in a worker thread; the CLI and tests just drain it with `run_to_end`.
Job-specific events live next to their job (train.py, embed.py, ...); the
generic ones are here.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Generator, Iterable

Job = Generator[Any, None, Any]

# Stop requests that reach code between yields: a long call inside one step of a job
# (reading every image of a folder) asks `raise_if_stopped()` as it goes. The worker
# thread running the job registers its stop flag with `watch_stop_flag`.
_thread_state = threading.local()


def watch_stop_flag(flag: threading.Event | None) -> None:
    """Make `raise_if_stopped()` in this thread raise once `flag` is set (None: never)."""
    _thread_state.stop_flag = flag


def raise_if_stopped() -> None:
    """Raise JobCancelled when the job running in this thread was asked to stop."""
    flag = getattr(_thread_state, "stop_flag", None)
    if flag is not None and flag.is_set():
        from .errors import JobCancelled

        raise JobCancelled("Stopped.")


@dataclass(frozen=True)
class Progress:
    """Generic progress: `done` of `total` units, with a short message."""

    done: float
    total: float
    message: str = ""

    @property
    def fraction(self) -> float:
        return 0.0 if self.total <= 0 else min(1.0, self.done / self.total)


@dataclass(frozen=True)
class LogLine:
    """A line of text for the user (status bar / log view)."""

    text: str


def run_to_end(job: Iterable[Any], on_event: Callable[[Any], None] | None = None) -> Any:
    """Drain a job generator and return its result (the generator's return value)."""
    iterator = iter(job)
    while True:
        try:
            event = next(iterator)
        except StopIteration as stop:
            return stop.value
        if on_event is not None:
            on_event(event)


class Throttle:
    """True at most once every `interval_s` seconds (engine-side event throttling)."""

    def __init__(self, interval_s: float = 0.05):
        self.interval_s = interval_s
        self._last = float("-inf")

    def ready(self, force: bool = False) -> bool:
        now = time.perf_counter()
        if force or now - self._last >= self.interval_s:
            self._last = now
            return True
        return False
