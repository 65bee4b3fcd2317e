"""The build's fast paths give the plain answers: sorting, date numbers, threads, memory.

Each fast path is checked against the obvious NumPy / Python computation on data shaped
to reach it (sorted keys, a few long runs, random keys, keys too wide to pack).
"""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard import compute
from dashboard.compute import memory
from dashboard.compute.engine import THREADS, in_threads

keys = st.lists(st.integers(-(2**40), 2**40), max_size=300).map(lambda k: np.array(k, np.int64))


@settings(max_examples=200, deadline=None)
@given(keys)
def test_sort_order_is_a_stable_argsort(values):
    assert np.array_equal(compute.sort_order(values), np.argsort(values, kind="stable"))


@pytest.mark.parametrize("shape", ["sorted", "few runs", "random", "wide", "ties"])
def test_sort_order_each_path(shape):
    rng = np.random.default_rng(3)
    n = 60_000
    values = {
        "sorted": np.sort(rng.integers(0, 10**6, n)),
        "few runs": np.concatenate([np.sort(rng.integers(0, 10**6, n // 3)) for _ in range(3)]),
        "random": rng.integers(0, 50, n),
        "wide": rng.integers(-(2**62), 2**62, n),
        "ties": np.repeat(rng.integers(0, 10, n // 100), 100),
    }[shape]
    assert np.array_equal(compute.sort_order(values), np.argsort(values, kind="stable"))


grids = st.lists(st.integers(-50, 400), min_size=0, max_size=15, unique=True).map(
    lambda g: np.array(sorted(g), np.int64)
)
days = st.lists(
    st.one_of(st.integers(-60, 420), st.sampled_from([-(10**6), 10**7])), max_size=2_000
)


@settings(max_examples=200, deadline=None)
@given(grids, days, st.sampled_from(["left", "right"]), st.sampled_from([np.int64, np.int32]))
def test_grid_positions_is_searchsorted(grid, values, side, dtype):
    values = np.array(values, dtype=dtype)
    expected = np.searchsorted(grid, values, side=side)
    assert np.array_equal(compute.grid_positions(grid, values, side), expected)


def test_grid_positions_looks_up_a_long_array():
    rng = np.random.default_rng(5)
    grid = np.sort(rng.choice(np.arange(18_000, 19_500), 13, replace=False))
    values = np.concatenate([rng.integers(17_900, 19_600, 100_000), [10**7, -(10**6)]])
    for side in ("left", "right"):
        expected = np.searchsorted(grid, values, side=side)
        assert np.array_equal(compute.grid_positions(grid, values, side), expected)


def test_is_sorted():
    assert compute.is_sorted(np.array([], np.int64))
    assert compute.is_sorted(np.array([1, 1, 2]))
    assert not compute.is_sorted(np.array([2, 1]))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-(9 * 10**9), 9 * 10**9), min_size=1, max_size=50))
def test_day_and_month_numbers_match_numpy_casts(seconds):
    dates = pd.Series(np.array(seconds, dtype="datetime64[s]"))
    days = np.asarray(dates, dtype="datetime64[D]").astype(np.int64)
    months = np.asarray(dates, dtype="datetime64[M]").astype(np.int64)
    assert np.array_equal(compute.day_numbers(dates), days)
    assert np.array_equal(compute.month_numbers(dates), months)
    for unit in ("ms", "us", "ns"):
        assert np.array_equal(compute.day_numbers(dates.astype(f"datetime64[{unit}]")), days)


def test_months_since():
    dates = pd.Series(pd.to_datetime(["2023-12-31", "2024-01-01", "2025-03-15"]))
    assert compute.months_since(dates, pd.Timestamp("2024-01-20")).tolist() == [-1, 0, 14]


def test_in_threads_keeps_order_and_uses_threads():
    seen = set()

    def square(x):
        seen.add(threading.get_ident())
        return x * x

    assert in_threads(square, (i for i in range(50))) == [i * i for i in range(50)]
    assert in_threads(square, []) == []
    assert len(seen) <= THREADS


def test_in_threads_raises_the_first_error():
    def fail_on_three(x):
        if x == 3:
            raise ValueError("three")
        return x

    with pytest.raises(ValueError, match="three"):
        in_threads(fail_on_three, range(10))


RSS_PROBE = """
import numpy as np
from dashboard.compute.memory import reusing_freed_memory

def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 >> 20

def churn():
    array = np.ones(50_000_000)  # 400 MB, touched
    del array

base = rss_mb()
churn()
plain = rss_mb() - base
with reusing_freed_memory() as applies:
    with reusing_freed_memory():
        churn()
    kept_after_inner = rss_mb() - base
after = rss_mb() - base
print(applies, plain, kept_after_inner, after)
"""


@pytest.mark.skipif(memory._LIBC is None, reason="not glibc: reusing_freed_memory does nothing")
def test_freed_memory_is_kept_during_a_build_and_given_back_after():
    out = subprocess.run(
        [sys.executable, "-c", RSS_PROBE], capture_output=True, text=True, check=True
    ).stdout.split()
    applies, plain, kept, after = out[0], *map(int, out[1:])
    assert applies == "True"
    assert plain < 100  # glibc's default: a large array's pages go back when it is freed
    assert kept > 300  # inside (even after a nested use ends): kept for the next array
    assert after < 100  # given back when the outermost use ends


POOL_PROBE = """
import pyarrow as pa
from dashboard.compute.memory import reusing_freed_memory

before = pa.default_memory_pool().backend_name
with reusing_freed_memory():
    inside = pa.default_memory_pool().backend_name
    pa.array(range(1000))  # allocates from it
print(before != "" and inside)
"""


@pytest.mark.skipif(memory._LIBC is None, reason="not glibc: reusing_freed_memory does nothing")
def test_arrow_allocates_from_the_build_heap_during_a_build():
    out = subprocess.run(
        [sys.executable, "-c", POOL_PROBE], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["system"]


ARENA_PROBE = """
import ctypes, ctypes.util, sys, threading
if sys.argv[1] == "dashboard":
    import dashboard  # noqa: F401
import numpy as np

go = threading.Barrier(4)
def work():
    go.wait()  # all alive at once: none can inherit another's arena
    for _ in range(50):
        np.ones(20_000).sum()
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
ctypes.CDLL(ctypes.util.find_library("c")).malloc_stats()  # one "Arena N:" block each
"""


def arenas_after_threads(first_import: str) -> int:
    """Malloc arenas of a process that imported ``first_import`` then ran four threads."""
    out = subprocess.run(
        [sys.executable, "-c", ARENA_PROBE, first_import], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stderr.count("Arena ")


@pytest.mark.skipif(memory._LIBC is None, reason="not glibc: no arena limit to set")
def test_importing_the_package_makes_threads_share_one_malloc_arena():
    assert arenas_after_threads("numpy") > 1  # glibc's default: an arena per thread
    assert arenas_after_threads("dashboard") == 1
