"""Run engine jobs (generators of events) in worker threads.

`JobWorker` iterates one generator on one of the long-lived `JobThreads` and relays
each event to the GUI thread through a queued signal. Pause, resume and stop act
between yields.
`JobSlot` is one panel's single job: starting a new one stops the old, and
events from a stale job (older request id) are dropped. `JobRegistry` knows
every live worker so the window can stop them all on close.
"""
from __future__ import annotations

import logging
import queue
import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from engine.memory import release_freed_memory
from engine.errors import ConvScopeError, JobCancelled
from engine.events import watch_stop_flag

log = logging.getLogger("convscope.workers")

JobFactory = Callable[[], Any]  # returns a generator of events


def describe_exception(exc: BaseException) -> tuple[str, str]:
    """(title, plain message) for a message box; tracebacks go to the log only."""
    if isinstance(exc, ConvScopeError):
        return exc.title, str(exc)
    if isinstance(exc, MemoryError):
        return "Out of memory", "The job ran out of memory. Try a smaller batch, model or sample size."
    if isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower():
        return "Out of memory", "The device ran out of memory. Try a smaller batch, model or sample size."
    return "Unexpected error", f"{type(exc).__name__}: {exc}"


class JobThreads:
    """Long-lived threads that run jobs, one job at a time each.

    Why not a new thread per job: glibc gives each thread one heap arena for life,
    and with the window's 2 arenas (engine.memory.limit_heap_arenas) a new thread
    often got the GUI thread's own arena; training then ran ~5 % slower in the
    window (measured: 9,487 vs 9,935 images/s) because both threads allocated from
    one heap. The first thread, started before any other, gets the second arena,
    and every job that finds it idle runs there. Threads beyond those kept idle
    end once idle, so a burst of parallel jobs leaves nothing behind.
    """

    KEEP_IDLE = 2

    def __init__(self):
        self._lock = threading.Lock()
        self._idle: list[_JobThread] = []  # oldest first: the first thread has its own arena
        self._busy: set[_JobThread] = set()
        self._started = 0

    def prepare(self) -> None:
        """Start the first thread now and wait until it has its heap arena (call before
        other threads start; later calls do nothing)."""
        with self._lock:
            if self._started:
                return
            thread = self._new_thread()
            self._idle.append(thread)
        thread.ready.wait()

    def submit(self, worker: JobWorker) -> None:
        """Run `worker` on an idle thread, else after a job that has only its clean-up left (a job
        started as another ends keeps to the first thread), else on a new thread."""
        with self._lock:
            if self._idle:
                thread = self._idle.pop(0)
            else:
                finishing = [t for t in self._busy if len(t.jobs) == 1 and t.jobs[0].reported_end.is_set()]
                thread = min(finishing, key=lambda t: t.number) if finishing else self._new_thread()
            self._busy.add(thread)
            thread.jobs.append(worker)
        thread.inbox.put(worker)

    def _new_thread(self) -> _JobThread:
        self._started += 1
        thread = _JobThread(self, self._started)
        thread.start()
        return thread

    def idle_threads(self) -> list[_JobThread]:
        with self._lock:
            return list(self._idle)

    def job_over(self, thread: _JobThread) -> None:
        """`thread` has finished its job: unless another waits for it, keep it for the next one or,
        with enough idle threads already, end the newest idle one (never the first)."""
        with self._lock:
            thread.jobs.pop(0)
            if thread.jobs:
                return
            self._busy.discard(thread)
            self._idle.append(thread)
            self._idle.sort(key=lambda t: t.number)
            if len(self._idle) > self.KEEP_IDLE:
                self._idle.pop().inbox.put(None)


class _JobThread(threading.Thread):
    def __init__(self, pool: JobThreads, number: int):
        # A daemon: an idle thread waiting for work must not hold up the exit (the window
        # stops every running job before it closes).
        super().__init__(name=f"convscope-job-{number}", daemon=True)
        self.number = number
        self.inbox: queue.SimpleQueue[JobWorker | None] = queue.SimpleQueue()  # None: end
        self.jobs: list[JobWorker] = []  # handed to it and not over (the pool's lock guards it)
        self.ready = threading.Event()
        self._pool = pool

    def run(self) -> None:
        bytearray(1 << 16)  # a first malloc here: glibc picks this thread's heap arena now
        self.ready.set()
        while (worker := self.inbox.get()) is not None:
            released = worker.released
            worker.run_here(before_finished=lambda: self._pool.job_over(self))
            # The GUI thread holds the worker until `released`: its last reference, and so its
            # destruction (a QObject's, with the panel objects its job factory holds), stays there.
            del worker
            released.set()


job_threads = JobThreads()  # the application's; create_application prepares it before other threads start


class JobWorker(QObject):
    """One job: iterates its generator on a job thread. Its thread-like interface
    (start, isRunning, wait, finished) is what the slot and the registry use."""

    event = Signal(int, object)  # request id, event
    succeeded = Signal(int, object)  # request id, return value of the generator
    failed = Signal(int, str, str)  # request id, title, message
    stopped = Signal(int)  # request id: the user stopped it
    finished = Signal()  # the job and its clean-up are over

    def __init__(self, factory: JobFactory, request_id: int, parent: QObject | None = None):
        super().__init__(parent)
        self._factory = factory
        self.request_id = request_id
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()  # set = not paused
        self._started = False
        self.released = threading.Event()  # the job and its clean-up are over, its thread let go of it
        # Set just before the end is reported (succeeded / failed / stopped): the thread only cleans up
        # after that (drops the job's tensors, returns freed pages), which can take a moment under load.
        self.reported_end = threading.Event()

    # Control: safe to call from the GUI thread at any time.
    def start(self) -> None:
        self._started = True
        job_threads.submit(self)

    def isRunning(self) -> bool:  # QThread's name: the slot and the registry treat both alike
        return self._started and not self.released.is_set()

    def wait(self, timeout_ms: int | None = None) -> bool:
        """Block until the job is over and its thread has let go of it (True) or `timeout_ms` passed
        (False)."""
        if not self._started:
            return True
        return self.released.wait(None if timeout_ms is None else timeout_ms / 1000)

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def request_stop(self) -> None:
        self._stop.set()
        self._running.set()  # wake a paused worker so it can exit

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def run_here(self, before_finished: Callable[[], None]) -> None:  # on a job thread
        """Run the job to its end; never raises. `before_finished` runs once the job is over but
        before `finished` is sent, so a job started on `finished` can reuse this thread."""
        try:
            self._run()
        finally:
            before_finished()
            try:
                self.finished.emit()
            except RuntimeError:  # the window is gone (shutdown): nobody is listening
                log.debug("job finished after its window closed")

    def _run(self) -> None:
        generator = None
        watch_stop_flag(self._stop)  # long engine calls inside one step stop early too
        try:
            from engine.device import reset_thread_state, wait_for_warm_up

            wait_for_warm_up()  # its imports first: a job importing the same package at once can fail
            reset_thread_state()  # as a new thread would have it, whatever the last job left
            generator = self._factory()
            while True:
                self._running.wait()
                if self._stop.is_set():
                    generator.close()  # runs the job's finally blocks
                    self.reported_end.set()
                    self.stopped.emit(self.request_id)
                    return
                try:
                    item = next(generator)
                except StopIteration as done:
                    self.reported_end.set()
                    self.succeeded.emit(self.request_id, done.value)
                    return
                self.event.emit(self.request_id, item)
        except JobCancelled:
            self.reported_end.set()
            self.stopped.emit(self.request_id)
        except BaseException as exc:  # shown to the user as a message, never a crash
            log.error("job failed:\n%s", traceback.format_exc())
            title, message = describe_exception(exc)
            self.reported_end.set()
            self.failed.emit(self.request_id, title, message)
        finally:
            watch_stop_flag(None)
            generator = None  # drop the job's tensors first, then give their pages back
            release_freed_memory()


class JobRegistry(QObject):
    """Every live worker of the application, so closing can stop them all."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._workers: set[JobWorker] = set()

    def add(self, worker: JobWorker) -> None:
        self._workers.add(worker)
        worker.finished.connect(self._forget)

    def _forget(self) -> None:
        worker = self.sender()
        if isinstance(worker, JobWorker) and worker in self._workers:
            # `finished` comes just before the job thread lets go of the worker: wait for that, so
            # the last reference (and the QObject's destruction) is here, in the GUI thread. Not
            # bounded: the thread has only a few bytecodes left and nothing that could block.
            worker.wait()
            self._workers.discard(worker)

    def live(self) -> list[JobWorker]:
        return [w for w in self._workers if w.isRunning()]

    def stop_all(self, timeout_ms: int = 2000) -> bool:
        """Ask every worker to stop and wait up to `timeout_ms` in total. True if all ended."""
        workers = list(self._workers)
        for worker in workers:
            worker.request_stop()
        deadline = QThreadDeadline(timeout_ms)
        ok = True
        for worker in workers:
            ok &= worker.wait(deadline.remaining_ms())
        self._workers = {w for w in self._workers if w.isRunning()}
        return ok


class QThreadDeadline:
    def __init__(self, timeout_ms: int):
        import time

        self._time = time
        self._end = time.monotonic() + timeout_ms / 1000

    def remaining_ms(self) -> int:
        return max(1, int((self._end - self._time.monotonic()) * 1000))


# The application-wide registry (one per process; the window stops it on close).
registry = JobRegistry()


class JobSlot(QObject):
    """One panel's job. Signals carry only current-job results.

    `stopped` fires when the job ends because it was asked to: at once when the
    panel calls stop() (the thread may still be finishing its step; anything it
    sends later is stale), and not when start() replaces a job with a new one.
    """

    event = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str, str)
    stopped = Signal()
    running_changed = Signal(bool)
    paused_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._request_id = 0
        self._worker: JobWorker | None = None
        self._stopping: list[JobWorker] = []  # asked to stop, thread not finished yet

    @property
    def running(self) -> bool:
        return self._worker is not None and self._worker.isRunning()

    @property
    def paused(self) -> bool:
        return self._worker is not None and self._worker.paused

    @property
    def request_id(self) -> int:
        return self._request_id

    def start(self, factory: JobFactory) -> int:
        """Stop the current job (if any) and start a new one; returns its request id."""
        self._abandon()
        self._request_id += 1
        worker = JobWorker(factory, self._request_id)
        worker.event.connect(self._on_event)
        worker.succeeded.connect(self._on_succeeded)
        worker.failed.connect(self._on_failed)
        worker.stopped.connect(self._on_stopped)
        worker.finished.connect(self._on_thread_finished)
        registry.add(worker)
        self._worker = worker
        worker.start()
        self.running_changed.emit(True)
        return self._request_id

    def pause(self) -> None:
        if self._worker is not None:
            self._worker.pause()
            self.paused_changed.emit(True)

    def resume(self) -> None:
        if self._worker is not None:
            self._worker.resume()
            self.paused_changed.emit(False)

    def stop(self, wait_ms: int = 0) -> None:
        """Ask the current job to stop; its later events are ignored as stale.
        Emits running_changed(False), then stopped."""
        if self._abandon(wait_ms):
            self.stopped.emit()

    def _abandon(self, wait_ms: int = 0) -> bool:
        worker = self._worker
        if worker is None:
            return False
        worker.request_stop()
        self._request_id += 1  # anything it still sends is now stale
        self._worker = None
        if worker.isRunning():
            self._stopping.append(worker)
        if wait_ms:
            worker.wait(wait_ms)
        self.running_changed.emit(False)
        return True

    def wait(self, timeout_ms: int = 5000) -> bool:
        """Wait for the current job's thread and those still finishing after stop()."""
        deadline = QThreadDeadline(timeout_ms)
        workers = self._stopping + ([self._worker] if self._worker is not None else [])
        return all([worker.wait(deadline.remaining_ms()) for worker in workers])

    # Relays: drop anything from a stale request.
    def _on_event(self, request_id: int, item: object) -> None:
        if request_id == self._request_id:
            self.event.emit(item)

    def _on_succeeded(self, request_id: int, result: object) -> None:
        if request_id == self._request_id:
            self.succeeded.emit(result)

    def _on_failed(self, request_id: int, title: str, message: str) -> None:
        if request_id == self._request_id:
            self.failed.emit(title, message)

    def _on_stopped(self, request_id: int) -> None:
        if request_id == self._request_id:
            self.stopped.emit()

    def _on_thread_finished(self) -> None:
        worker = self.sender()
        if worker in self._stopping:
            self._stopping.remove(worker)
        if worker is self._worker:
            self._worker = None
            self.running_changed.emit(False)
