"""Compute device choice and a plain description of it (for the status bar)."""
from __future__ import annotations

import os
import threading

import torch

_threads_configured = False
_warm_up_thread: threading.Thread | None = None


def configure_threads(num_threads: int | None = None, reserve: int = 0) -> int:
    """Set torch's thread count once, at start-up (it is process-wide).

    `reserve` cores are left free: the GUI keeps one for its own thread so live
    plots stay smooth while a job trains. CONVSCOPE_THREADS overrides both.
    """
    global _threads_configured
    if _threads_configured:
        return torch.get_num_threads()
    override = os.environ.get("CONVSCOPE_THREADS", "")
    if override.isdigit() and int(override) > 0:
        num_threads = int(override)
    elif num_threads is None:
        num_threads = max(1, (os.cpu_count() or 1) - reserve)
    torch.set_num_threads(num_threads)
    _threads_configured = True
    return num_threads


def warm_up() -> None:
    """Pay torch's one-time lazy set-up: one tiny conv step with an optimizer.

    The first torch.optim optimizer of a process imports torch._dynamo (about 880
    modules with sympy: ~2.4 s on a 2-core laptop), holding the GIL for up to
    ~250 ms at a time. Paid inside the first training run, that delayed the first
    curve point and froze the window; paid at start-up, in the background, the
    user never waits for it.
    """
    layer = torch.nn.Conv2d(1, 1, 3)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.0, momentum=0.9)
    layer(torch.zeros(1, 1, 5, 5)).sum().backward()
    optimizer.step()
    # The colour maps of saliency and the lessons: matplotlib's submodules import each other, and
    # two threads importing it at once failed with "partially initialized module matplotlib.colors".
    from matplotlib import colormaps  # noqa: F401


def reset_thread_state() -> None:
    """Give the calling thread torch's defaults for per-thread state. Jobs share long-lived
    threads: one that ended inside torch.no_grad() must not leave the next without gradients."""
    torch.set_grad_enabled(True)


def wait_for_warm_up() -> None:
    """Block until the background warm-up has finished its imports (jobs call this first, so no two
    threads import the same package at once)."""
    thread = _warm_up_thread
    if thread is not None and thread is not threading.current_thread():
        thread.join()


def start_warm_up() -> threading.Thread:
    """Run warm_up() once per process in a background thread (idempotent)."""
    global _warm_up_thread
    if _warm_up_thread is None:
        # Not a daemon: exiting mid-import would tear down modules under it.
        _warm_up_thread = threading.Thread(target=warm_up, name="convscope-torch-warm-up")
        _warm_up_thread.start()
    return _warm_up_thread


def warm_up_finished() -> bool:
    return _warm_up_thread is not None and not _warm_up_thread.is_alive()


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """Names the user can pick: 'auto', 'cpu', and 'cuda' / 'mps' where present."""
    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        names.append("cuda")
    if mps_available():
        names.append("mps")
    return names


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA, then MPS, then CPU. An unavailable choice is an error."""
    from .errors import ConvScopeError

    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConvScopeError("CUDA was requested but no CUDA GPU is available on this machine.")
    if name == "mps" and not mps_available():
        raise ConvScopeError("MPS was requested but Apple's Metal backend is not available here.")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise ConvScopeError(f"Unknown device '{name}'. Choose one of: {', '.join(available_devices())}.") from exc


def describe_device(device: torch.device | str | None = None) -> str:
    """'CPU (2 threads)' or 'CUDA: NVIDIA H200' for the status bar."""
    device = resolve_device("auto") if device is None else torch.device(device)
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple MPS"
    threads = torch.get_num_threads()
    return f"CPU ({threads} thread{'' if threads == 1 else 's'})"


def memory_report() -> str:
    """Process memory (and GPU memory where present), e.g. 'RAM 412 MB'."""
    parts = []
    try:
        import psutil

        rss = psutil.Process().memory_info().rss
        parts.append(f"RAM {rss / 2**20:.0f} MB")
    except Exception:  # psutil missing or restricted: memory is informative only
        pass
    if torch.cuda.is_available():
        used = torch.cuda.memory_allocated() / 2**20
        parts.append(f"GPU {used:.0f} MB")
    return " · ".join(parts)
