"""A SQLite file with the four tables (or views), opened read-only.

How the file is opened depends on its journal (the database's bytes never change):

* rollback journal (the default): ``mode=ro``. SQLite takes a shared lock, waits up to
  :data:`BUSY_SECONDS` for a writer to commit, and refuses a *hot journal* (a ``-journal``
  left by a writer that stopped mid-transaction: its half-written pages must be rolled back
  by a read-write connection first). Nothing is created.
* write-ahead log (WAL) with a ``-wal`` file holding frames: ``mode=ro``, so the rows
  committed to the log but not yet copied into the database are read. SQLite needs the
  ``-shm`` index beside it: it updates it (reader marks) and creates it when missing, as
  every SQLite reader does; the database and its ``-wal`` are never written. In a read-only
  folder without ``-shm`` the log cannot be read and the source is refused.
* WAL with no ``-wal`` (or an empty one, every frame checkpointed): ``immutable=1``, which
  creates no ``-wal``/``-shm`` files; the file is checked unchanged after reading and read
  again (through the log) when a writer started meanwhile.

All four tables are read in one read transaction: one consistent snapshot.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pandas as pd

from dashboard import SourceError
from dashboard.sources.base import RawTables
from dashboard.sources.files import FileSource, check_readable, first_line
from dashboard.vocab import OPTIONAL_TABLES, TABLES

SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_SECONDS = 10.0
"""How long a read waits for a writer holding the database's lock."""
ATTEMPTS = 3
"""Reads of a WAL database without a log, tried again when the file changed meanwhile."""
ID_COLUMN = "customer_id"
"""Read as text when stored as INTEGER (with a NULL, pandas would make the column floats)."""

SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_CANTOPEN = 5, 6, 8, 14
SQLITE_READONLY_ROLLBACK = SQLITE_READONLY | (3 << 8)


class SqliteSource(FileSource):
    """A SQLite database file holding one table (or view) per name."""

    kind = "sqlite"

    def table_files(self) -> list[Path]:
        """The database file and, when present, its write-ahead log (``-wal``): committed
        rows may live in the log only, so the cache key must see it change."""
        file = Path(self.path)
        wal = wal_file(file)
        return [file, wal] if wal.is_file() else [file]

    def tables(self) -> RawTables:
        return _read_sqlite(Path(self.path))


def wal_file(file: Path) -> Path:
    """The write-ahead log beside a database (``NAME-wal``)."""
    return file.with_name(file.name + "-wal")


def _read_sqlite(file: Path) -> RawTables:
    check_readable(file)
    header = _check_sqlite_header(file)
    wal_mode = 2 in (header[18], header[19])  # file format write/read versions: 2 = WAL
    for _ in range(ATTEMPTS):
        immutable = wal_mode and _log_size(file) == 0
        before = _stamp(file)
        frames = _read_tables(file, immutable, wal_mode)
        if not immutable or _stamp(file) == before:
            origins = {table: f"{file}:{table}" for table in frames}
            return RawTables(frames, origins, str(file), "sqlite")
    raise SourceError(f"{file}: changed while it was being read (a writer is busy); try again")


def _log_size(file: Path) -> int:
    try:
        return os.stat(wal_file(file)).st_size
    except OSError:
        return 0


def _stamp(file: Path) -> tuple:
    status = os.stat(file)
    return status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino, _log_size(file)


def _read_tables(file: Path, immutable: bool, wal_mode: bool) -> dict[str, pd.DataFrame]:
    """The four tables (and the optional ones present) in one read transaction; every
    SQLite error is one line."""
    # mode=ro: no writes; immutable=1 (only for a WAL database without a log): no locks,
    # no -wal or -shm files.
    uri = f"{file.resolve().as_uri()}?mode=ro{'&immutable=1' if immutable else ''}"
    frames = {}
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=BUSY_SECONDS, isolation_level=None)
    except sqlite3.Error as exc:
        raise SourceError(_sqlite_problem(file, exc, wal_mode)) from None
    try:
        connection.execute("BEGIN")  # one snapshot for all four tables
        names = _table_names(connection)
        for table in TABLES:
            if table not in names:
                raise SourceError(
                    f"{file}: table '{table}' missing (a SQLite source needs tables "
                    f"{', '.join(TABLES)})"
                )
            frames[table] = pd.read_sql_query(_select(connection, names[table]), connection)
        for table in OPTIONAL_TABLES:
            if table in names:
                frames[table] = pd.read_sql_query(_select(connection, names[table]), connection)
    except (sqlite3.Error, pd.errors.DatabaseError) as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, sqlite3.Error) else exc
        raise SourceError(_sqlite_problem(file, cause, wal_mode)) from None
    finally:
        connection.close()
    return frames


def _table_names(connection: sqlite3.Connection) -> dict[str, str]:
    """Each table's or view's name as stored, by its lower-case name (SQLite names are
    case-insensitive: ``Bills`` is the ``bills`` table)."""
    query = "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
    return {row[0].lower(): row[0] for row in connection.execute(query)}


def _select(connection: sqlite3.Connection, name: str) -> str:
    """``SELECT`` every column, an INTEGER ``customer_id`` as text."""
    columns = [row[1] for row in connection.execute(f"PRAGMA table_info({_quote(name)})")]
    parts = [
        f"CASE WHEN typeof({_quote(c)}) = 'integer' THEN CAST({_quote(c)} AS TEXT) "
        f"ELSE {_quote(c)} END AS {_quote(c)}"
        if c == ID_COLUMN
        else _quote(c)
        for c in columns
    ]
    return f"SELECT {', '.join(parts) or '*'} FROM {_quote(name)}"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sqlite_problem(file: Path, exc: BaseException, wal_mode: bool) -> str:
    """One line for a SQLite error, by its error code."""
    code = getattr(exc, "sqlite_errorcode", None) or 0
    if code == SQLITE_READONLY_ROLLBACK:
        return (
            f"{file}: hot journal {file.name}-journal (a writer stopped in the middle of a "
            "transaction; its half-written pages would be read as data): open the database "
            "once with a read-write SQLite connection, which rolls the journal back, then "
            "read it again"
        )
    if code & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED):
        return f"{file}: locked by a writer for more than {BUSY_SECONDS:g} s; try again later"
    if wal_mode and code & 0xFF in (SQLITE_CANTOPEN, SQLITE_READONLY):
        return (
            f"{file}: its write-ahead log {file.name}-wal cannot be read without the index "
            f"{file.name}-shm, which is missing and cannot be created here (read-only "
            "folder): open the database once where it can be written, or copy it with its "
            "-wal file to a writable folder"
        )
    return f"{file}: damaged SQLite database ({first_line(exc)})"


def _check_sqlite_header(file: Path) -> bytes:
    """Refuse a file that is not SQLite, or is shorter than its header says (truncated);
    return the 100-byte header."""
    with open(file, "rb") as handle:
        header = handle.read(100)
    if header[: len(SQLITE_MAGIC)] != SQLITE_MAGIC:
        raise SourceError(
            f"{file}: not a SQLite database (and not a folder of CSV or Parquet files)"
        )
    if len(header) < 100:
        raise SourceError(f"{file}: truncated SQLite database (header incomplete)")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    expected = page_size * pages
    actual = file.stat().st_size
    if pages and actual < expected and _log_size(file) == 0:
        raise SourceError(
            f"{file}: truncated SQLite database ({actual:,} bytes, header says {expected:,})"
        )
    return header
