"""A Parquet folder: one ``TABLE.parquet`` file (or ``TABLE/`` dataset folder) per table,
each read when validation first asks for it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dashboard import SourceError
from dashboard.compute.memory import reuses_freed_memory
from dashboard.sources.base import RawTables
from dashboard.sources.files import FileSource, check_readable, expected_files, first_line
from dashboard.vocab import TABLES


class ParquetSource(FileSource):
    """A folder of one Parquet file or dataset per table."""

    kind = "parquet"

    @reuses_freed_memory
    def tables(self) -> RawTables:
        return _read_parquet_folder(Path(self.path))


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
                    f"{file}: not a readable Parquet file ({first_line(exc)})"
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


def _read_parquet_folder(folder: Path) -> RawTables:
    files, origins = {}, {}
    check_readable(folder)
    for table in TABLES:
        file = folder / f"{table}.parquet"
        if not file.exists() and (folder / table).is_dir():
            file = folder / table
        origins[table] = str(file)
        if not file.exists():
            raise SourceError(
                f"{file}: file missing (a Parquet source needs {expected_files('.parquet')})"
            )
        files[table] = file
    return RawTables(ParquetFrames(files), origins, str(folder), "parquet")


def _parquet_schema(file: Path) -> pa.Schema:
    """The schema of a Parquet file or dataset folder; SourceError when it is not Parquet."""
    try:
        return pq.ParquetDataset(file).schema
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise SourceError(f"{file}: not a readable Parquet file ({first_line(exc)})") from None


def _read_parquet_table(file: Path) -> pd.DataFrame:
    """Read a Parquet file or dataset, dates as datetime64 (not Python date objects)."""
    table = pq.read_table(file)
    for index, column in enumerate(table.schema):
        if pa.types.is_date(column.type):
            table = table.set_column(index, column.name, table[column.name].cast(pa.timestamp("s")))
    # split_blocks + self_destruct: Arrow buffers are freed while pandas columns are made,
    # so a 40 M-row table is not held twice.
    return table.to_pandas(split_blocks=True, self_destruct=True)
