"""A Parquet folder: one ``TABLE.parquet`` file (or ``TABLE/`` dataset folder) per table,
each read when validation first asks for it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from dashboard import SourceError
from dashboard.compute.memory import reuses_freed_memory
from dashboard.sources.base import RawTables
from dashboard.sources.files import (
    FileSource,
    check_readable,
    expected_files,
    first_line,
    parquet_data_files,
    parquet_table_path,
)
from dashboard.vocab import OPTIONAL_TABLES, TABLES

LAYOUT_KEY = b"collections.layout"
"""Parquet key-value metadata of a file written in customer-ordered row groups: row group
``i`` of every table holds the rows of the customers of row group ``i`` of the customers
table (what a streamed build reads partition by partition)."""
LAYOUT = b'{"version": 1, "order": "customer", "unit": "row group"}'
"""The value of :data:`LAYOUT_KEY`."""


def with_layout(schema: pa.Schema) -> pa.Schema:
    """``schema`` with the metadata that marks a file as written in the layout."""
    return schema.with_metadata({**(schema.metadata or {}), LAYOUT_KEY: LAYOUT})


ID_COLUMN = "customer_id"
"""Read as text whatever its integer Parquet type: with a null it would become floats."""


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
    files, origins, warnings = {}, {}, []
    check_readable(folder)
    for table in TABLES:
        file = parquet_table_path(folder, table)
        if file is None:
            file = folder / f"{table}.parquet"
            raise SourceError(
                f"{file}: file missing (a Parquet source needs {expected_files('.parquet')})"
            )
        _add_table(table, file, files, origins, warnings)
    for table in OPTIONAL_TABLES:
        file = parquet_table_path(folder, table)
        if file is not None:
            _add_table(table, file, files, origins, warnings)
    return RawTables(ParquetFrames(files), origins, str(folder), "parquet", warnings)


def _add_table(table: str, file: Path, files: dict, origins: dict, warnings: list[str]) -> None:
    """Note a table's file (checked readable) and where it came from."""
    origins[table] = str(file)
    check_readable(file)
    if file.is_dir():
        warnings.extend(_check_dataset_folder(file))
    files[table] = file


def _check_dataset_folder(folder: Path) -> list[str]:
    """Refuse a part that is not a regular file; warn about files that are not data."""
    data, ignored = parquet_data_files(folder)
    for part in data:
        check_readable(part)  # a named pipe or a device among the parts is refused
    if not ignored:
        return []
    names = ", ".join(str(p.relative_to(folder)) for p in ignored[:3])
    more = f" and {len(ignored) - 3} more" if len(ignored) > 3 else ""
    plural = "s" if len(ignored) > 1 else ""
    return [f"{folder}: ignored {len(ignored)} file{plural} not named *.parquet ({names}{more})"]


def _dataset(file: Path) -> pq.ParquetDataset | ds.Dataset:
    """A Parquet file, or a dataset folder's data files (hive partitions kept; other files,
    such as a README, left out: :func:`dashboard.sources.files.parquet_data_files`)."""
    if not file.is_dir():
        return pq.ParquetDataset(file)
    data, _ = parquet_data_files(file)
    return ds.dataset(
        [str(p) for p in data], format="parquet", partitioning="hive", partition_base_dir=str(file)
    )


def _parquet_schema(file: Path) -> pa.Schema:
    """The schema of a Parquet file or dataset folder; SourceError when it is not Parquet."""
    try:
        return _dataset(file).schema
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise SourceError(f"{file}: not a readable Parquet file ({first_line(exc)})") from None


def _read_parquet_table(file: Path) -> pd.DataFrame:
    """Read a Parquet file or dataset, dates as datetime64 (not Python date objects) and
    integer customer ids as text (an integer column with a null would become floats)."""
    dataset = _dataset(file)
    return arrow_frame(dataset.to_table() if isinstance(dataset, ds.Dataset) else dataset.read())


def arrow_frame(table: pa.Table) -> pd.DataFrame:
    """An Arrow table read from Parquet as the frame validation expects: dates as
    datetime64 and integer customer ids as text.

    Parameters
    ----------
    table : pyarrow.Table

    Returns
    -------
    DataFrame
    """
    for index, column in enumerate(table.schema):
        if pa.types.is_date(column.type):
            table = table.set_column(index, column.name, table[column.name].cast(pa.timestamp("s")))
        elif column.name == ID_COLUMN and pa.types.is_integer(column.type):
            table = table.set_column(index, column.name, table[column.name].cast(pa.string()))
    # split_blocks + self_destruct: Arrow buffers are freed while pandas columns are made,
    # so a 40 M-row table is not held twice.
    return table.to_pandas(split_blocks=True, self_destruct=True)
