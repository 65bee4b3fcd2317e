"""Source detection, the three readers, read-only SQLite and the sources that are refused."""

from __future__ import annotations

import contextlib
import decimal
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_parquet, write_sqlite

from dashboard import SourceError
from dashboard.compute.outcomes import latest_payment_date
from dashboard.loader import load_portfolio
from dashboard.schema import tables_from_frames, validate
from dashboard.sources import files as files_module
from dashboard.sources import open_source, read_source, source_kind
from dashboard.sources.csv import CsvSource
from dashboard.sources.sqlite import SqliteSource
from dashboard.vocab import TABLES

PORTFOLIO_TABLES = ("customers", "bills", "payments", "actions")


def load(path: Path):
    return validate(read_source(path))


def one_line_error(excinfo: pytest.ExceptionInfo) -> str:
    message = str(excinfo.value)
    assert isinstance(excinfo.value, ValueError)
    assert "\n" not in message, message
    return message


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- detection ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "sqlite", "parquet"])
def test_source_kind_is_detected(make_source, kind):
    path = make_source(kind=kind)
    assert source_kind(path) == kind
    assert read_source(path).kind == kind


@pytest.mark.parametrize("name", ["portfolio.csv", "portfolio", "data.parquet", "x.db"])
def test_sqlite_is_detected_by_content_whatever_the_extension(make_source, name):
    path = make_source(kind="sqlite", name=name)
    raw = read_source(path)
    assert raw.kind == "sqlite"
    assert raw.origins["bills"] == f"{path}:bills"
    assert len(load(path).bills) == 15


def test_parquet_dataset_folders_are_read(tmp_path, small_tables):
    folder = tmp_path / "pq"
    folder.mkdir()
    for table, frame in small_tables.items():
        (folder / table).mkdir()
        half = len(frame) // 2
        frame.iloc[:half].to_parquet(folder / table / "part-0.parquet", index=False)
        frame.iloc[half:].to_parquet(folder / table / "part-1.parquet", index=False)
    portfolio = load(folder)
    assert source_kind(folder) == "parquet"
    assert (len(portfolio.customers), len(portfolio.bills), len(portfolio.payments)) == (4, 15, 9)


def test_all_three_kinds_give_equal_validated_tables(make_source):
    portfolios = {kind: load(make_source(kind=kind)) for kind in ("csv", "sqlite", "parquet")}
    csv = portfolios["csv"]
    assert (len(csv.customers), len(csv.bills), len(csv.payments), len(csv.actions)) == (
        4,
        15,
        9,
        5,
    )
    assert csv.bills["bill_pence"].tolist()[:4] == [4010, 4155, 3999, 4200]
    for kind in ("sqlite", "parquet"):
        other = portfolios[kind]
        for table in PORTFOLIO_TABLES:
            pd.testing.assert_frame_equal(getattr(csv, table), getattr(other, table), obj=kind)
        assert other.warnings == csv.warnings == []
        assert other.excluded == csv.excluded


def test_parquet_with_real_date_columns_equals_csv(make_source, small_tables):
    """Parquet written from typed frames (datetime64 and date32 columns) reads the same."""
    as_datetime = {t: f.copy() for t, f in small_tables.items()}
    as_date = {t: f.copy() for t, f in small_tables.items()}
    dated = {"bills": ("bill_period_end", "due_date"), "payments": ("payment_date",)}
    dated["collections_actions"] = ("action_date",)
    for table, columns in dated.items():
        for column in columns:
            as_datetime[table][column] = pd.to_datetime(as_datetime[table][column])
            as_date[table][column] = as_datetime[table][column].dt.date
    expected = load(make_source(small_tables, "csv"))
    for tables in (as_datetime, as_date):
        got = load(make_source(tables, "parquet"))
        for table in PORTFOLIO_TABLES:
            pd.testing.assert_frame_equal(getattr(expected, table), getattr(got, table))


# --- SQLite is read-only ----------------------------------------------------------------------


@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
def test_sqlite_is_opened_read_only(tmp_path, small_tables, journal_mode):
    folder = tmp_path / "db"
    folder.mkdir()
    file = folder / "portfolio.sqlite"
    connection = sqlite3.connect(file)
    connection.execute(f"PRAGMA journal_mode={journal_mode}")
    for table, frame in small_tables.items():
        frame.to_sql(table, connection, index=False)
    connection.commit()
    connection.close()
    before = (sha256(file), file.stat().st_mtime_ns, sorted(p.name for p in folder.iterdir()))
    assert before[2] == ["portfolio.sqlite"]

    portfolio = load(file)

    after = (sha256(file), file.stat().st_mtime_ns, sorted(p.name for p in folder.iterdir()))
    assert after == before  # same bytes, same mtime, no -journal / -wal / -shm files
    assert len(portfolio.bills) == 15


# --- refused sources --------------------------------------------------------------------------


def test_missing_path_is_refused(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(SourceError) as excinfo:
        read_source(missing)
    message = one_line_error(excinfo)
    assert str(missing) in message and "no such file or folder" in message


@pytest.mark.parametrize("table", list(TABLES))
def test_missing_csv_file_is_refused(make_source, table):
    folder = make_source(kind="csv")
    (folder / f"{table}.csv").unlink()
    with pytest.raises(SourceError) as excinfo:
        read_source(folder)
    message = one_line_error(excinfo)
    assert message.startswith(f"{folder / table}.csv: file missing")
    assert "customers.csv, bills.csv, payments.csv, collections_actions.csv" in message


def test_empty_folder_is_refused_naming_the_first_csv(tmp_path):
    with pytest.raises(SourceError, match=r"customers\.csv: file missing"):
        read_source(tmp_path)


@pytest.mark.parametrize("table", list(TABLES))
def test_missing_sqlite_table_is_refused(make_source, small_tables, table):
    del small_tables[table]
    file = make_source(small_tables, "sqlite")
    with pytest.raises(SourceError) as excinfo:
        read_source(file)
    message = one_line_error(excinfo)
    assert message.startswith(f"{file}: table '{table}' missing")


def test_missing_sqlite_column_names_table_and_column(make_source, small_tables):
    small_tables["payments"] = small_tables["payments"].drop(columns="amount")
    file = make_source(small_tables, "sqlite")
    with pytest.raises(SourceError) as excinfo:
        load(file)
    message = one_line_error(excinfo)
    assert message.startswith(f"{file}:payments: column 'amount' missing")
    assert "columns found: customer_id, payment_date, method" in message


@pytest.mark.parametrize(
    "content",
    [b"customer_id,region\nC100000,Reading\n", b"", b"SQLite format", b"\x00" * 4096],
    ids=["csv-text", "empty", "short-magic", "zeros"],
)
def test_file_that_is_not_sqlite_is_refused(tmp_path, content):
    file = tmp_path / "portfolio.sqlite"
    file.write_bytes(content)
    with pytest.raises(SourceError) as excinfo:
        read_source(file)
    message = one_line_error(excinfo)
    assert message.startswith(f"{file}: not a SQLite database")


def test_sqlite_magic_followed_by_garbage_is_refused(tmp_path):
    file = tmp_path / "portfolio.db"
    file.write_bytes(b"SQLite format 3\x00" + b"\xff" * 5000)
    with pytest.raises(SourceError) as excinfo:
        read_source(file)
    message = one_line_error(excinfo)
    assert message.startswith(f"{file}: ") and "SQLite database" in message
    assert "not a SQLite database" not in message


def test_sqlite_truncated_to_half_is_refused(make_source):
    file = make_source(kind="sqlite")
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError) as excinfo:
        load(file)
    message = one_line_error(excinfo)
    assert message.startswith(f"{file}: ") and "SQLite database" in message
    assert "not a SQLite database" not in message


def test_sqlite_truncated_inside_last_page_is_refused(make_source):
    file = make_source(kind="sqlite")
    data = file.read_bytes()
    file.write_bytes(data[:-100])
    with pytest.raises(SourceError, match="SQLite"):
        load(file)


def test_sqlite_with_a_damaged_table_page_is_refused(make_source):
    file = make_source(kind="sqlite")
    connection = sqlite3.connect(file)
    page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    root = connection.execute("SELECT rootpage FROM sqlite_master WHERE name='bills'").fetchone()
    connection.close()
    data = bytearray(file.read_bytes())
    data[(root[0] - 1) * page_size] = 0x77  # not a valid b-tree page type
    file.write_bytes(bytes(data))
    with pytest.raises(SourceError, match="SQLite database"):
        read_source(file)


@pytest.mark.parametrize("content", [b"this is not parquet\n", b""], ids=["text", "empty"])
def test_parquet_file_that_is_not_parquet_is_refused(make_source, content):
    folder = make_source(kind="parquet")
    (folder / "payments.parquet").write_bytes(content)
    with pytest.raises(SourceError) as excinfo:
        read_source(folder)
    message = one_line_error(excinfo)
    assert message.startswith(f"{folder / 'payments.parquet'}: not a readable Parquet file")


def test_parquet_folder_missing_a_table_is_refused(make_source):
    folder = make_source(kind="parquet")
    (folder / "collections_actions.parquet").unlink()
    with pytest.raises(SourceError) as excinfo:
        read_source(folder)
    message = one_line_error(excinfo)
    assert message.startswith(f"{folder / 'collections_actions.parquet'}: file missing")


def test_unreadable_csv_row_is_refused_naming_the_file(make_source):
    folder = make_source(kind="csv")
    file = folder / "bills.csv"
    file.write_text(file.read_text() + "C100000,2024-05-31,10.00,3.0,2024-06-14,extra\n")
    with pytest.raises(SourceError) as excinfo:
        read_source(folder)
    assert one_line_error(excinfo).startswith(f"{file}: not a readable CSV")


def test_reading_does_not_change_a_csv_folder(make_source):
    folder = make_source(kind="csv")
    before = {p.name: sha256(p) for p in folder.iterdir()}
    load(folder)
    assert {p.name: sha256(p) for p in folder.iterdir()} == before


def test_copy_of_a_source_reads_the_same(make_source, tmp_path):
    """Origins follow the path that was read (messages name the copy, not the original)."""
    first = make_source(kind="sqlite")
    second = tmp_path / "copy.bin"
    shutil.copyfile(first, second)
    raw = read_source(second)
    assert raw.source == str(second)
    assert set(raw.origins.values()) == {f"{second}:{t}" for t in TABLES}
    pd.testing.assert_frame_equal(load(first).bills, validate(raw).bills)


# --- special paths: refused before anything is opened (issue 13, item 10) --------------------


def finishes(function, seconds: float = 20.0):
    """Call ``function`` in a thread; fail (instead of hanging the suite) when it blocks."""
    outcome: dict[str, object] = {}

    def run():
        try:
            outcome["value"] = function()
        except BaseException as exc:  # handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s (blocked or endless)"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def unblock(fifo: Path) -> None:
    """Open a named pipe for writing and close it, releasing a reader blocked on it."""
    with contextlib.suppress(OSError):
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


@pytest.mark.parametrize("call", ["read_source", "open_source", "signature", "load_portfolio"])
def test_named_pipe_is_refused_without_blocking(tmp_path, call):
    fifo = tmp_path / "portfolio.sqlite"
    os.mkfifo(fifo)
    calls = {
        "read_source": lambda: read_source(fifo),
        "open_source": lambda: open_source(fifo),
        "signature": lambda: SqliteSource(fifo).signature(),
        "load_portfolio": lambda: load_portfolio(fifo),
    }
    try:
        with pytest.raises(SourceError) as excinfo:
            finishes(calls[call])
    finally:
        unblock(fifo)
    assert one_line_error(excinfo) == (
        f"{fifo}: a named pipe, not a regular file or folder (refused before reading)"
    )


@pytest.mark.parametrize("through_link", [False, True], ids=["device", "link-to-device"])
def test_endless_device_is_refused_before_hashing(tmp_path, through_link):
    path = Path("/dev/zero")
    if through_link:
        path = tmp_path / "zero.sqlite"
        path.symlink_to("/dev/zero")
    calls = {"/dev/zero": lambda: SqliteSource(path).signature(), path: lambda: read_source(path)}
    for named, call in calls.items():  # a source object holds the resolved path
        with pytest.raises(SourceError) as excinfo:
            finishes(call)
        assert one_line_error(excinfo) == (
            f"{named}: a character device, not a regular file or folder (refused before reading)"
        )


def test_symlink_loop_is_refused_in_one_line(tmp_path):
    loop = tmp_path / "a"
    loop.symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(loop)
    for call in (
        lambda: read_source(loop),
        lambda: CsvSource(loop).signature(),
        lambda: CsvSource(loop).tables(),
        lambda: load_portfolio(loop),
    ):
        with pytest.raises(SourceError) as excinfo:
            call()
        assert one_line_error(excinfo) == (
            f"{loop}: symbolic link loop (too many levels of symbolic links)"
        )


def test_dangling_symlink_is_named(tmp_path):
    link = tmp_path / "portfolio"
    link.symlink_to(tmp_path / "gone")
    with pytest.raises(SourceError, match=r"dangling symbolic link"):
        read_source(link)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_table_file_that_is_a_named_pipe_is_refused(make_source, kind):
    folder = make_source(kind=kind)
    if kind == "csv":
        fifo = folder / "bills.csv"
        fifo.unlink()
    else:  # a dataset folder one of whose parts is a pipe
        (folder / "bills.parquet").rename(folder / "part-0.parquet")
        (folder / "bills").mkdir()
        (folder / "part-0.parquet").rename(folder / "bills" / "part-0.parquet")
        fifo = folder / "bills" / "part-1.parquet"
    os.mkfifo(fifo)
    try:
        with pytest.raises(SourceError) as excinfo:
            finishes(lambda: load(folder))
        assert finishes(lambda: open_source(folder).signature())  # the pipe is not hashed
    finally:
        unblock(fifo)
    assert one_line_error(excinfo).startswith(f"{fifo}: a named pipe")


# --- what a folder is (issue 13, item 14) ----------------------------------------------------


def test_csv_folder_with_an_unrelated_subfolder_is_csv(make_source):
    folder = make_source(kind="csv")
    (folder / "payments").mkdir()  # e.g. scanned receipts, named like a table
    (folder / "payments" / "receipt-0001.pdf").write_bytes(b"%PDF-1.4\n")
    (folder / "archive").mkdir()
    assert source_kind(folder) == "csv"
    assert len(load(folder).payments) == 9


def test_csv_folder_with_a_parquet_export_of_one_table_is_csv(make_source, small_tables):
    folder = make_source(kind="csv")
    small_tables["bills"].to_parquet(folder / "bills.parquet")
    assert source_kind(folder) == "csv"
    assert len(load(folder).bills) == 15


def test_folder_with_complete_csv_and_parquet_tables_is_refused(make_source, small_tables):
    folder = make_source(kind="csv")
    write_parquet(small_tables, folder)
    with pytest.raises(SourceError) as excinfo:
        read_source(folder)
    assert one_line_error(excinfo) == (
        f"{folder}: holds both CSV and Parquet tables (customers.csv and customers.parquet); "
        "keep one kind in a source folder"
    )


def test_parquet_folder_with_a_readme_beside_the_tables_is_read(make_source):
    folder = make_source(kind="parquet")
    (folder / "README.md").write_text("# Portfolio export\n")
    (folder / "notes").mkdir()
    portfolio = load(folder)
    assert source_kind(folder) == "parquet"
    assert (len(portfolio.bills), portfolio.warnings) == (15, [])


def test_parquet_dataset_folder_with_a_readme_is_read_with_a_warning(tmp_path, small_tables):
    folder = tmp_path / "pq"
    for table, frame in small_tables.items():
        (folder / table).mkdir(parents=True)
        frame.to_parquet(folder / table / "part-0.parquet", index=False)
    (folder / "bills" / "README.md").write_text("Bills, one file per month.\n")
    (folder / "bills" / "_SUCCESS").write_bytes(b"")
    before = open_source(folder).signature()
    portfolio = load(folder)
    assert len(portfolio.bills) == 15
    assert portfolio.warnings == [
        f"{folder / 'bills'}: ignored 1 file not named *.parquet (README.md)"
    ]
    (folder / "bills" / "README.md").write_text("Edited notes.\n")
    assert open_source(folder).signature() == before  # only the data files are the key


def test_parquet_dataset_with_hive_partitions_keeps_the_partition_column(tmp_path, small_tables):
    folder = write_parquet(small_tables, tmp_path / "pq")
    (folder / "payments.parquet").unlink()
    payments = small_tables["payments"]
    for method, part in payments.groupby("method"):
        where = folder / "payments" / f"method={method}"
        where.mkdir(parents=True)
        part.drop(columns="method").to_parquet(where / "part-0.parquet", index=False)
    loaded = load(folder).payments
    assert sorted(loaded["method"].astype(str)) == sorted(payments["method"])


# --- SQLite: views, names in another case, integer ids (items 11, 14) -----------------------


def test_sqlite_views_and_table_names_in_another_case_are_read(tmp_path, small_tables):
    file = tmp_path / "portfolio.sqlite"
    connection = sqlite3.connect(file)
    small_tables["customers"].to_sql("Customers", connection, index=False)
    small_tables["bills"].to_sql("BILLS", connection, index=False)
    small_tables["payments"].to_sql("payments_2024", connection, index=False)
    connection.execute("CREATE VIEW payments AS SELECT * FROM payments_2024")
    small_tables["collections_actions"].to_sql("actions_raw", connection, index=False)
    connection.execute('CREATE VIEW "Collections_Actions" AS SELECT * FROM actions_raw')
    connection.commit()
    connection.close()
    raw = read_source(file)
    assert raw.origins["bills"] == f"{file}:bills"
    portfolio = validate(raw)
    expected = load(write_sqlite(small_tables, tmp_path / "plain.sqlite"))
    for table in PORTFOLIO_TABLES:
        pd.testing.assert_frame_equal(getattr(portfolio, table), getattr(expected, table))


def integer_ids(tables: dict) -> dict:
    """``C100000`` -> 100000 in every table (an INTEGER id column)."""
    for frame in tables.values():
        frame["customer_id"] = frame["customer_id"].str[1:].astype("int64")
    return tables


@pytest.mark.parametrize("kind", ["sqlite", "parquet"])
def test_integer_ids_with_one_null_exclude_one_row(make_source, small_tables, kind):
    tables = integer_ids(small_tables)
    actions = tables["collections_actions"]
    actions["customer_id"] = actions["customer_id"].astype(object)
    actions.loc[2, "customer_id"] = None
    path = make_source(tables, kind)
    portfolio = load(path)
    origin = read_source(path).origins["collections_actions"]
    assert portfolio.customers["customer_id"].tolist() == ["100000", "100001", "100002", "100003"]
    assert len(portfolio.actions) == 4
    assert portfolio.excluded["collections_actions"] == 1
    assert portfolio.warnings == [
        f"{origin}: column 'customer_id': excluded 1 row with no customer id (row 3 (empty))"
    ]


def test_float_ids_from_a_missing_value_match_integer_ids(small_tables):
    tables = integer_ids(small_tables)
    payments = tables["payments"]
    payments["customer_id"] = payments["customer_id"].astype("float64")
    payments.loc[0, "customer_id"] = np.nan
    payments.loc[1, "customer_id"] = 999999.0
    portfolio = validate(tables_from_frames(tables, "frames"))
    assert len(portfolio.payments) == 7
    assert portfolio.warnings == [
        "frames:payments: column 'customer_id': excluded 2 rows: 1 with no customer id, "
        "1 of customers not in customers (row 1 (empty), row 2 '999999')"
    ]


# --- lossy or binary types (item 13) ----------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_narrow_float_amounts_are_refused(make_source, small_tables, dtype):
    small_tables["bills"]["bill_amount"] = small_tables["bills"]["bill_amount"].astype(dtype)
    folder = make_source(small_tables, "parquet")
    with pytest.raises(SourceError) as excinfo:
        load(folder)
    assert one_line_error(excinfo).startswith(
        f"{folder / 'bills.parquet'}: column 'bill_amount': amount stored as {dtype} (too "
        "narrow to hold every penny: store a 64-bit float, a decimal or text) in 15 rows "
        "(row 1 '40."
    )


def test_decimal_amounts_are_read_to_the_penny(make_source, small_tables):
    bills = small_tables["bills"]
    bills["bill_amount"] = [decimal.Decimal(f"{v:.2f}") for v in bills["bill_amount"]]
    folder = make_source(small_tables, "parquet")
    expected = load(make_source(kind="csv"))
    pd.testing.assert_frame_equal(load(folder).bills, expected.bills)


@pytest.mark.parametrize(
    ("table", "column", "row"),
    [
        ("bills", "bill_amount", 4),
        ("payments", "customer_id", 2),
        ("customers", "region", 3),
        ("customers", "has_meter", 2),
    ],
)
def test_sqlite_blob_values_are_refused(tmp_path, small_tables, table, column, row):
    file = write_sqlite(small_tables, tmp_path / "portfolio.sqlite")
    connection = sqlite3.connect(file)
    value = str(small_tables[table].loc[row - 1, column]).encode()
    connection.execute(
        f"UPDATE {table} SET {column} = ? WHERE rowid = ?", (sqlite3.Binary(value), row)
    )
    connection.commit()
    connection.close()
    with pytest.raises(SourceError) as excinfo:
        load(file)
    assert one_line_error(excinfo) == (
        f"{file}:{table}: column '{column}': binary (BLOB) value, not text in 1 row "
        f'(row {row} "{value!r}")'
    )


# --- SQLite journals: WAL read, hot journal refused (item 3) ---------------------------------


def wal_database(folder: Path, small_tables: dict) -> tuple[Path, sqlite3.Connection]:
    """A WAL database whose writer is still open: customers and bills checkpointed into the
    file, payments and actions (and three late payments) only in the ``-wal`` log."""
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / "portfolio.sqlite"
    writer = sqlite3.connect(file)
    writer.execute("PRAGMA journal_mode=wal")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    for table in ("customers", "bills"):
        small_tables[table].to_sql(table, writer, index=False)
    writer.commit()
    writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for table in ("payments", "collections_actions"):
        small_tables[table].to_sql(table, writer, index=False)
    writer.commit()
    late = pd.DataFrame(
        {
            "customer_id": ["C100000"] * 3,
            "payment_date": ["2024-05-21", "2024-05-22", "2024-05-23"],
            "amount": [1.0, 2.0, 3.0],
            "method": ["Card"] * 3,
        }
    )
    late.to_sql("payments", writer, index=False, if_exists="append")
    writer.commit()
    assert (folder / "portfolio.sqlite-wal").stat().st_size > 0
    return file, writer


def hashes(folder: Path) -> dict[str, str]:
    return {p.name: sha256(p) for p in sorted(folder.iterdir())}


def test_sqlite_wal_rows_not_checkpointed_are_read(tmp_path, small_tables):
    file, writer = wal_database(tmp_path / "db", small_tables)
    try:
        before = hashes(file.parent)
        portfolio = load(file)
        after = hashes(file.parent)
    finally:
        writer.close()
    assert len(portfolio.payments) == 12  # 9 + the 3 newest, in the log only
    assert len(portfolio.actions) == 5
    assert latest_payment_date(portfolio.payments) == pd.Timestamp("2024-05-23")
    # the database and its log are unchanged; -shm is SQLite's shared index (reader marks)
    assert {n: h for n, h in after.items() if not n.endswith("-shm")} == {
        n: h for n, h in before.items() if not n.endswith("-shm")
    }


def test_sqlite_wal_copied_without_its_shm_index_is_read(tmp_path, small_tables):
    """A writer that crashed, or a copy of the database and its log: SQLite rebuilds the
    ``-shm`` index beside them (the only file reading creates)."""
    file, writer = wal_database(tmp_path / "live", small_tables)
    copy = tmp_path / "copy"
    copy.mkdir()
    for suffix in ("", "-wal"):
        shutil.copyfile(f"{file}{suffix}", copy / f"portfolio.sqlite{suffix}")
    writer.close()
    before = hashes(copy)
    portfolio = load(copy / "portfolio.sqlite")
    after = hashes(copy)
    assert len(portfolio.payments) == 12
    assert set(after) == {"portfolio.sqlite", "portfolio.sqlite-wal", "portfolio.sqlite-shm"}
    assert {n: after[n] for n in before} == before


READ_ONLY_PROBE = """
import sys
from dashboard import SourceError
from dashboard.schema import validate
from dashboard.sources import read_source
try:
    print(len(validate(read_source(sys.argv[1])).payments))
except SourceError as error:
    print(error)
"""


def read_in_read_only_folder(folder: Path, tmp_path: Path) -> str:
    """Read ``folder/portfolio.sqlite`` through a read-only bind mount of ``folder`` (in a
    private mount namespace: ``unshare``), printing the payments count or the error."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) is not available")
    mount = tmp_path / "read-only"
    mount.mkdir()
    script = tmp_path / "probe.py"
    script.write_text(READ_ONLY_PROBE)
    command = (
        f"mount --bind '{folder}' '{mount}' && mount -o remount,ro,bind '{mount}' && "
        f"'{sys.executable}' '{script}' '{mount}/portfolio.sqlite'"
    )
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", command],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    if result.returncode != 0 and "mount" in result.stderr:
        pytest.skip(f"cannot make a read-only mount here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().replace(str(mount), str(folder))


@pytest.mark.parametrize("with_shm", [True, False], ids=["with-shm", "without-shm"])
def test_sqlite_wal_in_a_read_only_folder(tmp_path, small_tables, with_shm):
    file, writer = wal_database(tmp_path / "live", small_tables)
    folder = tmp_path / "copy"
    folder.mkdir()
    for suffix in ("", "-wal", "-shm") if with_shm else ("", "-wal"):
        shutil.copyfile(f"{file}{suffix}", folder / f"portfolio.sqlite{suffix}")
    writer.close()
    output = read_in_read_only_folder(folder, tmp_path)
    if with_shm:
        assert output == "12"
    else:
        assert output == (
            f"{folder / 'portfolio.sqlite'}: its write-ahead log portfolio.sqlite-wal cannot "
            "be read without the index portfolio.sqlite-shm, which is missing and cannot be "
            "created here (read-only folder): open the database once where it can be "
            "written, or copy it with its -wal file to a writable folder"
        )


def test_sqlite_checkpointed_wal_database_in_a_read_only_folder_is_read(tmp_path, small_tables):
    folder = tmp_path / "db"
    file = folder / "portfolio.sqlite"
    write_sqlite(small_tables, file)
    connection = sqlite3.connect(file)
    connection.execute("PRAGMA journal_mode=wal")
    connection.close()
    assert read_in_read_only_folder(folder, tmp_path) == "9"


CRASHING_WRITER = """
import os, sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("PRAGMA cache_size=1")  # dirty pages spill into the file before commit
connection.execute("BEGIN")
connection.execute("UPDATE bills SET bill_amount = bill_amount * 3")
connection.execute("DELETE FROM payments WHERE rowid % 2 = 0")
connection.execute("CREATE TABLE padding AS WITH RECURSIVE n(i) AS "
                   "(SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) "
                   "SELECT i, hex(randomblob(64)) AS junk FROM n")
os._exit(0)  # the writer dies: no commit, no rollback
"""


def test_sqlite_hot_journal_is_refused(tmp_path, small_tables):
    file = write_sqlite(small_tables, tmp_path / "db" / "portfolio.sqlite")
    subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(file)], check=True, timeout=60)
    journal = file.with_name("portfolio.sqlite-journal")
    assert journal.stat().st_size > 0
    before = hashes(file.parent)
    with pytest.raises(SourceError) as excinfo:
        load(file)
    assert one_line_error(excinfo).startswith(
        f"{file}: hot journal portfolio.sqlite-journal (a writer stopped in the middle of a "
        "transaction; its half-written pages would be read as data)"
    )
    assert hashes(file.parent) == before
    sqlite3.connect(file).execute("SELECT count(*) FROM bills").fetchone()  # rolls back
    assert len(load(file).payments) == 9


def test_sqlite_signature_sees_rows_added_to_the_wal(tmp_path, small_tables):
    file, writer = wal_database(tmp_path / "db", small_tables)
    try:
        size = file.stat().st_size
        first = SqliteSource(file).signature()
        writer.execute("DELETE FROM payments WHERE payment_date > '2024-05-20'")
        writer.commit()
        assert file.stat().st_size == size  # the database file itself is unchanged
        assert SqliteSource(file).signature() != first
        assert len(load(file).payments) == 9
    finally:
        writer.close()


# --- the cache key sees every write (item 16) --------------------------------------------------


def rewrite_keeping_size_and_mtime(file: Path, old: bytes, new: bytes) -> None:
    data = file.read_bytes()
    assert len(old) == len(new) and data.count(old) == 1
    status = file.stat()
    file.write_bytes(data.replace(old, new))
    os.utime(file, ns=(status.st_atime_ns, status.st_mtime_ns))
    after = file.stat()
    assert (after.st_size, after.st_mtime_ns) == (status.st_size, status.st_mtime_ns)


@pytest.mark.parametrize("kind", ["csv", "sqlite"])
def test_signature_sees_a_rewrite_that_keeps_size_and_mtime(make_source, kind):
    path = make_source(kind=kind)
    source = open_source(path)
    first = source.signature()
    assert source.signature() == first
    file = path / "payments.csv" if kind == "csv" else path
    rewrite_keeping_size_and_mtime(file, b"Bank Transfer", b"Bank Trxnsfer")
    assert source.signature() != first
    assert load_portfolio(path).payments["method"].astype(str).str.contains("Trxnsfer").any()


def test_signature_of_settled_files_is_remembered(make_source, monkeypatch):
    """Files last changed well before hashing are hashed once, then only ``stat``-ed."""
    path = make_source(kind="csv")
    hashed = []
    real = files_module.hashlib.blake2b
    monkeypatch.setattr(
        files_module.hashlib, "blake2b", lambda **kw: hashed.append(1) or real(**kw)
    )
    later = time.time_ns() + 2 * files_module.RACY_NS
    monkeypatch.setattr(files_module.time, "time_ns", lambda: later)
    source = open_source(path)
    assert source.signature() == source.signature() == CsvSource(path).signature()
    assert len(hashed) == 1


def test_signature_covers_only_the_tables_of_the_source_kind(make_source):
    folder = make_source(kind="csv")
    first = open_source(folder).signature()
    (folder / "payments").mkdir()
    (folder / "payments" / "receipt.pdf").write_bytes(b"%PDF-1.4\n")
    (folder / "notes.txt").write_text("not data\n")
    assert open_source(folder).signature() == first
