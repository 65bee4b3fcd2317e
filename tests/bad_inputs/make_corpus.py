"""Build a corpus of broken sources from the committed demo set.

Every case is a small source (the first :data:`N_CUSTOMERS` customers of ``data/`` and their
rows) with one thing wrong, in its own folder, plus what the dashboard must do with it:

* ``"refuse"``: ``collections-dashboard validate`` exits 2 with one ``error: ...`` line that
  contains every string of :attr:`Case.expect` (the file or table and the column);
* ``"warn"``: it loads, reports :attr:`Case.excluded` rows excluded and prints
  :attr:`Case.expect` among its warnings;
* ``"ok"``: it loads as if nothing were wrong (a BOM, quoted commas, trailing blank lines).

Nothing here imports :mod:`dashboard`, so the corpus describes what a source *should* do,
independently of how the package does it. Usage::

    python tests/bad_inputs/make_corpus.py OUT_DIR    # writes OUT_DIR/<case>/..., lists cases

or ``build_corpus(out_dir)`` from Python (``tests/test_bad_inputs.py`` does, into a tmp dir).
The corpus itself is never committed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import pandas as pd

from dashboard.vocab import TABLES

REPO = Path(__file__).resolve().parents[2]
DEMO_DIR = REPO / "data"
N_CUSTOMERS = 40
"""How many customers of the demo set (the first ones) each case keeps."""

TABLE_COLUMNS = TABLES
"""The four tables and their columns (as in ``../shared/DESIGN.md``)."""

NUMERIC_COLUMNS = {
    "customers": ("has_meter", "is_vulnerable", "prefers_direct_debit"),
    "bills": ("bill_amount", "usage_m3"),
    "payments": ("amount",),
}
DATE_COLUMNS = {
    "bills": ("bill_period_end", "due_date"),
    "payments": ("payment_date",),
    "collections_actions": ("action_date",),
}
ROOT_SKIP = (
    "running as root (uid 0): permission bits do not stop reads here, so an unreadable "
    "{what} cannot be simulated; the case is skipped"
)

# Bugs of dashboard/ that a case exposes, per aspect ("cli", "python", "app"): the tests
# mark those aspects xfail(strict=True). Remove an entry once the bug is fixed.


@dataclass(frozen=True)
class Case:
    """One broken source and what the dashboard must do with it.

    Attributes
    ----------
    name : str
        Short identifier (also the name of the case's folder).
    description : str
        What is wrong, in words.
    root : Path
        The case's own folder: the source and nothing else lives under it.
    path : Path
        What to pass as ``--source`` (may not exist, or be a file, a CSV or Parquet folder).
    outcome : str
        ``"refuse"``, ``"warn"`` or ``"ok"`` (see the module docstring).
    expect : tuple of str
        Substrings of the one-line error (refuse) or of ``validate``'s output (warn, ok).
    excluded : dict of str to int
        Rows that must be excluded per table (warn); tables not listed exclude none.
    rows : dict of str to int
        Rows each table must have once loaded (warn, ok).
    values : dict of str to tuple of str
        ``"table.column"`` -> values that must be among the loaded column's values.
    skip : str or None
        Why the case cannot be run here (e.g. permission bits that root ignores).
    known_bugs : dict of str to str
        Aspect (``"cli"``, ``"python"``, ``"app"``) -> reason it currently fails.
    """

    name: str
    description: str
    root: Path
    path: Path
    outcome: str
    expect: tuple[str, ...] = ()
    excluded: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    skip: str | None = None
    known_bugs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Base:
    """The first customers of the demo set and their rows, as text (what a CSV file holds)."""

    text: dict[str, pd.DataFrame]

    def csv_tables(self) -> dict[str, pd.DataFrame]:
        """Fresh copies of the text tables (safe to edit)."""
        return {t: f.copy() for t, f in self.text.items()}

    def typed_tables(self) -> dict[str, pd.DataFrame]:
        """Fresh copies with numbers as numbers (dates stay ISO text, as SQLite stores them)."""
        tables = self.csv_tables()
        for table, columns in NUMERIC_COLUMNS.items():
            for column in columns:
                tables[table][column] = pd.to_numeric(tables[table][column].replace("", None))
        return tables

    def rows(self, **excluded: int) -> dict[str, int]:
        """Row count per table, less the rows a case excludes."""
        return {t: len(f) - excluded.get(t, 0) for t, f in self.text.items()}


@dataclass
class _Builder:
    root: Path
    base: Base

    @property
    def folder(self) -> Path:
        return self.root / "source"

    @property
    def sqlite_file(self) -> Path:
        return self.root / "portfolio.sqlite"

    def csv(self, tables: dict[str, pd.DataFrame] | None = None, **kwargs) -> Path:
        tables = self.base.csv_tables() if tables is None else tables
        self.folder.mkdir(parents=True)
        for table, frame in tables.items():
            frame.to_csv(self.folder / f"{table}.csv", index=False, lineterminator="\n", **kwargs)
        return self.folder

    def sqlite(self, tables: dict[str, pd.DataFrame] | None = None) -> Path:
        tables = self.base.typed_tables() if tables is None else tables
        connection = sqlite3.connect(self.sqlite_file)
        try:
            for table, frame in tables.items():
                frame.to_sql(table, connection, index=False)
            connection.commit()
        finally:
            connection.close()
        return self.sqlite_file

    def parquet(self, tables: dict[str, pd.DataFrame] | None = None) -> Path:
        tables = self.base.typed_tables() if tables is None else tables
        self.folder.mkdir(parents=True)
        for table, frame in tables.items():
            frame = frame.copy()
            for column in DATE_COLUMNS.get(table, ()):  # ISO text -> Parquet date32
                if column in frame and pd.api.types.is_string_dtype(frame[column]):
                    frame[column] = pd.to_datetime(frame[column], format="%Y-%m-%d").dt.date
            frame.to_parquet(self.folder / f"{table}.parquet", engine="pyarrow", index=False)
        return self.folder


_REGISTRY: dict[str, tuple[Callable[[_Builder], Case], dict[str, str]]] = {}


def _case(name: str, **known_bugs: str) -> Callable:
    def register(function: Callable[[_Builder], Case]) -> Callable[[_Builder], Case]:
        _REGISTRY[name] = (function, known_bugs)
        return function

    return register


def _refuse(path: Path, description: str, *expect: str, **kwargs) -> Case:
    return Case("", description, Path(), path, "refuse", tuple(expect), **kwargs)


def _put(frame: pd.DataFrame, column: str, values: dict[int, str]) -> pd.DataFrame:
    """Set cells by 1-based data row (the numbering of error messages)."""
    frame[column] = frame[column].astype(object)
    for row, value in values.items():
        frame.loc[row - 1, column] = value
    return frame


# --- CSV folder: files ----------------------------------------------------------------------


def _missing_csv(table: str) -> Callable[[_Builder], Case]:
    def build(b: _Builder) -> Case:
        folder = b.csv()
        (folder / f"{table}.csv").unlink()
        return _refuse(
            folder, f"{table}.csv is missing", f"{folder / table}.csv: file missing", f"{table}.csv"
        )

    return build


for _table in TABLE_COLUMNS:
    _case(f"csv_missing_{_table}")(_missing_csv(_table))


@_case("csv_empty_file")
def _csv_empty_file(b: _Builder) -> Case:
    folder = b.csv()
    (folder / "customers.csv").write_bytes(b"")
    return _refuse(folder, "customers.csv has 0 bytes", f"{folder}/customers.csv: empty file")


@_case("csv_header_only")
def _csv_header_only(b: _Builder) -> Case:
    tables = b.base.csv_tables()
    tables["bills"] = tables["bills"].iloc[:0]
    folder = b.csv(tables)
    return _refuse(folder, "bills.csv: header, no rows", f"{folder}/bills.csv: empty table")


@_case("csv_empty_actions")
def _csv_empty_actions(b: _Builder) -> Case:
    tables = b.base.csv_tables()
    tables["collections_actions"] = tables["collections_actions"].iloc[:0]
    folder = b.csv(tables)
    n = len(b.base.text["collections_actions"])
    return Case(
        "",
        "collections_actions.csv: header, no rows (allowed, with a warning)",
        Path(),
        folder,
        "warn",
        ("collections_actions.csv: no collections actions",),
        rows=b.base.rows(collections_actions=n),
    )


@_case("csv_missing_column")
def _csv_missing_column(b: _Builder) -> Case:
    tables = b.base.csv_tables()
    tables["bills"] = tables["bills"].drop(columns="due_date")
    folder = b.csv(tables)
    return _refuse(
        folder, "bills.csv has no due_date", f"{folder}/bills.csv: column 'due_date' missing"
    )


@_case("csv_renamed_column")
def _csv_renamed_column(b: _Builder) -> Case:
    tables = b.base.csv_tables()
    tables["payments"] = tables["payments"].rename(columns={"amount": "Amount (GBP)"})
    folder = b.csv(tables)
    return _refuse(
        folder,
        "payments.csv: amount renamed 'Amount (GBP)'",
        f"{folder}/payments.csv: column 'amount' missing",
        "Amount (GBP)",
    )


@_case("csv_newline_in_header")
def _csv_newline_in_header(b: _Builder) -> Case:
    tables = b.base.csv_tables()
    tables["payments"] = tables["payments"].rename(columns={"amount": "Amount\n(GBP)"})
    folder = b.csv(tables)
    return _refuse(
        folder,
        "payments.csv: amount renamed 'Amount<line break>(GBP)' (a wrapped Excel header cell)",
        f"{folder}/payments.csv: column 'amount' missing",
    )


@_case("csv_ragged_row")
def _csv_ragged_row(b: _Builder) -> Case:
    folder = b.csv()
    file = folder / "bills.csv"
    lines = file.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[5] = lines[5].rstrip("\n") + ",surplus\n"
    file.write_text("".join(lines), encoding="utf-8")
    return _refuse(folder, "bills.csv line 6 has one field too many", f"{file}: not a readable CSV")


# --- CSV folder: values ---------------------------------------------------------------------


def _csv_with(b: _Builder, table: str, column: str, values: dict[int, str]) -> Path:
    tables = b.base.csv_tables()
    _put(tables[table], column, values)
    return b.csv(tables)


@_case("csv_text_in_amount")
def _csv_text_in_amount(b: _Builder) -> Case:
    folder = _csv_with(b, "bills", "bill_amount", {5: "forty two"})
    return _refuse(
        folder,
        "bills.csv: bill_amount 'forty two'",
        f"{folder}/bills.csv: column 'bill_amount': not a number in 1 row (row 5 'forty two')",
    )


@_case("csv_nan_amount")
def _csv_nan_amount(b: _Builder) -> Case:
    folder = _csv_with(b, "payments", "amount", {4: "NaN"})
    return _refuse(
        folder,
        "payments.csv: amount 'NaN'",
        f"{folder}/payments.csv: column 'amount': not a number",
        "row 4 'NaN'",
    )


@_case("csv_negative_amount")
def _csv_negative_amount(b: _Builder) -> Case:
    folder = _csv_with(b, "bills", "bill_amount", {12: "-12.50"})
    return _refuse(
        folder,
        "bills.csv: bill_amount -12.50",
        f"{folder}/bills.csv: column 'bill_amount': negative amount",
        "row 12 '-12.50'",
    )


@_case("csv_huge_amount")
def _csv_huge_amount(b: _Builder) -> Case:
    folder = _csv_with(b, "payments", "amount", {7: "1000000000000.00"})
    return _refuse(
        folder,
        "payments.csv: amount 1e12",
        f"{folder}/payments.csv: column 'amount': amount above £1,000,000",
        "row 7 '1000000000000.00'",
    )


@_case("csv_unparseable_date")
def _csv_unparseable_date(b: _Builder) -> Case:
    folder = _csv_with(b, "payments", "payment_date", {3: "31/01/2024", 9: "soon"})
    return _refuse(
        folder,
        "payments.csv: payment_date '31/01/2024' and 'soon'",
        f"{folder}/payments.csv: column 'payment_date': unparseable",
        "in 2 rows (row 3 '31/01/2024', row 9 'soon')",
    )


@_case("csv_partial_date")
def _csv_partial_date(b: _Builder) -> Case:
    folder = _csv_with(b, "bills", "bill_period_end", {2: "2024-03"})
    return _refuse(
        folder,
        "bills.csv: bill_period_end '2024-03' (no day)",
        f"{folder}/bills.csv: column 'bill_period_end': unparseable",
        "row 2 '2024-03'",
    )


@_case("csv_due_before_period_end")
def _csv_due_before_period_end(b: _Builder) -> Case:
    tables = b.base.csv_tables()
    period_end = tables["bills"].loc[6, "bill_period_end"]
    early = (pd.Timestamp(period_end) - pd.Timedelta(days=10)).strftime("%Y-%m-%d")
    _put(tables["bills"], "due_date", {7: early})
    folder = b.csv(tables)
    return _refuse(
        folder,
        f"bills.csv: due_date {early} before bill_period_end {period_end}",
        f"{folder}/bills.csv: column 'due_date': before bill_period_end",
        f"row 7 '{early}'",
    )


@_case("csv_duplicated_bill")
def _csv_duplicated_bill(b: _Builder) -> Case:
    tables = b.base.csv_tables()
    bills = tables["bills"]
    tables["bills"] = pd.concat([bills, bills.iloc[[0]]], ignore_index=True)
    folder = b.csv(tables)
    first = f"{bills.loc[0, 'customer_id']} {bills.loc[0, 'bill_period_end']}"
    return _refuse(
        folder,
        "bills.csv: the first bill appears twice",
        f"{folder}/bills.csv: column 'bill_period_end': duplicated bill",
        f"row 1 '{first}'",
        f"row {len(bills) + 1} '{first}'",
    )


@_case("csv_flag_value_2")
def _csv_flag_value_2(b: _Builder) -> Case:
    folder = _csv_with(b, "customers", "has_meter", {3: "2"})
    return _refuse(
        folder,
        "customers.csv: has_meter 2",
        f"{folder}/customers.csv: column 'has_meter': not 0 or 1 in 1 row (row 3 '2')",
    )


@_case("csv_missing_dimension")
def _csv_missing_dimension(b: _Builder) -> Case:
    folder = _csv_with(b, "customers", "region", {8: ""})
    return _refuse(
        folder,
        "customers.csv: region empty",
        f"{folder}/customers.csv: column 'region': missing value in 1 row (row 8 (empty))",
    )


@_case("csv_duplicated_customer_id")
def _csv_duplicated_customer_id(b: _Builder) -> Case:
    tables = b.base.csv_tables()
    customers = tables["customers"]
    copy = customers.iloc[[1]].assign(region="Oxford")
    tables["customers"] = pd.concat([customers, copy], ignore_index=True)
    folder = b.csv(tables)
    cid = customers.loc[1, "customer_id"]
    return _refuse(
        folder,
        f"customers.csv: {cid} twice",
        f"{folder}/customers.csv: column 'customer_id': duplicated id in 2 rows",
        f"(row 2 '{cid}', row {len(customers) + 1} '{cid}')",
    )


@_case("csv_datetime_with_offset")
def _csv_datetime_with_offset(b: _Builder) -> Case:
    tables = b.base.csv_tables()
    payments = tables["payments"]
    payments["payment_date"] = payments["payment_date"] + "T09:30:00+00:00"
    folder = b.csv(tables)
    return _refuse(
        folder,
        "payments.csv: every payment_date a date-time with a UTC offset (+00:00)",
        f"{folder}/payments.csv: column 'payment_date'",
    )


@_case("csv_mixed_utc_offsets")
def _csv_mixed_utc_offsets(b: _Builder) -> Case:
    tables = b.base.csv_tables()
    payments = tables["payments"]
    month = payments["payment_date"].str[5:7].astype(int)
    offset = month.between(4, 10).map({True: "T09:30:00+01:00", False: "T09:30:00+00:00"})
    payments["payment_date"] = payments["payment_date"] + offset
    folder = b.csv(tables)
    return _refuse(
        folder,
        "payments.csv: payment_date date-times in GMT (+00:00) and BST (+01:00)",
        f"{folder}/payments.csv: column 'payment_date'",
    )


# --- CSV folder: exclusions and encodings that load -----------------------------------------


@_case("csv_orphan_payments")
def _csv_orphan_payments(b: _Builder) -> Case:
    tables = b.base.csv_tables()
    orphans = pd.DataFrame(
        {
            "customer_id": ["C999990", "C999991", "C999990"],
            "payment_date": ["2024-02-14", "2024-03-14", "2024-04-14"],
            "amount": ["10.00", "20.00", "30.00"],
            "method": ["Card", "Cash", "Card"],
        }
    )
    tables["payments"] = pd.concat([tables["payments"], orphans], ignore_index=True)
    folder = b.csv(tables)
    return Case(
        "",
        "payments.csv: 3 payments of customers not in customers.csv",
        Path(),
        folder,
        "warn",
        (f"{folder}/payments.csv: column 'customer_id': excluded 3 rows", "C999990"),
        excluded={"payments": 3},
        rows=b.base.rows(),
    )


@_case("csv_orphan_actions")
def _csv_orphan_actions(b: _Builder) -> Case:
    tables = b.base.csv_tables()
    actions = tables["collections_actions"]
    _put(actions, "customer_id", {2: "C000001", 5: "c100000"})  # unknown; wrong case
    folder = b.csv(tables)
    return Case(
        "",
        "collections_actions.csv: 2 actions of unknown customers (one a lower-case id)",
        Path(),
        folder,
        "warn",
        (
            f"{folder}/collections_actions.csv: column 'customer_id': excluded 2 rows",
            "row 2 'C000001', row 5 'c100000'",
        ),
        excluded={"collections_actions": 2},
        rows=b.base.rows(collections_actions=2),
    )


def _income_bands(base: Base) -> tuple[str, ...]:
    return tuple(sorted(base.text["customers"]["income_band"].unique()))


@_case("csv_utf8_bom")
def _csv_utf8_bom(b: _Builder) -> Case:
    folder = b.csv(encoding="utf-8-sig")
    return Case(
        "",
        "every CSV starts with a UTF-8 byte order mark",
        Path(),
        folder,
        "ok",
        ("no warnings",),
        rows=b.base.rows(),
        values={
            "customers.customer_id": ("C100000",),
            "customers.income_band": _income_bands(b.base),
        },
    )


@_case("csv_latin1_pound")
def _csv_latin1_pound(b: _Builder) -> Case:
    folder = b.csv()
    file = folder / "customers.csv"
    file.write_bytes(file.read_text(encoding="utf-8").encode("latin-1"))
    bands = _income_bands(b.base)
    assert any("£" in band for band in bands)
    return Case(
        "",
        "customers.csv in Latin-1 ('£' is byte 0xA3)",
        Path(),
        folder,
        "warn",
        (f"{file}: not UTF-8, read as Latin-1",),
        rows=b.base.rows(),
        values={"customers.income_band": bands},
    )


@_case("csv_quoted_commas")
def _csv_quoted_commas(b: _Builder) -> Case:
    tables = b.base.csv_tables()
    _put(tables["customers"], "region", {1: "Reading, Berkshire"})
    _put(tables["payments"], "method", {1: 'Card, "contactless"'})
    folder = b.csv(tables)
    return Case(
        "",
        "quoted fields holding commas (and quotes) in customers.csv and payments.csv",
        Path(),
        folder,
        "ok",
        ("no warnings",),
        rows=b.base.rows(),
        values={
            "customers.region": ("Reading, Berkshire",),
            "payments.method": ('Card, "contactless"',),
        },
    )


@_case("csv_trailing_blank_lines")
def _csv_trailing_blank_lines(b: _Builder) -> Case:
    folder = b.csv()
    for file in folder.iterdir():
        with open(file, "a", encoding="utf-8") as handle:
            handle.write("\n\n  \n\n" if file.stem == "bills" else "\n\n\n")
    return Case(
        "",
        "every CSV ends with blank lines (one with spaces in bills.csv)",
        Path(),
        folder,
        "ok",
        ("no warnings",),
        rows=b.base.rows(),
    )


# --- paths and permissions ------------------------------------------------------------------


@_case("path_missing")
def _path_missing(b: _Builder) -> Case:
    path = b.root / "no-such-source"
    return _refuse(path, "the path does not exist", f"{path}: no such file or folder")


def _unreadable_skip(path: Path, what: str) -> str | None:
    """None when reading ``path`` really fails, else why the case cannot be run."""
    try:
        if path.is_dir():
            os.listdir(path)
        else:
            with open(path, "rb") as handle:
                handle.read(1)
    except PermissionError:
        return None
    return ROOT_SKIP.format(what=what)


@_case("csv_unreadable_folder")
def _csv_unreadable_folder(b: _Builder) -> Case:
    folder = b.csv()
    folder.chmod(0)
    return _refuse(
        folder,
        "the CSV folder has mode 000",
        f"{folder}: permission denied",
        skip=_unreadable_skip(folder, "folder"),
    )


@_case("csv_unreadable_file")
def _csv_unreadable_file(b: _Builder) -> Case:
    folder = b.csv()
    file = folder / "payments.csv"
    file.chmod(0)
    return _refuse(
        folder,
        "payments.csv has mode 000",
        f"{file}: permission denied",
        skip=_unreadable_skip(file, "file"),
    )


# --- SQLite ---------------------------------------------------------------------------------


@_case("sqlite_missing_table")
def _sqlite_missing_table(b: _Builder) -> Case:
    tables = b.base.typed_tables()
    del tables["payments"]
    file = b.sqlite(tables)
    return _refuse(file, "no payments table", f"{file}: table 'payments' missing")


@_case("sqlite_empty_table")
def _sqlite_empty_table(b: _Builder) -> Case:
    tables = b.base.typed_tables()
    tables["payments"] = tables["payments"].iloc[:0]
    file = b.sqlite(tables)
    return _refuse(file, "payments table with no rows", f"{file}:payments: empty table")


@_case("sqlite_text_in_amount")
def _sqlite_text_in_amount(b: _Builder) -> Case:
    tables = b.base.typed_tables()
    _put(tables["bills"], "bill_amount", {3: "n/a"})
    file = b.sqlite(tables)
    return _refuse(
        file,
        "bills.bill_amount holds the text 'n/a'",
        f"{file}:bills: column 'bill_amount': not a number in 1 row (row 3 'n/a')",
    )


@_case("sqlite_null_date")
def _sqlite_null_date(b: _Builder) -> Case:
    tables = b.base.typed_tables()
    _put(tables["collections_actions"], "action_date", {6: None})
    file = b.sqlite(tables)
    return _refuse(
        file,
        "collections_actions.action_date NULL",
        f"{file}:collections_actions: column 'action_date': unparseable or missing date",
        "row 6 (empty)",
    )


@_case("sqlite_orphan_rows")
def _sqlite_orphan_rows(b: _Builder) -> Case:
    tables = b.base.typed_tables()
    customers = tables["customers"]
    acted = set(tables["collections_actions"]["customer_id"])
    index = next(i for i in range(1, len(customers)) if customers.loc[i, "customer_id"] in acted)
    gone = customers.loc[index, "customer_id"]
    tables["customers"] = customers.drop(index=index).reset_index(drop=True)
    file = b.sqlite(tables)
    counts = {
        t: int((tables[t]["customer_id"] == gone).sum())
        for t in ("bills", "payments", "collections_actions")
    }
    assert all(counts.values()), counts
    rows = b.base.rows(customers=1, **counts)
    return Case(
        "",
        f"customer {gone} deleted from customers; its bills, payments and actions stay",
        Path(),
        file,
        "warn",
        tuple(f"{file}:{t}: column 'customer_id': excluded {n} rows" for t, n in counts.items()),
        excluded=counts,
        rows=rows,
    )


@_case("sqlite_integer_dates")
def _sqlite_integer_dates(b: _Builder) -> Case:
    tables = b.base.typed_tables()
    payments = tables["payments"]
    payments["payment_date"] = payments["payment_date"].str.replace("-", "").astype("int64")
    file = b.sqlite(tables)
    return _refuse(
        file,
        "payments.payment_date stored as INTEGER 20240214 (not ISO text)",
        f"{file}:payments: column 'payment_date'",
    )


def _write_truncated(b: _Builder, size: Callable[[int], int]) -> Path:
    file = b.sqlite()
    data = file.read_bytes()
    file.write_bytes(data[: size(len(data))])
    return file


@_case("sqlite_truncated")
def _sqlite_truncated(b: _Builder) -> Case:
    file = _write_truncated(b, lambda n: n // 2)
    return _refuse(file, "the second half of the file is gone", f"{file}: truncated SQLite")


@_case("sqlite_truncated_header")
def _sqlite_truncated_header(b: _Builder) -> Case:
    file = _write_truncated(b, lambda n: 60)
    return _refuse(file, "only 60 bytes left", f"{file}: truncated SQLite database")


@_case("sqlite_corrupt_page")
def _sqlite_corrupt_page(b: _Builder) -> Case:
    file = b.sqlite()
    data = bytearray(file.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    # the pages after the schema page hold the tables: scribble over them, keep the size
    garbage = bytes(range(256)) * (page_size // 256)
    for page in range(1, len(data) // page_size):
        data[page * page_size : (page + 1) * page_size] = garbage[:page_size]
    file.write_bytes(bytes(data))
    return _refuse(file, "every page but the first is garbage", f"{file}: damaged SQLite database")


@_case("sqlite_not_a_database")
def _sqlite_not_a_database(b: _Builder) -> Case:
    file = b.sqlite_file
    file.write_text("customer_id,region\nC100000,Reading\n", encoding="utf-8")
    return _refuse(file, "a text file named .sqlite", f"{file}: not a SQLite database")


@_case("csv_file_as_source")
def _csv_file_as_source(b: _Builder) -> Case:
    file = b.csv() / "bills.csv"
    return _refuse(file, "--source names one CSV file", f"{file}: not a SQLite database")


# --- Parquet --------------------------------------------------------------------------------


@_case("parquet_missing_file")
def _parquet_missing_file(b: _Builder) -> Case:
    folder = b.parquet()
    (folder / "collections_actions.parquet").unlink()
    return _refuse(
        folder,
        "collections_actions.parquet is missing",
        f"{folder}/collections_actions.parquet: file missing",
    )


@_case("parquet_other_schema")
def _parquet_other_schema(b: _Builder) -> Case:
    tables = b.base.typed_tables()
    tables["bills"] = tables["payments"]
    folder = b.parquet(tables)
    return _refuse(
        folder,
        "bills.parquet holds the payments table (a different schema)",
        f"{folder}/bills.parquet: column 'bill_period_end' missing",
    )


@_case("parquet_part_other_schema")
def _parquet_part_other_schema(b: _Builder) -> Case:
    folder = b.parquet()
    bills = pd.read_parquet(folder / "bills.parquet")
    (folder / "bills.parquet").unlink()
    (folder / "bills").mkdir()
    half = len(bills) // 2
    bills.iloc[:half].to_parquet(folder / "bills" / "part-0.parquet", index=False)
    renamed = bills.iloc[half:].rename(columns={"due_date": "date_due"})
    renamed.to_parquet(folder / "bills" / "part-1.parquet", index=False)
    return _refuse(
        folder,
        "bills/ dataset whose second file calls due_date 'date_due'",
        f"{folder}/bills: column 'due_date': unparseable or missing date",
        f"in {len(bills) - half} rows (row {half + 1} ",
    )


@_case("parquet_not_parquet")
def _parquet_not_parquet(b: _Builder) -> Case:
    folder = b.parquet()
    (folder / "payments.parquet").write_text("customer_id,amount\nC100000,1.00\n")
    return _refuse(
        folder,
        "payments.parquet is a CSV text",
        f"{folder}/payments.parquet: not a readable Parquet file",
    )


@_case("parquet_nan_amount")
def _parquet_nan_amount(b: _Builder) -> Case:
    tables = b.base.typed_tables()
    tables["bills"].loc[9, "bill_amount"] = float("nan")
    folder = b.parquet(tables)
    return _refuse(
        folder,
        "bills.parquet: bill_amount NaN",
        f"{folder}/bills.parquet: column 'bill_amount': not a number in 1 row (row 10 (empty))",
    )


@_case("parquet_tz_timestamps")
def _parquet_tz_timestamps(b: _Builder) -> Case:
    tables = b.base.typed_tables()
    payments = tables["payments"]
    dates = pd.to_datetime(payments["payment_date"], format="%Y-%m-%d")
    payments["payment_date"] = dates.dt.tz_localize("Europe/London")
    folder = b.parquet(tables)
    return _refuse(
        folder,
        "payments.parquet: payment_date as tz-aware timestamps (Europe/London)",
        f"{folder}/payments.parquet: column 'payment_date'",
    )


# --- dates that cannot be real (issue 13: memory must not follow a typo's date span) -------


def _today() -> pd.Timestamp:
    """The machine's date, as validation sees it (``$COLLECTIONS_TODAY`` aside)."""
    return pd.Timestamp(date.today())


def _iso(when: pd.Timestamp) -> str:
    return when.strftime("%Y-%m-%d")


@_case("csv_bill_in_year_0202")
def _csv_bill_in_year_0202(b: _Builder) -> Case:
    folder = _csv_with(b, "bills", "bill_period_end", {3: "0202-01-31"})
    return _refuse(
        folder,
        "bills.csv: bill_period_end 0202-01-31 (2022 mistyped): a 1,800-year span of months",
        f"{folder}/bills.csv: column 'bill_period_end': date before 1900-01-01",
        "row 3 '0202-01-31'",
    )


@_case("csv_bill_in_1925")
def _csv_bill_in_1925(b: _Builder) -> Case:
    tables = b.base.csv_tables()
    bills = tables["bills"]
    period_end = bills.loc[7, "bill_period_end"]
    typo = "19" + period_end[2:]
    _put(bills, "bill_period_end", {8: typo})
    _put(bills, "due_date", {8: "19" + bills.loc[7, "due_date"][2:]})
    folder = b.csv(tables)
    return _refuse(
        folder,
        f"bills.csv: bill_period_end {typo} ({period_end} mistyped): a century of months",
        f"{folder}/bills.csv: column 'bill_period_end': more than 10 years before the next",
        f"row 8 '{typo}'",
    )


@_case("csv_payment_in_2075")
def _csv_payment_in_2075(b: _Builder) -> Case:
    folder = _csv_with(b, "payments", "payment_date", {5: "2075-03-14"})
    return _refuse(
        folder,
        "payments.csv: a payment dated 2075-03-14 (it would move the default as-of date)",
        f"{folder}/payments.csv: column 'payment_date': after today (",
        "row 5 '2075-03-14'",
    )


@_case("csv_payment_in_year_9999")
def _csv_payment_in_year_9999(b: _Builder) -> Case:
    folder = _csv_with(b, "payments", "payment_date", {11: "9999-12-31"})
    return _refuse(
        folder,
        "payments.csv: a payment dated 9999-12-31 (a 'no end date' placeholder)",
        f"{folder}/payments.csv: column 'payment_date': after today (",
        "row 11 '9999-12-31'",
    )


@_case("csv_action_tomorrow")
def _csv_action_tomorrow(b: _Builder) -> Case:
    tomorrow = _iso(_today() + pd.Timedelta(days=1))
    folder = _csv_with(b, "collections_actions", "action_date", {2: tomorrow})
    return _refuse(
        folder,
        f"collections_actions.csv: an action dated tomorrow ({tomorrow})",
        f"{folder}/collections_actions.csv: column 'action_date': after today (",
        f"row 2 '{tomorrow}'",
    )


@_case("csv_bill_period_years_ahead")
def _csv_bill_period_years_ahead(b: _Builder) -> Case:
    end = _today() + pd.Timedelta(days=800)
    tables = b.base.csv_tables()
    _put(tables["bills"], "bill_period_end", {6: _iso(end)})
    _put(tables["bills"], "due_date", {6: _iso(end + pd.Timedelta(days=14))})
    folder = b.csv(tables)
    return _refuse(
        folder,
        f"bills.csv: a bill period ending {_iso(end)}, 800 days after today",
        f"{folder}/bills.csv: column 'bill_period_end': more than 366 days after today (",
        f"row 6 '{_iso(end)}'",
    )


@_case("csv_due_years_after_period")
def _csv_due_years_after_period(b: _Builder) -> Case:
    tables = b.base.csv_tables()
    period_end = pd.Timestamp(tables["bills"].loc[3, "bill_period_end"])
    due = _iso(period_end + pd.Timedelta(days=731))
    _put(tables["bills"], "due_date", {4: due})
    folder = b.csv(tables)
    return _refuse(
        folder,
        f"bills.csv: a due date ({due}) two years after its period end",
        f"{folder}/bills.csv: column 'due_date': more than 366 days after bill_period_end",
        f"row 4 '{due}'",
    )


@_case("sqlite_payment_in_year_1")
def _sqlite_payment_in_year_1(b: _Builder) -> Case:
    tables = b.base.typed_tables()
    _put(tables["payments"], "payment_date", {7: "0001-01-01"})
    file = b.sqlite(tables)
    return _refuse(
        file,
        "payments.payment_date '0001-01-01' (a default date of some export)",
        f"{file}:payments: column 'payment_date': date before 1900-01-01",
        "row 7 '0001-01-01'",
    )


@_case("parquet_date32_year_0202")
def _parquet_date32_year_0202(b: _Builder) -> Case:
    tables = b.base.typed_tables()
    _put(tables["bills"], "due_date", {2: "0202-02-14"})
    folder = b.parquet(tables)  # written as Parquet date32: year 202 is a valid date32
    return _refuse(
        folder,
        "bills.parquet: due_date 0202-02-14 as a Parquet date",
        f"{folder}/bills.parquet: column 'due_date': date before 1900-01-01",
        "row 2 '0202-02-14",
    )


# --- ids and types ----------------------------------------------------------------------------


def _integer_ids(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """``C100000`` -> 100000 in every table (an integer id column)."""
    for frame in tables.values():
        frame["customer_id"] = frame["customer_id"].str[1:].astype("int64")
    return tables


def _integer_ids_with_one_null(b: _Builder, table: str, row: int) -> dict[str, pd.DataFrame]:
    tables = _integer_ids(b.base.typed_tables())
    _put(tables[table], "customer_id", {row: None})
    return tables


@_case("sqlite_integer_ids_one_null")
def _sqlite_integer_ids_one_null(b: _Builder) -> Case:
    file = b.sqlite(_integer_ids_with_one_null(b, "collections_actions", 4))
    return Case(
        "",
        "INTEGER customer ids (100000); one action's id is NULL",
        Path(),
        file,
        "warn",
        (
            f"{file}:collections_actions: column 'customer_id': excluded 1 row with no "
            "customer id (row 4 (empty))",
        ),
        excluded={"collections_actions": 1},
        rows=b.base.rows(collections_actions=1),
        values={"customers.customer_id": ("100000", "100001")},
    )


@_case("parquet_integer_ids_one_null")
def _parquet_integer_ids_one_null(b: _Builder) -> Case:
    folder = b.parquet(_integer_ids_with_one_null(b, "payments", 9))
    return Case(
        "",
        "int64 customer ids (100000); one payment's id is null",
        Path(),
        folder,
        "warn",
        (
            f"{folder}/payments.parquet: column 'customer_id': excluded 1 row with no "
            "customer id (row 9 (empty))",
        ),
        excluded={"payments": 1},
        rows=b.base.rows(payments=1),
        values={"payments.customer_id": ("100000",)},
    )


@_case("parquet_float16_amounts")
def _parquet_float16_amounts(b: _Builder) -> Case:
    tables = b.base.typed_tables()
    tables["bills"]["bill_amount"] = tables["bills"]["bill_amount"].astype("float16")
    folder = b.parquet(tables)
    return _refuse(
        folder,
        "bills.parquet: bill_amount as float16 (40.10 reads as 40.09375: pennies lost)",
        f"{folder}/bills.parquet: column 'bill_amount': amount stored as float16",
    )


@_case("sqlite_blob_amount")
def _sqlite_blob_amount(b: _Builder) -> Case:
    file = b.sqlite()
    connection = sqlite3.connect(file)
    try:
        connection.execute("UPDATE payments SET amount = CAST('12.50' AS BLOB) WHERE rowid = 6")
        connection.commit()
    finally:
        connection.close()
    return _refuse(
        file,
        "payments.amount of row 6 is a BLOB spelling 12.50",
        f"{file}:payments: column 'amount': binary (BLOB) value",
        "row 6 \"b'12.50'\"",
    )


# --- wrongly refused before: views, names in another case, extra files -----------------------


@_case("sqlite_views_mixed_case")
def _sqlite_views_mixed_case(b: _Builder) -> Case:
    tables = b.base.typed_tables()
    file = b.sqlite_file
    connection = sqlite3.connect(file)
    try:
        tables["customers"].to_sql("Customers", connection, index=False)
        tables["bills"].to_sql("BILLS", connection, index=False)
        tables["payments"].to_sql("payments_all", connection, index=False)
        connection.execute("CREATE VIEW Payments AS SELECT * FROM payments_all")
        tables["collections_actions"].to_sql("actions_log", connection, index=False)
        connection.execute("CREATE VIEW collections_actions AS SELECT * FROM actions_log")
        connection.commit()
    finally:
        connection.close()
    return Case(
        "",
        "tables named Customers and BILLS; payments and collections_actions are views",
        Path(),
        file,
        "ok",
        ("no warnings",),
        rows=b.base.rows(),
    )


@_case("csv_unrelated_subfolder")
def _csv_unrelated_subfolder(b: _Builder) -> Case:
    folder = b.csv()
    (folder / "payments").mkdir()  # scanned receipts, in a folder named like a table
    (folder / "payments" / "receipt-0001.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    (folder / "archive").mkdir()
    return Case(
        "",
        "a CSV folder with a payments/ subfolder of PDF receipts and an archive/ folder",
        Path(),
        folder,
        "ok",
        ("no warnings",),
        rows=b.base.rows(),
    )


@_case("parquet_readme_beside_tables")
def _parquet_readme_beside_tables(b: _Builder) -> Case:
    folder = b.parquet()
    (folder / "README.md").write_text("# Portfolio export\n", encoding="utf-8")
    (folder / "notes").mkdir()
    return Case(
        "",
        "a Parquet folder with a README.md and a notes/ folder beside the tables",
        Path(),
        folder,
        "ok",
        ("no warnings",),
        rows=b.base.rows(),
    )


@_case("parquet_dataset_with_readme")
def _parquet_dataset_with_readme(b: _Builder) -> Case:
    folder = b.parquet()
    bills = pd.read_parquet(folder / "bills.parquet")
    (folder / "bills.parquet").unlink()
    (folder / "bills").mkdir()
    half = len(bills) // 2
    bills.iloc[:half].to_parquet(folder / "bills" / "part-0.parquet", index=False)
    bills.iloc[half:].to_parquet(folder / "bills" / "part-1.parquet", index=False)
    (folder / "bills" / "README.md").write_text("Bills, two parts.\n", encoding="utf-8")
    (folder / "bills" / "_SUCCESS").write_bytes(b"")
    return Case(
        "",
        "a bills/ dataset folder holding a README.md (and _SUCCESS) beside its parts",
        Path(),
        folder,
        "warn",
        (f"{folder}/bills: ignored 1 file not named *.parquet (README.md)",),
        rows=b.base.rows(),
    )


# --- SQLite journals ----------------------------------------------------------------------


@_case("sqlite_wal_newest_rows")
def _sqlite_wal_newest_rows(b: _Builder) -> Case:
    """A live WAL database, copied with its -wal and -shm while the writer is connected:
    payments and actions exist only in the log."""
    tables = b.base.typed_tables()
    with tempfile.TemporaryDirectory() as scratch:
        live = Path(scratch) / "portfolio.sqlite"
        writer = sqlite3.connect(live)
        try:
            writer.execute("PRAGMA journal_mode=wal")
            writer.execute("PRAGMA wal_autocheckpoint=0")
            for table in ("customers", "bills"):
                tables[table].to_sql(table, writer, index=False)
            writer.commit()
            writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            for table in ("payments", "collections_actions"):
                tables[table].to_sql(table, writer, index=False)
            writer.commit()
            for suffix in ("", "-wal", "-shm"):
                shutil.copyfile(f"{live}{suffix}", f"{b.sqlite_file}{suffix}")
        finally:
            writer.close()
    # one read, as any SQLite reader does, sets the reader marks in -shm: later reads
    # leave every byte as it is (what the corpus checks)
    reader = sqlite3.connect(f"{b.sqlite_file.as_uri()}?mode=ro", uri=True)
    try:
        reader.execute("SELECT count(*) FROM payments").fetchone()
    finally:
        reader.close()
    return Case(
        "",
        "WAL database with its -wal and -shm: payments and actions only in the log",
        Path(),
        b.sqlite_file,
        "ok",
        ("no warnings",),
        rows=b.base.rows(),
    )


CRASHING_WRITER = """
import os, sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("PRAGMA cache_size=1")  # dirty pages spill into the file before commit
connection.execute("BEGIN")
connection.execute("UPDATE bills SET bill_amount = bill_amount * 3")
connection.execute("DELETE FROM payments WHERE rowid % 2 = 0")
os._exit(0)  # the writer dies: no commit, no rollback
"""


@_case("sqlite_hot_journal")
def _sqlite_hot_journal(b: _Builder) -> Case:
    file = b.sqlite()
    subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(file)], check=True, timeout=60)
    assert Path(f"{file}-journal").stat().st_size > 0
    return _refuse(
        file,
        "a writer died mid-transaction: half-written pages and a hot -journal",
        f"{file}: hot journal portfolio.sqlite-journal",
    )


# --- special paths: refused before anything is opened ----------------------------------------


@_case("path_named_pipe")
def _path_named_pipe(b: _Builder) -> Case:
    fifo = b.sqlite_file
    os.mkfifo(fifo)
    return _refuse(fifo, "--source is a named pipe (opening it blocks)", f"{fifo}: a named pipe")


@_case("path_dev_zero")
def _path_dev_zero(b: _Builder) -> Case:
    link = b.root / "zero.sqlite"
    link.symlink_to("/dev/zero")
    return _refuse(
        link,
        "--source is a link to /dev/zero (hashing it never ends)",
        f"{link}: a character device",
    )


@_case("path_symlink_loop")
def _path_symlink_loop(b: _Builder) -> Case:
    first, second = b.root / "source", b.root / "other"
    first.symlink_to(second)
    second.symlink_to(first)
    return _refuse(first, "--source is a symbolic link loop", f"{first}: symbolic link loop")


@_case("csv_table_is_a_named_pipe")
def _csv_table_is_a_named_pipe(b: _Builder) -> Case:
    folder = b.csv()
    (folder / "bills.csv").unlink()
    os.mkfifo(folder / "bills.csv")
    return _refuse(folder, "bills.csv is a named pipe", f"{folder}/bills.csv: a named pipe")


# --- building ---------------------------------------------------------------------------------


def case_names() -> list[str]:
    """Names of every case, in build order (no files are written).

    Returns
    -------
    list of str
    """
    return list(_REGISTRY)


def known_bugs() -> dict[str, dict[str, str]]:
    """Aspects of cases that currently fail because of a bug in ``dashboard/``.

    Returns
    -------
    dict of str to dict of str to str
        Case name -> {aspect (``"cli"``, ``"python"``, ``"app"``): reason}.
    """
    return {name: dict(bugs) for name, (_, bugs) in _REGISTRY.items() if bugs}


def load_base(demo_dir: str | Path = DEMO_DIR, customers: int = N_CUSTOMERS) -> Base:
    """The first ``customers`` customers of a CSV source and their rows, all as text.

    Parameters
    ----------
    demo_dir : str or Path, optional
        A CSV folder; the committed demo set by default.
    customers : int, optional
        How many customers (from the top of ``customers.csv``) to keep.

    Returns
    -------
    Base
    """
    demo_dir = Path(demo_dir)
    text = {}
    for table in TABLE_COLUMNS:
        frame = pd.read_csv(
            demo_dir / f"{table}.csv", dtype=str, keep_default_na=False, encoding="utf-8"
        )
        if table == "customers":
            frame = frame.head(customers)
            ids = set(frame["customer_id"])
        else:
            frame = frame[frame["customer_id"].isin(ids)]
        text[table] = frame.loc[:, list(TABLE_COLUMNS[table])].reset_index(drop=True)
    return Base(text)


def build_corpus(out_dir: str | Path, demo_dir: str | Path = DEMO_DIR) -> dict[str, Case]:
    """Write every broken source into ``out_dir/<case name>/`` and describe it.

    Parameters
    ----------
    out_dir : str or Path
        An empty or new folder.
    demo_dir : str or Path, optional
        The CSV demo set the cases are cut from.

    Returns
    -------
    dict of str to Case
        Cases by name, in :func:`case_names` order.

    Raises
    ------
    FileExistsError
        When ``out_dir`` is not empty (nothing is overwritten).

    Notes
    -----
    The permission cases leave folders or files with mode 000; as root they are readable
    anyway and their :attr:`Case.skip` says so.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir}: not empty; give a new or empty folder")
    base = load_base(demo_dir)
    cases = {}
    for name, (build, bugs) in _REGISTRY.items():
        root = out_dir / name
        root.mkdir(parents=True)
        case = build(_Builder(root, base))
        cases[name] = replace(case, name=name, root=root, known_bugs=dict(bugs))
    return cases


def main(argv: list[str] | None = None) -> int:
    """Command line: build the corpus into a folder and list the cases.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (``sys.argv[1:]`` by default).

    Returns
    -------
    int
        Exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="new or empty folder for the cases")
    parser.add_argument("--demo", type=Path, default=DEMO_DIR, help="CSV demo set to cut from")
    args = parser.parse_args(argv)
    cases = build_corpus(args.out_dir, args.demo)
    for case in cases.values():
        note = f"  [skip: {case.skip}]" if case.skip else ""
        bugs = f"  [known bug: {', '.join(case.known_bugs)}]" if case.known_bugs else ""
        print(f"{case.name:<28} {case.outcome:<7} {case.description}{note}{bugs}")
    print(f"{len(cases)} cases in {args.out_dir}")
    if any(case.skip is None and "unreadable" in case.name for case in cases.values()):
        print(f"note: mode-000 entries under {args.out_dir}: `chmod -R u+rwX` before removing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
