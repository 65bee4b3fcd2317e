"""File sources: what a CSV folder, a SQLite file and a Parquet folder share.

:class:`FileSource` holds the path and identifies the data by a BLAKE2b digest of its table
files' contents (computed once per process while every file keeps its size, modification
time, change time and inode). :func:`source_kind` tells which backend a path needs:

* a folder holding Parquet tables (``customers.parquet``, or a ``customers/`` dataset folder
  of ``*.parquet`` files) and no CSV tables -> Parquet
* a folder holding CSV tables (``customers.csv``, ``bills.csv``, ``payments.csv``,
  ``collections_actions.csv``) and no Parquet tables -> CSV; with both kinds the complete
  kind is read, and when both are complete (or neither) the folder is refused
* a file -> SQLite database, opened read-only (its bytes never change)

Only regular files and folders (or symbolic links to them) are read: a named pipe, a device,
a socket or a symbolic-link loop is refused before anything is opened (:func:`check_path`),
since reading one could block or never end.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import threading
import time
from pathlib import Path

import param

from dashboard import SourceError
from dashboard.sources.base import Source, is_database_url
from dashboard.vocab import ALL_TABLES, TABLES

DEFAULT_SOURCE = Path(__file__).resolve().parent.parent.parent / "data"
"""The committed demo set."""

DIGEST_CHUNK = 1 << 22
RACY_NS = 2_000_000_000
"""A digest is remembered only for files whose last change (``st_ctime``) is at least this
long before hashing began: file times have coarse ticks, so a file rewritten within the same
tick as an earlier write, keeping its size and (reset) modification time, could otherwise
keep a stale digest. Younger files are hashed again on every call."""

PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
"""File names that mark Parquet data inside a dataset folder."""

_DIGESTS: dict[tuple, str] = {}
_DIGESTS_LOCK = threading.Lock()
_SPECIAL_FILES = {
    stat.S_IFIFO: "a named pipe",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


class FileSource(Source):
    """A source whose tables are files under one path."""

    path = param.Path(default=None, check_exists=False, doc="The folder or file read.")

    def __init__(self, path: str | Path, **params):
        super().__init__(path=_absolute(path), **params)

    def table_files(self) -> list[Path]:
        """The files that hold the tables (what :meth:`signature` covers): the path itself
        for a file; for a folder, the table files of this source's kind (both kinds when
        the kind is not set), never other files beside them."""
        path = Path(self.path)
        if not path.is_dir():
            return [path]
        files = []
        for table in ALL_TABLES:
            csv = path / f"{table}.csv"
            if self.kind in ("csv", "") and csv.is_file():
                files.append(csv)
            parquet = parquet_table_path(path, table) if self.kind in ("parquet", "") else None
            if parquet is not None and parquet.is_file():
                files.append(parquet)
            elif parquet is not None and parquet.is_dir():
                files.extend(p for p in parquet_data_files(parquet)[0] if p.is_file())
        return files

    def signature(self) -> str:
        """BLAKE2b digest (32 hex characters) of the table files' names and contents.

        Hashed once per process while every file keeps its size, modification time, change
        time and inode (a rewrite that keeps size and modification time still changes the
        change time), so asking again is a few ``stat`` calls; the cache folder beside the
        data never counts. Files changed in the last :data:`RACY_NS` nanoseconds are hashed
        on every call. Anything but a regular file or folder is refused before reading.
        """
        check_readable(Path(self.path))
        started = time.time_ns()
        files = self.table_files()
        stats = [f.stat() for f in files]
        stamp = (
            str(self.path),
            tuple(
                (str(f), s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino, s.st_dev)
                for f, s in zip(files, stats, strict=True)
            ),
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
        result = digest.hexdigest()
        if all(s.st_ctime_ns < started - RACY_NS for s in stats):
            with _DIGESTS_LOCK:
                _DIGESTS[stamp] = result
        return result

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


def _absolute(path: str | Path) -> Path:
    """The absolute, resolved path; a symbolic-link loop is kept as given (absolute), so
    that reading it gives a one-line error rather than a traceback."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
        return Path(os.path.abspath(path))


def source_kind(path: str | Path) -> str:
    """Tell which reader a path needs.

    Parameters
    ----------
    path : str or Path
        A CSV folder, a Parquet folder or a SQLite file (or a ``postgresql://`` URL, which
        is not checked as a path).

    Returns
    -------
    str
        ``"csv"``, ``"parquet"``, ``"sqlite"`` (or ``"postgresql"``).

    Raises
    ------
    SourceError
        When the path does not exist, cannot be read, is not a regular file or folder, or
        is a folder holding complete CSV and Parquet tables alike.
    """
    if is_database_url(path):
        return "postgresql"
    path = Path(path)
    check_readable(path)
    if path.is_dir():
        return _folder_kind(path)
    return "sqlite"


def _folder_kind(folder: Path) -> str:
    csv = [t for t in TABLES if (folder / f"{t}.csv").is_file()]
    parquet = [t for t in TABLES if _holds_parquet(parquet_table_path(folder, t))]
    if csv and parquet and len(csv) == len(parquet):
        raise SourceError(
            f"{folder}: holds both CSV and Parquet tables ({csv[0]}.csv and "
            f"{parquet_table_path(folder, parquet[0]).name}); keep one kind in a source folder"
        )
    if parquet and len(parquet) > len(csv):
        return "parquet"
    if csv:
        return "csv"
    # neither kind: a dataset folder of files not named *.parquet is still Parquet
    if any((folder / t).is_dir() for t in TABLES):
        return "parquet"
    return "csv"


def _holds_parquet(path: Path | None) -> bool:
    if path is None:
        return False
    if not path.is_dir():
        return True  # TABLE.parquet
    return any(f.name.lower().endswith(PARQUET_SUFFIXES) for f in _visible_files(path))


def parquet_table_path(folder: Path, table: str) -> Path | None:
    """Where a Parquet folder keeps a table: ``TABLE.parquet`` (a file or dataset folder),
    else a ``TABLE/`` dataset folder; None when neither exists."""
    file = folder / f"{table}.parquet"
    if os.path.lexists(file):
        return file
    if (folder / table).is_dir():
        return folder / table
    return None


def parquet_data_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """The data files of a Parquet dataset folder, and the other files it holds.

    Hidden entries and those starting with ``_`` (``_SUCCESS``, ``_metadata``, ``.crc``
    files) are skipped at every level, as Arrow does. Files named ``*.parquet`` (``.parq``,
    ``.pq``) are the data; any other file (a README) is returned second, to be ignored with
    a warning. A folder with no such names has all its files as data (each must then be
    Parquet).

    Returns
    -------
    (list of Path, list of Path)
        Data files and ignored files, each sorted.
    """
    files = sorted(_visible_files(folder))
    data = [f for f in files if f.name.lower().endswith(PARQUET_SUFFIXES)]
    if not data:
        return files, []
    return data, sorted(set(files) - set(data))


def _visible_files(folder: Path):
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        for name in sorted(names):
            if not name.startswith((".", "_")):
                yield Path(root) / name


def expected_files(suffix: str) -> str:
    """The table file names a folder source needs, for error messages."""
    return ", ".join(f"{t}{suffix}" for t in TABLES)


def check_path(path: Path) -> os.stat_result:
    """Refuse a path that is missing or is not a regular file or folder, before opening it.

    Symbolic links are followed; a loop, a dangling link, a named pipe, a device or a
    socket is refused (opening a pipe blocks until a writer comes; a device such as
    ``/dev/zero`` never ends).

    Parameters
    ----------
    path : Path

    Returns
    -------
    os.stat_result
        The path's status (symbolic links followed).

    Raises
    ------
    SourceError
        One line naming the path and the problem.
    """
    try:
        status = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise SourceError(
                f"{path}: dangling symbolic link (to {os.readlink(path)!r}, which does not exist)"
            ) from None
        raise SourceError(f"{path}: no such file or folder") from None
    except PermissionError:
        raise SourceError(f"{path}: permission denied (cannot read)") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SourceError(
                f"{path}: symbolic link loop (too many levels of symbolic links)"
            ) from None
        if exc.errno == errno.ENOTDIR:
            raise SourceError(f"{path}: no such file or folder") from None
        raise SourceError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    kind = stat.S_IFMT(status.st_mode)
    if kind in _SPECIAL_FILES:
        raise SourceError(
            f"{path}: {_SPECIAL_FILES[kind]}, not a regular file or folder (refused before reading)"
        )
    return status


def check_readable(path: Path) -> None:
    """Refuse a path that :func:`check_path` refuses, or that cannot be opened for reading.

    Raises
    ------
    SourceError
    """
    status = check_path(path)
    try:
        if stat.S_ISDIR(status.st_mode):
            next(path.iterdir(), None)
        else:
            with open(path, "rb"):
                pass
    except PermissionError:
        raise SourceError(f"{path}: permission denied (cannot read)") from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
