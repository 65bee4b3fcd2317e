"""A persistent cache of built cubes, next to the data.

``serve``, ``summary`` and ``export`` load a cube from here instead of rebuilding it. A
cube file is keyed by a digest of the source's table files' *contents* and by the metric
parameters (window, tolerance, as-of date, bucket edges) and the cube format, so it is rebuilt when
either changes. Files are written to a temporary name and renamed into place, so two
processes starting at once never read a half-written file (the slower one replaces an
identical file). The cache folder is ``.collections-cache`` beside the source (inside a
source folder, beside a SQLite file); when that is not writable, the user's cache folder.

Cube files are pickles: keep the cache folder as trusted as the data itself.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path

import pandas as pd

from . import __version__, metrics
from .cube import Cube
from .vocab import TABLES

CACHE_DIR_NAME = ".collections-cache"
CUBE_FORMAT = 4
"""Bump when :class:`dashboard.cube.Cube` changes shape: old files are then ignored."""
CHUNK = 1 << 22


def table_files(path: Path) -> list[Path]:
    """The files that hold a source's tables (what the digest covers)."""
    path = Path(path)
    if not path.is_dir():
        return [path]
    files = []
    for table in TABLES:
        for candidate in (path / f"{table}.csv", path / f"{table}.parquet", path / table):
            if candidate.is_file():
                files.append(candidate)
            elif candidate.is_dir():
                files.extend(sorted(p for p in candidate.rglob("*") if p.is_file()))
    return files


def content_digest(path: Path) -> str:
    """BLAKE2b digest of the contents of a source's table files.

    Parameters
    ----------
    path : Path
        CSV folder, Parquet folder or SQLite file.

    Returns
    -------
    str
        Hex digest (32 characters).
    """
    digest = hashlib.blake2b(digest_size=16)
    for file in table_files(path):
        digest.update(file.name.encode())
        with open(file, "rb") as handle:
            while block := handle.read(CHUNK):
                digest.update(block)
    return digest.hexdigest()


def cube_file(
    path: Path,
    window: metrics.Window,
    as_of: pd.Timestamp | None,
    buckets: metrics.Buckets = metrics.Buckets(),
) -> Path:
    """Where the cube of this source and these parameters is kept."""
    when = "latest" if as_of is None else pd.Timestamp(as_of).strftime("%Y%m%d")
    edges = "_".join(str(edge) for edge in buckets.edges)
    name = (
        f"cube-v{CUBE_FORMAT}-{__version__}-{content_digest(path)}-"
        f"b{window.before}-a{window.after}-t{window.tolerance_pence}-{when}-e{edges}.pkl"
    )
    return cache_folder(path) / name


def cache_folder(path: Path) -> Path:
    """``.collections-cache`` beside the data, or the user's cache folder if read-only."""
    path = Path(path).resolve()
    beside = (path if path.is_dir() else path.parent) / CACHE_DIR_NAME
    if _writable(beside):
        return beside
    home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    digest = hashlib.blake2b(str(path).encode(), digest_size=8).hexdigest()
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
    cube.__dict__.pop("_flags_memo", None)  # answers to earlier queries are not worth keeping
    cube.arrears.__dict__.pop("_ranked", None)
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
