"""Write a generated book into a PostgreSQL database (``generate --format postgresql``).

``--out postgresql://USER@HOST:PORT/DATABASE[?schema=NAME]`` names the database and schema
(created when missing; ``public`` by default). The tables of
:data:`dashboard.vocab.ALL_TABLES` are replaced: in one transaction they are dropped,
created and filled with ``COPY ... FROM STDIN (FORMAT binary)`` (ADBC bulk ingest of Arrow
record batches), and committed only when every row is in; after an error nothing is
changed. Then they are vacuumed and analysed, as a settled database would be.

Column types: ids, labels and ISO dates as ``text``/``date``; money and usage
``double precision`` (usage ``NULL`` without a meter); flags ``smallint``.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pyarrow as pa

from dashboard import SourceError, vocab
from dashboard.demo.writers import (
    CATEGORY_VOCABULARIES,
    RawChunk,
    TableWriter,
    column_kind,
    customer_id_strings,
)
from dashboard.sources.pgspec import DatabaseSpec, parse_spec
from dashboard.sources.postgresql import connect, database_errors, execute, problem, quote

SQL_TYPES = {
    "id": "text",
    "date": "date",
    "money": "double precision",
    "quantity": "double precision",
    "category": "text",
    "flag": "smallint",
}
"""The PostgreSQL type of each kind of column (:func:`dashboard.demo.writers.column_kind`)."""


class CustomerIds:
    """Arrow strings of customer ids ``0 .. n-1``, made once and taken from per chunk."""

    def __init__(self) -> None:
        self._ids = pa.array([], type=pa.string())

    def take(self, numbers: np.ndarray) -> pa.Array:
        """The ids of customer numbers ``numbers``.

        Parameters
        ----------
        numbers : numpy.ndarray
            Non-negative integer customer numbers.

        Returns
        -------
        pyarrow.Array
            Strings ``C100000`` ...
        """
        numbers = np.asarray(numbers, dtype=np.int64)
        if len(numbers) and numbers.max() >= len(self._ids):
            size = max(int(numbers.max()) + 1, 2 * len(self._ids))
            self._ids = pa.array(customer_id_strings(np.arange(size)), type=pa.string())
        return self._ids.take(pa.array(numbers))


def arrow_column(table: str, column: str, values: np.ndarray, ids: CustomerIds) -> pa.Array:
    """One raw column as the Arrow array whose binary ``COPY`` matches :data:`SQL_TYPES`.

    Parameters
    ----------
    table, column : str
        Table and column name.
    values : numpy.ndarray
        The raw column (see :mod:`dashboard.demo.writers`).
    ids : CustomerIds

    Returns
    -------
    pyarrow.Array
    """
    kind = column_kind(table, column)
    if kind == "id":
        return ids.take(values)
    if kind == "date":
        return pa.array(np.asarray(values, dtype=np.int32), type=pa.date32())
    if kind == "money":
        return pa.array(np.asarray(values, dtype=np.int64) / 100.0)
    if kind == "quantity":
        hundredths = np.asarray(values, dtype=np.int64)
        return pa.array(hundredths / 100.0, mask=hundredths < 0)
    if kind == "category":
        labels = pa.array(CATEGORY_VOCABULARIES[column], type=pa.string())
        return labels.take(pa.array(np.asarray(values, dtype=np.int64)))
    return pa.array(np.asarray(values, dtype=np.int16))


class PostgresWriter(TableWriter):
    """Replace the tables of a schema with a generated book, in one transaction.

    Parameters
    ----------
    url : str
        ``postgresql://USER@HOST:PORT/DATABASE[?schema=NAME]`` (no password: see
        :mod:`dashboard.sources.pgspec`).

    Raises
    ------
    SourceError
        When the URL holds a password or the database cannot be reached.
    """

    def __init__(self, url: str) -> None:
        self.spec: DatabaseSpec = parse_spec(str(url))
        self._ids = CustomerIds()
        self._connection = connect(self.spec, autocommit=False)
        self._cursor = self._connection.cursor()
        try:
            self._create_tables()
        except BaseException:
            self.abort()
            raise

    def _create_tables(self) -> None:
        """Create the schema if needed; drop and create every table (not yet committed)."""
        self._run(f"CREATE SCHEMA IF NOT EXISTS {quote(self.spec.schema)}")
        for table, columns in vocab.ALL_TABLES.items():
            self._run(f"DROP TABLE IF EXISTS {self._name(table)}")
            spec = ", ".join(f"{quote(c)} {SQL_TYPES[column_kind(table, c)]}" for c in columns)
            self._run(f"CREATE TABLE {self._name(table)} ({spec})")

    def _name(self, table: str) -> str:
        return f"{quote(self.spec.schema)}.{quote(table)}"

    def _run(self, statement: str) -> None:
        execute(self._cursor, statement, self.spec.place)

    def write(self, table: str, chunk: RawChunk) -> None:
        """Append a raw chunk to ``table`` (binary ``COPY``)."""
        columns = vocab.ALL_TABLES[table]
        arrays = [arrow_column(table, c, chunk[c], self._ids) for c in columns]
        batch = pa.RecordBatch.from_arrays(arrays, names=list(columns))
        try:
            self._cursor.adbc_ingest(table, batch, mode="append", db_schema_name=self.spec.schema)
        except database_errors() as exc:
            raise SourceError(f"{self.spec.origin(table)}: {problem(exc)}") from None

    def close(self) -> None:
        """Commit, then vacuum and analyse the tables."""
        if self._connection is None:
            return
        self._connection.commit()
        self._connection.adbc_connection.set_autocommit(True)
        for table in vocab.ALL_TABLES:
            self._run(f"VACUUM (ANALYZE) {self._name(table)}")
        self._finish()

    def abort(self) -> None:
        """Roll back: the schema is left as it was."""
        if self._connection is None:
            return
        with contextlib.suppress(Exception):
            self._connection.rollback()
        self._finish()

    def _finish(self) -> None:
        with contextlib.suppress(Exception):
            self._cursor.close()
            self._connection.close()
        self._connection = None
