"""Validation: refused tables (one line naming file, column, rows), exclusions and text encodings.

Row numbers in messages are 1-based data rows (the header is not counted), so data row N of a
CSV file is its line N + 1.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import SourceError
from dashboard.compute.outcomes import latest_payment_date
from dashboard.schema import MAX_SHOWN, TODAY_ENV, current_date, tables_from_frames, validate
from dashboard.sources import read_source
from dashboard.vocab import TABLES


def put(tables: dict, table: str, column: str, values: dict[int, object]) -> dict:
    """Set cells by 1-based data row (the numbering of messages); the column becomes text."""
    frame = tables[table]
    frame[column] = frame[column].astype(object)
    for row, value in values.items():
        frame.loc[row - 1, column] = value
    return tables


def refusal(path: Path) -> str:
    """The one-line message of the SourceError that validating ``path`` raises."""
    with pytest.raises(SourceError) as excinfo:
        validate(read_source(path))
    message = str(excinfo.value)
    assert isinstance(excinfo.value, ValueError)
    assert "\n" not in message, message
    return message


def shown_rows(message: str) -> list[int]:
    return [int(n) for n in re.findall(r"\brow (\d+)\b", message)]


def csv_with(make_source, tables: dict, table: str, column: str, values: dict[int, object]):
    """A CSV folder of ``tables`` with some cells replaced; returns (folder, file)."""
    folder = make_source(put(tables, table, column, values), "csv")
    return folder, folder / f"{table}.csv"


# --- refused: columns and empty tables --------------------------------------------------------


@pytest.mark.parametrize("table", list(TABLES))
def test_missing_column_is_named(make_source, small_tables, table):
    column = TABLES[table][-1]
    small_tables[table] = small_tables[table].drop(columns=column)
    folder = make_source(small_tables, "csv")
    message = refusal(folder)
    assert message.startswith(f"{folder / table}.csv: column '{column}' missing; columns found: ")
    assert message.endswith(", ".join(TABLES[table][:-1]))


def test_several_missing_columns_are_counted(make_source, small_tables):
    small_tables["bills"] = small_tables["bills"].drop(columns=["bill_amount", "due_date"])
    message = refusal(make_source(small_tables, "csv"))
    assert "column 'bill_amount' missing (and 1 more)" in message


@pytest.mark.parametrize("table", ["customers", "bills", "payments"])
def test_header_only_table_is_refused(make_source, small_tables, table):
    small_tables[table] = small_tables[table].iloc[:0]
    folder = make_source(small_tables, "csv")
    assert refusal(folder) == f"{folder / table}.csv: empty table (header only, no rows)"


def test_empty_file_is_refused(make_source):
    folder = make_source(kind="csv")
    (folder / "payments.csv").write_bytes(b"")
    assert refusal(folder) == f"{folder / 'payments.csv'}: empty file (no header row)"


def test_empty_collections_actions_warns(make_source, small_tables):
    small_tables["collections_actions"] = small_tables["collections_actions"].iloc[:0]
    folder = make_source(small_tables, "csv")
    portfolio = validate(read_source(folder))
    assert portfolio.actions.empty
    assert portfolio.warnings == [f"{folder / 'collections_actions.csv'}: no collections actions"]
    assert len(portfolio.bills) == 15


# --- refused: values ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "column", "values", "problem", "shown"),
    [
        (
            "payments",
            "payment_date",
            {3: "31/01/2024"},
            "unparseable or missing date (need YYYY-MM-DD) in 1 row",
            "row 3 '31/01/2024'",
        ),
        (
            "bills",
            "due_date",
            {2: "2024-02-30"},
            "unparseable or missing date (need YYYY-MM-DD) in 1 row",
            "row 2 '2024-02-30'",
        ),
        (
            "collections_actions",
            "action_date",
            {5: ""},
            "unparseable or missing date (need YYYY-MM-DD) in 1 row",
            "row 5 (empty)",
        ),
        ("bills", "bill_amount", {4: "£42.00"}, "not a number in 1 row", "row 4 '£42.00'"),
        ("payments", "amount", {2: "abc"}, "not a number in 1 row", "row 2 'abc'"),
        ("payments", "amount", {6: "-29.80"}, "negative amount in 1 row", "row 6 '-29.80'"),
        ("bills", "bill_amount", {7: ""}, "not a number in 1 row", "row 7 (empty)"),
        ("bills", "bill_amount", {8: "NaN"}, "not a number in 1 row", "row 8 'NaN'"),
        (
            "payments",
            "amount",
            {9: "2500000.00"},
            "amount above £1,000,000 in 1 row",
            "row 9 '2500000.00'",
        ),
        ("bills", "bill_amount", {1: "inf"}, "amount above £1,000,000 in 1 row", "row 1 'inf'"),
        (
            "bills",
            "due_date",
            {3: "2024-03-30"},
            "before bill_period_end in 1 row",
            "row 3 '2024-03-30'",
        ),
        ("customers", "has_meter", {2: "2"}, "not 0 or 1 in 1 row", "row 2 '2'"),
        ("customers", "is_vulnerable", {4: "yes"}, "not 0 or 1 in 1 row", "row 4 'yes'"),
        ("customers", "prefers_direct_debit", {1: ""}, "not 0 or 1 in 1 row", "row 1 (empty)"),
        ("customers", "region", {3: " "}, "missing value in 1 row", "row 3 ' '"),
        ("customers", "customer_id", {2: ""}, "missing id in 1 row", "row 2 (empty)"),
        (
            "customers",
            "customer_id",
            {4: "C100000"},
            "duplicated id in 2 rows",
            "row 1 'C100000', row 4 'C100000'",
        ),
        ("bills", "usage_m3", {5: "lots"}, "not a non-negative number in 1 row", "row 5 'lots'"),
        ("collections_actions", "action", {2: ""}, "missing action in 1 row", "row 2 (empty)"),
    ],
)
def test_bad_value_is_refused_naming_file_column_and_row(
    make_source, table, column, values, problem, shown, small_tables
):
    folder, file = csv_with(make_source, small_tables, table, column, values)
    assert refusal(folder) == f"{file}: column '{column}': {problem} ({shown})"


def test_duplicated_bill_shows_both_rows(make_source, small_tables):
    # data row 6 (C100001, 2024-02-29) becomes a second copy of data row 5 (C100001, 2024-01-31)
    folder, file = csv_with(
        make_source, small_tables, "bills", "bill_period_end", {6: "2024-01-31"}
    )
    assert refusal(folder) == (
        f"{file}: column 'bill_period_end': duplicated bill (customer, period) in 2 rows "
        "(row 5 'C100001 2024-01-31', row 6 'C100001 2024-01-31')"
    )


def test_amount_at_the_limit_is_accepted_and_above_refused(make_source, small_tables):
    folder, _ = csv_with(make_source, small_tables, "payments", "amount", {1: "1000000.00"})
    assert validate(read_source(folder)).payments["amount_pence"].iloc[0] == 100_000_000
    folder, _ = csv_with(make_source, small_tables, "payments", "amount", {1: "1000000.01"})
    assert "amount above £1,000,000 in 1 row (row 1 '1000000.01')" in refusal(folder)


def test_sqlite_null_amount_is_refused_as_empty(make_source, small_tables):
    small_tables["bills"].loc[2, "bill_amount"] = np.nan
    file = make_source(small_tables, "sqlite")
    assert (
        refusal(file)
        == f"{file}:bills: column 'bill_amount': not a number in 1 row (row 3 (empty))"
    )


def test_parquet_negative_amount_is_refused(make_source, small_tables):
    small_tables["payments"].loc[3, "amount"] = -5.0
    folder = make_source(small_tables, "parquet")
    assert refusal(folder) == (
        f"{folder / 'payments.parquet'}: column 'amount': negative amount in 1 row (row 4 '-5.0')"
    )


@pytest.mark.parametrize("bad", [3, 4, 7])
def test_at_most_three_rows_are_shown(make_source, bad, small_tables):
    rows = list(range(2, 2 + bad))
    folder, _ = csv_with(
        make_source, small_tables, "bills", "bill_amount", {r: f"x{r}" for r in rows}
    )
    message = refusal(folder)
    assert f"not a number in {bad} rows" in message
    assert shown_rows(message) == rows[:MAX_SHOWN]
    assert message.endswith(", ...)") == (bad > MAX_SHOWN)


def test_row_numbers_count_data_rows_of_the_file_despite_exclusions(make_source, small_tables):
    put(small_tables, "payments", "customer_id", {1: "C999999", 2: "C999998"})
    folder, file = csv_with(make_source, small_tables, "payments", "amount", {5: "bad"})
    assert refusal(folder) == f"{file}: column 'amount': not a number in 1 row (row 5 'bad')"


def test_values_are_stripped_before_checking(make_source, small_tables):
    put(small_tables, "customers", "customer_id", {1: " C100000 "})
    put(small_tables, "bills", "due_date", {1: " 2024-02-14"})
    portfolio = validate(read_source(make_source(small_tables, "csv")))
    assert portfolio.customers["customer_id"].iloc[0] == "C100000"
    assert portfolio.bills["customer_id"].iloc[0] == "C100000"
    assert portfolio.bills["due_date"].iloc[0] == pd.Timestamp("2024-02-14")


@pytest.mark.parametrize("partial", ["2024-03", "2024"])
def test_partial_date_is_refused(make_source, partial, small_tables):
    folder, file = csv_with(make_source, small_tables, "payments", "payment_date", {2: partial})
    assert refusal(folder).startswith(f"{file}: column 'payment_date': unparseable")


# --- typed output -----------------------------------------------------------------------------


def test_typed_tables(make_source):
    folder = make_source(kind="csv")
    portfolio = validate(read_source(folder))
    assert portfolio.source == str(folder)
    ids = ["C100000", "C100001", "C100002", "C100003"]
    assert list(portfolio.bills["customer_id"].cat.categories) == ids
    assert portfolio.bills["customer_id"].cat.codes.tolist()[-3:] == [3, 3, 3]
    assert portfolio.bills["bill_pence"].dtype == np.int64
    assert portfolio.bills["bill_pence"].sum() == 64_037
    assert portfolio.payments["amount_pence"].sum() == 39_259
    assert portfolio.bills["due_date"].iloc[5] == pd.Timestamp("2024-03-14")
    assert list(portfolio.customers["income_band"].cat.categories) == [
        "<£15k",
        "£15k-£30k",
        "£30k-£50k",
        "£50k+",
    ]
    assert portfolio.customers["has_meter"].tolist() == [0, 1, 1, 0]
    assert portfolio.excluded == dict.fromkeys(TABLES, 0)


def test_in_memory_frames_validate_like_files(make_source, small_tables):
    from_files = validate(read_source(make_source(small_tables, "csv")))
    from_frames = validate(tables_from_frames(small_tables, "memory"))
    for table in ("customers", "bills", "payments", "actions"):
        pd.testing.assert_frame_equal(getattr(from_files, table), getattr(from_frames, table))
    del small_tables["payments"]
    with pytest.raises(SourceError, match="memory: table 'payments' missing"):
        tables_from_frames(small_tables, "memory")


# --- warned and excluded ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "attribute", "rows", "kept"),
    [
        ("payments", "payments", {2: "C999999", 4: "C999998"}, 7),
        ("collections_actions", "actions", {1: "X1"}, 4),
        ("bills", "bills", {1: "C555555", 2: "C555555", 3: "C555556", 15: "C5"}, 11),
    ],
)
def test_rows_of_unknown_customers_are_excluded_with_a_warning(
    make_source, table, attribute, rows, kept, small_tables
):
    folder, file = csv_with(make_source, small_tables, table, "customer_id", rows)
    portfolio = validate(read_source(folder))
    frame = getattr(portfolio, attribute)
    assert len(frame) == kept
    assert frame["customer_id"].notna().all()
    assert portfolio.excluded[table] == len(rows)
    assert sum(portfolio.excluded.values()) == len(rows)
    shown = ", ".join(f"row {r} '{v}'" for r, v in list(rows.items())[:MAX_SHOWN])
    more = ", ..." if len(rows) > MAX_SHOWN else ""
    assert portfolio.warnings == [
        f"{file}: column 'customer_id': excluded {len(rows)} rows of customers not in "
        f"customers ({shown}{more})"
    ]


def test_excluded_payments_do_not_count(make_source, small_tables):
    """A payment of an unknown id is dropped, not credited to some customer."""
    folder, _ = csv_with(make_source, small_tables, "payments", "customer_id", {3: "C1000010"})
    payments = validate(read_source(folder)).payments
    assert payments["amount_pence"].sum() == 39_259 - 3025
    assert (payments["customer_id"] == "C100001").sum() == 3


@pytest.mark.filterwarnings("error::pandas.errors.Pandas4Warning")
def test_unknown_customers_survive_the_next_pandas(make_source, small_tables):
    folder, _ = csv_with(make_source, small_tables, "payments", "customer_id", {2: "C999999"})
    assert validate(read_source(folder)).excluded["payments"] == 1


def test_unknown_customer_rows_are_data_rows_for_parquet_with_an_index(tmp_path, small_tables):
    small_tables["payments"].index = range(100, 109)
    small_tables["payments"].loc[100, "customer_id"] = "C999999"
    folder = tmp_path / "pq"
    folder.mkdir()
    for table, frame in small_tables.items():
        frame.to_parquet(folder / f"{table}.parquet", index=table == "payments")
    assert "(row 1 'C999999')" in validate(read_source(folder)).warnings[0]


# --- encodings and CSV dialect ----------------------------------------------------------------


def test_utf8_with_bom(make_source):
    folder = make_source(kind="csv")
    for table in TABLES:
        file = folder / f"{table}.csv"
        file.write_bytes(b"\xef\xbb\xbf" + file.read_bytes())
    portfolio = validate(read_source(folder))
    assert list(portfolio.customers.columns)[0] == "customer_id"
    assert portfolio.customers["customer_id"].iloc[0] == "C100000"
    assert portfolio.warnings == []
    assert portfolio.customers["income_band"].iloc[0] == "<£15k"


def test_latin1_file_warns_and_reads_pound_sign(make_source):
    folder = make_source(kind="csv")
    file = folder / "customers.csv"
    file.write_bytes(file.read_text(encoding="utf-8").encode("latin-1"))
    assert b"\xa3" in file.read_bytes() and b"\xc2\xa3" not in file.read_bytes()
    portfolio = validate(read_source(folder))
    assert portfolio.customers["income_band"].tolist() == [
        "<£15k",
        "£50k+",
        "£15k-£30k",
        "£30k-£50k",
    ]
    assert portfolio.warnings == [f"{file}: not UTF-8, read as Latin-1"]
    assert portfolio.customers["income_band"].cat.ordered


def test_quoted_commas_crlf_and_trailing_blank_lines(make_source):
    folder = make_source(kind="csv")
    customers = folder / "customers.csv"
    text = customers.read_text(encoding="utf-8").replace(",Swindon,", ',"Swindon, Wilts",')
    customers.write_text(text + "\n\n\n", encoding="utf-8")
    bills = folder / "bills.csv"
    bills.write_bytes(bills.read_bytes().replace(b"\n", b"\r\n") + b"\r\n\r\n")
    payments = folder / "payments.csv"
    payments.write_text(payments.read_text(encoding="utf-8") + "\n   \n\n", encoding="utf-8")
    portfolio = validate(read_source(folder))
    assert portfolio.customers["region"].tolist()[-1] == "Swindon, Wilts"
    assert (len(portfolio.customers), len(portfolio.bills), len(portfolio.payments)) == (4, 15, 9)
    assert portfolio.bills["due_date"].iloc[-1] == pd.Timestamp("2024-05-14")
    assert portfolio.warnings == []


# --- dates that cannot be real (issue 13, items 4 and 5) ---------------------------------------

TODAY = pd.Timestamp("2024-06-30")
"""A fixed "today" for these tests (the small portfolio's latest date is 2024-05-20)."""


@pytest.mark.parametrize(
    ("table", "column", "values", "problem"),
    [
        (
            "bills",
            "bill_period_end",
            {3: "0202-01-31"},
            "date before 1900-01-01 (not a real date here)",
        ),
        ("bills", "due_date", {2: "1899-12-31"}, "date before 1900-01-01 (not a real date here)"),
        (
            "payments",
            "payment_date",
            {4: "0001-01-01"},
            "date before 1900-01-01 (not a real date here)",
        ),
        (
            "collections_actions",
            "action_date",
            {1: "1000-05-05"},
            "date before 1900-01-01 (not a real date here)",
        ),
        ("payments", "payment_date", {2: "2075-03-14"}, "after today (2024-06-30)"),
        ("payments", "payment_date", {9: "9999-12-31"}, "after today (2024-06-30)"),
        ("payments", "payment_date", {9: "2024-07-01"}, "after today (2024-06-30)"),
        ("collections_actions", "action_date", {5: "2024-07-01"}, "after today (2024-06-30)"),
        (
            "bills",
            "bill_period_end",
            {15: "2025-07-02"},
            "more than 366 days after today (2024-06-30)",
        ),
        ("bills", "due_date", {1: "2025-02-01"}, "more than 366 days after bill_period_end"),
    ],
)
@pytest.mark.parametrize("kind", ["csv", "sqlite", "parquet"])
def test_impossible_dates_are_refused(
    make_source, small_tables, kind, table, column, values, problem
):
    path = make_source(put(small_tables, table, column, values), kind)
    raw = read_source(path)
    with pytest.raises(SourceError) as excinfo:
        validate(raw, today=TODAY)
    message = str(excinfo.value)
    assert "\n" not in message
    ((row, value),) = values.items()
    assert message == (
        f"{raw.origins[table]}: column '{column}': {problem} in 1 row (row {row} '{value}')"
    )


def test_dates_at_the_limits_are_accepted(small_tables):
    put(small_tables, "payments", "payment_date", {9: "2024-06-30"})  # today
    put(small_tables, "collections_actions", "action_date", {1: "1900-01-01"})
    put(small_tables, "bills", "bill_period_end", {15: "2025-07-01"})  # today + 366 days
    put(small_tables, "bills", "due_date", {15: "2026-07-02"})  # period end + 366 days
    portfolio = validate(tables_from_frames(small_tables), today=TODAY)
    assert portfolio.bills["due_date"].max() == pd.Timestamp("2026-07-02")
    assert portfolio.actions["action_date"].min() == pd.Timestamp("1900-01-01")


def test_parquet_date_columns_with_an_impossible_year_are_refused(make_source, small_tables):
    bills = small_tables["bills"]
    bills["bill_period_end"] = pd.to_datetime(bills["bill_period_end"]).dt.date
    bills.loc[2, "bill_period_end"] = dt.date(202, 1, 31)
    folder = make_source(small_tables, "parquet")
    assert refusal(folder) == (
        f"{folder / 'bills.parquet'}: column 'bill_period_end': date before 1900-01-01 "
        "(not a real date here) in 1 row (row 3 '0202-01-31 00:00:00')"
    )


def test_today_is_the_machines_date_or_the_setting(make_source, small_tables, monkeypatch):
    monkeypatch.delenv(TODAY_ENV, raising=False)
    assert current_date() == pd.Timestamp(dt.date.today())
    tomorrow = (pd.Timestamp(dt.date.today()) + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    put(small_tables, "payments", "payment_date", {9: tomorrow})
    folder = make_source(small_tables, "csv")
    assert f"after today ({dt.date.today():%Y-%m-%d}) in 1 row" in refusal(folder)
    monkeypatch.setenv(TODAY_ENV, tomorrow)
    assert validate(read_source(folder)).payments["payment_date"].max() == pd.Timestamp(tomorrow)
    monkeypatch.setenv(TODAY_ENV, "tomorrow")
    with pytest.raises(SourceError, match=r"\$COLLECTIONS_TODAY: not a YYYY-MM-DD date"):
        validate(read_source(folder))


def book_of_payments(days: pd.DatetimeIndex, per_day: int) -> pd.DataFrame:
    dates = np.repeat(days.to_numpy(dtype="datetime64[s]"), per_day)
    return pd.DataFrame({"payment_date": pd.Series(dates), "amount_pence": 1000})


def test_one_stray_payment_does_not_move_the_default_as_of():
    """A book paying every day in 2024 (50 a day); one payment typed 2024-11-30 for
    2023-11-30, or three a year later, leave the as-of date at the last real day."""
    payments = book_of_payments(pd.date_range("2024-01-01", "2024-06-30"), 50)
    assert latest_payment_date(payments) == pd.Timestamp("2024-06-30")
    stray = pd.DataFrame({"payment_date": pd.to_datetime(["2024-11-30"]), "amount_pence": 1})
    assert latest_payment_date(pd.concat([payments, stray])) == pd.Timestamp("2024-06-30")
    strays = book_of_payments(pd.DatetimeIndex(["2025-06-01", "2025-06-02", "2025-06-20"]), 1)
    assert latest_payment_date(pd.concat([payments, strays])) == pd.Timestamp("2024-06-30")


def test_payments_that_continue_do_move_the_as_of():
    payments = book_of_payments(pd.date_range("2024-01-01", "2024-06-30"), 50)
    later = book_of_payments(pd.date_range("2024-09-01", "2024-09-10"), 3)  # 30 payments
    assert latest_payment_date(pd.concat([payments, later])) == pd.Timestamp("2024-09-10")
    one_more_day = book_of_payments(pd.DatetimeIndex(["2024-07-20"]), 1)
    assert latest_payment_date(pd.concat([payments, one_more_day])) == pd.Timestamp("2024-07-20")


def test_a_quiet_book_uses_its_latest_payment(small_tables):
    """Too few payments to tell a stray one from the book's last months."""
    put(small_tables, "payments", "payment_date", {9: "2024-11-30"})
    payments = validate(tables_from_frames(small_tables), today=TODAY + pd.Timedelta(days=200))
    assert latest_payment_date(payments.payments) == pd.Timestamp("2024-11-30")
    assert latest_payment_date(payments.payments.iloc[:0]) is pd.NaT


def test_bill_period_years_before_every_other_is_refused(small_tables):
    """1925 typed for 2024: the monthly tables would span a century (memory grows with the
    months between the first and last bill)."""
    put(small_tables, "bills", "bill_period_end", {5: "1924-01-31"})
    put(small_tables, "bills", "due_date", {5: "1924-02-14"})
    with pytest.raises(SourceError) as excinfo:
        validate(tables_from_frames(small_tables, "frames"), today=TODAY)
    assert str(excinfo.value) == (
        "frames:bills: column 'bill_period_end': more than 10 years before the next bill "
        "period (2024-01; a mistyped year?) in 1 row (row 5 '1924-01-31')"
    )


def test_bill_periods_ten_years_apart_are_accepted(small_tables):
    put(small_tables, "bills", "bill_period_end", {5: "2014-01-31", 6: "2014-02-28"})
    put(small_tables, "bills", "due_date", {5: "2014-02-14", 6: "2014-03-14"})
    portfolio = validate(tables_from_frames(small_tables), today=TODAY)
    assert portfolio.bills["bill_period_end"].min() == pd.Timestamp("2014-01-31")
