"""File sources: what a CSV folder, a SQLite file and a Parquet folder share.

:class:`FileSource` holds the path and identifies the data by a BLAKE2b digest of its table
files' contents (computed once per process while the files' sizes and modification times
stay the same). :func:`source_kind` tells which backend a path needs:

* a folder holding ``customers.parquet`` (or a ``customers/`` Parquet dataset) -> Parquet
* any other folder -> CSV files ``customers.csv``, ``bills.csv``, ``payments.csv``,
  ``collections_actions.csv``
* a file -> SQLite database, opened read-only (its bytes never change)
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import param

from dashboard import SourceError
from dashboard.sources.base import Source
from dashboard.vocab import TABLES

DEFAULT_SOURCE = Path(__file__).resolve().parent.parent.parent / "data"
"""The committed demo set."""

DIGEST_CHUNK = 1 << 22
_DIGESTS: dict[tuple, str] = {}
_DIGESTS_LOCK = threading.Lock()


class FileSource(Source):
    """A source whose tables are files under one path."""

    path = param.Path(default=None, check_exists=False, doc="The folder or file read.")

    def __init__(self, path: str | Path, **params):
        super().__init__(path=Path(path).resolve(), **params)

    def table_files(self) -> list[Path]:
        """The files that hold the tables (what :meth:`signature` covers)."""
        path = Path(self.path)
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

    def signature(self) -> str:
        """BLAKE2b digest (32 hex characters) of the table files' names and contents.

        Hashed once per process while every file keeps its size and modification time, so
        asking again is a few ``stat`` calls; the cache folder beside the data never counts.
        """
        check_readable(Path(self.path))
        files = self.table_files()
        stamp = (
            str(self.path),
            tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files),
        )
        with _DIGESTS_LOCK:
            if stamp in _DIGESTS:
                return _DIGESTS[stamp]
        digest = hashlib.blake2b(digest_size=16)
        for file in files:
            digest.update(file.name.encode())
            with open(file, "rb") as handle:
                while block := handle.read(DIGEST_CHUNK):
                    digest.update(block)
        with _DIGESTS_LOCK:
            _DIGESTS[stamp] = digest.hexdigest()
        return _DIGESTS[stamp]

    @classmethod
    def accepts(cls, spec: str | Path) -> bool:
        """Whether ``spec`` is a path this backend reads (:func:`source_kind` says so)."""
        return source_kind(spec) == cls.kind

    def describe(self) -> str:
        return str(self.path)

    def spec(self) -> str:
        return str(self.path)

    def cache_home(self) -> Path:
        path = Path(self.path)
        return path if path.is_dir() else path.parent


def source_kind(path: str | Path) -> str:
    """Tell which reader a path needs.

    Parameters
    ----------
    path : str or Path
        A CSV folder, a Parquet folder or a SQLite file.

    Returns
    -------
    str
        ``"csv"``, ``"parquet"`` or ``"sqlite"``.

    Raises
    ------
    SourceError
        When the path does not exist or cannot be read.
    """
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    check_readable(path)
    if path.is_dir():
        if any((path / f"{t}.parquet").exists() or (path / t).is_dir() for t in TABLES):
            return "parquet"
        return "csv"
    return "sqlite"


def expected_files(suffix: str) -> str:
    """The table file names a folder source needs, for error messages."""
    return ", ".join(f"{t}{suffix}" for t in TABLES)


def check_readable(path: Path) -> None:
    try:
        if path.is_dir():
            next(path.iterdir(), None)
        else:
            with open(path, "rb"):
                pass
    except PermissionError:
        raise SourceError(f"{path}: permission denied (cannot read)") from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
