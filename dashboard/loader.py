"""Load a source once per process and build its cube once per window.

Both results are kept in a process-wide cache keyed by the source's resolved path and
its files' sizes and modification times (and by the window and as-of date for cubes), so
every session of a ``panel serve`` process shares them and an edited source is
reloaded. Nothing here imports Panel: this is the "``pn.cache`` or equivalent" that the
model uses without depending on the UI. Cached objects are shared: never mutate them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TypeVar

import pandas as pd

from . import metrics, store
from .cube import Cube, build_cube
from .memory import reuses_freed_memory, reusing_freed_memory
from .schema import Portfolio, validate
from .sources import read_source, source_kind

T = TypeVar("T")

DEFAULT_SOURCE = Path(__file__).resolve().parent.parent / "data"
"""The committed demo set."""

SOURCE_ENV = "COLLECTIONS_SOURCE"
"""Environment variable naming the source of a served app (``collections-dashboard serve``
sets it for ``panel serve dashboard/app.py``)."""

_CACHE: OrderedDict[Hashable, object] = OrderedDict()
_CACHE_SIZE = 8
_LOCK = threading.Lock()
_KEY_LOCKS: dict[Hashable, threading.Lock] = {}


def source_signature(path: str | Path) -> tuple:
    """Identify a source's current contents cheaply: path, sizes and mtimes of its tables.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    tuple
        Changes whenever a table file of the source is replaced or edited (the cache
        folder beside it does not count).
    """
    path = Path(path).resolve()
    source_kind(path)  # raises SourceError for a missing path
    files = store.table_files(path)
    return (str(path), tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files))


def load_portfolio(path: str | Path = DEFAULT_SOURCE) -> Portfolio:
    """Read and validate a source, once per process while its files are unchanged.

    Parameters
    ----------
    path : str or Path, optional
        CSV folder, SQLite file or Parquet folder; the demo set by default.

    Returns
    -------
    Portfolio

    Raises
    ------
    SourceError
        When the source cannot be read or fails validation.
    """
    key = ("portfolio", source_signature(path))
    return _cached(key, lambda: _validated(path))


def load_cube(
    path: str | Path = DEFAULT_SOURCE,
    window: metrics.Window = metrics.Window(),
    as_of: pd.Timestamp | None = None,
    persistent: bool = True,
    buckets: metrics.Buckets = metrics.Buckets(),
) -> Cube:
    """The cube of a source for one window and as-of date, built once per process.

    Parameters
    ----------
    path : str or Path, optional
        Source path; the demo set by default.
    window : metrics.Window, optional
    as_of : Timestamp, optional
        Defaults to the latest payment date.
    persistent : bool, optional
        Use the cache on disk (:mod:`dashboard.store`): load the cube from there, or build
        it and store it.
    buckets : metrics.Buckets, optional
        Days-past-due bucket edges.

    Returns
    -------
    Cube
    """
    when = None if as_of is None else str(as_of)
    key = ("cube", source_signature(path), window, when, buckets)
    if not persistent:
        return _cached(key, lambda: build_cube(load_portfolio(path), window, as_of, buckets))
    return _cached(key, lambda: _stored_or_built(Path(path), window, as_of, buckets)[0])


def build_and_store(
    path: str | Path,
    window: metrics.Window = metrics.Window(),
    as_of: pd.Timestamp | None = None,
    progress: bool = True,
    buckets: metrics.Buckets = metrics.Buckets(),
) -> tuple[Path, bool]:
    """Fill the persistent cache for a source and window (``collections-dashboard build``).

    Returns
    -------
    (Path, bool)
        The cube file, and whether it had to be built (False: it was already there).
    """
    from tqdm import tqdm

    with tqdm(total=4, desc="build", unit="step", disable=not progress) as steps:
        _, file, built = _stored_or_built(Path(path), window, as_of, buckets, steps)
    return file, built


def _stored_or_built(
    path: Path,
    window: metrics.Window,
    as_of: pd.Timestamp | None,
    buckets: metrics.Buckets,
    steps=None,
) -> tuple[Cube, Path, bool]:
    """The cube from the disk cache, or built (not via load_portfolio: a served app keeps
    only the small cube, not the raw tables) and stored. ``steps`` is an optional tqdm bar."""

    def step(label: str | None = None) -> None:
        if steps is not None:
            steps.update()
            if label:
                steps.set_postfix_str(label)

    if steps is not None:
        steps.set_postfix_str("hashing source")
    file = store.cube_file(path, window, as_of, buckets)
    cube = store.read_cube(file)
    if cube is not None:
        if steps is not None:
            steps.update(steps.total - steps.n)
        return cube, file, False
    with reusing_freed_memory():  # one setting across the steps: no trimming between them
        step("reading and validating")
        portfolio = _validated(path)
        step("outcomes and aggregates")
        cube = build_cube(portfolio, window, as_of, buckets)
        del portfolio
    step("writing")
    try:
        store.write_cube(cube, file)
    except OSError:
        if steps is not None:  # `build` must say it could not store the cube
            raise
    step()
    return cube, file, True


@reuses_freed_memory
def _validated(path: str | Path) -> Portfolio:
    return validate(read_source(path))


def cube_for(
    portfolio: Portfolio,
    window: metrics.Window,
    as_of: pd.Timestamp | None = None,
    buckets: metrics.Buckets = metrics.Buckets(),
) -> Cube:
    """The cube of in-memory tables for one window, cached per portfolio object."""
    key = ("frames", id(portfolio), window, None if as_of is None else str(as_of), buckets)
    owner, cube = _cached(key, lambda: (portfolio, build_cube(portfolio, window, as_of, buckets)))
    if owner is not portfolio:  # the id was reused by a new object: rebuild
        with _LOCK:
            _CACHE.pop(key, None)
        return cube_for(portfolio, window, as_of, buckets)
    return cube


def clear_cache() -> None:
    """Forget every loaded source and cube (tests, or to free memory)."""
    with _LOCK:
        _CACHE.clear()
        _KEY_LOCKS.clear()


def _cached(key: Hashable, compute: Callable[[], T]) -> T:
    """Compute once per key, even when several sessions ask at the same time."""
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]  # type: ignore[return-value]
        key_lock = _KEY_LOCKS.setdefault(key, threading.Lock())
    with key_lock:
        with _LOCK:
            if key in _CACHE:
                return _CACHE[key]  # type: ignore[return-value]
        value = compute()
        with _LOCK:
            _CACHE[key] = value
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
            _KEY_LOCKS.pop(key, None)
        return value
