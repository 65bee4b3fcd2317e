"""Read the four tables from a CSV folder, a SQLite file or a Parquet folder.

A source is chosen by its path (Lumen's shape: ``load() -> tables``):

* a folder holding ``customers.parquet`` (or a ``customers/`` Parquet dataset) ... -> Parquet
* any other folder -> CSV files ``customers.csv``, ``bills.csv``, ``payments.csv``,
  ``collections_actions.csv``
* a file -> SQLite database, opened read-only (its bytes never change)

Readers return raw frames; :mod:`dashboard.schema` checks and types them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import SourceError
from .memory import reuses_freed_memory
from .vocab import TABLES

SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass
class RawTables:
    """The four tables as read, before validation.

    Attributes
    ----------
    frames : dict of str to DataFrame
        Raw table per name in :data:`dashboard.vocab.TABLES`.
    origins : dict of str to str
        Where each table came from, used in error messages (``data/bills.csv``,
        ``demo.sqlite:bills``).
    source : str
        The path that was read.
    kind : str
        ``"csv"``, ``"sqlite"`` or ``"parquet"``.
    warnings : list of str
        Problems noticed while reading (e.g. a fallback text encoding).
    """

    frames: Mapping[str, pd.DataFrame]
    origins: dict[str, str]
    source: str
    kind: str
    warnings: list[str] = field(default_factory=list)

    def column_names(self, table: str) -> list[str]:
        """A table's column names (from its schema when it has not been read yet)."""
        if isinstance(self.frames, ParquetFrames):
            return self.frames.column_names(table)
        return list(self.frames[table].columns)


class ParquetFrames(Mapping):
    """A Parquet source's tables, each read when first asked for.

    Validation reads, types and releases one table at a time (``pop``), so at a million
    customers the raw bills and payments are never in memory together. Each file's schema
    is read up front: a file that is not Parquet is refused before anything is read.

    Parameters
    ----------
    files : dict of str to Path
        The file or dataset folder of each table.
    """

    def __init__(self, files: dict[str, Path]):
        self._files = dict(files)
        self._schemas = {table: _parquet_schema(file) for table, file in self._files.items()}
        self._read: dict[str, pd.DataFrame] = {}

    def __getitem__(self, table: str) -> pd.DataFrame:
        if table not in self._read:
            file = self._files[table]
            try:
                self._read[table] = _read_parquet_table(file)
            except (OSError, ValueError, pa.ArrowException) as exc:
                raise SourceError(
                    f"{file}: not a readable Parquet file ({_first_line(exc)})"
                ) from None
        return self._read[table]

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)

    def pop(self, table: str) -> pd.DataFrame:
        """Read (if needed) and forget a table: the caller then holds its only copy."""
        frame = self[table]
        del self._read[table], self._files[table], self._schemas[table]
        return frame

    def column_names(self, table: str) -> list[str]:
        """Column names from the table's Parquet schema (nothing is read)."""
        return list(self._schemas[table].names)


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
        When the path does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    _check_readable(path)
    if path.is_dir():
        if any((path / f"{t}.parquet").exists() or (path / t).is_dir() for t in TABLES):
            return "parquet"
        return "csv"
    return "sqlite"


@reuses_freed_memory
def read_source(path: str | Path) -> RawTables:
    """Read the four tables from ``path``, choosing the reader by the path.

    Parameters
    ----------
    path : str or Path
        A CSV folder, a Parquet folder or a SQLite file.

    Returns
    -------
    RawTables
        Raw frames with their origins.

    Raises
    ------
    SourceError
        On a missing path, file, table, an unreadable file or a file that is not a
        SQLite database.
    """
    kind = source_kind(path)
    reader = {"csv": _read_csv_folder, "parquet": _read_parquet_folder, "sqlite": _read_sqlite}
    return reader[kind](Path(path))


def _read_csv_folder(folder: Path) -> RawTables:
    frames, origins, warnings = {}, {}, []
    _check_readable(folder)
    for table in TABLES:
        file = folder / f"{table}.csv"
        origins[table] = str(file)
        if not file.is_file():
            raise SourceError(f"{file}: file missing (a CSV source needs {_expected('.csv')})")
        frames[table] = _read_csv_file(file, warnings)
    return RawTables(frames, origins, str(folder), "csv", warnings)


def _read_csv_file(file: Path, warnings: list[str]) -> pd.DataFrame:
    """Read one CSV as strings; UTF-8 (with or without BOM), falling back to Latin-1."""
    _check_readable(file)
    try:
        return _read_csv_text(file, "utf-8-sig")
    except UnicodeDecodeError:
        warnings.append(f"{file}: not UTF-8, read as Latin-1")
        return _read_csv_text(file, "latin-1")


def _read_csv_text(file: Path, encoding: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(
            file,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            encoding=encoding,
            skip_blank_lines=True,
            engine="c",
        )
    except pd.errors.EmptyDataError:
        raise SourceError(f"{file}: empty file (no header row)") from None
    except pd.errors.ParserError as exc:
        raise SourceError(f"{file}: not a readable CSV ({_first_line(exc)})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _read_parquet_folder(folder: Path) -> RawTables:
    files, origins = {}, {}
    _check_readable(folder)
    for table in TABLES:
        file = folder / f"{table}.parquet"
        if not file.exists() and (folder / table).is_dir():
            file = folder / table
        origins[table] = str(file)
        if not file.exists():
            raise SourceError(
                f"{file}: file missing (a Parquet source needs {_expected('.parquet')})"
            )
        files[table] = file
    return RawTables(ParquetFrames(files), origins, str(folder), "parquet")


def _parquet_schema(file: Path) -> pa.Schema:
    """The schema of a Parquet file or dataset folder; SourceError when it is not Parquet."""
    try:
        return pq.ParquetDataset(file).schema
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise SourceError(f"{file}: not a readable Parquet file ({_first_line(exc)})") from None


def _read_parquet_table(file: Path) -> pd.DataFrame:
    """Read a Parquet file or dataset, dates as datetime64 (not Python date objects)."""
    table = pq.read_table(file)
    for index, column in enumerate(table.schema):
        if pa.types.is_date(column.type):
            table = table.set_column(index, column.name, table[column.name].cast(pa.timestamp("s")))
    # split_blocks + self_destruct: Arrow buffers are freed while pandas columns are made,
    # so a 40 M-row table is not held twice.
    return table.to_pandas(split_blocks=True, self_destruct=True)


def _read_sqlite(file: Path) -> RawTables:
    _check_readable(file)
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
        raise SourceError(f"{file}: damaged SQLite database ({_first_line(exc)})") from None
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


def _check_readable(path: Path) -> None:
    try:
        if path.is_dir():
            next(path.iterdir(), None)
        else:
            with open(path, "rb"):
                pass
    except PermissionError:
        raise SourceError(f"{path}: permission denied (cannot read)") from None


def _expected(suffix: str) -> str:
    return ", ".join(f"{t}{suffix}" for t in TABLES)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
