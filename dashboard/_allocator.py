"""How the process gets memory, set when the package is imported: one malloc arena for
all of its threads, and NumPy's large arrays in ordinary pages.

glibc gives each thread that allocates its own arena (up to eight per core). A build's
threads, Arrow's decoding threads and NumPy's then each keep the blocks they freed to
themselves, and the process's memory grows with the arenas (1 M customers, streamed build:
peak RSS 3.51 GB and 33.4 s with arenas per thread; 3.26 GB and 31.3 s with one). The limit
only binds threads that have not allocated yet, so it is set here, before NumPy or Arrow
start theirs; :mod:`dashboard.compute.memory` keeps the rest of a build's allocator
settings. Elsewhere than on glibc (macOS, Windows, musl) nothing is done.

NumPy asks the kernel for transparent huge pages for every array of 4 MB or more
(``madvise(MADV_HUGEPAGE)``). Where the kernel's huge-page ``defrag`` setting is ``madvise``
(this project's machines, and a common default), each first touch of such an array may then
stall while the kernel compacts memory to find a free 2 MB page: on the benchmark machine a
268 MB array took 1.66 s to fill instead of 0.10 s, and a 1 M-customer build spent 10–13 s
of system CPU on it (1.5 s without; 33.4–35.2 s wall against 28.8–29.5 s, 3 paired runs).
:func:`ordinary_pages` turns the advice off for the process, unless
``$NUMPY_MADVISE_HUGEPAGE`` says what NumPy should do.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

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

HUGEPAGE_ENV = "NUMPY_MADVISE_HUGEPAGE"
"""NumPy's own switch (read when NumPy is imported): when set, its choice is kept."""


def ordinary_pages() -> bool:
    """Stop NumPy advising huge pages for its arrays (unless :data:`HUGEPAGE_ENV` is set);
    whether the advice is off now."""
    if HUGEPAGE_ENV in os.environ:
        return os.environ[HUGEPAGE_ENV].strip() == "0"
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # another NumPy: its default stays
        return False
    _set_madvise_hugepage(False)
    return True


ordinary_pages()
