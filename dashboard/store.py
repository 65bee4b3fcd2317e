"""A persistent cache of built cubes, next to the data.

``serve``, ``summary`` and ``export`` load a cube from here instead of rebuilding it. A
cube file is keyed by the source's kind and :meth:`~dashboard.sources.Source.signature` (for
files, a digest of the table files' *contents*) and by the metric
parameters (window, tolerance, as-of date, bucket edges) and the cube format, so it is rebuilt when
either changes. Files are written to a temporary name and renamed into place, so two
processes starting at once never read a half-written file (the slower one replaces an
identical file). The cache folder is ``.collections-cache`` beside the source
(:meth:`~dashboard.sources.Source.cache_home`: inside a source folder, beside a SQLite file);
when that is not writable, the user's cache folder.

Cube files are pickles: keep the cache folder as trusted as the data itself.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path

import pandas as pd

from dashboard import __version__
from dashboard.compute.ledger import Buckets
from dashboard.compute.outcomes import Window
from dashboard.cube.tables import Cube
from dashboard.sources import Source, open_source

CACHE_DIR_NAME = ".collections-cache"
CUBE_FORMAT = 4
"""Bump when :class:`dashboard.cube.Cube` changes shape: old files are then ignored."""


def cube_file(
    source: str | Path | Source,
    window: Window,
    as_of: pd.Timestamp | None,
    buckets: Buckets = Buckets(),
) -> Path:
    """Where the cube of this source and these parameters is kept."""
    source = open_source(source)
    when = "latest" if as_of is None else pd.Timestamp(as_of).strftime("%Y%m%d")
    edges = "_".join(str(edge) for edge in buckets.edges)
    name = (
        f"cube-v{CUBE_FORMAT}-{__version__}-{source.kind}-{source.signature()}-"
        f"b{window.before}-a{window.after}-t{window.tolerance_pence}-{when}-e{edges}.pkl"
    )
    return cache_folder(source) / name


def cache_folder(source: Source) -> Path:
    """``.collections-cache`` beside the data, or the user's cache folder when there is no
    writable place beside it."""
    home_of_data = source.cache_home()
    if home_of_data is not None and _writable(home_of_data / CACHE_DIR_NAME):
        return home_of_data / CACHE_DIR_NAME
    home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    digest = hashlib.blake2b(source.describe().encode(), digest_size=8).hexdigest()
    return home / "collections-dashboard" / digest


def read_cube(file: Path) -> Cube | None:
    """The cached cube, or None when absent or unreadable (then it is rebuilt)."""
    try:
        with open(file, "rb") as handle:
            cube = pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None
    return cube if isinstance(cube, Cube) else None


def write_cube(cube: Cube, file: Path) -> Path:
    """Write a cube atomically (temporary file, then rename)."""
    file.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=file.parent, prefix=".tmp-", suffix=".pkl")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            pickle.dump(cube, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, file)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return file


def _writable(folder: Path) -> bool:
    """Whether the cache folder exists writable, or could be created (nothing is created)."""
    if folder.exists():
        return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)
    return os.access(folder.parent, os.W_OK | os.X_OK)
