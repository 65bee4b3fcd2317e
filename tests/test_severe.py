"""Reaching 91+ days past due (the credit-style default, issue 14 point 4) against brute
force: every customer's days past due on every day, read literally."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, Phase, given, settings
from oracles.ledger import Rows, brute_as_of, brute_book, cases, customer_segments, minimal_frames
from oracles.severe import expected_severe

from dashboard.cube.pipeline import build_cube
from dashboard.query import severe
from dashboard.schema import tables_from_frames, validate

CUBE_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


def everyone(cube) -> np.ndarray:
    return np.ones(len(cube.segments), dtype=bool)


@CUBE_SETTINGS
@given(cases())
def test_reach_and_ever_tables_match_brute_force(case):
    cube = case.cube()
    as_of = brute_as_of(case.portfolio, case.as_of)
    rows = Rows.of(case.portfolio, as_of)
    book = brute_book(rows, as_of, case.buckets.edges)
    reach, ever = expected_severe(rows, book, customer_segments(case.portfolio), len(cube.segments))
    np.testing.assert_array_equal(cube.arrears.reach_after_dense(), reach)
    np.testing.assert_array_equal(cube.arrears.ever_severe, ever)


@CUBE_SETTINGS
@given(cases())
def test_the_readings_add_up_over_segments_and_months(case):
    """By segment sums to the whole selection; a one-month period is that month's rate."""
    cube = case.cube()
    if not len(cube.arrears.snapshot_days):
        return
    whole = severe.severe_period(cube, everyone(cube))
    split = severe.severe_period(cube, everyone(cube), by="region")
    for column in ("at_risk", "reached", "on_book", "ever"):
        assert split[column].sum() == whole[column].iloc[0]
    monthly = severe.severe_monthly(cube, everyone(cube))
    for month, row in monthly.iterrows():
        if month == 0:
            continue
        one = severe.severe_period(cube, everyone(cube), row["month"], row["month"]).iloc[0]
        assert (one["at_risk"], one["reached"]) == (row["at_risk"], row["reached"])
        assert (one["on_book"], one["ever"]) == (row["on_book"], row["ever"])


@CUBE_SETTINGS
@given(cases())
def test_every_period_counts_the_reach_table_like_the_dense_layout(case):
    """The sparse ``reach_after`` read for each (start, end) pair of months: at risk at the
    month-end before the start, first 91+ days past due by the end — the dense layout's
    ``[origin, 0]`` and ``[origin, 1 .. end - origin]`` (which the brute force checks)."""
    cube = case.cube()
    dense = cube.arrears.reach_after_dense()
    months = pd.Series(cube.months[: len(cube.arrears.snapshot_days)])
    for first in range(len(months)):
        for last in range(first, len(months)):
            got = severe.severe_period(cube, everyone(cube), months[first], months[last])
            origin = max(first - 1, 0)
            expected = dense[origin, 0].sum(), dense[origin, 1 : last - origin + 1].sum()
            assert (got["at_risk"].iloc[0], got["reached"].iloc[0]) == expected


def test_the_reach_table_follows_the_customers_not_the_square_of_the_months():
    """Thirty years of a small book: the dense (months, months, segments) layout would hold
    hundreds of megabytes; the table holds at most one entry per customer at risk at a
    month-end who later reaches 91+ days."""
    from dashboard.demo.simulation import generate

    portfolio = validate(tables_from_frames(generate(120, "1995-01", "2024-12", seed=3)))
    cube = build_cube(portfolio)
    table, k = cube.arrears.reach_after, len(cube.arrears.snapshot_days)
    at_risk = int(cube.arrears.at_risk[..., 0].sum())
    assert k >= 359 and len(table) > 0
    assert len(table) <= int(table.count.sum()) <= at_risk
    stored = sum(getattr(table, name).nbytes for name in ("first", "last", "month", "segment"))
    stored += table.count.nbytes
    dense = k * k * len(cube.segments) * 8
    assert stored * 1000 < dense  # 96 MB dense; 21 kB stored (2,137 entries)


def one_customer(bills, payments, adjustments=None, actions=()):
    frames = minimal_frames(bills, payments, actions)
    if adjustments is not None:
        frames["adjustments"] = pd.DataFrame(
            adjustments, columns=["customer_id", "adjustment_date", "amount", "kind"]
        )
    return build_cube(validate(tables_from_frames(frames)))


def test_a_bill_unpaid_for_91_days_reaches_severe_on_the_91st_day():
    """Due 10 January, unpaid: 91 days past due on 11 April; paid on 20 April, so Current at
    the end of April — the month-ends never see it, the day count does."""
    cube = one_customer(
        bills=[("C100000", "2024-01-01", 50.0, "2024-01-10")],
        payments=[("C100000", "2024-04-20", 50.0), ("C100000", "2024-06-05", 1.0)],
    )
    monthly = severe.severe_monthly(cube, everyone(cube)).set_index("month")
    april = monthly.loc[pd.Timestamp("2024-04-01")]
    assert (april["at_risk"], april["reached"], april["reach_rate"]) == (1, 1, 1.0)
    assert monthly.loc[pd.Timestamp("2024-03-01"), "reached"] == 0
    ever = monthly.loc["2024-01-01":, "ever"].tolist()
    assert ever == [0, 0, 0, 1, 1]  # still on book (billed in the book's last bill month)
    period = severe.severe_period(cube, everyone(cube), pd.Timestamp("2024-02-01")).iloc[0]
    assert (period["at_risk"], period["reached"], period["period_rate"]) == (1, 1, 1.0)
    assert period["from_month"] == pd.Timestamp("2024-01-01")
    after = severe.severe_period(cube, everyone(cube), pd.Timestamp("2024-05-01")).iloc[0]
    assert (after["at_risk"], after["reached"], after["ever"]) == (1, 0, 1)


def test_paying_on_the_90th_day_never_reaches_severe():
    cube = one_customer(
        bills=[("C100000", "2024-01-01", 50.0, "2024-01-10")],
        payments=[("C100000", "2024-04-10", 50.0), ("C100000", "2024-06-05", 1.0)],
    )
    monthly = severe.severe_monthly(cube, everyone(cube))
    assert monthly["reached"].sum() == 0 and monthly["ever"].sum() == 0


def test_a_write_off_covers_the_debt_like_a_payment():
    """Written off on day 60: never 91+ days past due."""
    cube = one_customer(
        bills=[("C100000", "2024-01-01", 50.0, "2024-01-10")],
        payments=[("C100000", "2024-06-05", 1.0)],
        adjustments=[("C100000", "2024-03-10", 50.0, "write_off")],
    )
    assert severe.severe_monthly(cube, everyone(cube))["reached"].sum() == 0


def test_no_month_end_gives_empty_readings():
    cube = one_customer(
        bills=[("C100000", "2024-01-01", 50.0, "2024-01-10")],
        payments=[("C100000", "2024-01-20", 50.0)],
        actions=[("C100000", "2024-01-05", "Reminder Sent")],
    )
    assert len(cube.arrears.snapshot_days) == 0
    assert severe.severe_monthly(cube, everyone(cube)).empty
    assert severe.severe_period(cube, everyone(cube)).empty


def test_the_monthly_chart_shades_the_run_in_of_carried_in_debt():
    """Balances older than the data all age from its first day and reach 91 days together:
    the months up to then are shaded and the x label says why (no shading without the
    day)."""
    import holoviews as hv

    from dashboard.model import CollectionsModel
    from dashboard.ui.charts.severe import RUN_IN_NOTE, severe_ever_chart, severe_rate_chart

    model = CollectionsModel(live_outputs=["severe_monthly"])
    first = model.cube.months[0]
    rate = severe_rate_chart(model.severe_monthly, "all", first_day=first)
    spans = list(rate.traverse(lambda x: x, [hv.VSpans]))
    assert len(spans) == 1 and len(spans[0]) == 1
    low, high = spans[0].dframe().iloc[0]
    shaded = model.severe_monthly["month"].between(low, high)
    assert shaded.sum() == 4  # Jan-Apr 2022: day 91 of the data is 1 April
    assert model.severe_monthly.loc[shaded, "month"].max() == first + pd.DateOffset(months=3)
    assert RUN_IN_NOTE in hv.Store.lookup_options("bokeh", rate, "plot").kwargs["xlabel"]
    # the run-in's rate is not drawn (it set the axis); every later month's is, as computed
    (line,) = [c for c in rate.traverse(lambda x: x, [hv.Curve])]
    drawn = line.dframe().set_index("month")["reach_rate"]
    computed = model.severe_monthly.set_index("month")["reach_rate"]
    run_in = computed.index.isin(model.severe_monthly.loc[shaded, "month"])
    assert drawn[run_in].isna().all() and computed[run_in].notna().any()
    pd.testing.assert_series_equal(drawn[~run_in], computed[~run_in], check_names=False)
    assert drawn.max() < computed[run_in].max()  # the axis fits the comparable months
    plain = severe_rate_chart(model.severe_monthly, "all")
    assert not list(plain.traverse(lambda x: x, [hv.VSpans]))
    ever = severe_ever_chart(model.severe_monthly, "all")
    assert not list(ever.traverse(lambda x: x, [hv.VSpans]))
