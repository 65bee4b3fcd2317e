"""A SQLite file with the four tables, opened read-only and immutable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd

from dashboard import SourceError
from dashboard.sources.base import RawTables
from dashboard.sources.files import FileSource, check_readable, first_line
from dashboard.vocab import TABLES

SQLITE_MAGIC = b"SQLite format 3\x00"


class SqliteSource(FileSource):
    """A SQLite database file holding one table per name."""

    kind = "sqlite"

    def tables(self) -> RawTables:
        return _read_sqlite(Path(self.path))


def _read_sqlite(file: Path) -> RawTables:
    check_readable(file)
    _check_sqlite_header(file)
    frames, origins = {}, {}
    # mode=ro&immutable=1: no writes, no journal, no lock files; the file's bytes never change.
    uri = f"{file.resolve().as_uri()}?mode=ro&immutable=1"
    connection = sqlite3.connect(uri, uri=True)
    try:
        query = "SELECT name FROM sqlite_master WHERE type='table'"
        present = {row[0] for row in connection.execute(query)}
        for table in TABLES:
            origins[table] = f"{file}:{table}"
            if table not in present:
                raise SourceError(
                    f"{file}: table '{table}' missing (a SQLite source needs tables "
                    f"{', '.join(TABLES)})"
                )
            frames[table] = pd.read_sql_query(f'SELECT * FROM "{table}"', connection)
    except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:
        raise SourceError(f"{file}: damaged SQLite database ({first_line(exc)})") from None
    finally:
        connection.close()
    return RawTables(frames, origins, str(file), "sqlite")


def _check_sqlite_header(file: Path) -> None:
    """Refuse a file that is not SQLite, or is shorter than its header says (truncated)."""
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
    if pages and actual < expected:
        raise SourceError(
            f"{file}: truncated SQLite database ({actual:,} bytes, header says {expected:,})"
        )
