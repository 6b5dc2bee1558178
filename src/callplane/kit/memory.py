"""The C heap of a long-running server process: glibc's malloc tuned for many threads that mostly
wait, and its free pages handed back to the system while the process works (issue 16, ADR 0015).

A `serve` runs ~17 threads at rest and ~35 under load (aiosqlite's one per connection, the SQLite
read connections', DBOS's, uvloop's). glibc gives threads up to 8 arenas per core, each keeping
the high-water mark of what its threads once allocated, and raises its mmap threshold after
each large free, so large buffers stop going back to the system. Measured on the embedded
default after `benchmarks.embedded`'s load: ~18 MB free but held in 16 arenas (Python's own
allocator had grown by ~3 MB).

Everything here is a no-op where the C library is not glibc (musl, macOS): their allocators
have neither knob.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import platform
import time
from collections.abc import MutableMapping
from typing import Any

# mallopt parameters (glibc's malloc.h).
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
# Two arenas: the event loop's thread and the rest. Threads mostly wait (the GIL, a socket, a
# SQLite lock), so they seldom contend for an arena's lock.
ARENA_MAX = 2
# glibc's initial threshold, kept fixed: blocks this large are mmap'd and unmapped when freed
# (glibc would raise it up to 32 MiB after freeing such a block, and keep them in its heaps).
MMAP_THRESHOLD_BYTES = 128 * 1024
# How often the process checks whether to trim, and how much CPU it must have used since its
# last trim to trim again. While it works it trims at most once per check (a trim took 0.2 to
# 1.4 ms under load, once 15 ms on a loaded machine); when it goes quiet, once more; at rest,
# hardly ever (~1 s of CPU per 70 s idle).
CHECK_SECONDS = 10.0
TRIM_AFTER_CPU_SECONDS = 1.0


def _glibc() -> Any | None:
    if platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


_libc = _glibc()


def configure(environ: MutableMapping[str, str] = os.environ) -> None:
    """Call at process start, before threads exist (an arena limit applies to threads that have
    not allocated yet). The standard environment variables (MALLOC_ARENA_MAX,
    MALLOC_MMAP_THRESHOLD_) still win when set; unset, they are set to our values too, which
    glibc reads when a child process starts (`serve --workers N` spawns its API processes)."""
    if _libc is None:
        return
    if "MALLOC_ARENA_MAX" not in environ:
        _libc.mallopt(_M_ARENA_MAX, ARENA_MAX)
        environ["MALLOC_ARENA_MAX"] = str(ARENA_MAX)
    if "MALLOC_MMAP_THRESHOLD_" not in environ:
        _libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        environ["MALLOC_MMAP_THRESHOLD_"] = str(MMAP_THRESHOLD_BYTES)


def trim() -> None:
    """Hand the C heap's free pages back to the system (glibc's malloc_trim)."""
    if _libc is not None:
        _libc.malloc_trim(0)


async def trim_periodically() -> None:
    """Trim every CHECK_SECONDS while the process works (runs until cancelled): what a burst of
    requests left free is handed back within CHECK_SECONDS of its end, and an idle process,
    which has nothing new to hand back, is not trimmed again. A check reads the process's CPU
    time: nothing else."""
    if _libc is None:
        return
    trimmed = time.process_time()
    while True:
        await asyncio.sleep(CHECK_SECONDS)
        if time.process_time() - trimmed >= TRIM_AFTER_CPU_SECONDS:
            trim()
            trimmed = time.process_time()
