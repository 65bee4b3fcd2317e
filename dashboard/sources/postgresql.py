"""A PostgreSQL database: the tables of one schema, read through ADBC into Arrow.

``postgresql://USER@HOST:PORT/DATABASE`` (see :mod:`dashboard.sources.pgspec` for the
``schema`` and ``mapping`` parameters and why a password is refused) names the source. It
holds ``customers``, ``bills``, ``payments``, ``collections_actions`` and, optionally,
``adjustments`` (tables, views, materialized views, partitioned or foreign tables), under
the dashboard's names or those of a mapping file.

Reading:

* **Read-only.** Every session sets ``default_transaction_read_only`` and reads in one
  ``REPEATABLE READ READ ONLY`` transaction: the server refuses any write, and every table
  comes from one snapshot.
* **Fast and lean.** The ADBC PostgreSQL driver runs ``COPY (SELECT ...) TO STDOUT
  (FORMAT binary)`` and decodes the stream straight into Arrow record batches (no Python
  object per value). Tables are read one at a time, when validation asks for them
  (:class:`PostgresFrames`), so the raw bills and payments are never in memory together.
  Dates are cast to ``timestamp[s]`` and label columns dictionary-encoded batch by batch.
* **Checked before reading.** The catalog is read first: a missing schema, table or column
  or a column of a type that cannot hold its values (``bill_amount boolean``) is one line
  naming schema, table and column before any row is read. ``numeric`` and ``money`` are read
  as ``float8`` (to the penny: amounts above £1m are refused anyway), integer ids as text,
  booleans as 0/1 integers, enums as text.

The signature (:meth:`PostgresSource.signature`) is, per table, its row count, its latest
date and the sum of its rows' ``xmin`` (the transaction that wrote each row version: any
``INSERT``, ``UPDATE`` or ``DELETE`` changes it), with the catalog's names and types and the
mapping file; it is remembered per server snapshot (``pg_current_snapshot()``), which
changes whenever any transaction commits, so asking again while nothing was committed costs
one round trip.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
import param
import pyarrow as pa

from dashboard import SourceError
from dashboard.sources.base import RawTables, Source, is_database_url
from dashboard.sources.pgspec import DatabaseSpec, parse_spec, read_mapping
from dashboard.vocab import ALL_TABLES, DATE_COLUMNS, FLAG_DIMENSIONS, MONEY_COLUMNS, TABLES

if TYPE_CHECKING:
    from dashboard.sources.pgspec import NameMap

TEXT_TYPES = frozenset({"text", "varchar", "bpchar", "name", "citext"})
INTEGER_TYPES = frozenset({"int2", "int4", "int8"})
NUMBER_TYPES = INTEGER_TYPES | {"float4", "float8", "numeric", "money"}
ALLOWED_TYPES: dict[str, tuple[frozenset[str], str]] = {
    "id": (TEXT_TYPES | INTEGER_TYPES | {"numeric"}, "text or an integer"),
    "date": (TEXT_TYPES | {"date", "timestamp"}, "date, timestamp or text YYYY-MM-DD"),
    "number": (NUMBER_TYPES | TEXT_TYPES, "a number (numeric, double precision, integer) or text"),
    "flag": (INTEGER_TYPES | {"bool", "numeric"} | TEXT_TYPES, "0/1 (an integer or boolean)"),
    "label": (TEXT_TYPES, "text (or an enum)"),
}
"""Per kind of column, the base types read (by ``pg_type.typname``) and how to say so."""
WITHOUT_XMIN = ("v", "f")
"""Relations with no ``xmin`` (views, foreign tables): their signature hashes every row."""
SESSION_SETTINGS = (
    "SET default_transaction_read_only = on",
    "SET synchronize_seqscans = off",
)
"""Set once per session, before its read-only transaction: no transaction of the session may
write; a table is scanned from its first page (rows come in the order they are stored, not
from wherever a concurrent scan is)."""
READING_SETTINGS = ("SET max_parallel_workers_per_gather = 0",)
"""Also set when reading rows: no parallel workers (they would interleave rows; the
signature's aggregates keep them)."""
BEGIN = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
SIGNATURES_KEPT = 64

_SIGNATURES: OrderedDict[tuple, str] = OrderedDict()
_SIGNATURES_LOCK = threading.Lock()

CATALOG_QUERY = """
SELECT c.relname::text, c.relkind::text, a.attname::text,
       COALESCE(b.typname, t.typname)::text, COALESCE(b.typtype, t.typtype)::text,
       format_type(a.atttypid, a.atttypmod)
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_attribute a
       ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_type b ON b.oid = t.typbasetype AND t.typtype = 'd'
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY c.relname, a.attnum
"""
SCHEMAS_QUERY = """
SELECT nspname::text FROM pg_catalog.pg_namespace
WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1
"""
SNAPSHOT_QUERY = (
    "SELECT pg_current_snapshot()::text, pg_postmaster_start_time()::text, current_database()::text"
)


@dataclass(frozen=True)
class DbColumn:
    """A column as the catalog has it: name, base type name, type kind and full type."""

    name: str
    base: str
    typtype: str
    shown: str


@dataclass(frozen=True)
class TablePlan:
    """How one dashboard table is read: from which relation, which column as which.

    Attributes
    ----------
    table : str
        The dashboard's table name.
    relation : str
        The database's table (or view) name.
    relkind : str
        ``pg_class.relkind``.
    columns : tuple of (str, DbColumn)
        Per dashboard column (in the dashboard's order), the database column.
    origin : str
        ``postgresql://HOST:PORT/DB:SCHEMA.TABLE`` (and the renamed columns), for messages.
    """

    table: str
    relation: str
    relkind: str
    columns: tuple[tuple[str, DbColumn], ...]
    origin: str

    def select(self, schema: str) -> str:
        """``SELECT`` of the table's columns under the dashboard's names, cast as read."""
        parts = [f"{_read_as(self.table, name, c)} AS {quote(name)}" for name, c in self.columns]
        return f"SELECT {', '.join(parts)} FROM {quote(schema)}.{quote(self.relation)}"

    def aggregates(self, schema: str, position: int) -> str:
        """One row of the signature: row count, latest date and the sum of ``xmin``
        (a hash of every row for a relation without ``xmin``)."""
        dates = DATE_COLUMNS.get(self.table, ())
        names = dict(self.columns)
        latest = f"max({quote(names[dates[0]].name)})::text" if dates else "NULL::text"
        if self.relkind in WITHOUT_XMIN:
            changes = "sum(hashtext(r::text)::bigint)::text"
        else:
            changes = "sum(r.xmin::text::bigint)::text"
        return (
            f"SELECT {position} AS i, count(*) AS n, {latest} AS latest, {changes} AS changes "
            f"FROM {quote(schema)}.{quote(self.relation)} AS r"
        )

    def describe(self) -> list:
        """What the catalog says of the table, JSON-ready (part of the signature)."""
        return [self.relation, self.relkind, [[n, c.name, c.shown] for n, c in self.columns]]


def quote(name: str) -> str:
    """An SQL identifier, double-quoted."""
    return '"' + name.replace('"', '""') + '"'


def column_kind(table: str, column: str) -> str:
    """How a dashboard column is read: ``id``, ``date``, ``number``, ``flag`` or ``label``."""
    if column == "customer_id":
        return "id"
    if column in DATE_COLUMNS.get(table, ()):
        return "date"
    if MONEY_COLUMNS.get(table) == column or column == "usage_m3":
        return "number"
    if column in FLAG_DIMENSIONS:
        return "flag"
    return "label"


def _read_as(table: str, name: str, column: DbColumn) -> str:
    """The select expression of a column: a cast where Arrow would not get the values."""
    kind, source = column_kind(table, name), quote(column.name)
    if kind == "id" and column.base not in TEXT_TYPES:
        return f"{source}::text"
    if column.base == "numeric":
        return f"{source}::float8"
    if column.base == "money":
        return f"{source}::numeric::float8"
    if column.base == "bool":
        return f"{source}::int4"
    if column.typtype == "e":
        return f"{source}::text"
    return source


class PostgresSource(Source):
    """The tables of one schema of a PostgreSQL database (see the module docstring).

    Parameters
    ----------
    spec : str
        ``postgresql://USER@HOST:PORT/DATABASE[?schema=NAME&mapping=FILE&...]``.
    """

    kind = "postgresql"

    url = param.String(default="", doc="The source spec, without a password (spec()).")

    def __init__(self, spec: str, **params):
        parsed = parse_spec(spec)
        read_mapping(parsed.mapping)  # a bad mapping file is refused when the source is opened
        super().__init__(url=parsed.spec(), **params)
        self._spec = parsed

    @classmethod
    def accepts(cls, spec) -> bool:
        """Whether ``spec`` is a ``postgresql://`` URL."""
        return is_database_url(spec)

    @property
    def database(self) -> DatabaseSpec:
        """The parsed spec."""
        return self._spec

    def spec(self) -> str:
        return self._spec.spec()

    def describe(self) -> str:
        return self._spec.describe()

    @contextlib.contextmanager
    def session(self, reading: bool = False) -> Iterator:
        """A cursor in a read-only, repeatable-read transaction (see :data:`SESSION_SETTINGS`),
        rolled back and closed at the end.

        Parameters
        ----------
        reading : bool
            Rows will be read in their stored order (:data:`READING_SETTINGS`).

        Yields
        ------
        adbc_driver_manager.dbapi.Cursor

        Raises
        ------
        SourceError
            When the server cannot be reached or refuses the login (one line).
        """
        connection = connect(self._spec)
        cursor = connection.cursor()
        try:
            settings = (*SESSION_SETTINGS, *(READING_SETTINGS if reading else ()))
            for statement in (*settings, BEGIN):
                execute(cursor, statement, self._spec.place)
            yield cursor
        finally:
            with contextlib.suppress(Exception):
                cursor.close()
                connection.close()  # ends the transaction: a rollback

    def tables(self) -> RawTables:
        """Check the catalog, then return the tables, each read when first asked for.

        Raises
        ------
        SourceError
            On a connection problem, a missing schema, table or column, or a column type
            that cannot hold its values.
        """
        names = read_mapping(self._spec.mapping)
        stack = contextlib.ExitStack()
        try:
            cursor = stack.enter_context(self.session(reading=True))
            plans = plan_tables(cursor, self._spec, names)
        except BaseException:
            stack.close()
            raise
        frames = PostgresFrames(cursor, plans, self._spec, stack)
        origins = {table: plan.origin for table, plan in plans.items()}
        return RawTables(frames, origins, self.describe(), self.kind)

    def signature(self) -> str:
        """Digest of each table's row count, latest date and sum of ``xmin`` (or row hash),
        with the catalog's names and types and the mapping file (see the module docstring).

        Remembered per server snapshot: while no transaction commits anywhere on the server,
        asking again is one query.

        Raises
        ------
        SourceError
            As :meth:`tables` (the catalog is checked here too).
        """
        names = read_mapping(self._spec.mapping)
        with self.session() as cursor:
            snapshot = tuple(fetch(cursor, SNAPSHOT_QUERY, self._spec.place)[0])
            key = (self._spec.conninfo(), self._spec.schema, names.digest, snapshot)
            with _SIGNATURES_LOCK:
                if key in _SIGNATURES:
                    _SIGNATURES.move_to_end(key)
                    return _SIGNATURES[key]
            plans = plan_tables(cursor, self._spec, names)
            rows = _aggregate_rows(cursor, plans, self._spec)
        content = {
            "tables": {table: plan.describe() for table, plan in plans.items()},
            "rows": rows,
            "mapping": names.digest,
        }
        text = json.dumps(content, sort_keys=True, default=str)
        digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        with _SIGNATURES_LOCK:
            _SIGNATURES[key] = digest
            while len(_SIGNATURES) > SIGNATURES_KEPT:
                _SIGNATURES.popitem(last=False)
        return digest


def _aggregate_rows(cursor, plans: dict[str, TablePlan], spec: DatabaseSpec) -> list:
    """Each table's (count, latest date, changes), in one statement."""
    parts = [plan.aggregates(spec.schema, i) for i, plan in enumerate(plans.values())]
    rows = fetch(cursor, " UNION ALL ".join(parts), spec.place)
    return [list(row) for row in sorted(rows, key=lambda row: row[0])]


class PostgresFrames(Mapping):
    """A PostgreSQL source's tables, each read when first asked for.

    Validation reads, types and releases one table at a time (``pop``); all of them come
    from the one read-only transaction the source opened, which ends (the connection
    closes) once every table has been read, or when this object is dropped.

    Parameters
    ----------
    cursor : adbc_driver_manager.dbapi.Cursor
        A cursor in the source's read-only transaction.
    plans : dict of str to TablePlan
        How each table is read.
    spec : DatabaseSpec
    stack : contextlib.ExitStack
        Closes the session.
    """

    def __init__(self, cursor, plans: dict[str, TablePlan], spec: DatabaseSpec, stack):
        self._cursor, self._plans, self._spec = cursor, dict(plans), spec
        self._read: dict[str, pd.DataFrame] = {}
        self._unread = set(plans)
        self._close = weakref.finalize(self, stack.close)

    def __getitem__(self, table: str) -> pd.DataFrame:
        if table not in self._read:
            plan = self._plans[table]
            self._read[table] = read_table(self._cursor, plan, self._spec)
            self._unread.discard(table)
            if not self._unread:
                self.close()
        return self._read[table]

    def __contains__(self, table: object) -> bool:
        return table in self._plans

    def __iter__(self) -> Iterator[str]:
        return iter(self._plans)

    def __len__(self) -> int:
        return len(self._plans)

    def pop(self, table: str) -> pd.DataFrame:
        """Read (if needed) and forget a table: the caller then holds its only copy."""
        frame = self[table]
        del self._read[table], self._plans[table]
        return frame

    def column_names(self, table: str) -> list[str]:
        """The dashboard's column names of a table (checked in the catalog; nothing read)."""
        return [name for name, _ in self._plans[table].columns]

    def close(self) -> None:
        """End the read transaction and close the connection."""
        self._close()


def read_table(cursor, plan: TablePlan, spec: DatabaseSpec) -> pd.DataFrame:
    """Read one table through ``COPY ... (FORMAT binary)`` into Arrow, then pandas.

    Dates become ``timestamp[s]`` and labels dictionary-encoded batch by batch; the Arrow
    buffers are released while the pandas columns are made.

    Raises
    ------
    SourceError
        One line naming the table when the server stops or refuses the read.
    """
    try:
        cursor.execute(plan.select(spec.schema))
        reader = cursor.fetch_record_batch()
        batches = [_typed_batch(batch, plan.table) for batch in reader]
    except database_errors() as exc:
        raise SourceError(f"{plan.origin}: {problem(exc)}") from None
    if not batches:  # no rows: the columns, typed as read
        empty = [pa.array([], type=field.type) for field in reader.schema]
        batch = pa.RecordBatch.from_arrays(empty, names=reader.schema.names)
        batches = [_typed_batch(batch, plan.table)]
    table = pa.Table.from_batches(batches)
    del batches
    return table.to_pandas(split_blocks=True, self_destruct=True)


def _typed_batch(batch: pa.RecordBatch, table: str) -> pa.RecordBatch:
    """Dates as ``timestamp[s]`` (as the Parquet reader gives them), labels
    dictionary-encoded (tens of millions of ``method`` strings become one byte each), every
    other column copied into Arrow's memory pool: the driver's buffers (from ``malloc``) are
    freed batch by batch, so the table lives where a Parquet table does, not in the heap
    the build's NumPy arrays are cut from."""
    arrays = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if pa.types.is_date(column.type):
            column = column.cast(pa.timestamp("s"))
        elif column_kind(table, name) == "label" and pa.types.is_string(column.type):
            column = column.dictionary_encode()
        else:
            column = pa.concat_arrays([column])  # a copy, in Arrow's pool
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def plan_tables(cursor, spec: DatabaseSpec, names: NameMap) -> dict[str, TablePlan]:
    """How to read every table of the source, checked against the catalog.

    The four required tables must exist; ``adjustments`` is read when it exists. A table
    name matches exactly, else case-insensitively when only one relation does.

    Returns
    -------
    dict of str to TablePlan
        In :data:`dashboard.vocab.ALL_TABLES` order.

    Raises
    ------
    SourceError
        A missing schema, table or column, or a column of a type that cannot hold its values.
    """
    relations = _relations(fetch(cursor, CATALOG_QUERY, spec.place, (spec.schema,)))
    if not relations:
        _refuse_missing_schema(cursor, spec)
    plans = {}
    for table in ALL_TABLES:
        relation = _find(relations, names.table(table))
        if relation is None and table not in TABLES:
            continue
        if relation is None:
            raise SourceError(_missing_table(spec, names, table, relations))
        plans[table] = _plan(table, relation, relations[relation], spec, names)
    return plans


def _relations(rows: list) -> dict[str, tuple[str, list[DbColumn]]]:
    """Relation name -> (relkind, its columns in order)."""
    relations: dict[str, tuple[str, list[DbColumn]]] = {}
    for relname, relkind, column, base, typtype, shown in rows:
        kind, columns = relations.setdefault(relname, (relkind, []))
        if column is not None:
            columns.append(DbColumn(column, base, typtype, shown))
    return relations


def _find(names: Mapping[str, object], wanted: str) -> str | None:
    """``wanted`` if present, else the one name equal to it ignoring case."""
    if wanted in names:
        return wanted
    matches = [name for name in names if name.lower() == wanted.lower()]
    return matches[0] if len(matches) == 1 else None


def _plan(
    table: str,
    relation: str,
    catalog: tuple[str, list[DbColumn]],
    spec: DatabaseSpec,
    names: NameMap,
) -> TablePlan:
    relkind, found = catalog
    by_name = {column.name: column for column in found}
    renamed = [
        f"{name}={names.column(table, name)}"
        for name in ALL_TABLES[table]
        if names.column(table, name) != name
    ]
    origin = spec.origin(relation) + (f" [{', '.join(renamed)}]" if renamed else "")
    columns = []
    for name in ALL_TABLES[table]:
        wanted = names.column(table, name)
        match = _find(by_name, wanted)
        if match is None:
            listed = ", ".join(c.name for c in found) or "none"
            mapped = f" (mapped from {name})" if wanted != name else ""
            raise SourceError(
                f"{origin}: column '{wanted}'{mapped} missing; columns found: {listed}"
            )
        column = by_name[match]
        _check_type(table, name, column, origin)
        columns.append((name, column))
    return TablePlan(table, relation, relkind, tuple(columns), origin)


def _check_type(table: str, name: str, column: DbColumn, origin: str) -> None:
    kind = column_kind(table, name)
    allowed, need = ALLOWED_TYPES[kind]
    if column.base in allowed or (kind == "label" and column.typtype == "e"):
        return
    raise SourceError(f"{origin}: column '{column.name}' has type {column.shown}; need {need}")


def _refuse_missing_schema(cursor, spec: DatabaseSpec) -> None:
    """A schema with no table at all: say whether it exists."""
    schemas = [row[0] for row in fetch(cursor, SCHEMAS_QUERY, spec.place)]
    if spec.schema not in schemas:
        listed = ", ".join(schemas) or "none"
        raise SourceError(
            f"{spec.place}:{spec.schema}: schema '{spec.schema}' missing (or not readable by "
            f"this user); schemas found: {listed}"
        )


def _missing_table(spec: DatabaseSpec, names: NameMap, table: str, relations: Mapping) -> str:
    wanted = names.table(table)
    mapped = f" (mapped from {table})" if wanted != table else ""
    found = ", ".join(sorted(relations)[:12]) or "none"
    needed = ", ".join(names.table(t) for t in TABLES)
    return (
        f"{spec.origin(wanted)}: table '{wanted}'{mapped} missing (a PostgreSQL source needs "
        f"tables {needed} in schema {spec.schema}; tables found: {found})"
    )


def _driver():
    """The ADBC driver manager's DB-API module (imported when a database is used)."""
    from adbc_driver_manager import dbapi

    return dbapi


def database_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a database call may raise: the driver's, and Arrow's or an I/O
    error while a result streams in."""
    return (_driver().Error, pa.ArrowException, OSError)


def connect(spec: DatabaseSpec, autocommit: bool = True):
    """An ADBC connection to the database of ``spec`` (libpq finds the password in
    ``PGPASSWORD``, ``~/.pgpass`` or a service file).

    Parameters
    ----------
    spec : DatabaseSpec
    autocommit : bool
        False for a writer (``generate``), whose work commits at the end or not at all.

    Returns
    -------
    adbc_driver_manager.dbapi.Connection

    Raises
    ------
    SourceError
        One line: the server cannot be reached, refuses the login, or the database is
        missing.
    """
    import adbc_driver_postgresql.dbapi as postgresql

    try:
        return postgresql.connect(spec.conninfo(), autocommit=autocommit)
    except _driver().Error as exc:
        raise SourceError(f"{spec.place}: cannot connect: {problem(exc)}") from None


def execute(cursor, statement: str, where: str, parameters: tuple | None = None) -> None:
    """Run a statement; any database error becomes one line naming ``where``."""
    try:
        cursor.execute(statement, parameters)
    except _driver().Error as exc:
        raise SourceError(f"{where}: {problem(exc)}") from None


def fetch(cursor, query: str, where: str, parameters: tuple | None = None) -> list[tuple]:
    """Run a query and return its rows; any database error is one line naming ``where``."""
    try:
        cursor.execute(query, parameters)
        return cursor.fetchall()
    except _driver().Error as exc:
        raise SourceError(f"{where}: {problem(exc)}") from None


def problem(exc: BaseException) -> str:
    """The server's (or libpq's) message of a driver error, in one line.

    A failed login says where the password comes from; a connection refused asks whether
    the server runs there.
    """
    text = str(exc)
    for marker in ("ERROR:  ", "FATAL:  ", "failed: ", "Failed to connect: "):
        if marker in text:
            text = text.split(marker, 1)[1]
            break
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    line = lines[0].rstrip(".") if lines else type(exc).__name__
    if "password authentication failed" in line or "no password supplied" in line:
        return f"{line} (the password comes from PGPASSWORD, ~/.pgpass or a service file)"
    if "Connection refused" in line:
        return f"{line} (is the server running on that host and port?)"
    return line


__all__ = ["PostgresFrames", "PostgresSource", "TablePlan", "plan_tables"]
