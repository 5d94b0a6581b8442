"""The shared job mechanism: events reach the GUI thread, pause/resume/stop act
between yields, stale events are dropped, errors become messages."""
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine.errors import DataError
from gui.workers import JobSlot, registry


def counting_job(n, delay=0.0, thread_ids=None):
    for i in range(n):
        if thread_ids is not None:
            thread_ids.add(threading.get_ident())
        time.sleep(delay)
        yield i
    return n


def test_events_arrive_in_order_and_result_is_returned(qtbot):
    slot = JobSlot()
    seen = []
    threads = set()
    slot.event.connect(seen.append)
    with qtbot.waitSignal(slot.succeeded, timeout=5000) as done:
        slot.start(lambda: counting_job(20, thread_ids=threads))
    assert done.args == [20]
    qtbot.waitUntil(lambda: len(seen) == 20, timeout=2000)
    assert seen == list(range(20))
    assert threading.get_ident() not in threads  # it ran in a worker thread
    slot.wait()


def test_pause_resume_and_stop(qtbot):
    slot = JobSlot()
    seen = []
    slot.event.connect(seen.append)
    slot.start(lambda: counting_job(10_000, delay=0.002))
    qtbot.waitUntil(lambda: len(seen) > 3, timeout=5000)
    slot.pause()
    qtbot.wait(100)
    frozen = len(seen)
    qtbot.wait(200)
    assert len(seen) <= frozen + 1  # at most the event in flight
    slot.resume()
    qtbot.waitUntil(lambda: len(seen) > frozen + 5, timeout=5000)
    worker = slot._worker
    slot.stop()
    assert worker.wait(2000)
    assert len(seen) < 10_000


def test_new_job_cancels_old_and_stale_events_are_dropped(qtbot):
    slot = JobSlot()
    seen = []
    slot.event.connect(seen.append)
    slot.start(lambda: (x for x in iter(lambda: time.sleep(0.001) or "old", None)))
    qtbot.wait(50)
    with qtbot.waitSignal(slot.succeeded, timeout=5000):
        slot.start(lambda: counting_job(3))
    qtbot.wait(50)
    assert seen[-3:] == [0, 1, 2]
    assert "old" not in seen[seen.index(0):]
    assert registry.stop_all(2000)


def test_engine_error_becomes_a_plain_message(qtbot):
    def broken():
        yield 1
        raise DataError("The folder /nowhere has no images.")

    slot = JobSlot()
    with qtbot.waitSignal(slot.failed, timeout=5000) as failed:
        slot.start(broken)
    assert failed.args == ["Data problem", "The folder /nowhere has no images."]
    slot.wait()


def test_unexpected_error_is_caught(qtbot):
    def broken():
        yield 1
        raise ZeroDivisionError("division by zero")

    slot = JobSlot()
    with qtbot.waitSignal(slot.failed, timeout=5000) as failed:
        slot.start(broken)
    assert failed.args[0] == "Unexpected error" and "ZeroDivisionError" in failed.args[1]
    slot.wait()


def test_stop_runs_the_jobs_cleanup(qtbot):
    cleaned = threading.Event()

    def job():
        try:
            while True:
                time.sleep(0.001)
                yield None
        finally:
            cleaned.set()

    slot = JobSlot()
    slot.start(job)
    qtbot.wait(50)
    slot.stop(wait_ms=2000)
    assert cleaned.is_set()
    assert not registry.live()


def test_stop_tells_the_panel_and_wait_covers_the_finishing_thread(qtbot):
    release = threading.Event()

    def slow_step_job():
        yield "first"
        release.wait(5)  # a long step the stop request cannot interrupt
        yield "late"

    slot = JobSlot()
    order, seen = [], []
    slot.event.connect(seen.append)
    slot.running_changed.connect(lambda running: order.append(("running", running)))
    slot.stopped.connect(lambda: order.append("stopped"))
    slot.start(slow_step_job)
    qtbot.waitUntil(lambda: seen == ["first"], timeout=5000)
    slot.stop()
    assert order == [("running", True), ("running", False), "stopped"]  # at once, not after the step
    assert not slot.running
    assert not slot.wait(100)  # the thread is still inside its step
    release.set()
    assert slot.wait(5000)
    qtbot.wait(50)
    assert seen == ["first"] and order.count("stopped") == 1  # nothing late, no second 'stopped'


def test_replacing_a_job_is_not_a_stop(qtbot):
    slot = JobSlot()
    stops = []
    slot.stopped.connect(lambda: stops.append(1))
    slot.start(lambda: counting_job(10_000, delay=0.002))
    with qtbot.waitSignal(slot.succeeded, timeout=5000):
        slot.start(lambda: counting_job(3))
    assert stops == []
    assert slot.wait(5000)


def test_stop_reaches_a_long_call_inside_one_step(qtbot):
    """A job inside one long engine call (a folder load) stops at its next stop check,
    so closing the window never waits for the whole call."""
    from engine.events import raise_if_stopped

    inside, checks = threading.Event(), []

    def one_long_step():
        inside.set()
        while True:  # stands for reading file after file; ends only through the stop check
            checks.append(1)
            raise_if_stopped()
            time.sleep(0.005)
        yield  # unreachable (a job is a generator)

    slot = JobSlot()
    slot.start(one_long_step)
    qtbot.waitUntil(inside.is_set, timeout=5000)
    slot.stop()
    assert slot.wait(30_000), "the job did not stop inside its long step"
    assert not slot.running and checks


def test_a_worker_says_when_it_has_reported_its_end(qtbot):
    """The leftover-thread guard (tests/conftest.py) waits for a worker that has reported its end and
    is only cleaning up, and fails a test that leaves a job running: this flag tells them apart."""
    release = threading.Event()

    def held_job():
        yield 0
        release.wait(60)
        yield 1
        return "done"

    slot = JobSlot()
    with qtbot.waitSignal(slot.event, timeout=5000):
        slot.start(held_job)
    worker = slot._worker
    assert worker.isRunning() and not worker.reported_end.is_set()  # still working: a leftover if a test ends now
    with qtbot.waitSignal(slot.succeeded, timeout=60000):
        release.set()
    assert worker.reported_end.is_set()
    slot.wait()


def test_jobs_reuse_a_long_lived_thread_and_get_a_fresh_grad_mode(qtbot):
    """One job after another runs on the same job thread (its heap arena stays the jobs'), and a job
    that left gradients off does not pass that on."""
    import torch

    def grad_off_job(seen):
        seen.append((threading.get_ident(), torch.is_grad_enabled()))
        torch.set_grad_enabled(False)  # left off on purpose, as a job ended inside no_grad would
        yield None

    slot, seen = JobSlot(), []
    for _ in range(3):
        with qtbot.waitSignal(slot.succeeded, timeout=10_000):
            slot.start(lambda: grad_off_job(seen))
        assert slot.wait(10_000)
    assert len({ident for ident, _ in seen}) == 1
    assert [grad for _, grad in seen] == [True, True, True]


def test_parallel_jobs_get_threads_of_their_own_and_spare_threads_end(qtbot):
    from gui.workers import JobThreads, job_threads

    release = threading.Event()
    started = []

    def held(index):
        started.append((index, threading.get_ident()))
        release.wait(60)
        yield index

    slots = [JobSlot() for _ in range(JobThreads.KEEP_IDLE + 2)]
    for index, slot in enumerate(slots):
        slot.start(lambda index=index: held(index))
    qtbot.waitUntil(lambda: len(started) == len(slots), timeout=30_000)
    assert len({ident for _, ident in started}) == len(slots)  # none waits behind another
    release.set()
    assert all(slot.wait(30_000) for slot in slots)
    qtbot.waitUntil(lambda: len(job_threads.idle_threads()) == JobThreads.KEEP_IDLE, timeout=10_000)
    kept = job_threads.idle_threads()
    assert kept[0].number == 1  # the first thread (the one with its own heap arena) is never the spare
    spares = {ident for _, ident in started} - {thread.ident for thread in kept}
    assert len(spares) >= 2
    qtbot.waitUntil(lambda: not spares & {thread.ident for thread in threading.enumerate()}, timeout=10_000)


def test_a_finished_worker_is_destroyed_in_the_gui_thread(qtbot):
    """A job thread lets go of its worker before the GUI thread drops it, so the worker (a QObject,
    with whatever its job factory holds) is destroyed in the GUI thread, not in the job thread."""
    import gc
    import weakref

    destroyed_in = []
    slot = JobSlot()
    release = threading.Event()

    def held_job():
        release.wait(60)
        yield 0

    slot.start(held_job)
    watcher = weakref.ref(slot._worker, lambda _: destroyed_in.append(threading.get_ident()))
    with qtbot.waitSignal(slot.succeeded, timeout=60_000):
        release.set()
    assert slot.wait(10_000)
    gc.disable()  # the collector could otherwise free it anywhere; here only reference counts count
    try:
        qtbot.waitUntil(lambda: watcher() is None, timeout=10_000)  # the slot and the registry let go
    finally:
        gc.enable()
    assert destroyed_in == [threading.get_ident()]


ARENA_PROBE = r"""
import ctypes, sys, threading
sys.path.insert(0, sys.argv[1])
from gui.app import create_application
from gui.workers import JobSlot

libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = libc.sbrk.restype = ctypes.c_void_p
libc.malloc.argtypes, libc.free.argtypes = [ctypes.c_size_t], [ctypes.c_void_p]


def outside_main_arena():
    # glibc's main arena (the GUI thread's) grows below the program break; other arenas are
    # mmapped far above it. 40 kB is above the per-thread cache and below the mmap threshold.
    block = libc.malloc(40_000)
    above = block > libc.sbrk(0)
    libc.free(block)
    return above


app = create_application()
hold = threading.Event()
for _ in range(2):  # threads that allocate and stay (as Qt's pooled threads do) before the first job
    threading.Thread(target=lambda: (bytearray(1 << 16), hold.wait()), daemon=True).start()
results = []
slot = JobSlot()
slot.succeeded.connect(lambda result: (results.append(result), app.quit()))
slot.failed.connect(lambda *message: (results.append(message), app.quit()))
for _ in range(3):
    slot.start(lambda: (yield outside_main_arena()) or outside_main_arena())
    app.exec()
print(results)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="glibc heap arenas")
def test_jobs_do_not_allocate_from_the_gui_threads_heap_arena():
    """Training shared the GUI thread's glibc arena when a new job thread was given it, and ran ~5 %
    slower in the window. Jobs run on the first job thread, which takes an arena of its own."""
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("MALLOC_ARENA_MAX", None)
    done = subprocess.run([sys.executable, "-c", ARENA_PROBE, str(root)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[True, True, True]"
