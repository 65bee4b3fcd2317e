"""Source detection, the three readers, read-only SQLite and the sources that are refused."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from dashboard import SourceError
from dashboard.schema import validate
from dashboard.sources import read_source, source_kind
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
