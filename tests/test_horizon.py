"""The as-of date is a hard horizon, and month-ends are complete months.

Nothing dated after as-of influences any figure: a portfolio with rows added after as-of
(filtered here with plain pandas, independently of the build's own cut) builds the very same
cube. The months run to the as-of month; the ledger's month-ends are the complete months;
the as-of day is the separate *today* snapshot, checked against a brute-force book.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from oracles.ledger import (
    Rows,
    brute_adjusted,
    brute_as_of,
    brute_bucket,
    cases,
    customer_segments,
    day_number,
    month_number,
)
from oracles.same import assert_same
from test_ledger import CUBE_SETTINGS

from dashboard.cli.summary import portfolio_summary
from dashboard.cube.pipeline import build_cube
from dashboard.cube.tables import Cube
from dashboard.schema import Portfolio

DATED = {
    "bills": "bill_period_end",
    "payments": "payment_date",
    "actions": "action_date",
    "adjustments": "adjustment_date",
}


def cut_by_hand(portfolio: Portfolio, as_of: pd.Timestamp) -> Portfolio:
    """The rows dated on or before ``as_of`` (a bill by its period end), with pandas."""
    kept = {
        table: getattr(portfolio, table)
        .loc[lambda frame, c=column: frame[c] <= as_of]
        .reset_index(drop=True)
        for table, column in DATED.items()
    }
    return Portfolio(
        portfolio.customers,
        kept["bills"],
        kept["payments"],
        kept["actions"],
        adjustments=kept["adjustments"],
    )


def assert_same_cube(got: Cube, expected: Cube) -> None:
    pd.testing.assert_index_equal(got.months, expected.months)
    for name in ("bills", "actions", "arrangements"):
        pd.testing.assert_frame_equal(
            getattr(got, name).reset_index(drop=True),
            getattr(expected, name).reset_index(drop=True),
            check_dtype=False,
            check_categorical=False,
        )
    assert_same(got.reach, expected.reach, "reach")
    for name, table in expected.arrears.sums.items():
        np.testing.assert_array_equal(got.arrears.sums[name], table, name)
    assert_same(got.arrears.funnel, expected.arrears.funnel, "funnel")
    pd.testing.assert_frame_equal(got.arrears.worklist, expected.arrears.worklist)


@CUBE_SETTINGS
@given(cases())
def test_nothing_after_as_of_changes_any_figure(case):
    as_of = brute_as_of(case.portfolio, case.as_of)
    full = build_cube(case.portfolio, case.window, as_of, case.buckets)
    known = build_cube(cut_by_hand(case.portfolio, as_of), case.window, as_of, case.buckets)
    assert_same_cube(full, known)


@CUBE_SETTINGS
@given(cases())
def test_months_run_to_as_of_and_month_ends_are_complete(case):
    cube = case.cube()
    assert cube.months[-1] == cube.as_of.to_period("M").start_time
    ends = (cube.months + pd.offsets.MonthEnd(0))[: len(cube.arrears.snapshot_days)]
    assert [day_number(e) for e in ends] == cube.arrears.snapshot_days.tolist()
    assert all(e <= cube.as_of for e in ends)
    if len(cube.arrears.snapshot_days) < len(cube.months):
        assert cube.months[len(cube.arrears.snapshot_days)] + pd.offsets.MonthEnd(0) > cube.as_of


@CUBE_SETTINGS
@given(cases())
def test_today_matches_brute_force(case):
    """The as-of day's ageing: every customer on book that day, by bucket."""
    cube = case.cube()
    rows = Rows.of(case.portfolio, cube.as_of)
    as_of_day = day_number(cube.as_of)
    month = month_number(cube.as_of) - month_number(cube.months[0])
    n_buckets = len(case.buckets.labels)
    expected = np.zeros((1, len(cube.segments), n_buckets, 5), dtype=np.int64)
    segment_of = customer_segments(case.portfolio)
    for customer in range(len(segment_of)):
        days, billed, paid = rows.balance(customer, as_of_day)
        balance = billed - paid + brute_adjusted(rows.adjustments[customer], as_of_day)[0]
        billed_months = [m - month_number(cube.months[0]) for _, _, m in rows.bills[customer]]
        all_billed = [m for own in rows.bills for _, _, m in own]
        book_last = max(all_billed) - month_number(cube.months[0]) if all_billed else None
        still_billed = bool(billed_months) and max(billed_months) == book_last
        in_range = bool(billed_months) and min(billed_months) <= month
        in_range = in_range and (month <= max(billed_months) or still_billed)
        if in_range or balance != 0:
            cell = expected[0, segment_of[customer], brute_bucket(days, case.buckets.edges)]
            cell += [1, max(balance, 0), max(-balance, 0), billed, paid]
    np.testing.assert_array_equal(cube.arrears.today, expected)


def test_reference_view_of_the_original_notebook(seed_dir):
    """The original notebook's figures, asked for its view: every bill counted, as of the
    last date in its data (README says the command)."""
    from dashboard.loader import load_portfolio

    cube = build_cube(load_portfolio(seed_dir), as_of=pd.Timestamp("2026-04-09"))
    summary = portfolio_summary(cube, include_immature=True)
    reading = {s["value"]: s for s in summary["segments"]["region"]}["Reading"]
    assert round(summary["overall"]["default_rate"], 3) == 0.084
    assert round(reading["default_rate"], 3) == 0.093
    assert sum(a["count"] for a in summary["actions"]) == 15_418


def test_two_bills_of_one_month_set_the_month_bit_once():
    """A customer billed twice in a month (mid-month and month-end) is one billed month,
    not a carried bit into the next month."""
    from oracles.ledger import minimal_frames

    from dashboard.schema import tables_from_frames, validate

    frames = minimal_frames(
        bills=[
            ("C100000", "2023-01-15", 10.0, "2023-01-29"),
            ("C100000", "2023-01-31", 10.0, "2023-02-14"),
            ("C100000", "2023-02-28", 10.0, "2023-03-14"),
        ],
        payments=[("C100000", "2023-05-01", 5.0)],
    )
    cube = build_cube(validate(tables_from_frames(frames)))
    billed, defaulted = cube.reach["billed"], cube.reach["defaulted"]
    by_month = [int(billed.per_segment(m, m).sum()) for m in range(len(cube.months))]
    assert by_month[:2] == [1, 1] and sum(by_month) == 2  # January and February, nothing else
    assert int(billed.per_segment(0, len(cube.months) - 1).sum()) == 1  # one customer
    for m in range(len(cube.months)):
        assert defaulted.per_segment(m, m).sum() <= billed.per_segment(m, m).sum()
