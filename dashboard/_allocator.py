"""One malloc arena for all of the process's threads, set when the package is imported.

glibc gives each thread that allocates its own arena (up to eight per core). A build's
threads, Arrow's decoding threads and NumPy's then each keep the blocks they freed to
themselves, and the process's memory grows with the arenas (1 M customers, streamed build:
peak RSS 3.51 GB and 33.4 s with arenas per thread; 3.26 GB and 31.3 s with one). The limit
only binds threads that have not allocated yet, so it is set here, before NumPy or Arrow
start theirs; :mod:`dashboard.compute.memory` keeps the rest of a build's allocator
settings. Elsewhere than on glibc (macOS, Windows, musl) nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_ARENA_MAX = -8
"""``mallopt`` parameter (``<malloc.h>``)."""
ONE_ARENA = 1
"""Arenas the process's threads share."""


def glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (it has ``mallopt`` and ``malloc_trim``), else None."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
        return None
    return libc


LIBC = glibc()


def share_one_arena() -> bool:
    """Make threads that allocate from now on share one arena; whether it applies."""
    if LIBC is None:
        return False
    return bool(LIBC.mallopt(M_ARENA_MAX, ONE_ARENA))


share_one_arena()
