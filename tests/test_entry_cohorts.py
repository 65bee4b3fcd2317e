"""Arrears-entry cohorts pooled by quarter or year: the pooled counts and rates against a
plain loop, the choice of the period, and a demo grid that is not all grey."""

from __future__ import annotations

import math

import holoviews as hv
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.compute.partition import CURE_AFTER
from dashboard.model import CollectionsModel
from dashboard.query.ledger import entry_period, pooled_entry_cohorts, readable_entry_cohorts
from dashboard.ui.charts.ledger import entry_cohort_heatmap


@st.composite
def monthly_entries(draw) -> pd.DataFrame:
    """A monthly entries frame as :func:`entry_cohorts` returns it (counts that nest:
    cured <= observed <= entered), starting in any month."""
    start = pd.Timestamp(draw(st.integers(2019, 2024)), draw(st.integers(1, 12)), 1)
    months = pd.date_range(start, periods=draw(st.integers(1, 40)), freq="MS")
    frame = {"month": months, "entered": [], **{f"observed_{h}": [] for h in CURE_AFTER}}
    frame.update({f"cured_{h}": [] for h in CURE_AFTER})
    for _ in months:
        entered = draw(st.integers(0, 60))
        frame["entered"].append(entered)
        for h in CURE_AFTER:
            observed = draw(st.integers(0, entered))
            frame[f"observed_{h}"].append(observed)
            frame[f"cured_{h}"].append(draw(st.integers(0, observed)))
    return pd.DataFrame(frame)


def period_key(month: pd.Timestamp, period: str) -> tuple:
    return {
        "month": (month.year, month.month),
        "quarter": (month.year, (month.month - 1) // 3),
        "year": (month.year,),
    }[period]


@settings(max_examples=150, deadline=None)
@given(monthly_entries(), st.sampled_from(["month", "quarter", "year"]))
def test_pooled_cohorts_sum_the_counts_and_divide_anew(entries, period):
    pooled = pooled_entry_cohorts(entries, period)
    totals: dict[tuple, dict[str, int]] = {}
    for row in entries.to_dict("records"):
        key = period_key(row["month"], period)
        into = totals.setdefault(key, {"entered": 0})
        into["entered"] += row["entered"]
        for h in CURE_AFTER:
            for kind in ("observed", "cured"):
                into[f"{kind}_{h}"] = into.get(f"{kind}_{h}", 0) + row[f"{kind}_{h}"]
    assert [period_key(m, period) for m in pooled["month"]] == sorted(totals)
    for row in pooled.to_dict("records"):
        expected = totals[period_key(row["month"], period)]
        assert row["month"].day == 1 and row["entered"] == expected["entered"]
        for h in CURE_AFTER:
            observed, cured = expected[f"observed_{h}"], expected[f"cured_{h}"]
            assert (row[f"observed_{h}"], row[f"cured_{h}"]) == (observed, cured)
            rate = row[f"cured_after_{h}"]
            assert math.isnan(rate) if observed == 0 else rate == pytest.approx(cured / observed)


def entries_of(monthly_entered: list[int]) -> pd.DataFrame:
    """Entries from January 2023 with these numbers entering (everyone observed)."""
    months = pd.date_range("2023-01-01", periods=len(monthly_entered), freq="MS")
    counts = np.asarray(monthly_entered)
    frame = {"month": months, "entered": counts}
    for h in CURE_AFTER:
        frame[f"observed_{h}"], frame[f"cured_{h}"] = counts, counts // 2
    return pd.DataFrame(frame)


@pytest.mark.parametrize(
    ("monthly", "period"),
    [
        ([40] * 24, "month"),
        ([30, 0, 29] * 8, "month"),  # months nobody entered do not count; half are 30
        ([30, 29, 29, 29] * 6, "quarter"),  # a quarter of the months: not most
        ([12] * 24, "quarter"),
        ([3] * 24, "year"),
        ([9] * 5, "year"),  # two quarters of 27 and 18: none large enough
        ([0] * 12, "year"),
    ],
)
def test_the_period_is_the_finest_whose_cohorts_are_mostly_large_enough(monthly, period):
    entries = entries_of(monthly)
    assert entry_period(entries, min_sample=30) == period
    chosen, pooled = readable_entry_cohorts(entries, min_sample=30)
    assert chosen == period  # and its cohorts, pooled as the heatmap draws them
    pd.testing.assert_frame_equal(pooled, pooled_entry_cohorts(entries, period))


def grid(chart) -> pd.DataFrame:
    (heatmap,) = [e for e in chart.traverse(lambda x: x, [hv.HeatMap])]
    return heatmap.dframe()


def test_a_small_book_draws_readable_cohorts_and_a_large_one_monthly_rows():
    small = grid(entry_cohort_heatmap(entries_of([12] * 24), "all", min_sample=30))
    assert sorted(small["entry"].unique()) == [
        f"{y} Q{q}" for y in (2023, 2024) for q in range(1, 5)
    ]
    assert small["percent"].notna().all()
    assert small["entered"].eq(36).all()
    large = grid(entry_cohort_heatmap(entries_of([40] * 3), "all", min_sample=30))
    assert sorted(large["entry"].unique()) == ["2023-01", "2023-02", "2023-03"]


def test_the_demo_books_entry_grid_is_mostly_coloured(demo_or_seed_source):
    model = CollectionsModel(source=str(demo_or_seed_source))
    entries = model.entries
    chart = entry_cohort_heatmap(entries, "all customers", model.min_sample)
    cells = grid(chart)
    assert cells["percent"].notna().mean() >= 0.5, cells
    period = entry_period(entries, model.min_sample)
    assert chart.opts.get().kwargs["ylabel"] == f"{period} of entry"
    # every cohort seen a month on is drawn, with everyone who entered in it
    pooled = pooled_entry_cohorts(entries, period)
    seen = pooled.loc[pooled[f"observed_{CURE_AFTER[0]}"] > 0, "entered"].sum()
    assert int(cells.drop_duplicates("entry")["entered"].sum()) == int(seen)
