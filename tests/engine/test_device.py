"""Device helpers: the start-up warm-up takes torch's lazy imports out of the first run."""
import os
import subprocess
import sys

import pytest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

AFTER_WARM_UP = r"""
import sys
sys.path.insert(0, sys.argv[1])
import torch
from engine.device import start_warm_up, warm_up_finished
assert start_warm_up() is start_warm_up()  # once per process
start_warm_up().join()
assert warm_up_finished()
before = set(sys.modules)
model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(18, 2))
for optimizer in (torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True),
                  torch.optim.Adam(model.parameters())):
    torch.nn.functional.cross_entropy(model(torch.zeros(4, 1, 5, 5)), torch.zeros(4, dtype=torch.long)).backward()
    optimizer.step()
print(sorted(set(sys.modules) - before))
"""

COLD = r"""
import sys
import torch
before = set(sys.modules)
torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
print(len(set(sys.modules) - before))
"""


def _run(script: str, *args: str) -> str:
    """The last line `script` prints, run in a fresh interpreter with glibc's malloc settings at
    their defaults (no MALLOC_* from the environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    proc = subprocess.run([sys.executable, "-c", script, str(ROOT), *args], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()[-1]


def test_first_optimizer_imports_many_modules_without_warm_up():
    # The cost the warm-up exists for: if torch stops importing lazily here, the warm-up can go.
    assert int(_run(COLD)) > 100


def test_after_warm_up_a_training_step_imports_nothing_new():
    assert _run(AFTER_WARM_UP) == "[]"


FRAGMENTED_THEN_TRIMMED = r"""
import sys, threading
sys.path.insert(0, sys.argv[1])
import numpy as np, psutil
from engine.memory import release_freed_memory
kept = []
def job():  # like a training job: many mid-sized buffers in a thread's own arena
    blocks = [np.ones(100_000 // 8) for _ in range(3000)]  # ~300 MB in 100 KB blocks
    kept.extend(blocks[::20])  # a few survivors pin the arena: free() alone cannot shrink it
thread = threading.Thread(target=job)
thread.start()
thread.join()
before = psutil.Process().memory_info().rss
ran = release_freed_memory()
after = psutil.Process().memory_info().rss
print(ran, (before - after) / 2**20)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_freed_job_memory_goes_back_to_the_os():
    ran, released_mb = _run(FRAGMENTED_THEN_TRIMMED).split()
    assert ran == "True"
    assert float(released_mb) > 150  # of the ~285 MB the job freed


THREADS_THEN_COUNT_ARENAS = r"""
import ctypes, sys, threading
sys.path.insert(0, sys.argv[1])
from engine.memory import limit_heap_arenas
if sys.argv[2] == "limit":
    assert limit_heap_arenas(2)
barrier = threading.Barrier(6)
def job():  # each thread allocates while the others hold theirs: glibc hands out arenas
    barrier.wait()
    held = [bytearray(1000) for _ in range(20_000)]
    barrier.wait()
threads = [threading.Thread(target=job) for _ in range(6)]
for t in threads: t.start()
for t in threads: t.join()
ctypes.CDLL("libc.so.6").malloc_stats()  # one "Arena N:" block per arena, on stderr
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="arenas are glibc's")
@pytest.mark.parametrize("mode", ["limit", "default"])
def test_job_threads_share_at_most_two_heap_arenas(mode):
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run([sys.executable, "-c", THREADS_THEN_COUNT_ARENAS, str(ROOT), mode],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    arenas = done.stderr.count("Arena ")
    if mode == "limit":
        assert arenas <= 2
    else:  # the check can tell: without the limit glibc uses more
        assert arenas > 2


FREED_BUFFERS_THEN_COUNT_FAULTS = r"""
import resource, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from engine.memory import reuse_freed_buffers
def step():  # like a forward+backward pass: a few large buffers written, then all freed
    buffers = [np.ones(6 << 20 >> 3) for _ in range(4)]  # 4 x 6 MB
    del buffers
def count_faults(_args=None):
    for _ in range(3):
        step()  # glibc's moving thresholds settle
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        step()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)
if sys.argv[2] == "reuse":
    assert reuse_freed_buffers()
if sys.argv[2] == "headless command":  # what main.py does before any command
    import types, main
    main.run_command(types.SimpleNamespace(func=count_faults))
else:
    count_faults()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
@pytest.mark.parametrize("mode", ["reuse", "headless command", "default"])
def test_freed_buffers_are_reused_not_faulted_in_again(mode):
    faults = int(_run(FREED_BUFFERS_THEN_COUNT_FAULTS, mode))
    if mode != "default":  # 20 steps x 24 MB written: at most a few stray pages come fresh
        assert faults < 200
    else:  # the check can tell: by default glibc trims the heap and faults the pages in again
        assert faults > 5000


def test_jobs_wait_for_the_warm_up_imports(monkeypatch):
    """A job thread waits until the background warm-up has finished importing (two threads importing
    matplotlib at once failed with a 'partially initialized module' ImportError)."""
    import threading

    from engine import device

    release = threading.Event()
    warm = threading.Thread(target=release.wait)
    warm.start()
    monkeypatch.setattr(device, "_warm_up_thread", warm)
    waited = threading.Event()
    job = threading.Thread(target=lambda: (device.wait_for_warm_up(), waited.set()))
    job.start()
    assert not waited.wait(0.2)  # still importing: the job has not started
    release.set()
    assert waited.wait(60)
    job.join()
    device.wait_for_warm_up()  # no thread to wait for any more: returns at once
