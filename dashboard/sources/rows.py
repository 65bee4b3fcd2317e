"""The rows of one customer from any source, read without reading the whole book where the
backend can filter (a Parquet folder: row groups skipped by their statistics; SQLite and
PostgreSQL: a ``WHERE``); a CSV folder is read whole and filtered.

What the customer view (:mod:`dashboard.cube.timeline`) draws from: the raw tables of one
customer, validated like the whole book (``dashboard.schema.validate(..., whole_book=False)``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from dashboard import SourceError
from dashboard.sources.base import RawTables, Source
from dashboard.sources.files import first_line, parquet_table_path
from dashboard.sources.parquet import ID_COLUMN, _dataset, arrow_frame
from dashboard.sources.sqlite import BUSY_SECONDS, _select, _sqlite_problem, _table_names
from dashboard.vocab import OPTIONAL_TABLES, TABLES

MAX_ID_LENGTH = 64
"""The longest customer id the customer view looks up (a longer text is refused)."""


def clean_customer_id(text: str) -> str:
    """A customer id as typed, trimmed and checked.

    Parameters
    ----------
    text : str

    Returns
    -------
    str

    Raises
    ------
    ValueError
        One line: empty, too long or holding control characters.
    """
    value = (text or "").strip()
    if not value:
        raise ValueError("type a customer id, e.g. C100000")
    if len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise ValueError(f"a customer id is at most {MAX_ID_LENGTH} printable characters")
    return value


def customer_rows(source: Source, customer_id: str) -> RawTables:
    """Every table's rows of one customer, raw (as :meth:`Source.tables` gives them).

    Parameters
    ----------
    source : Source
    customer_id : str
        The customer's id, as in the customers table.

    Returns
    -------
    RawTables
        The same tables as the source's (optional ones when present), holding only this
        customer's rows (none when the id is unknown).

    Raises
    ------
    SourceError
        When the source cannot be read.
    """
    customer_id = clean_customer_id(customer_id)
    if source.kind == "parquet":
        return _parquet_rows(Path(source.path), customer_id, source.describe())
    if source.kind == "sqlite":
        return _sqlite_rows(Path(source.path), customer_id, source.describe())
    return _filtered(source.tables(), customer_id)


def _filtered(raw: RawTables, customer_id: str) -> RawTables:
    """A whole book's tables cut to one customer (the fallback of every backend)."""
    frames = {}
    try:
        for table in list(raw.frames):
            frame = raw.frames[table]
            ids = frame[ID_COLUMN].astype("string").str.strip() if ID_COLUMN in frame else None
            frames[table] = frame.loc[(ids == customer_id).fillna(False).to_numpy(bool)]
    finally:
        close = getattr(raw.frames, "close", None)
        if close is not None:
            close()
    return RawTables(frames, raw.origins, raw.source, raw.kind, list(raw.warnings))


def _parquet_rows(folder: Path, customer_id: str, described: str) -> RawTables:
    frames, origins = {}, {}
    for table in (*TABLES, *OPTIONAL_TABLES):
        file = parquet_table_path(folder, table)
        if file is None:
            if table in OPTIONAL_TABLES:
                continue
            raise SourceError(f"{folder}: {table} missing")
        origins[table] = str(file)
        try:
            frames[table] = _parquet_customer(file, customer_id)
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise SourceError(f"{file}: not a readable Parquet file ({first_line(exc)})") from None
    return RawTables(frames, origins, described, "parquet")


def _parquet_customer(file: Path, customer_id: str) -> pd.DataFrame:
    """One customer's rows of a Parquet file or dataset folder, typed like the whole-table
    reader's (:func:`dashboard.sources.parquet.arrow_frame`)."""
    dataset = _dataset(file) if file.is_dir() else ds.dataset(str(file), format="parquet")
    id_type = dataset.schema.field(ID_COLUMN).type
    if pa.types.is_integer(id_type):
        wanted = int(customer_id) if customer_id.isdigit() else None
    else:
        wanted = customer_id
    if wanted is None:
        return arrow_frame(dataset.schema.empty_table())
    return arrow_frame(dataset.to_table(filter=ds.field(ID_COLUMN) == wanted))


def _sqlite_rows(file: Path, customer_id: str, described: str) -> RawTables:
    """One customer's rows of every table, in one read transaction, selected like the
    whole-table reader's (:func:`dashboard.sources.sqlite._select`) plus a ``WHERE``."""
    uri = f"{file.resolve().as_uri()}?mode=ro"
    frames, origins = {}, {}
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=BUSY_SECONDS, isolation_level=None)
    except sqlite3.Error as exc:
        raise SourceError(_sqlite_problem(file, exc, wal_mode=False)) from None
    try:
        connection.execute("BEGIN")  # one snapshot for every table
        names = _table_names(connection)
        for table in (*TABLES, *OPTIONAL_TABLES):
            if table not in names:
                if table in OPTIONAL_TABLES:
                    continue
                raise SourceError(f"{file}: table '{table}' missing")
            query = f"{_select(connection, names[table])} WHERE CAST({ID_COLUMN} AS TEXT) = ?"
            frames[table] = pd.read_sql_query(query, connection, params=(customer_id,))
            origins[table] = f"{file}:{table}"
    except (sqlite3.Error, pd.errors.DatabaseError) as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, sqlite3.Error) else exc
        raise SourceError(_sqlite_problem(file, cause, wal_mode=False)) from None
    finally:
        connection.close()
    return RawTables(frames, origins, described, "sqlite")
