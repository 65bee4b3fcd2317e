"""The collections funnel is an ordered sequence: a customer counts at a stage only after
the stages before it, in order (by month), within the period — against a literal walk of
each customer's actions."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracles.ledger import Rows, brute_as_of, cases, customer_segments, month_number

from dashboard.query import ledger as queries
from dashboard.vocab import ACTIONS


def brute_funnel(rows: Rows, customers, first_month: int, last_month: int) -> list[int]:
    """Per stage of ACTIONS, customers reaching it in order: the stage's action in a month
    of [first_month, last_month] no earlier than the month they reached the stage before."""
    counts = [0] * len(ACTIONS)
    for customer in customers:
        months = {}
        for day, action in rows.actions[customer]:
            month = month_number(pd.Timestamp(day, unit="D"))
            if first_month <= month <= last_month:
                months.setdefault(action, []).append(month)
        earliest = first_month
        for position, action in enumerate(ACTIONS):
            later = [m for m in months.get(action, []) if m >= earliest]
            if not later:
                break
            counts[position] += 1
            earliest = min(later)
    return counts


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.data())
def test_funnel_counts_customers_in_order(case, data):
    cube = case.cube()
    as_of = brute_as_of(case.portfolio, case.as_of)
    rows = Rows.of(case.portfolio, as_of)
    n_months = len(cube.months)
    lo = data.draw(st.integers(0, n_months - 1))
    hi = data.draw(st.integers(lo, n_months - 1))
    segments = np.ones(len(cube.segments), dtype=bool)
    if len(segments) > 1 and data.draw(st.booleans()):
        segments[data.draw(st.integers(0, len(segments) - 1))] = False
    got = queries.funnel(cube, segments, cube.months[lo], cube.months[hi])
    chosen = np.flatnonzero(segments[customer_segments(case.portfolio)])
    first = month_number(cube.months[lo])
    expected = brute_funnel(rows, chosen, first, month_number(cube.months[hi]))
    present = list(got["stage"])
    assert all(stage in ACTIONS for stage in present)  # a holdout is no stage
    by_stage = dict(zip(ACTIONS, expected, strict=True))
    assert list(got["customers"]) == [by_stage[s] for s in present]
    assert list(got["customers"]) == sorted(got["customers"], reverse=True)  # a funnel


def test_demo_funnel_narrows_and_leaves_out_the_holdout():
    from dashboard.loader import load_cube

    cube = load_cube("data/")
    everything = np.ones(len(cube.segments), dtype=bool)
    funnel = queries.funnel(cube, everything)
    assert list(funnel["stage"]) == list(ACTIONS)
    assert np.all(np.diff(funnel["customers"].to_numpy()) <= 0)
    assert funnel["customers"].iloc[0] > 0
