"""How a build's large arrays get their memory from the system (glibc's malloc).

A build makes and drops thousands of arrays of tens to hundreds of MB. glibc serves each
of these from a fresh ``mmap`` and unmaps it when freed, so every new array's pages are
faulted in and zero-filled by the kernel again. On the 2-core virtual machine of this
project's benchmarks that was about a quarter of a 1 M-customer build (109 s against
80 s). :func:`reusing_freed_memory` keeps freed blocks in the process's heap during a
build (``mallopt(M_MMAP_MAX, 0)`` and no trimming, see ``mallopt(3)``), with Arrow
allocating from the same heap, then gives the free memory back (``malloc_trim(3)``) and
restores glibc's usual behaviour (Arrow's pool stays). The build's threads share that heap
with every other thread: the package limits the process to one malloc arena when it is
imported (:mod:`dashboard._allocator`). Elsewhere than on glibc (macOS, Windows, musl) it
does nothing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from functools import wraps
from typing import TypeVar

from dashboard._allocator import LIBC

T = TypeVar("T")

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
"""``mallopt`` parameters (``<malloc.h>``)."""
DEFAULT_TRIM_THRESHOLD = 128 * 1024
DEFAULT_MMAP_MAX = 65536
"""glibc's defaults, restored after a build."""
LARGEST_TRIM_THRESHOLD = 2**31 - 1
"""``mallopt`` takes an ``int``: free space above 2 GiB at the heap's top is still trimmed."""

_LOCK = threading.Lock()
_depth = 0


_LIBC = LIBC


@contextlib.contextmanager
def reusing_freed_memory() -> Iterator[bool]:
    """Keep freed large blocks in the heap for reuse while the block runs.

    Nested or concurrent uses share one setting: glibc is restored, and free memory given
    back to the system, when the last one ends.

    Yields
    ------
    bool
        Whether the setting applies (glibc), for messages and tests.
    """
    global _depth
    if _LIBC is None:
        yield False
        return
    with _LOCK:
        if _depth == 0:
            _LIBC.mallopt(M_MMAP_MAX, 0)
            _LIBC.mallopt(M_TRIM_THRESHOLD, LARGEST_TRIM_THRESHOLD)
            _arrow_on_malloc()
        _depth += 1
    try:
        yield True
    finally:
        with _LOCK:
            _depth -= 1
            if _depth == 0:
                _LIBC.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
                _LIBC.mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD)
                _LIBC.malloc_trim(0)


def _arrow_on_malloc() -> None:
    """Arrow's buffers from the same heap (its default pool, jemalloc or mimalloc, keeps
    freed memory of its own beside glibc's)."""
    import pyarrow as pa

    if pa.default_memory_pool().backend_name != "system":
        pa.set_memory_pool(pa.system_memory_pool())


def reuses_freed_memory(func: Callable[..., T]) -> Callable[..., T]:
    """Decorate a build step so it runs inside :func:`reusing_freed_memory`."""

    @wraps(func)
    def step(*args, **kwargs) -> T:
        with reusing_freed_memory():
            return func(*args, **kwargs)

    return step
