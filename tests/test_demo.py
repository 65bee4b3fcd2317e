"""Tests of the synthetic data generator (``dashboard.demo``) and its writers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from dashboard import vocab
from dashboard.demo import generate, write_demo

DATA = Path(__file__).resolve().parents[1] / "data"
DEMO_ARGS = {"customers": 1500, "start": "2022-01", "end": "2025-12", "seed": 42}
TOLERANCE_PENCE = 100


# --- measuring helpers ----------------------------------------------------------------------


def pence(values: pd.Series) -> np.ndarray:
    return np.rint(values.to_numpy(dtype=float) * 100).astype(np.int64)


def days(values: pd.Series) -> np.ndarray:
    return pd.to_datetime(values).to_numpy().astype("datetime64[D]").astype(np.int64)


def month_index(values: pd.Series) -> np.ndarray:
    dates = pd.to_datetime(values)
    return (dates.dt.year * 12 + dates.dt.month - 1).to_numpy()


def customer_numbers(tables: dict[str, pd.DataFrame], table: str) -> np.ndarray:
    codes = {c: i for i, c in enumerate(tables["customers"]["customer_id"])}
    return tables[table]["customer_id"].map(codes).to_numpy().astype(np.int64)


class Ledger:
    """Running totals of bills (by due date) and payments (by date) per customer."""

    def __init__(self, tables: dict[str, pd.DataFrame]):
        self.bills = self._running(
            customer_numbers(tables, "bills"),
            days(tables["bills"]["due_date"]),
            pence(tables["bills"]["bill_amount"]),
        )
        self.payments = self._running(
            customer_numbers(tables, "payments"),
            days(tables["payments"]["payment_date"]),
            pence(tables["payments"]["amount"]),
        )

    @staticmethod
    def _running(customer: np.ndarray, day: np.ndarray, amount: np.ndarray):
        key = customer * 1_000_000 + day
        order = np.argsort(key, kind="stable")
        return key[order], np.concatenate([[0], np.cumsum(amount[order])])

    @staticmethod
    def _upto(running, customer: np.ndarray, day: np.ndarray) -> np.ndarray:
        key, total = running
        return (
            total[np.searchsorted(key, customer * 1_000_000 + day, side="right")]
            - total[np.searchsorted(key, customer * 1_000_000, side="left")]
        )

    def paid(self, customer: np.ndarray, after: np.ndarray, upto: np.ndarray) -> np.ndarray:
        """Payments with ``after < date <= upto``."""
        return self._upto(self.payments, customer, upto) - self._upto(
            self.payments, customer, after
        )

    def balance(self, customer: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Bills due on or before ``day`` minus payments on or before ``day`` (pence)."""
        return self._upto(self.bills, customer, day) - self._upto(self.payments, customer, day)


def month_end_arrears(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Customers x month ends: in arrears (balance > £1) and billed so far."""
    bills, payments = tables["bills"], tables["payments"]
    n = len(tables["customers"])
    first = int(month_index(bills["due_date"]).min())
    months = int(month_index(bills["due_date"]).max()) - first + 1
    billed = np.zeros((n, months), dtype=np.int64)
    paid = np.zeros((n, months), dtype=np.int64)
    due_month = month_index(bills["due_date"]) - first
    np.add.at(billed, (customer_numbers(tables, "bills"), due_month), pence(bills["bill_amount"]))
    pay_month = np.minimum(month_index(payments["payment_date"]) - first, months - 1)
    np.add.at(paid, (customer_numbers(tables, "payments"), pay_month), pence(payments["amount"]))
    due_so_far = billed.cumsum(axis=1)
    balance = due_so_far - paid.cumsum(axis=1)
    return {"arrears": (balance > TOLERANCE_PENCE) & (due_so_far > 0), "billed": due_so_far > 0}


def arrears_share(panel: dict[str, np.ndarray], rows=slice(None), skip: int = 6) -> float:
    """Share of billed customers in arrears, over month ends after the first ``skip``."""
    arrears, billed = panel["arrears"][rows, skip:], panel["billed"][rows, skip:]
    return arrears.sum() / billed.sum()


def bill_defaults(tables: dict[str, pd.DataFrame], before: int = 3, after: int = 60):
    """DESIGN.md metric: the bill's customer paid < bill - £1 in (due - 3, due + 60]."""
    bills = tables["bills"]
    ledger = Ledger(tables)
    due = days(bills["due_date"])
    customer = customer_numbers(tables, "bills")
    paid = ledger.paid(customer, due - before, due + after)
    as_of = days(tables["payments"]["payment_date"]).max()
    default = paid < pence(bills["bill_amount"]) - TOLERANCE_PENCE
    return bills.assign(default=default, mature=due + after <= as_of).merge(
        tables["customers"], on="customer_id"
    )


def arranged_share_of_arrears(tables: dict[str, pd.DataFrame], panel) -> float:
    """Share of customers in arrears whose last arrangement action so far was an agreement."""
    actions = tables["collections_actions"]
    events = actions[actions["action"].isin(["Arrangement Agreed", "Arrangement Broken"])]
    n, months = panel["arrears"].shape
    first = int(month_index(tables["bills"]["due_date"]).min())
    state = np.zeros((n, months))
    event_month = month_index(events["action_date"]) - first
    inside = event_month < months
    order = np.lexsort((days(events["action_date"])[inside], event_month[inside]))
    rows = customer_numbers(tables, "collections_actions")[events.index][inside][order]
    agreed = (events["action"].to_numpy()[inside] == "Arrangement Agreed")[order]
    state[rows, event_month[inside][order]] = np.where(agreed, 1.0, -1.0)
    state = pd.DataFrame(state).replace(0.0, np.nan).ffill(axis=1).fillna(0).to_numpy()
    arrears = panel["arrears"][:, 6:]
    return ((state[:, 6:] == 1) & arrears).sum() / arrears.sum()


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def portfolio() -> dict[str, pd.DataFrame]:
    return generate(5000, "2022-01", "2025-12", seed=2024)


@pytest.fixture(scope="module")
def panel(portfolio) -> dict[str, np.ndarray]:
    return month_end_arrears(portfolio)


@pytest.fixture(scope="module")
def defaults(portfolio) -> pd.DataFrame:
    return bill_defaults(portfolio)


# --- API, determinism and files -------------------------------------------------------------


def test_tables_have_the_vocabulary_columns_in_order(portfolio):
    assert list(portfolio) == list(vocab.TABLES)
    for table, columns in vocab.TABLES.items():
        assert tuple(portfolio[table].columns) == columns


def test_same_arguments_give_identical_tables_and_another_seed_differs():
    first = generate(300, "2023-01", "2023-12", seed=5)
    second = generate(300, "2023-01", "2023-12", seed=5, progress=True)
    for table in vocab.TABLES:
        pd.testing.assert_frame_equal(first[table], second[table])
    other = generate(300, "2023-01", "2023-12", seed=6)
    assert not first["bills"].equals(other["bills"])
    assert not first["payments"].equals(other["payments"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"customers": 0}, "at least 1"),
        ({"customers": -5}, "at least 1"),
        ({"start": "2024-01", "end": "2023-12"}, "before start"),
        ({"start": "2022-13"}, "YYYY-MM"),
        ({"end": "2022/12"}, "YYYY-MM"),
        ({"fmt": "xlsx"}, "unknown format"),
    ],
)
def test_bad_arguments_raise_clear_errors(tmp_path, kwargs, message):
    arguments = {"customers": 10, "start": "2022-01", "end": "2022-06", "seed": 1, "fmt": "csv"}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        write_demo(tmp_path / "out", progress=False, **arguments)


def test_committed_csvs_are_reproduced_byte_for_byte(tmp_path):
    counts = write_demo(tmp_path, "csv", progress=False, **DEMO_ARGS)
    for table in vocab.TABLES:
        written = (tmp_path / f"{table}.csv").read_bytes()
        assert written == (DATA / f"{table}.csv").read_bytes(), table
        assert counts[table] == written.count(b"\n") - 1


def test_committed_csvs_equal_generate():
    tables = generate(**DEMO_ARGS)
    for table in vocab.TABLES:
        pd.testing.assert_frame_equal(tables[table], pd.read_csv(DATA / f"{table}.csv"))


def test_committed_sqlite_holds_the_csv_content_with_indexes():
    with sqlite3.connect(f"file:{DATA / 'water_collections_demo.sqlite'}?mode=ro", uri=True) as db:
        for table in vocab.TABLES:
            from_sqlite = pd.read_sql_query(f'SELECT * FROM "{table}"', db)
            from_csv = pd.read_csv(DATA / f"{table}.csv")
            pd.testing.assert_frame_equal(from_sqlite, from_csv, check_dtype=False)
            indexed = {
                row[2]
                for index in db.execute(f'PRAGMA index_list("{table}")').fetchall()
                for row in db.execute(f'PRAGMA index_info("{index[1]}")').fetchall()
            }
            assert {"customer_id", *vocab.DATE_COLUMNS.get(table, ())} <= indexed
        types = {row[1]: row[2] for row in db.execute('PRAGMA table_info("bills")')}
        assert types == {
            "customer_id": "TEXT",
            "bill_period_end": "TEXT",
            "bill_amount": "REAL",
            "usage_m3": "REAL",
            "due_date": "TEXT",
        }


def test_sqlite_file_is_replaced_not_appended(tmp_path):
    path = tmp_path / "demo.sqlite"
    write_demo(path, "sqlite", 40, "2023-01", "2023-06", 3, progress=False)
    counts = write_demo(path, "sqlite", 40, "2023-01", "2023-06", 3, progress=False)
    with sqlite3.connect(path) as db:
        for table, count in counts.items():
            assert db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] == count


def test_parquet_round_trip_matches_generate(tmp_path):
    arguments = {"customers": 200, "start": "2024-01", "end": "2024-12", "seed": 3}
    counts = write_demo(tmp_path, "parquet", progress=False, **arguments)
    expected = generate(**arguments)
    bills_file = pq.ParquetFile(tmp_path / "bills.parquet")
    assert bills_file.metadata.num_row_groups > 1
    assert str(bills_file.schema_arrow.field("due_date").type) == "date32[day]"
    assert str(bills_file.schema_arrow.field("customer_id").type) == "string"
    for table, columns in vocab.TABLES.items():
        frame = pd.read_parquet(tmp_path / f"{table}.parquet")
        assert tuple(frame.columns) == columns
        assert len(frame) == counts[table] == len(expected[table])
        for column in frame.columns:
            if column in vocab.DATE_COLUMNS.get(table, ()):
                frame[column] = pd.to_datetime(frame[column]).dt.strftime("%Y-%m-%d")
            if isinstance(frame[column].dtype, pd.CategoricalDtype):
                frame[column] = frame[column].astype("str")
        keys = ["customer_id", *vocab.DATE_COLUMNS.get(table, ())[:1]]
        keys += ["action"] if table == "collections_actions" else []
        frame = frame.sort_values(keys, kind="stable", ignore_index=True)
        pd.testing.assert_frame_equal(frame, expected[table], check_dtype=False)


# --- formats of the values ------------------------------------------------------------------


def test_values_look_like_the_seed_data(portfolio):
    customers, bills = portfolio["customers"], portfolio["bills"]
    assert customers["customer_id"].iloc[0] == "C100000"
    assert customers["customer_id"].is_unique
    assert bills["due_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    for table, column in vocab.MONEY_COLUMNS.items():
        amounts = portfolio[table][column]
        assert (np.abs(amounts * 100 - np.rint(amounts * 100)) < 1e-6).all()
        assert (amounts > 0).all()
    for column in vocab.FLAG_DIMENSIONS:
        assert set(customers[column]) <= {0, 1}
    for column, values in {
        "region": vocab.REGIONS,
        "income_band": vocab.INCOME_BANDS,
        "tariff": vocab.TARIFFS,
        "tenure_band": vocab.TENURE_BANDS,
    }.items():
        assert set(customers[column]) <= set(values)
    assert set(portfolio["payments"]["method"]) == set(vocab.PAYMENT_METHODS)
    assert set(portfolio["collections_actions"]["action"]) == set(vocab.ACTIONS)


def test_rows_are_sorted_by_customer_then_date(portfolio):
    for table, dates in vocab.DATE_COLUMNS.items():
        frame = portfolio[table]
        ordered = frame.sort_values(["customer_id", dates[0]], kind="stable")
        assert ordered.index.equals(frame.index)


def test_due_date_is_period_end_plus_14_days(portfolio):
    bills = portfolio["bills"]
    period_end = pd.to_datetime(bills["bill_period_end"])
    assert (period_end == period_end + pd.offsets.MonthEnd(0)).all()
    assert (pd.to_datetime(bills["due_date"]) - period_end == pd.Timedelta(days=14)).all()


def test_usage_is_empty_exactly_for_unmetered_customers(portfolio):
    bills = portfolio["bills"].merge(portfolio["customers"], on="customer_id")
    assert (bills["usage_m3"].isna() == (bills["has_meter"] == 0)).all()
    metered = bills[bills["has_meter"] == 1]
    assert (np.abs(metered["usage_m3"] * 100 - np.rint(metered["usage_m3"] * 100)) < 1e-6).all()


def test_tariffs_agree_with_meters(portfolio):
    customers = portfolio["customers"]
    meters = customers.groupby("tariff")["has_meter"].mean()
    assert meters["Metered"] == 1.0
    assert meters["Unmetered"] == 0.0
    assert meters["Standard"] < 0.5


# --- realism --------------------------------------------------------------------------------


def test_bill_amounts_are_like_a_uk_water_bill(portfolio):
    bills = portfolio["bills"].merge(portfolio["customers"], on="customer_id")
    assert 37 <= bills["bill_amount"].mean() <= 45
    assert bills["bill_amount"].quantile(0.01) >= 15
    assert bills["bill_amount"].quantile(0.99) <= 70
    month = pd.to_datetime(bills["bill_period_end"]).dt.month
    usage = bills.groupby(month)["usage_m3"].mean()
    assert usage[[6, 7, 8]].mean() > 1.1 * usage[[12, 1, 2]].mean()
    year = pd.to_datetime(bills["bill_period_end"]).dt.year
    yearly = bills.groupby(year)["bill_amount"].mean()
    assert yearly.is_monotonic_increasing


def test_metered_bills_are_linear_in_usage_and_unmetered_flat(portfolio):
    bills = portfolio["bills"].merge(portfolio["customers"], on="customer_id")
    one_month = bills[(bills["bill_period_end"] == "2023-07-31") & (bills["tariff"] == "Metered")]
    slope, intercept = np.polyfit(one_month["usage_m3"], one_month["bill_amount"], 1)
    fitted = slope * one_month["usage_m3"] + intercept
    assert (np.abs(fitted - one_month["bill_amount"]) <= 0.011).all()
    assert slope > 1 and intercept > 0
    unmetered = bills[bills["has_meter"] == 0]
    charging_year = pd.to_datetime(unmetered["bill_period_end"]).dt.to_period("Q-MAR").dt.qyear
    assert (unmetered.groupby(["customer_id", charging_year])["bill_amount"].nunique() == 1).all()


def test_customer_mix(portfolio):
    customers = portfolio["customers"]
    assert 0.05 <= customers["is_vulnerable"].mean() <= 0.09
    assert 0.05 <= (customers["tariff"] == "Low Income Social Tariff").mean() <= 0.08
    assert 0.5 <= customers["prefers_direct_debit"].mean() <= 0.75
    assert set(customers["region"]) == set(vocab.REGIONS)


def test_about_eight_percent_in_arrears_at_month_ends(panel):
    share = arrears_share(panel)
    assert 0.05 <= share <= 0.11
    monthly = panel["arrears"][:, 6:].sum(axis=0) / panel["billed"][:, 6:].sum(axis=0)
    assert 0.04 <= monthly.min() and monthly.max() <= 0.12


def test_regions_differ_in_arrears(portfolio, panel):
    region = portfolio["customers"]["region"].to_numpy()
    shares = {r: arrears_share(panel, region == r) for r in vocab.REGIONS}
    assert 0.015 <= min(shares.values()) and max(shares.values()) <= 0.18
    assert max(shares.values()) >= 2 * min(shares.values())


def test_about_a_third_of_arrears_are_on_an_arrangement(portfolio, panel):
    assert 0.2 <= arranged_share_of_arrears(portfolio, panel) <= 0.45


def test_bad_debt_is_a_few_percent_of_billed(portfolio):
    billed = pd.Series(pence(portfolio["bills"]["bill_amount"])).groupby(
        portfolio["bills"]["customer_id"].to_numpy()
    )
    paid = pd.Series(pence(portfolio["payments"]["amount"])).groupby(
        portfolio["payments"]["customer_id"].to_numpy()
    )
    unpaid = (billed.sum() - paid.sum().reindex(billed.sum().index, fill_value=0)).clip(lower=0)
    assert 0.015 <= unpaid.sum() / billed.sum().sum() <= 0.035


def test_default_rate_is_plausible_and_falls_with_income(defaults):
    mature = defaults[defaults["mature"]]
    assert 0.04 <= mature["default"].mean() <= 0.10
    by_income = mature.groupby("income_band")["default"].mean()[list(vocab.INCOME_BANDS)]
    assert by_income.is_monotonic_decreasing
    assert by_income.iloc[0] >= 2 * by_income.iloc[-1]


def test_direct_debit_payers_pay_by_direct_debit(portfolio):
    payments = portfolio["payments"].merge(portfolio["customers"], on="customer_id")
    by_dd = payments.groupby("prefers_direct_debit")["method"].apply(
        lambda m: (m == "Direct Debit").mean()
    )
    assert by_dd[1] >= 0.85
    assert by_dd[0] <= 0.05
    dd = payments[payments["prefers_direct_debit"] == 1]
    on_due_day = pd.to_datetime(dd["payment_date"]).dt.day == 14
    assert on_due_day.mean() >= 0.85


def test_payments_fall_in_a_sensible_range(portfolio):
    bills, payments = portfolio["bills"], portfolio["payments"]
    last_due = pd.to_datetime(bills.groupby("customer_id")["due_date"].max())
    first_due = pd.to_datetime(bills.groupby("customer_id")["due_date"].min())
    paid_on = pd.to_datetime(payments["payment_date"])
    customer = payments["customer_id"]
    assert (paid_on.to_numpy() <= (last_due[customer] + pd.Timedelta(days=31)).to_numpy()).all()
    assert (paid_on.to_numpy() >= (first_due[customer] - pd.Timedelta(days=3)).to_numpy()).all()
    assert len(payments) >= 0.85 * len(bills)


def test_actions_happen_only_to_customers_in_arrears(portfolio):
    actions = portfolio["collections_actions"]
    ledger = Ledger(portfolio)
    balance = ledger.balance(
        customer_numbers(portfolio, "collections_actions"), days(actions["action_date"])
    )
    assert (balance > TOLERANCE_PENCE).all()


def test_actions_follow_the_collections_timetable(portfolio):
    actions = portfolio["collections_actions"].assign(
        day=lambda a: pd.to_datetime(a["action_date"])
    )
    reminders = actions[actions["action"] == "Reminder Sent"]
    assert reminders["day"].dt.day.between(21, 28).all()  # due on the 14th, + 7..14 days
    seconds = actions[actions["action"] == "Second Reminder"]
    reminded = set(zip(reminders["customer_id"], reminders["day"], strict=True))
    after_a_reminder = [
        any((customer, day - pd.Timedelta(days=gap)) in reminded for gap in range(14, 22))
        for customer, day in zip(seconds["customer_id"], seconds["day"], strict=True)
    ]
    assert all(after_a_reminder)
    counts = actions["action"].value_counts()
    assert counts["Reminder Sent"] > counts["Second Reminder"] > counts["Arrangement Agreed"]
    assert counts["Arrangement Agreed"] > counts["Arrangement Broken"] > 0
    agreed = actions[actions["action"] == "Arrangement Agreed"].groupby("customer_id")["day"].min()
    broken = actions[actions["action"] == "Arrangement Broken"].groupby("customer_id")["day"].min()
    assert (broken > agreed.reindex(broken.index)).all()


def test_customers_join_and_leave(portfolio):
    bills = portfolio["bills"]
    first = bills.groupby("customer_id")["bill_period_end"].min()
    last = bills.groupby("customer_id")["bill_period_end"].max()
    assert (first > "2022-01-31").mean() >= 0.03
    assert (last < "2025-12-31").mean() >= 0.03
    n = len(portfolio["customers"])
    assert 0.85 * n * 48 <= len(bills) <= 0.95 * n * 48
    joiners = portfolio["customers"].set_index("customer_id").loc[first[first > "2022-01-31"].index]
    assert (joiners["tenure_band"] == "<1y").all()
