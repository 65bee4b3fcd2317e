"""The ledger and its aggregates against deliberately naive brute force.

Everything here is recomputed the slow, literal way (plain Python loops over each customer's
bills and payments, in :mod:`oracles.ledger`, or plain pandas sums) and compared with the
vectorised code:

* :func:`dashboard.compute.ledger.month_end_ledger` (oldest-first allocation, days past due);
* the ledger identity and :class:`dashboard.compute.ledger.Buckets`;
* the cube's ageing totals on the demo and reference data;
* roll/cure transitions, arrears-entry cohorts and vintage curves
  (:func:`dashboard.cube.ledger.build_arrears`);
* :func:`dashboard.compute.ledger.action_outcomes`;
* the worklist.

Definitions are those of the module docstrings of :mod:`dashboard.compute` and
:mod:`dashboard.query.ledger`. Day numbers are days since 1970-01-01; money is integer pence.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from oracles.ledger import (
    DAY_BASE,
    EPOCH,
    Book,
    Case,
    Rows,
    brute_action_outcome,
    brute_as_of,
    brute_book,
    brute_bucket,
    brute_ledger_arrays,
    brute_snapshots,
    cases,
    check_worklist,
    customer_segments,
    day_number,
    expected_ageing,
    expected_bill_ageing,
    expected_entries,
    expected_movement,
    expected_transitions,
    expected_vintage,
    first_default_months,
    ledger_from_rows,
    minimal_frames,
    month_number,
    table_cells,
)
from oracles.same import assert_same

from dashboard import compute
from dashboard.compute import partition
from dashboard.cube import ledger as build_ledger
from dashboard.cube.pipeline import build_cube, known_on
from dashboard.cube.tables import ArrearsTables, Cube
from dashboard.loader import load_portfolio
from dashboard.query import ledger
from dashboard.schema import Portfolio, tables_from_frames, validate
from dashboard.sources import DEFAULT_SOURCE

CUBE_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
"""Random-cube tests: examples come from a seed, which shrinks to nothing simpler, so the
shrink phase (tens of seconds per failing test) is skipped."""


# --- the demo set, built once -------------------------------------------------------------


@dataclass
class Demo:
    """The committed demo set, its default cube, its rows and its naive book."""

    portfolio: Portfolio
    cube: Cube
    rows: Rows
    book: Book


@pytest.fixture(scope="module")
def demo() -> Demo:
    """:class:`Demo` of ``data/`` (the naive book takes a few seconds: built once)."""
    portfolio = load_portfolio(DEFAULT_SOURCE)
    cube = build_cube(portfolio)
    rows = Rows.of(portfolio, cube.as_of)
    return Demo(portfolio, cube, rows, brute_book(rows, cube.as_of, cube.arrears.buckets.edges))


# === 1. allocation ========================================================================


@st.composite
def ledger_inputs(draw):
    """(customers, bills, payments, snapshots) with bills and payments as (customer, day,
    pence) rows in any order: zero bills, shared due dates, early payments, overpayments."""
    n = draw(st.integers(1, 4))
    customer = st.integers(0, n - 1)
    due = st.one_of(st.integers(0, 60), st.sampled_from([10, 20]))
    bill = st.tuples(
        customer,
        due.map(lambda d: DAY_BASE + d),
        st.sampled_from([0, 0, 700]) | st.integers(1, 5000),
    )
    payment = st.tuples(
        customer,
        st.integers(-20, 80).map(lambda d: DAY_BASE + d),
        st.integers(0, 12_000) | st.sampled_from([0, 700, 1400]),
    )
    adjustment = st.tuples(
        customer,
        st.integers(-20, 80).map(lambda d: DAY_BASE + d),
        st.integers(-6000, 6000) | st.sampled_from([-700, 700]),
        st.integers(0, 1),
    ).map(lambda a: (*a[:3], int(a[3] and a[2] < 0)))  # only a reduction is a write-off
    bills = draw(st.lists(bill, max_size=12))
    payments = draw(st.lists(payment, max_size=12))
    adjustments = draw(st.lists(adjustment, max_size=6))
    snaps = sorted(draw(st.sets(st.integers(-25, 90), min_size=1, max_size=6)))
    return n, bills, payments, [DAY_BASE + s for s in snaps], adjustments


@settings(max_examples=300, deadline=None)
@given(ledger_inputs())
def test_month_end_ledger_matches_brute_force(inputs):
    """Balances and days past due, with and without adjustments (write-offs and credits
    cover the oldest debit like cash; a rebill is a debit that ages from its date)."""
    n, bills, payments, snaps, adjustments = inputs
    for adjusted in ((), adjustments):
        got = ledger_from_rows(n, bills, payments, snaps, adjusted)
        expected = brute_ledger_arrays(n, bills, payments, snaps, adjusted)
        np.testing.assert_array_equal(got.days_past_due, expected[..., 0])
        np.testing.assert_array_equal(got.billed_pence, expected[..., 1])
        np.testing.assert_array_equal(got.paid_pence, expected[..., 2])
        np.testing.assert_array_equal(got.adjusted_pence, expected[..., 3])
        np.testing.assert_array_equal(got.written_off_pence, expected[..., 4])
        balance = expected[..., 1] - expected[..., 2] + expected[..., 3]
        np.testing.assert_array_equal(got.arrears_pence, np.maximum(balance, 0))
        np.testing.assert_array_equal(got.credit_pence, np.maximum(-balance, 0))


D = DAY_BASE  # short, for the hand-written cases below


@pytest.mark.parametrize(
    "bills, payments, snaps, expected",
    [
        pytest.param(
            [(0, D + 10, 1000)],
            [],
            [D + 10, D + 11, D + 40],
            [[(0, 0, 0), (1, 1000, 0), (30, 1000, 0)]],
            id="in-arrears-the-day-after-due",
        ),
        pytest.param(
            [(0, D + 10, 1000), (0, D + 40, 1000)],
            [(0, D - 5, 1500)],
            [D + 5, D + 50],
            [[(0, 0, 1500), (10, 2000, 1500)]],
            id="payment-before-any-bill-covers-the-oldest",
        ),
        pytest.param(
            [(0, D + 40, 1000), (0, D + 10, 1000)],
            [(0, D + 11, 1000)],
            [D + 60],
            [[(20, 2000, 1000)]],
            id="exact-cover-of-the-oldest-input-unsorted",
        ),
        pytest.param(
            [(0, D + 10, 1000)],
            [(0, D + 12, 3000)],
            [D + 20],
            [[(0, 1000, 3000)]],
            id="overpayment-is-credit",
        ),
        pytest.param(
            [(0, D + 5, 0), (0, D + 5, 500)],
            [],
            [D + 6],
            [[(1, 500, 0)]],
            id="zero-bill-and-bill-due-the-same-day",
        ),
        pytest.param([(0, D + 5, 0)], [], [D + 30], [[(0, 0, 0)]], id="zero-bill-is-never-owed"),
        pytest.param(
            [(0, D + 10, 1000)],
            [(0, D + 20, 1000)],
            [D + 19, D + 20],
            [[(9, 1000, 0), (0, 1000, 1000)]],
            id="payment-on-the-snapshot-day-counts",
        ),
        pytest.param(
            [(1, D + 10, 800)],
            [(0, D + 1, 5000)],
            [D + 15],
            [[(0, 0, 5000)], [(5, 800, 0)]],
            id="one-customers-payment-never-covers-another",
        ),
        pytest.param(
            [(0, D + 10, 300), (0, D + 20, 300), (0, D + 30, 300)],
            [(0, D + 25, 200), (0, D + 26, 200)],
            [D + 25, D + 26, D + 31],
            [[(15, 600, 200), (6, 600, 400), (11, 900, 400)]],
            id="partial-payments-move-the-oldest-forward",
        ),
    ],
)
def test_month_end_ledger_known_cases(bills, payments, snaps, expected):
    got = ledger_from_rows(len(expected), bills, payments, snaps)
    got_triples = np.stack([got.days_past_due, got.billed_pence, got.paid_pence], axis=-1)
    assert got_triples.tolist() == [[list(t) for t in row] for row in expected]


# === 2. ledger identity and buckets =======================================================


def assert_ledger_identity(ledger: compute.Ledger) -> None:
    """arrears - credit == billed - paid + adjusted; both >= 0, never both positive; days
    past due > 0 exactly when in arrears."""
    owed, credit = ledger.arrears_pence, ledger.credit_pence
    balance = ledger.billed_pence - ledger.paid_pence + ledger.adjusted_pence
    np.testing.assert_array_equal(owed - credit, balance)
    assert (owed >= 0).all() and (credit >= 0).all()
    assert not ((owed > 0) & (credit > 0)).any()
    np.testing.assert_array_equal(ledger.days_past_due > 0, owed > 0)
    assert (ledger.days_past_due >= 0).all()


@settings(max_examples=150, deadline=None)
@given(ledger_inputs())
def test_ledger_identity_on_random_rows(inputs):
    assert_ledger_identity(ledger_from_rows(*inputs))


def test_ledger_identity_on_demo_data(demo):
    portfolio, cube = demo.portfolio, demo.cube
    bills, payments = portfolio.bills, portfolio.payments
    ledger = compute.month_end_ledger(
        bills["customer_id"].cat.codes.to_numpy(np.int64),
        compute.day_numbers(bills["due_date"]),
        bills["bill_pence"].to_numpy(np.int64),
        payments["customer_id"].cat.codes.to_numpy(np.int64),
        compute.day_numbers(payments["payment_date"]),
        payments["amount_pence"].to_numpy(np.int64),
        len(portfolio.customers),
        cube.arrears.snapshot_days,
    )
    assert ledger.billed_pence.shape == (len(portfolio.customers), len(cube.arrears.snapshot_days))
    assert_ledger_identity(ledger)
    assert (ledger.arrears_pence > 0).any()


@pytest.mark.parametrize(
    "edges, labels",
    [
        ((30, 60, 90), ("Current", "1–30", "31–60", "61–90", "91+")),
        ((14, 28), ("Current", "1–14", "15–28", "29+")),
        ((30,), ("Current", "1–30", "31+")),
        ((1, 2, 365), ("Current", "1–1", "2–2", "3–365", "366+")),
    ],
)
def test_buckets_of_walks_the_edges(edges, labels):
    buckets = compute.Buckets(edges)
    days = np.arange(0, 800)
    expected = [brute_bucket(int(d), edges) for d in days]
    assert buckets.of(days).tolist() == expected
    assert buckets.of(days).dtype == np.int8
    assert buckets.labels == labels
    assert buckets.entry == 2  # the first bucket past the first edge, with one edge too
    assert labels[buckets.entry].startswith(f"{edges[0] + 1}")


def test_buckets_default_boundaries():
    days = [0, 1, 30, 31, 60, 61, 90, 91, 5000]
    expected = [0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert compute.Buckets().of(np.array(days)).tolist() == expected
    assert compute.Buckets.parse(" 14, 28 ,") == compute.Buckets((14, 28))
    assert compute.Buckets.parse("30,60,90") == compute.Buckets()


@pytest.mark.parametrize(
    "text", ["", " , ", "abc", "30,abc", "60,30", "30,30", "0,30", "-5", "1.5"]
)
def test_buckets_parse_refuses_bad_text(text):
    with pytest.raises(ValueError, match="bucket edges"):
        compute.Buckets.parse(text)


# === 3. ageing totals on the demo and reference data ======================================


def pandas_month_end_totals(
    portfolio: Portfolio, snaps: np.ndarray, months: pd.DatetimeIndex, as_of: pd.Timestamp
):
    """Per snapshot: (customers on book, on-book balance, all customers' balance, on-book
    billed, on-book paid), from the typed tables with plain pandas (balance = billed - paid
    + adjustments; only bills issued by as-of)."""
    bills, payments = portfolio.bills, portfolio.payments
    bills = bills.loc[bills["bill_period_end"] <= as_of]
    adjustments = portfolio.adjustments
    ids = portfolio.customers["customer_id"]
    bill_month = bills["bill_period_end"].dt.to_period("M")
    first = bill_month.groupby(bills["customer_id"], observed=False).min().reindex(ids)
    last = bill_month.groupby(bills["customer_id"], observed=False).max().reindex(ids)
    rows = []
    for snap, month in zip(snaps, months, strict=False):
        day = pd.Timestamp(EPOCH) + pd.Timedelta(days=int(snap))
        billed = (
            bills.loc[bills["due_date"] < day]
            .groupby("customer_id", observed=False)["bill_pence"]
            .sum()
            .reindex(ids, fill_value=0)
        )
        paid = (
            payments.loc[payments["payment_date"] <= day]
            .groupby("customer_id", observed=False)["amount_pence"]
            .sum()
            .reindex(ids, fill_value=0)
        )
        adjusted = (
            adjustments.loc[adjustments["adjustment_date"] <= day]
            .groupby("customer_id", observed=False)["balance_pence"]
            .sum()
            .reindex(ids, fill_value=0)
        )
        balance = billed - paid + adjusted
        period = month.to_period("M")
        started = first.notna() & (first <= period)
        still_billed = last == last.max()  # billed in the book's last month: no end yet
        on_book = (started & ((last >= period) | still_billed)) | (balance != 0)
        rows.append(
            (
                int(on_book.sum()),
                int(balance[on_book].sum()),
                int(balance.sum()),
                int(billed[on_book].sum()),
                int(paid[on_book].sum()),
            )
        )
    return rows


def check_ageing_totals(portfolio: Portfolio, cube) -> None:
    """Ageing summed over segments and buckets == pandas totals, for every month-end."""
    tables = cube.arrears
    first = month_number(cube.months[0])
    expected_snaps = brute_snapshots(first, month_number(cube.months[-1]), cube.as_of)
    assert tables.snapshot_days.tolist() == expected_snaps
    totals = tables.ageing.sum(axis=(1, 2))  # (months, measures)
    measures = dict(zip(partition.AGEING_MEASURES, totals.T, strict=True))
    expected = pandas_month_end_totals(portfolio, tables.snapshot_days, cube.months, cube.as_of)
    for j, (customers, net, net_all, billed, paid) in enumerate(expected):
        month = cube.months[j].strftime("%Y-%m")
        assert measures["customers"][j] == customers, month
        assert measures["arrears_pence"][j] - measures["credit_pence"][j] == net, month
        assert net_all == net, f"{month}: an off-book customer holds a balance"
        assert measures["billed_pence"][j] == billed, month
        assert measures["paid_pence"][j] == paid, month


def test_ageing_totals_on_demo_data(demo):
    check_ageing_totals(demo.portfolio, demo.cube)


def test_ageing_totals_on_reference_data(seed_dir):
    portfolio = load_portfolio(seed_dir)
    check_ageing_totals(portfolio, build_cube(portfolio))


def test_ageing_transitions_and_cohorts_on_demo_data(demo):
    """Every ageing, transition, entry and vintage cell of the demo cube vs the naive book."""
    cube, book = demo.cube, demo.book
    segment, n_seg = customer_segments(demo.portfolio), len(cube.segments)
    n_b = len(cube.arrears.bucket_labels)
    assert cube.arrears.snapshot_days.tolist() == book.snaps
    np.testing.assert_array_equal(cube.arrears.ageing, expected_ageing(book, segment, n_seg, n_b))
    np.testing.assert_array_equal(
        cube.arrears.transitions, expected_transitions(book, segment, n_seg, n_b)
    )
    entries = expected_entries(book, segment, n_seg, cube.arrears.buckets.entry)
    assert table_cells(cube.arrears.entries, partition.ENTRY_MEASURES) == entries
    vintage = expected_vintage(book, segment, first_default_months(demo.portfolio, cube))
    got = table_cells(cube.arrears.vintage, partition.VINTAGE_MEASURES)
    assert {index: list(cell.values()) for index, cell in got.items()} == vintage


# === 4-5. random cubes: ageing, transitions, entry cohorts, vintage =====================


def case_book(case: Case, cube) -> Book:
    """The naive book of a random case, checking the cube's as-of and snapshot days."""
    as_of = brute_as_of(case.portfolio, case.as_of)
    assert cube.as_of == as_of
    book = brute_book(Rows.of(case.portfolio, as_of), as_of, case.buckets.edges)
    assert cube.arrears.snapshot_days.tolist() == book.snaps
    assert month_number(cube.months[0]) == book.first_month
    return book


@CUBE_SETTINGS
@given(cases())
def test_ageing_matches_brute_force(case):
    cube = case.cube()
    book = case_book(case, cube)
    n_seg, n_b = len(cube.segments), len(case.buckets.labels)
    np.testing.assert_array_equal(
        cube.arrears.ageing, expected_ageing(book, customer_segments(case.portfolio), n_seg, n_b)
    )


@CUBE_SETTINGS
@given(cases())
def test_movement_matches_brute_force_and_balances(case):
    """Each month's movement equals the per-customer differences of the naive book, and
    closing arrears - credit = opening arrears - credit + due - cash - written off + other."""
    cube = case.cube()
    book = case_book(case, cube)
    movement = cube.arrears.movement
    expected = expected_movement(book, customer_segments(case.portfolio), len(cube.segments))
    np.testing.assert_array_equal(movement, expected)
    check_movement_identity(movement)


def check_movement_identity(movement: np.ndarray) -> None:
    """The identity per (month, segment), and each month opens where the last one closed."""
    m = dict(zip(partition.MOVEMENT_MEASURES, np.moveaxis(movement, -1, 0), strict=True))
    opening = m["opening_arrears_pence"] - m["opening_credit_pence"]
    closing = m["arrears_pence"] - m["credit_pence"]
    flows = m["due_pence"] - m["cash_pence"] - m["written_off_pence"]
    np.testing.assert_array_equal(closing, opening + flows + m["other_adjustments_pence"])
    np.testing.assert_array_equal(m["opening_arrears_pence"][1:], m["arrears_pence"][:-1])
    np.testing.assert_array_equal(m["opening_credit_pence"][1:], m["credit_pence"][:-1])


def test_movement_identity_on_demo_and_reference_data(demo, seed_dir):
    check_movement_identity(demo.cube.arrears.movement)
    check_movement_identity(build_cube(load_portfolio(seed_dir)).arrears.movement)


@CUBE_SETTINGS
@given(cases())
def test_transitions_match_brute_force(case):
    cube = case.cube()
    book = case_book(case, cube)
    n_seg, n_b = len(cube.segments), len(case.buckets.labels)
    expected = expected_transitions(book, customer_segments(case.portfolio), n_seg, n_b)
    np.testing.assert_array_equal(cube.arrears.transitions.sum(axis=1), expected.sum(axis=1))
    np.testing.assert_array_equal(cube.arrears.transitions, expected)

    everyone = np.ones(n_seg, dtype=bool)
    matrix = ledger.transition_matrix(cube, everyone)
    moves = expected[1:].sum(axis=(0, 1))  # (from, to, 2)
    assert matrix["customers"].tolist() == moves[..., 0].ravel().tolist()
    assert matrix["arrears"].tolist() == pytest.approx((moves[..., 1] / 100).ravel().tolist())
    for share, column in (("customer_share", 0), ("arrears_share", 1)):
        rows = matrix.groupby("from_bucket", observed=False)[share]
        for number, (_, values) in enumerate(rows):
            if moves[number, :, column].sum() > 0:
                assert values.sum() == pytest.approx(1.0)
            else:
                assert values.isna().all()

    rates = ledger.roll_rates(cube, everyone)
    for row in rates.itertuples():
        j = cube.months.get_loc(row.month)
        counts = expected[j, ..., 0].sum(axis=0)
        before = counts[1:].sum()
        assert row.in_arrears_before == before
        if before:
            assert row.cure_rate == pytest.approx(counts[1:, 0].sum() / before)
        if counts[0].sum():
            assert row.roll_current == pytest.approx(counts[0, 1] / counts[0].sum())


@CUBE_SETTINGS
@given(cases())
def test_entry_cohorts_match_brute_force(case):
    cube = case.cube()
    book = case_book(case, cube)
    expected = expected_entries(
        book, customer_segments(case.portfolio), len(cube.segments), case.buckets.entry
    )
    assert table_cells(cube.arrears.entries, partition.ENTRY_MEASURES) == expected


def test_entry_cohort_known_case():
    """31-60 days past due at the end of March; 1-30 in April (not cured); Current from May."""
    bills = [
        ("C100000", f"2023-{m:02d}-{calendar.monthrange(2023, m)[1]}", 10.0, f"2023-{m + 1:02d}-14")
        for m in range(1, 10)
    ]
    payments = [("C100000", "2023-04-20", 20.0), ("C100000", "2023-05-20", 20.0)]
    payments += [("C100000", f"2023-{m:02d}-14", 10.0) for m in range(6, 10)]
    portfolio = validate(tables_from_frames(minimal_frames(bills, payments)))
    # as of the last bill's period end: September is complete and its bill known
    cube = build_cube(portfolio, as_of=pd.Timestamp("2023-09-30"))
    assert len(cube.arrears.snapshot_days) == 9
    assert cube.arrears.entries.sum(axis=1).tolist() == [
        [1, 1, 1, 1, 1, 0, 1, 1, 1] if month == 2 else [0] * 9 for month in range(9)
    ]


@CUBE_SETTINGS
@given(cases())
def test_vintage_matches_brute_force(case):
    cube = case.cube()
    book = case_book(case, cube)
    default_month = first_default_months(case.portfolio, cube)
    expected = expected_vintage(book, customer_segments(case.portfolio), default_month)
    got = {
        index: list(values.values())
        for index, values in table_cells(cube.arrears.vintage, partition.VINTAGE_MEASURES).items()
    }
    assert got == expected


@CUBE_SETTINGS
@given(cases(), st.integers(1, 4))
def test_vintage_follows_a_curve_for_its_months_on_book_only(case, months_on_book):
    """The vintage table keeps months on book below ``VINTAGE_MONTHS`` (its size grows with
    the book's months, not their square); here the cap is made small enough to bite."""
    original = partition.VINTAGE_MONTHS
    partition.VINTAGE_MONTHS = months_on_book
    try:
        cube = case.cube()
    finally:
        partition.VINTAGE_MONTHS = original
    assert cube.arrears.vintage.shape[1] == min(months_on_book, len(cube.arrears.snapshot_days))
    book = case_book(case, cube)
    default_month = first_default_months(case.portfolio, cube)
    expected = expected_vintage(
        book, customer_segments(case.portfolio), default_month, months_on_book
    )
    got = table_cells(cube.arrears.vintage, partition.VINTAGE_MEASURES)
    assert {index: list(cell.values()) for index, cell in got.items()} == expected


def test_vintage_back_book_is_one_row_and_joiners_are_by_quarter():
    """First bill month April 2023: April's customers are the back book (cohort 0), May's
    and July's are new customers of 2023 Q2 and Q3."""
    frames = minimal_frames(
        bills=[
            ("C100000", "2023-04-30", 10.0, "2023-05-14"),
            ("C100001", "2023-05-31", 10.0, "2023-06-14"),
            ("C100002", "2023-07-31", 10.0, "2023-08-14"),
        ],
        payments=[("C100000", "2023-07-01", 10.0), ("C100002", "2023-09-01", 10.0)],
        n_customers=3,
    )
    cube = build_cube(validate(tables_from_frames(frames)))
    cohorts = np.nonzero(cube.arrears.vintage[..., 0].sum(axis=(1, 2)))[0]
    assert cohorts.tolist() == [0, 1, 2]
    curves = ledger.vintage(cube, np.ones(len(cube.segments), dtype=bool))
    assert list(pd.unique(curves["cohort"])) == [ledger.BACK_BOOK, "2023 Q2", "2023 Q3"]
    first_row = curves.loc[curves["months_on_book"] == 0].set_index("cohort")["customers"]
    assert first_row.to_dict() == {ledger.BACK_BOOK: 1, "2023 Q2": 1, "2023 Q3": 1}


def build_in_chunks(portfolio: Portfolio, cube: Cube, chunk: int) -> ArrearsTables:
    """:func:`build_ledger.build_arrears` of ``cube``'s portfolio and parameters, ``chunk``
    customers at a time."""
    portfolio = known_on(portfolio, cube.as_of)
    outcomes = compute.bill_outcomes(portfolio.bills, portfolio.payments, cube.window, cube.as_of)
    first = month_number(cube.months[0])
    bill_month = np.array([month_number(d) - first for d in portfolio.bills["bill_period_end"]])
    return build_ledger.build_arrears(
        portfolio,
        outcomes,
        bill_month,
        customer_segments(portfolio),
        len(cube.segments),
        cube.months,
        cube.as_of,
        cube.arrears.buckets,
        chunk=chunk,
    )


def assert_same_tables(got: ArrearsTables, expected: ArrearsTables) -> None:
    """Every table of two :class:`ArrearsTables` is equal."""
    names = ("ageing", "transitions", "vintage", "entries", "actions", "movement", "today")
    names += ("write_offs", "at_risk", "ever_severe")
    for name in names:
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), name)
    assert_same(got.funnel, expected.funnel, "funnel")
    assert_same(got.reach_after, expected.reach_after, "reach_after")
    pd.testing.assert_frame_equal(got.worklist, expected.worklist)


@CUBE_SETTINGS
@given(cases())
def test_chunked_build_matches_one_chunk(case):
    """Aggregating customers in chunks (build_arrears' ``chunk``) changes nothing."""
    cube = case.cube()
    assert_same_tables(build_in_chunks(case.portfolio, cube, case.chunk), cube.arrears)


# === 6. action outcomes ===================================================================


@CUBE_SETTINGS
@given(cases(), st.sampled_from([1000, 1, 3000]))
def test_action_outcomes_match_per_action_loop(case, min_pence):
    portfolio = case.portfolio
    as_of = brute_as_of(portfolio, case.as_of)
    got = compute.action_outcomes(
        portfolio.actions,
        portfolio.bills,
        portfolio.payments,
        as_of,
        (14, 30),
        60,
        min_pence,
        adjustments=portfolio.adjustments,
    )
    rows = Rows.of(portfolio)
    actions = portfolio.actions
    for index, code, day in zip(
        actions.index, actions["customer_id"].cat.codes, actions["action_date"], strict=True
    ):
        expected = brute_action_outcome(rows, code, day_number(day), day_number(as_of), min_pence)
        assert got.loc[index, list(expected)].tolist() == list(expected.values()), index


@CUBE_SETTINGS
@given(cases())
def test_action_effectiveness_sums_the_per_action_loop(case):
    """The cube's action table, through :func:`ledger.action_effectiveness`."""
    cube = case.cube()
    rows = Rows.of(case.portfolio, cube.as_of)
    as_of_day = day_number(cube.as_of)
    first, last = month_number(cube.months[0]), month_number(cube.months[-1])
    totals = defaultdict(lambda: defaultdict(int))
    actions = case.portfolio.actions
    for code, day, action in zip(
        actions["customer_id"].cat.codes,
        actions["action_date"],
        actions["action"].astype(str),
        strict=True,
    ):
        if not first <= month_number(day) <= last or day_number(day) > as_of_day:
            continue  # the period is the cube's months, up to the as-of day
        outcome = brute_action_outcome(rows, code, day_number(day), as_of_day, 1000)
        totals[action]["actions"] += 1
        for name, value in outcome.items():
            if name != "arrears_pence":
                totals[action][name] += int(value)
    got = ledger.action_effectiveness(cube, np.ones(len(cube.segments), dtype=bool))
    for row in got.itertuples():
        expected = totals[row.action]
        assert row.actions == expected["actions"], row.action
        assert row.in_arrears == expected["in_arrears"], row.action
        for rate, numerator, denominator in (
            ("paid_14_rate", "paid_14", "decided_14"),
            ("paid_30_rate", "paid_30", "decided_30"),
            ("cleared_60_rate", "cleared_60", "decided_60"),
        ):
            assert getattr(row, denominator) == expected[denominator], (row.action, denominator)
            if expected[denominator]:
                share = expected[numerator] / expected[denominator]
                assert getattr(row, rate) == pytest.approx(share), (row.action, rate)
            else:
                assert np.isnan(getattr(row, rate))


def test_action_outcomes_known_cases():
    """Thresholds met exactly, horizons ending exactly on the payment day, and no arrears
    on the due date itself (a bill is owed from the day after)."""
    frames = minimal_frames(
        bills=[
            ("C100000", "2023-01-31", 50.0, "2023-02-14"),
            ("C100001", "2023-01-31", 5.0, "2023-02-14"),
            ("C100002", "2023-01-31", 30.0, "2023-02-14"),
        ],
        payments=[
            ("C100000", "2023-03-15", 10.0),  # day + 14: exactly £10
            ("C100000", "2023-04-30", 40.0),  # day + 60: the £50 is cleared exactly
            ("C100001", "2023-03-31", 5.0),  # day + 30: exactly the arrears (< £10)
            ("C100002", "2023-03-02", 9.99),  # a penny short of £10
            ("C100002", "2023-06-30", 0.01),
        ],
        actions=[
            ("C100000", "2023-03-01", "Reminder Sent"),
            ("C100001", "2023-03-01", "Reminder Sent"),
            ("C100002", "2023-03-01", "Second Reminder"),
            ("C100000", "2023-02-14", "Reminder Sent"),  # due today: not yet in arrears
            ("C100001", "2023-05-15", "Reminder Sent"),  # 46 days before as-of
        ],
        n_customers=3,
    )
    portfolio = validate(tables_from_frames(frames))
    got = compute.action_outcomes(
        portfolio.actions, portfolio.bills, portfolio.payments, pd.Timestamp("2023-06-30")
    )
    columns = ["arrears_pence", "paid_14", "paid_30", "decided_60", "cleared_60"]
    assert _by_action(portfolio, got[columns]) == {
        ("C100000", "2023-03-01"): [5000, True, True, True, True],
        ("C100001", "2023-03-01"): [500, False, True, True, True],
        ("C100002", "2023-03-01"): [3000, False, False, True, False],
        ("C100000", "2023-02-14"): [0, False, False, False, False],
        ("C100001", "2023-05-15"): [0, False, False, False, False],
    }
    frames["payments"] = frames["payments"].iloc[[0, 2, 3, 4]]  # without C100000's £40
    portfolio = validate(tables_from_frames(frames))
    short = compute.action_outcomes(
        portfolio.actions, portfolio.bills, portfolio.payments, pd.Timestamp("2023-06-30")
    )
    by_action = _by_action(portfolio, short[["paid_14", "cleared_60"]])
    assert by_action[("C100000", "2023-03-01")] == [True, False]  # £10 of £50


def _by_action(portfolio, outcomes: pd.DataFrame) -> dict:
    """Outcome rows keyed by (customer, action day): validation sorts actions by customer."""
    actions = portfolio.actions
    days = actions["action_date"].dt.strftime("%Y-%m-%d")
    keys = zip(actions["customer_id"].astype(str), days, strict=True)
    return dict(zip(keys, outcomes.to_numpy().tolist(), strict=True))


# === 7. worklist ==========================================================================


def test_worklist_on_demo_data(demo):
    work = demo.cube.arrears.worklist
    assert len(work) > 50
    assert set(work["arrangement"].astype(str)) == set(partition.ARRANGEMENT_STATES)
    check_worklist(demo.portfolio, demo.cube, demo.rows)


@CUBE_SETTINGS
@given(cases())
def test_worklist_on_random_data(case):
    check_worklist(case.portfolio, case.cube())


def test_arrangement_status_boundaries():
    """The arrangement rule at its edges: a 90-day term, a break on the agreed day, a break
    after the term (the kept rate's rule: compute.arrangement_states)."""
    as_of = pd.Timestamp("2023-06-30")
    histories = {
        "C100000": [("2023-07-01", "Arrangement Agreed")],  # after as-of: None
        "C100001": [("2023-04-02", "Arrangement Agreed")],  # 89 days into its term: Active
        "C100002": [("2023-04-01", "Arrangement Agreed")],  # its term ends on as-of: Kept
        "C100003": [("2023-05-01", "Arrangement Agreed"), ("2023-05-01", "Arrangement Broken")],
        "C100004": [("2023-05-01", "Arrangement Agreed"), ("2023-05-02", "Arrangement Broken")],
        "C100005": [("2023-01-10", "Arrangement Broken"), ("2023-02-01", "Arrangement Agreed")],
        "C100006": [("2023-06-01", "Arrangement Agreed"), ("2023-07-02", "Arrangement Broken")],
    }
    expected = ["None", "Active", "Kept", "Active", "Broken", "Kept", "Active"]
    actions = [(cid, day, action) for cid, rows in histories.items() for day, action in rows]
    frames = minimal_frames(
        bills=[(cid, "2023-01-31", 20.0, "2023-02-14") for cid in histories],
        payments=[("C100000", "2023-06-30", 1.0)],
        actions=actions,
        n_customers=len(histories),
    )
    portfolio = validate(tables_from_frames(frames))
    cube = build_cube(portfolio, as_of=as_of)
    work = cube.arrears.worklist.set_index("customer_id")
    assert work.loc[list(histories), "arrangement"].astype(str).tolist() == expected
    check_worklist(portfolio, cube)


def test_worklist_when_no_payment_precedes_as_of():
    """Nobody has paid yet on the as-of day: the worklist lists the debt, no last payment."""
    frames = minimal_frames(
        bills=[("C100000", "2023-01-31", 10.0, "2023-02-14")],
        payments=[("C100000", "2023-03-20", 10.0)],
    )
    portfolio = validate(tables_from_frames(frames))
    cube = build_cube(portfolio, as_of=pd.Timestamp("2023-03-01"))
    work = cube.arrears.worklist
    assert work[["arrears_pence", "days_past_due", "last_payment_pence"]].to_numpy().tolist() == [
        [1000, 15, 0]
    ]
    assert work["last_payment_date"].isna().all()


# === crashes and definition gaps ==========================================================


def test_cube_builds_when_as_of_precedes_the_first_bill_month():
    """An as-of date before any bill month (a user's choice): no month-ends, no crash."""
    frames = minimal_frames(
        bills=[("C100000", "2023-04-30", 10.0, "2023-05-14")],
        payments=[("C100000", "2023-06-01", 10.0)],
    )
    cube = build_cube(validate(tables_from_frames(frames)), as_of=pd.Timestamp("2023-03-15"))
    assert len(cube.arrears.snapshot_days) == 0
    assert cube.arrears.ageing.shape[0] == 0
    assert cube.arrears.worklist.empty


def test_chunk_of_customers_who_never_paid():
    """A chunk without payments (e.g. the last, short chunk of a large portfolio)."""
    frames = minimal_frames(
        bills=[
            ("C100000", "2023-01-31", 10.0, "2023-02-14"),
            ("C100001", "2023-01-31", 20.0, "2023-02-14"),
        ],
        payments=[("C100000", "2023-03-01", 10.0)],
        n_customers=2,
    )
    portfolio = validate(tables_from_frames(frames))
    cube = build_cube(portfolio)
    assert cube.arrears.worklist["customer_id"].tolist() == ["C100001"]
    assert_same_tables(build_in_chunks(portfolio, cube, chunk=1), cube.arrears)


def test_payment_before_the_first_bill_month_is_on_book():
    frames = minimal_frames(
        bills=[
            ("C100000", "2023-04-30", 10.0, "2023-05-14"),
            ("C100001", "2023-02-28", 10.0, "2023-03-14"),
        ],
        payments=[("C100000", "2023-02-10", 5.0), ("C100001", "2023-06-01", 10.0)],
        n_customers=2,
    )
    cube = build_cube(validate(tables_from_frames(frames)))
    totals = cube.arrears.ageing.sum(axis=(1, 2))
    net = totals[:, 1] - totals[:, 2]
    # Feb and Mar: C100001 owes nothing yet / £10; C100000 holds a £5 credit; the months
    # run to the as-of month (June 2023, not complete): May-end adds C100000's £10 bill
    assert net.tolist() == [-500, 500, 500, 1500]


@CUBE_SETTINGS
@given(cases())
def test_bill_level_ageing_matches_brute_force_and_sums_to_the_arrears(case):
    """Each unpaid bill in its own bucket; over the buckets, the account-level arrears."""
    cube = case.cube()
    book = case_book(case, cube)
    rows = Rows.of(case.portfolio, brute_as_of(case.portfolio, case.as_of))
    expected = expected_bill_ageing(
        rows, book, customer_segments(case.portfolio), len(cube.segments), case.buckets.edges
    )
    np.testing.assert_array_equal(cube.arrears.bill_ageing, expected)
    np.testing.assert_array_equal(
        cube.arrears.bill_ageing[..., 0].sum(axis=-1), cube.arrears.ageing[..., 1].sum(axis=-1)
    )


@CUBE_SETTINGS
@given(cases())
def test_month_totals_equal_the_sums_over_every_month_range(case):
    """A table's total over a month range, read from its running total, is exactly the
    sum of its months (every table with a month axis first, every range)."""
    tables = case.cube().arrears
    for name in ("transitions", "actions", "matched", "movement", "entries"):
        table = tables.sums[name]
        for first in range(table.shape[0]):
            for last in range(first, table.shape[0]):
                months = np.arange(first, last + 1)
                expected = table[first : last + 1].sum(axis=0)
                np.testing.assert_array_equal(tables.month_total(name, months), expected, name)
        empty = tables.month_total(name, np.arange(0))
        np.testing.assert_array_equal(empty, np.zeros(table.shape[1:]))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 500), min_size=0, max_size=12),  # debits' pence, in ledger order
    st.integers(1, 4),  # customers
    st.lists(st.integers(-300, 900), min_size=1, max_size=16),  # credits to date, any sign
)
def test_debits_covered_is_the_direct_search_whatever_the_credits(pence, n, credits):
    """``_debits_covered`` (each debit searched among the capped credits) gives what the
    direct search of every customer's credits among the running debits gives, where the
    result is read: the debits covered, up to the customer's own (credits out of order or
    negative fall back to the direct search)."""
    from dashboard.compute.ledger import _debits_covered

    rng = np.random.default_rng(len(pence) * 31 + n)
    customer = np.sort(rng.integers(0, n, len(pence)))
    running = np.concatenate([[0], np.cumsum(pence)]).astype(np.int64)
    first = np.searchsorted(customer, np.arange(n + 1), side="left")
    k = len(credits)
    covered = np.resize(np.asarray(credits, dtype=np.int64), (n, k))
    if credits[0] >= 0:
        covered = np.maximum.accumulate(np.abs(covered), axis=1)  # credits to date only grow
    covered_to = running[first[:-1]][:, None] + covered
    got = _debits_covered(running, covered_to, running[first[1:]]).reshape(n, k)
    direct = np.searchsorted(running[1:], covered_to.ravel(), side="right").reshape(n, k)
    own_end = first[1:, None]
    # beyond the customer's own debits every one of theirs is covered: equal up to there
    assert np.array_equal(np.minimum(got, own_end), np.minimum(direct, own_end))
