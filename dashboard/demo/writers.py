"""Format writers for the portfolio tables (CSV folder, SQLite file, Parquet folder).

The generator in :mod:`dashboard.demo` produces *raw chunks*: a ``dict`` mapping each column
of :data:`dashboard.vocab.ALL_TABLES` (the four required tables and ``adjustments``) to a
NumPy array in a compact numeric form

- ``customer_id``: integer customer number ``i`` (written as ``C{100000 + i}``);
- date columns: days since 1970-01-01 (written as ISO ``YYYY-MM-DD`` text, or ``date32``);
- money columns: integer pence (written as GBP with 2 decimals; adjustments may be negative);
- ``usage_m3``: integer hundredths of a m3, ``-1`` when the customer has no meter
  (written empty / NULL);
- dimensions, ``method``, ``action`` and ``kind``: integer codes into their vocabulary
  (:data:`CATEGORY_VOCABULARIES`);
- flags: 0/1 integers.

This module turns such chunks into file contents; it knows nothing about how they are made.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dashboard import vocab
from dashboard.sources.parquet import with_layout

ID_PREFIX = "C"
ID_START = 100000
"""Customer number ``i`` is written as ``f"{ID_PREFIX}{ID_START + i}"``."""

CATEGORY_VOCABULARIES: dict[str, tuple[str, ...]] = {
    "region": vocab.REGIONS,
    "income_band": vocab.INCOME_BANDS,
    "tariff": vocab.TARIFFS,
    "tenure_band": vocab.TENURE_BANDS,
    "method": vocab.PAYMENT_METHODS,
    "action": (*vocab.ACTIONS, vocab.HELD_OUT),
    "kind": vocab.ADJUSTMENT_KINDS,
}
"""Columns stored as integer codes into these vocabularies."""

ACTION_CODES: dict[str, int] = {a: i for i, a in enumerate(CATEGORY_VOCABULARIES["action"])}
"""Code of each action (the four of ``vocab.ACTIONS``, then ``vocab.HELD_OUT``)."""
ADJUSTMENT_CODES: dict[str, int] = {k: i for i, k in enumerate(vocab.ADJUSTMENT_KINDS)}
"""Code of each adjustment kind."""

QUANTITY_COLUMNS = ("usage_m3",)
"""Columns stored as integer hundredths with ``-1`` for missing."""

RawChunk = Mapping[str, np.ndarray]

_SQL_TYPES = {"date": "TEXT", "money": "REAL", "quantity": "REAL", "flag": "INTEGER"}


def column_kind(table: str, column: str) -> str:
    """Return how a column is stored: id, date, money, quantity, category or flag.

    Parameters
    ----------
    table : str
        Table name, a key of :data:`dashboard.vocab.ALL_TABLES`.
    column : str
        Column name of that table.

    Returns
    -------
    str
        One of ``"id"``, ``"date"``, ``"money"``, ``"quantity"``, ``"category"``, ``"flag"``.
    """
    if column == "customer_id":
        return "id"
    if column in vocab.DATE_COLUMNS.get(table, ()):
        return "date"
    if vocab.MONEY_COLUMNS.get(table) == column:
        return "money"
    if column in QUANTITY_COLUMNS:
        return "quantity"
    if column in CATEGORY_VOCABULARIES:
        return "category"
    if column in vocab.FLAG_DIMENSIONS:
        return "flag"
    raise KeyError(f"unknown column {table}.{column}")


def customer_id_strings(numbers: np.ndarray) -> np.ndarray:
    """Format customer numbers as ids (``0 -> "C100000"``).

    Parameters
    ----------
    numbers : numpy.ndarray
        Non-negative integer customer numbers.

    Returns
    -------
    numpy.ndarray
        Unicode array of ids.
    """
    return np.strings.add(ID_PREFIX, (np.asarray(numbers, dtype=np.int64) + ID_START).astype(str))


def iso_dates(days: np.ndarray) -> np.ndarray:
    """Format days since 1970-01-01 as ISO ``YYYY-MM-DD`` strings.

    Parameters
    ----------
    days : numpy.ndarray
        Integer day numbers.

    Returns
    -------
    numpy.ndarray
        Unicode array of dates.
    """
    return np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype(str)


def format_by_lookup(values: np.ndarray, formatter) -> np.ndarray:
    """Format integers by formatting each distinct value in their range once.

    Ids, dates and amounts repeat a lot, so formatting ``range(min, max + 1)`` and indexing
    is much faster than formatting every row.

    Parameters
    ----------
    values : numpy.ndarray
        Integers.
    formatter : callable
        Maps an integer array to an array of strings.

    Returns
    -------
    numpy.ndarray
        Object array of Python strings.
    """
    values = np.asarray(values, dtype=np.int64)
    if len(values) == 0:
        return np.empty(0, dtype=object)
    low = int(values.min())
    table = np.asarray(formatter(np.arange(low, int(values.max()) + 1)), dtype=object)
    return table[values - low]


def _decimal_text(hundredths: np.ndarray) -> np.ndarray:
    """``4333 -> "43.33"``, ``4330 -> "43.3"``, ``500 -> "5.0"`` (as pandas prints floats)."""
    return np.asarray([repr(v) for v in (np.asarray(hundredths) / 100.0).tolist()], dtype=object)


def _money(pence: np.ndarray) -> np.ndarray:
    return np.asarray(pence, dtype=np.int64) / 100.0


def _quantity(hundredths: np.ndarray) -> np.ndarray:
    values = np.asarray(hundredths, dtype=np.int64)
    return np.where(values < 0, np.nan, values / 100.0)


def _labels(column: str, codes: np.ndarray) -> np.ndarray:
    return np.asarray(CATEGORY_VOCABULARIES[column], dtype=object)[codes]


def chunk_length(chunk: RawChunk) -> int:
    """Return the number of rows of a raw chunk."""
    return len(next(iter(chunk.values())))


def file_values(table: str, column: str, values: np.ndarray) -> np.ndarray:
    """Convert one raw column to the values the files hold.

    Parameters
    ----------
    table, column : str
        Table and column name.
    values : numpy.ndarray
        The raw column.

    Returns
    -------
    numpy.ndarray
        Object array of strings (ids, ISO dates, labels), float GBP or m3 (``NaN`` for no
        meter) or ``int64`` flags.
    """
    kind = column_kind(table, column)
    if kind == "id":
        return format_by_lookup(values, customer_id_strings)
    if kind == "date":
        return format_by_lookup(values, iso_dates)
    if kind == "money":
        return _money(values)
    if kind == "quantity":
        return _quantity(values)
    if kind == "category":
        return _labels(column, values)
    return np.asarray(values, dtype=np.int64)


def to_frame(table: str, chunk: RawChunk) -> pd.DataFrame:
    """Convert a raw chunk to a DataFrame holding the values exactly as the CSV files do.

    Ids, dates and labels become strings, money and usage become floats with 2 decimals
    (``NaN`` for no meter) and flags stay 0/1 integers, so reading the written CSV back with
    :func:`pandas.read_csv` gives an equal frame.

    Parameters
    ----------
    table : str
        Table name, a key of :data:`dashboard.vocab.ALL_TABLES`.
    chunk : mapping of str to numpy.ndarray
        Raw columns (see the module docstring).

    Returns
    -------
    pandas.DataFrame
        The columns of ``vocab.ALL_TABLES[table]`` in order.
    """
    data = {column: file_values(table, column, chunk[column]) for column in vocab.ALL_TABLES[table]}
    frame = pd.DataFrame(data)
    for column in vocab.ALL_TABLES[table]:
        if column_kind(table, column) in ("id", "date", "category"):
            frame[column] = frame[column].astype("str")
    return frame


def to_text_frame(table: str, chunk: RawChunk) -> pd.DataFrame:
    """Convert a raw chunk to the text of its CSV cells (the same text pandas would print).

    Parameters
    ----------
    table : str
        Table name, a key of :data:`dashboard.vocab.ALL_TABLES`.
    chunk : mapping of str to numpy.ndarray
        Raw columns (see the module docstring).

    Returns
    -------
    pandas.DataFrame
        Object columns of strings; empty strings for missing usage.
    """
    data = {}
    for column in vocab.ALL_TABLES[table]:
        kind, values = column_kind(table, column), chunk[column]
        if kind == "id":
            data[column] = format_by_lookup(values, customer_id_strings)
        elif kind == "date":
            data[column] = format_by_lookup(values, iso_dates)
        elif kind == "money":
            data[column] = format_by_lookup(values, _decimal_text)
        elif kind == "quantity":
            text = format_by_lookup(np.maximum(values, 0), _decimal_text)
            data[column] = np.where(np.asarray(values) < 0, "", text)
        elif kind == "category":
            data[column] = _labels(column, values)
        else:
            data[column] = np.asarray(values, dtype=np.int64).astype(str).astype(object)
    return pd.DataFrame(data, dtype=object)


def arrow_schema(table: str) -> pa.Schema:
    """Return the Parquet schema of a table.

    Ids are strings, dates ``date32``, money and usage ``float64``, labels dictionary-encoded
    strings and flags ``int64``.

    Parameters
    ----------
    table : str
        Table name, a key of :data:`dashboard.vocab.ALL_TABLES`.

    Returns
    -------
    pyarrow.Schema
    """
    types = {
        "id": pa.string(),
        "date": pa.date32(),
        "money": pa.float64(),
        "quantity": pa.float64(),
        "category": pa.dictionary(pa.int8(), pa.string()),
        "flag": pa.int64(),
    }
    return pa.schema([(c, types[column_kind(table, c)]) for c in vocab.ALL_TABLES[table]])


class _IdCache:
    """Arrow strings of customer ids ``0 .. n-1``, built once and taken from per chunk."""

    def __init__(self) -> None:
        self._ids = pa.array([], type=pa.string())

    def take(self, numbers: np.ndarray) -> pa.Array:
        numbers = np.asarray(numbers, dtype=np.int64)
        if len(numbers) and numbers.max() >= len(self._ids):
            size = max(int(numbers.max()) + 1, 2 * len(self._ids))
            self._ids = pa.array(customer_id_strings(np.arange(size)), type=pa.string())
        return self._ids.take(pa.array(numbers))


def to_arrow(table: str, chunk: RawChunk, ids: _IdCache | None = None) -> pa.Table:
    """Convert a raw chunk to an Arrow table with :func:`arrow_schema`.

    Parameters
    ----------
    table : str
        Table name, a key of :data:`dashboard.vocab.ALL_TABLES`.
    chunk : mapping of str to numpy.ndarray
        Raw columns (see the module docstring).
    ids : optional
        Cache of id strings reused across chunks.

    Returns
    -------
    pyarrow.Table
    """
    ids = ids or _IdCache()
    schema = arrow_schema(table)
    arrays = []
    for column in vocab.ALL_TABLES[table]:
        kind = column_kind(table, column)
        values = chunk[column]
        if kind == "id":
            arrays.append(ids.take(values))
        elif kind == "date":
            arrays.append(pa.array(np.asarray(values, dtype=np.int32), type=pa.date32()))
        elif kind == "money":
            arrays.append(pa.array(_money(values)))
        elif kind == "quantity":
            quantity = _quantity(values)
            arrays.append(pa.array(quantity, mask=np.isnan(quantity)))
        elif kind == "category":
            dictionary = pa.array(CATEGORY_VOCABULARIES[column], type=pa.string())
            codes = pa.array(np.asarray(values, dtype=np.int8))
            arrays.append(pa.DictionaryArray.from_arrays(codes, dictionary))
        else:
            arrays.append(pa.array(np.asarray(values, dtype=np.int64)))
    return pa.Table.from_arrays(arrays, schema=schema)


class TableWriter:
    """Base class of the format writers: ``write(table, chunk)`` appends rows, ``close()``.

    Use as a context manager. Chunks of one table are appended in the order given.
    """

    def write(self, table: str, chunk: RawChunk) -> None:
        """Append a raw chunk to ``table``."""
        raise NotImplementedError

    def close(self) -> None:
        """Finish writing (flush and close files)."""

    def abort(self) -> None:
        """Stop after an error; by default the same as :meth:`close`."""
        self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class CsvFolderWriter(TableWriter):
    """Write ``<table>.csv`` files into a folder (created if needed, files overwritten).

    Parameters
    ----------
    folder : str or Path
        Output folder.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._started: set[str] = set()

    def write(self, table: str, chunk: RawChunk) -> None:
        """Append a raw chunk to ``<table>.csv`` (the first chunk replaces the file)."""
        first = table not in self._started
        self._started.add(table)
        to_text_frame(table, chunk).to_csv(
            self.folder / f"{table}.csv",
            index=False,
            header=first,
            mode="w" if first else "a",
            lineterminator="\n",
        )

    def close(self) -> None:
        """Write header-only files for tables that received no chunk."""
        for table in vocab.ALL_TABLES:
            if table not in self._started:
                self._started.add(table)
                pd.DataFrame(columns=list(vocab.ALL_TABLES[table])).to_csv(
                    self.folder / f"{table}.csv", index=False, lineterminator="\n"
                )


def sqlite_indexes(table: str) -> list[str]:
    """Return the columns of ``table`` that the SQLite file indexes.

    Parameters
    ----------
    table : str
        Table name.

    Returns
    -------
    list of str
        ``customer_id`` and every date column of the table.
    """
    return ["customer_id", *vocab.DATE_COLUMNS.get(table, ())]


class SqliteWriter(TableWriter):
    """Write the tables into a new SQLite file that replaces ``path`` when closed.

    Dates are ISO ``TEXT``, money and usage ``REAL`` (usage ``NULL`` without a meter), labels
    ``TEXT`` and flags ``INTEGER``. Every table gets an index on ``customer_id`` and on each
    of its date columns.

    Parameters
    ----------
    path : str or Path
        The SQLite file to create or replace.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._tmp.unlink(missing_ok=True)
        self._db: sqlite3.Connection | None = sqlite3.connect(self._tmp)
        # A private temporary file, moved into place only when complete: no journal needed.
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        for table, columns in vocab.ALL_TABLES.items():
            spec = ", ".join(
                f'"{c}" {_SQL_TYPES.get(column_kind(table, c), "TEXT")}' for c in columns
            )
            self._db.execute(f'CREATE TABLE "{table}" ({spec})')

    def write(self, table: str, chunk: RawChunk) -> None:
        """Insert a raw chunk into ``table``."""
        columns = []
        for column in vocab.ALL_TABLES[table]:
            values = file_values(table, column, chunk[column])
            if values.dtype.kind == "f":
                values = np.where(np.isnan(values), None, values.astype(object))
            columns.append(values.tolist())
        marks = ", ".join("?" for _ in columns)
        rows = zip(*columns, strict=True)
        self._db.executemany(f'INSERT INTO "{table}" VALUES ({marks})', rows)

    def close(self) -> None:
        """Create the indexes, commit and move the file into place."""
        if self._db is None:
            return
        for table in vocab.ALL_TABLES:
            for column in sqlite_indexes(table):
                self._db.execute(f'CREATE INDEX "ix_{table}_{column}" ON "{table}" ("{column}")')
        self._db.commit()
        self._db.close()
        self._db = None
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Discard the unfinished file, leaving any existing ``path`` untouched."""
        if self._db is not None:
            self._db.close()
            self._db = None
        self._tmp.unlink(missing_ok=True)


class ParquetFolderWriter(TableWriter):
    """Stream the tables into ``<table>.parquet`` files of a folder, one row group per chunk.

    The files are marked as written in customer-ordered row groups
    (:data:`dashboard.sources.parquet.LAYOUT_KEY`): the caller writes, for each range of
    customers in turn, one chunk of every table (empty when it has no rows), as
    :func:`dashboard.demo.simulation.write_demo` does.

    Parameters
    ----------
    folder : str or Path
        Output folder (created if needed; existing files of the same names are replaced).
    compression : str
        Parquet compression codec.
    """

    def __init__(self, folder: str | Path, compression: str = "snappy") -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.compression = compression
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._ids = _IdCache()

    def _writer(self, table: str) -> pq.ParquetWriter:
        if table not in self._writers:
            self._writers[table] = pq.ParquetWriter(
                self.folder / f"{table}.parquet",
                with_layout(arrow_schema(table)),
                compression=self.compression,
            )
        return self._writers[table]

    def write(self, table: str, chunk: RawChunk) -> None:
        """Append a raw chunk to ``<table>.parquet`` as a new row group."""
        arrow_table = to_arrow(table, chunk, self._ids)
        self._writer(table).write_table(arrow_table, row_group_size=max(len(arrow_table), 1))

    def close(self) -> None:
        """Close every file (tables without rows are written empty)."""
        for table in vocab.ALL_TABLES:
            self._writer(table)
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
