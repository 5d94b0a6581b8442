"""Process memory housekeeping. No torch here: the GUI imports this before torch
is loaded (the window must show first)."""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

_libc = None


def release_freed_memory() -> bool:
    """Hand heap memory that jobs freed back to the OS (glibc only; True if it ran).

    Each job runs in a new thread, and glibc keeps what a thread's arena freed for
    later use instead of returning it: a 20-minute soak of back-to-back training
    runs grew the process by ~270 MB while the memory in use stayed flat at
    ~220 MB. malloc_trim(0) returns those free pages. ctypes drops the GIL for
    the call, so the GUI thread is not held up.
    """
    global _libc
    if not sys.platform.startswith("linux"):
        return False
    if _libc is None:
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):  # not glibc (e.g. musl has no malloc_trim)
            _libc = False
    if not _libc:
        return False
    _libc.malloc_trim(0)
    return True


_M_ARENA_MAX = -8  # glibc's mallopt parameter number for MALLOC_ARENA_MAX


def limit_heap_arenas(count: int = 2) -> bool:
    """Let glibc keep at most `count` heap arenas (glibc only; True if set).

    Every job runs in a fresh thread and glibc gives new threads their own arena
    (up to 8 per core), each holding on to freed fragments malloc_trim cannot
    return. Measured over 25 back-to-back training runs with live views: RSS grew
    ~90 MB after the first run with the default and ~35 MB with 2 arenas, with
    the same memory in use. Call it before the job threads start: threads that
    already have an arena keep it. An explicit MALLOC_ARENA_MAX in the
    environment wins."""
    import os

    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_ARENA_MAX, int(count)))
    except (OSError, AttributeError):  # not glibc
        return False
