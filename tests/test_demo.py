"""Tests of the synthetic data generator (``dashboard.demo``) and its writers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from dashboard import vocab
from dashboard.demo import generate, simulation, write_demo
from dashboard.demo.cycle import HOLDOUT_SHARE, TRUE_REMINDER_EFFECT
from dashboard.demo.population import POLICY_MONTHS, STRESS_REGION

DATA = Path(__file__).resolve().parents[1] / "data"
DEMO_ARGS = {"customers": 1500, "start": "2022-01", "end": "2025-12", "seed": 42}
TOLERANCE_PENCE = 100
FIRST_DAY = "2022-01-01"
"""Opening balances are ``transfer`` adjustments dated on the first day of the period."""


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


class Running:
    """Amounts per customer by day, summed to any (customer, day)."""

    def __init__(self, customer: np.ndarray, day: np.ndarray, amount: np.ndarray):
        key = customer * 1_000_000 + day
        order = np.argsort(key, kind="stable")
        self.key, self.total = key[order], np.concatenate([[0], np.cumsum(amount[order])])

    def upto(self, customer: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Sum of the amounts dated on or before ``day``."""
        return (
            self.total[np.searchsorted(self.key, customer * 1_000_000 + day, side="right")]
            - self.total[np.searchsorted(self.key, customer * 1_000_000, side="left")]
        )


class Ledger:
    """Balance = bills due before a day - payments on or before it - write-offs and credits
    on or before it + signed rebills and transfers on or before it (pence)."""

    def __init__(self, tables: dict[str, pd.DataFrame]):
        bills, payments, adj = tables["bills"], tables["payments"], tables["adjustments"]
        reducing = adj["kind"].isin(vocab.REDUCING_ADJUSTMENTS).to_numpy()
        effect = np.where(reducing, -pence(adj["amount"]), pence(adj["amount"]))
        self.bills = Running(
            customer_numbers(tables, "bills"),
            days(bills["due_date"]) + 1,
            pence(bills["bill_amount"]),
        )
        self.payments = Running(
            customer_numbers(tables, "payments"),
            days(payments["payment_date"]),
            pence(payments["amount"]),
        )
        self.adjustments = Running(
            customer_numbers(tables, "adjustments"), days(adj["adjustment_date"]), effect
        )

    def paid(self, customer: np.ndarray, after: np.ndarray, upto: np.ndarray) -> np.ndarray:
        """Payments with ``after < date <= upto``."""
        return self.payments.upto(customer, upto) - self.payments.upto(customer, after)

    def balance(self, customer: np.ndarray, day: np.ndarray) -> np.ndarray:
        return (
            self.bills.upto(customer, day)
            - self.payments.upto(customer, day)
            + self.adjustments.upto(customer, day)
        )


def month_end_panel(tables: dict[str, pd.DataFrame], ledger: Ledger) -> dict[str, np.ndarray]:
    """Customers x month-ends: arrears (pence) and on the book (billed so far, and billed
    that month or owing or owed money)."""
    bills = tables["bills"]
    n = len(tables["customers"])
    bill_months = month_index(bills["bill_period_end"])
    months = np.arange(bill_months.min(), bill_months.max() + 1)
    since_1970 = (months + 1 - 1970 * 12).astype("datetime64[M]")
    ends = since_1970.astype("datetime64[D]").astype(np.int64) - 1
    customer = np.repeat(np.arange(n), len(ends))
    balance = ledger.balance(customer, np.tile(ends, n)).reshape(n, len(ends))
    bill_month = pd.Series(month_index(bills["bill_period_end"])).groupby(
        customer_numbers(tables, "bills")
    )
    first = bill_month.min().reindex(range(n)).to_numpy()
    last = bill_month.max().reindex(range(n)).to_numpy()
    billed = (months[None, :] >= first[:, None]) & (months[None, :] <= last[:, None])
    return {
        "months": months,
        "ends": ends,
        "first": first,
        "arrears": np.maximum(balance, 0),
        "on_book": billed | (balance != 0),
    }


def shares_in_arrears(panel, rows=slice(None)) -> np.ndarray:
    on_book = panel["on_book"][rows]
    return ((panel["arrears"][rows] > 0) & on_book).sum(axis=0) / on_book.sum(axis=0)


def account_days_past_due(tables, ledger: Ledger, day: int) -> np.ndarray:
    """Per customer, days since the due date of the oldest bill not covered (oldest first)
    by payments and reductions on or before ``day`` (0 when nothing is owed)."""
    n = len(tables["customers"])
    bills = tables["bills"]
    customer = customer_numbers(tables, "bills")
    due = days(bills["due_date"])
    keep = due < day
    frame = pd.DataFrame(
        {"customer": customer[keep], "due": due[keep], "amount": pence(bills["bill_amount"])[keep]}
    ).sort_values(["customer", "due"], kind="stable")
    frame["cumulative"] = frame.groupby("customer")["amount"].cumsum()
    everyone = np.arange(n)
    reduced = ledger.payments.upto(everyone, np.full(n, day)) - ledger.adjustments.upto(
        everyone, np.full(n, day)
    )
    frame["covered"] = reduced[frame["customer"].to_numpy()]
    unpaid = frame[frame["cumulative"] > frame["covered"]]
    oldest = unpaid.groupby("customer")["due"].min()
    result = np.zeros(n, dtype=np.int64)
    result[oldest.index.to_numpy()] = day - oldest.to_numpy()
    return result


def bill_defaults(tables: dict[str, pd.DataFrame], ledger: Ledger, before=3, after=60):
    """DESIGN.md metric: the bill's customer paid < bill - £1 in (due - 3, due + 60]."""
    bills = tables["bills"]
    due = days(bills["due_date"])
    paid = ledger.paid(customer_numbers(tables, "bills"), due - before, due + after)
    as_of = days(tables["payments"]["payment_date"]).max()
    default = paid < pence(bills["bill_amount"]) - TOLERANCE_PENCE
    frame = bills.assign(default=default, mature=due + after <= as_of)
    return frame.merge(tables["customers"], on="customer_id")


def arranged_share_of_arrears(tables: dict[str, pd.DataFrame], panel) -> float:
    """Share of customers in arrears whose last arrangement action so far was an agreement."""
    actions = tables["collections_actions"]
    events = actions[actions["action"].isin(["Arrangement Agreed", "Arrangement Broken"])]
    arrears = panel["arrears"] > 0
    n, months = arrears.shape
    state = np.zeros((n, months))
    event_month = month_index(events["action_date"]) - panel["months"][0]
    inside = event_month < months
    order = np.lexsort((days(events["action_date"])[inside], event_month[inside]))
    rows = customer_numbers(tables, "collections_actions")[events.index][inside][order]
    agreed = (events["action"].to_numpy()[inside] == "Arrangement Agreed")[order]
    state[rows, event_month[inside][order]] = np.where(agreed, 1.0, -1.0)
    state = pd.DataFrame(state).replace(0.0, np.nan).ffill(axis=1).fillna(0).to_numpy()
    return ((state[:, 6:] == 1) & arrears[:, 6:]).sum() / arrears[:, 6:].sum()


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def portfolio() -> dict[str, pd.DataFrame]:
    return generate(5000, "2022-01", "2025-12", seed=2024)


@pytest.fixture(scope="module")
def ledger(portfolio) -> Ledger:
    return Ledger(portfolio)


@pytest.fixture(scope="module")
def panel(portfolio, ledger) -> dict[str, np.ndarray]:
    return month_end_panel(portfolio, ledger)


@pytest.fixture(scope="module")
def defaults(portfolio, ledger) -> pd.DataFrame:
    return bill_defaults(portfolio, ledger)


# --- API, determinism and files -------------------------------------------------------------


def test_tables_have_the_vocabulary_columns_in_order(portfolio):
    assert list(portfolio) == list(vocab.ALL_TABLES)
    for table, columns in vocab.ALL_TABLES.items():
        assert tuple(portfolio[table].columns) == columns


def test_same_arguments_give_identical_tables_and_another_seed_differs():
    first = generate(300, "2023-01", "2023-12", seed=5)
    second = generate(300, "2023-01", "2023-12", seed=5, progress=True)
    for table in vocab.ALL_TABLES:
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
    for table in vocab.ALL_TABLES:
        written = (tmp_path / f"{table}.csv").read_bytes()
        assert written == (DATA / f"{table}.csv").read_bytes(), table
        assert counts[table] == written.count(b"\n") - 1


def test_committed_csvs_equal_generate():
    tables = generate(**DEMO_ARGS)
    for table in vocab.ALL_TABLES:
        pd.testing.assert_frame_equal(tables[table], pd.read_csv(DATA / f"{table}.csv"))


def test_committed_sqlite_holds_the_csv_content_with_indexes():
    with sqlite3.connect(f"file:{DATA / 'water_collections_demo.sqlite'}?mode=ro", uri=True) as db:
        for table in vocab.ALL_TABLES:
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
        types = {row[1]: row[2] for row in db.execute('PRAGMA table_info("adjustments")')}
        assert types == {
            "customer_id": "TEXT",
            "adjustment_date": "TEXT",
            "amount": "REAL",
            "kind": "TEXT",
        }


def test_sqlite_file_is_replaced_not_appended(tmp_path):
    path = tmp_path / "demo.sqlite"
    write_demo(path, "sqlite", 40, "2023-01", "2023-06", 3, progress=False)
    counts = write_demo(path, "sqlite", 40, "2023-01", "2023-06", 3, progress=False)
    with sqlite3.connect(path) as db:
        for table, count in counts.items():
            assert db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] == count


def test_parquet_is_written_in_customer_order_with_customer_range_row_groups(tmp_path, monkeypatch):
    monkeypatch.setattr(simulation, "WRITE_BATCH_ROWS", 500)
    arguments = {"customers": 200, "start": "2024-01", "end": "2024-12", "seed": 3}
    counts = write_demo(tmp_path, "parquet", progress=False, **arguments)
    expected = generate(**arguments)
    bills_file = pq.ParquetFile(tmp_path / "bills.parquet")
    assert bills_file.metadata.num_row_groups > 1
    assert str(bills_file.schema_arrow.field("due_date").type) == "date32[day]"
    assert str(bills_file.schema_arrow.field("customer_id").type) == "string"
    ranges = [
        bills_file.read_row_group(i, columns=["customer_id"])["customer_id"].to_pylist()
        for i in range(bills_file.metadata.num_row_groups)
    ]
    assert all(a[-1] < b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    for table, columns in vocab.ALL_TABLES.items():
        frame = pd.read_parquet(tmp_path / f"{table}.parquet")
        assert tuple(frame.columns) == columns
        assert len(frame) == counts[table] == len(expected[table])
        for column in frame.columns:
            if column in vocab.DATE_COLUMNS.get(table, ()):
                frame[column] = pd.to_datetime(frame[column]).dt.strftime("%Y-%m-%d")
            if isinstance(frame[column].dtype, pd.CategoricalDtype):
                frame[column] = frame[column].astype("str")
        pd.testing.assert_frame_equal(frame, expected[table], check_dtype=False)


def test_blocks_of_customers_join_up_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(simulation, "BLOCK_CUSTOMERS", 40)
    tables = generate(100, "2023-01", "2023-12", seed=8)
    ids = [f"C{100000 + i}" for i in range(100)]
    assert tables["customers"]["customer_id"].tolist() == ids
    for table, dates in vocab.DATE_COLUMNS.items():
        frame = tables[table]
        assert frame["customer_id"].is_monotonic_increasing, table
        ordered = frame.sort_values(["customer_id", dates[0]], kind="stable")
        assert ordered.index.equals(frame.index), table
    billed = set(tables["bills"]["customer_id"]) | set(tables["adjustments"]["customer_id"])
    assert billed == set(ids)  # accounts closed before the start have only adjustments
    write_demo(tmp_path, "csv", 100, "2023-01", "2023-12", 8, progress=False)
    for table in vocab.ALL_TABLES:
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / f"{table}.csv"), tables[table])


def test_a_book_without_adjustments_still_gets_an_adjustments_file(tmp_path):
    counts = write_demo(tmp_path, "csv", 1, "2023-01", "2023-01", 0, progress=False)
    header = (tmp_path / "adjustments.csv").read_text().splitlines()[0]
    assert header == ",".join(vocab.OPTIONAL_TABLES["adjustments"])
    assert counts["adjustments"] == len((tmp_path / "adjustments.csv").read_text().splitlines()) - 1


# --- formats of the values ------------------------------------------------------------------


def test_values_look_like_the_seed_data(portfolio):
    customers, bills = portfolio["customers"], portfolio["bills"]
    assert customers["customer_id"].iloc[0] == "C100000"
    assert customers["customer_id"].is_unique
    assert bills["due_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    for table, column in vocab.MONEY_COLUMNS.items():
        amounts = portfolio[table][column]
        assert (np.abs(amounts * 100 - np.rint(amounts * 100)) < 1e-6).all()
        assert (amounts != 0).all()
    assert (bills["bill_amount"] > 0).all() and (portfolio["payments"]["amount"] > 0).all()
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
    actions = set(portfolio["collections_actions"]["action"])
    assert actions == {*vocab.ACTIONS, vocab.HELD_OUT}
    assert set(portfolio["adjustments"]["kind"]) == set(vocab.ADJUSTMENT_KINDS)


def test_adjustments_follow_the_sign_convention_and_are_mostly_write_offs(portfolio):
    adjustments = portfolio["adjustments"]
    amount, kind = adjustments["amount"], adjustments["kind"]
    assert (amount[kind.isin(vocab.REDUCING_ADJUSTMENTS)] > 0).all()
    rebills = amount[kind == "rebill"]
    assert (rebills > 0).any() and (rebills < 0).any()
    assert adjustments["adjustment_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    write_offs = amount[kind == "write_off"].sum()
    assert amount[kind.isin(["credit", "rebill"])].abs().sum() < 0.25 * write_offs
    transfers = adjustments[kind == "transfer"]
    assert (transfers["amount"] > 0).all() and (transfers["adjustment_date"] == FIRST_DAY).all()


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


def test_opening_balances_are_transferred_on_the_first_day(portfolio, panel):
    adjustments = portfolio["adjustments"]
    opening = adjustments[adjustments["kind"] == "transfer"]
    assert 0.06 <= len(opening) / panel["on_book"][:, 0].sum() <= 0.12
    assert opening["customer_id"].is_unique
    first_bill = portfolio["bills"].groupby("customer_id")["bill_period_end"].min()
    closed_before = ~opening["customer_id"].isin(first_bill.index)
    assert (first_bill[opening["customer_id"][~closed_before]] == "2022-01-31").all()
    assert 0.05 <= closed_before.mean() <= 0.4  # accounts closed before, with the agency
    assert panel["arrears"][:, 0].sum() == pence(opening["amount"]).sum()
    assert 0.06 <= shares_in_arrears(panel)[0] <= 0.12


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
    bills = portfolio["bills"]
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


def test_six_to_twelve_percent_in_arrears_at_every_month_end(panel):
    shares = shares_in_arrears(panel)
    assert 0.06 <= shares.min() and shares.max() <= 0.12
    assert 0.07 <= shares.mean() <= 0.10


def test_missed_payments_are_seasonal(panel):
    shares = pd.Series(shares_in_arrears(panel), index=panel["months"] % 12 + 1)
    by_month = shares.groupby(level=0).mean()
    assert by_month[[1, 2, 3]].mean() > by_month[[7, 8, 9]].mean() + 0.005


def test_regions_differ_and_the_stressed_region_diverges_for_a_while(portfolio, panel):
    region = portfolio["customers"]["region"].to_numpy()
    shares = {r: shares_in_arrears(panel, region == r).mean() for r in vocab.REGIONS}
    assert 0.015 <= min(shares.values()) and max(shares.values()) <= 0.18
    assert max(shares.values()) >= 1.8 * min(shares.values())
    gap = shares_in_arrears(panel, region == STRESS_REGION) - shares_in_arrears(
        panel, region != STRESS_REGION
    )
    peak = int(np.argmax(gap))
    assert gap[peak] >= 0.03
    assert 12 <= peak <= 36  # the stress starts 45% into the period and lasts 8 months
    assert gap[-6:].mean() < gap[peak] - 0.03


def test_about_a_third_of_arrears_are_on_an_arrangement(portfolio, panel):
    assert 0.15 <= arranged_share_of_arrears(portfolio, panel) <= 0.45


def test_write_offs_are_one_to_four_percent_of_billed_every_year(portfolio):
    bills, adjustments = portfolio["bills"], portfolio["adjustments"]
    billed = bills.groupby(bills["bill_period_end"].str[:4])["bill_amount"].sum()
    write_offs = adjustments[adjustments["kind"] == "write_off"]
    written = write_offs.groupby(write_offs["adjustment_date"].str[:4])["amount"].sum()
    share = written.reindex(billed.index, fill_value=0) / billed
    assert share.between(0.01, 0.04).all(), share


def test_write_offs_clear_the_balance_within_the_policy(portfolio, ledger):
    write_offs = portfolio["adjustments"][portfolio["adjustments"]["kind"] == "write_off"]
    customer = customer_numbers(portfolio, "adjustments")[write_offs.index]
    day = days(write_offs["adjustment_date"])
    assert (ledger.balance(customer, day) == 0).all()
    last_due = pd.to_datetime(portfolio["bills"].groupby("customer_id")["due_date"].max())
    last_due = last_due.reindex(write_offs["customer_id"], fill_value=pd.Timestamp(FIRST_DAY))
    after_last = pd.to_datetime(write_offs["adjustment_date"]).to_numpy() - last_due.to_numpy()
    assert (after_last <= pd.Timedelta(days=31 * (POLICY_MONTHS + 1))).all()


def test_aged_debt_is_not_mostly_very_old(portfolio, ledger, panel):
    last_end = int(panel["ends"][-1])
    dpd = account_days_past_due(portfolio, ledger, last_end)
    arrears = panel["arrears"][:, -1]
    assert arrears[dpd > 90].sum() <= 0.6 * arrears.sum()
    assert dpd.max() <= 31 * (POLICY_MONTHS + 6)
    owing = arrears > 0
    average = panel["arrears"].sum(axis=0) / (panel["arrears"] > 0).sum(axis=0)
    assert average.max() <= 1.6 * average.min()  # no balance that grows and grows
    assert owing.sum() > 0


def test_default_rate_is_plausible_and_falls_with_income(defaults):
    mature = defaults[defaults["mature"]]
    assert 0.02 <= mature["default"].mean() <= 0.08
    by_income = mature.groupby("income_band")["default"].mean()[list(vocab.INCOME_BANDS)]
    assert by_income.is_monotonic_decreasing
    assert by_income.iloc[0] >= 2 * by_income.iloc[-1]


def test_direct_debit_payers_pay_by_direct_debit(portfolio):
    payments = portfolio["payments"].merge(portfolio["customers"], on="customer_id")
    by_dd = payments.groupby("prefers_direct_debit")["method"].apply(
        lambda m: (m == "Direct Debit").mean()
    )
    assert by_dd[1] >= 0.8
    assert by_dd[0] <= 0.05
    dd = payments[payments["prefers_direct_debit"] == 1]
    on_due_day = pd.to_datetime(dd["payment_date"]).dt.day == 14
    assert on_due_day.mean() >= 0.8


def test_payments_fall_in_a_sensible_range(portfolio):
    bills, payments = portfolio["bills"], portfolio["payments"]
    start = pd.Timestamp(FIRST_DAY)  # accounts closed before: no bill, an opening transfer
    customers = portfolio["customers"]["customer_id"]
    due = bills.groupby("customer_id")["due_date"]
    last_due = pd.to_datetime(due.max()).reindex(customers, fill_value=start)
    first_due = pd.to_datetime(due.min()).reindex(customers, fill_value=start)
    paid_on = pd.to_datetime(payments["payment_date"])
    customer = payments["customer_id"]
    after_last = paid_on.to_numpy() - last_due[customer].to_numpy()
    assert (after_last <= pd.Timedelta(days=31 * POLICY_MONTHS)).all()  # agency recoveries
    assert (after_last <= pd.Timedelta(days=31)).mean() >= 0.99
    assert (paid_on.to_numpy() >= (first_due[customer] - pd.Timedelta(days=3)).to_numpy()).all()
    assert len(payments) >= 0.85 * len(bills)


def test_actions_happen_only_to_customers_in_arrears(portfolio, ledger):
    actions = portfolio["collections_actions"]
    balance = ledger.balance(
        customer_numbers(portfolio, "collections_actions"), days(actions["action_date"])
    )
    assert (balance > TOLERANCE_PENCE).all()


def test_actions_follow_the_collections_timetable(portfolio):
    actions = portfolio["collections_actions"].assign(
        day=lambda a: pd.to_datetime(a["action_date"])
    )
    reminders = actions[actions["action"].isin(["Reminder Sent", vocab.HELD_OUT])]
    assert reminders["day"].dt.day.between(21, 28).all()  # due on the 14th, + 7..14 days
    seconds = actions[actions["action"] == "Second Reminder"]
    sent = actions[actions["action"] == "Reminder Sent"]
    reminded = set(zip(sent["customer_id"], sent["day"], strict=True))
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


def test_customers_join_steadily_and_leave(portfolio, panel):
    bills = portfolio["bills"]
    first = bills.groupby("customer_id")["bill_period_end"].min()
    last = bills.groupby("customer_id")["bill_period_end"].max()
    assert (first > "2022-03-31").mean() >= 0.25
    assert (last < "2025-12-31").mean() >= 0.2
    joiners = portfolio["customers"].set_index("customer_id").loc[first[first > "2022-01-31"].index]
    assert (joiners["tenure_band"] == "<1y").all()
    quarter = panel["months"] // 3
    for q in np.unique(quarter)[1:]:
        inside = np.flatnonzero(quarter == q)
        new = np.isin(panel["first"], panel["months"][inside]).sum()
        assert new >= 0.03 * panel["on_book"][:, inside[0] - 1].sum(), q
    vintages = pd.Series(panel["first"][~np.isnan(panel["first"])] // 3).value_counts()
    assert vintages.min() >= 0.01 * len(portfolio["customers"])
    assert vintages.max() <= 0.7 * len(portfolio["customers"])


def test_a_tenth_of_first_reminders_are_held_out_and_reminders_work(portfolio, ledger):
    actions = portfolio["collections_actions"]
    customer = customer_numbers(portfolio, "collections_actions")
    day = days(actions["action_date"])
    as_of = days(portfolio["payments"]["payment_date"]).max()
    rates = {}
    for action in ("Reminder Sent", vocab.HELD_OUT):
        rows = (actions["action"] == action).to_numpy() & (day + 30 <= as_of)
        arrears = ledger.balance(customer[rows], day[rows])
        paid = ledger.paid(customer[rows], day[rows], day[rows] + 30)
        success = paid >= np.minimum(1000, arrears)
        rates[action] = (success.mean(), rows.sum())
    (reminded, n1), (held, n0) = rates["Reminder Sent"], rates[vocab.HELD_OUT]
    assert abs(n0 / (n0 + n1) - HOLDOUT_SHARE) <= 0.02
    error = 1.96 * np.sqrt(reminded * (1 - reminded) / n1 + held * (1 - held) / n0)
    assert abs(reminded - held - TRUE_REMINDER_EFFECT) <= error


def test_kept_arrangements_pay_arrears_down_and_broken_ones_stop_paying(portfolio, ledger):
    actions = portfolio["collections_actions"]
    customer = customer_numbers(portfolio, "collections_actions")
    day = days(actions["action_date"])
    as_of = days(portfolio["payments"]["payment_date"]).max()
    agreed = (actions["action"] == "Arrangement Agreed").to_numpy() & (day + 90 <= as_of)
    broken = (actions["action"] == "Arrangement Broken").to_numpy()
    breaks = Running(customer[broken], day[broken], np.ones(broken.sum(), dtype=np.int64))
    c, d = customer[agreed], day[agreed]
    kept = breaks.upto(c, d + 90) == breaks.upto(c, d)
    assert kept.mean() >= 0.5
    owing_less = ledger.balance(c[kept], d[kept] + 90) < ledger.balance(c[kept], d[kept])
    assert owing_less.mean() >= 0.7
    c, d = customer[broken], day[broken]
    assert (ledger.paid(c, d - 10, d) == 0).mean() >= 0.9
