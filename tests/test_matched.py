"""The matched comparison of actions without a holdout (issue 14 point 7): the built counts
against a one-at-a-time brute force, and the standardised uplift by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from oracles.ledger import Rows, brute_as_of, brute_book, cases, customer_segments, day_number
from oracles.matched import expected_matched

from dashboard.compute.partition import action_types
from dashboard.query import ledger

CUBE_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


@CUBE_SETTINGS
@given(cases())
def test_matched_counts_match_brute_force(case):
    cube = case.cube()
    as_of = brute_as_of(case.portfolio, case.as_of)
    rows = Rows.of(case.portfolio, as_of)
    book = brute_book(rows, as_of, case.buckets.edges)
    types = list(action_types(case.portfolio.actions))
    expected = expected_matched(
        rows,
        book,
        customer_segments(case.portfolio),
        len(cube.segments),
        types,
        len(case.buckets.labels),
        day_number(as_of),
    )
    np.testing.assert_array_equal(cube.arrears.matched, expected)


def test_matched_uplift_is_standardised_over_the_acted_on_strata():
    """Two strata: acted on 10 (8 paid) and 30 (12 paid); no action 50 (25 paid) and 20
    (4 paid); a third stratum has acted-on customers and no comparison (unmatched)."""
    matched = np.zeros((3, 2, 2), dtype=np.int64)  # strata, (type 0, no action), measures
    matched[0, 0], matched[0, 1] = (10, 8), (50, 25)
    matched[1, 0], matched[1, 1] = (30, 12), (20, 4)
    matched[2, 0] = (5, 5)
    got = ledger._matched_uplift(matched, 0)
    w = np.array([10, 30]) / 40
    p1, p0 = np.array([0.8, 0.4]), np.array([0.5, 0.2])
    assert got["comparison"] == "matched" and got["customers"] == 40 and got["unmatched"] == 5
    assert got["paid_30_rate"] == pytest.approx(w @ p1)
    assert got["comparison_rate"] == pytest.approx(w @ p0)
    assert got["uplift"] == pytest.approx(w @ (p1 - p0))
    variance = np.sum(w**2 * (p1 * (1 - p1) / [10, 30] + p0 * (1 - p0) / [50, 20]))
    assert got["uplift_high"] - got["uplift"] == pytest.approx(1.959963984540054 * variance**0.5)


def test_no_comparison_customer_says_none():
    matched = np.zeros((2, 2, 2), dtype=np.int64)
    matched[0, 0] = (7, 3)
    got = ledger._matched_uplift(matched, 0)
    assert got["comparison"] == "none" and got["unmatched"] == 7 and np.isnan(got["uplift"])


def test_readme_figure_matched_reminder_estimate_on_the_demo_book():
    """README quotes the matched estimate for reminders on the demo book (where the holdout
    and the simulation's truth, +10 points, are known): +0.3 points (-2.7 to +3.2)."""
    from dashboard.model import CollectionsModel

    model = CollectionsModel(source=str(Path(__file__).resolve().parents[1] / "data"))
    matched = ledger._matched_strata(model.cube, np.ones(len(model.cube.segments), dtype=bool))
    reminder = list(ledger._action_type_labels(model.cube)).index("Reminder Sent")
    got = ledger._matched_uplift(matched, reminder)
    shown = [round(100 * got[k], 1) for k in ("uplift", "uplift_low", "uplift_high")]
    assert shown == [0.3, -2.7, 3.2]
