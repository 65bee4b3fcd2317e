"""The default metric, arrangements and the cube against brute-force computations."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard import compute
from dashboard.cube.pipeline import build_cube
from dashboard.query import bills as bill_queries
from dashboard.query import selection
from dashboard.schema import tables_from_frames, validate

DAY0 = dt.date(2023, 1, 1)


def random_tables(rng: np.random.Generator, n_customers: int = 6, n_months: int = 8) -> dict:
    """Small random portfolio with the file columns (money as pounds, dates as text)."""
    ids = [f"C{100000 + i}" for i in range(n_customers)]
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "region": rng.choice(["Reading", "Oxford", "Slough"], n_customers),
            "income_band": rng.choice(["<£15k", "£50k+"], n_customers),
            "tariff": rng.choice(["Metered", "Standard"], n_customers),
            "has_meter": rng.integers(0, 2, n_customers),
            "is_vulnerable": rng.integers(0, 2, n_customers),
            "prefers_direct_debit": rng.integers(0, 2, n_customers),
            "tenure_band": rng.choice(["<1y", "5+y"], n_customers),
        }
    )
    period_ends = pd.date_range("2023-01-31", periods=n_months, freq="ME")
    bill_rows = [
        (cid, end) for cid in ids for end in period_ends if rng.random() < 0.85
    ]  # some customers join late / leave early
    bills = pd.DataFrame(bill_rows, columns=["customer_id", "bill_period_end"])
    bills["bill_amount"] = rng.integers(500, 6000, len(bills)) / 100
    bills["usage_m3"] = 10.0
    bills["due_date"] = bills["bill_period_end"] + pd.Timedelta(days=14)
    n_pay = 4 * len(bills)
    payments = pd.DataFrame(
        {
            "customer_id": rng.choice(ids, n_pay),
            "payment_date": pd.Timestamp(DAY0) + pd.to_timedelta(rng.integers(0, 330, n_pay), "D"),
            "amount": rng.integers(1, 4000, n_pay) / 100,
            "method": "Card",
        }
    )
    actions = pd.DataFrame(
        {
            "customer_id": rng.choice(ids, 30),
            "action_date": pd.Timestamp(DAY0) + pd.to_timedelta(rng.integers(0, 330, 30), "D"),
            "action": rng.choice(["Arrangement Agreed", "Arrangement Broken", "Reminder Sent"], 30),
        }
    )
    for frame, columns in (
        (bills, ["bill_period_end", "due_date"]),
        (payments, ["payment_date"]),
        (actions, ["action_date"]),
    ):
        for column in columns:
            frame[column] = frame[column].dt.strftime("%Y-%m-%d")
    return {
        "customers": customers,
        "bills": bills,
        "payments": payments,
        "collections_actions": actions,
    }


def brute_force_outcome(bill, payments, window: compute.Window, as_of: pd.Timestamp):
    """One bill, one payment at a time: the definition read literally."""
    due = pd.Timestamp(bill.due_date)
    opens = due - pd.Timedelta(days=window.before)
    closes = min(due + pd.Timedelta(days=window.after), as_of)
    paid = 0
    for payment in payments.itertuples():
        if payment.customer_id != bill.customer_id:
            continue
        when = pd.Timestamp(payment.payment_date)
        if opens < when <= closes:
            paid += round(float(payment.amount) * 100)
    bill_pence = round(float(bill.bill_amount) * 100)
    return (
        paid,
        paid < bill_pence - window.tolerance_pence,
        due + pd.Timedelta(days=window.after) <= as_of,
    )


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    before=st.integers(0, 10),
    after=st.integers(0, 90),
    tolerance=st.integers(0, 500),
    as_of_offset=st.one_of(st.none(), st.integers(-200, 60)),
)
def test_bill_outcomes_match_brute_force(seed, before, after, tolerance, as_of_offset):
    rng = np.random.default_rng(seed)
    raw = random_tables(rng, n_customers=4, n_months=5)
    portfolio = validate(tables_from_frames(raw))
    window = compute.Window(before, after, tolerance)
    latest = compute.latest_payment_date(portfolio.payments)
    as_of = None if as_of_offset is None else latest + pd.Timedelta(days=as_of_offset)
    got = compute.bill_outcomes(portfolio.bills, portfolio.payments, window, as_of)
    expected = [
        brute_force_outcome(bill, raw["payments"], window, latest if as_of is None else as_of)
        for bill in raw["bills"].itertuples()
    ]
    assert got["paid_in_window_pence"].tolist() == [e[0] for e in expected]
    assert got["is_default"].tolist() == [e[1] for e in expected]
    assert got["is_mature"].tolist() == [e[2] for e in expected]


def test_boundaries_are_exact_in_pence():
    """Payments exactly on the window edges, and a shortfall exactly at the tolerance."""
    raw = random_tables(np.random.default_rng(1), n_customers=1, n_months=1)
    raw["bills"] = pd.DataFrame(
        {
            "customer_id": ["C100000"] * 3,
            "bill_period_end": ["2023-01-31", "2023-02-28", "2023-03-31"],
            "bill_amount": [10.10, 10.10, 0.30],
            "usage_m3": [1.0, 1.0, 1.0],
            "due_date": ["2023-02-14", "2023-03-14", "2023-04-14"],
        }
    )
    raw["payments"] = pd.DataFrame(
        {
            "customer_id": ["C100000"] * 4,
            # 2023-02-11 is due-3 (excluded); 2023-04-15 is due+60 of the first bill.
            "payment_date": ["2023-02-11", "2023-04-15", "2023-03-12", "2023-09-30"],
            "amount": [5.00, 9.10, 0.0, 1.0],
            "method": ["Card"] * 4,
        }
    )
    portfolio = validate(tables_from_frames(raw))
    got = compute.bill_outcomes(portfolio.bills, portfolio.payments)
    # bill 1: window (02-11, 04-15] holds 9.10 and 0.00 -> 10.10 - 9.10 = exactly £1.00 short.
    assert got["paid_in_window_pence"].tolist()[0] == 910
    assert not got["is_default"].iloc[0]  # short by the tolerance, not more
    # 0.1 + 0.2 style float sums must not flip the third bill (30p, nothing paid, tol 100p)
    assert not got["is_default"].iloc[2]
    strict = compute.bill_outcomes(portfolio.bills, portfolio.payments, compute.Window(3, 60, 99))
    assert strict["is_default"].iloc[0]


def test_arrangement_outcomes_match_brute_force():
    rng = np.random.default_rng(7)
    raw = random_tables(rng, n_customers=5, n_months=6)
    portfolio = validate(tables_from_frames(raw))
    as_of = pd.Timestamp("2023-10-01")
    got = compute.arrangement_outcomes(portfolio.actions, as_of)
    actions = portfolio.actions.astype({"customer_id": str, "action": str})
    assert len(actions) == len(raw["collections_actions"])
    for index, row in actions.loc[actions["action"] == "Arrangement Agreed"].iterrows():
        agreed = pd.Timestamp(row.action_date)
        decided = agreed + pd.Timedelta(days=90) <= as_of
        broken = any(
            other.customer_id == row.customer_id
            and other.action == "Arrangement Broken"
            and agreed < pd.Timestamp(other.action_date) <= agreed + pd.Timedelta(days=90)
            for other in actions.itertuples()
        )
        assert got.loc[index, "is_decided"] == decided
        assert got.loc[index, "is_kept"] == (decided and not broken)


@pytest.mark.parametrize("include_immature", [False, True])
@pytest.mark.parametrize(
    "filters, start, end",
    [
        ({}, None, None),
        ({"region": ["Reading", "Oxford"]}, "2023-02-01", None),
        ({"income_band": ["<£15k"], "is_vulnerable": [1]}, None, "2023-05-01"),
        ({"tariff": ["Standard"], "tenure_band": ["5+y"]}, "2023-03-01", "2023-06-01"),
    ],
)
def test_cube_aggregates_match_direct_pandas(filters, start, end, include_immature):
    raw = random_tables(np.random.default_rng(3), n_customers=40, n_months=8)
    portfolio = validate(tables_from_frames(raw))
    window = compute.Window(3, 30, 100)
    cube = build_cube(portfolio, window)
    segments = selection.segment_selection(cube, filters)
    start = None if start is None else pd.Timestamp(start)
    end = None if end is None else pd.Timestamp(end)

    outcomes = compute.bill_outcomes(portfolio.bills, portfolio.payments, window)
    bills = (
        portfolio.bills.join(outcomes)
        .assign(customer_id=lambda frame: frame["customer_id"].astype(str))
        .merge(portfolio.customers, on="customer_id")
    )
    bills["month"] = bills["bill_period_end"].dt.to_period("M").dt.to_timestamp()
    keep = pd.Series(True, index=bills.index)
    for dim, values in filters.items():
        keep &= bills[dim].isin(values)
    if start is not None:
        keep &= bills["month"] >= start
    if end is not None:
        keep &= bills["month"] <= end
    chosen = bills.loc[keep]
    counted = chosen if include_immature else chosen.loc[chosen["is_mature"]]

    got = bill_queries.aggregate_bills(cube, segments, start, end, ["region"], include_immature)
    expected = counted.groupby("region", observed=True).agg(
        counted_bills=("is_default", "size"), counted_defaults=("is_default", "sum")
    )
    got_rates = got.set_index("region").loc[expected.index]
    assert got_rates["counted_bills"].tolist() == expected["counted_bills"].tolist()
    assert got_rates["counted_defaults"].tolist() == expected["counted_defaults"].tolist()

    total = bill_queries.aggregate_bills(cube, segments, start, end, (), include_immature).iloc[0]
    assert total["billed_pence"] == chosen["bill_pence"].sum()
    assert total["paid_pence"] == chosen["paid_in_window_pence"].sum()
    capped = np.minimum(counted["paid_in_window_pence"], counted["bill_pence"]).sum()
    if len(counted):
        assert total["collection_rate"] == pytest.approx(capped / counted["bill_pence"].sum())
    else:
        assert np.isnan(total["collection_rate"])

    with_bill, with_default = bill_queries.customers_with_default(
        cube, segments, start, end, include_immature
    )
    assert with_bill == counted["customer_id"].nunique()
    assert with_default == counted.loc[counted["is_default"], "customer_id"].nunique()

    by_region = bill_queries.customers_by(cube, segments, start, end, "region", include_immature)
    by_region = by_region.set_index("region")
    for region, rows in counted.groupby("region", observed=True):
        assert by_region.loc[region, "customers"] == rows["customer_id"].nunique()
        defaulted = rows.loc[rows["is_default"], "customer_id"].nunique()
        assert by_region.loc[region, "customers_with_default"] == defaulted
    assert by_region["customers"].sum() == with_bill


def test_monthly_lists_every_month_even_without_bills():
    raw = random_tables(np.random.default_rng(5), n_customers=3, n_months=6)
    raw["bills"] = raw["bills"].loc[~raw["bills"]["bill_period_end"].str.startswith("2023-03")]
    portfolio = validate(tables_from_frames(raw))
    cube = build_cube(portfolio)
    monthly = bill_queries.aggregate_bills(cube, selection.segment_selection(cube), by=["month"])
    # from the first bill's month to the as-of month (the latest payment's)
    months = pd.date_range("2023-01-01", cube.as_of.to_period("M").start_time, freq="MS")
    assert monthly["month"].tolist() == list(months)
    march = monthly.loc[monthly["month"] == pd.Timestamp("2023-03-01")].iloc[0]
    assert march["bills"] == 0 and np.isnan(march["default_rate"])
