"""The shared job mechanism: events reach the GUI thread, pause/resume/stop act
between yields, stale events are dropped, errors become messages."""
import threading
import time

from PySide6.QtCore import QThread

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
    assert not any(isinstance(w, QThread) and w.isRunning() for w in registry.live())


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
