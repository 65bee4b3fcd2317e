"""Action uplift: the acted-on customers' 30-day payment rate beside a randomised holdout,
with the difference and its 95% interval, against a per-action brute force; and no
comparison claimed where the data holds no fair one."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd
from hypothesis import given
from oracles.ledger import (
    Rows,
    brute_action_outcome,
    cases,
    day_number,
    minimal_frames,
    month_number,
)
from test_ledger import CUBE_SETTINGS

from dashboard.cube.pipeline import build_cube
from dashboard.query import ledger
from dashboard.schema import tables_from_frames, validate
from dashboard.ui.charts.ledger import uplift_table
from dashboard.vocab import HELD_OUT


def with_holdout(frames: dict, rng: np.random.Generator) -> dict:
    """Turn some reminders of a random portfolio into held-out reminders."""
    actions = frames["collections_actions"].copy()
    reminders = np.flatnonzero(actions["action"].to_numpy() == "Reminder Sent")
    held = reminders[rng.random(len(reminders)) < 0.4]
    actions.loc[held, "action"] = HELD_OUT
    return {**frames, "collections_actions": actions}


def brute_counts(case_portfolio, cube) -> dict[str, list[int]]:
    """{action: [decided, paid]} for the 30-day outcome, one action at a time."""
    rows = Rows.of(case_portfolio, cube.as_of)
    as_of_day = day_number(cube.as_of)
    first, last = month_number(cube.months[0]), month_number(cube.months[-1])
    counts: dict[str, list[int]] = {}
    actions = case_portfolio.actions
    for code, day, action in zip(
        actions["customer_id"].cat.codes,
        actions["action_date"],
        actions["action"].astype(str),
        strict=True,
    ):
        if not first <= month_number(day) <= last or day_number(day) > as_of_day:
            continue
        outcome = brute_action_outcome(rows, code, day_number(day), as_of_day, 1000)
        cell = counts.setdefault(action, [0, 0])
        cell[0] += int(outcome["decided_30"])
        cell[1] += int(outcome["paid_30"])
    return counts


@CUBE_SETTINGS
@given(cases())
def test_uplift_matches_a_per_action_brute_force(case):
    rng = np.random.default_rng(len(case.portfolio.actions))
    raw = {
        "customers": case.portfolio.customers.astype({"customer_id": str}),
        "bills": case.portfolio.bills,
        "payments": case.portfolio.payments,
        "collections_actions": case.portfolio.actions.astype({"action": str}),
    }
    frames = with_holdout(
        {
            "customers": raw["customers"],
            "bills": raw["bills"]
            .rename(columns={"bill_pence": "bill_amount"})
            .assign(bill_amount=lambda f: f["bill_amount"] / 100),
            "payments": raw["payments"]
            .rename(columns={"amount_pence": "amount"})
            .assign(amount=lambda f: f["amount"] / 100),
            "collections_actions": raw["collections_actions"],
        },
        rng,
    )
    portfolio = validate(tables_from_frames(frames))
    cube = build_cube(portfolio, case.window, case.as_of, case.buckets)
    got = ledger.action_uplift(cube, np.ones(len(cube.segments), dtype=bool)).set_index("action")
    counts = brute_counts(portfolio, cube)
    assert HELD_OUT not in got.index  # the holdout is a comparison group, not an action
    z = NormalDist().inv_cdf(0.975)
    matched = ledger._matched_strata(cube, np.ones(len(cube.segments), dtype=bool))
    types = list(ledger._action_type_labels(cube))
    for action, row in got.iterrows():
        n1, k1 = counts.get(action, [0, 0])
        if action != "Reminder Sent" or HELD_OUT not in counts:
            # no holdout: the matched comparison (its counts: tests/test_matched.py)
            expected = ledger._matched_uplift(matched, types.index(action))
            assert row["comparison"] == expected["comparison"], action
            assert row["customers"] == expected["customers"], action
            if expected["comparison"] == "none":
                assert math.isnan(row["uplift"]), action
            else:
                assert row["uplift"] == _close(expected["uplift"]), action
            continue
        assert row["customers"] == n1, action
        n0, k0 = counts[HELD_OUT]
        assert row["comparison"] == "randomised holdout"
        assert row["comparison_customers"] == n0
        if not (n1 and n0):
            assert math.isnan(row["uplift"])
            continue
        p1, p0 = k1 / n1, k0 / n0
        half = z * math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
        assert row["uplift"] == _close(p1 - p0)
        assert row["uplift_low"] == _close(p1 - p0 - half)
        assert row["uplift_high"] == _close(p1 - p0 + half)


def _close(value: float):
    import pytest

    return pytest.approx(value, abs=1e-12)


def test_no_holdout_means_a_matched_comparison_or_none(small_tables):
    cube = build_cube(validate(tables_from_frames(small_tables)))
    uplift = ledger.action_uplift(cube, np.ones(len(cube.segments), dtype=bool))
    assert set(uplift["comparison"]) <= {"matched", "none"}
    none = uplift["comparison"] == "none"
    assert uplift.loc[none, "uplift"].isna().all()
    shown = uplift_table(uplift)
    assert (shown.loc[none.to_numpy(), "95% interval (points)"] == "no fair comparison").all()
    assert shown["Comparison group"].str.startswith(("matched", "none")).all()


def test_a_type_with_no_comparison_customer_says_no_fair_comparison():
    """Every customer in arrears got a reminder each month: nobody to compare with."""
    frames = minimal_frames(
        bills=[("C100000", "2023-01-31", 50.0, "2023-02-14")],
        payments=[("C100000", "2023-06-01", 50.0)],
        actions=[(("C100000", f"2023-0{m}-05", "Reminder Sent")) for m in (3, 4, 5)],
    )
    cube = build_cube(validate(tables_from_frames(frames)))
    uplift = ledger.action_uplift(cube, np.ones(len(cube.segments), dtype=bool))
    row = uplift.set_index("action").loc["Reminder Sent"]
    assert row["comparison"] == "none" and row["unmatched"] > 0
    shown = uplift_table(uplift)
    assert shown["95% interval (points)"].iloc[0] == "no fair comparison"


def test_summary_and_model_carry_the_uplift(small_tables):
    from dashboard.cli.summary import portfolio_summary
    from dashboard.model import CollectionsModel

    cube = build_cube(validate(tables_from_frames(small_tables)))
    summary = portfolio_summary(cube)
    assert {row["action"] for row in summary["uplift"]} == set(
        ledger.action_uplift(cube, np.ones(len(cube.segments), dtype=bool))["action"]
    )
    assert all(row["uplift"] is None for row in summary["uplift"])
    model = CollectionsModel()
    assert isinstance(model.uplift, pd.DataFrame) and "uplift_low" in model.uplift
